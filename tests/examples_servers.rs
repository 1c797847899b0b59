//! The example servers as real programs, driven by real clients: `http_server` by curl and Python's
//! `http.client`, `echo_server` by a Python asyncio client and by `echo_client`; both stopped by SIGINT and
//! SIGTERM; `echo_server` run out of file descriptors (RLIMIT_NOFILE lowered) to check that it backs off
//! instead of spinning, keeps serving, and recovers.
//!
//! Locating the binaries: `cargo test` builds the examples, but `cargo test --test examples_servers` does
//! not, and a binary left from an older build would test old code. So the first test that needs one runs
//! `cargo build --example echo_server --example echo_client --example http_server` once (the `cargo` that
//! built this test, same profile, same target directory, derived from `current_exe()`:
//! `<target>/<profile>/deps/examples_servers-HASH` -> `<target>/<profile>/examples/NAME`). When everything
//! is up to date that build is a no-op of a fraction of a second.
//!
//! Servers start on `127.0.0.1:0` and announce `listening on ADDR` on stdout, which gives the port. Each
//! child is killed by a guard when its test ends (passing or failing) and, should the test process itself
//! die, by `PR_SET_PDEATHSIG`. Every wait is bounded: socket timeouts, `curl --max-time`, and a deadline on
//! every child process.
//!
//! curl and python3 are needed; when one is missing the test prints a skip note and passes, unless the
//! environment variable `CI` is `true`, where it fails (`.ci/run` installs both).

mod support;

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Output, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use support::process::{self, collect, wait_until_exit, KillOnDrop};

/// How long a server may take to print `listening on`.
const START_LIMIT: Duration = Duration::from_secs(20);
/// How long a server may take to exit after SIGINT or SIGTERM.
const STOP_LIMIT: Duration = Duration::from_secs(5);
/// Bound on each client program (curl, python3, echo_client).
const CLIENT_LIMIT: Duration = Duration::from_secs(60);
/// Socket read and write timeout of the test's own connections.
const IO_TIMEOUT: Duration = Duration::from_secs(5);

// ---------------------------------------------------------------------------------------------------------
// Locating and building the example binaries
// ---------------------------------------------------------------------------------------------------------

const EXAMPLES: [&str; 3] = ["echo_server", "echo_client", "http_server"];

/// The path of example `name`, built (once per test process) if needed.
fn example(name: &str) -> PathBuf {
    static DIR: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match DIR.get_or_init(|| process::build_examples(&EXAMPLES)) {
        Ok(dir) => dir.join(name),
        Err(message) => panic!("{message}"),
    }
}

/// Runs `cmd` to completion with its output captured; fails the test if it cannot run or runs longer than
/// `limit`.
fn run_bounded(cmd: &mut Command, limit: Duration) -> Output {
    let finished = process::run_bounded(cmd, limit);
    let status = finished.status.unwrap_or_else(|why| {
        panic!(
            "{cmd:?}: {why}; its output:\n{}\n{}",
            finished.stdout, finished.stderr
        )
    });
    Output {
        status,
        stdout: finished.stdout.into_bytes(),
        stderr: finished.stderr.into_bytes(),
    }
}

