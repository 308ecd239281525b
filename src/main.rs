//! The `chat` command line: parses arguments and hands over to the library.
//!
//! Policy lives here and nowhere else: the signal handler, error messages for
//! people (`chat: ...` on stderr), and exit codes (0 ok, 1 runtime error, 2 usage;
//! clap exits with 2 on usage errors by itself).

use std::process::ExitCode;
use std::time::Duration;

use clap::builder::{FalseyValueParser, TypedValueParser as _};
use clap::{Args, Parser, Subcommand};

use chat::bench::{Burst, Idle, Paced, Scenario, Target};
use chat::protocol::text::nick_problem;
use chat::protocol::{DEFAULT_ADDR, DEFAULT_MAX_LINE};
use chat::server::{Config, Server};

/// A small, sturdy group chat for the terminal.
#[derive(Debug, Parser)]
#[command(name = "chat", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a chat server.
    Serve(ServeArgs),
    /// Join a chat server: interactive on a terminal; with stdin piped, send each line and exit.
    #[command(after_help = CONNECT_KEYS)]
    Connect(ConnectArgs),
    /// Load-test a chat server with many JSON clients and report figures.
    #[command(after_help = BENCH_NOTE)]
    Bench(BenchArgs),
}

/// Shown below `chat connect --help`.
const CONNECT_KEYS: &str = "\
Commands: /who, /msg NICK TEXT, /me TEXT, /nick NAME, /quit [REASON], /help
Keys: Tab completes nicks and commands, Up/Down recall earlier lines,
      Ctrl-C clears the line (on an empty line it quits), Ctrl-D quits.
Colours are off when NO_COLOR is set or stdout is not a terminal.
Exit status: 0 after a normal quit, 1 when the server cannot be reached (or is
lost with --no-reconnect, or refuses piped lines), 2 on usage errors.";

/// Shown below `chat bench --help` and each scenario's help.
const BENCH_NOTE: &str = "\
Flood control must be off on the server under test (chat serve --rate 0), or
the figures measure the flood control; --spawn starts its own server with it off.
Each scenario prints a table; with --json, stdout gets one JSON line of figures
and the table goes to stderr. A live status line is shown on stderr when it is a
terminal. Exit status: 0 when all is well, 1 on loss, disagreeing orders, a
timeout or an unreachable server (after printing what was measured), 2 on usage
errors.";

#[derive(Debug, Args)]
struct ServeArgs {
    /// Address to listen on, IP:PORT (port 0 picks a free one).
    #[arg(long, env = "CHAT_BIND", default_value = DEFAULT_ADDR, value_name = "ADDR")]
    bind: String,
    /// Room messages replayed to someone who joins.
    #[arg(long, env = "CHAT_HISTORY", default_value_t = 50, value_name = "N")]
    history: usize,
    /// Longest line accepted from a client, in bytes; longer ones are discarded with an error.
    #[arg(long, env = "CHAT_MAX_LINE", default_value_t = DEFAULT_MAX_LINE, value_name = "BYTES",
          value_parser = clap::value_parser!(u32).range(64..=16 * 1024 * 1024).map(|v| v as usize))]
    max_line: usize,
    /// Most clients connected at once; more are refused with server_full.
    #[arg(long, env = "CHAT_MAX_CLIENTS", default_value_t = 10_000, value_name = "N")]
    max_clients: usize,
    /// Message of the day, shown to everyone who joins.
    #[arg(long, env = "CHAT_MOTD", value_name = "TEXT")]
    motd: Option<String>,
    /// Most bytes queued for one client; a client that falls this far behind is dropped as "too slow".
    #[arg(long, env = "CHAT_SEND_QUEUE", default_value_t = 1024 * 1024, value_name = "BYTES",
          value_parser = clap::value_parser!(u32).range(4096..).map(|v| v as usize))]
    send_queue: usize,
    /// Seconds one write to a client may block before it is dropped as "too slow" (0: forever).
    #[arg(long, env = "CHAT_WRITE_TIMEOUT", default_value_t = 10.0, value_name = "SECS",
          value_parser = parse_seconds)]
    write_timeout: f64,
    /// Flood control: lines per second a client may send once its burst is spent; a faster
    /// client is slowed down, never cut off (0 turns flood control off, as load tests need).
    #[arg(long, env = "CHAT_RATE", default_value_t = 2.0, value_name = "LINES_PER_SEC",
          value_parser = parse_seconds)]
    rate: f64,
    /// Flood control: lines a client may send at once before --rate applies.
    #[arg(long, env = "CHAT_BURST", default_value_t = 10, value_name = "LINES",
          value_parser = clap::value_parser!(u32).range(1..))]
    burst: u32,
    /// Seconds a new connection has to join (JSON hello or plain-mode nick) before it is
    /// closed (0: no limit).
    #[arg(long, env = "CHAT_HANDSHAKE_TIMEOUT", default_value_t = 20.0, value_name = "SECS",
          value_parser = parse_seconds)]
    handshake_timeout: f64,
    /// Most connections from one IP address; more are refused with server_full (0: no limit).
    /// Loopback addresses are exempt unless --limit-loopback is given.
    #[arg(long, env = "CHAT_MAX_PER_IP", default_value_t = 16, value_name = "N")]
    max_per_ip: usize,
    /// Apply --max-per-ip to loopback addresses (127.0.0.1, ::1) too.
    #[arg(long, env = "CHAT_LIMIT_LOOPBACK", value_parser = FalseyValueParser::new())]
    limit_loopback: bool,
}

