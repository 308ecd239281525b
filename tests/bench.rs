//! `chat bench` as a person or a script runs it: each scenario briefly, against
//! a server it spawns or one started by the harness, with the JSON line's
//! figures checked for sense (everything arrives, counts add up, one order,
//! percentiles in order), never for speed.
//!
//! Every run passes `--timeout`, so a bug ends in a failed test, not a hang.

mod common;

use std::net::TcpListener;
use std::process::{Command, Output};

use serde_json::Value;

use common::TestServer;

/// Runs `chat bench ARGS`, the arguments given as one line.
fn bench(args: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_chat"))
        .arg("bench")
        .args(args.split_whitespace())
        .env_remove("CHAT_RATE")
        .output()
        .expect("run chat bench")
}

/// The one JSON line a run printed on stdout.
fn json_line(output: &Output) -> Value {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "exactly one line on stdout, got: {stdout}");
    serde_json::from_str(lines[0]).unwrap_or_else(|err| panic!("not JSON ({err}): {stdout}"))
}

/// Runs a scenario that must succeed and returns its figures.
fn figures(args: &str) -> Value {
    let output = bench(args);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "chat bench {args} failed: {stderr}");
    let figures = json_line(&output);
    assert_eq!(figures["ok"], true, "{figures}");
    assert_eq!(figures["problem"], Value::Null, "{figures}");
    assert!(stderr.contains("deliveries") || stderr.contains("joined"), "the table: {stderr}");
    figures
}

fn number(value: &Value) -> f64 {
    value.as_f64().unwrap_or_else(|| panic!("not a number: {value}"))
}

/// Asserts a delivery run got `clients × messages` deliveries, all of them,
/// in one order, with latency percentiles in order.
fn assert_all_delivered(run: &Value, clients: u64, messages: u64) {
    assert_eq!(run["clients"], clients, "{run}");
    assert_eq!(run["sent"], messages, "{run}");
    assert_eq!(run["expected"], clients * messages, "{run}");
    assert_eq!(run["received"], run["expected"], "{run}");
    assert_eq!(run["loss"], 0, "{run}");
    assert_eq!(run["same_order"], true, "{run}");
    assert_eq!(run["orders"], 1, "{run}");
    assert_eq!(run["out_of_order"], 0, "{run}");
    assert_eq!((&run["closed"], &run["errors"]), (&Value::from(0), &Value::from(0)), "{run}");
    assert_eq!(run["timed_out"], false, "{run}");
    assert!(number(&run["deliveries_per_s"]) > 0.0, "{run}");
    assert!(number(&run["wall_s"]) > 0.0, "{run}");
    let latency = &run["latency_ms"];
    let percentiles: Vec<f64> =
        ["p50", "p90", "p99", "p999", "max"].iter().map(|p| number(&latency[*p])).collect();
    assert!(percentiles[0] > 0.0, "{latency}");
    assert!(percentiles.windows(2).all(|pair| pair[0] <= pair[1]), "in order: {latency}");
    assert!(number(&run["cpu"]["bench_s"]) > 0.0, "{run}");
}

#[test]
fn fanout_delivers_everything_to_everyone_in_one_order() {
    let run = figures("fanout --spawn --json --clients 20 --messages 20 --timeout 30");
    assert_eq!(run["scenario"], "fanout");
    assert_eq!((&run["senders"], &run["messages"]), (&Value::from(20), &Value::from(20)));
    assert_all_delivered(&run, 20, 400);
    assert!(run["server_pid"].is_u64() && run["cpu"]["server_s"].is_number(), "{run}");
    assert!(number(&run["server_peak_rss_kib"]) > 0.0, "{run}");
}

#[test]
fn fanout_with_a_few_senders_of_long_messages() {
    let run = figures(
        "fanout --spawn --json --clients 15 --senders 3 --messages 30 --size 2000 --threads 3 \
         --send-queue 4194304 --timeout 30",
    );
    assert_eq!((&run["senders"], &run["size"]), (&Value::from(3), &Value::from(2000)));
    assert_all_delivered(&run, 15, 90);
}

#[test]
fn latency_delivers_the_paced_messages_and_times_them() {
    let run = figures("latency --spawn --json --clients 10 --rate 200 --duration 1 --timeout 30");
    assert_eq!(run["scenario"], "latency");
    assert_all_delivered(&run, 10, 200);
    assert!(number(&run["wall_s"]) >= 0.9, "the sends are spread over the second: {run}");
    assert!(number(&run["max_send_lag_ms"]) >= 0.0, "{run}");
}

