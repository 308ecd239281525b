//! How events look in the terminal: `12:01 <bob> hi`, with or without colour.
//!
//! Pure code: events go in, lines (without their `\n`) come out. Every string
//! that came from the network passes through [`clean`] here, because the client
//! does not trust the server either: the only escape codes that reach the
//! terminal are the ones this module adds itself.
//!
//! The wording follows the server's plain mode ([`crate::protocol::plain`]), so
//! people on `nc` and people on `chat connect` read the same log.

use crate::protocol::plain::clock;
use crate::protocol::text::{clean, nick_key};
use crate::protocol::{ChatMessage, Event};

/// Colours a nick can get: the six basic hues and their bright forms, which
/// every terminal has and which read on dark and light backgrounds alike.
const NICK_COLOURS: [u8; 12] = [31, 32, 33, 34, 35, 36, 91, 92, 93, 94, 95, 96];

/// SGR codes for the parts of a line that are not nicks. A mention is bold
/// and reversed rather than coloured, so it cannot be taken for a nick colour.
const DIM: &str = "2";
const BOLD: &str = "1";
const MENTION: &str = "1;7";
const PRIVATE: &str = "1;35";
const PROBLEM: &str = "1;31";
const NOTICE: &str = "36";

/// The terminal bell, rung after a line that mentions you (with `--bell`).
const BELL: char = '\u{7}';

/// How to draw lines: with colours or not, with a bell on mentions or not.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    colour: bool,
    bell: bool,
}

impl Style {
    /// A style; `colour` adds ANSI colours, `bell` rings on mentions and on
    /// private messages to you.
    pub fn new(colour: bool, bell: bool) -> Style {
        Style { colour, bell }
    }

    /// The lines that show `event` to `me` (none for a `pong`).
    pub fn event(&self, event: &Event, me: &str) -> Vec<String> {
        match event {
            Event::Welcome { nick, users, motd } => {
                let mut lines = vec![self.notice(&format!(
                    "Welcome, {nick}! Here now ({}): {}",
                    users.len(),
                    users.join(", ")
                ))];
                lines.extend(motd.iter().map(|motd| self.notice(motd)));
                lines.push(self.notice("Type /help for commands; Tab completes nicks."));
                lines
            }
            Event::Msg(message) => vec![self.message(message, me)],
            Event::Join { ts, nick } => vec![self.room_change(*ts, &format!("{nick} joined"))],
            Event::Leave { ts, nick, reason } => {
                vec![self.room_change(*ts, &format!("{nick} left ({reason})"))]
            }
            Event::Nick { ts, old, new } if nick_key(old) == nick_key(me) => {
                vec![self.room_change(*ts, &format!("you are now {new}"))]
            }
            Event::Nick { ts, old, new } => {
                vec![self.room_change(*ts, &format!("{old} is now {new}"))]
            }
            Event::Who { users } => {
                vec![self.notice(&format!("Here now ({}): {}", users.len(), users.join(", ")))]
            }
            Event::Pong { .. } => Vec::new(),
            Event::Error { message, .. } => vec![self.problem(message)],
            Event::Bye { reason } => vec![self.notice(&format!("The server says bye: {reason}"))],
        }
    }

    /// One message: `12:01 <bob> hi`, `12:01 * bob waves`, or a private
    /// `12:01 [bob -> you] hi` / `12:01 [you -> bob] hi`. History is dimmed.
    pub fn message(&self, message: &ChatMessage, me: &str) -> String {
        if message.history {
            // Dim the whole line; nested colours would cancel the dimming.
            let plain = Style { colour: false, bell: false };
            return self.paint(
                DIM,
                &plain.message(&ChatMessage { history: false, ..message.clone() }, me),
            );
        }
        let time = self.paint(DIM, &clock(message.ts));
        let from = clean(&message.from);
        let text = clean(&message.text);
        let mine = nick_key(&from) == nick_key(me);
        let body = match (&message.to, message.action) {
            (Some(to), _) => {
                let to = clean(to);
                let label = if mine && nick_key(&to) != nick_key(me) {
                    format!("[you -> {to}]")
                } else {
                    format!("[{from} -> you]")
                };
                format!("{} {text}", self.paint(PRIVATE, &label))
            }
            (None, true) => format!("* {} {text}", self.nick(&from, mine)),
            (None, false) if !mine && mentions(&text, me) => {
                format!("<{}> {}", self.nick(&from, mine), self.paint(MENTION, &text))
            }
            (None, false) => format!("<{}> {text}", self.nick(&from, mine)),
        };
        let ring = self.bell && !mine && (message.to.is_some() || mentions(&text, me));
        let bell = if ring { BELL.to_string() } else { String::new() };
        format!("{time} {body}{bell}")
    }

    /// A notice from the client or the server: `* text`.
    pub fn notice(&self, text: &str) -> String {
        self.paint(NOTICE, &format!("* {}", clean(text)))
    }

    /// Something that went wrong: `! text`.
    pub fn problem(&self, text: &str) -> String {
        self.paint(PROBLEM, &format!("! {}", clean(text)))
    }

