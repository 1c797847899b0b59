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
//! The accept loop backs off on resource exhaustion (`EMFILE` and friends) exactly as `echo_server.rs`
//! does; see that file for why.

use bytes::Bytes;
use ferrio::io::{AsyncRead, AsyncWrite};
use ferrio::net::{TcpListener, TcpStream};
use ferrio::signal::{signal, Signal, SignalKind};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, ALLOW, CONTENT_TYPE};
use hyper::rt::{Executor, ReadBufCursor};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use std::convert::Infallible;
use std::future::{poll_fn, Future};
use std::io::{self, Write};
use std::net::SocketAddr;
use std::pin::Pin;
use std::process::ExitCode;
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

/// First pause after an accept error that means "out of resources".
const MIN_BACKOFF: Duration = Duration::from_millis(10);
/// Longest pause between two accept attempts while resources stay exhausted.
const MAX_BACKOFF: Duration = Duration::from_secs(1);

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

/// Command line: `[ADDR] [--workers N] [--current-thread]`.
struct Options {
    addr: String,
    workers: Option<usize>,
    current_thread: bool,
}

fn parse_args() -> Result<Options, String> {
    let mut options = Options {
        addr: "127.0.0.1:8080".to_owned(),
        workers: None,
        current_thread: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--current-thread" => options.current_thread = true,
            "--workers" => {
                let n = args.next().ok_or("--workers needs a number")?;
                let n = n
                    .parse()
                    .map_err(|_| format!("--workers: not a number: {n}"))?;
                options.workers = Some(n);
            }
            "-h" | "--help" => {
                return Err("usage: http_server [ADDR] [--workers N | --current-thread]".into())
            }
            flag if flag.starts_with("--") => return Err(format!("unknown flag {flag}")),
            addr => options.addr = addr.to_owned(),
        }
    }
    Ok(options)
}

fn main() -> ExitCode {
    let options = match parse_args() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("http_server: {message}");
            return ExitCode::from(2);
        }
    };
    let mut builder = ferrio::Runtime::builder();
    if options.current_thread {
        builder.current_thread();
    } else if let Some(n) = options.workers {
        builder.worker_threads(n);
    }
    let runtime = match builder.thread_name("http").build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("http_server: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(&options.addr)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("http_server: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Binds, announces the address, accepts until SIGINT or SIGTERM arrives.
async fn serve(addr: &str) -> io::Result<()> {
    let listener = TcpListener::bind(addr)
        .map_err(|e| io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))?;
    // Listen for the signals before announcing readiness: whoever reads `listening on` may signal us at once.
    let mut stop = ShutdownSignal::new()?;
    let local = listener.local_addr()?;
    let mut stdout = io::stdout().lock();
    writeln!(stdout, "listening on {local}")?;
    stdout.flush()?;
    drop(stdout);

    let acceptor = ferrio::spawn(accept_loop(listener, FerrioExecutor));
    stop.recv().await;
    // Cancelling the accept loop drops the listener. Open connections are cancelled when the runtime is
    // dropped, on return from `main`.
    acceptor.cancel();
    println!("shutting down");
    Ok(())
}

/// SIGINT and SIGTERM listeners: `recv` completes on the first of either.
struct ShutdownSignal {
    interrupt: Signal,
    terminate: Signal,
}

impl ShutdownSignal {
    /// Starts listening now: a signal that arrives from here on is not missed.
    fn new() -> io::Result<ShutdownSignal> {
        Ok(ShutdownSignal {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    async fn recv(&mut self) {
        poll_fn(|cx| {
            // `Ready(None)` means the runtime is shutting down: a reason to stop as good as a signal.
            if self.interrupt.poll_recv(cx).is_ready() || self.terminate.poll_recv(cx).is_ready() {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await
    }
}

/// Accepts forever, one task per connection; backs off while descriptors or memory are exhausted.
async fn accept_loop(listener: TcpListener, executor: FerrioExecutor) {
    let mut backoff = MIN_BACKOFF;
    let mut exhausted = false;
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                if exhausted {
                    eprintln!("http_server: accepting again");
                    exhausted = false;
                }
                backoff = MIN_BACKOFF;
                executor.execute(serve_connection(stream, peer));
            }
            Err(e) => {
                let raw = e.raw_os_error();
                if matches!(
                    e.kind(),
                    io::ErrorKind::ConnectionAborted
                        | io::ErrorKind::ConnectionReset
                        | io::ErrorKind::Interrupted
                ) {
                    continue;
                }
                let resources = matches!(
                    raw,
                    Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
                );
                if !resources {
                    eprintln!("http_server: accept failed: {e}; retrying in {backoff:?}");
                } else if !exhausted {
                    eprintln!("http_server: accept failed: {e}; backing off while serving");
                    exhausted = true;
                }
                ferrio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}
