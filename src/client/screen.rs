//! [`Screen`]: the one way lines reach the terminal.
//!
//! Every line, from the session thread or the main thread, goes through one
//! channel to one printer thread, so lines never interleave and keep their
//! order. The printer hands them to rustyline's external printer, which prints
//! them above the prompt and redraws the half-typed line below. Each hand-over
//! costs a redraw and waits for the editor, so the printer takes everything
//! that is queued at once: under a flood, thousands of lines a second become a
//! few dozen redraws, and typing stays responsive (rustyline reads keys first).
//!
//! With an editor the printer only prints while the [`Gate`] is open, that is
//! while `readline` runs in raw mode. Outside it, rustyline's printer would
//! write straight to the terminal, and such a write can land in the middle of
//! the prompt being drawn; lines that come meanwhile just wait for the next
//! prompt. Without an editor (a pipe, `TERM=dumb`) the printer writes to stdout
//! whenever it likes.

use std::io::{self, Write};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};
use rustyline::ExternalPrinter;

/// Lines waiting for the printer. When the terminal cannot keep up, senders
/// wait: the session thread then stops reading, and TCP pushes back.
const QUEUE_LINES: usize = 8192;

/// Most lines printed in one go, so the prompt still shows up now and then
/// during a flood.
const BATCH_LINES: usize = 512;

/// How long [`Screen::finish`] waits for the printer.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(2);

/// Where the printer thread writes.
pub enum Sink {
    /// Above the prompt of a rustyline editor, while `gate` is open.
    Editor {
        /// The editor's external printer.
        printer: Box<dyn ExternalPrinter + Send>,
        /// Open while printing through `printer` is safe.
        gate: Gate,
    },
    /// Straight to stdout.
    Stdout,
}

/// Whether the editor is in a state where printing is safe; see the module
/// documentation. Opened and closed by the [`editor`](super::editor).
#[derive(Clone, Default)]
pub struct Gate {
    open: Arc<(Mutex<bool>, Condvar)>,
}

impl Gate {
    /// Lets the printer print.
    pub fn open(&self) {
        let (open, changed) = &*self.open;
        *open.lock().unwrap_or_else(PoisonError::into_inner) = true;
        changed.notify_all();
    }

    /// Holds the printer back (a print already under way still finishes).
    pub fn close(&self) {
        let (open, _) = &*self.open;
        *open.lock().unwrap_or_else(PoisonError::into_inner) = false;
    }

    fn wait_open(&self) {
        let (open, changed) = &*self.open;
        let guard = open.lock().unwrap_or_else(PoisonError::into_inner);
        let _open = changed.wait_while(guard, |open| !*open);
    }
}

enum Output {
    Line(String),
    /// Answered once everything queued before it is printed.
    Flush(Sender<()>),
}

/// A handle to the printer thread; clones share it.
#[derive(Clone)]
pub struct Screen {
    queue: Sender<Output>,
    /// The editor's gate, if there is an editor.
    gate: Option<Gate>,
}

impl Screen {
    /// Starts the printer thread. It ends when the last handle is dropped.
    ///
    /// # Errors
    /// If the thread cannot be started.
    pub fn start(sink: Sink) -> io::Result<Screen> {
        let (queue, lines) = crossbeam_channel::bounded(QUEUE_LINES);
        let gate = match &sink {
            Sink::Editor { gate, .. } => Some(gate.clone()),
            Sink::Stdout => None,
        };
        thread::Builder::new().name("screen".into()).spawn(move || print_all(&lines, sink))?;
        Ok(Screen { queue, gate })
    }

    /// Prints one line (given without its `\n`).
    pub fn line(&self, line: String) {
        let _ = self.queue.send(Output::Line(line));
    }

    /// Prints several lines, in order.
    pub fn lines(&self, lines: impl IntoIterator<Item = String>) {
        for line in lines {
            self.line(line);
        }
    }

    /// Prints everything still queued, for the last time: called once the
    /// editor is done, so the gate opens for good, then waits (briefly) until
    /// the last words are on the terminal.
    pub fn finish(&self) {
        if let Some(gate) = &self.gate {
            gate.open();
        }
        let (done, printed) = crossbeam_channel::bounded(1);
        if self.queue.send(Output::Flush(done)).is_ok() {
            let _ = printed.recv_timeout(FLUSH_TIMEOUT);
        }
    }
}

fn print_all(queue: &Receiver<Output>, mut sink: Sink) {
    while let Ok(first) = queue.recv() {
        let (text, flushes) = batch(first, queue);
        if !text.is_empty() {
            sink.print(text);
        }
        for done in flushes {
            let _ = done.send(());
        }
    }
}

/// `first` and whatever else is already queued, up to [`BATCH_LINES`], as one
/// text of `\n`-terminated lines, plus the flushes to answer once it is out.
fn batch(first: Output, queue: &Receiver<Output>) -> (String, Vec<Sender<()>>) {
    let mut text = String::new();
    let mut flushes = Vec::new();
    for output in std::iter::once(first).chain(queue.try_iter().take(BATCH_LINES - 1)) {
        match output {
            Output::Line(line) => {
                text.push_str(&line);
                text.push('\n');
            }
            Output::Flush(done) => flushes.push(done),
        }
    }
    (text, flushes)
}

impl Sink {
    fn print(&mut self, text: String) {
        match self {
            // Errors mean the terminal is gone; there is nobody left to tell.
            Sink::Editor { printer, gate } => {
                gate.wait_open();
                let _ = printer.print(text);
            }
            Sink::Stdout => {
                let mut stdout = io::stdout().lock();
                let _ = stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_batch_takes_what_is_queued_up_to_the_limit() {
        let (queue, lines) = crossbeam_channel::unbounded();
        for i in 0..BATCH_LINES + 10 {
            queue.send(Output::Line(format!("line {i}"))).unwrap();
        }
        let (text, flushes) = batch(Output::Line("first".into()), &lines);
        assert!(text.starts_with("first\nline 0\nline 1\n"));
        assert_eq!(text.lines().count(), BATCH_LINES);
        assert!(text.ends_with('\n'));
        assert!(flushes.is_empty());
        let (rest, _) = batch(lines.recv().unwrap(), &lines);
        assert_eq!(rest.lines().count(), 11);
    }

    #[test]
    fn flush_is_answered_after_the_lines_before_it() {
        let (queue, lines) = crossbeam_channel::unbounded();
        let (done, printed) = crossbeam_channel::bounded(1);
        queue.send(Output::Flush(done)).unwrap();
        let (text, flushes) = batch(Output::Line("last words".into()), &lines);
        assert_eq!(text, "last words\n");
        assert_eq!(flushes.len(), 1);
        assert!(printed.try_recv().is_err(), "answered by the printer, after printing");
    }

    #[test]
    fn a_closed_gate_holds_the_printer_until_opened() {
        let gate = Gate::default();
        let (waited, done) = crossbeam_channel::bounded(1);
        let waiter = gate.clone();
        thread::spawn(move || {
            waiter.wait_open();
            waited.send(()).unwrap();
        });
        assert!(done.recv_timeout(Duration::from_millis(50)).is_err(), "closed at first");
        gate.open();
        done.recv_timeout(Duration::from_secs(5)).expect("opened");
        gate.close();
        gate.open();
        gate.wait_open();
    }
}
