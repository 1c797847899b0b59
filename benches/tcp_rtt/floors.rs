//! `tcp_rtt`'s two floors, with no runtime (see the bench's module docs): `Floor` (both ends non-blocking
//! in one epoll on the bench thread: write / epoll_wait / read / write / epoll_wait / read per round trip)
//! and `WatchedFloor` (the same, plus a thread asleep in its own epoll on the same two sockets).

use super::{std_pair, EchoRuntime, BUF, MESSAGE};
use mio::{Events, Interest, Poll, Token};
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::Instant;

pub(crate) struct Floor {
    poll: Poll,
    events: Events,
    client: mio::net::TcpStream,
    server: mio::net::TcpStream,
    buf: Vec<u8>,
}

const CLIENT: Token = Token(0);
const SERVER: Token = Token(1);

impl Floor {
    pub(crate) fn new() -> Floor {
        let (client, server) = std_pair();
        client.set_nonblocking(true).unwrap();
        server.set_nonblocking(true).unwrap();
        let mut client = mio::net::TcpStream::from_std(client);
        let mut server = mio::net::TcpStream::from_std(server);
        let poll = Poll::new().expect("epoll");
        poll.registry()
            .register(&mut client, CLIENT, Interest::READABLE)
            .unwrap();
        poll.registry()
            .register(&mut server, SERVER, Interest::READABLE)
            .unwrap();
        Floor {
            poll,
            events: Events::with_capacity(8),
            client,
            server,
            buf: vec![0; BUF],
        }
    }

    fn wait_for(&mut self, token: Token) {
        loop {
            self.poll.poll(&mut self.events, None).expect("epoll_wait");
            if self.events.iter().any(|e| e.token() == token) {
                return;
            }
        }
    }
}

impl EchoRuntime for Floor {
    fn id(&self) -> &'static str {
        "floor"
    }
    fn batch(&mut self, n: usize) -> Vec<u64> {
        let message = [7u8; MESSAGE];
        let mut samples = Vec::with_capacity(n);
        for _ in 0..n {
            let start = Instant::now();
            assert_eq!(self.client.write(&message).unwrap(), MESSAGE);
            self.wait_for(SERVER);
            let k = self.server.read(&mut self.buf).unwrap();
            assert_eq!(k, MESSAGE, "loopback delivers a 64-byte write whole");
            assert_eq!(self.server.write(&self.buf[..k]).unwrap(), k);
            self.wait_for(CLIENT);
            assert_eq!(self.client.read(&mut self.buf).unwrap(), MESSAGE);
            samples.push(start.elapsed().as_nanos() as u64);
        }
        samples
    }
}

/// The floor with a watcher thread asleep in `epoll_wait` on the same sockets (see the module docs).
pub(crate) struct WatchedFloor {
    floor: Floor,
    stop: Arc<mio::Waker>,
    watcher: Option<std::thread::JoinHandle<()>>,
}

const STOP: Token = Token(2);

impl WatchedFloor {
    pub(crate) fn new() -> WatchedFloor {
        let floor = Floor::new();
        let mut poll = Poll::new().expect("epoll");
        let stop = Arc::new(mio::Waker::new(poll.registry(), STOP).expect("eventfd"));
        // The watcher's own descriptors for the same sockets, in its own epoll instance: it sees every edge
        // the floor's epoll sees, and takes none of them from it.
        let fds: Vec<std::os::fd::OwnedFd> = [floor.client.as_raw_fd(), floor.server.as_raw_fd()]
            .iter()
            .map(|&fd| {
                // SAFETY: `fd` is open (owned by `floor`) for the duration of this borrow; the duplicate
                // is owned separately.
                unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) }
                    .try_clone_to_owned()
                    .expect("dup")
            })
            .collect();
        for (i, fd) in fds.iter().enumerate() {
            poll.registry()
                .register(
                    &mut mio::unix::SourceFd(&fd.as_raw_fd()),
                    Token(i),
                    Interest::READABLE,
                )
                .unwrap();
        }
        let watcher = std::thread::spawn(move || {
            let _fds = fds;
            let mut events = Events::with_capacity(8);
            loop {
                poll.poll(&mut events, None).expect("epoll_wait");
                if events.iter().any(|e| e.token() == STOP) {
                    return;
                }
            }
        });
        WatchedFloor {
            floor,
            stop,
            watcher: Some(watcher),
        }
    }
}

impl Drop for WatchedFloor {
    fn drop(&mut self) {
        self.stop.wake().expect("eventfd write");
        if let Some(t) = self.watcher.take() {
            t.join().expect("watcher thread");
        }
    }
}

impl EchoRuntime for WatchedFloor {
    fn id(&self) -> &'static str {
        "floor_watched"
    }
    fn batch(&mut self, n: usize) -> Vec<u64> {
        self.floor.batch(n)
    }
}
