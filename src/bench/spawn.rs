//! [`SpawnedServer`]: `chat serve` started by the bench as a child process, on
//! a free port, for `--spawn`.
//!
//! A child rather than a thread: the server's memory, threads and CPU are then
//! its own in `/proc`, apart from the bench's, and it is exactly the server a
//! person would run. It is this very binary, with flood control off
//! (`--rate 0`) and room for every bench client; `CHAT_*` variables are
//! removed from its environment so that nothing set for a real server changes
//! what is measured. Its stderr is read to learn the address, then drained for
//! its whole life so its logging never blocks it. It is killed when dropped,
//! and also if the bench dies (Linux parent-death signal).

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::os::unix::process::CommandExt as _;
use std::process::{Child, ChildStderr, Command, Stdio};
use std::sync::mpsc::{self, Sender};
use std::thread;
use std::time::Duration;

/// How long the server may take to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// What the server logs once it listens; the address follows.
const LISTENING: &str = "listening on ";

/// Descriptors the server needs beyond the bench's clients, as `--max-clients` slack.
const SPARE_CLIENTS: usize = 64;

/// A `chat serve` child process.
#[derive(Debug)]
pub struct SpawnedServer {
    child: Child,
    addr: SocketAddr,
}

impl SpawnedServer {
    /// Starts a server with room for `clients` and, if given, that
    /// `--send-queue`, and waits until it listens.
    ///
    /// # Errors
    /// A sentence: the binary cannot be run, or the server did not start.
    pub fn start(clients: usize, send_queue: Option<usize>) -> Result<SpawnedServer, String> {
        let exe = std::env::current_exe()
            .map_err(|err| format!("cannot find this program to start a server: {err}"))?;
        let mut command = Command::new(exe);
        command
            .args(["serve", "--bind", "127.0.0.1:0", "--rate", "0"])
            .args(["--max-clients", &(clients + SPARE_CLIENTS).to_string()])
            .args(
                send_queue.iter().flat_map(|bytes| ["--send-queue".to_owned(), bytes.to_string()]),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("CHAT_") {
                command.env_remove(name);
            }
        }
        // SAFETY: prctl is async-signal-safe and touches no memory of ours.
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let mut child = command.spawn().map_err(|err| format!("cannot start chat serve: {err}"))?;
        let stderr = child.stderr.take().expect("stderr was set to piped");
        let (announce, address) = mpsc::channel();
        let drained = thread::Builder::new()
            .name("server-log".into())
            .spawn(move || drain(stderr, &announce));
        let started = match drained {
            Ok(_) => address.recv_timeout(START_TIMEOUT).unwrap_or_else(|_| {
                Err(format!("did not start listening within {} s", START_TIMEOUT.as_secs()))
            }),
            Err(err) => Err(format!("cannot read its log: {err}")),
        };
        match started {
            Ok(addr) => Ok(SpawnedServer { child, addr }),
            Err(why) => {
                stop(&mut child);
                Err(format!("the spawned chat serve failed: {why}"))
            }
        }
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its process id, to read its figures from `/proc`.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for SpawnedServer {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

/// Kills the server and reaps it.
fn stop(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// Reads the server's log: the address once it listens (or, if it exits
/// first, its last words), then everything else, unread, until it exits.
fn drain(stderr: ChildStderr, announce: &Sender<Result<SocketAddr, String>>) {
    let mut lines = BufReader::new(stderr).lines().map_while(Result::ok);
    let mut last = String::from("it exited without a word");
    let announced = loop {
        let Some(line) = lines.next() else { break Err(last) };
        if let Some((_, addr)) = line.split_once(LISTENING) {
            break addr.trim().parse().map_err(|_| format!("it logged a strange address: {line}"));
        }
        last = line;
    };
    let _ = announce.send(announced);
    lines.for_each(drop);
}
