//! The line editor: rustyline set up for chatting.
//!
//! - Tab completes commands (`/w` → `/who `) and the nicks of people in the
//!   room (`bo` → `bob: ` at the start of a line, `bob` elsewhere).
//! - Ctrl-C clears a non-empty line; on an empty line it interrupts `readline`,
//!   which the client takes as "quit".
//! - The screen's [`Gate`] opens once `readline` runs in raw mode (rustyline
//!   asks for the prompt's text only then) and closes before it leaves raw
//!   mode (on Enter, Ctrl-C, Ctrl-D), so printed lines never cut into the
//!   prompt.
//! - [`Waker`] gets the main thread out of `readline` from another thread, for
//!   when the connection is gone for good: rustyline has no call for that, but
//!   a SIGINT sent to the thread inside `readline` makes it return
//!   `Interrupted`, after restoring the terminal properly.

use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use rustyline::completion::{Completer, Pair};
use rustyline::history::DefaultHistory;
use rustyline::validate::{ValidationContext, ValidationResult, Validator};
use rustyline::{
    Cmd, CompletionType, ConditionalEventHandler, Context, Editor, Event, EventContext,
    EventHandler, Helper, Highlighter, Hinter, KeyEvent, Movement, Prompt, RepeatCount,
};

use super::room::{self, SharedRoom};
use super::screen::Gate;
use crate::protocol::command::HELP;
use crate::protocol::text::nick_key;

/// Lines kept for Up/Down recall.
const HISTORY_LINES: usize = 1000;

/// How often [`Waker::wake`] signals again until the main thread notices; a
/// signal that lands just before `readline` starts is otherwise missed.
const WAKE_RETRY: Duration = Duration::from_millis(100);

/// The editor the interactive client reads lines with.
pub type LineEditor = Editor<ChatHelper, DefaultHistory>;

/// Builds the editor: history, completion over `room`, the Ctrl-C rule, and
/// the handling of the screen's `gate`.
///
/// # Errors
/// If the terminal cannot be set up.
pub fn new(room: SharedRoom, gate: &Gate) -> rustyline::Result<LineEditor> {
    let config = rustyline::Config::builder()
        .auto_add_history(true)
        .history_ignore_dups(true)?
        .history_ignore_space(true)
        .max_history_size(HISTORY_LINES)?
        .completion_type(CompletionType::Circular)
        .build();
    let mut editor = LineEditor::with_config(config)?;
    editor.set_helper(Some(ChatHelper { room, gate: gate.clone() }));
    let ctrl_c = CtrlC { gate: gate.clone() };
    editor.bind_sequence(KeyEvent::ctrl('C'), EventHandler::Conditional(Box::new(ctrl_c)));
    let ctrl_d = CtrlD { gate: gate.clone() };
    editor.bind_sequence(KeyEvent::ctrl('D'), EventHandler::Conditional(Box::new(ctrl_d)));
    Ok(editor)
}

/// Reads a line with `prompt`, keeping the screen's `gate` open exactly while
/// it is safe to print.
///
/// # Errors
/// As [`Editor::readline`]: `Interrupted`, `Eof`, or a terminal failure.
pub fn read_line(editor: &mut LineEditor, prompt: &str, gate: &Gate) -> rustyline::Result<String> {
    let line = editor.readline(&GatedPrompt { text: prompt, gate });
    gate.close(); // for the ways out that no key handler sees (a signal)
    line
}

/// A prompt that opens the gate when rustyline first asks for its text: it
/// does so after switching to raw mode, and from then on rustyline's printer
/// hands lines to `readline`, which prints them above the prompt.
struct GatedPrompt<'a> {
    text: &'a str,
    gate: &'a Gate,
}

impl Prompt for GatedPrompt<'_> {
    fn raw(&self) -> &str {
        self.gate.open();
        self.text
    }
}

/// Gives the editor Tab completion over the room, and closes the gate when
/// a line is accepted.
#[derive(Helper, Hinter, Highlighter)]
pub struct ChatHelper {
    room: SharedRoom,
    gate: Gate,
}

impl Validator for ChatHelper {
    /// Runs on Enter, still in raw mode: the last moment to close the gate
    /// before rustyline leaves raw mode.
    fn validate(&self, _: &mut ValidationContext<'_>) -> rustyline::Result<ValidationResult> {
        self.gate.close();
        Ok(ValidationResult::Valid(None))
    }
}

impl Completer for ChatHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let room = room::lock(&self.room);
        let (start, words) = complete(line, pos, room.users(), room.me());
        let pairs = words.into_iter().map(|word| Pair { display: word.clone(), replacement: word });
        Ok((start, pairs.collect()))
    }
}

/// What Tab offers for the word that ends at `pos`: where that word starts,
/// and its possible replacements (already with the text that follows them).
///
/// A `/word` at the start of the line completes to a command; any other word
/// to the nick of someone else in the room (ignoring case), followed by `: `
/// when it starts the line, as is the custom when addressing someone, or by a
/// space after `/msg`.
pub fn complete(line: &str, pos: usize, users: &[String], me: &str) -> (usize, Vec<String>) {
    let before = &line[..pos];
    let start = before.rfind(' ').map_or(0, |space| space + 1);
    let word = &before[start..];
    if word.is_empty() {
        return (start, Vec::new());
    }
    if start == 0 && word.starts_with('/') {
        let commands = HELP.iter().filter_map(|help| help.split_whitespace().next());
        let found = commands
            .filter(|command| !command.starts_with("//") && command.starts_with(word))
            .map(|command| format!("{command} "));
        return (start, found.collect());
    }
    let suffix = match before[..start].trim_end() {
        "" => ": ",
        command if command.eq_ignore_ascii_case("/msg") => " ",
        _ => "",
    };
    let prefix = nick_key(word);
    let found = users
        .iter()
        .filter(|user| nick_key(user).starts_with(&prefix) && nick_key(user) != nick_key(me))
        .map(|user| format!("{user}{suffix}"));
    (start, found.collect())
}