#[test]
fn idle_measures_what_each_connection_costs_the_server() {
    let run = figures("idle --spawn --json --connections 200 --hold 0.3 --timeout 30");
    assert_eq!(run["scenario"], "idle");
    assert_eq!((&run["connections"], &run["closed"]), (&Value::from(200), &Value::from(0)));
    assert!(number(&run["rss_per_connection_bytes"]) > 0.0, "{run}");
    assert!(number(&run["rss_after_kib"]) > number(&run["rss_before_kib"]), "{run}");
    assert!(number(&run["threads"]) >= 1.0 && number(&run["threads_before"]) >= 1.0, "{run}");
    assert!(number(&run["fds"]) >= 200.0, "a descriptor per connection at least: {run}");
}

#[test]
fn stall_compares_both_runs_and_sees_the_stalled_client_dropped() {
    // Long messages: 4 MB for each client, far more than the server holds for
    // one (1 MiB by default) plus what the sockets buffer.
    let run = figures("stall --spawn --json --clients 10 --messages 400 --size 1000 --timeout 30");
    assert_eq!(run["scenario"], "stall");
    assert_all_delivered(&run["without"], 10, 4000);
    assert_all_delivered(&run["with"], 10, 4000);
    assert_eq!(run["stalled_dropped"], true, "{run}");
    for half in ["without", "with"] {
        assert!(number(&run[half]["server_peak_rss_kib"]) > 0.0, "{run}");
    }
    assert!(number(&run["dropped_after_ms"]) >= 0.0, "{run}");
    assert!(number(&run["throughput_ratio"]) > 0.0 && number(&run["p99_ratio"]) > 0.0, "{run}");
}

#[test]
fn measures_a_server_it_did_not_start() {
    let server = TestServer::start(&[]);
    let (addr, pid) = (server.addr.to_string(), server.pid().to_string());
    let args = format!("fanout {addr} --server-pid {pid} --json --clients 10 --messages 10");
    let run = figures(&format!("{args} --timeout 30"));
    assert_all_delivered(&run, 10, 100);
    assert_eq!(run["server"], addr.as_str());
    assert!(run["cpu"]["server_s"].is_number(), "{run}");

    // A second run on the same server ignores the first one's history.
    let again = figures(&format!("fanout {addr} --json --clients 5 --messages 3 --timeout 30"));
    assert_all_delivered(&again, 5, 15);
    assert_eq!(again["cpu"]["server_s"], Value::Null, "no pid given");
}

#[test]
fn a_run_that_cannot_finish_reports_what_it_got_and_fails() {
    // Flood control on: the server reads each sender at 1 line a second, so
    // 50 messages each cannot all arrive before the timeout.
    let server = TestServer::start(&["--rate", "1", "--burst", "1"]);
    let addr = server.addr;
    let output = bench(&format!("fanout {addr} --json --clients 2 --messages 50 --timeout 2"));
    assert_eq!(output.status.code(), Some(1));
    let run = json_line(&output);
    assert_eq!((&run["ok"], &run["timed_out"]), (&Value::from(false), &Value::from(true)), "{run}");
    assert!(number(&run["received"]) < number(&run["expected"]), "{run}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let last = stderr.lines().last().unwrap_or_default();
    assert!(last.starts_with("chat: the run did not finish within the 2 s timeout"), "{stderr}");
}

#[test]
fn an_unreachable_server_is_one_sentence_and_status_1() {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let addr = format!("127.0.0.1:{port}");
    let output = bench(&format!("fanout {addr} --clients 3 --timeout 10"));
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty(), "no figures");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with(&format!("chat: cannot connect to {addr}")), "{stderr}");
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        "fanout --clients 3 --senders 4 --spawn",
        "fanout --send-queue 65536",
        "fanout 127.0.0.1:5000 --spawn",
        "fanout --spawn --server-pid 1",
        "fanout --spawn --size 5000",
        "fanout --spawn --timeout 0",
        "latency --spawn --duration 5 --timeout 5",
        "latency --spawn --rate 0",
        "latency --spawn --rate 0.5 --duration 1",
        "idle --spawn --connections 0",
        "dance",
    ] {
        let output = bench(args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args}: {stderr}");
        assert!(stderr.starts_with("error: "), "{args}: {stderr}");
    }
}

#[test]
fn help_says_flood_control_must_be_off() {
    for scenario in ["fanout", "latency", "idle", "stall"] {
        let output = bench(&format!("{scenario} --help"));
        let help = String::from_utf8_lossy(&output.stdout);
        assert!(help.contains("--rate 0") && help.contains("--spawn"), "{scenario}: {help}");
    }
}
