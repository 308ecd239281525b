//! `chat connect` without a terminal: piped stdin (for scripts), start-up
//! failures and usage errors, run as the real binary against the real server.

mod common;

use std::io::Write;
use std::net::TcpListener;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;

use common::{Conn, TestServer, TIMEOUT};

/// `chat connect ARGS` with no CHAT_* settings inherited from the caller.
fn client(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_chat"));
    command.arg("connect").args(args);
    for var in ["CHAT_ADDR", "CHAT_NICK", "CHAT_NO_RECONNECT", "CHAT_BELL", "NO_COLOR"] {
        command.env_remove(var);
    }
    command
}

/// Spawns `command` with stdin piped and stdout/stderr captured.
fn spawn_piped(mut command: Command) -> Child {
    command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    command.spawn().expect("start chat connect")
}

/// Waits for the child to exit, failing the test if it takes too long.
fn finish(child: Child) -> Output {
    let (done, output) = mpsc::channel();
    std::thread::spawn(move || done.send(child.wait_with_output().expect("wait")));
    output.recv_timeout(TIMEOUT).expect("chat connect did not exit in time")
}

/// Runs `command` with `input` on its stdin, to the end.
fn run_with_input(command: Command, input: &str) -> Output {
    let mut child = spawn_piped(command);
    let mut stdin = child.stdin.take().expect("piped stdin");
    // A client that fails early exits without reading its input.
    match stdin.write_all(input.as_bytes()) {
        Err(err) if err.kind() != std::io::ErrorKind::BrokenPipe => panic!("write stdin: {err}"),
        _ => drop(stdin),
    }
    finish(child)
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Reads `count` room messages from `conn`, returning (from, text) pairs and
/// skipping other events.
fn messages(conn: &mut Conn, count: usize) -> Vec<(String, String)> {
    (0..count)
        .map(|_| {
            let msg = conn.expect_type("msg");
            (msg["from"].as_str().unwrap().to_owned(), msg["text"].as_str().unwrap().to_owned())
        })
        .collect()
}

/// Every line of a large input arrives, in order, as it is (a leading `/`
/// included, empty lines skipped); the client leaves with a clean quit and
/// exits 0, printing nothing. With thousands of echoes in flight, a client that
/// closed without waiting for its pong would reset the connection and lose
/// lines (and the others would see "connection lost").
#[test]
fn piped_lines_are_all_delivered_then_it_quits_cleanly() {
    let server = TestServer::start(&[]);
    let mut bob = server.join("bob");
    let mut lines: Vec<String> = (0..3000).map(|i| format!("log line {i}")).collect();
    lines.insert(10, String::new());
    lines.insert(20, "/not a command".into());
    let input = lines.join("\n") + "\n";
    let output = run_with_input(client(&[&server.addr.to_string(), "--nick", "ci"]), &input);
    assert_eq!(output.status.code(), Some(0), "stderr: {}", stderr(&output));
    assert!(output.stdout.is_empty(), "piped mode prints nothing on success");
    assert!(output.stderr.is_empty(), "stderr: {}", stderr(&output));
    let expected: Vec<(String, String)> =
        lines.iter().filter(|l| !l.is_empty()).map(|l| ("ci".to_owned(), l.clone())).collect();
    assert_eq!(messages(&mut bob, expected.len()), expected);
    let leave = bob.expect_type("leave");
    assert_eq!(leave["nick"], "ci");
    assert_eq!(leave["reason"], "quit");
}

/// A server with flood control paces a script's lines; the client waits
/// for every one of them instead of giving up, and still exits 0.
#[test]
fn a_paced_server_still_gets_every_line() {
    let server = TestServer::start(&["--rate", "50", "--burst", "5"]);
    let mut bob = server.join("bob");
    let lines: Vec<String> = (0..60).map(|i| format!("paced {i}")).collect();
    let started = std::time::Instant::now();
    let output =
        run_with_input(client(&[&server.addr.to_string(), "--nick", "ci"]), &lines.join("\n"));
    assert_eq!(output.status.code(), Some(0), "stderr: {}", stderr(&output));
    assert!(started.elapsed() >= std::time::Duration::from_millis(900), "the server did pace it");
    let expected: Vec<(String, String)> =
        lines.iter().map(|l| ("ci".to_owned(), l.clone())).collect();
    assert_eq!(messages(&mut bob, lines.len()), expected);
}

/// A last line without a newline is sent too; `CHAT_ADDR` and `CHAT_NICK`
/// stand in for the argument and the flag.
#[test]
fn address_and_nick_come_from_the_environment() {
    let server = TestServer::start(&[]);
    let mut bob = server.join("bob");
    let mut command = client(&[]);
    command.env("CHAT_ADDR", server.addr.to_string()).env("CHAT_NICK", "envbot");
    let output = run_with_input(command, "deploy done");
    assert_eq!(output.status.code(), Some(0), "stderr: {}", stderr(&output));
    assert_eq!(messages(&mut bob, 1), [("envbot".to_owned(), "deploy done".to_owned())]);
}

/// A line the server refuses (too long here) is reported on stderr and makes
/// the exit status 1; the other lines still go through.
#[test]
fn a_refused_line_makes_the_exit_status_1() {
    let server = TestServer::start(&["--max-line", "64"]);
    let mut bob = server.join("bob");
    let input = format!("short\n{}\nafter\n", "x".repeat(200));
    let output = run_with_input(client(&[&server.addr.to_string(), "--nick", "ci"]), &input);
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(err.contains("chat: the server refused a line: the line was longer"), "{err}");
    assert!(err.contains("chat: 1 of 3 lines were not delivered"), "{err}");
    let got = messages(&mut bob, 2);
    assert_eq!(got[0].1, "short");
    assert_eq!(got[1].1, "after");
}

/// A taken nick cannot be fixed by a script: exit 1, saying so.
#[test]
fn a_taken_nick_exits_1_in_piped_mode() {
    let server = TestServer::start(&[]);
    let _ci = server.join("ci");
    let output = run_with_input(client(&[&server.addr.to_string(), "--nick", "CI"]), "hi\n");
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(err.starts_with(&format!("chat: {} did not let CI in: ", server.addr)), "{err}");
    assert!(err.contains("taken"), "{err}");
}

/// When nothing listens on the address: exit 1 and one sentence naming it.
#[test]
fn cannot_connect_exits_1_with_one_sentence_naming_the_address() {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let addr = format!("127.0.0.1:{port}");
    let output = run_with_input(client(&[&addr, "--nick", "ci"]), "hi\n");
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stderr(&output),
        format!("chat: cannot connect to {addr}: connection refused; is the server running?\n")
    );
}

