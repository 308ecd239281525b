//! [`Progress`]: the live status line on stderr while a scenario runs.
//!
//! Only when stderr is a terminal: piped into a file, a CI log or a test,
//! stderr carries nothing but the table (with `--json`) and errors.

use std::io::{self, IsTerminal, Write};
use std::time::{Duration, Instant};

/// How often the line is redrawn: often enough to look alive, rarely enough
/// to cost nothing.
const REDRAW: Duration = Duration::from_millis(200);

/// Clears the line and returns to its start.
const CLEAR_LINE: &str = "\r\x1b[K";

/// The status line, redrawn in place.
#[derive(Debug)]
pub struct Progress {
    enabled: bool,
    /// Put before every line, e.g. which half of `stall` is running.
    prefix: String,
    last: Option<Instant>,
    shown: bool,
}

impl Progress {
    /// A line on stderr if it is a terminal, otherwise nothing.
    pub fn on_stderr() -> Progress {
        Progress {
            enabled: io::stderr().is_terminal(),
            prefix: String::new(),
            last: None,
            shown: false,
        }
    }

    /// Sets what comes before every line from now on.
    pub fn set_prefix(&mut self, prefix: &str) {
        prefix.clone_into(&mut self.prefix);
        self.last = None;
    }

    /// Redraws the line with `line()`, unless it was drawn very recently.
    pub fn show(&mut self, line: impl FnOnce() -> String) {
        if !self.enabled || self.last.is_some_and(|at| at.elapsed() < REDRAW) {
            return;
        }
        self.last = Some(Instant::now());
        let mut stderr = io::stderr().lock();
        let _ = write!(stderr, "{CLEAR_LINE}{}{}", self.prefix, line());
        let _ = stderr.flush();
        self.shown = true;
    }

    /// Removes the line, so that what is printed next starts clean.
    pub fn clear(&mut self) {
        if std::mem::take(&mut self.shown) {
            eprint!("{CLEAR_LINE}");
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.clear();
    }
}
