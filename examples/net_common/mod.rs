//! What the network examples share (`echo_server`, `http_server`, `echo_client`): the flavour flags and the
//! runtime they build, and for the servers the whole serving skeleton: bind, listen for SIGINT/SIGTERM,
//! announce `listening on ADDR`, run an accept loop that survives running out of file descriptors, and stop
//! cleanly on the first signal.
//!
//! Included with `#[path = "net_common/mod.rs"] mod net_common;`; this folder has no `main.rs`, so Cargo does
//! not build it as an example of its own. Each example uses only part of it, hence `allow(dead_code)`.
//!
//! Accept errors, the part most servers get wrong:
//! - `EMFILE`/`ENFILE` (no file descriptor left for the new socket), `ENOBUFS`/`ENOMEM` (no kernel memory):
//!   retrying at once would spin at 100% CPU, since the pending connection stays in the backlog and the
//!   listener stays readable. The loop logs once per burst, sleeps (10 ms, doubling up to 1 s) while the
//!   connections already accepted keep being served, and accepts again once descriptors are free.
//! - `ECONNABORTED` and friends (the peer gave up while queued): skipped.
//! - Anything else is logged and backed off the same way, so one odd error never stops the server.
#![allow(dead_code)]

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

/// The flavour flags every network example takes: `--workers N` or `--current-thread`.
#[derive(Clone, Debug, Default)]
pub struct Flavour {
    pub workers: Option<usize>,
    pub current_thread: bool,
}

impl Flavour {
    /// Consumes `arg` (and its value from `rest`) if it is a flavour flag. `Ok(false)`: not one.
    pub fn parse_flag(
        &mut self,
        arg: &str,
        rest: &mut impl Iterator<Item = String>,
    ) -> Result<bool, String> {
        match arg {
            "--current-thread" => self.current_thread = true,
            "--workers" => {
                let n = rest.next().ok_or("--workers needs a number")?;
                let n = n
                    .parse()
                    .map_err(|_| format!("--workers: not a number: {n}"))?;
                self.workers = Some(n);
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Builds the runtime, or prints why it cannot (`program: ...`) and returns the exit code.
    pub fn runtime(&self, program: &str, thread_name: &str) -> Result<ferrio::Runtime, ExitCode> {
        let mut builder = ferrio::Runtime::builder();
        if self.current_thread {
            builder.current_thread();
        } else if let Some(n) = self.workers {
            builder.worker_threads(n);
        }
        builder.thread_name(thread_name).build().map_err(|e| {
            eprintln!("{program}: cannot start the runtime: {e}");
            ExitCode::FAILURE
        })
    }
}

/// A server's command line: `[ADDR] [--workers N | --current-thread]`.
pub struct ServerOptions {
    pub addr: String,
    pub flavour: Flavour,
}

/// Parses a server's command line; `Err` holds the message to print (usage for `--help`).
pub fn parse_server_args(program: &str, default_addr: &str) -> Result<ServerOptions, String> {
    let mut options = ServerOptions {
        addr: default_addr.to_owned(),
        flavour: Flavour::default(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if options.flavour.parse_flag(&arg, &mut args)? {
            continue;
        }
        match arg.as_str() {
            "-h" | "--help" => {
                return Err(format!(
                    "usage: {program} [ADDR] [--workers N | --current-thread]"
                ))
            }
            flag if flag.starts_with("--") => return Err(format!("unknown flag {flag}")),
            addr => options.addr = addr.to_owned(),
        }
    }
    Ok(options)
}

/// A server's `main`: parse the arguments, build the runtime, serve until a signal. `on_connection` is
/// called for each accepted connection (it spawns the connection's task).
pub fn server_main(
    program: &'static str,
    default_addr: &str,
    on_connection: impl Fn(TcpStream, SocketAddr) + Send + 'static,
) -> ExitCode {
    let options = match parse_server_args(program, default_addr) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("{program}: {message}");
            return ExitCode::from(2);
        }
    };
    let runtime = match options.flavour.runtime(program, program) {
        Ok(runtime) => runtime,
        Err(code) => return code,
    };
    match runtime.block_on(serve(program, &options.addr, on_connection)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{program}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Binds, announces the address, accepts until SIGINT or SIGTERM arrives.
async fn serve(
    program: &'static str,
    addr: &str,
    on_connection: impl Fn(TcpStream, SocketAddr) + Send + 'static,
) -> io::Result<()> {
    let listener = TcpListener::bind(addr)
        .map_err(|e| io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))?;
    // Listen for the signals before announcing readiness: whoever reads `listening on` may signal us at once.
    let mut stop = ShutdownSignal::new()?;
    let local = listener.local_addr()?;
    let mut stdout = io::stdout().lock();
    writeln!(stdout, "listening on {local}")?;
    stdout.flush()?;
    drop(stdout);

    let acceptor = ferrio::spawn(accept_loop(program, listener, on_connection));
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

/// Accepts forever, handing each connection to `on_connection`, backing off while resources are exhausted.
async fn accept_loop(
    program: &'static str,
    listener: TcpListener,
    on_connection: impl Fn(TcpStream, SocketAddr),
) {
    let mut backoff = MIN_BACKOFF;
    // True from the first resource error until the next successful accept: one log line per burst.
    let mut exhausted = false;
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                if exhausted {
                    eprintln!("{program}: accepting again");
                    exhausted = false;
                }
                backoff = MIN_BACKOFF;
                on_connection(stream, peer);
            }
            Err(e) => {
                match classify(&e) {
                    AcceptError::Skip => continue,
                    AcceptError::Exhausted if exhausted => {}
                    AcceptError::Exhausted => {
                        eprintln!(
                            "{program}: accept failed: {e}; backing off (up to {MAX_BACKOFF:?} between \
                             attempts) while existing connections are served"
                        );
                        exhausted = true;
                    }
                    AcceptError::Other => {
                        eprintln!("{program}: accept failed: {e}; retrying in {backoff:?}")
                    }
                }
                ferrio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}