/// An address that does not resolve is a runtime failure with advice.
#[test]
fn an_unresolvable_address_exits_1_with_advice() {
    let output = run_with_input(client(&["no-such-host.invalid:5000", "--nick", "ci"]), "");
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(err.starts_with("chat: cannot connect to no-such-host.invalid:5000: "), "{err}");
    assert!(err.contains("HOST:PORT"), "{err}");
}

/// Usage errors exit 2: an unknown flag, a bad nick, no nick at all.
#[test]
fn usage_errors_exit_2() {
    let cases: [(&[&str], &str); 3] = [
        (&["--bogus"], "--bogus"),
        (&["--nick", "bad nick"], "U+0020"),
        (&["--nick", ""], "empty"),
    ];
    for (args, needle) in cases {
        let output = run_with_input(client(args), "");
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(stderr(&output).contains(needle), "{args:?}: {}", stderr(&output));
    }
    let mut no_nick = client(&[]);
    no_nick.env_remove("USER");
    let output = run_with_input(no_nick, "");
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("no nick given"), "{}", stderr(&output));
    let mut bad_user = client(&[]);
    bad_user.env("USER", "john.doe");
    let output = run_with_input(bad_user, "");
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("$USER (john.doe) is not a valid nick"));
}

/// `$USER` is the nick when none is given.
#[test]
fn the_nick_defaults_to_user() {
    let server = TestServer::start(&[]);
    let mut bob = server.join("bob");
    let mut command = client(&[&server.addr.to_string()]);
    command.env("USER", "carol");
    let output = run_with_input(command, "hello\n");
    assert_eq!(output.status.code(), Some(0), "stderr: {}", stderr(&output));
    assert_eq!(messages(&mut bob, 1), [("carol".to_owned(), "hello".to_owned())]);
}

/// If the server goes away while a script is still writing, the client does
/// not wait for more input: it exits 1 at once, saying the lines may be lost.
#[test]
fn losing_the_server_mid_input_exits_1() {
    let mut server = TestServer::start(&[]);
    let mut bob = server.join("bob");
    let mut child = spawn_piped(client(&[&server.addr.to_string(), "--nick", "ci"]));
    let mut stdin = child.stdin.take().expect("piped stdin");
    stdin.write_all(b"first\n").unwrap();
    assert_eq!(messages(&mut bob, 1)[0].1, "first");
    server.signal(libc::SIGINT);
    assert_eq!(server.wait_exit(TIMEOUT), Some(0));
    // stdin stays open: only the lost connection can end the client.
    let output = finish(child);
    drop(stdin);
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(err.contains(&format!("chat: lost the connection to {}", server.addr)), "{err}");
}
