//! [`Session`]: one client connection, from its first byte to its close.
//!
//! Each connection gets its own thread, which reads and parses lines and turns
//! them into [`Command`]s for the hub, plus a writer thread (see [`writer`]) that
//! drains its outgoing queue. The session owns its socket; the hub never touches
//! it except to shut it down.
//!
//! The first byte picks the wire mode: `{` means JSON, anything else plain text
//! (a person on `nc`, whose first line is the nick). A client that sends nothing
//! for a second is assumed to be a person and greeted in plain text; a JSON
//! client sends its hello at once and never sees that greeting.
//!
//! [`writer`]: super::writer

use std::io::{self, Read};
use std::net::{SocketAddr, TcpStream};
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;

use super::flood::TokenBucket;
use super::hub::{Command, ConnId, Mode, TOO_SLOW};
use super::send_queue::{send_queue, QueueReceiver};
use super::writer::{self, Ending};
use super::{fault, log, Config};
use crate::protocol::command::{self, Input, HELP};
use crate::protocol::message::{decode_request, encode};
use crate::protocol::text::{clean, nick_problem};
use crate::protocol::{plain, ErrorCode, Event, Line, LineReader, Request};

/// How long a silent client waits before being greeted as a person.
const GREETING_DELAY: Duration = Duration::from_secs(1);

/// Stack for a writer thread: it only moves buffers around.
const WRITER_STACK: usize = 64 * 1024;

/// Leave reasons set by the session itself.
const CLOSED: &str = "connection closed";
const LOST: &str = "connection lost";
const HANDSHAKE_TIMEOUT: &str = "handshake timeout";
const INTERNAL_ERROR: &str = "internal error";

/// Whether to keep reading after a line.
enum Flow {
    Continue,
    /// Stop reading; the hub has been told (or is gone).
    Stop,
    /// Stop reading and tell the hub this leave reason.
    End(&'static str),
}

/// The reading side of one connection.
pub struct Session<'s> {
    id: ConnId,
    lines: LineReader<DeadlineReader<'s>>,
    hub: Sender<Command>,
    mode: Mode,
    joined: bool,
    /// Flood control for this client's lines.
    bucket: TokenBucket,
    config: Arc<Config>,
}

/// Serves one connection until it ends. Runs on the connection's own thread.
pub fn run(
    id: ConnId,
    socket: TcpStream,
    peer: SocketAddr,
    config: Arc<Config>,
    hub: Sender<Command>,
) {
    // One file descriptor, shared by the reader, the writer and the hub.
    let socket = Arc::new(socket);
    let (queue, outgoing) = send_queue(config.send_queue);
    let connect = Command::Connect { id, peer, queue, socket: Arc::clone(&socket) };
    if hub.send(connect).is_err() {
        return; // the server is stopping
    }
    let writer = spawn_writer(id, &socket, outgoing, &hub);
    let reason = match writer {
        Ok(_) => read_guarded(id, &socket, config, &hub),
        Err(ref err) => {
            log::info(format_args!("error #{id} {peer}: cannot start a writer thread: {err}"));
            Some(LOST)
        }
    };
    if let Some(reason) = reason {
        let _ = hub.send(Command::Gone { id, reason: reason.to_owned() });
    }
    // Once the hub drops the queue, the writer flushes and exits; the last
    // handle on the socket then closes it.
    if let Ok(writer) = writer {
        let _ = writer.join();
    }
}

/// Runs the reading side. A panic in it (a bug) ends this connection only:
/// it is reported to the hub like any other leave, and the server goes on.
fn read_guarded(
    id: ConnId,
    socket: &TcpStream,
    config: Arc<Config>,
    hub: &Sender<Command>,
) -> Option<&'static str> {
    let serve = || Session::new(id, socket, config, hub.clone()).serve();
    panic::catch_unwind(AssertUnwindSafe(serve)).unwrap_or_else(|_| {
        log::info(format_args!("error #{id}: internal error; closing the connection"));
        Some(INTERNAL_ERROR)
    })
}

/// Starts the thread that drains the queue into the socket.
fn spawn_writer(
    id: ConnId,
    socket: &Arc<TcpStream>,
    outgoing: QueueReceiver,
    hub: &Sender<Command>,
) -> io::Result<JoinHandle<()>> {
    let (socket, hub) = (Arc::clone(socket), hub.clone());
    thread::Builder::new().name(format!("write#{id}")).stack_size(WRITER_STACK).spawn(move || {
        let ending = panic::catch_unwind(AssertUnwindSafe(|| writer::run(&socket, outgoing)));
        match ending {
            Ok(Ending::Flushed) => return,
            // Told before the socket is shut, or the reader, woken by it,
            // would report the leave first, as a mere close.
            Ok(Ending::Stalled) => {
                let _ = hub.send(Command::Gone { id, reason: TOO_SLOW.to_owned() });
            }
            Ok(Ending::Broken) => {} // the reader sees it and reports it
            Err(_) => {
                log::info(format_args!("error #{id}: internal error in the writer"));
                let _ = hub.send(Command::Gone { id, reason: INTERNAL_ERROR.to_owned() });
            }
        }
        let _ = socket.shutdown(std::net::Shutdown::Both);
    })
}

