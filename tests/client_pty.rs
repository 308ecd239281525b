//! `chat connect` in a pseudo-terminal, as a person uses it: the real client
//! binary (driven through expectrl) against the real server (tests/common).
//!
//! Rules that keep these tests reliable on a busy machine:
//! - every keystroke waits for the prompt it is meant for (a key sent between
//!   two `readline` calls can be lost);
//! - waiting is a `poll` on the pty with a deadline, never a sleep, and never
//!   expectrl's own `expect`, which spins on a non-blocking read and would
//!   starve the client and server under test of CPU;
//! - screen checks go through a vt100 emulator fed with everything the client
//!   wrote, so they see what a person would see.

#![cfg(unix)]

mod common;

use std::os::fd::AsRawFd as _;
use std::process::Command;
use std::time::{Duration, Instant};

use expectrl::process::unix::WaitStatus;
use expectrl::session::OsSession;
use expectrl::{Eof, Expect as _, Regex, Session};
use serde_json::json;

use common::{Conn, TestServer, TIMEOUT};

const COLS: u16 = 100;
const ROWS: u16 = 30;

/// Rows of the emulated screen: far more than the pty's, so nothing scrolls
/// away and every line ever printed can be checked. The client only moves the
/// cursor relative to where it is, so the extra height changes nothing else.
const SCREEN_ROWS: u16 = 5000;

/// Flood senders, and lines from each: the server's default burst lets each
/// sender's lines through at once.
const SENDERS: usize = 8;
const BURST: usize = 10;

/// `chat connect` in a pty, with a screen that follows its output.
struct Ui {
    session: OsSession,
    screen: vt100::Parser,
    /// Everything the client wrote so far, for failure messages.
    transcript: Vec<u8>,
}

impl Ui {
    /// Starts `chat connect ADDR --nick NICK ARGS` with `TERM=xterm` and no
    /// colours (plain bytes are simpler to match).
    fn start(server: &TestServer, nick: &str, args: &[&str]) -> Ui {
        Ui::start_with(server, nick, args, &[("TERM", "xterm"), ("NO_COLOR", "1")])
    }

    fn start_with(server: &TestServer, nick: &str, args: &[&str], env: &[(&str, &str)]) -> Ui {
        let mut command = Command::new(env!("CARGO_BIN_EXE_chat"));
        command.args(["connect", &server.addr.to_string(), "--nick", nick]).args(args);
        for var in ["CHAT_ADDR", "CHAT_NICK", "CHAT_NO_RECONNECT", "CHAT_BELL", "NO_COLOR"] {
            command.env_remove(var);
        }
        command.envs(env.iter().copied());
        let mut session = Session::spawn(command).expect("start chat connect in a pty");
        session.get_process_mut().set_window_size(COLS, ROWS).expect("set the pty size");
        let size = |n| std::num::NonZeroU16::new(n).expect("a screen has rows and columns");
        let screen = vt100::Parser::new(size(SCREEN_ROWS), size(COLS), 0);
        Ui { session, screen, transcript: Vec::new() }
    }

    fn pid(&self) -> i32 {
        self.session.get_process().pid().as_raw()
    }

