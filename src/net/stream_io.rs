//! The read and write paths shared by the stream sockets (TCP and Unix): one `poll_*` function each, on an
//! `AsyncFd` whose inner socket reads through a shared reference, and a macro that implements the
//! futures-io traits for a stream type and for a shared reference to it. Writes go straight to the
//! descriptor with `send`/`sendmsg(MSG_NOSIGNAL)` (`sys.rs`), never through the inner type's `write`, so no
//! stream type can raise SIGPIPE.

use super::sys;
use crate::io::AsyncFd;
use crate::reactor::Direction;
use std::io::{self, IoSlice, Read};
use std::os::fd::AsRawFd;
use std::task::{Context, Poll};

pub(crate) fn poll_read<T>(
    io: &AsyncFd<T>,
    cx: &mut Context<'_>,
    buf: &mut [u8],
) -> Poll<io::Result<usize>>
where
    T: AsRawFd,
    for<'a> &'a T: Read,
{
    if buf.is_empty() {
        return Poll::Ready(Ok(0));
    }
    io.poll_io_stream(cx, Direction::Read, buf.len(), |mut s| s.read(buf))
}

pub(crate) fn poll_write<T: AsRawFd>(
    io: &AsyncFd<T>,
    cx: &mut Context<'_>,
    buf: &[u8],
) -> Poll<io::Result<usize>> {
    if buf.is_empty() {
        return Poll::Ready(Ok(0));
    }
    // `send(MSG_NOSIGNAL)` ourselves rather than trusting each inner type's `write`: a plain `write(2)` on a
    // socket whose peer is gone raises SIGPIPE.
    io.poll_io_stream(cx, Direction::Write, buf.len(), |s| {
        sys::send(s.as_raw_fd(), buf)
    })
}

pub(crate) fn poll_write_vectored<T: AsRawFd>(
    io: &AsyncFd<T>,
    cx: &mut Context<'_>,
    bufs: &[IoSlice<'_>],
) -> Poll<io::Result<usize>> {
    // The kernel takes at most `MAX_IOV` slices: offer only those, so that a short write below is judged
    // against what was really offered (and does not clear readiness wrongly).
    let bufs = &bufs[..bufs.len().min(sys::MAX_IOV)];
    let len: usize = bufs.iter().map(|b| b.len()).sum();
    if len == 0 {
        return Poll::Ready(Ok(0));
    }
    io.poll_io_stream(cx, Direction::Write, len, |s| {
        sys::send_vectored(s.as_raw_fd(), bufs)
    })
}

/// Implements `AsyncRead` and `AsyncWrite` for `&$ty` (given `fn io(&self) -> &AsyncFd<_>` and
/// `fn shutdown(&self, Shutdown)` on the type), and for `$ty` by going through a shared reference.
macro_rules! impl_stream_traits {
    ($ty:ty) => {
        impl $crate::io::AsyncRead for &$ty {
            fn poll_read(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &mut [u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                $crate::net::stream_io::poll_read(self.io(), cx, buf)
            }
        }

        impl $crate::io::AsyncWrite for &$ty {
            fn poll_write(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                $crate::net::stream_io::poll_write(self.io(), cx, buf)
            }

            fn poll_write_vectored(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                bufs: &[std::io::IoSlice<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                $crate::net::stream_io::poll_write_vectored(self.io(), cx, bufs)
            }

            fn poll_flush(
                self: std::pin::Pin<&mut Self>,
                _cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::task::Poll::Ready(Ok(()))
            }

            fn poll_close(
                self: std::pin::Pin<&mut Self>,
                _cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::task::Poll::Ready(self.shutdown(std::net::Shutdown::Write))
            }
        }

        impl $crate::io::AsyncRead for $ty {
            fn poll_read(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &mut [u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                std::pin::Pin::new(&mut &*self).poll_read(cx, buf)
            }
        }

        impl $crate::io::AsyncWrite for $ty {
            fn poll_write(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                std::pin::Pin::new(&mut &*self).poll_write(cx, buf)
            }

            fn poll_write_vectored(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                bufs: &[std::io::IoSlice<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                std::pin::Pin::new(&mut &*self).poll_write_vectored(cx, bufs)
            }

            fn poll_flush(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::pin::Pin::new(&mut &*self).poll_flush(cx)
            }

            fn poll_close(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::pin::Pin::new(&mut &*self).poll_close(cx)
            }
        }
    };
}

pub(crate) use impl_stream_traits;
