//! The consumer side of a BPF ring buffer (`BPF_MAP_TYPE_RINGBUF`): the map's pages mapped
//! into this process, records read in place, and an epoll descriptor to sleep on.
//!
//! Layout (kernel/bpf/ringbuf.c): page 0 holds the consumer position (we write it), page 1
//! the producer position, then the data area mapped twice in a row so that a record that
//! wraps around the end can be read as one slice. Each record starts with an 8-byte header:
//! its length with a BUSY bit (still being written) and a DISCARD bit, then 4 bytes we do
//! not need; records are 8-byte aligned.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crate::error::SysError;
use crate::map::{Map, MapType};
use crate::syscall::owned;

const BUSY_BIT: u32 = 1 << 31;
const DISCARD_BIT: u32 = 1 << 30;
const HEADER: usize = 8;

/// A mapped ring buffer. Holds its own reference to the map's descriptor.
#[derive(Debug)]
pub struct RingBuf {
    map_fd: OwnedFd,
    epoll: OwnedFd,
    consumer: *mut u8,
    producer: *mut u8,
    page: usize,
    size: usize,
}

// SAFETY: the mappings are owned by this value and only touched through &mut self (reads
// of the producer page are atomic loads), so moving it to another thread is sound.
unsafe impl Send for RingBuf {}

