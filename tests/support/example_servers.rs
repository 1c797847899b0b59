//! The example servers as child processes, for the tests that drive them (`examples_servers.rs`,
//! `examples_servers_signals.rs`, `examples_servers_emfile.rs`): locating and building the example
//! binaries, running client programs with a deadline, skipping (or, with `CI=true`, failing) when a client
//! tool is missing, a started server (its address, signals, exit, stderr), and plain-socket helpers.
//!
//! Locating the binaries: `cargo test` builds the examples, but `cargo test --test examples_servers` (or
//! any one of these test files) does not, and a binary left from an older build would test old code. So the
//! first test that needs one runs `cargo build --example echo_server --example echo_client --example
//! http_server` once per test process (the `cargo` that built the test, same profile, same target
//! directory, derived from `current_exe()`: `<target>/<profile>/deps/examples_servers-HASH` ->
//! `<target>/<profile>/examples/NAME`). When everything is up to date that build is a no-op of a fraction of
//! a second.
//!
//! Servers start on `127.0.0.1:0` and announce `listening on ADDR` on stdout, which gives the port. Each
//! child is killed by a guard when its test ends (passing or failing) and, should the test process itself
//! die, by `PR_SET_PDEATHSIG`. Every wait is bounded: socket timeouts, `curl --max-time`, and a deadline on
//! every child process.

use super::process::{self, collect, wait_until_exit, KillOnDrop};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Output, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How long a server may take to print `listening on`.
pub const START_LIMIT: Duration = Duration::from_secs(20);
/// How long a server may take to exit after SIGINT or SIGTERM.
pub const STOP_LIMIT: Duration = Duration::from_secs(5);
/// Bound on each client program (curl, python3, echo_client).
pub const CLIENT_LIMIT: Duration = Duration::from_secs(60);
/// Socket read and write timeout of the test's own connections.
pub const IO_TIMEOUT: Duration = Duration::from_secs(5);

// ---------------------------------------------------------------------------------------------------------
// Locating and building the example binaries
// ---------------------------------------------------------------------------------------------------------

pub const EXAMPLES: [&str; 3] = ["echo_server", "echo_client", "http_server"];

/// The path of example `name`, built (once per test process) if needed.
pub fn example(name: &str) -> PathBuf {
    static DIR: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match DIR.get_or_init(|| process::build_examples(&EXAMPLES)) {
        Ok(dir) => dir.join(name),
        Err(message) => panic!("{message}"),
    }
}

/// Runs `cmd` to completion with its output captured; fails the test if it cannot run or runs longer than
/// `limit`.
pub fn run_bounded(cmd: &mut Command, limit: Duration) -> Output {
    let finished = process::run_bounded(cmd, limit);
    Output {
        status: finished.exit_status(cmd),
        stdout: finished.stdout.into_bytes(),
        stderr: finished.stderr.into_bytes(),
    }
}

