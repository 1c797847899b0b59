//! Extension methods on the futures-io traits: each method returns a small future that calls the trait's
//! `poll_*` method until it is done. `copy` moves bytes from a reader to a writer through a buffer.
//!
//! Cancellation: dropping one of these futures is always safe, but what already moved stays moved (e.g. a
//! dropped `write_all` may have written a prefix; a dropped `read_exact` may have consumed part of the
//! input), as with tokio's and futures-util's.

use super::{AsyncBufRead, AsyncRead, AsyncWrite};
use std::future::{poll_fn, Future};
use std::io;
use std::pin::Pin;
use std::task::{ready, Poll};

/// Buffer size of [`copy`].
const COPY_BUFFER: usize = 64 * 1024;

/// `read`, `read_exact`, `read_to_end`, `read_to_string` on any [`AsyncRead`].
pub trait AsyncReadExt: AsyncRead {
    /// Reads some bytes into `buf`; `Ok(0)` means end of stream (or an empty `buf`).
    fn read<'a>(&'a mut self, buf: &'a mut [u8]) -> impl Future<Output = io::Result<usize>> + 'a
    where
        Self: Unpin,
    {
        poll_fn(move |cx| Pin::new(&mut *self).poll_read(cx, buf))
    }

    /// Fills `buf` completely, or fails with `UnexpectedEof` if the stream ends first.
    fn read_exact<'a>(&'a mut self, buf: &'a mut [u8]) -> impl Future<Output = io::Result<()>> + 'a
    where
        Self: Unpin,
    {
        let mut filled = 0;
        poll_fn(move |cx| {
            while filled < buf.len() {
                let n = ready!(Pin::new(&mut *self).poll_read(cx, &mut buf[filled..]))?;
                if n == 0 {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "stream ended before the buffer was filled",
                    )));
                }
                filled += n;
            }
            Poll::Ready(Ok(()))
        })
    }

    /// Reads until end of stream, appending to `buf`; returns how many bytes were appended.
    fn read_to_end<'a>(
        &'a mut self,
        buf: &'a mut Vec<u8>,
    ) -> impl Future<Output = io::Result<usize>> + 'a
    where
        Self: Unpin,
    {
        let start = buf.len();
        poll_fn(move |cx| loop {
            if buf.capacity() - buf.len() < 4096 {
                buf.reserve(buf.capacity().max(4096));
            }
            let old_len = buf.len();
            buf.resize(buf.capacity(), 0);
            let result = Pin::new(&mut *self).poll_read(cx, &mut buf[old_len..]);
            let n = match &result {
                Poll::Ready(Ok(n)) => *n,
                _ => 0,
            };
            buf.truncate(old_len + n);
            match result {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Ready(Ok(0)) => return Poll::Ready(Ok(buf.len() - start)),
                Poll::Ready(Ok(_)) => {}
            }
        })
    }

    /// Reads until end of stream, appending to `buf`; fails with `InvalidData` (appending nothing) if the
    /// bytes are not UTF-8.
    fn read_to_string<'a>(
        &'a mut self,
        buf: &'a mut String,
    ) -> impl Future<Output = io::Result<usize>> + 'a
    where
        Self: Unpin,
    {
        async move {
            let mut bytes = Vec::new();
            let n = self.read_to_end(&mut bytes).await?;
            let text = String::from_utf8(bytes)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            buf.push_str(&text);
            Ok(n)
        }
    }
}

impl<R: AsyncRead + ?Sized> AsyncReadExt for R {}

/// `write`, `write_all`, `write_vectored`, `flush`, `close` on any [`AsyncWrite`].
pub trait AsyncWriteExt: AsyncWrite {
    /// Writes some bytes of `buf`; returns how many.
    fn write<'a>(&'a mut self, buf: &'a [u8]) -> impl Future<Output = io::Result<usize>> + 'a
    where
        Self: Unpin,
    {
        poll_fn(move |cx| Pin::new(&mut *self).poll_write(cx, buf))
    }

