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
use std::io;
use std::sync::Arc;
use std::thread;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use super::connection::{self, describe, Connection, Events, Joined, Link, Refusal};
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

/// What the session thread is given.
pub struct Settings {
    /// The server's address, as given.
    pub addr: String,
    /// Kept up to date from the events.
    pub room: SharedRoom,
    /// Where events are printed.
    pub screen: Screen,
    /// How events are printed.
    pub style: Style,
    /// Reconnect after a loss, or end the session.
    pub reconnect: bool,
    /// Wakes the main thread out of the editor when the session is lost.
    pub waker: Option<Waker>,
}

/// The main thread's side of a running session.
pub struct Handle {
    /// The write side of the connection, swapped by the session on reconnect.
    pub link: Arc<Link>,
    /// The tokens of pongs, for the main thread's waits.
    pub pongs: Receiver<String>,
    /// The session's one [`Ending`].
    pub ended: Receiver<Ending>,
    /// Dropped with the handle, which tells the session to stop waiting to
    /// reconnect.
    _stop: Sender<()>,
}

/// Starts the session thread over a joined `connection`; `joined` is its
/// handshake, shown first.
///
/// # Errors
/// If the thread cannot be started.
pub fn spawn(settings: Settings, connection: Connection, joined: Joined) -> io::Result<Handle> {
    let (stream, events) = connection.into_parts();
    let link = Arc::new(Link::new(stream));
    let (pongs_sender, pongs) = crossbeam_channel::bounded(16);
    let (stop_sender, stop) = crossbeam_channel::bounded(0);
    let (ended_sender, ended) = crossbeam_channel::bounded(1);
    let mut running = Running {
        settings,
        events,
        link: Arc::clone(&link),
        pongs: pongs_sender,
        stop,
        seen: Seen::default(),
    };
    thread::Builder::new().name("session".into()).spawn(move || {
        running.show_joined(joined, false);
        let ending = running.run();
        // Only a loss comes unasked: after a quit, the main thread is already
        // waiting for this ending, not sitting in the editor.
        let lost = matches!(ending, Ending::Lost(_));
        let _ = ended_sender.send(ending);
        if let (true, Some(waker)) = (lost, &running.settings.waker) {
            waker.wake();
        }
    })?;
    Ok(Handle { link, pongs, ended, _stop: stop_sender })
}

/// A session at work, on its thread.
struct Running {
    settings: Settings,
    /// The read side of the connection; replaced after a reconnect.
    events: Events,
    link: Arc<Link>,
    pongs: Sender<String>,
    /// Disconnects when the main thread is done.
    stop: Receiver<()>,
    seen: Seen,
}

impl Running {
    fn run(&mut self) -> Ending {
        loop {
            let why = self.read_until_closed();
            if self.link.is_quitting() {
                return Ending::Quit;
            }
            self.link.detach();
            if !self.settings.reconnect {
                let addr = &self.settings.addr;
                return Ending::Lost(format!("lost the connection to {addr}: {why}"));
            }
            match self.rejoin(&why) {
                Some(events) => self.events = events,
                None => return Ending::Quit,
            }
        }
    }

    /// Shows events until the connection ends; returns why it ended.
    fn read_until_closed(&mut self) -> String {
        let mut bye = None;
        loop {
            match self.events.next_event() {
                Ok(Some(Event::Bye { reason })) => bye = Some(reason),
                Ok(Some(Event::Pong { token: Some(token) })) => {
                    let _ = self.pongs.try_send(token);
                }
                Ok(Some(event)) => self.show(&event),
                Ok(None) => {
                    return bye.unwrap_or_else(|| "the server closed the connection".to_owned())
                }
                Err(err) => return describe(&err),
            }
        }
    }

    /// Prints one event (as seen before it changes the room) and follows it.
    fn show(&mut self, event: &Event) {
        if let Event::Msg(message) = event {
            self.seen.insert(message);
        }
        let mut room = room::lock(&self.settings.room);
        let lines = self.settings.style.event(event, room.me());
        room.apply(event);
        drop(room);
        self.settings.screen.lines(lines);
    }

    /// Shows a fresh join: the welcome (after a reconnect, a short notice
    /// instead), the replayed history framed as such (after a reconnect, only
    /// what was missed), then what happened during the handshake.
    fn show_joined(&mut self, joined: Joined, rejoined: bool) {
        if rejoined {
            let mut room = room::lock(&self.settings.room);
            room.apply(&joined.welcome);
            let (addr, me, here) = (&self.settings.addr, room.me(), room.users().join(", "));
            let notice = self
                .settings
                .style
                .notice(&format!("Reconnected to {addr} as {me}. Here now: {here}"));
            drop(room);
            self.settings.screen.line(notice);
        } else {
            self.show(&joined.welcome);
        }
        let seen = &self.seen;
        let history: Vec<ChatMessage> =
            joined.history.into_iter().filter(|m| !(rejoined && seen.contains(m))).collect();
        self.show_history(&history, rejoined);
        for event in &joined.live {
            self.show(event);
        }
    }

    /// Replayed messages, between a header and a footer.
    fn show_history(&mut self, history: &[ChatMessage], missed: bool) {
        if history.is_empty() {
            return;
        }
        let style = self.settings.style;
        let me = room::lock(&self.settings.room).me().to_owned();
        let mut lines = vec![style.history_start(history.len(), missed)];
        for message in history {
            self.seen.insert(message);
            lines.push(style.message(message, &me));
        }
        lines.push(style.history_end());
        self.settings.screen.lines(lines);
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
            self.settings.screen.line(self.settings.style.notice(&next));
            match self.stop.recv_timeout(delay) {
                Err(RecvTimeoutError::Timeout) => {}
                Ok(()) | Err(RecvTimeoutError::Disconnected) => return None,
            }
            notice = match self.try_rejoin() {
                Ok(events) => return Some(events),
                Err(why) => why,
            };
        }
    }

    /// One attempt: connect, hello with our nick, and on success take the
    /// new connection into use; otherwise, what went wrong.
    fn try_rejoin(&mut self) -> Result<Events, String> {
        let nick = room::lock(&self.settings.room).me().to_owned();
        let mut connection = connection::open(&self.settings.addr)
            .map_err(|unreachable| format!("Cannot reconnect: {}.", unreachable.cause()))?;
        let joined = match connection.hello(&nick) {
            Ok(Ok(joined)) => joined,
            Ok(Err(refusal)) => return Err(refused(&nick, &refusal)),
            Err(err) => return Err(format!("Cannot rejoin: {err}.")),
        };
        let (stream, events) = connection.into_parts();
        self.link.attach(stream);
        self.show_joined(joined, true);
        Ok(events)
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