/// Reads from the socket, but never past `deadline` while one is set: bytes
/// trickling in one at a time do not extend it (the slowloris attack).
struct DeadlineReader<'s> {
    socket: &'s TcpStream,
    deadline: Option<Instant>,
}

impl DeadlineReader<'_> {
    /// Sets the socket's read timeout to what is left of the deadline, capped
    /// at `at_most`; fails with `TimedOut` once the deadline has passed.
    fn arm(&self, at_most: Option<Duration>) -> io::Result<()> {
        let left = self.deadline.map(|d| d.saturating_duration_since(Instant::now()));
        if left == Some(Duration::ZERO) {
            return Err(io::ErrorKind::TimedOut.into());
        }
        let timeout = match (left, at_most) {
            (Some(left), Some(cap)) => Some(left.min(cap)),
            (left, cap) => left.or(cap),
        };
        self.socket.set_read_timeout(timeout)
    }
}

impl Read for DeadlineReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.deadline.is_some() {
            self.arm(None)?;
        }
        let mut socket = self.socket;
        socket.read(buf)
    }
}

impl<'s> Session<'s> {
    fn new(
        id: ConnId,
        socket: &'s TcpStream,
        config: Arc<Config>,
        hub: Sender<Command>,
    ) -> Session<'s> {
        let now = Instant::now();
        let deadline =
            (!config.handshake_timeout.is_zero()).then(|| now + config.handshake_timeout);
        Session {
            id,
            lines: LineReader::new(DeadlineReader { socket, deadline }, config.max_line),
            hub,
            mode: Mode::Plain,
            joined: false,
            bucket: TokenBucket::new(config.rate, config.burst, now),
            config,
        }
    }

    /// Reads until the client leaves; returns the leave reason to report.
    fn serve(&mut self) -> Option<&'static str> {
        match self.detect_mode() {
            Ok(Some(mode)) => self.set_mode(mode)?,
            Ok(None) => return Some(CLOSED),
            Err(err) if is_timeout(&err) => return self.handshake_expired(),
            Err(_) => return Some(LOST),
        }
        loop {
            let flow = match self.lines.next_line() {
                Ok(Some(line)) => {
                    let flow = self.handle_line(line);
                    self.pace();
                    flow
                }
                Ok(None) => Flow::End(CLOSED),
                Err(err) if is_timeout(&err) && !self.joined => return self.handshake_expired(),
                Err(_) => Flow::End(LOST),
            };
            match flow {
                Flow::Continue => {}
                Flow::Stop => return None,
                Flow::End(reason) => return Some(reason),
            }
        }
    }

    /// Flood control: waits, if the client is over its budget, before the
    /// next line is read. Meanwhile TCP pushes back on the sender.
    fn pace(&mut self) {
        let wait = self.bucket.spend(Instant::now());
        if !wait.is_zero() {
            thread::sleep(wait);
        }
    }

    fn handshake_expired(&self) -> Option<&'static str> {
        let secs = self.config.handshake_timeout.as_secs_f64();
        let message = format!("no nick was chosen within {secs} s; closing the connection");
        self.error(ErrorCode::HandshakeTimeout, message);
        Some(HANDSHAKE_TIMEOUT)
    }

    /// Waits for the first byte; greets a silent client as a person meanwhile.
    /// `None` means the client closed before sending anything.
    fn detect_mode(&mut self) -> io::Result<Option<Mode>> {
        let mut first = [0u8; 1];
        let peeked = match self.peek(&mut first, Some(GREETING_DELAY)) {
            Err(err) if is_timeout(&err) => {
                // Told first, so that the hub knows whom it is talking to.
                let _ = self.set_mode(Mode::Plain);
                self.push_text(plain::GREETING);
                self.peek(&mut first, None)
            }
            other => other,
        };
        Ok(match peeked? {
            0 => None,
            _ if first[0] == b'{' => Some(Mode::Json),
            _ => Some(Mode::Plain),
        })
    }

    fn peek(&self, first: &mut [u8], at_most: Option<Duration>) -> io::Result<usize> {
        let reader = self.lines.get_ref();
        reader.arm(at_most)?;
        reader.socket.peek(first)
    }

    /// Fixes the wire mode here and in the hub. `None` if the hub is gone.
    fn set_mode(&mut self, mode: Mode) -> Option<()> {
        self.mode = mode;
        self.hub.send(Command::Mode { id: self.id, mode }).ok()
    }

    fn handle_line(&mut self, line: Line) -> Flow {
        let bytes = match line {
            Line::Complete(bytes) => bytes,
            Line::TooLong => {
                let max = self.config.max_line;
                let message = format!("the line was longer than {max} bytes and was discarded");
                return self.error(ErrorCode::LineTooLong, message);
            }
        };
        match self.mode {
            Mode::Json => match decode_request(&bytes) {
                Ok(request) => self.handle_request(request),
                Err(problem) => self.error(ErrorCode::BadRequest, problem),
            },
            Mode::Plain => self.handle_typed(&String::from_utf8_lossy(&bytes)),
        }
    }

    /// A line typed by a person: a nick until joined, then text or a command.
    fn handle_typed(&mut self, text: &str) -> Flow {
        if !self.joined {
            let nick = text.trim();
            if nick.is_empty() {
                return self.push_text(plain::GREETING);
            }
            return self.handle_request(Request::Hello { nick: nick.to_owned() });
        }
        match command::parse(text) {
            Ok(Input::Send(request)) => self.handle_request(request),
            Ok(Input::Help) => {
                let help: String = HELP.iter().map(|line| format!("* {line}\n")).collect();
                self.push_text(&help)
            }
            Ok(Input::Nothing) => Flow::Continue,
            Err(hint) => self.error(ErrorCode::BadRequest, hint),
        }
    }

    fn handle_request(&mut self, request: Request) -> Flow {
        let id = self.id;
        let command = match request {
            Request::Hello { nick } => {
                fault::on_hello(&nick);
                return self.hello(nick);
            }
            _ if !self.joined => {
                let message = "join first: send {\"type\":\"hello\",\"nick\":\"...\"}";
                return self.error(ErrorCode::NotRegistered, message);
            }
            Request::Msg { text, to } => match said(&text) {
                Some(text) => Command::Say { id, text, to: to.map(|to| clean(&to)), action: false },
                None => return self.error(ErrorCode::BadRequest, "a message needs some text"),
            },
            Request::Me { text } => match said(&text) {
                Some(text) => Command::Say { id, text, to: None, action: true },
                None => return self.error(ErrorCode::BadRequest, "an action needs some text"),
            },
            Request::Nick { nick } => match nick_problem(&nick) {
                None => Command::Rename { id, nick },
                Some(problem) => return self.error(ErrorCode::BadNick, problem),
            },
            Request::Who {} => Command::Who { id },
            Request::Ping { token } => Command::Ping { id, token: token.map(|t| clean(&t)) },
            Request::Quit { reason } => {
                let quit = Command::Quit { id, reason: reason.map(|r| clean(&r)) };
                let _ = self.hub.send(quit);
                return Flow::Stop;
            }
        };
        self.to_hub(command)
    }

    /// Asks the hub to let us in, and waits for its answer: until then the
    /// meaning of the next line (plain mode: another nick to try) is unknown.
    fn hello(&mut self, nick: String) -> Flow {
        let (joined, answer) = crossbeam_channel::bounded(1);
        let flow = self.to_hub(Command::Hello { id: self.id, nick, joined });
        match answer.recv() {
            Ok(true) => {
                self.joined = true;
                // Joined: no more deadline, reads may wait forever.
                let reader = self.lines.get_mut();
                reader.deadline = None;
                let _ = reader.socket.set_read_timeout(None);
            }
            Ok(false) => {}
            Err(_) => return Flow::Stop, // the hub dropped us, or is stopping
        }
        flow
    }

    fn to_hub(&self, command: Command) -> Flow {
        match self.hub.send(command) {
            Ok(()) => Flow::Continue,
            Err(_) => Flow::Stop,
        }
    }

    fn error(&self, code: ErrorCode, message: impl Into<String>) -> Flow {
        let event = Event::error(code, message);
        let frame = match self.mode {
            Mode::Json => encode(&event),
            Mode::Plain => plain::render(&event, "").into_bytes(),
        };
        self.push(frame)
    }

    /// Queues text for a person (plain mode only: a JSON client never gets it).
    fn push_text(&self, text: &str) -> Flow {
        self.push(text.as_bytes().to_vec())
    }

    /// Sends a reply of our own. It still goes through the hub, so that it
    /// reaches the client in order with the hub's answers to earlier lines.
    fn push(&self, frame: Vec<u8>) -> Flow {
        self.to_hub(Command::Send { id: self.id, frame: frame.into() })
    }
}

/// The text to relay, cleaned of control characters; `None` if nothing is left.
fn said(text: &str) -> Option<String> {
    let text = clean(text);
    (!text.trim().is_empty()).then_some(text)
}

fn is_timeout(err: &io::Error) -> bool {
    matches!(err.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut)
}
