//! The socket system calls std does not offer in the form we need; each wrapper is one call.

use std::io::{self, IoSlice};
use std::os::fd::RawFd;

/// `sendmsg(fd, bufs, MSG_NOSIGNAL)`: a vectored write that returns `EPIPE` instead of raising SIGPIPE when
/// the peer is gone (`writev`, which std's `write_vectored` uses, raises it).
pub(crate) fn send_vectored(fd: RawFd, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
    // SAFETY: an all-zero `msghdr` is a valid value (null name and control pointers, zero lengths).
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    // `IoSlice` is guaranteed ABI-compatible with `iovec` on Unix; sendmsg only reads through the pointer.
    msg.msg_iov = bufs.as_ptr() as *mut libc::iovec;
    msg.msg_iovlen = bufs.len().min(libc::c_int::MAX as usize) as _;
    // SAFETY: `msg` points at `bufs.len()` valid iovecs that outlive the call; the kernel only reads them.
    let n = unsafe { libc::sendmsg(fd, &msg, libc::MSG_NOSIGNAL) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}
