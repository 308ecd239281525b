//! The `chat` command line: parses arguments and hands over to the library.
//!
//! Policy lives here and nowhere else: the signal handler, error messages for
//! people (`chat: ...` on stderr), and exit codes (0 ok, 1 runtime error, 2 usage;
//! clap exits with 2 on usage errors by itself).

use std::process::ExitCode;

use clap::builder::TypedValueParser as _;
use clap::{Args, Parser, Subcommand};

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
}

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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve(args),
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
        motd: args.motd.map(|motd| chat::protocol::text::clean(&motd)),
        send_queue: args.send_queue,
    };
    let server = Server::bind(&args.bind, config).map_err(|err| err.to_string())?;
    let shutdown = server.shutdown_handle();
    ctrlc::set_handler(move || shutdown.trigger())
        .map_err(|err| format!("cannot install the Ctrl-C handler: {err}"))?;
    server.run().map_err(|err| format!("the server stopped: {err}"))
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        super::Cli::command().debug_assert();
    }
}
