//! Child processes for the tests that run the example programs: building the examples once per test
//! process, running a command with a deadline and its output captured, children that die with their test.
//!
//! `cargo test --test NAME` does not build the examples, and an old binary would test old code, so
//! `build_examples` runs `cargo build --example ...` once, for the test's own profile and target directory
//! (both read from `current_exe()`: `<target>/<profile>/deps/TEST-HASH`); when everything is up to date it
//! is a no-op taking well under a second.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long a build of the examples may take (another cargo may hold the build directory lock a while).
pub const BUILD_LIMIT: Duration = Duration::from_secs(900);

/// Kills and reaps its child when dropped, unless it already exited.
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
        }
        let _ = self.0.wait();
    }
}

/// Makes the child of `cmd` die with the thread that spawns it (`PR_SET_PDEATHSIG`): when a test process
/// ends or is killed before a child it started, the child does not live on.
pub fn die_with_parent(cmd: &mut Command) {
    let parent = std::process::id();
    // SAFETY: the closure runs in the forked child before exec and calls only async-signal-safe functions
    // (`prctl`, `getppid`), allocating nothing.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The parent may have died before prctl: then the signal will never come.
            if libc::getppid() as u32 != parent {
                return Err(std::io::Error::other("parent already gone"));
            }
            Ok(())
        });
    }
}

/// Reads all of `source` on a thread of its own (so a full pipe never blocks the child).
pub fn drain<R: Read + Send + 'static>(mut source: R) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = source.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// Collects what `source` yields on a thread of its own, readable while the child still runs; the thread
/// ends at end of file.
pub fn collect<R: Read + Send + 'static>(mut source: R) -> (Arc<Mutex<Vec<u8>>>, JoinHandle<()>) {
    let sink = Arc::new(Mutex::new(Vec::new()));
    let writer = sink.clone();
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = source.read(&mut buf) {
            if n == 0 {
                break;
            }
            writer.lock().unwrap().extend_from_slice(&buf[..n]);
        }
    });
    (sink, reader)
}

/// Waits for `child` to exit, polling; `None` if it is still running at `deadline`.
pub fn wait_until_exit(child: &mut Child, deadline: Instant) -> Option<ExitStatus> {
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() >= deadline => return None,
            Ok(None) => std::thread::sleep(Duration::from_millis(2)),
            Err(e) => panic!("waiting for a child: {e}"),
        }
    }
}

/// What a command run by `run_bounded` did.
pub struct Finished {
    /// Its exit status, or why there is none (it could not start, or was killed at the deadline).
    pub status: Result<ExitStatus, String>,
    pub stdout: String,
    pub stderr: String,
    pub wall: Duration,
}

impl Finished {
    pub fn success(&self) -> bool {
        matches!(&self.status, Ok(s) if s.success())
    }

    /// The exit status; fails the test, with the output so far, if there is none (the command could not
    /// start, or was killed at its deadline).
    pub fn exit_status(&self, cmd: &Command) -> ExitStatus {
        match &self.status {
            Ok(status) => *status,
            Err(why) => panic!(
                "{cmd:?}: {why}; stdout:\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            ),
        }
    }

    /// The status as text, for failure messages.
    pub fn describe(&self) -> String {
        match &self.status {
            Ok(status) => status.to_string(),
            Err(why) => why.clone(),
        }
    }
}

/// Runs `cmd` with stdout and stderr captured (stdin empty), killing it after `limit`.
pub fn run_bounded(cmd: &mut Command, limit: Duration) -> Finished {
    die_with_parent(cmd);
    let started = Instant::now();
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(child) => KillOnDrop(child),
        Err(e) => {
            return Finished {
                status: Err(format!("cannot run {cmd:?}: {e}")),
                stdout: String::new(),
                stderr: String::new(),
                wall: started.elapsed(),
            }
        }
    };
    let stdout = drain(child.0.stdout.take().expect("piped stdout"));
    let stderr = drain(child.0.stderr.take().expect("piped stderr"));
    let status = wait_until_exit(&mut child.0, started + limit)
        .ok_or_else(|| format!("still running after {limit:?}: killed"));
    let wall = started.elapsed();
    // Killed if still running: the pipes close and the readers reach end of file.
    drop(child);
    Finished {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
        wall,
    }
}

/// Builds the examples `names` for this test's profile and target directory; returns the directory that
/// holds them (`<target>/<profile>/examples`).
pub fn build_examples(names: &[&str]) -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .ok_or_else(|| format!("unexpected test binary location {}", exe.display()))?;
    let target_dir = profile_dir
        .parent()
        .ok_or_else(|| format!("unexpected test binary location {}", exe.display()))?;
    let mut cmd = Command::new(env!("CARGO"));
    cmd.arg("build")
        .arg("--manifest-path")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"))
        .arg("--target-dir")
        .arg(target_dir);
    match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") => {}
        Some("release") => {
            cmd.arg("--release");
        }
        Some(other) => {
            cmd.args(["--profile", other]);
        }
        None => return Err(format!("no profile directory in {}", exe.display())),
    }
    for name in names {
        cmd.args(["--example", name]);
    }
    let build = run_bounded(&mut cmd, BUILD_LIMIT);
    if !build.success() {
        return Err(format!(
            "building the examples {names:?} failed ({}):\n{}",
            build.describe(),
            build.stderr
        ));
    }
    let dir = profile_dir.join("examples");
    match names.iter().find(|name| !dir.join(name).is_file()) {
        Some(name) => Err(format!(
            "{} missing after the build",
            dir.join(name).display()
        )),
        None => Ok(dir),
    }
}
