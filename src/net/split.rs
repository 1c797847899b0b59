//! Halves of a stream socket (TCP or Unix), for reading in one task while writing in another.
//!
//! Borrowed halves (`split`) are two shared references; owned halves (`into_split`) share the socket
//! through an `Arc`, can move to different tasks, and go back together with `reunite`. Both work because
//! a stream reads and writes through `&Stream`, and the reactor keeps a separate waiter per direction. The
//! owned write half shuts the writing side down when it is dropped, so the peer reads end of stream.

use crate::io::{AsyncRead, AsyncWrite};
use std::fmt;
use std::io::{self, IoSlice};
use std::net::Shutdown;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

pub(crate) mod sealed {
    /// The stream types that can be split (implemented by `TcpStream` and `UnixStream`).
    pub trait Stream {
        fn shutdown_stream(&self, how: std::net::Shutdown) -> std::io::Result<()>;
    }
}
use sealed::Stream;

/// The reading half of a stream, borrowed from it ([`TcpStream::split`](super::TcpStream::split),
/// [`UnixStream::split`](super::UnixStream::split)).
#[derive(Debug)]
pub struct ReadHalf<'a, S>(pub(crate) &'a S);

/// The writing half of a stream, borrowed from it ([`TcpStream::split`](super::TcpStream::split),
/// [`UnixStream::split`](super::UnixStream::split)).
#[derive(Debug)]
pub struct WriteHalf<'a, S>(pub(crate) &'a S);

/// The reading half of a stream, owned ([`TcpStream::into_split`](super::TcpStream::into_split),
/// [`UnixStream::into_split`](super::UnixStream::into_split)).
#[derive(Debug)]
pub struct OwnedReadHalf<S: Stream> {
    stream: Arc<S>,
}

/// The writing half of a stream, owned ([`TcpStream::into_split`](super::TcpStream::into_split),
/// [`UnixStream::into_split`](super::UnixStream::into_split)).
/// Dropping it shuts the writing side down (the peer reads end of stream).
#[derive(Debug)]
pub struct OwnedWriteHalf<S: Stream> {
    stream: Arc<S>,
    shutdown_on_drop: bool,
}

/// Two halves given to `reunite` came from different streams; both are handed back.
pub struct ReuniteError<S: Stream>(pub OwnedReadHalf<S>, pub OwnedWriteHalf<S>);

pub(crate) fn into_split<S: Stream>(stream: S) -> (OwnedReadHalf<S>, OwnedWriteHalf<S>) {
    let stream = Arc::new(stream);
    (
        OwnedReadHalf {
            stream: stream.clone(),
        },
        OwnedWriteHalf {
            stream,
            shutdown_on_drop: true,
        },
    )
}

impl<S: Stream> OwnedReadHalf<S> {
    /// Puts the stream back together; fails if `write` came from another stream.
    pub fn reunite(self, mut write: OwnedWriteHalf<S>) -> Result<S, ReuniteError<S>> {
        if !Arc::ptr_eq(&self.stream, &write.stream) {
            return Err(ReuniteError(self, write));
        }
        write.shutdown_on_drop = false;
        let stream = self.stream;
        drop(write);
        Ok(Arc::into_inner(stream)
            .expect("ferrio: both halves were given back, so no other owner exists"))
    }
}

impl<S: Stream> OwnedWriteHalf<S> {
    /// Puts the stream back together; fails if `read` came from another stream.
    pub fn reunite(self, read: OwnedReadHalf<S>) -> Result<S, ReuniteError<S>> {
        read.reunite(self)
    }
}

/// The stream both halves share (for addresses and options).
impl<S: Stream> AsRef<S> for OwnedReadHalf<S> {
    fn as_ref(&self) -> &S {
        &self.stream
    }
}

/// The stream both halves share (for addresses and options).
impl<S: Stream> AsRef<S> for OwnedWriteHalf<S> {
    fn as_ref(&self) -> &S {
        &self.stream
    }
}

impl<S: Stream> Drop for OwnedWriteHalf<S> {
    fn drop(&mut self) {
        if self.shutdown_on_drop {
            // The peer may be gone already (ENOTCONN): nothing left to tell it.
            let _ = self.stream.shutdown_stream(Shutdown::Write);
        }
    }
}

impl<S: Stream> fmt::Debug for ReuniteError<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ReuniteError(..)")
    }
}

impl<S: Stream> fmt::Display for ReuniteError<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("tried to reunite halves that are not from the same stream")
    }
}

impl<S: Stream> std::error::Error for ReuniteError<S> {}

/// Reads through `&S`.
fn read_via<S>(stream: &S, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>>
where
    for<'a> &'a S: AsyncRead,
{
    Pin::new(&mut &*stream).poll_read(cx, buf)
}

impl<S: Stream> AsyncRead for OwnedReadHalf<S>
where
    for<'a> &'a S: AsyncRead,
{
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        read_via(&*self.stream, cx, buf)
    }
}

impl<S> AsyncRead for ReadHalf<'_, S>
where
    for<'a> &'a S: AsyncRead,
{
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        read_via(self.0, cx, buf)
    }
}

/// `AsyncWrite` for a half that reaches its stream with `$stream`.
macro_rules! write_half {
    ($half:ty, $($generics:tt)*) => {
        impl<$($generics)*> AsyncWrite for $half
        where
            for<'b> &'b S: AsyncWrite,
        {
            fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
                Pin::new(&mut self.stream_ref()).poll_write(cx, buf)
            }

            fn poll_write_vectored(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                bufs: &[IoSlice<'_>],
            ) -> Poll<io::Result<usize>> {
                Pin::new(&mut self.stream_ref()).poll_write_vectored(cx, bufs)
            }

            fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                Pin::new(&mut self.stream_ref()).poll_flush(cx)
            }

            fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                Pin::new(&mut self.stream_ref()).poll_close(cx)
            }
        }
    };
}

impl<S: Stream> OwnedWriteHalf<S> {
    fn stream_ref(&self) -> &S {
        &self.stream
    }
}

impl<S> WriteHalf<'_, S> {
    fn stream_ref(&self) -> &S {
        self.0
    }
}

write_half!(OwnedWriteHalf<S>, S: Stream);
write_half!(WriteHalf<'_, S>, S);