    /// The line above replayed history; `missed` when rejoining after a drop.
    pub fn history_start(&self, count: usize, missed: bool) -> String {
        let what = if missed { "missed while you were away" } else { "earlier in the room" };
        let plural = if count == 1 { "" } else { "s" };
        self.paint(DIM, &format!("-- {count} message{plural} {what} --"))
    }

    /// The line below replayed history.
    pub fn history_end(&self) -> String {
        self.paint(DIM, "-- end of history --")
    }

    /// Joins, leaves and renames: dimmed, they are not what people said.
    fn room_change(&self, ts: u64, what: &str) -> String {
        self.paint(DIM, &format!("{} * {}", clock(ts), clean(what)))
    }

    /// A nick in its own colour, bold when it is yours.
    fn nick(&self, nick: &str, mine: bool) -> String {
        let colour = nick_colour(nick);
        let codes = if mine { format!("{BOLD};{colour}") } else { colour.to_string() };
        self.paint(&codes, nick)
    }

    fn paint(&self, codes: &str, text: &str) -> String {
        if self.colour {
            format!("\x1b[{codes}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }
}

/// The colour code of `nick`: the same in every run and on every machine
/// (FNV-1a of the case-folded nick; std's hasher is randomised per process).
pub fn nick_colour(nick: &str) -> u8 {
    let hash = nick_key(nick)
        .bytes()
        .fold(0x811c_9dc5_u32, |hash, byte| (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193));
    NICK_COLOURS[hash as usize % NICK_COLOURS.len()]
}

/// True when `text` names `nick` as a whole word, ignoring case
/// (`alice:`, `@alice`, `hi Alice!`, but not `malice`).
pub fn mentions(text: &str, nick: &str) -> bool {
    let is_nick_char = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    !nick.is_empty()
        && text.split(|c: char| !is_nick_char(c)).any(|word| word.eq_ignore_ascii_case(nick))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAIN: Style = Style { colour: false, bell: false };
    const COLOUR: Style = Style { colour: true, bell: false };

    fn msg(from: &str, text: &str) -> ChatMessage {
        ChatMessage {
            id: 1,
            ts: 0,
            from: from.into(),
            text: text.into(),
            to: None,
            action: false,
            history: false,
        }
    }

    fn t() -> String {
        clock(0)
    }

    #[test]
    fn room_messages_without_colour() {
        assert_eq!(PLAIN.message(&msg("bob", "hi"), "al"), format!("{} <bob> hi", t()));
        let action = ChatMessage { action: true, ..msg("bob", "waves") };
        assert_eq!(PLAIN.message(&action, "al"), format!("{} * bob waves", t()));
    }

    #[test]
    fn no_colour_means_no_escape_codes_at_all() {
        let events = [
            Event::Msg(msg("bob", "al: hi")),
            Event::Join { ts: 0, nick: "bob".into() },
            Event::Leave { ts: 0, nick: "bob".into(), reason: "quit".into() },
            Event::Nick { ts: 0, old: "bob".into(), new: "rob".into() },
            Event::error(crate::protocol::ErrorCode::NickTaken, "taken"),
            Event::Who { users: vec!["al".into()] },
        ];
        for event in events {
            for line in PLAIN.event(&event, "al") {
                assert!(!line.contains('\x1b'), "{line:?}");
            }
        }
    }

    #[test]
    fn colours_mark_nicks_own_lines_and_mentions() {
        let bob = format!("\x1b[{}mbob\x1b[0m", nick_colour("bob"));
        let line = COLOUR.message(&msg("bob", "hi"), "al");
        assert!(line.contains(&format!("<{bob}> hi")), "{line:?}");
        assert!(line.starts_with("\x1b[2m"), "the time is dimmed: {line:?}");

        let own = COLOUR.message(&msg("al", "hi"), "al");
        assert!(own.contains(&format!("<\x1b[1;{}mal\x1b[0m>", nick_colour("al"))), "{own:?}");

        let mention = COLOUR.message(&msg("bob", "Al: look"), "al");
        assert!(mention.ends_with("\x1b[1;7mAl: look\x1b[0m"), "{mention:?}");
        let not_mention = COLOUR.message(&msg("bob", "salt"), "al");
        assert!(not_mention.ends_with("> salt"), "{not_mention:?}");
    }

    #[test]
    fn private_messages_read_both_ways() {
        let pm = ChatMessage { to: Some("al".into()), ..msg("bob", "psst") };
        assert_eq!(PLAIN.message(&pm, "al"), format!("{} [bob -> you] psst", t()));
        assert_eq!(PLAIN.message(&pm, "bob"), format!("{} [you -> al] psst", t()));
        let to_self = ChatMessage { to: Some("al".into()), ..msg("al", "note") };
        assert_eq!(PLAIN.message(&to_self, "al"), format!("{} [al -> you] note", t()));
        assert!(COLOUR.message(&pm, "al").contains("\x1b[1;35m[bob -> you]\x1b[0m"));
    }

    #[test]
    fn history_is_dimmed_as_a_whole_and_framed() {
        let old = ChatMessage { history: true, ..msg("bob", "earlier") };
        assert_eq!(PLAIN.message(&old, "al"), format!("{} <bob> earlier", t()));
        assert_eq!(COLOUR.message(&old, "al"), format!("\x1b[2m{} <bob> earlier\x1b[0m", t()));
        assert_eq!(PLAIN.history_start(2, false), "-- 2 messages earlier in the room --");
        assert_eq!(PLAIN.history_start(1, true), "-- 1 message missed while you were away --");
        assert_eq!(PLAIN.history_end(), "-- end of history --");
    }

    #[test]
    fn room_changes_are_dimmed() {
        let leave = Event::Leave { ts: 0, nick: "bob".into(), reason: "quit: lunch".into() };
        assert_eq!(PLAIN.event(&leave, "al"), [format!("{} * bob left (quit: lunch)", t())]);
        assert_eq!(
            COLOUR.event(&leave, "al"),
            [format!("\x1b[2m{} * bob left (quit: lunch)\x1b[0m", t())]
        );
        let rename = Event::Nick { ts: 0, old: "Al".into(), new: "ally".into() };
        assert_eq!(PLAIN.event(&rename, "al"), [format!("{} * you are now ally", t())]);
        assert_eq!(PLAIN.event(&rename, "bob"), [format!("{} * Al is now ally", t())]);
    }

    #[test]
    fn welcome_who_errors_and_pong() {
        let welcome = Event::Welcome {
            nick: "al".into(),
            users: vec!["al".into(), "bob".into()],
            motd: Some("be nice".into()),
        };
        let lines = PLAIN.event(&welcome, "al");
        assert_eq!(lines[0], "* Welcome, al! Here now (2): al, bob");
        assert_eq!(lines[1], "* be nice");
        assert_eq!(lines.len(), 3);
        let unknown = Event::error(crate::protocol::ErrorCode::Unknown, "slow down");
        assert_eq!(PLAIN.event(&unknown, "al"), ["! slow down"]);
        assert!(PLAIN.event(&Event::Pong { token: None }, "al").is_empty());
    }

    #[test]
    fn text_from_the_network_is_neutralised() {
        let evil = msg("b\u{1b}]0;owned\u{7}ob", "hi\u{1b}[2J\rthere\u{202e}\u{9b}31m");
        let line = COLOUR.message(&evil, "al");
        // Only our own SGR sequences remain: every ESC starts one of them.
        for (i, _) in line.match_indices('\x1b') {
            assert!(
                line[i..].starts_with("\x1b[")
                    && line[i + 2..]
                        .chars()
                        .take_while(|c| c.is_ascii_digit() || *c == ';')
                        .count()
                        > 0,
                "{line:?}"
            );
        }
        assert!(!line.contains(['\r', '\u{7}', '\u{202e}', '\u{9b}']), "{line:?}");
        assert!(line.ends_with("hi[2Jthere31m"), "{line:?}");
        let errors =
            PLAIN.event(&Event::error(crate::protocol::ErrorCode::BadNick, "no\u{1b}[1Ame"), "al");
        assert_eq!(errors, ["! no[1Ame"]);
        let users = PLAIN.event(&Event::Who { users: vec!["a\u{8}\u{8}b".into()] }, "al");
        assert_eq!(users, ["* Here now (1): ab"]);
    }

    #[test]
    fn bell_rings_only_for_mentions_and_private_messages_when_enabled() {
        let loud = Style::new(false, true);
        assert!(loud.message(&msg("bob", "al?"), "al").ends_with('\u{7}'));
        let pm = ChatMessage { to: Some("al".into()), ..msg("bob", "psst") };
        assert!(loud.message(&pm, "al").ends_with('\u{7}'));
        assert!(!loud.message(&msg("bob", "hi"), "al").contains('\u{7}'));
        assert!(!loud.message(&msg("al", "al here"), "al").contains('\u{7}'), "not for your own");
        let old = ChatMessage { history: true, ..msg("bob", "al?") };
        assert!(!loud.message(&old, "al").contains('\u{7}'), "not for history");
        assert!(!PLAIN.message(&msg("bob", "al?"), "al").contains('\u{7}'), "off by default");
    }

    #[test]
    fn nick_colours_are_stable_and_spread() {
        assert_eq!(nick_colour("bob"), nick_colour("BOB"));
        // Fixed values: the colour must not change between runs or versions.
        // Pinned (FNV-1a, checked by hand): a nick's colour must not change
        // between runs, machines or versions.
        assert_eq!(["alice", "bob", "carol", "dave"].map(nick_colour), [96, 93, 33, 92]);
        let distinct: std::collections::HashSet<u8> =
            (0..50).map(|i| nick_colour(&format!("user{i}"))).collect();
        assert!(distinct.len() >= 8, "50 nicks use most of the palette: {distinct:?}");
    }

    #[test]
    fn mention_is_a_whole_word_ignoring_case() {
        assert!(mentions("alice: hi", "alice"));
        assert!(mentions("hey @Alice!", "alice"));
        assert!(mentions("alice", "alice"));
        assert!(!mentions("malice aforethought", "alice"));
        assert!(!mentions("alice_b is here", "alice"));
        assert!(!mentions("anything", ""));
    }
}