    /// Waits until the client has written `needle`; returns what it wrote up
    /// to and including it.
    fn expect(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            match self.session.check(needle) {
                Ok(found) if !found.is_empty() => return self.feed(found.as_bytes()),
                Ok(_) => {}
                Err(expectrl::Error::Eof) => {
                    panic!("client exited before writing {needle:?}\n{}", self.dump())
                }
                Err(err) => panic!("reading the pty: {err}"),
            }
            if Instant::now() > deadline {
                panic!("no {needle:?} within {TIMEOUT:?}\n{}", self.dump());
            }
            self.wait_readable(deadline);
        }
    }

    /// Blocks until the pty has output (or closed), or the deadline passes.
    fn wait_readable(&self, deadline: Instant) {
        let left = deadline.saturating_duration_since(Instant::now());
        let mut fds = libc::pollfd {
            fd: self.session.get_stream().as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd for the duration of the call.
        unsafe { libc::poll(&mut fds, 1, left.as_millis().min(1000) as i32 + 1) };
    }

    fn feed(&mut self, bytes: &[u8]) -> String {
        self.screen.process(bytes);
        self.transcript.extend_from_slice(bytes);
        String::from_utf8_lossy(bytes).into_owned()
    }

    fn send(&mut self, keys: &str) {
        self.session.send(keys).expect("type into the pty");
    }

    /// The rows up to the last one written, trailing spaces trimmed.
    fn rows(&self) -> Vec<String> {
        let mut rows: Vec<String> =
            self.screen.screen().rows(0, COLS).map(|row| row.trim_end().to_owned()).collect();
        while rows.last().is_some_and(String::is_empty) {
            rows.pop();
        }
        rows
    }

    /// The last row with something on it (where the prompt is).
    fn last_row(&self) -> String {
        self.rows().pop().unwrap_or_default()
    }

    /// Waits for the client to exit; returns its exit code.
    fn exit_code(mut self) -> i32 {
        self.expect_eof();
        match self.session.get_process().wait().expect("wait for the client") {
            WaitStatus::Exited(_, code) => code,
            other => panic!("client did not exit normally: {other:?}\n{}", self.dump()),
        }
    }

    fn expect_eof(&mut self) {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            match self.session.check(Eof) {
                Ok(found) if !found.is_empty() => {
                    self.feed(found.as_bytes());
                    return;
                }
                Ok(_) => {}
                Err(err) => panic!("reading the pty: {err}"),
            }
            if Instant::now() > deadline {
                panic!("client still running after {TIMEOUT:?}\n{}", self.dump());
            }
            self.wait_readable(deadline);
        }
    }

    /// CPU time (user + system) the client has used so far.
    fn cpu_time(&self) -> Duration {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).unwrap();
        // Fields after the command name (which is in parentheses): utime and
        // stime are the 12th and 13th of those, in clock ticks.
        let fields: Vec<&str> = stat.rsplit(')').next().unwrap().split_whitespace().collect();
        let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
        // SAFETY: sysconf has no preconditions.
        let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
        Duration::from_secs_f64(ticks as f64 / per_second)
    }

    /// The screen and the raw output, including what no expectation read
    /// yet, for failure messages.
    fn dump(&mut self) -> String {
        if let Ok(rest) = self.session.check(Regex("(?s-u).+")) {
            self.feed(rest.as_bytes());
        }
        format!(
            "--- screen ---\n{}\n--- raw output ---\n{:?}",
            self.rows().join("\n"),
            String::from_utf8_lossy(&self.transcript)
        )
    }
}

/// The next room message `conn` gets from `from`, skipping everything else.
fn next_text_from(conn: &mut Conn, from: &str) -> String {
    loop {
        let msg = conn.expect_type("msg");
        if msg["from"] == from {
            return msg["text"].as_str().unwrap().to_owned();
        }
    }
}

fn say(conn: &mut Conn, text: &str) {
    conn.send_json(json!({"type": "msg", "text": text}));
}

/// The heart of the client: a flood of incoming messages prints above the
/// prompt while the half-typed line, with its cursor, stays at the bottom;
/// Enter then sends the line intact. Colours are on, as for a person.
#[test]
fn a_half_typed_line_survives_a_flood_and_is_sent_intact() {
    let server = TestServer::start(&[]);
    let mut ui = Ui::start_with(&server, "tess", &[], &[("TERM", "xterm")]);
    ui.expect("tess> ");
    ui.send("half typ");
    ui.expect("half typ");
    let mut bob = server.join("bob");
    ui.expect("bob joined");
    // Several senders, each within the server's burst allowance, so the
    // messages arrive as one flood whatever the server's flood control.
    let mut senders: Vec<Conn> = (0..SENDERS).map(|i| server.join(&format!("s{i}"))).collect();
    ui.expect(&format!("s{} joined", SENDERS - 1));
    for (i, sender) in senders.iter_mut().enumerate() {
        let lines: String = (0..BURST)
            .map(|j| json!({"type": "msg", "text": format!("flood {i}-{j}")}).to_string() + "\n")
            .collect();
        sender.send_raw(lines.as_bytes());
    }
    let mut seen = 0;
    while seen < SENDERS * BURST {
        ui.expect("> flood ");
        seen += 1;
    }
    ui.expect("tess> half typ");

    let rows = ui.rows();
    assert_eq!(ui.last_row(), "tess> half typ", "\n{}", ui.dump());
    let last = rows.len() - 1;
    assert!(rows[last - 1].contains("> flood "), "\n{}", ui.dump());
    assert_eq!(rows.iter().filter(|row| row.contains("half typ")).count(), 1, "\n{}", ui.dump());
    let floods = rows.iter().filter(|row| row.contains("> flood ")).count();
    assert_eq!(floods, SENDERS * BURST, "whole lines, one per row:\n{}", ui.dump());
    let cursor = ui.screen.screen().cursor_position();
    assert_eq!(cursor, (last as u16, "tess> half typ".len() as u16), "the cursor stays put");
    let nick = rows[last - 1].find("<s").unwrap() as u16 + 1;
    let cell = ui.screen.screen().cell(last as u16 - 1, nick).unwrap();
    assert_eq!(cell.contents(), "s");
    assert_ne!(cell.fgcolor(), vt100::Color::Default, "nicks are coloured");

    ui.send("ed\r");
    assert_eq!(next_text_from(&mut bob, "tess"), "half typed");
    ui.expect("tess> ");
}

