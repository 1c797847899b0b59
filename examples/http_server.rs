//! An HTTP/1.1 server: hyper 1.x running on ferrio through a small adapter written here, with keep-alive,
//! and a clean stop on SIGINT or SIGTERM.
//!
//! Run: `cargo run --release --example http_server -- [ADDR] [--workers N | --current-thread]` (ADDR
//! defaults to `127.0.0.1:8080`; port 0 picks a free port), then `curl -i http://127.0.0.1:8080/`.
//! `GET /` answers `Hello, World!` as text/plain; any other path is a 404. Once ready it prints
//! `listening on ADDR` (the address actually bound); on a signal it stops accepting, prints
//! `shutting down` and exits with status 0.
//!
//! hyper is runtime-agnostic: it asks its user for
//! - I/O: `hyper::rt::Read` / `hyper::rt::Write`. [`HyperIo`] forwards them to the futures-io traits ferrio's
//!   `TcpStream` implements (hyper reads into possibly uninitialised memory, which is zeroed first here,
//!   because a futures-io reader takes a `&mut [u8]`);
//! - timers: `hyper::rt::Timer` (header-read timeouts, keep-alive), [`FerrioTimer`], on
//!   `ferrio::time::sleep_until`;
//! - an executor for the tasks it spawns (HTTP/2 needs it; HTTP/1 does not): [`FerrioExecutor`], on
//!   `ferrio::spawn`. The accept loop uses it for the connection tasks too.
//!
//! hyper, http-body-util and bytes are dev-dependencies of ferrio, used only by this example.
//!
//! The serving skeleton (arguments, signals, the accept loop that backs off on `EMFILE` and friends) is
//! shared with `echo_server.rs`: `examples/net_common/mod.rs`.

use bytes::Bytes;
use ferrio::io::{AsyncRead, AsyncWrite};
use ferrio::net::TcpStream;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, ALLOW, CONTENT_TYPE};
use hyper::rt::{Executor, ReadBufCursor};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::process::ExitCode;

#[path = "net_common/mod.rs"]
mod net_common;
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------------------------
// The adapter: hyper's runtime traits on ferrio
// ---------------------------------------------------------------------------------------------------------

/// `hyper::rt::Executor`: runs hyper's background futures as detached ferrio tasks.
#[derive(Clone, Copy, Debug)]
struct FerrioExecutor;

impl<F> Executor<F> for FerrioExecutor
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn execute(&self, future: F) {
        // Dropping the `Task` detaches it: it runs on until done (or until the runtime shuts down).
        drop(ferrio::spawn(future));
    }
}

/// `hyper::rt::Timer` on ferrio's timer wheel.
#[derive(Clone, Copy, Debug)]
struct FerrioTimer;

impl hyper::rt::Timer for FerrioTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(FerrioSleep {
            inner: ferrio::time::sleep(duration),
        })
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(FerrioSleep {
            inner: ferrio::time::sleep_until(deadline),
        })
    }

    fn reset(&self, sleep: &mut Pin<Box<dyn hyper::rt::Sleep>>, new_deadline: Instant) {
        // Move our own sleeps in place (no new allocation); replace any other kind.
        match sleep.as_mut().downcast_mut_pin::<FerrioSleep>() {
            Some(ours) => ours.inner().reset(new_deadline),
            None => *sleep = self.sleep_until(new_deadline),
        }
    }
}

/// A ferrio `Sleep` that hyper can hold (`hyper::rt::Sleep` is a foreign trait, so it needs a local type).
/// `ferrio::time::Sleep` is `Send + Sync` and `!Unpin` (the wheel links its address), so it is pinned
/// structurally inside this wrapper.
struct FerrioSleep {
    inner: ferrio::time::Sleep,
}

impl FerrioSleep {
    /// Projects the pin onto the inner sleep.
    fn inner(self: Pin<&mut Self>) -> Pin<&mut ferrio::time::Sleep> {
        // SAFETY: `inner` is structurally pinned: `FerrioSleep` has no `Drop` impl, never moves `inner` out
        // or hands out `&mut` to it except through this pinned projection, and is `!Unpin` itself because
        // `inner` is.
        unsafe { self.map_unchecked_mut(|sleep| &mut sleep.inner) }
    }
}

impl Future for FerrioSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.inner().poll(cx)
    }
}

impl hyper::rt::Sleep for FerrioSleep {}

/// A ferrio `TcpStream` seen through hyper's I/O traits.
struct HyperIo(TcpStream);

impl hyper::rt::Read for HyperIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        // futures-io readers take initialised memory: zero the unfilled part (hyper's buffers are a few KiB).
        let unfilled = buf.initialize_unfilled();
        let capacity = unfilled.len();
        let n = ready!(Pin::new(&mut self.0).poll_read(cx, unfilled))?;
        // A correct reader never reports more than it was given; do not trust that with memory safety.
        let n = n.min(capacity);
        // SAFETY: `initialize_unfilled` initialised all `capacity` unfilled bytes, and `n <= capacity`.
        unsafe { buf.advance(n) };
        Poll::Ready(Ok(()))
    }
}

impl hyper::rt::Write for HyperIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }

    /// ferrio's streams write with one `sendmsg` for several buffers: let hyper send headers and body
    /// together.
    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_close(cx)
    }
}

// ---------------------------------------------------------------------------------------------------------
// The application
// ---------------------------------------------------------------------------------------------------------

/// The routes: `GET /` (and `HEAD /`) greet, other methods on `/` get 405, everything else 404.
async fn route(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let response = match (request.method(), request.uri().path()) {
        (&Method::GET | &Method::HEAD, "/") => text(StatusCode::OK, "Hello, World!"),
        (_, "/") => {
            let mut response = text(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed\n");
            let allowed = HeaderValue::from_static("GET, HEAD");
            response.headers_mut().insert(ALLOW, allowed);
            response
        }
        _ => text(StatusCode::NOT_FOUND, "Not Found\n"),
    };
    Ok(response)
}

fn text(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = status;
    let plain = HeaderValue::from_static("text/plain; charset=utf-8");
    response.headers_mut().insert(CONTENT_TYPE, plain);
    response
}

/// Serves one connection with keep-alive until the client closes it.
async fn serve_connection(stream: TcpStream, peer: SocketAddr) {
    let _ = stream.set_nodelay(true);
    let connection = http1::Builder::new()
        .timer(FerrioTimer)
        .keep_alive(true)
        .serve_connection(HyperIo(stream), service_fn(route));
    if let Err(e) = connection.await {
        // A client that hangs up mid-request is ordinary; anything else is worth a line.
        if !e.is_incomplete_message() {
            eprintln!("http_server: connection from {peer}: {e}");
        }
    }
}

fn main() -> ExitCode {
    net_common::server_main("http_server", "127.0.0.1:8080", |stream, peer| {
        FerrioExecutor.execute(serve_connection(stream, peer))
    })
}
