//! Test harness: the real `chat` binary on port 0, and raw TCP clients.
//!
//! Every blocking read has a timeout, so a bug fails a test instead of hanging
//! the suite. Nothing here sleeps to synchronise: tests wait for the line (or
//! the log entry) they expect.

#![allow(dead_code)] // each test file uses a different part of the harness

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// How long any single expected line may take before the test fails.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// A `chat serve` child process, killed when dropped.
pub struct TestServer {
    pub addr: SocketAddr,
    child: Child,
    /// Every log line the server wrote to stderr, as it comes.
    log: Receiver<String>,
    /// Lines read while waiting for another one, searched first next time.
    backlog: Vec<String>,
    /// Set to stop reading the server's stderr, as a stuck pager would.
    log_stopped: Arc<AtomicBool>,
}

impl TestServer {
    /// Starts `chat serve --bind 127.0.0.1:0` with extra `args`.
    pub fn start(args: &[&str]) -> TestServer {
        TestServer::start_on("127.0.0.1:0", args)
    }

    /// Starts the server on `bind` and waits until it is listening.
    ///
    /// Flood control is off (`--rate 0`) unless the test asks for a rate: most
    /// tests send faster than a person types.
    pub fn start_on(bind: &str, args: &[&str]) -> TestServer {
        TestServer::start_with(bind, args, |_| {})
    }

