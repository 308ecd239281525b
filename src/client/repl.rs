//! The interactive client: join (asking for another nick if the first one is
//! taken), start the session thread, then read what the person types and act
//! on it until they quit.
//!
//! This runs on the main thread, which only ever waits on the person: sending
//! a line is one short write, and while the connection is down the line is
//! refused at once with a clear word rather than queued or blocked on.

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::connection::{self, Connection, Joined, NotConnected};
use super::input::{Input, Typed};
use super::render::Style;
use super::room::{self, Room, SharedRoom};
use super::screen::Screen;
use super::session::{self, Ending, Settings};
use super::Config;
use crate::protocol::command::{self, HELP};
use crate::protocol::text::{clean, nick_problem};
use crate::protocol::{ErrorCode, Request};

/// How long to wait for the server to confirm a `quit` before exiting anyway.
const QUIT_GRACE: Duration = Duration::from_secs(2);

/// How long to wait, after `/nick`, for the server's answer, so that the next
/// prompt shows the new nick (or the refusal is printed above it).
const SYNC_TIMEOUT: Duration = Duration::from_secs(2);

/// The prompt while choosing another nick at start-up.
const NICK_PROMPT: &str = "nick> ";

/// The keys, for `/help`.
const KEYS: &str =
    "Keys: Tab completes nicks and commands, Up/Down recall, Ctrl-C clears the line, Ctrl-D quits.";

/// What to do after a line.
enum Flow {
    Continue,
    Quit(Option<String>),
}

/// The interactive client after joining.
struct Repl {
    input: Input,
    /// The session thread: the link to send on, its pongs and its ending.
    /// Dropping it tells the session to stop waiting to reconnect.
    session: session::Handle,
    room: SharedRoom,
    screen: Screen,
    style: Style,
    /// Counts the pings sent to wait for an answer; makes their tokens unique.
    syncs: u64,
}

/// Runs the interactive client until the person quits.
///
/// # Errors
/// A sentence if the server cannot be reached, refuses us for a reason other
/// than the nick, or is lost with reconnecting off.
pub fn run(config: &Config, style: Style) -> io::Result<()> {
    let mut connection = connection::open(&config.addr)?;
    let room = Room::shared(&config.nick);
    let (mut input, sink, waker) = Input::open(Arc::clone(&room))?;
    let screen = Screen::start(sink)?;
    let result = match join(config, &mut connection, &mut input, &screen, style, &room) {
        Ok(Some(joined)) => {
            // Known before the first prompt, so that Tab completes at once.
            room::lock(&room).apply(&joined.welcome);
            let settings = Settings {
                addr: config.addr.clone(),
                room: Arc::clone(&room),
                screen: screen.clone(),
                style,
                reconnect: config.reconnect,
                waker,
            };
            session::spawn(settings, connection, joined).and_then(|session| {
                let screen = screen.clone();
                Repl { input, session, room, screen, style, syncs: 0 }.run()
            })
        }
        Ok(None) => Ok(()),
        Err(err) => Err(err),
    };
    screen.finish();
    result
}

/// Says hello until a nick is accepted; a taken or refused nick lets the
/// person type another. `None` if they gave up (Ctrl-D).
fn join(
    config: &Config,
    connection: &mut Connection,
    input: &mut Input,
    screen: &Screen,
    style: Style,
    room: &SharedRoom,
) -> io::Result<Option<Joined>> {
    loop {
        let nick = room::lock(room).me().to_owned();
        let refusal = match connection.hello(&nick)? {
            Ok(joined) => return Ok(Some(joined)),
            Err(refusal) => refusal,
        };
        if !matches!(refusal.code, ErrorCode::NickTaken | ErrorCode::BadNick) {
            let why = clean(&refusal.message);
            return Err(io::Error::other(format!("{} did not let you in: {why}", config.addr)));
        }
        screen.line(style.problem(&refusal.message));
        match ask_nick(input, screen, style)? {
            Some(nick) => room::lock(room).set_me(&nick),
            None => return Ok(None),
        }
    }
}

