//! `tcp_echo`'s floor, with no runtime: the 50 connections split between two threads (the runtimes' two
//! workers), each thread owning both ends of its 25 connections in one epoll instance of its own. A thread
//! writes every client's first message, then loops on `epoll_wait`: a readable server end is drained and
//! echoed, a readable client end is drained and, for each whole 64-byte reply, counts a round trip and
//! writes the next message, until each of its clients has made its round trips. A read that returns less
//! than the buffer ends the draining (no `EAGAIN` call), as ferrio's sockets do. Nothing is shared between
//! the threads, nothing is woken, every event is batched: what two threads can do at most on this kernel.
//!
//! The threads are scoped to each iteration (two spawns and joins, some tens of microseconds against an
//! iteration of tens of milliseconds).

use super::{std_pairs, MESSAGE};
use mio::{Events, Interest, Poll, Token};
use std::io::{ErrorKind, Read, Write};
use std::sync::Mutex;

/// One thread's share: its epoll instance and its connections (client, server). Client `i` is token
/// `2i`, its server end `2i + 1`.
struct Half {
    poll: Poll,
    events: Events,
    pairs: Vec<(mio::net::TcpStream, mio::net::TcpStream)>,
    buf: Vec<u8>,
}

pub(crate) struct EchoFloor {
    halves: [Mutex<Half>; 2],
}

impl EchoFloor {
    pub(crate) fn new() -> EchoFloor {
        let mut pairs = std_pairs();
        let second = pairs.split_off(pairs.len() / 2);
        EchoFloor {
            halves: [Mutex::new(Half::new(pairs)), Mutex::new(Half::new(second))],
        }
    }

    /// Every connection makes `round_trips` round trips; returns when all have.
    pub(crate) fn iteration(&self, round_trips: usize) {
        std::thread::scope(|scope| {
            for half in &self.halves {
                scope.spawn(move || half.lock().unwrap().run(round_trips));
            }
        });
    }
}

impl Half {
    fn new(pairs: Vec<(std::net::TcpStream, std::net::TcpStream)>) -> Half {
        let poll = Poll::new().expect("epoll");
        let pairs: Vec<_> = pairs
            .into_iter()
            .enumerate()
            .map(|(i, (client, server))| {
                let mut client = mio::net::TcpStream::from_std(client);
                let mut server = mio::net::TcpStream::from_std(server);
                poll.registry()
                    .register(&mut client, Token(2 * i), Interest::READABLE)
                    .unwrap();
                poll.registry()
                    .register(&mut server, Token(2 * i + 1), Interest::READABLE)
                    .unwrap();
                (client, server)
            })
            .collect();
        Half {
            poll,
            events: Events::with_capacity(2 * pairs.len()),
            pairs,
            buf: vec![0; super::BUF],
        }
    }

    fn run(&mut self, round_trips: usize) {
        let message = [7u8; MESSAGE];
        let n = self.pairs.len();
        let mut reply_bytes = vec![0usize; n];
        let mut done = vec![0usize; n];
        let mut finished = 0;
        for (client, _) in &mut self.pairs {
            send(client, &message);
        }
        while finished < n {
            self.poll.poll(&mut self.events, None).expect("epoll_wait");
            for event in self.events.iter() {
                let (i, is_server) = (event.token().0 / 2, event.token().0 % 2 == 1);
                let (client, server) = &mut self.pairs[i];
                let mut drained = false;
                if is_server {
                    while let Some(k) = read_some(server, &mut self.buf, &mut drained) {
                        send(server, &self.buf[..k]);
                    }
                } else {
                    while let Some(k) = read_some(client, &mut self.buf, &mut drained) {
                        reply_bytes[i] += k;
                    }
                    while reply_bytes[i] >= MESSAGE {
                        reply_bytes[i] -= MESSAGE;
                        done[i] += 1;
                        if done[i] == round_trips {
                            finished += 1;
                        } else {
                            send(client, &message);
                        }
                    }
                }
            }
        }
    }
}

/// Reads what is there: `None` once the socket is drained. A read that fills less than `buf` drained it, so
/// the caller's next call returns `None` without a system call: an edge-triggered
/// registration reports whatever arrives later.
fn read_some(s: &mut mio::net::TcpStream, buf: &mut [u8], drained: &mut bool) -> Option<usize> {
    if *drained {
        return None;
    }
    match s.read(buf) {
        Ok(0) => panic!("floor: a peer closed its end"),
        Ok(k) => {
            *drained = k < buf.len();
            Some(k)
        }
        Err(e) if e.kind() == ErrorKind::WouldBlock => None,
        Err(e) => panic!("floor: read failed: {e}"),
    }
}

/// Writes all of `bytes` (a few dozen bytes into an empty loopback buffer always fit in one call).
fn send(s: &mut mio::net::TcpStream, bytes: &[u8]) {
    let k = s.write(bytes).expect("floor: write failed");
    assert_eq!(k, bytes.len(), "floor: a short write on loopback");
}