/// `run_bounded`, then checks the exit status; returns stdout.
fn run_ok(cmd: &mut Command) -> String {
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
fn tool_available(name: &str) -> bool {
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
struct Server {
    name: &'static str,
    child: KillOnDrop,
    addr: SocketAddr,
    /// Lines of stdout after `listening on`.
    stdout: Receiver<String>,
    stderr: Arc<Mutex<Vec<u8>>>,
}

impl Server {
    /// Starts example `name` on the multi-thread flavour with 2 workers.
    fn start(name: &'static str) -> Server {
        Server::start_with(name, &["--workers", "2"], None)
    }

    /// Starts example `name` with `flags`, and with RLIMIT_NOFILE (soft and hard) lowered to `max_files` if
    /// given.
    fn start_with(name: &'static str, flags: &[&str], max_files: Option<u64>) -> Server {
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

    fn pid(&self) -> libc::pid_t {
        self.child.0.id() as libc::pid_t
    }

    fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().unwrap()).into_owned()
    }

    fn send_signal(&self, signo: libc::c_int) {
        // SAFETY: plain system call; the pid is our own child, not yet reaped (the guard reaps it).
        let rc = unsafe { libc::kill(self.pid(), signo) };
        assert_eq!(rc, 0, "kill: {}", io::Error::last_os_error());
    }

    /// Waits up to `limit` for the server to exit; returns its status and the rest of its stdout.
    fn wait_exit(&mut self, limit: Duration) -> (ExitStatus, Vec<String>) {
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
fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT)
        .unwrap_or_else(|e| panic!("cannot connect to {addr}: {e}"));
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.set_nodelay(true).unwrap();
    stream
}

/// Sends `message` and reads its echo (fails the test after `IO_TIMEOUT`).
fn round_trip(stream: &mut TcpStream, message: &[u8]) {
    stream.write_all(message).unwrap();
    let mut echo = vec![0u8; message.len()];
    stream
        .read_exact(&mut echo)
        .unwrap_or_else(|e| panic!("no echo for {:?}: {e}", String::from_utf8_lossy(message)));
    assert_eq!(echo, message);
}

// ---------------------------------------------------------------------------------------------------------
// http_server
// ---------------------------------------------------------------------------------------------------------

#[test]
fn http_server_answers_curl() {
    if !tool_available("curl") {
        return;
    }
    let server = Server::start("http_server");
    let base = format!("http://{}", server.addr);
    let curl = || {
        let mut cmd = Command::new("curl");
        cmd.args(["--silent", "--show-error", "--max-time", "10"]);
        cmd
    };

    let response = run_ok(curl().args(["--include", &format!("{base}/")]));
    let (head, body) = response
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no header/body separator in {response:?}"));
    assert!(head.starts_with("HTTP/1.1 200"), "status line: {head:?}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: text/plain"),
        "headers: {head:?}"
    );
    assert_eq!(body, "Hello, World!");

    let status = run_ok(curl().args([
        "--output",
        "/dev/null",
        "--write-out",
        "%{http_code}",
        &format!("{base}/no/such/page"),
    ]));
    assert_eq!(status, "404");

    // Two URLs in one invocation: curl reuses the connection if the server kept it alive. `num_connects`
    // is the number of new connections each transfer needed.
    let both = run_ok(curl().args([
        "--http1.1",
        "--write-out",
        "[%{http_code} %{num_connects}]\n",
        &format!("{base}/"),
        &format!("{base}/"),
    ]));
    assert_eq!(
        both, "Hello, World![200 1]\nHello, World![200 0]\n",
        "the second request should reuse the first one's connection"
    );
}

/// Several requests on one `http.client` connection; checks that the connection (its local address) never
/// changes, i.e. the server kept it alive.
const PYTHON_HTTP_CLIENT: &str = r#"
import http.client, sys
host, port = sys.argv[1], int(sys.argv[2])
conn = http.client.HTTPConnection(host, port, timeout=10)
local = None
for i in range(5):
    conn.request("GET", "/")
    response = conn.getresponse()
    body = response.read()
    assert response.status == 200, response.status
    assert response.version == 11, response.version
    assert body == b"Hello, World!", body
    assert response.getheader("Content-Type", "").startswith("text/plain"), response.getheaders()
    name = conn.sock.getsockname()
    assert local is None or name == local, "the server closed the connection: keep-alive broken"
    local = name
conn.request("GET", "/missing")
response = conn.getresponse()
response.read()
assert response.status == 404, response.status
assert conn.sock.getsockname() == local, "the connection was not kept alive after a 404"
conn.close()
print("OK")
"#;

#[test]
fn http_server_answers_python_http_client_on_one_connection() {
    if !tool_available("python3") {
        return;
    }
    // The current-thread flavour here; the other tests run the multi-thread one.
    let server = Server::start_with("http_server", &["--current-thread"], None);
    let out = run_ok(Command::new("python3").args([
        "-c",
        PYTHON_HTTP_CLIENT,
        &server.addr.ip().to_string(),
        &server.addr.port().to_string(),
    ]));
    assert_eq!(out.trim(), "OK");
}

// ---------------------------------------------------------------------------------------------------------
// echo_server and echo_client
// ---------------------------------------------------------------------------------------------------------

/// 100 asyncio connections, all open at once (each waits for the others before sending), each sending
/// messages of growing size and checking every echo.
const PYTHON_ECHO_CLIENTS: &str = r#"
import asyncio, sys
host, port = sys.argv[1], int(sys.argv[2])
CLIENTS = 100

