//! Nick rules and text sanitising.
//!
//! Text typed by one person ends up in everybody else's terminal, so it must not
//! carry anything a terminal would obey: control characters (which can clear the
//! screen, move the cursor, retitle the window or ring the bell) and bidi controls
//! (which can reorder what is shown, "Trojan Source" style). [`clean`] removes them
//! from *decoded* text, so an escaped JSON `"\u001b"` is caught as well as a raw
//! ESC byte.

/// Longest nick, in characters (all ASCII, so also bytes).
pub const MAX_NICK: usize = 24;

/// Why a nick was refused, worded for the person who chose it.
pub fn nick_problem(nick: &str) -> Option<String> {
    if nick.is_empty() {
        return Some("a nick cannot be empty".to_owned());
    }
    if nick.len() > MAX_NICK {
        return Some(format!(
            "nick is {} characters long; the most is {MAX_NICK}",
            nick.chars().count()
        ));
    }
    if let Some(bad) = nick.chars().find(|c| !is_nick_char(*c)) {
        return Some(format!(
            "nick contains {}; use only ASCII letters, digits, '-' and '_'",
            describe_char(bad)
        ));
    }
    None
}

/// The form used to compare nicks: unique ignoring case, so `Bob` and `bob`
/// cannot both be in the room.
pub fn nick_key(nick: &str) -> String {
    nick.to_ascii_lowercase()
}

fn is_nick_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

fn describe_char(c: char) -> String {
    if c.is_control() || is_bidi_control(c) || c.is_whitespace() {
        format!("the character U+{:04X}", c as u32)
    } else {
        format!("'{c}'")
    }
}

/// Removes every character a terminal would act on, and turns tabs into spaces.
///
/// Removed: C0 controls (including ESC, CR, BS, NUL), DEL, C1 controls and the
/// bidi controls U+061C, U+200E-U+200F, U+202A-U+202E, U+2066-U+2069.
pub fn clean(text: &str) -> String {
    text.chars()
        .filter_map(|c| match c {
            '\t' => Some(' '),
            c if c.is_control() || is_bidi_control(c) => None,
            c => Some(c),
        })
        .collect()
}

/// True for the invisible characters that reorder the display of text.
pub fn is_bidi_control(c: char) -> bool {
    matches!(c,
        '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nick_rules() {
        assert_eq!(nick_problem("alice"), None);
        assert_eq!(nick_problem("a-b_9"), None);
        assert_eq!(nick_problem(&"x".repeat(24)), None);
        assert!(nick_problem("").is_some());
        assert!(nick_problem(&"x".repeat(25)).unwrap().contains("most is 24"));
        assert!(nick_problem("al ice").unwrap().contains("U+0020"));
        // Cyrillic 'е' looks like Latin 'e': refused so nobody can impersonate.
        assert!(nick_problem("\u{0435}van").unwrap().contains("ASCII"));
        assert!(nick_problem("a\u{1b}").unwrap().contains("U+001B"));
    }

    #[test]
    fn nick_key_ignores_case() {
        assert_eq!(nick_key("BoB"), nick_key("bob"));
    }

    #[test]
    fn clean_removes_controls_and_bidi() {
        assert_eq!(clean("a\u{1b}[2Jb"), "a[2Jb");
        assert_eq!(clean("hi\r12:01 * bob joined"), "hi12:01 * bob joined");
        assert_eq!(clean("x\u{7f}\u{9b}\u{0}\u{8}y"), "xy");
        assert_eq!(clean("a\tb"), "a b");
        assert_eq!(clean("\u{202E}evil\u{2066}\u{200F}"), "evil");
        assert_eq!(clean("héllo wörld ✓"), "héllo wörld ✓");
    }

    #[test]
    fn clean_leaves_nothing_a_terminal_obeys() {
        let all: String = (0u32..0x3000).filter_map(char::from_u32).collect();
        let out = clean(&all);
        assert!(out.chars().all(|c| !c.is_control() && !is_bidi_control(c)));
        assert_eq!(clean(&out), out, "clean is idempotent");
    }
}
