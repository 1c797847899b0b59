//! TCP on both flavours: echo round trips with many connections, half-close, split halves, large transfers,
//! errors surfaced (connection refused, address in use), and a runtime shut down under a waiting socket.

mod support;

use ferrio::io::{AsyncReadExt, AsyncWriteExt};
use ferrio::net::{TcpListener, TcpStream};

fn both_flavours(f: impl Fn(ferrio::Runtime)) {
    f(ferrio::Runtime::builder().current_thread().build().unwrap());
    f(ferrio::Runtime::builder()
        .worker_threads(2)
        .build()
        .unwrap());
}

async fn echo_server(listener: TcpListener) {
    loop {
        let (mut conn, _) = listener.accept().await.unwrap();
        ferrio::spawn(async move {
            let mut buf = vec![0u8; 16 * 1024];
            loop {
                let n = conn.read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                conn.write_all(&buf[..n]).await.unwrap();
            }
        });
    }
}

#[test]
fn echo_with_100_concurrent_connections() {
    both_flavours(|rt| {
        rt.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let server = ferrio::spawn(echo_server(listener));
            let clients: Vec<_> = (0..100u32)
                .map(|i| {
                    ferrio::spawn(async move {
                        let mut s = TcpStream::connect(addr).await.unwrap();
                        s.set_nodelay(true).unwrap();
                        for round in 0..20u32 {
                            let msg = format!("client {i} round {round}");
                            s.write_all(msg.as_bytes()).await.unwrap();
                            let mut back = vec![0u8; msg.len()];
                            s.read_exact(&mut back).await.unwrap();
                            assert_eq!(back, msg.as_bytes());
                        }
                        i
                    })
                })
                .collect();
            let mut sum = 0;
            for c in clients {
                sum += c.await.unwrap();
            }
            assert_eq!(sum, (0..100).sum::<u32>());
            server.cancel();
        });
    });
}