impl RingBuf {
    /// Maps the ring buffer `map` (which must be a `BPF_MAP_TYPE_RINGBUF`).
    pub fn new(map: &Map) -> Result<RingBuf, SysError> {
        if map.kind() != Some(MapType::RingBuf) {
            return Err(SysError::Mismatch(format!(
                "map '{}' is not a ring buffer",
                map.name()
            )));
        }
        let what = format!("ring buffer '{}'", map.name());
        let map_fd = map
            .fd()
            .try_clone_to_owned()
            .map_err(|e| SysError::call("dup", what.clone(), e))?;
        let size = map.max_entries() as usize;
        // SAFETY: sysconf has no memory-safety preconditions.
        let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096);
        if size == 0 || !size.is_power_of_two() || !size.is_multiple_of(page) {
            return Err(SysError::Mismatch(format!(
                "{what}: size {size} is not a power-of-two multiple of the page size"
            )));
        }
        // SAFETY: a new shared read-write mapping of the consumer page of a ring-buffer map
        // fd we hold; the kernel checks offset and length. The result is checked below.
        let consumer = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                page,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                map_fd.as_raw_fd(),
                0,
            )
        };
        if consumer == libc::MAP_FAILED {
            return Err(SysError::call(
                "mmap",
                what,
                std::io::Error::last_os_error(),
            ));
        }
        // SAFETY: as above, read-only: the producer page and the data area mapped twice.
        let producer = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                page + 2 * size,
                libc::PROT_READ,
                libc::MAP_SHARED,
                map_fd.as_raw_fd(),
                page as libc::off_t,
            )
        };
        if producer == libc::MAP_FAILED {
            let err = std::io::Error::last_os_error();
            // SAFETY: `consumer` is the mapping of `page` bytes made just above.
            unsafe { libc::munmap(consumer, page) };
            return Err(SysError::call("mmap", what, err));
        }
        let ring = RingBuf {
            map_fd,
            epoll: epoll_for(&what)?,
            consumer: consumer as *mut u8,
            producer: producer as *mut u8,
            page,
            size,
        };
        ring.watch(&what)?;
        Ok(ring)
    }

    fn watch(&self, what: &str) -> Result<(), SysError> {
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: 0,
        };
        // SAFETY: both descriptors are alive; `ev` is a valid epoll_event read by the call.
        let rc = unsafe {
            libc::epoll_ctl(
                self.epoll.as_raw_fd(),
                libc::EPOLL_CTL_ADD,
                self.map_fd.as_raw_fd(),
                &mut ev,
            )
        };
        if rc != 0 {
            return Err(SysError::call(
                "epoll_ctl",
                what.to_string(),
                std::io::Error::last_os_error(),
            ));
        }
        Ok(())
    }

    fn consumer_pos(&self) -> &AtomicU64 {
        // SAFETY: the consumer page is mapped read-write for our lifetime and starts with the
        // 8-byte-aligned u64 consumer position, which only this process writes.
        unsafe { &*(self.consumer as *const AtomicU64) }
    }

    fn producer_pos(&self) -> &AtomicU64 {
        // SAFETY: the producer page is mapped for our lifetime and starts with the kernel's
        // u64 producer position; we only load it atomically.
        unsafe { &*(self.producer as *const AtomicU64) }
    }

    /// Bytes written but not yet consumed.
    pub fn pending(&self) -> u64 {
        let prod = self.producer_pos().load(Ordering::Acquire);
        let cons = self.consumer_pos().load(Ordering::Acquire);
        prod.saturating_sub(cons)
    }

    /// Hands each available record to `f` in order, consuming it; stops early when `f`
    /// returns false (that record is consumed, later ones stay) or at a record still being
    /// written. Returns the number of records handed over.
    pub fn read(&mut self, mut f: impl FnMut(&[u8]) -> bool) -> usize {
        let mask = (self.size - 1) as u64;
        let mut count = 0;
        let mut cons = self.consumer_pos().load(Ordering::Acquire);
        loop {
            let prod = self.producer_pos().load(Ordering::Acquire);
            if cons >= prod {
                return count;
            }
            let offset = (cons & mask) as usize;
            // SAFETY: offset < size, so the 4-byte header lies in the data area that starts
            // one page after the producer page; the kernel writes it with release semantics
            // and we load it atomically.
            let header = unsafe { &*(self.producer.add(self.page + offset) as *const AtomicU32) };
            let len = header.load(Ordering::Acquire);
            if len & BUSY_BIT != 0 {
                return count;
            }
            let size = (len & !(BUSY_BIT | DISCARD_BIT)) as usize;
            if size > self.size {
                // A corrupt header; never read past the mapping.
                return count;
            }
            let mut keep_going = true;
            if len & DISCARD_BIT == 0 {
                // SAFETY: the record starts HEADER bytes after its header, at most `size`
                // bytes of the ring long; the data area is mapped twice in a row, so
                // offset + HEADER + size <= 2 * size stays inside the mapping. The kernel
                // does not touch a committed record until we advance the consumer position.
                let data = unsafe {
                    std::slice::from_raw_parts(self.producer.add(self.page + offset + HEADER), size)
                };
                keep_going = f(data);
                count += 1;
            }
            cons += ((size + HEADER).next_multiple_of(8)) as u64;
            self.consumer_pos().store(cons, Ordering::Release);
            if !keep_going {
                return count;
            }
        }
    }

    /// Sleeps until the kernel signals new data or `timeout_ms` passes (−1: forever).
    /// Returns false on timeout. EINTR (a signal) returns true so the caller re-checks.
    pub fn wait(&self, timeout_ms: i32) -> Result<bool, SysError> {
        let mut ev = [libc::epoll_event { events: 0, u64: 0 }];
        // SAFETY: `ev` is a writable array of one epoll_event and we pass its length.
        let n = unsafe { libc::epoll_wait(self.epoll.as_raw_fd(), ev.as_mut_ptr(), 1, timeout_ms) };
        if n < 0 {
            let err = std::io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::EINTR) {
                return Ok(true);
            }
            return Err(SysError::call("epoll_wait", "ring buffer", err));
        }
        Ok(n > 0)
    }

    /// The epoll descriptor, to wait on several rings at once.
    pub fn epoll_fd(&self) -> BorrowedFd<'_> {
        self.epoll.as_fd()
    }
}

impl Drop for RingBuf {
    fn drop(&mut self) {
        // SAFETY: both pointers are the mappings made in `new`, with the same lengths, and
        // nothing borrows them past `&mut self`.
        unsafe {
            libc::munmap(self.consumer as *mut libc::c_void, self.page);
            libc::munmap(
                self.producer as *mut libc::c_void,
                self.page + 2 * self.size,
            );
        }
    }
}

fn epoll_for(what: &str) -> Result<OwnedFd, SysError> {
    // SAFETY: epoll_create1 takes a flag and returns a new descriptor or -1.
    let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    if fd < 0 {
        return Err(SysError::call(
            "epoll_create1",
            what.to_string(),
            std::io::Error::last_os_error(),
        ));
    }
    owned(fd as libc::c_long).map_err(|e| SysError::call("epoll_create1", what.to_string(), e))
}
