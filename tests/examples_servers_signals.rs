//! The example servers stopped by signals: `echo_server` and `http_server`, each with a client connection
//! open, exit with success within a bound after SIGINT and after SIGTERM, having printed `shutting down`.
//! Building the binaries, starting the servers, bounding every wait: `support::example_servers`; the
//! servers driven by real clients: `examples_servers.rs`.

mod support;

use std::time::Instant;
use support::example_servers::{connect, round_trip, Server, STOP_LIMIT};

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