/// Lines typed and sent while a flood prints: every row on the screen is
/// either a whole prompt line or a whole message, never a mix of the two (the
/// printer must never write while the prompt is being drawn or left).
#[test]
fn typing_during_a_flood_never_mixes_lines() {
    let server = TestServer::start(&[]);
    let mut ui = Ui::start(&server, "tess", &[]);
    ui.expect("tess> ");
    let mut bob = server.join("bob");
    ui.expect("bob joined");
    let flood: String = (0..2000)
        .map(|i| json!({"type": "msg", "text": format!("flood {i}")}).to_string() + "\n")
        .collect();
    bob.send_raw(flood.as_bytes());
    for i in 0..20 {
        ui.send(&format!("mine {i}\r"));
        // Waiting on the client's own output keeps the pty drained, as a
        // terminal would; the echo shows the server got the line.
        ui.expect(&format!("<tess> mine {i}\r\n"));
    }
    for i in 0..20 {
        assert_eq!(next_text_from(&mut bob, "tess"), format!("mine {i}"));
    }
    say(&mut bob, "the end");
    ui.expect("<bob> the end");
    ui.expect("tess> ");

    let rows = ui.rows();
    for row in &rows {
        assert!(is_whole_line(row), "mixed row {row:?}\n{}", ui.dump());
    }
    assert_eq!(rows.iter().filter(|row| row.contains("> flood")).count(), 2000);
    assert_eq!(ui.last_row(), "tess>");
}

/// `/nick` waits for the server's answer before the next prompt, so that
/// the prompt shows the new nick; the answer is printed just as that prompt
/// is drawn, the moment a careless printer would write into it.
#[test]
fn renaming_redraws_the_prompt_cleanly() {
    let server = TestServer::start(&[]);
    let mut ui = Ui::start(&server, "t0", &[]);
    ui.expect("t0> ");
    for i in 1..=20 {
        ui.send(&format!("/nick t{i}\r"));
        ui.expect(&format!("* you are now t{i}"));
        ui.expect(&format!("t{i}> "));
    }
    let rows = ui.rows();
    for row in &rows[2..] {
        let prompt = row.split_once("> /nick t").is_some_and(|(old, new)| {
            old.starts_with('t') && !new.is_empty() && new.bytes().all(|b| b.is_ascii_digit())
        });
        let notice = row.len() > 6 && row[6..].starts_with("* you are now t");
        assert!(prompt || notice || row == "t20>", "mixed row {row:?}\n{}", ui.dump());
    }
    assert_eq!(ui.last_row(), "t20>");
}

/// A row the flood test expects: a prompt (with a sent line), a notice, or
/// one whole message.
fn is_whole_line(row: &str) -> bool {
    let numbered = |text: &str, prefix: &str| {
        text.strip_prefix(prefix)
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    };
    if row == "tess>" || numbered(row, "tess> mine ") || row.starts_with("* ") {
        return true;
    }
    let Some((time, message)) = row.split_once(' ') else { return false };
    let clock = time.len() == 5 && time.bytes().enumerate().all(|(i, b)| (i == 2) == (b == b':'));
    clock
        && (numbered(message, "<bob> flood ")
            || numbered(message, "<tess> mine ")
            || message == "<bob> the end"
            || message == "* bob joined")
}

/// `/who` lists the people in the room.
#[test]
fn who_lists_the_users() {
    let server = TestServer::start(&[]);
    let _bob = server.join("bob");
    let mut ui = Ui::start(&server, "tess", &[]);
    ui.expect("Welcome, tess! Here now (2): bob, tess");
    ui.expect("tess> ");
    ui.send("/who\r");
    ui.expect("* Here now (2): bob, tess");
}

/// `/quit REASON` leaves with the reason and exits 0.
#[test]
fn quit_exits_0_and_the_others_see_the_reason() {
    let server = TestServer::start(&[]);
    let mut bob = server.join("bob");
    let mut ui = Ui::start(&server, "tess", &[]);
    ui.expect("tess> ");
    ui.send("/quit see you\r");
    assert_eq!(ui.exit_code(), 0);
    let leave = bob.expect_type("leave");
    assert_eq!(
        (leave["nick"].as_str(), leave["reason"].as_str()),
        (Some("tess"), Some("quit: see you"))
    );
}

