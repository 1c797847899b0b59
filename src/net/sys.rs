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

/// `recvfrom(fd, buf, MSG_PEEK)` on a Unix datagram socket: the next message's bytes without taking it off
/// the queue, and its sender's address (std offers no `peek_from` on Unix sockets).
pub(crate) fn peek_from_unix(fd: RawFd, buf: &mut [u8]) -> io::Result<(usize, UnixAddr)> {
    // SAFETY: an all-zero `sockaddr_un` is a valid value (family 0, empty path).
    let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t;
    // SAFETY: `buf` is valid for writes of `buf.len()` bytes and `addr` for `len` bytes for the whole call;
    // the kernel writes at most that many into each and stores the address's real length in `len`.
    let n = unsafe {
        libc::recvfrom(
            fd,
            buf.as_mut_ptr().cast(),
            buf.len(),
            libc::MSG_PEEK,
            (&mut addr as *mut libc::sockaddr_un).cast(),
            &mut len,
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((n as usize, UnixAddr::from_raw(&addr, len as usize)))
}

/// A Unix socket address as `recvfrom` reported it, before it becomes std's `SocketAddr`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum UnixAddr {
    /// The sender is not bound.
    Unnamed,
    /// A path in the file system (without the trailing NUL).
    Path(std::path::PathBuf),
    /// A Linux abstract name (the bytes after the leading NUL).
    Abstract(Vec<u8>),
}

impl UnixAddr {
    /// Reads the `len` bytes the kernel stored in `addr`.
    fn from_raw(addr: &libc::sockaddr_un, len: usize) -> UnixAddr {
        use std::os::unix::ffi::OsStrExt;
        let offset = std::mem::size_of::<libc::sa_family_t>();
        let path_len = len.saturating_sub(offset).min(addr.sun_path.len());
        let bytes: Vec<u8> = addr.sun_path[..path_len].iter().map(|&c| c as u8).collect();
        match bytes.first() {
            None => UnixAddr::Unnamed,
            Some(0) => UnixAddr::Abstract(bytes[1..].to_vec()),
            Some(_) => {
                let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
                UnixAddr::Path(std::ffi::OsStr::from_bytes(&bytes[..end]).into())
            }
        }
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
