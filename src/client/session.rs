//! The session thread: keeps the client in the room.
//!
//! It owns the read side of the connection: it reads events, keeps the
//! [`Room`](super::room::Room) up to date, and prints each event through the
//! [`Screen`]. When the connection ends without a `quit`, it says so, then
//! reconnects with [`Backoff`] and rejoins with the same nick, showing what was
//! missed; the main thread, meanwhile, goes on reading what people type.
//! With reconnecting turned off, it tells the main thread instead (see
//! [`Ending`]) and wakes it.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::thread::{self, JoinHandle};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use super::connection::{self, describe, Events, Joined, Link, Refusal};
use super::editor::Waker;
use super::reconnect::{jitter, Backoff};
use super::render::Style;
use super::room::{self, SharedRoom};
use super::screen::Screen;
use crate::protocol::{ChatMessage, ErrorCode, Event};

/// How many recent messages are remembered, to tell apart, in the history
/// replayed after a reconnect, what was seen from what was missed.
const SEEN_MESSAGES: usize = 1024;

/// How a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// After our `quit`, or because the client is exiting.
    Quit,
    /// The connection was lost and reconnecting is off; one sentence why.
    Lost(String),
}

/// Everything the session thread needs.
pub struct Session {
    /// The server's address, as given.
    pub addr: String,
    /// The read side of the joined connection; replaced after a reconnect.
    pub events: Events,
    /// The write side, shared with the main thread; swapped on reconnect.
    pub link: Arc<Link>,
    /// Kept up to date from the events.
    pub room: SharedRoom,
    /// Where events are printed.
    pub screen: Screen,
    /// How events are printed.
    pub style: Style,
    /// Reconnect after a loss, or end the session.
    pub reconnect: bool,
    /// The tokens of pongs, for the main thread's waits.
    pub pongs: Sender<String>,
    /// Disconnects when the main thread is done: stops waiting to reconnect.
    pub stop: Receiver<()>,
    /// Wakes the main thread out of the editor when the session ends.
    pub waker: Option<Waker>,
}

/// Starts the session thread; it sends its [`Ending`] on `ended`.
///
/// `joined` is the handshake that opened the connection, shown first.
///
/// # Errors
/// If the thread cannot be started.
pub fn spawn(
    session: Session,
    joined: Joined,
    ended: Sender<Ending>,
) -> std::io::Result<JoinHandle<()>> {
    thread::Builder::new().name("session".into()).spawn(move || {
        let mut running = Running { session, seen: Seen::default() };
        running.show_joined(joined, false);
        let ending = running.run();
        // Only a loss comes unasked: after a quit, the main thread is already
        // waiting for this ending, not sitting in the editor.
        let lost = matches!(ending, Ending::Lost(_));
        let _ = ended.send(ending);
        if let (true, Some(waker)) = (lost, &running.session.waker) {
            waker.wake();
        }
    })
}

/// A session at work.
struct Running {
    session: Session,
    seen: Seen,
}

impl Running {
    fn run(&mut self) -> Ending {
        loop {
            let why = self.read_until_closed();
            let session = &self.session;
            if session.link.is_quitting() {
                return Ending::Quit;
            }
            session.link.detach();
            if !session.reconnect {
                return Ending::Lost(format!("lost the connection to {}: {why}", session.addr));
            }
            match self.rejoin(&why) {
                Some(events) => self.session.events = events,
                None => return Ending::Quit,
            }
        }
    }

    /// Shows events until the connection ends; returns why it ended.
    fn read_until_closed(&mut self) -> String {
        let mut bye = None;
        loop {
            match self.session.events.next_event() {
                Ok(Some(Event::Bye { reason })) => bye = Some(reason),
                Ok(Some(Event::Pong { token: Some(token) })) => {
                    let _ = self.session.pongs.try_send(token);
                }
                Ok(Some(event)) => self.show(&event),
                Ok(None) => {
                    return bye.unwrap_or_else(|| "the server closed the connection".to_owned())
                }
                Err(err) => return describe(&err),
            }
        }
    }

    fn show(&mut self, event: &Event) {
        if let Event::Msg(message) = event {
            self.seen.insert(message);
        }
        let mut room = room::lock(&self.session.room);
        let lines = self.session.style.event(event, room.me());
        room.apply(event);
        drop(room);
        self.session.screen.lines(lines);
    }

