//! Piped mode, for scripts: `echo "deploy done" | chat connect --nick ci`.
//!
//! Each line of stdin is sent as a message, as it is: a line that starts with
//! `/` is text too, so log lines and paths go through unchanged. At the end of
//! input a `ping` goes out; the server answers in order, so its `pong` proves
//! every line was handled. Then the client quits and exits 0.
//!
//! Nothing is printed but problems, on stderr. A server with flood control
//! takes a long input at its own pace, and the client waits for it. A line the
//! server refused (too long, for instance) makes the exit status 1, and so
//! does losing the connection: piped mode never reconnects, because a script
//! must learn that its lines may not have arrived.

use std::io::{self, Write};
use std::net::TcpStream;
use std::thread;
use std::time::Duration;

use crossbeam_channel::{select, Receiver};

use super::connection::{self, describe, Events};
use super::input::{stdin_lines, TooLong};
use super::Config;
use crate::protocol::message::encode;
use crate::protocol::text::clean;
use crate::protocol::{Event, Request};

/// The ping token sent after the last line.
const SENT_TOKEN: &str = "chat-all-sent";

/// How long the server may stay silent while we wait for it to handle our
/// lines (each one is echoed back to us, so a working server is not silent).
const SILENCE_TIMEOUT: Duration = Duration::from_secs(30);

/// How long to wait for the server to close after our `quit`.
const QUIT_GRACE: Duration = Duration::from_secs(2);

/// Sends stdin, line by line, then exits once the server has handled it all.
///
/// # Errors
/// A sentence when the server cannot be reached, refuses the nick, refuses
/// some lines, or is lost before it confirmed them.
pub fn run(config: &Config) -> io::Result<()> {
    let mut connection = connection::open(&config.addr)?;
    if let Err(refusal) = connection.hello(&config.nick)? {
        let why = clean(&refusal.message);
        let message = format!("{} did not let {} in: {why}", config.addr, config.nick);
        return Err(io::Error::other(message));
    }
    let (stream, events) = connection.into_parts();
    // The server's flood control may pace a long input for as long as it
    // takes, so a write may wait that long too; a server that is gone for
    // good is still noticed (TCP keepalive, or its closing).
    stream.set_write_timeout(None)?;
    let mut delivery = Delivery {
        addr: &config.addr,
        stream,
        server: forward_replies(events)?,
        lines: 0,
        sent: 0,
        refused: 0,
    };
    delivery.send_all(&stdin_lines()?)?;
    delivery.confirm()?;
    delivery.quit();
    match delivery.refused {
        0 => Ok(()),
        refused => Err(io::Error::other(format!(
            "{refused} of {} lines were not delivered (see above)",
            delivery.lines
        ))),
    }
}

/// The lines sent so far and what became of them.
struct Delivery<'a> {
    addr: &'a str,
    stream: TcpStream,
    /// Errors, pongs and byes from the server; disconnects when it closes.
    server: Receiver<Event>,
    /// Lines of input, empty ones not counted.
    lines: usize,
    /// Lines written to the server.
    sent: usize,
    /// Lines skipped or refused by the server.
    refused: usize,
}

impl Delivery<'_> {
    /// Sends every line of `lines` until the end of input, minding the
    /// server's answers meanwhile.
    fn send_all(&mut self, lines: &Receiver<Result<String, TooLong>>) -> io::Result<()> {
        loop {
            select! {
                recv(lines) -> line => match line {
                    Ok(Ok(text)) if text.trim().is_empty() => {}
                    Ok(Ok(text)) => {
                        self.lines += 1;
                        self.write(&Request::Msg { text, to: None })?;
                        self.sent += 1;
                    }
                    Ok(Err(TooLong)) => {
                        self.lines += 1;
                        self.refuse("a line of input is too long; it was skipped");
                    }
                    Err(_) => return Ok(()), // end of input
                },
                recv(self.server) -> event => match event {
                    Ok(event) => self.note(&event),
                    Err(_) => return Err(self.lost()),
                },
            }
        }
    }

    /// Waits for the pong that follows the last line.
    fn confirm(&mut self) -> io::Result<()> {
        self.write(&Request::Ping { token: Some(SENT_TOKEN.to_owned()) })?;
        loop {
            match self.server.recv_timeout(SILENCE_TIMEOUT) {
                Ok(Event::Pong { token: Some(token) }) if token == SENT_TOKEN => return Ok(()),
                Ok(event) => self.note(&event),
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => {
                    let seconds = SILENCE_TIMEOUT.as_secs();
                    let message = format!("{} stopped answering for {seconds} s", self.addr);
                    return Err(io::Error::new(io::ErrorKind::TimedOut, message));
                }
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => return Err(self.lost()),
            }
        }
    }

    /// Says `quit` and waits briefly for the server to close: everyone then
    /// sees a clean leave.
    fn quit(&mut self) {
        if self.write(&Request::Quit { reason: None }).is_ok() {
            while self.server.recv_timeout(QUIT_GRACE).is_ok() {}
        }
    }

    fn note(&mut self, event: &Event) {
        if let Event::Error { message, .. } = event {
            self.refuse(&format!("the server refused a line: {message}"));
        }
    }

    fn refuse(&mut self, why: &str) {
        self.refused += 1;
        eprintln!("chat: {}", clean(why));
    }

    fn write(&mut self, request: &Request) -> io::Result<()> {
        self.stream.write_all(&encode(request)).map_err(|err| {
            let message =
                format!("lost the connection to {} while sending: {}", self.addr, describe(&err));
            io::Error::new(err.kind(), message)
        })
    }

    fn lost(&self) -> io::Error {
        let message = format!(
            "lost the connection to {} before it confirmed the lines sent ({} so far)",
            self.addr, self.sent
        );
        io::Error::new(io::ErrorKind::ConnectionAborted, message)
    }
}

/// Reads the server's events on a thread of its own (they must be drained,
/// or the echoes of our own lines would fill the server's queue for us) and
/// passes on those that matter here: errors, pongs and byes.
fn forward_replies(mut events: Events) -> io::Result<Receiver<Event>> {
    let (replies, server) = crossbeam_channel::bounded(1024);
    thread::Builder::new().name("replies".into()).spawn(move || {
        while let Ok(Some(event)) = events.next_event() {
            let matters =
                matches!(event, Event::Error { .. } | Event::Pong { .. } | Event::Bye { .. });
            if matters && replies.send(event).is_err() {
                return;
            }
        }
    })?;
    Ok(server)
}
