//! TCP round-trip time over loopback: a 64-byte echo, against a one-thread epoll floor.
//!
//! One connection per row, made once and kept for the whole run (`TCP_NODELAY` on both ends). One sample:
//! the client writes 64 bytes, the server reads them and writes them back, the client reads until it has
//! all 64; timed from just before the client's write to just after its last read. Reads go into 4 KiB
//! buffers, so a short read tells every side the socket is drained.
//!
//! - floor: no runtime. Both ends non-blocking in one level-triggered epoll on the main thread: write /
//!   `epoll_wait` / read / write / `epoll_wait` / read. No runtime can do less work for a round trip.
//! - runtimes: client and server are tasks (on the calling thread for the current-thread flavours, on
//!   either worker for the multi-thread ones); the server task lives for the whole run.

use crate::harness::{run, Entry, Measured, Plan, Progress, Sample, Spec, Subject};
use crate::rt::{now_ns, BoxTask, Family, Rt};
use crate::sys::Epoll;
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;

const MESSAGE: usize = 64;
const BUF: usize = 4096;

/// A connected loopback pair (client, server), `TCP_NODELAY` on both.
fn loopback_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let client = TcpStream::connect(listener.local_addr().unwrap()).expect("connect");
    let (server, _) = listener.accept().expect("accept");
    for s in [&client, &server] {
        s.set_nodelay(true).expect("TCP_NODELAY");
    }
    (client, server)
}

struct Floor {
    epoll: Epoll,
    client: TcpStream,
    server: TcpStream,
    buf: Vec<u8>,
}

const CLIENT: u64 = 0;
const SERVER: u64 = 1;

impl Floor {
    fn new() -> Floor {
        let (client, server) = loopback_pair();
        let epoll = Epoll::new().expect("epoll_create1");
        for (s, token) in [(&client, CLIENT), (&server, SERVER)] {
            s.set_nonblocking(true).expect("O_NONBLOCK");
            epoll.add(s.as_raw_fd(), token).expect("epoll_ctl");
        }
        Floor {
            epoll,
            client,
            server,
            buf: vec![0; BUF],
        }
    }

    /// Reads from the `token` end until `MESSAGE` bytes have come, waiting in `epoll_wait` when empty.
    fn read_message(&mut self, token: u64) {
        let mut got = 0;
        while got < MESSAGE {
            self.epoll.wait_until(token).expect("epoll_wait");
            let stream = if token == CLIENT {
                &mut self.client
            } else {
                &mut self.server
            };
            match stream.read(&mut self.buf) {
                Ok(0) => panic!("loopback peer closed"),
                Ok(k) => got += k,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => panic!("read: {e}"),
            }
        }
    }
}

impl Subject for Floor {
    fn batch(&mut self, n: usize) -> Vec<Sample> {
        let message = [7u8; MESSAGE];
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let start = now_ns();
            assert_eq!(self.client.write(&message).expect("write"), MESSAGE);
            self.read_message(SERVER);
            assert_eq!(self.server.write(&message).expect("write"), MESSAGE);
            self.read_message(CLIENT);
            out.push(Sample::new(now_ns() - start));
        }
        out
    }
}

/// The client and server loops, once per family (the trait and stream names differ, the code does not).
macro_rules! echo_tasks {
    ($module:ident, $stream:ty, $($traits:tt)*) => {
        mod $module {
            use $($traits)*;
            use crate::harness::Sample;
            use crate::rt::now_ns;

            /// `n` timed round trips; hands the stream back for the next batch.
            pub async fn client(mut s: $stream, n: usize) -> ($stream, Vec<Sample>) {
                let message = [7u8; super::MESSAGE];
                let mut buf = vec![0u8; super::BUF];
                let mut out = Vec::with_capacity(n);
                for _ in 0..n {
                    let start = now_ns();
                    s.write_all(&message).await.expect("client write");
                    let mut got = 0;
                    while got < super::MESSAGE {
                        let k = s.read(&mut buf).await.expect("client read");
                        assert!(k > 0, "echo server closed the connection");
                        got += k;
                    }
                    out.push(Sample::new(now_ns() - start));
                }
                (s, out)
            }

            /// Echoes until the peer closes.
            pub async fn server(mut s: $stream) {
                let mut buf = vec![0u8; super::BUF];
                while let Ok(k @ 1..) = s.read(&mut buf).await {
                    if s.write_all(&buf[..k]).await.is_err() {
                        return;
                    }
                }
            }
        }
    };
}

echo_tasks!(ferrio_echo, ferrio::net::TcpStream, ferrio::io::{AsyncReadExt, AsyncWriteExt});
echo_tasks!(tokio_echo, tokio::net::TcpStream, tokio::io::{AsyncReadExt, AsyncWriteExt});

/// The client end, between batches (taken by the batch's task, given back at its end).
enum Client {
    Ferrio(Option<ferrio::net::TcpStream>),
    Tokio(Option<tokio::net::TcpStream>),
}

struct Echo<'a> {
    rt: &'a Rt,
    client: Client,
}

impl Echo<'_> {
    /// Connects a pair and starts the server task on `rt`.
    fn new(rt: &Rt) -> Echo<'_> {
        let (client, server) = loopback_pair();
        let client = match rt.family {
            Family::Ferrio => rt.block_on(async {
                let server = ferrio::net::TcpStream::from_std(server).expect("register server");
                drop(ferrio::spawn(ferrio_echo::server(server))); // dropping a ferrio Task detaches it
                Client::Ferrio(Some(
                    ferrio::net::TcpStream::from_std(client).expect("register client"),
                ))
            }),
            Family::Tokio => rt.block_on(async {
                client.set_nonblocking(true).expect("O_NONBLOCK");
                server.set_nonblocking(true).expect("O_NONBLOCK");
                let server = tokio::net::TcpStream::from_std(server).expect("register server");
                drop(tokio::spawn(tokio_echo::server(server)));
                Client::Tokio(Some(
                    tokio::net::TcpStream::from_std(client).expect("register client"),
                ))
            }),
        };
        Echo { rt, client }
    }
}

impl Subject for Echo<'_> {
    fn batch(&mut self, n: usize) -> Vec<Sample> {
        match &mut self.client {
            Client::Ferrio(slot) => {
                let stream = slot.take().expect("client stream");
                let body: BoxTask<_> = Box::pin(ferrio_echo::client(stream, n));
                let (stream, out) = self.rt.run_tasks(vec![body]).pop().expect("one task");
                *slot = Some(stream);
                out
            }
            Client::Tokio(slot) => {
                let stream = slot.take().expect("client stream");
                let body: BoxTask<_> = Box::pin(tokio_echo::client(stream, n));
                let (stream, out) = self.rt.run_tasks(vec![body]).pop().expect("one task");
                *slot = Some(stream);
                out
            }
        }
    }
}

/// TCP loopback round trips.
pub fn rtt(rts: &[Rt], plan: &Plan, progress: &mut Progress) -> Measured {
    let mut entries = vec![Entry::Run("floor", Box::new(Floor::new()) as _)];
    for rt in rts {
        entries.push(Entry::Run(rt.id, Box::new(Echo::new(rt))));
    }
    let spec = Spec {
        key: "tcp_rtt",
        title: format!("TCP loopback RTT, {MESSAGE}-byte echo"),
        method: "client task writes 64 bytes, server task echoes them, timed from before the write to after the \
                 client's last read. Floor: both ends non-blocking in one epoll, one thread"
            .to_owned(),
        samples: plan.samples(50_000),
        rounds: plan.rounds(),
        show_other_worker: false,
    };
    run(spec, entries, progress)
}