    /// Writes from several buffers at once (one `sendmsg` on sockets); returns how many bytes.
    fn write_vectored<'a>(
        &'a mut self,
        bufs: &'a [io::IoSlice<'a>],
    ) -> impl Future<Output = io::Result<usize>> + 'a
    where
        Self: Unpin,
    {
        poll_fn(move |cx| Pin::new(&mut *self).poll_write_vectored(cx, bufs))
    }

    /// Writes all of `buf`; fails with `WriteZero` if the writer stops accepting bytes.
    fn write_all<'a>(&'a mut self, buf: &'a [u8]) -> impl Future<Output = io::Result<()>> + 'a
    where
        Self: Unpin,
    {
        let mut written = 0;
        poll_fn(move |cx| {
            while written < buf.len() {
                let n = ready!(Pin::new(&mut *self).poll_write(cx, &buf[written..]))?;
                if n == 0 {
                    return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
                }
                written += n;
            }
            Poll::Ready(Ok(()))
        })
    }

    /// Flushes buffered data (sockets have none: returns at once).
    fn flush(&mut self) -> impl Future<Output = io::Result<()>> + '_
    where
        Self: Unpin,
    {
        poll_fn(move |cx| Pin::new(&mut *self).poll_flush(cx))
    }

    /// Flushes, then closes the writing side (for sockets: `shutdown(Write)`, the peer reads end of stream).
    fn close(&mut self) -> impl Future<Output = io::Result<()>> + '_
    where
        Self: Unpin,
    {
        poll_fn(move |cx| Pin::new(&mut *self).poll_close(cx))
    }
}

impl<W: AsyncWrite + ?Sized> AsyncWriteExt for W {}

/// `read_line` and `read_until` on any [`AsyncBufRead`] (such as [`BufReader`](super::BufReader)).
pub trait AsyncBufReadExt: AsyncBufRead {
    /// Reads up to and including `byte` (or to end of stream), appending to `buf`; returns how many bytes.
    fn read_until<'a>(
        &'a mut self,
        byte: u8,
        buf: &'a mut Vec<u8>,
    ) -> impl Future<Output = io::Result<usize>> + 'a
    where
        Self: Unpin,
    {
        let mut read = 0;
        poll_fn(move |cx| loop {
            let available = ready!(Pin::new(&mut *self).poll_fill_buf(cx))?;
            let (done, used) = match available.iter().position(|&b| b == byte) {
                Some(i) => {
                    buf.extend_from_slice(&available[..=i]);
                    (true, i + 1)
                }
                None => {
                    buf.extend_from_slice(available);
                    (available.is_empty(), available.len())
                }
            };
            Pin::new(&mut *self).consume(used);
            read += used;
            if done {
                return Poll::Ready(Ok(read));
            }
        })
    }

    /// Reads one line, including its `\n`, appending to `buf`; `Ok(0)` at end of stream. Fails with
    /// `InvalidData` (appending nothing) if the line is not UTF-8.
    fn read_line<'a>(
        &'a mut self,
        buf: &'a mut String,
    ) -> impl Future<Output = io::Result<usize>> + 'a
    where
        Self: Unpin,
    {
        async move {
            let mut bytes = Vec::new();
            let n = self.read_until(b'\n', &mut bytes).await?;
            let line = String::from_utf8(bytes)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            buf.push_str(&line);
            Ok(n)
        }
    }
}

impl<R: AsyncBufRead + ?Sized> AsyncBufReadExt for R {}

/// Copies everything `reader` yields into `writer` until end of stream, then flushes `writer`; returns how
/// many bytes were copied. Does not close `writer`.
pub async fn copy<R, W>(reader: &mut R, writer: &mut W) -> io::Result<u64>
where
    R: AsyncRead + Unpin + ?Sized,
    W: AsyncWrite + Unpin + ?Sized,
{
    let mut buf = vec![0u8; COPY_BUFFER];
    let mut total = 0u64;
    loop {
        let n = reader.read(&mut buf).await?;
        if n == 0 {
            writer.flush().await?;
            return Ok(total);
        }
        writer.write_all(&buf[..n]).await?;
        total += n as u64;
    }
}
