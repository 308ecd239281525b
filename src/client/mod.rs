//! `chat connect`: the terminal client.
//!
//! On a terminal it is interactive: a rustyline prompt (`alice> `) that stays
//! intact while messages print above it, commands and Tab completion, and a
//! reconnect with backoff when the server goes away. With stdin piped it sends
//! each line as a message and exits once the server has handled them all.
//!
//! # Architecture
//! - [`repl`] (main thread): joins, then reads what the person types (through
//!   [`input`]: the [`editor`], or plain stdin lines) and sends it over the
//!   shared write side of the connection, [`connection::Link`].
//! - [`session`] (its own thread): owns the read side; keeps the [`room`] view
//!   up to date, [`render`]s events and prints them through the [`screen`];
//!   when the connection drops it reconnects with [`reconnect`]'s backoff.
//! - [`screen`] (its own thread): the only writer to the terminal, batching
//!   lines so that a flood costs few prompt redraws.
//! - [`pipe`]: the piped mode, on its own.
//!
//! The client depends on [`crate::protocol`] only, never on the server.

pub mod connection;
pub mod editor;
pub mod input;
pub mod pipe;
pub mod reconnect;
pub mod render;
pub mod repl;
pub mod room;
pub mod screen;
pub mod session;

use std::io::{self, IsTerminal as _};

/// The client's settings; `chat connect --help` documents each.
#[derive(Debug, Clone)]
pub struct Config {
    /// The server, `HOST:PORT`.
    pub addr: String,
    /// The nick to join with (already checked against the nick rules).
    pub nick: String,
    /// Reconnect when the server goes away, instead of exiting.
    pub reconnect: bool,
    /// Ring the terminal bell on mentions and private messages.
    pub bell: bool,
}

/// Runs the client: interactive when stdin is a terminal, piped otherwise.
///
/// # Errors
/// One sentence for a person, e.g. `cannot connect to 127.0.0.1:5000:
/// connection refused; is the server running?`
pub fn run(config: &Config) -> io::Result<()> {
    if io::stdin().is_terminal() {
        repl::run(config, render::Style::new(colour_wanted(), config.bell))
    } else {
        pipe::run(config)
    }
}

/// Colours only on a terminal that has them (not `TERM=dumb`), and never
/// when `NO_COLOR` is set to anything non-empty (<https://no-color.org>).
fn colour_wanted() -> bool {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|value| !value.is_empty());
    let dumb = std::env::var_os("TERM").is_some_and(|term| term == "dumb");
    io::stdout().is_terminal() && !no_color && !dumb
}
