//! The socket system calls std does not offer in the form we need; each wrapper is one call.

use std::io::{self, IoSlice};
use std::os::fd::RawFd;

/// `send(fd, buf, MSG_NOSIGNAL)`: a write that returns `EPIPE` instead of raising SIGPIPE when the peer is
/// gone. std's `write` on a TCP socket is this call already, but on a Unix stream it is `write(2)`, which
/// raises the signal.
pub(crate) fn send(fd: RawFd, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for reads of `buf.len()` bytes for the whole call; the kernel only reads it.
    let n = unsafe { libc::send(fd, buf.as_ptr().cast(), buf.len(), libc::MSG_NOSIGNAL) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// `recv(fd, buf, MSG_PEEK)`: reads what is queued without consuming it, so the next read returns the same
/// bytes (std offers `peek` on TCP and UDP sockets, but not on Unix ones).
pub(crate) fn peek(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for writes of `buf.len()` bytes for the whole call; the kernel writes at most
    // that many.
    let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), libc::MSG_PEEK) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// `getsockopt(fd, SOL_SOCKET, SO_PEERCRED)`: the process id, user id and group id of the peer of a Unix
/// socket, as they were when it connected (or when the pair was made).
pub(crate) fn peer_cred(fd: RawFd) -> io::Result<libc::ucred> {
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: `cred` and `len` are valid for writes and `len` holds `cred`'s size, so the kernel writes at
    // most that many bytes into it.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(cred)
    }
}

/// `sendmsg(fd, bufs, MSG_NOSIGNAL)`: a vectored write that returns `EPIPE` instead of raising SIGPIPE when
/// the peer is gone (`writev`, which std's `write_vectored` uses, raises it).
/// The most slices one `sendmsg` takes (Linux `UIO_MAXIOV`); more fail with `EMSGSIZE`.
pub(crate) const MAX_IOV: usize = 1024;

pub(crate) fn send_vectored(fd: RawFd, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
    // SAFETY: an all-zero `msghdr` is a valid value (null name and control pointers, zero lengths).
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    // `IoSlice` is guaranteed ABI-compatible with `iovec` on Unix; sendmsg only reads through the pointer.
    msg.msg_iov = bufs.as_ptr() as *mut libc::iovec;
    msg.msg_iovlen = bufs.len().min(MAX_IOV) as _;
    // SAFETY: `msg` points at `bufs.len()` valid iovecs that outlive the call; the kernel only reads them.
    let n = unsafe { libc::sendmsg(fd, &msg, libc::MSG_NOSIGNAL) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}
