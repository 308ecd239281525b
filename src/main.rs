//! The `chat` command line: parses arguments and hands over to the library.
//!
//! Policy lives here and nowhere else: the signal handler, error messages for
//! people (`chat: ...` on stderr), and exit codes (0 ok, 1 runtime error, 2 usage;
//! clap exits with 2 on usage errors by itself).

use std::process::ExitCode;
use std::time::Duration;

use clap::builder::{FalseyValueParser, TypedValueParser as _};
use clap::{Args, Parser, Subcommand};

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
}

/// Shown below `chat connect --help`.
const CONNECT_KEYS: &str = "\
Commands: /who, /msg NICK TEXT, /me TEXT, /nick NAME, /quit [REASON], /help
Keys: Tab completes nicks and commands, Up/Down recall earlier lines,
      Ctrl-C clears the line (on an empty line it quits), Ctrl-D quits.
Colours are off when NO_COLOR is set or stdout is not a terminal.
Exit status: 0 after a normal quit, 1 when the server cannot be reached (or is
lost with --no-reconnect, or refuses piped lines), 2 on usage errors.";

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
    /// Seconds a new connection has to join (JSON hello or plain-mode nick) before it is closed.
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve(args),
        Command::Connect(args) => connect(args),
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