async def client(i, state):
    reader, writer = await asyncio.open_connection(host, port)
    state["connected"] += 1
    if state["connected"] == CLIENTS:
        state["all"].set()
    await state["all"].wait()
    for j in range(5):
        message = f"client {i} message {j};".encode() * (j * 50 + 1)
        writer.write(message)
        await writer.drain()
        echo = await reader.readexactly(len(message))
        assert echo == message, (i, j)
    writer.close()
    await writer.wait_closed()
    return i

async def main():
    state = {"connected": 0, "all": asyncio.Event()}
    done = await asyncio.wait_for(asyncio.gather(*(client(i, state) for i in range(CLIENTS))), 30)
    assert sorted(done) == list(range(CLIENTS)), done
    print("OK")

asyncio.run(main())
"#;

#[test]
fn echo_server_serves_100_concurrent_python_asyncio_clients() {
    if !tool_available("python3") {
        return;
    }
    // The current-thread flavour here; the other tests run the multi-thread one.
    let server = Server::start_with("echo_server", &["--current-thread"], None);
    let out = run_ok(Command::new("python3").args([
        "-c",
        PYTHON_ECHO_CLIENTS,
        &server.addr.ip().to_string(),
        &server.addr.port().to_string(),
    ]));
    assert_eq!(out.trim(), "OK");
}

#[test]
fn echo_client_measures_round_trips_against_echo_server() {
    let server = Server::start("echo_server");
    let out = run_ok(Command::new(example("echo_client")).args([
        &server.addr.to_string(),
        "--connections",
        "20",
        "--rounds",
        "100",
        "--size",
        "100",
    ]));
    let line = |prefix: &str| {
        out.lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no `{prefix}` line in echo_client's output:\n{out}"))
    };
    assert!(line("2000 round trips").contains("20 connections"), "{out}");
    for prefix in ["throughput:", "p50:", "p99:", "max:"] {
        let number = line(prefix)
            .split_whitespace()
            .nth(1)
            .and_then(|n| n.parse::<f64>().ok());
        assert!(
            number.is_some_and(|n| n > 0.0),
            "`{prefix}` has no positive number:\n{out}"
        );
    }
}

#[test]
fn echo_client_fails_clearly_when_it_cannot_connect() {
    // A port that was just free: nothing listens there.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let output = run_bounded(
        Command::new(example("echo_client")).arg(addr.to_string()),
        CLIENT_LIMIT,
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "echo_client succeeded: {stderr}");
    assert!(
        stderr.contains(&format!("cannot connect to {addr}")),
        "stderr: {stderr}"
    );
}

// ---------------------------------------------------------------------------------------------------------
// Stopping on signals
// ---------------------------------------------------------------------------------------------------------

/// Starts `name`, keeps a connection open, sends `signo`: the server must exit with success within
/// `STOP_LIMIT` after printing `shutting down`.
fn stops_on_signal(name: &'static str, signo: libc::c_int) {
    let mut server = Server::start(name);
    let mut open = connect(server.addr);
    if name == "echo_server" {
        round_trip(&mut open, b"still here");
    }
    let sent = Instant::now();
    server.send_signal(signo);
    let (status, rest) = server.wait_exit(STOP_LIMIT);
    assert!(
        status.success(),
        "{name} exited with {status} on signal {signo}; stderr:\n{}",
        server.stderr_text()
    );
    assert!(
        rest.iter().any(|l| l == "shutting down"),
        "{name} did not print `shutting down`: {rest:?}"
    );
    assert!(sent.elapsed() < STOP_LIMIT);
}

#[test]
fn echo_server_stops_on_sigint() {
    stops_on_signal("echo_server", libc::SIGINT);
}

#[test]
fn echo_server_stops_on_sigterm() {
    stops_on_signal("echo_server", libc::SIGTERM);
}

#[test]
fn http_server_stops_on_sigint() {
    stops_on_signal("http_server", libc::SIGINT);
}

#[test]
fn http_server_stops_on_sigterm() {
    stops_on_signal("http_server", libc::SIGTERM);
}

// ---------------------------------------------------------------------------------------------------------
// Out of file descriptors
// ---------------------------------------------------------------------------------------------------------

