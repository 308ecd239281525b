//! [`Hub`]: the one owner of the room.
//!
//! Members, nicks, message ids and history live here and nowhere else, on one
//! thread, so there are no locks around them and ids come out in one order for
//! free. Connections talk to the hub only by [`Command`]s over a channel; the hub
//! answers by pushing encoded frames into their [`SendQueue`]s, which never
//! blocks. It never reads or writes a socket; it only calls `shutdown` on one to
//! wake that connection's threads when it drops them.
//!
//! Each event is encoded at most once per wire mode and the same bytes are
//! shared by all its recipients.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::{Shutdown as Direction, SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crossbeam_channel::{select_biased, Receiver, Sender};

use super::log;
use super::send_queue::{Frame, Frames, PushError, SendQueue};
use super::Config;
use crate::protocol::message::encode;
use crate::protocol::text::{nick_key, nick_problem};
use crate::protocol::{plain, ChatMessage, ErrorCode, Event};

/// Identifies one connection for its whole life; never reused.
pub type ConnId = u64;

/// How long, at shutdown, connections get to flush their `bye` and close
/// before the hub closes their sockets itself (the contract allows 2 s in all).
const SHUTDOWN_GRACE: Duration = Duration::from_millis(1500);

/// The leave reason of a client that does not read fast enough.
pub const TOO_SLOW: &str = "too slow";

/// How a connection wants its events written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// One JSON object per line.
    Json,
    /// Readable text lines, for `nc` and `telnet`.
    Plain,
}

/// What a connection asks of the hub.
pub enum Command {
    /// A new connection: from now on the hub may push to `queue`.
    Connect {
        id: ConnId,
        peer: SocketAddr,
        queue: SendQueue,
        socket: Arc<TcpStream>,
    },
    /// The connection's wire mode is now known.
    Mode {
        id: ConnId,
        mode: Mode,
    },
    /// Join the room; `joined` learns whether it worked.
    Hello {
        id: ConnId,
        nick: String,
        joined: Sender<bool>,
    },
    /// A room message, a private one (`to`), or an action.
    Say {
        id: ConnId,
        text: String,
        to: Option<String>,
        action: bool,
    },
    /// Change nick (already checked against the nick rules).
    Rename {
        id: ConnId,
        nick: String,
    },
    Who {
        id: ConnId,
    },
    Ping {
        id: ConnId,
        token: Option<String>,
    },
    /// The client asked to leave; the hub says `bye` and closes.
    Quit {
        id: ConnId,
        reason: Option<String>,
    },
    /// Queue bytes for the connection, in order with everything else it gets.
    Send {
        id: ConnId,
        frame: Frame,
    },
    /// The connection ended on its own (EOF, error) with this leave reason.
    Gone {
        id: ConnId,
        reason: String,
    },
}

/// One connection as the hub sees it.
struct Conn {
    peer: SocketAddr,
    /// Dropping the last clone of it lets the writer finish and close.
    queue: SendQueue,
    /// Kept only to `shutdown` the socket, which wakes the connection's threads.
    socket: Arc<TcpStream>,
    /// Unknown until the client sends its first byte (or is greeted as a
    /// person); until then it is sent nothing, not even a `bye`.
    mode: Option<Mode>,
    /// Set once the hello succeeded: the connection is then a room member.
    nick: Option<String>,
    /// Frames for this client from the current round, handed to its queue in
    /// one piece by [`Hub::flush`]: one wake-up of its writer per round, not
    /// one per event.
    staged: Frames,
    staged_bytes: usize,
}

impl Conn {
    /// Stages `frame` for this connection (`id`), noting it in `dirty` if it
    /// is the first of the round; false if it would not fit within the bound.
    fn stage(&mut self, id: ConnId, frame: Frame, dirty: &mut Vec<ConnId>) -> bool {
        let bytes = self.staged_bytes + frame.len();
        if !self.queue.has_room(bytes) {
            return false;
        }
        if self.staged.is_empty() {
            dirty.push(id);
        }
        self.staged_bytes = bytes;
        self.staged.push(frame);
        true
    }

    /// Hands the staged frames to the writer.
    fn flush(&mut self) -> Result<(), PushError> {
        let frames = std::mem::take(&mut self.staged);
        self.queue.push(frames, std::mem::take(&mut self.staged_bytes))
    }
}

