//! The example servers as real programs, driven by real clients: `http_server` by curl and Python's
//! `http.client` (keep-alive checked by both), `echo_server` by 100 concurrent Python asyncio clients and by
//! `echo_client`, which also fails clearly when nothing listens. Stopped by SIGINT and SIGTERM:
//! `examples_servers_signals.rs`; run out of file descriptors: `examples_servers_emfile.rs`. Building the
//! binaries, starting the servers, bounding every wait: `support::example_servers`.
//!
//! curl and python3 are needed; when one is missing the test prints a skip note and passes, unless the
//! environment variable `CI` is `true`, where it fails (`.ci/run` installs both).

mod support;

use std::process::Command;
use support::example_servers::{
    example, run_bounded, run_ok, tool_available, Server, CLIENT_LIMIT,
};

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