    /// Like [`start_on`](TestServer::start_on), with a chance to adjust the
    /// command first (environment, resource limits).
    pub fn start_with(bind: &str, args: &[&str], setup: impl FnOnce(&mut Command)) -> TestServer {
        let default_rate: &[&str] = if args.contains(&"--rate") { &[] } else { &["--rate", "0"] };
        let mut command = Command::new(env!("CARGO_BIN_EXE_chat"));
        command
            .args(["serve", "--bind", bind])
            .args(default_rate)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        setup(&mut command);
        let mut child = command.spawn().expect("start chat serve");
        let (tx, log) = mpsc::channel();
        let stderr = child.stderr.take().expect("piped stderr");
        // Drain stderr for the server's whole life, so its logging never blocks.
        let log_stopped = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&log_stopped);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                while stopped.load(Ordering::SeqCst) {
                    std::thread::park(); // never unparked: the pipe fills up
                }
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut server = TestServer {
            addr: "0.0.0.0:0".parse().unwrap(),
            child,
            log,
            backlog: Vec::new(),
            log_stopped,
        };
        let line = server.wait_log("listening on ");
        let addr = line.rsplit("listening on ").next().unwrap().trim();
        server.addr = addr.parse().expect("listening address");
        server
    }

    /// Waits for a log line containing `needle` and returns it (lines are
    /// each returned once; earlier lines not yet asked for are searched too).
    pub fn wait_log(&mut self, needle: &str) -> String {
        if let Some(at) = self.backlog.iter().position(|line| line.contains(needle)) {
            return self.backlog.remove(at);
        }
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.log.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(line) => self.backlog.push(line),
                Err(RecvTimeoutError::Timeout) => {
                    panic!("no log line with {needle:?} within {TIMEOUT:?}")
                }
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("server exited before logging {needle:?}")
                }
            }
        }
    }

    /// Stops reading the server's stderr for good, so its pipe fills up.
    pub fn stop_reading_log(&self) {
        self.log_stopped.store(true, Ordering::SeqCst);
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal (e.g. `libc::SIGINT`) to the server.
    pub fn signal(&self, signal: i32) {
        // SAFETY: kill(2) on our own child's pid has no memory-safety concerns.
        unsafe { libc::kill(self.child.id() as i32, signal) };
    }

    /// Waits for the server to exit, returning its exit code.
    pub fn wait_exit(&mut self, within: Duration) -> Option<i32> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("server still running after {within:?}");
    }

    /// A raw connection (no hello sent yet).
    pub fn connect(&self) -> Conn {
        Conn::open(self.addr)
    }

    /// A JSON client that joined as `nick` and read its welcome and history.
    pub fn join(&self, nick: &str) -> Conn {
        let mut conn = self.connect();
        conn.send_json(json!({"type": "hello", "nick": nick}));
        let welcome = conn.expect_type("welcome");
        assert_eq!(welcome["nick"], nick);
        conn
    }

    /// Resident memory of the server process, in KiB (Linux).
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    /// CPU time (user + system) the server has used so far (Linux).
    pub fn cpu_time(&self) -> Duration {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).unwrap();
        let fields: Vec<&str> = stat.rsplit(')').next().unwrap().split_whitespace().collect();
        let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
        // SAFETY: sysconf has no preconditions.
        let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
        Duration::from_millis(ticks * 1000 / per_second)
    }

    /// Number of open file descriptors of the server process (Linux).
    pub fn fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid())).unwrap().count()
    }

    /// Number of threads of the server process (Linux).
    pub fn threads(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/task", self.pid())).unwrap().count()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One client connection with line-oriented helpers.
pub struct Conn {
    pub stream: TcpStream,
    reader: BufReader<TcpStream>,
}

impl Conn {
    pub fn open(addr: SocketAddr) -> Conn {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_read_timeout(Some(TIMEOUT)).unwrap();
        let reader = BufReader::new(stream.try_clone().unwrap());
        Conn { stream, reader }
    }

    /// A second handle for writing from another thread.
    pub fn writer(&self) -> TcpStream {
        self.stream.try_clone().expect("clone the socket")
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("send");
    }

    pub fn send_line(&mut self, line: &str) {
        self.send_raw(format!("{line}\n").as_bytes());
    }

    pub fn send_json(&mut self, value: Value) {
        self.send_line(&value.to_string());
    }

    /// The next line, without its newline; panics on timeout or end of stream.
    pub fn line(&mut self) -> String {
        self.try_line().expect("connection closed while a line was expected")
    }

    /// The next line, or `None` at end of stream; panics on timeout.
    pub fn try_line(&mut self) -> Option<String> {
        let mut bytes = Vec::new();
        match self.reader.read_until(b'\n', &mut bytes) {
            Ok(0) => None,
            Ok(_) => {
                assert_eq!(bytes.pop(), Some(b'\n'), "line cut short: {bytes:?}");
                Some(String::from_utf8(bytes).expect("server sent valid UTF-8"))
            }
            Err(err) if err.kind() == std::io::ErrorKind::ConnectionReset => None,
            Err(err) => panic!("no line within {TIMEOUT:?}: {err}"),
        }
    }

    /// The next line as JSON.
    pub fn json(&mut self) -> Value {
        let line = self.line();
        serde_json::from_str(&line).unwrap_or_else(|_| panic!("not JSON: {line:?}"))
    }

    /// Skips events until one of `kind` arrives.
    pub fn expect_type(&mut self, kind: &str) -> Value {
        loop {
            let event = self.json();
            if event["type"] == kind {
                return event;
            }
        }
    }

    /// The next event, which must be an error with `code`.
    pub fn expect_error(&mut self, code: &str) -> Value {
        let event = self.json();
        assert_eq!(event["type"], "error", "expected error {code}, got {event}");
        assert_eq!(event["code"], code, "got {event}");
        event
    }

    /// Skips lines until one containing `needle` arrives (plain mode).
    pub fn expect_line(&mut self, needle: &str) -> String {
        loop {
            let line = self.line();
            if line.contains(needle) {
                return line;
            }
        }
    }

    /// Sends a ping and collects every event up to its pong: since the server
    /// answers in order, this is everything caused by what was sent before.
    pub fn sync(&mut self) -> Vec<Value> {
        self.send_json(json!({"type": "ping", "token": "sync"}));
        let mut events = Vec::new();
        loop {
            let event = self.json();
            if event["type"] == "pong" && event["token"] == "sync" {
                return events;
            }
            events.push(event);
        }
    }

    /// Asserts the server closes the connection (after any remaining lines).
    pub fn expect_closed(&mut self) {
        let mut rest = Vec::new();
        match self.reader.read_to_end(&mut rest) {
            Ok(_) => {}
            Err(err) if err.kind() == std::io::ErrorKind::ConnectionReset => {}
            Err(err) => panic!("connection still open after {TIMEOUT:?}: {err}"),
        }
    }

    /// Closes abruptly with a TCP reset, as a crashed client would.
    pub fn reset(self) {
        socket2::SockRef::from(&self.stream).set_linger(Some(Duration::ZERO)).unwrap();
        drop(self);
    }

    pub fn close_write(&self) {
        let _ = self.stream.shutdown(Shutdown::Write);
    }
}

impl Conn {
    /// Wraps a stream the test set up itself (e.g. with a tiny receive buffer).
    /// A joined client with a tiny receive buffer that will never read past
    /// its welcome: the way to make the server's queue for a client fill up.
    pub fn stalled(addr: SocketAddr, nick: &str) -> Conn {
        let socket =
            socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        socket.connect(&addr.into()).unwrap();
        let mut conn = Conn::from_stream(socket.into());
        conn.send_json(json!({"type": "hello", "nick": nick}));
        conn.expect_type("welcome");
        conn
    }

    pub fn from_stream(stream: TcpStream) -> Conn {
        stream.set_read_timeout(Some(TIMEOUT)).unwrap();
        let reader = BufReader::new(stream.try_clone().unwrap());
        Conn { stream, reader }
    }
}

/// Polls `condition` every few milliseconds until it holds; panics with
/// `what` (and the last `describe()` of the state) after `within`.
pub fn eventually(
    within: Duration,
    what: &str,
    mut condition: impl FnMut() -> bool,
    describe: impl Fn() -> String,
) {
    let deadline = Instant::now() + within;
    while !condition() {
        assert!(
            Instant::now() < deadline,
            "{what} did not happen within {within:?}: {}",
            describe()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