/// The room and everything in it.
pub struct Hub {
    config: Arc<Config>,
    conns: HashMap<ConnId, Conn>,
    /// Members by lowercase nick, which keeps nicks unique ignoring case and
    /// gives `who` its alphabetical order.
    members: BTreeMap<String, ConnId>,
    history: VecDeque<ChatMessage>,
    /// The id of the last message; strictly increasing.
    last_id: u64,
    /// Connections with staged frames, in the order they got their first.
    dirty: Vec<ConnId>,
}

/// How many commands one round handles at most before the staged output is
/// handed to the writers. Rounds form by themselves under load (whatever is
/// waiting is taken), which is what batches the writes; the cap bounds how
/// long the first command of a round waits for its output to leave.
const ROUND: usize = 128;

/// Runs the hub until shutdown, then says goodbye to everyone.
///
/// `sessions_done` disconnects once every connection thread has ended.
pub fn run(
    config: Arc<Config>,
    commands: Receiver<Command>,
    shutdown: Receiver<()>,
    sessions_done: Receiver<()>,
) {
    let mut hub = Hub {
        config,
        conns: HashMap::new(),
        members: BTreeMap::new(),
        history: VecDeque::new(),
        last_id: 0,
        dirty: Vec::new(),
    };
    loop {
        select_biased! {
            recv(shutdown) -> _ => break,
            recv(commands) -> command => match command {
                Ok(command) => hub.handle(command),
                Err(_) => break,
            },
        }
        for command in commands.try_iter().take(ROUND - 1) {
            hub.handle(command);
        }
        hub.flush();
    }
    hub.shut_down(&commands, &sessions_done);
}

impl Hub {
    fn handle(&mut self, command: Command) {
        match command {
            Command::Connect { id, peer, queue, socket } => {
                let conn = Conn {
                    peer,
                    queue,
                    socket,
                    mode: None,
                    nick: None,
                    staged: Frames::new(),
                    staged_bytes: 0,
                };
                self.conns.insert(id, conn);
            }
            Command::Mode { id, mode } => {
                if let Some(conn) = self.conns.get_mut(&id) {
                    conn.mode = Some(mode);
                }
            }
            Command::Hello { id, nick, joined } => {
                let _ = joined.send(self.join(id, nick));
            }
            Command::Say { id, text, to, action } => self.say(id, text, to, action),
            Command::Rename { id, nick } => self.rename(id, nick),
            Command::Who { id } => {
                let users = self.users();
                self.reply(id, &Event::Who { users });
            }
            Command::Ping { id, token } => self.reply(id, &Event::Pong { token }),
            Command::Quit { id, reason } => {
                let reason = match reason.filter(|r| !r.is_empty()) {
                    Some(reason) => format!("quit: {reason}"),
                    None => "quit".to_owned(),
                };
                self.reply(id, &Event::Bye { reason: reason.clone() });
                self.remove(id, &reason);
            }
            Command::Send { id, frame } => {
                if !self.push_frame(id, frame) {
                    self.remove(id, TOO_SLOW);
                }
            }
            Command::Gone { id, reason } => self.remove(id, &reason),
        }
    }

    fn join(&mut self, id: ConnId, nick: String) -> bool {
        let Some(conn) = self.conns.get_mut(&id) else { return false };
        if conn.nick.is_some() {
            let message = "you have already joined; send a nick request to change your nick";
            self.reply(id, &Event::error(ErrorCode::BadRequest, message));
            return false;
        }
        if let Some(problem) = nick_problem(&nick) {
            self.reply(id, &Event::error(ErrorCode::BadNick, problem));
            return false;
        }
        let key = nick_key(&nick);
        if self.members.contains_key(&key) {
            self.reply(id, &nick_taken(&nick));
            return false;
        }
        conn.nick = Some(nick.clone());
        self.members.insert(key.clone(), id);
        let welcome = Event::Welcome {
            nick: nick.clone(),
            users: self.users(),
            motd: self.config.motd.clone(),
        };
        let replay =
            self.history.iter().map(|m| Event::Msg(ChatMessage { history: true, ..m.clone() }));
        let replay: Vec<Event> = replay.collect();
        let greeted =
            std::iter::once(welcome).chain(replay).all(|event| self.push(id, &event, &nick));
        if !greeted {
            // The queue cannot even hold the welcome: go before anyone saw the join.
            self.members.remove(&key);
            if let Some(conn) = self.conns.get_mut(&id) {
                conn.nick = None;
            }
            self.remove(id, TOO_SLOW);
            return false;
        }
        log::info(format_args!("join #{id} {} as {nick}", self.conns[&id].peer));
        self.broadcast_except(id, &Event::Join { ts: now_millis(), nick });
        true
    }

