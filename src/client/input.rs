//! [`Input`]: where typed lines come from.
//!
//! On a terminal rustyline supports, lines come from the line editor, on the
//! main thread. Anywhere else (a pipe, `TERM=dumb`, stdout redirected) there is
//! nothing to edit: a helper thread reads stdin line by line, and the main
//! thread waits on that *and* on the session ending, so it never needs waking.

use std::io::{self, IsTerminal as _};
use std::thread;

use crossbeam_channel::{select, Receiver};
use rustyline::error::ReadlineError;

use super::editor::{self, LineEditor, Noticed, Waker};
use super::room::SharedRoom;
use super::screen::{Gate, Sink};
use super::session::Ending;
use crate::protocol::{Line, LineReader};

/// Longest line read from stdin; longer ones are skipped (and reported), so
/// that endless input without a newline cannot exhaust memory.
const MAX_TYPED_LINE: usize = 1024 * 1024;

/// One line from stdin, or the news that it was too long.
pub type StdinLine = Result<String, TooLong>;

/// A line from stdin was longer than [`MAX_TYPED_LINE`] and was skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooLong;

/// A source of typed lines.
pub enum Input {
    /// The line editor, on a terminal it supports.
    Editor {
        /// The editor itself (boxed: it is large).
        editor: Box<LineEditor>,
        /// The screen's gate, which the editor opens and closes.
        gate: Gate,
        /// Dropped once the end of the session is noticed, which stops the
        /// session's [`Waker`].
        noticed: Option<Noticed>,
    },
    /// Lines read from stdin by a helper thread.
    Lines(Receiver<StdinLine>),
}

/// What [`Input::read`] got.
pub enum Typed {
    /// A line, without its ending.
    Line(String),
    /// A line too long to use.
    TooLong,
    /// Ctrl-D, end of input, or Ctrl-C on an empty line.
    Quit,
    /// The session ended on its own (see [`Ending`]).
    Ended(Ending),
}

impl Input {
    /// The editor if the terminal supports it, else stdin lines; with the
    /// matching output sink, and the waker the session needs for the editor.
    ///
    /// # Errors
    /// If the editor or the stdin thread cannot be set up.
    pub fn open(room: SharedRoom) -> io::Result<(Input, Sink, Option<Waker>)> {
        if io::stdin().is_terminal() {
            let gate = Gate::default();
            let mut editor = editor::new(room, &gate).map_err(io::Error::other)?;
            // Fails when stdout is not a terminal or TERM is dumb/unsupported.
            if let Ok(printer) = editor.create_external_printer() {
                let (waker, noticed) = editor::waker();
                let sink = Sink::Editor { printer: Box::new(printer), gate: gate.clone() };
                let editor = Box::new(editor);
                let input = Input::Editor { editor, gate, noticed: Some(noticed) };
                return Ok((input, sink, Some(waker)));
            }
        }
        Ok((Input::Lines(stdin_lines()?), Sink::Stdout, None))
    }

    /// Waits for the next line, showing `prompt` if there is an editor, or for
    /// the session to end (`ended`).
    ///
    /// # Errors
    /// If the terminal fails.
    pub fn read(&mut self, prompt: &str, ended: &Receiver<Ending>) -> io::Result<Typed> {
        match self {
            Input::Editor { editor, gate, noticed } => {
                let typed = read_editor(editor, prompt, gate, ended)?;
                if let Typed::Ended(_) = typed {
                    noticed.take();
                }
                Ok(typed)
            }
            Input::Lines(lines) => Ok(select! {
                recv(lines) -> line => match line {
                    Ok(Ok(line)) => Typed::Line(line),
                    Ok(Err(TooLong)) => Typed::TooLong,
                    Err(_) => Typed::Quit,
                },
                recv(ended) -> ending => match ending {
                    Ok(ending) => Typed::Ended(ending),
                    Err(_) => Typed::Quit,
                },
            }),
        }
    }
}

/// A line from the editor. `ended` is checked first, and again after an
/// interrupt, which may be the session's wake-up call rather than Ctrl-C.
fn read_editor(
    editor: &mut LineEditor,
    prompt: &str,
    gate: &Gate,
    ended: &Receiver<Ending>,
) -> io::Result<Typed> {
    if let Ok(ending) = ended.try_recv() {
        return Ok(Typed::Ended(ending));
    }
    match editor::read_line(editor, prompt, gate) {
        Ok(line) => Ok(Typed::Line(line)),
        Err(ReadlineError::Interrupted) => Ok(ended.try_recv().map_or(Typed::Quit, Typed::Ended)),
        Err(ReadlineError::Eof) => Ok(Typed::Quit),
        Err(err) => Err(io::Error::other(format!("cannot read the terminal: {err}"))),
    }
}

/// Starts a thread that reads stdin line by line; the channel closes at the
/// end of input (or on a read error, which ends input just the same).
///
/// # Errors
/// If the thread cannot be started.
pub fn stdin_lines() -> io::Result<Receiver<StdinLine>> {
    let (send, lines) = crossbeam_channel::bounded(64);
    thread::Builder::new().name("stdin".into()).spawn(move || {
        let mut reader = LineReader::new(io::stdin(), MAX_TYPED_LINE);
        while let Ok(Some(line)) = reader.next_line() {
            let line = match line {
                Line::Complete(bytes) => Ok(String::from_utf8_lossy(&bytes).into_owned()),
                Line::TooLong => Err(TooLong),
            };
            if send.send(line).is_err() {
                return;
            }
        }
    })?;
    Ok(lines)
}