/// A taken nick at start-up: the client says so and asks for another (a bad
/// one gets a hint), then joins with it, without restarting.
#[test]
fn a_taken_nick_at_start_up_lets_you_pick_another() {
    let server = TestServer::start(&[]);
    let mut bob = server.join("Tess");
    let mut ui = Ui::start(&server, "tess", &[]);
    ui.expect("! the nick tess is taken");
    ui.expect("nick> ");
    ui.send("no good\r");
    ui.expect("U+0020");
    ui.expect("nick> ");
    ui.send("tess2\r");
    ui.expect("Welcome, tess2!");
    ui.expect("tess2> ");
    assert_eq!(bob.expect_type("join")["nick"], "tess2");
    ui.send("hello\r");
    assert_eq!(next_text_from(&mut bob, "tess2"), "hello");
}

/// The server crashing: one clear notice, typing still works (a line that
/// cannot be sent says so), no CPU burnt while waiting to reconnect, and
/// Ctrl-D still quits at once with exit 0.
#[test]
fn the_server_going_away_gives_a_notice_and_no_busy_loop() {
    let server = TestServer::start(&[]);
    let mut ui = Ui::start(&server, "tess", &[]);
    ui.expect("tess> ");
    drop(server); // SIGKILL: a crash, no goodbye
    ui.expect("* Disconnected: the server closed the connection. Reconnecting in 1 s");
    ui.expect("tess> ");
    ui.send("anyone?\r");
    ui.expect("! Not connected, so this was not sent: anyone?");
    ui.expect("tess> ");

    // Measure a stretch of pure waiting (attempts are refused at once).
    let before = ui.cpu_time();
    std::thread::sleep(Duration::from_secs(2));
    let used = ui.cpu_time() - before;
    assert!(used < Duration::from_millis(200), "{used:?} of CPU in 2 s of waiting");

    ui.send("\x04");
    assert_eq!(ui.exit_code(), 0);
}

/// The server restarting on the same port: the client rejoins with the same
/// nick, shows what was said while it was away, and sends again.
#[test]
fn it_reconnects_after_the_server_restarts() {
    let server = TestServer::start(&[]);
    let bind = server.addr.to_string();
    let mut ui = Ui::start(&server, "tess", &[]);
    ui.expect("tess> ");
    let mut server = server;
    server.signal(libc::SIGINT); // a clean restart: everyone gets a bye
    assert_eq!(server.wait_exit(TIMEOUT), Some(0));
    ui.expect("* Disconnected: server shutting down. Reconnecting in 1 s");
    ui.expect("* Cannot reconnect: connection refused. Reconnecting in 2 s");

    let server = TestServer::start_on(&bind, &[]);
    let mut carol = server.join("carol");
    say(&mut carol, "did you miss me?");
    carol.sync();
    ui.expect("* Reconnected to");
    ui.expect("as tess. Here now: carol, tess");
    ui.expect("-- 1 message missed while you were away --");
    ui.expect("<carol> did you miss me?");
    ui.expect("-- end of history --");
    ui.expect("tess> ");
    ui.send("back again\r");
    assert_eq!(next_text_from(&mut carol, "tess"), "back again");
}

/// With `--no-reconnect`, losing the server ends the client even while it
/// sits in the editor: exit 1, one sentence, and the terminal restored.
#[test]
fn without_reconnect_losing_the_server_exits_1_and_restores_the_terminal() {
    let server = TestServer::start(&[]);
    let addr = server.addr;
    let mut ui = Ui::start(&server, "tess", &["--no-reconnect"]);
    let pty = ui.session.get_process().get_raw_handle().expect("pty handle");
    let cooked = libc::ICANON | libc::ISIG;
    ui.expect("tess> ");
    ui.send("half");
    ui.expect("half");
    assert_eq!(terminal_mode(&pty) & cooked, 0, "the editor is in raw mode");
    drop(server);
    ui.expect(&format!("chat: lost the connection to {addr}: the server closed the connection"));
    assert_eq!(ui.exit_code(), 1);
    assert_eq!(terminal_mode(&pty) & cooked, cooked, "the terminal is back in cooked mode");
}