/// CPU time (user + system) the process has used so far, from /proc/PID/stat.
fn cpu_time(pid: libc::pid_t) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which is in parentheses and may contain spaces): state is field 3,
    // utime field 14, stime field 15.
    let after_name = &stat[stat.rfind(')').unwrap() + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    // SAFETY: sysconf only reads a configuration value.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    assert!(per_second > 0);
    Duration::from_secs_f64(ticks as f64 / per_second as f64)
}

/// Whether the server echoed the byte sent on `stream` (without waiting).
fn has_echo(stream: &TcpStream) -> bool {
    stream.set_nonblocking(true).unwrap();
    let mut byte = [0u8; 1];
    let echoed = match (&*stream).read(&mut byte) {
        Ok(1) => true,
        Ok(_) => panic!("the server closed a connection"),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => false,
        Err(e) => panic!("reading an echo: {e}"),
    };
    stream.set_nonblocking(false).unwrap();
    echoed
}

#[test]
fn echo_server_backs_off_on_emfile_keeps_serving_and_recovers() {
    const CONNECTIONS: usize = 100;
    let mut server = Server::start_with("echo_server", &["--workers", "2"], Some(64));
    let mut early = connect(server.addr);
    round_trip(&mut early, b"early");

    // More connections than descriptors: the kernel completes every handshake (backlog 1024), the server
    // accepts until EMFILE, and the rest wait in the backlog.
    let mut crowd: Vec<TcpStream> = (0..CONNECTIONS)
        .map(|_| {
            let mut stream = connect(server.addr);
            stream.write_all(b"x").unwrap();
            stream
        })
        .collect();
    let backing_off = "backing off";
    assert!(
        support::wait_until(Duration::from_secs(5), || server
            .stderr_text()
            .contains(backing_off)),
        "echo_server never reported running out of descriptors; stderr:\n{}",
        server.stderr_text()
    );
    assert!(server.stderr_text().contains("Too many open files"));
    // Let the accepted ones echo.
    std::thread::sleep(Duration::from_millis(300));
    let echoed: Vec<bool> = crowd.iter().map(has_echo).collect();
    let served = echoed.iter().filter(|&&e| e).count();
    assert!(
        served > 0 && served < CONNECTIONS,
        "expected some connections served and the rest waiting in the backlog, got {served} of {CONNECTIONS}"
    );

    // While the descriptors stay exhausted: the server sleeps between accept attempts instead of spinning,
    // and the connections it has keep working.
    let cpu_before = cpu_time(server.pid());
    let wall = Instant::now();
    std::thread::sleep(Duration::from_secs(1));
    round_trip(&mut early, b"still served while out of descriptors");
    let cpu = cpu_time(server.pid()) - cpu_before;
    let share = cpu.as_secs_f64() / wall.elapsed().as_secs_f64();
    eprintln!(
        "echo_server under EMFILE: {:.1}% of one core ({cpu:?} CPU in {:?}), {served} of {CONNECTIONS} served",
        share * 100.0,
        wall.elapsed()
    );
    assert!(
        share < 0.20,
        "echo_server used {:.0}% of a core while out of descriptors",
        share * 100.0
    );
    let waiting = echoed.iter().position(|&e| !e).unwrap();
    assert!(
        !has_echo(&crowd[waiting]),
        "a backlogged connection got served although no descriptor was freed"
    );
    let reports = server.stderr_text().matches(backing_off).count();
    assert_eq!(
        reports,
        1,
        "one log line per burst expected:\n{}",
        server.stderr_text()
    );

    // Free the descriptors: the server accepts again (after at most one back-off period) and serves a new
    // connection, behind the closed ones still queued.
    crowd.clear();
    let mut late = connect(server.addr);
    round_trip(&mut late, b"accepted after recovery");
    round_trip(&mut early, b"early one still served");
    assert!(
        support::wait_until(Duration::from_secs(5), || server
            .stderr_text()
            .contains("accepting again")),
        "stderr:\n{}",
        server.stderr_text()
    );

    server.send_signal(libc::SIGTERM);
    let (status, rest) = server.wait_exit(STOP_LIMIT);
    assert!(
        status.success(),
        "{status}; stderr:\n{}",
        server.stderr_text()
    );
    assert!(rest.iter().any(|l| l == "shutting down"), "{rest:?}");
}