#[derive(Debug, Args)]
struct ConnectArgs {
    /// Server address, HOST:PORT.
    #[arg(env = "CHAT_ADDR", default_value = DEFAULT_ADDR)]
    addr: String,
    /// Nick to join with [default: $USER].
    #[arg(long, env = "CHAT_NICK", value_name = "NAME", value_parser = parse_nick)]
    nick: Option<String>,
    /// Exit when the server goes away, instead of reconnecting.
    #[arg(long, env = "CHAT_NO_RECONNECT", value_parser = FalseyValueParser::new())]
    no_reconnect: bool,
    /// Ring the terminal bell when someone mentions you or messages you privately.
    #[arg(long, env = "CHAT_BELL", value_parser = FalseyValueParser::new())]
    bell: bool,
}

#[derive(Debug, Args)]
struct BenchArgs {
    #[command(subcommand)]
    scenario: BenchScenario,
}

#[derive(Debug, Subcommand)]
enum BenchScenario {
    /// N clients join, S of them send K messages each as fast as the server takes them, and
    /// every client reads everything: deliveries per second, loss, one order for all.
    #[command(after_help = BENCH_NOTE)]
    Fanout {
        #[command(flatten)]
        burst: BurstArgs,
        #[command(flatten)]
        common: BenchCommon,
    },
    /// N clients, an aggregate rate of messages spread over the senders for a while: the
    /// end-to-end latency of every delivery (p50, p90, p99, p99.9, max).
    #[command(after_help = BENCH_NOTE)]
    Latency {
        #[command(flatten)]
        crowd: CrowdArgs,
        /// Messages per second, all senders together.
        #[arg(long, default_value_t = 10_000.0, value_name = "MSGS_PER_SEC",
              value_parser = parse_positive)]
        rate: f64,
        /// Seconds to send for.
        #[arg(long, default_value_t = 10.0, value_name = "SECS", value_parser = parse_positive)]
        duration: f64,
        #[command(flatten)]
        common: BenchCommon,
    },
    /// C joined connections that do nothing: server memory per connection, threads and
    /// descriptors (from /proc, when the server's pid is known).
    #[command(after_help = BENCH_NOTE)]
    Idle {
        /// Connections to join and hold.
        #[arg(long, default_value_t = 1000, value_name = "C",
              value_parser = clap::value_parser!(u32).range(1..=1_000_000).map(|v| v as usize))]
        connections: usize,
        /// Seconds to hold them once joined, before checking they are all still there.
        #[arg(long, default_value_t = 1.0, value_name = "SECS", value_parser = parse_seconds)]
        hold: f64,
        #[command(flatten)]
        common: BenchCommon,
    },
    /// The fanout twice, without and with one more client that joins and never reads: what
    /// it costs the others, and how soon the server drops it as too slow.
    #[command(after_help = BENCH_NOTE)]
    Stall {
        #[command(flatten)]
        burst: BurstArgs,
        #[command(flatten)]
        common: BenchCommon,
    },
}