    fn say(&mut self, id: ConnId, text: String, to: Option<String>, action: bool) {
        let Some(from) = self.nick_of(id) else { return };
        let recipient = match &to {
            None => None,
            Some(to) => match self.members.get(&nick_key(to)) {
                Some(&other) => Some(other),
                None => {
                    let message = format!("nobody called {to} is here; /who lists who is");
                    self.reply(id, &Event::error(ErrorCode::UnknownUser, message));
                    return;
                }
            },
        };
        self.last_id += 1;
        let message = ChatMessage {
            id: self.last_id,
            ts: now_millis(),
            from,
            to: recipient.and_then(|r| self.nick_of(r)),
            text,
            action,
            history: false,
        };
        match recipient {
            Some(recipient) => self.deliver_private(id, recipient, message),
            None => {
                if self.config.history > 0 {
                    if self.history.len() == self.config.history {
                        self.history.pop_front();
                    }
                    self.history.push_back(message.clone());
                }
                self.broadcast(&Event::Msg(message));
            }
        }
    }

    fn deliver_private(&mut self, sender: ConnId, recipient: ConnId, message: ChatMessage) {
        let event = Event::Msg(message);
        self.reply(sender, &event);
        if recipient != sender {
            self.reply(recipient, &event);
        }
    }

    fn rename(&mut self, id: ConnId, new: String) {
        let Some(old) = self.nick_of(id) else { return };
        let (old_key, new_key) = (nick_key(&old), nick_key(&new));
        if new == old {
            return;
        }
        if new_key != old_key && self.members.contains_key(&new_key) {
            self.reply(id, &nick_taken(&new));
            return;
        }
        self.members.remove(&old_key);
        self.members.insert(new_key, id);
        if let Some(conn) = self.conns.get_mut(&id) {
            conn.nick = Some(new.clone());
        }
        log::info(format_args!("nick #{id} {old} is now {new}"));
        self.broadcast(&Event::Nick { ts: now_millis(), old, new });
    }

    /// Drops a connection: it leaves the room (if it had joined) and its socket
    /// is shut so its threads wake and end.
    fn remove(&mut self, id: ConnId, reason: &str) {
        let Some(mut conn) = self.conns.remove(&id) else { return };
        if reason == TOO_SLOW {
            // Its writer may be blocked on a full socket: this wakes it.
            let _ = conn.socket.shutdown(Direction::Both);
        } else {
            // Its writer still sends what is staged and queued (a `bye`), then closes.
            let _ = conn.flush();
            let _ = conn.socket.shutdown(Direction::Read);
        }
        match conn.nick {
            Some(nick) => {
                log::info(format_args!("leave #{id} {} {nick} ({reason})", conn.peer));
                self.members.remove(&nick_key(&nick));
                let leave = Event::Leave { ts: now_millis(), nick, reason: reason.to_owned() };
                self.broadcast(&leave);
            }
            None => log::info(format_args!("close #{id} {} ({reason})", conn.peer)),
        }
    }

    /// Sends `event` to one connection, in its mode; a full queue drops it.
    fn reply(&mut self, id: ConnId, event: &Event) {
        let viewer = self.nick_of(id).unwrap_or_default();
        if !self.push(id, event, &viewer) {
            self.remove(id, TOO_SLOW);
        }
    }

    /// Stages `event` for `id`; false if its queue is full (the caller drops it).
    fn push(&mut self, id: ConnId, event: &Event, viewer: &str) -> bool {
        let Some(mode) = self.conns.get(&id).and_then(|conn| conn.mode) else { return true };
        self.push_frame(id, encode_for(mode, event, viewer))
    }