    /// Shows a fresh join: the welcome (or, after a reconnect, a short notice),
    /// the replayed history framed as such, then what happened meanwhile.
    fn show_joined(&mut self, joined: Joined, rejoined: bool) {
        let style = self.session.style;
        let history: Vec<ChatMessage> = if rejoined {
            joined.history.into_iter().filter(|m| !self.seen.contains(m)).collect()
        } else {
            joined.history
        };
        if rejoined {
            let mut room = room::lock(&self.session.room);
            room.apply(&joined.welcome);
            let here = room.users().join(", ");
            let notice =
                format!("Reconnected to {} as {}. Here now: {here}", self.session.addr, room.me());
            drop(room);
            self.session.screen.line(style.notice(&notice));
        } else {
            self.show(&joined.welcome);
        }
        if !history.is_empty() {
            let me = room::lock(&self.session.room).me().to_owned();
            self.session.screen.line(style.history_start(history.len(), rejoined));
            for message in &history {
                self.seen.insert(message);
                self.session.screen.line(style.message(message, &me));
            }
            self.session.screen.line(style.history_end());
        }
        for event in &joined.live {
            self.show(event);
        }
    }

    /// Tries to get back in until it works or the client exits. Typing goes
    /// on meanwhile; the waits block on `stop`, so they cost no CPU and end
    /// at once when the client exits.
    fn rejoin(&mut self, why: &str) -> Option<Events> {
        let mut backoff = Backoff::new();
        let mut notice = format!("Disconnected: {why}.");
        loop {
            let delay = backoff.next_delay(jitter());
            let seconds = delay.as_secs_f64().ceil();
            let next = format!("{notice} Reconnecting in {seconds} s (Ctrl-D quits).");
            self.session.screen.line(self.session.style.notice(&next));
            match self.session.stop.recv_timeout(delay) {
                Err(RecvTimeoutError::Timeout) => {}
                Ok(()) | Err(RecvTimeoutError::Disconnected) => return None,
            }
            let nick = room::lock(&self.session.room).me().to_owned();
            notice = match connection::open(&self.session.addr) {
                Err(unreachable) => format!("Cannot reconnect: {}.", unreachable.cause()),
                Ok(mut connection) => match connection.hello(&nick) {
                    Ok(Ok(joined)) => {
                        let (stream, events) = connection.into_parts();
                        self.session.link.attach(stream);
                        self.show_joined(joined, true);
                        return Some(events);
                    }
                    Ok(Err(refusal)) => refused(&nick, &refusal),
                    Err(err) => format!("Cannot rejoin: {err}."),
                },
            };
        }
    }
}

/// Why a rejoin was refused, with what to do about it.
fn refused(nick: &str, refusal: &Refusal) -> String {
    match refusal.code {
        ErrorCode::NickTaken => format!(
            "Cannot rejoin: {nick} is still taken, maybe by your old connection; \
             /nick NAME rejoins as NAME."
        ),
        _ => format!("Cannot rejoin: {}.", refusal.message),
    }
}

/// The most recent messages shown, by id and time (ids restart with the
/// server, times tell those apart).
#[derive(Default)]
struct Seen {
    order: VecDeque<(u64, u64)>,
    set: HashSet<(u64, u64)>,
}

impl Seen {
    fn insert(&mut self, message: &ChatMessage) {
        let key = (message.id, message.ts);
        if self.set.insert(key) {
            self.order.push_back(key);
        }
        if self.order.len() > SEEN_MESSAGES {
            if let Some(oldest) = self.order.pop_front() {
                self.set.remove(&oldest);
            }
        }
    }

    fn contains(&self, message: &ChatMessage) -> bool {
        self.set.contains(&(message.id, message.ts))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(id: u64) -> ChatMessage {
        ChatMessage {
            id,
            ts: 1000 + id,
            from: "bob".into(),
            text: "hi".into(),
            to: None,
            action: false,
            history: true,
        }
    }

    #[test]
    fn seen_remembers_the_most_recent_messages() {
        let mut seen = Seen::default();
        for id in 0..(SEEN_MESSAGES as u64 + 10) {
            seen.insert(&message(id));
            seen.insert(&message(id));
        }
        assert!(!seen.contains(&message(0)), "the oldest are forgotten");
        assert!(seen.contains(&message(SEEN_MESSAGES as u64 + 9)));
        assert_eq!(seen.set.len(), SEEN_MESSAGES);
        let restarted = ChatMessage { ts: 1, ..message(20) };
        assert!(!seen.contains(&restarted), "same id after a server restart");
    }

    #[test]
    fn a_taken_nick_on_rejoin_says_what_to_do() {
        let taken = Refusal { code: ErrorCode::NickTaken, message: "taken".into() };
        assert!(refused("al", &taken).contains("/nick NAME"));
        let full = Refusal { code: ErrorCode::ServerFull, message: "full".into() };
        assert_eq!(refused("al", &full), "Cannot rejoin: full.");
    }
}
