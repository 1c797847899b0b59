//! The TCP echo loops of the network benchmarks (`tcp_rtt`, `tcp_echo`), written once per I/O trait family
//! (ferrio's, tokio's, futures-lite's: the method names are the same), and the process CPU clock they report.
//!
//! A round trip: the client writes `MESSAGE` bytes, then reads until they are all back; the server reads
//! whatever arrived and writes it back. Both read into `BUF`-byte buffers, so a read that returns less than
//! asked tells every runtime the socket is drained (no extra read failing with `EAGAIN`).

use std::time::Duration;

/// Bytes per round trip.
pub const MESSAGE: usize = 64;
/// Read buffer size of both ends.
pub const BUF: usize = 4096;

macro_rules! echo_loops {
    ($module:ident, $($ext:tt)*) => {
        pub mod $module {
            use $($ext)*;
            use std::time::Instant;

            async fn round_trip<S: AsyncReadExt + AsyncWriteExt + Unpin>(s: &mut S, buf: &mut [u8]) {
                let message = [7u8; super::MESSAGE];
                s.write_all(&message).await.expect("client write");
                let mut got = 0;
                while got < super::MESSAGE {
                    let k = s.read(buf).await.expect("client read");
                    assert!(k > 0, "server closed the connection");
                    got += k;
                }
            }

            /// `n` sequential round trips.
            pub async fn client<S: AsyncReadExt + AsyncWriteExt + Unpin>(s: &mut S, n: usize) {
                let mut buf = vec![0u8; super::BUF];
                for _ in 0..n {
                    round_trip(s, &mut buf).await;
                }
            }

            /// `n` sequential round trips, each timed (ns) from before the write to after the last read.
            pub async fn client_timed<S: AsyncReadExt + AsyncWriteExt + Unpin>(
                s: &mut S,
                n: usize,
            ) -> Vec<u64> {
                let mut buf = vec![0u8; super::BUF];
                let mut samples = Vec::with_capacity(n);
                for _ in 0..n {
                    let start = Instant::now();
                    round_trip(s, &mut buf).await;
                    samples.push(start.elapsed().as_nanos() as u64);
                }
                samples
            }

            /// Echoes until the peer closes.
            pub async fn server<S: AsyncReadExt + AsyncWriteExt + Unpin>(mut s: S) {
                let mut buf = vec![0u8; super::BUF];
                loop {
                    let k = match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(k) => k,
                    };
                    if s.write_all(&buf[..k]).await.is_err() {
                        return;
                    }
                }
            }
        }
    };
}

echo_loops!(ferrio_loops, ferrio::io::{AsyncReadExt, AsyncWriteExt});
echo_loops!(tokio_loops, tokio::io::{AsyncReadExt, AsyncWriteExt});
echo_loops!(lite_loops, futures_lite::{AsyncReadExt, AsyncWriteExt});

/// CPU time (user + system) of the whole process so far, every thread included.
pub fn process_cpu() -> Duration {
    // SAFETY: `getrusage` fills the zeroed struct we pass; RUSAGE_SELF is always valid.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}