    /// Stages bytes for `id`; false only if its queue is full.
    fn push_frame(&mut self, id: ConnId, frame: Frame) -> bool {
        let Some(conn) = self.conns.get_mut(&id) else { return true };
        conn.stage(id, frame, &mut self.dirty)
    }

    /// Ends a round: hands every client its staged frames. Dropping a client
    /// that overflowed stages its leave for the others, hence the loop.
    fn flush(&mut self) {
        while !self.dirty.is_empty() {
            let mut too_slow = Vec::new();
            for id in std::mem::take(&mut self.dirty) {
                let full = self
                    .conns
                    .get_mut(&id)
                    .is_some_and(|conn| conn.flush() == Err(PushError::Full));
                if full {
                    too_slow.push(id);
                }
            }
            for id in too_slow {
                self.remove(id, TOO_SLOW);
            }
        }
    }

    /// Sends `event` to every member; the bytes are encoded once per mode.
    fn broadcast(&mut self, event: &Event) {
        self.broadcast_except(ConnId::MAX, event);
    }

    fn broadcast_except(&mut self, except: ConnId, event: &Event) {
        let mut encoded = Encoded::default();
        let mut too_slow = Vec::new();
        for &id in self.members.values() {
            let Some(conn) = self.conns.get_mut(&id) else { continue };
            let Some(mode) = conn.mode.filter(|_| id != except) else { continue };
            if !conn.stage(id, encoded.get(mode, event), &mut self.dirty) {
                too_slow.push(id);
            }
        }
        for id in too_slow {
            self.remove(id, TOO_SLOW);
        }
    }

    fn nick_of(&self, id: ConnId) -> Option<String> {
        self.conns.get(&id).and_then(|conn| conn.nick.clone())
    }

    fn users(&self) -> Vec<String> {
        self.members.values().filter_map(|id| self.nick_of(*id)).collect()
    }

    /// Says `bye` to everyone, lets the writers flush, then closes what is left.
    fn shut_down(mut self, commands: &Receiver<Command>, sessions_done: &Receiver<()>) {
        log::info(format_args!("shutting down: saying bye to {} connections", self.conns.len()));
        let bye = Event::Bye { reason: "server shutting down".into() };
        let mut sockets = Vec::with_capacity(self.conns.len());
        for (_, conn) in self.conns.drain() {
            if let Some(mode) = conn.mode {
                let bye = encode_for(mode, &bye, "");
                let bytes = bye.len();
                let _ = conn.queue.push(vec![bye], bytes);
            }
            let _ = conn.socket.shutdown(Direction::Read);
            sockets.push(conn.socket);
        }
        self.members.clear();
        let deadline = Instant::now() + SHUTDOWN_GRACE;
        loop {
            select_biased! {
                recv(sessions_done) -> _ => break,
                // Keep draining so no connection blocks on a full command channel.
                recv(commands) -> command => if let Ok(Command::Connect { socket, .. }) = command {
                    let _ = socket.shutdown(Direction::Both);
                },
                default(deadline.saturating_duration_since(Instant::now())) => {
                    log::info(format_args!("grace period over; closing remaining connections"));
                    break;
                }
            }
        }
        for socket in sockets {
            let _ = socket.shutdown(Direction::Both);
        }
    }
}

/// An event encoded lazily, at most once per mode, for a broadcast.
#[derive(Default)]
struct Encoded {
    json: Option<Frame>,
    plain: Option<Frame>,
}

impl Encoded {
    fn get(&mut self, mode: Mode, event: &Event) -> Frame {
        let slot = match mode {
            Mode::Json => &mut self.json,
            Mode::Plain => &mut self.plain,
        };
        slot.get_or_insert_with(|| encode_for(mode, event, "")).clone()
    }
}

fn encode_for(mode: Mode, event: &Event, viewer: &str) -> Frame {
    match mode {
        Mode::Json => encode(event).into(),
        Mode::Plain => plain::render(event, viewer).into_bytes().into(),
    }
}

fn nick_taken(nick: &str) -> Event {
    Event::error(ErrorCode::NickTaken, format!("the nick {nick} is taken; pick another"))
}

fn now_millis() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}