/// Ctrl-C clears a non-empty line instead of abandoning it; on an empty line
/// it keeps its usual meaning (interrupt, which the client takes as quit).
struct CtrlC {
    gate: Gate,
}

impl ConditionalEventHandler for CtrlC {
    fn handle(&self, _: &Event, _: RepeatCount, _: bool, ctx: &EventContext<'_>) -> Option<Cmd> {
        if ctx.line().is_empty() {
            self.gate.close();
            return None;
        }
        Some(Cmd::Kill(Movement::WholeLine))
    }
}

/// Ctrl-D keeps its meaning (quit on an empty line, else delete a character);
/// it only closes the gate when it is about to end `readline`.
struct CtrlD {
    gate: Gate,
}

impl ConditionalEventHandler for CtrlD {
    fn handle(&self, _: &Event, _: RepeatCount, _: bool, ctx: &EventContext<'_>) -> Option<Cmd> {
        if ctx.line().is_empty() {
            self.gate.close();
        }
        None
    }
}

/// Interrupts the main thread's `readline` from another thread.
pub struct Waker {
    #[cfg(unix)]
    main: libc::pthread_t,
    /// Disconnects when the main thread has noticed (its [`Noticed`] dropped).
    noticed: Receiver<()>,
}

/// Held by the main thread; dropping it stops [`Waker::wake`].
pub struct Noticed {
    _alive: Sender<()>,
}

// SAFETY: a pthread_t is an opaque handle, valid from any thread for as long
// as the thread it names runs; the main thread outlives the client's threads.
#[cfg(unix)]
unsafe impl Send for Waker {}

/// Prepares waking the current thread, which must be the one calling
/// `readline`. Also makes a SIGINT outside `readline` harmless: rustyline
/// handles SIGINT only while it reads, and the default action would kill the
/// client (without restoring anything) if the wake-up came a moment too early.
pub fn waker() -> (Waker, Noticed) {
    let (alive, noticed) = crossbeam_channel::bounded(0);
    #[cfg(unix)]
    // SAFETY: installs a handler that does nothing (async-signal-safe), with a
    // zeroed, then initialised, sigaction; pthread_self cannot fail.
    let main = unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = ignore_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
        action.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut action.sa_mask);
        libc::sigaction(libc::SIGINT, &action, std::ptr::null_mut());
        libc::pthread_self()
    };
    let waker = Waker {
        #[cfg(unix)]
        main,
        noticed,
    };
    (waker, Noticed { _alive: alive })
}

#[cfg(unix)]
extern "C" fn ignore_signal(_: libc::c_int) {}

impl Waker {
    /// Signals the main thread until it notices, so a signal that came just
    /// before `readline` installed its handler is repeated, not lost.
    pub fn wake(&self) {
        loop {
            #[cfg(unix)]
            // SAFETY: `main` names the main thread, which is still running
            // (the process ends when it returns); SIGINT has a handler.
            unsafe {
                libc::pthread_kill(self.main, libc::SIGINT);
            }
            match self.noticed.recv_timeout(WAKE_RETRY) {
                Err(RecvTimeoutError::Timeout) => {}
                Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn users() -> Vec<String> {
        ["al", "Bob", "bobby", "carol"].map(String::from).to_vec()
    }

    #[test]
    fn completes_nicks_ignoring_case_and_not_yourself() {
        assert_eq!(complete("bo", 2, &users(), "al"), (0, vec!["Bob: ".into(), "bobby: ".into()]));
        assert_eq!(complete("hi CA", 5, &users(), "al"), (3, vec!["carol".into()]));
        assert_eq!(complete("a", 1, &users(), "al"), (0, vec![]));
        assert_eq!(complete("hi  ", 4, &users(), "al"), (4, vec![]));
        assert_eq!(complete("", 0, &users(), "al"), (0, vec![]));
    }

    #[test]
    fn completes_in_the_middle_of_a_line() {
        assert_eq!(complete("ask car now", 7, &users(), "al"), (4, vec!["carol".into()]));
    }

    #[test]
    fn completes_commands_at_the_start_only() {
        assert_eq!(complete("/w", 2, &users(), "al"), (0, vec!["/who ".into()]));
        assert_eq!(complete("/m", 2, &users(), "al"), (0, vec!["/msg ".into(), "/me ".into()]));
        let all = complete("/", 1, &users(), "al").1;
        assert_eq!(all, ["/who ", "/msg ", "/me ", "/nick ", "/quit ", "/help "]);
        assert_eq!(complete("say /w", 6, &users(), "al"), (4, vec![]));
    }

    #[test]
    fn completes_the_nick_after_msg() {
        assert_eq!(complete("/msg ca", 7, &users(), "al"), (5, vec!["carol ".into()]));
    }

    #[test]
    fn works_with_multibyte_text() {
        assert_eq!(complete("héllo bo", 9, &users(), "al").0, 7);
    }
}