/// Asks for a nick until a valid one is typed; `None` on Ctrl-D / Ctrl-C.
fn ask_nick(input: &mut Input, screen: &Screen, style: Style) -> io::Result<Option<String>> {
    screen.line(style.notice("Type another nick and press Enter (Ctrl-D gives up)."));
    loop {
        let nick = match input.read(NICK_PROMPT, &crossbeam_channel::never())? {
            Typed::Line(line) => line.trim().to_owned(),
            Typed::TooLong => String::new(),
            Typed::Quit | Typed::Ended(_) => return Ok(None),
        };
        match nick_problem(&nick) {
            None => return Ok(Some(nick)),
            Some(problem) => screen.line(style.problem(&problem)),
        }
    }
}

impl Repl {
    fn run(mut self) -> io::Result<()> {
        loop {
            let prompt = format!("{}> ", room::lock(&self.room).me());
            let flow = match self.input.read(&prompt, &self.session.ended)? {
                // A paste can hold several lines: each is its own message.
                Typed::Line(text) => text
                    .split('\n')
                    .map(|line| self.act(line))
                    .find(|flow| matches!(flow, Flow::Quit(_)))
                    .unwrap_or(Flow::Continue),
                Typed::TooLong => {
                    self.problem("That line is too long to send.");
                    Flow::Continue
                }
                Typed::Quit => Flow::Quit(None),
                Typed::Ended(Ending::Quit) => return Ok(()),
                Typed::Ended(Ending::Lost(why)) => return Err(io::Error::other(why)),
            };
            if let Flow::Quit(reason) = flow {
                return self.quit(reason);
            }
        }
    }

    /// Acts on one typed line.
    fn act(&mut self, line: &str) -> Flow {
        match command::parse(line) {
            Ok(command::Input::Nothing) => {}
            Ok(command::Input::Help) => {
                let lines = HELP.iter().chain([&KEYS]).map(|line| self.style.notice(line));
                self.screen.lines(lines.collect::<Vec<_>>());
            }
            Ok(command::Input::Send(Request::Quit { reason })) => return Flow::Quit(reason),
            Ok(command::Input::Send(Request::Nick { nick })) => self.rename(nick),
            Ok(command::Input::Send(request)) => {
                if self.session.link.send(&request) == Err(NotConnected) {
                    let line = line.trim();
                    self.problem(&format!("Not connected, so this was not sent: {line}"));
                }
            }
            Err(hint) => self.problem(&hint),
        }
        Flow::Continue
    }

    /// `/nick`: asks the server and waits for its answer, so that the next
    /// prompt is right; while disconnected, picks the nick to rejoin with.
    fn rename(&mut self, nick: String) {
        match self.session.link.send(&Request::Nick { nick: nick.clone() }) {
            Ok(()) => self.sync(),
            Err(NotConnected) => match nick_problem(&nick) {
                Some(problem) => self.problem(&problem),
                None => {
                    room::lock(&self.room).set_me(&nick);
                    self.notice(&format!("Not connected; you will rejoin as {nick}."));
                }
            },
        }
    }

    /// Waits until the server has handled everything sent so far: it answers
    /// in order, so the pong to a fresh ping comes after all of it.
    fn sync(&mut self) {
        self.syncs += 1;
        let token = format!("chat-sync-{}", self.syncs);
        if self.session.link.send(&Request::Ping { token: Some(token.clone()) }).is_err() {
            return;
        }
        let deadline = Instant::now() + SYNC_TIMEOUT;
        while let Ok(pong) = self.session.pongs.recv_deadline(deadline) {
            if pong == token {
                return;
            }
        }
    }

    /// Leaves: sends `quit` and waits (briefly) for the server to close, so
    /// the others see a proper leave with the reason.
    fn quit(self, reason: Option<String>) -> io::Result<()> {
        if self.session.link.quit(reason) {
            let _ = self.session.ended.recv_timeout(QUIT_GRACE);
        }
        Ok(())
    }

    fn notice(&self, text: &str) {
        self.screen.line(self.style.notice(text));
    }

    fn problem(&self, text: &str) {
        self.screen.line(self.style.problem(text));
    }
}
