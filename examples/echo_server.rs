//! A TCP echo server on ferrio: one task per connection, an accept loop that survives running out of file
//! descriptors, and a clean stop on SIGINT or SIGTERM.
//!
//! Run: `cargo run --release --example echo_server -- [ADDR] [--workers N | --current-thread]`
//! (ADDR defaults to `127.0.0.1:7000`; port 0 picks a free port). Once it accepts connections it prints
//! `listening on ADDR` with the address actually bound, then serves until a signal arrives, prints
//! `shutting down` and exits with status 0. Load it with `examples/echo_client.rs`, or `nc ADDR`.
//!
//! The serving skeleton (arguments, signals, the accept loop that backs off while out of file descriptors)
//! is shared with `http_server.rs`: `examples/net_common/mod.rs`, whose docs explain the accept errors.

use ferrio::io::{AsyncReadExt, AsyncWriteExt};
use ferrio::net::TcpStream;
use std::io;
use std::net::SocketAddr;
use std::process::ExitCode;

#[path = "net_common/mod.rs"]
mod net_common;

/// Per-connection read buffer.
const BUFFER_SIZE: usize = 16 * 1024;

fn main() -> ExitCode {
    net_common::server_main("echo_server", "127.0.0.1:7000", |stream, peer| {
        // Detached: the task runs on by itself and ends when the peer closes.
        drop(ferrio::spawn(echo(stream, peer)))
    })
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