/// The pty's local modes (echo, canonical input, signals...).
fn terminal_mode(pty: &impl std::os::fd::AsRawFd) -> libc::tcflag_t {
    // SAFETY: a zeroed termios is a valid buffer for tcgetattr to fill.
    let mut termios: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: a valid fd and a valid termios buffer.
    assert_eq!(unsafe { libc::tcgetattr(pty.as_raw_fd(), &mut termios) }, 0);
    termios.c_lflag
}

/// Ctrl-C on a line clears it (nothing is sent); on an empty line it quits
/// cleanly with exit 0.
#[test]
fn ctrl_c_clears_a_line_and_quits_on_an_empty_one() {
    let server = TestServer::start(&[]);
    let mut bob = server.join("bob");
    let mut ui = Ui::start(&server, "tess", &[]);
    ui.expect("tess> ");
    ui.send("oops");
    ui.expect("oops");
    ui.send("\x03");
    ui.expect("tess> ");
    assert_eq!(ui.last_row(), "tess>", "nothing after the prompt\n{}", ui.dump());
    ui.send("fine\r");
    assert_eq!(next_text_from(&mut bob, "tess"), "fine");
    ui.expect("<tess> fine");
    ui.expect("tess> ");
    ui.send("\x03");
    assert_eq!(ui.exit_code(), 0);
    assert_eq!(bob.expect_type("leave")["reason"], "quit");
}

/// Tab completes a nick (with `: ` at the start of a line) and a command;
/// Up recalls earlier lines; Ctrl-D quits.
#[test]
fn tab_completes_nicks_and_commands_and_up_recalls() {
    let server = TestServer::start(&[]);
    let mut bob = server.join("bobby");
    let mut ui = Ui::start(&server, "tess", &[]);
    ui.expect("tess> ");
    ui.send("bo\t");
    ui.expect("bobby: ");
    ui.send("hi\r");
    assert_eq!(next_text_from(&mut bob, "tess"), "bobby: hi");
    ui.expect("tess> ");
    ui.send("/wh\t");
    ui.expect("/who ");
    ui.send("\r");
    ui.expect("Here now (2)");
    ui.expect("tess> ");
    ui.send("\x1b[A");
    ui.expect("tess> /who");
    ui.send("\x1b[A");
    ui.expect("tess> bobby: hi");
    assert_eq!(ui.last_row(), "tess> bobby: hi", "\n{}", ui.dump());
    ui.send("\x03"); // clears the recalled line
    ui.expect("tess> ");
    ui.send("\x04");
    assert_eq!(ui.exit_code(), 0);
}

/// Commands: an unknown one gets a hint and sends nothing; private messages
/// read both ways; actions; `/nick` changes the prompt.
#[test]
fn commands_private_messages_actions_and_nick() {
    let server = TestServer::start(&[]);
    let mut bob = server.join("bob");
    let mut ui = Ui::start(&server, "tess", &[]);
    ui.expect("tess> ");
    ui.send("/dance\r");
    ui.expect("! unknown command /dance; type /help for the list");
    ui.expect("tess> ");
    ui.send("/msg bob psst\r");
    ui.expect("[you -> bob] psst");
    ui.expect("tess> ");
    let private = bob.expect_type("msg");
    assert_eq!((private["text"].as_str(), private["to"].as_str()), (Some("psst"), Some("bob")));
    bob.send_json(json!({"type": "msg", "text": "hush", "to": "tess"}));
    ui.expect("[bob -> you] hush");
    ui.expect("tess> ");
    ui.send("/me waves\r");
    ui.expect("* tess waves");
    ui.expect("tess> ");
    ui.send("/nick tessa\r");
    ui.expect("* you are now tessa");
    ui.expect("tessa> ");
    let events = bob.sync();
    assert!(events.iter().all(|e| e["text"] != "/dance"), "the typo was not sent: {events:?}");
}

/// `TERM=dumb`: no editor, no escape codes at all, plain lines both ways.
#[test]
fn a_dumb_terminal_gets_plain_lines() {
    let server = TestServer::start(&[]);
    let mut bob = server.join("bob");
    let mut ui = Ui::start_with(&server, "tess", &[], &[("TERM", "dumb")]);
    ui.expect("* Welcome, tess! Here now (2): bob, tess");
    ui.expect("Tab completes nicks.\r\n");
    say(&mut bob, "hi tess");
    ui.expect("<bob> hi tess\r\n");
    ui.send("plain works\n");
    assert_eq!(next_text_from(&mut bob, "tess"), "plain works");
    ui.expect("<tess> plain works\r\n");
    ui.send("\x04");
    assert!(!ui.transcript.contains(&0x1b), "no escape codes: {}", ui.dump());
    assert_eq!(ui.exit_code(), 0);
}