#[derive(Debug, Args)]
struct CrowdArgs {
    /// Clients that join (and read everything).
    #[arg(long, default_value_t = 200, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=1_000_000).map(|v| v as usize))]
    clients: usize,
    /// How many of the clients send [default: all of them].
    #[arg(long, value_name = "S",
          value_parser = clap::value_parser!(u32).range(1..=1_000_000).map(|v| v as usize))]
    senders: Option<usize>,
}

#[derive(Debug, Args)]
struct BurstArgs {
    #[command(flatten)]
    crowd: CrowdArgs,
    /// Messages each sender sends.
    #[arg(long, default_value_t = 100, value_name = "K",
          value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    messages: u64,
}

#[derive(Debug, Args)]
struct BenchCommon {
    /// The server to measure, HOST:PORT [default: 127.0.0.1:5000]. Its flood control must be
    /// off (chat serve --rate 0).
    #[arg(value_name = "ADDR", conflicts_with = "spawn")]
    addr: Option<String>,
    /// Start a server of our own (this program's chat serve, flood control off) on a free port
    /// and measure that.
    #[arg(long)]
    spawn: bool,
    /// With --spawn: the server's --send-queue, the bytes it holds for one slow client.
    #[arg(long, value_name = "BYTES", requires = "spawn",
          value_parser = clap::value_parser!(u32).range(4096..).map(|v| v as usize))]
    send_queue: Option<usize>,
    /// The server's process id, to read its memory, threads and CPU from /proc (--spawn knows it).
    #[arg(long, value_name = "PID", conflicts_with = "spawn")]
    server_pid: Option<u32>,
    /// Worker threads driving the clients [default: one per core].
    #[arg(long, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=1024).map(|v| v as usize))]
    threads: Option<usize>,
    /// Seconds the whole scenario may take; then it stops and reports what arrived, as a failure.
    #[arg(long, default_value_t = 60.0, value_name = "SECS", value_parser = parse_seconds)]
    timeout: f64,
    /// Bytes of text per message, padded; never less than the stamp the bench needs (~30).
    #[arg(long, default_value_t = 32, value_name = "BYTES")]
    size: usize,
    /// Print one JSON line of figures on stdout (the table goes to stderr instead).
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve(args),
        Command::Connect(args) => connect(args),
        Command::Bench(args) => bench(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("chat: {err}");
            ExitCode::FAILURE
        }
    }
}

fn serve(args: ServeArgs) -> Result<(), String> {
    let config = Config {
        history: args.history,
        max_line: args.max_line,
        max_clients: args.max_clients,
        max_per_ip: args.max_per_ip,
        limit_loopback: args.limit_loopback,
        motd: args.motd.map(|motd| chat::protocol::text::clean(&motd)),
        send_queue: args.send_queue,
        write_timeout: Duration::from_secs_f64(args.write_timeout),
        rate: args.rate,
        burst: args.burst,
        handshake_timeout: Duration::from_secs_f64(args.handshake_timeout),
    };
    let server = Server::bind(&args.bind, config).map_err(|err| err.to_string())?;
    let shutdown = server.shutdown_handle();
    ctrlc::set_handler(move || shutdown.trigger())
        .map_err(|err| format!("cannot install the Ctrl-C handler: {err}"))?;
    server.run().map_err(|err| format!("the server stopped: {err}"))
}

fn connect(args: ConnectArgs) -> Result<(), String> {
    let nick = match args.nick {
        Some(nick) => nick,
        None => nick_from_user(),
    };
    let config = chat::client::Config {
        addr: args.addr,
        nick,
        reconnect: !args.no_reconnect,
        bell: args.bell,
    };
    chat::client::run(&config).map_err(|err| err.to_string())
}