/// `run_bounded`, then checks the exit status; returns stdout.
pub fn run_ok(cmd: &mut Command) -> String {
    let output = run_bounded(cmd, CLIENT_LIMIT);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{cmd:?} failed ({}):\nstdout:\n{stdout}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// Whether the client program `name` can run. Missing: a test failure when `CI=true`, else a skip note.
pub fn tool_available(name: &str) -> bool {
    let found = Command::new(name)
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if found {
        return true;
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!(
            "`{name}` is needed by this test and is not installed (CI=true, so this is a failure)"
        );
    }
    eprintln!("note: skipping this test: `{name}` is not installed (with CI=true this would fail)");
    false
}

// ---------------------------------------------------------------------------------------------------------
// A running example server
// ---------------------------------------------------------------------------------------------------------

/// An example server started on `127.0.0.1:0`, killed on drop.
pub struct Server {
    name: &'static str,
    child: KillOnDrop,
    pub addr: SocketAddr,
    /// Lines of stdout after `listening on`.
    stdout: Receiver<String>,
    stderr: Arc<Mutex<Vec<u8>>>,
}

impl Server {
    /// Starts example `name` on the multi-thread flavour with 2 workers.
    pub fn start(name: &'static str) -> Server {
        Server::start_with(name, &["--workers", "2"], None)
    }

    /// Starts example `name` with `flags`, and with RLIMIT_NOFILE (soft and hard) lowered to `max_files` if
    /// given.
    pub fn start_with(name: &'static str, flags: &[&str], max_files: Option<u64>) -> Server {
        let mut cmd = Command::new(example(name));
        cmd.arg("127.0.0.1:0")
            .args(flags)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let limit = max_files.map(|n| libc::rlimit {
            rlim_cur: n,
            rlim_max: n,
        });
        let child_setup = move || -> io::Result<()> {
            // SAFETY: plain system call with integer arguments.
            if unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) } != 0 {
                return Err(io::Error::last_os_error());
            }
            if let Some(limit) = &limit {
                // SAFETY: `limit` is a valid rlimit for the duration of the call.
                if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, limit) } != 0 {
                    return Err(io::Error::last_os_error());
                }
            }
            Ok(())
        };
        // SAFETY: the closure runs in the forked child before exec, where only async-signal-safe calls are
        // allowed: it makes two system calls (prctl, setrlimit) on data copied in beforehand, and builds an
        // `io::Error` from errno, which does not allocate. No locks, no allocation.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut cmd, child_setup);
        }
        let mut child = KillOnDrop(
            cmd.spawn()
                .unwrap_or_else(|e| panic!("cannot start {name}: {e}")),
        );
        let (stderr, _) = collect(child.0.stderr.take().unwrap());
        let (lines_tx, lines) = mpsc::channel();
        let stdout = child.0.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if lines_tx.send(line).is_err() {
                    break;
                }
            }
        });
        let first = lines.recv_timeout(START_LIMIT).unwrap_or_else(|e| {
            panic!(
                "{name} printed no `listening on` line within {START_LIMIT:?} ({e}); stderr:\n{}",
                String::from_utf8_lossy(&stderr.lock().unwrap())
            )
        });
        let addr = first
            .strip_prefix("listening on ")
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("{name}'s first line is not `listening on ADDR`: {first:?}"));
        Server {
            name,
            child,
            addr,
            stdout: lines,
            stderr,
        }
    }

    pub fn pid(&self) -> libc::pid_t {
        self.child.0.id() as libc::pid_t
    }

    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().unwrap()).into_owned()
    }

    pub fn send_signal(&self, signo: libc::c_int) {
        // SAFETY: plain system call; the pid is our own child, not yet reaped (the guard reaps it).
        let rc = unsafe { libc::kill(self.pid(), signo) };
        assert_eq!(rc, 0, "kill: {}", io::Error::last_os_error());
    }

    /// Waits up to `limit` for the server to exit; returns its status and the rest of its stdout.
    pub fn wait_exit(&mut self, limit: Duration) -> (ExitStatus, Vec<String>) {
        let deadline = Instant::now() + limit;
        let Some(status) = wait_until_exit(&mut self.child.0, deadline) else {
            panic!(
                "{} still running {limit:?} after being asked to stop; stderr:\n{}",
                self.name,
                self.stderr_text()
            );
        };
        let mut rest = Vec::new();
        // The process is gone, so stdout closes: read up to end of file.
        while let Ok(line) = self.stdout.recv_timeout(Duration::from_secs(2)) {
            rest.push(line);
        }
        (status, rest)
    }
}

/// Connects to `addr` with the test's timeouts.
pub fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT)
        .unwrap_or_else(|e| panic!("cannot connect to {addr}: {e}"));
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.set_nodelay(true).unwrap();
    stream
}

/// Sends `message` and reads its echo (fails the test after `IO_TIMEOUT`).
pub fn round_trip(stream: &mut TcpStream, message: &[u8]) {
    stream.write_all(message).unwrap();
    let mut echo = vec![0u8; message.len()];
    stream
        .read_exact(&mut echo)
        .unwrap_or_else(|e| panic!("no echo for {:?}: {e}", String::from_utf8_lossy(message)));
    assert_eq!(echo, message);
}
