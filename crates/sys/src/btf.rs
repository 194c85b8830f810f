//! BTF blobs loaded into the kernel (`BPF_BTF_LOAD`), for programs that carry function info
//! (callbacks of `bpf_for_each_map_elem` must be described as FUNCs).

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use crate::attr::BtfLoadAttr;
use crate::cmd::Cmd;
use crate::error::SysError;
use crate::syscall::bpf_fd;

/// A loaded BTF object.
#[derive(Debug)]
pub struct Btf {
    fd: OwnedFd,
}

impl Btf {
    /// Loads a raw BTF blob (header, types, strings). On failure the kernel's BTF log is
    /// part of the error.
    pub fn load(blob: &[u8]) -> Result<Btf, SysError> {
        let size = u32::try_from(blob.len())
            .map_err(|_| SysError::Mismatch("BTF blob is larger than 4 GiB".into()))?;
        let mut attr = BtfLoadAttr {
            btf: blob.as_ptr() as u64,
            btf_size: size,
            ..BtfLoadAttr::default()
        };
        match bpf_fd(Cmd::BtfLoad, &mut attr) {
            Ok(fd) => Ok(Btf { fd }),
            Err(_) => {
                let mut log = vec![0u8; 64 << 10];
                let mut attr = BtfLoadAttr {
                    btf: blob.as_ptr() as u64,
                    btf_size: size,
                    btf_log_buf: log.as_mut_ptr() as u64,
                    btf_log_size: log.len() as u32,
                    btf_log_level: 1,
                    ..BtfLoadAttr::default()
                };
                match bpf_fd(Cmd::BtfLoad, &mut attr) {
                    Ok(fd) => Ok(Btf { fd }),
                    Err(e) => {
                        let end = log.iter().position(|b| *b == 0).unwrap_or(log.len());
                        let text = String::from_utf8_lossy(&log[..end]);
                        let last = text
                            .lines()
                            .rev()
                            .find(|l| !l.trim().is_empty())
                            .unwrap_or("");
                        Err(SysError::bpf(
                            Cmd::BtfLoad,
                            format!("BTF rejected: {last}"),
                            e,
                        ))
                    }
                }
            }
        }
    }

    /// The descriptor.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}
