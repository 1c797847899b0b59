//! `echo_server` run out of file descriptors (RLIMIT_NOFILE lowered, more connections than descriptors):
//! it backs off instead of spinning (its CPU time read from /proc), keeps serving the connections it has,
//! logs once per burst, accepts again once descriptors are freed, and still stops on SIGTERM. Building the
//! binaries, starting the servers, bounding every wait: `support::example_servers`; the servers driven by
//! real clients: `examples_servers.rs`.

mod support;

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};
use support::example_servers::{connect, round_trip, Server, STOP_LIMIT};

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