fn bench(args: BenchArgs) -> Result<(), String> {
    let name = args.scenario.name();
    let (scenario, common) = match args.scenario {
        BenchScenario::Fanout { burst, common } => (Scenario::Fanout(burst.into()), common),
        BenchScenario::Stall { burst, common } => (Scenario::Stall(burst.into()), common),
        BenchScenario::Latency { crowd, rate, duration, common } => {
            let paced = Paced {
                clients: crowd.clients,
                senders: crowd.senders.unwrap_or(crowd.clients),
                rate,
                duration: Duration::from_secs_f64(duration),
            };
            (Scenario::Latency(paced), common)
        }
        BenchScenario::Idle { connections, hold, common } => {
            (Scenario::Idle(Idle { connections, hold: Duration::from_secs_f64(hold) }), common)
        }
    };
    let target = match (common.spawn, common.addr) {
        (true, _) => Target::Spawn { send_queue: common.send_queue },
        (false, addr) => Target::Running {
            addr: addr.unwrap_or_else(|| DEFAULT_ADDR.to_owned()),
            pid: common.server_pid,
        },
    };
    let threads = common
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, std::num::NonZero::get));
    let config = chat::bench::Config {
        target,
        threads,
        timeout: Duration::from_secs_f64(common.timeout),
        size: common.size,
        json: common.json,
        scenario,
    };
    if let Err(problem) = config.check() {
        usage_error(&["bench", name], problem);
    }
    chat::bench::run(&config)
}

impl BenchScenario {
    /// The subcommand's name, for usage errors.
    fn name(&self) -> &'static str {
        match self {
            BenchScenario::Fanout { .. } => "fanout",
            BenchScenario::Latency { .. } => "latency",
            BenchScenario::Idle { .. } => "idle",
            BenchScenario::Stall { .. } => "stall",
        }
    }
}

impl From<BurstArgs> for Burst {
    fn from(args: BurstArgs) -> Burst {
        let clients = args.crowd.clients;
        let senders = args.crowd.senders.unwrap_or(clients);
        Burst { clients, senders, messages: args.messages }
    }
}

/// Exits with a usage error (status 2) against the subcommand at `path`.
fn usage_error(path: &[&str], problem: String) -> ! {
    use clap::CommandFactory as _;
    let mut cli = Cli::command();
    cli.build(); // gives subcommands their full names for the usage line
    let command = path.iter().fold(&mut cli, |command, name| {
        command.find_subcommand_mut(name).expect("the path names subcommands")
    });
    command.error(clap::error::ErrorKind::ArgumentConflict, problem).exit()
}

/// A rate or a number of seconds: more than 0, at most a billion.
fn parse_positive(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(value) if value > 0.0 && value <= 1e9 => Ok(value),
        _ => Err(format!("expected a number from 0 (not included) to 1e9, got {text:?}")),
    }
}

/// A non-negative number of seconds (or lines per second), at most a day.
fn parse_seconds(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(value) if (0.0..=86_400.0).contains(&value) => Ok(value),
        _ => Err(format!("expected a number from 0 to 86400, got {text:?}")),
    }
}

/// The nick rules, applied where the nick is given, so that a bad one is a
/// usage error (exit 2) rather than a refusal from the server.
fn parse_nick(nick: &str) -> Result<String, String> {
    match nick_problem(nick) {
        None => Ok(nick.to_owned()),
        Some(problem) => Err(problem),
    }
}

/// `$USER` as the nick when none is given; exits as a usage error if it is
/// unset or not a valid nick.
fn nick_from_user() -> String {
    use clap::CommandFactory as _;
    let user = std::env::var("USER").unwrap_or_default();
    let problem = match (user.is_empty(), parse_nick(&user)) {
        (false, Ok(nick)) => return nick,
        (true, _) => "no nick given: use --nick NAME or set CHAT_NICK".to_owned(),
        (false, Err(problem)) => {
            format!("$USER ({user}) is not a valid nick: {problem}; use --nick NAME")
        }
    };
    let mut cli = Cli::command();
    cli.build(); // gives the subcommand its full name, `chat connect`, for the usage line
    let connect = cli.find_subcommand_mut("connect").expect("connect is a subcommand of chat");
    connect.error(clap::error::ErrorKind::MissingRequiredArgument, problem).exit()
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        super::Cli::command().debug_assert();
    }
}
