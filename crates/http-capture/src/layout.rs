//! The byte layout shared by the kernel programs and the decoder: ring-buffer record
//! header, record kinds, map key/value shapes. One place, so both sides agree.

/// Size of every record's header; the payload (captured bytes, a sockaddr, or the
/// addresses of an established connection) follows it.
pub const HDR: usize = 56;

/// Record kind byte (offset 0): bytes read or written on a tracked socket.
pub const KIND_DATA: u8 = 1;
/// A connection became tracked (accept or connect returned); payload: the peer sockaddr.
pub const KIND_OPEN: u8 = 2;
/// A tracked descriptor was closed.
pub const KIND_CLOSE: u8 = 3;
/// A passive TCP connection reached ESTABLISHED (softirq; no process): payload
/// [`EST_PAYLOAD`] bytes with both addresses, used to learn accepted sockets' local address.
pub const KIND_EST: u8 = 4;

/// Header offsets.
pub mod off {
    /// u8 kind.
    pub const KIND: i16 = 0;
    /// u8 direction: 0 ingress (read by the process), 1 egress (written).
    pub const DIR: i16 = 1;
    /// u8 role: [`super::ROLE_SERVER`] or [`super::ROLE_CLIENT`].
    pub const ROLE: i16 = 2;
    /// u8 flags ([`super::FLAG_COPY_FAILED`], [`super::FLAG_UNVERIFIED`]).
    pub const FLAGS: i16 = 3;
    /// u32 tgid.
    pub const TGID: i16 = 4;
    /// u32 tid.
    pub const TID: i16 = 8;
    /// u32 descriptor.
    pub const FD: i16 = 12;
    /// u64 CLOCK_MONOTONIC ns (bpf_ktime_get_ns).
    pub const TS: i16 = 16;
    /// u64: DATA: the syscall's return value (bytes moved); OPEN: the local port when known.
    pub const TOTAL: i16 = 24;
    /// u32 bytes of payload.
    pub const CAP_LEN: i16 = 32;
    /// u32 records of this connection lost (ring buffer full) since the last one delivered.
    pub const LOST_BEFORE: i16 = 36;
    /// char[16] comm.
    pub const COMM: i16 = 40;
}

/// Role byte: the process accepted the connection.
pub const ROLE_SERVER: u8 = 1;
/// Role byte: the process connected.
pub const ROLE_CLIENT: u8 = 2;

/// Flag: the payload could not be read from user memory (nothing captured, length known).
pub const FLAG_COPY_FAILED: u8 = 1;
/// Flag: accept() was called without an address buffer, so the kernel could not tell a TCP
/// socket from a Unix one; userspace checks /proc once.
pub const FLAG_UNVERIFIED: u8 = 2;

/// Bytes of sockaddr copied for OPEN records (a sockaddr_in6).
pub const SOCKADDR_LEN: usize = 28;
/// EST payload: family u16, sport u16, dport u16, pad u16, saddr4, daddr4, saddr6, daddr6.
pub const EST_PAYLOAD: usize = 48;

/// What a syscall's enter program saved for its exit (the `pending` map value, 32 bytes):
/// buffer pointer u64, fd u32, kind u32, dir u32, tcp-confirmed u32, local port u64.
pub const PENDING_VALUE: u32 = 32;
/// `pending` kind: a plain buffer (read/write/recvfrom/sendto).
pub const K_PLAIN: i32 = 0;
/// `pending` kind: an iovec array (readv/writev).
pub const K_IOV: i32 = 1;
/// `pending` kind: a user_msghdr (recvmsg/sendmsg).
pub const K_MSG: i32 = 2;
/// `pending` kind: accept/accept4 (the buffer is the peer sockaddr).
pub const K_ACCEPT: i32 = 3;
/// `pending` kind: connect (the buffer is the destination sockaddr).
pub const K_CONNECT: i32 = 4;

/// `conns` key: tgid u32, fd u32.
pub const CONN_KEY: u32 = 8;
/// `conns` value: role u32, flags u32, lost u64.
pub const CONN_VALUE: u32 = 16;

/// Per-CPU counters (the `lost` array's value, u64 each).
pub mod lost {
    /// Records the ring buffer had no room for.
    pub const RECORDS: i16 = 0;
    /// Slots in the value.
    pub const SLOTS: u32 = 1;
}
