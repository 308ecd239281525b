//! Events as text lines, for people connected with `nc` or `telnet`.
//!
//! Lines read like a chat log: `12:01 <alice> hi`, `12:01 * bob joined`. Times
//! are the server's local time. Notices from the server start with `* `, errors
//! with `! `, so neither can be mistaken for what a person wrote (people's text
//! always follows a `<nick>`).

use chrono::{Local, TimeZone};

use super::message::{ChatMessage, Event};

/// What a plain-mode user sees before choosing a nick.
pub const GREETING: &str =
    "* Welcome! Type the nick you want (1-24 letters, digits, '-' or '_') and press Enter.\n";

/// Renders `event` as one or more lines (each ending in `\n`), as seen by `viewer`.
///
/// `viewer` only matters for private messages, which read differently to their
/// sender and their recipient.
pub fn render(event: &Event, viewer: &str) -> String {
    match event {
        Event::Welcome { nick, users, motd } => {
            let mut out = format!(
                "* Welcome, {nick}! Here now ({}): {}\n* Type /help for commands.\n",
                users.len(),
                users.join(", ")
            );
            if let Some(motd) = motd {
                out += &format!("* {motd}\n");
            }
            out
        }
        Event::Msg(message) => render_message(message, viewer),
        Event::Join { ts, nick } => format!("{} * {nick} joined\n", clock(*ts)),
        Event::Leave { ts, nick, reason } => format!("{} * {nick} left ({reason})\n", clock(*ts)),
        Event::Nick { ts, old, new } => format!("{} * {old} is now {new}\n", clock(*ts)),
        Event::Who { users } => format!("* Here now ({}): {}\n", users.len(), users.join(", ")),
        Event::Pong { token } => format!("* pong {}\n", token.as_deref().unwrap_or("")),
        Event::Error { message, .. } => format!("! {message}\n"),
        Event::Bye { reason } => format!("* Bye: {reason}\n"),
    }
}

fn render_message(m: &ChatMessage, viewer: &str) -> String {
    let time = clock(m.ts);
    let from = &m.from;
    let text = &m.text;
    match (&m.to, m.action) {
        (None, false) => format!("{time} <{from}> {text}\n"),
        (None, true) => format!("{time} * {from} {text}\n"),
        (Some(to), _) if from.eq_ignore_ascii_case(viewer) && !to.eq_ignore_ascii_case(viewer) => {
            format!("{time} [you -> {to}] {text}\n")
        }
        (Some(_), _) => format!("{time} [{from} -> you] {text}\n"),
    }
}

/// `HH:MM` in local time for a timestamp in milliseconds since the epoch.
pub fn clock(ts_millis: u64) -> String {
    match Local.timestamp_millis_opt(ts_millis as i64).single() {
        Some(time) => time.format("%H:%M").to_string(),
        None => "--:--".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(from: &str, to: Option<&str>, action: bool) -> Event {
        Event::Msg(ChatMessage {
            id: 1,
            ts: 0,
            from: from.into(),
            text: "hi".into(),
            to: to.map(Into::into),
            action,
            history: false,
        })
    }

    #[test]
    fn room_lines() {
        let t = clock(0);
        assert_eq!(render(&msg("bob", None, false), "al"), format!("{t} <bob> hi\n"));
        assert_eq!(render(&msg("bob", None, true), "al"), format!("{t} * bob hi\n"));
        assert_eq!(
            render(&Event::Join { ts: 0, nick: "bob".into() }, "al"),
            format!("{t} * bob joined\n")
        );
        assert_eq!(
            render(&Event::Leave { ts: 0, nick: "bob".into(), reason: "quit".into() }, "al"),
            format!("{t} * bob left (quit)\n")
        );
    }

    #[test]
    fn private_lines_read_both_ways() {
        let t = clock(0);
        let pm = msg("bob", Some("al"), false);
        assert_eq!(render(&pm, "al"), format!("{t} [bob -> you] hi\n"));
        assert_eq!(render(&pm, "bob"), format!("{t} [you -> al] hi\n"));
    }

    #[test]
    fn clock_is_hours_and_minutes() {
        let text = clock(1_764_430_000_000);
        assert_eq!(text.len(), 5);
        assert_eq!(&text[2..3], ":");
    }
}
