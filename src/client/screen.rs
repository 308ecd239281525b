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
//! Without an editor (a pipe, `TERM=dumb`) the printer writes to stdout.

use std::io::{self, Write};
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

/// How long [`Screen::flush`] waits for the printer.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(2);

/// Where the printer thread writes.
pub enum Sink {
    /// Above the prompt of a rustyline editor.
    Editor(Box<dyn ExternalPrinter + Send>),
    /// Straight to stdout.
    Stdout,
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
}

impl Screen {
    /// Starts the printer thread. It ends when the last handle is dropped.
    ///
    /// # Errors
    /// If the thread cannot be started.
    pub fn start(sink: Sink) -> io::Result<Screen> {
        let (queue, lines) = crossbeam_channel::bounded(QUEUE_LINES);
        thread::Builder::new().name("screen".into()).spawn(move || print_all(&lines, sink))?;
        Ok(Screen { queue })
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

    /// Waits (briefly) until every line sent so far is on the terminal; done
    /// before exiting, so that the last words are not lost.
    pub fn flush(&self) {
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
            Sink::Editor(printer) => {
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
}
