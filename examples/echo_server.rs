//! A TCP echo server on ferrio: one task per connection, an accept loop that survives running out of file
//! descriptors, and a clean stop on SIGINT or SIGTERM.
//!
//! Run: `cargo run --release --example echo_server -- [ADDR] [--workers N | --current-thread]`
//! (ADDR defaults to `127.0.0.1:7000`; port 0 picks a free port). Once it accepts connections it prints
//! `listening on ADDR` with the address actually bound, then serves until a signal arrives, prints
//! `shutting down` and exits with status 0. Load it with `examples/echo_client.rs`, or `nc ADDR`.
//!
//! Accept errors, the part most echo servers get wrong:
//! - `EMFILE`/`ENFILE` (no file descriptor left for the new socket), `ENOBUFS`/`ENOMEM` (no kernel memory):
//!   retrying at once would spin at 100% CPU, since the pending connection stays in the backlog and the
//!   listener stays readable. The loop logs once per burst, sleeps (10 ms, doubling up to 1 s) while the
//!   connections already accepted keep being served, and accepts again once descriptors are free.
//! - `ECONNABORTED` and friends (the peer gave up while queued): skipped.
//! - Anything else is logged and backed off the same way, so one odd error never stops the server.

use ferrio::io::{AsyncReadExt, AsyncWriteExt};
use ferrio::net::{TcpListener, TcpStream};
use ferrio::signal::{signal, Signal, SignalKind};
use std::future::poll_fn;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::task::Poll;
use std::time::Duration;

/// First pause after an accept error that means "out of resources".
const MIN_BACKOFF: Duration = Duration::from_millis(10);
/// Longest pause between two accept attempts while resources stay exhausted.
const MAX_BACKOFF: Duration = Duration::from_secs(1);
/// Per-connection read buffer.
const BUFFER_SIZE: usize = 16 * 1024;

/// Command line: `[ADDR] [--workers N] [--current-thread]`.
struct Options {
    addr: String,
    workers: Option<usize>,
    current_thread: bool,
}

fn parse_args() -> Result<Options, String> {
    let mut options = Options {
        addr: "127.0.0.1:7000".to_owned(),
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
                return Err("usage: echo_server [ADDR] [--workers N | --current-thread]".into())
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
            eprintln!("echo_server: {message}");
            return ExitCode::from(2);
        }
    };
    let mut builder = ferrio::Runtime::builder();
    if options.current_thread {
        builder.current_thread();
    } else if let Some(n) = options.workers {
        builder.worker_threads(n);
    }
    let runtime = match builder.thread_name("echo").build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("echo_server: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(&options.addr)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("echo_server: {e}");
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

    let acceptor = ferrio::spawn(accept_loop(listener));
    stop.recv().await;
    // Cancelling the accept loop drops the listener: no new connection is accepted from here on. The
    // connections still open are cancelled when the runtime is dropped, on return from `main`.
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

/// What to do about an error returned by `accept`.
enum AcceptError {
    /// The connection died while queued (or a signal interrupted the call): try the next one now.
    Skip,
    /// Out of descriptors or kernel memory: wait before trying again.
    Exhausted,
    /// Unexpected: log it, then wait as for `Exhausted`.
    Other,
}

fn classify(e: &io::Error) -> AcceptError {
    match e.kind() {
        io::ErrorKind::ConnectionAborted
        | io::ErrorKind::ConnectionReset
        | io::ErrorKind::Interrupted => return AcceptError::Skip,
        _ => {}
    }
    match e.raw_os_error() {
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM) => AcceptError::Exhausted,
        Some(code) if PENDING_CONNECTION_ERRORS.contains(&code) => AcceptError::Skip,
        _ => AcceptError::Other,
    }
}

/// Errors that Linux's `accept` passes on from the new connection rather than the listener (`accept(2)`,
/// "Error handling"), plus `EPERM` from firewall rules: that connection is lost, the next one may be fine.
const PENDING_CONNECTION_ERRORS: [i32; 9] = [
    libc::EPROTO,
    libc::ENETDOWN,
    libc::ENOPROTOOPT,
    libc::EHOSTDOWN,
    libc::ENONET,
    libc::EHOSTUNREACH,
    libc::EOPNOTSUPP,
    libc::ENETUNREACH,
    libc::EPERM,
];

/// Accepts forever, one echo task per connection, backing off while resources are exhausted.
async fn accept_loop(listener: TcpListener) {
    let mut backoff = MIN_BACKOFF;
    // True from the first resource error until the next successful accept: one log line per burst.
    let mut exhausted = false;
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                if exhausted {
                    eprintln!("echo_server: accepting again");
                    exhausted = false;
                }
                backoff = MIN_BACKOFF;
                // Detached: the task runs on by itself and ends when the peer closes.
                drop(ferrio::spawn(echo(stream, peer)));
            }
            Err(e) => {
                match classify(&e) {
                    AcceptError::Skip => continue,
                    AcceptError::Exhausted if exhausted => {}
                    AcceptError::Exhausted => {
                        eprintln!(
                            "echo_server: accept failed: {e}; backing off (up to {MAX_BACKOFF:?} between \
                             attempts) while existing connections are served"
                        );
                        exhausted = true;
                    }
                    AcceptError::Other => {
                        eprintln!("echo_server: accept failed: {e}; retrying in {backoff:?}")
                    }
                }
                ferrio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// Echoes everything `peer` sends until it closes the connection or an error ends it.
async fn echo(mut stream: TcpStream, peer: SocketAddr) {
    // Echo replies are small and latency-bound: do not let Nagle hold them back.
    let _ = stream.set_nodelay(true);
    let mut buf = vec![0u8; BUFFER_SIZE];
    loop {
        let n = match stream.read(&mut buf).await {
            Ok(0) => return,
            Ok(n) => n,
            Err(e) => {
                report_connection_error(peer, &e);
                return;
            }
        };
        if let Err(e) = stream.write_all(&buf[..n]).await {
            report_connection_error(peer, &e);
            return;
        }
    }
}

/// Logs a connection's error, except the ordinary ways for a peer to leave.
fn report_connection_error(peer: SocketAddr, e: &io::Error) {
    match e.kind() {
        io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe => {}
        _ => eprintln!("echo_server: connection from {peer}: {e}"),
    }
}
