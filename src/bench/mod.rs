//! `chat bench`: a load generator that measures a chat server from outside.
//!
//! It opens many JSON-mode clients against a server (one already running, or
//! one it starts itself with `--spawn`), drives them through a scenario and
//! reports figures: a table for people, one JSON line for scripts. It speaks
//! only the wire contract, through [`crate::protocol`], and knows nothing of
//! the server's code, so it measures what any client would see.
//!
//! Flood control must be off on the server under test (`chat serve --rate 0`):
//! with it on, the server reads each client at a person's pace and the figures
//! measure that pace. `--spawn` turns it off itself.
//!
//! The bench must never be the bottleneck, so the client side is a few worker
//! threads (one per core by default) driving all connections over
//! non-blocking sockets with mio, reading 256 KiB at a time and finding the
//! few fields it needs in each line with a purpose-written scanner instead of
//! a JSON parser. Every table reports the CPU the bench and the server used.
//!
//! # Layout
//! - [`engine`]: the worker threads and the phases of a run (join, sync, send);
//!   [`client`]: one connection; [`tally`]: what a worker counts.
//! - [`scan`], [`payload`], [`order`]: the per-delivery work: fields out of an
//!   event line, the bench's message text, the order fingerprint.
//! - [`delivery`]: one measured run of messages; the scenarios [`fanout`],
//!   [`latency`] and [`stall`] are made of it, [`idle`] only joins and waits.
//! - [`report`]: figures as a table and as a JSON line; [`progress`]: the live
//!   line on stderr.
//! - [`spawn`]: `chat serve` as a child; [`procfs`]: its memory, threads and CPU.

mod client;
mod delivery;
mod engine;
mod fanout;
mod idle;
mod latency;
mod order;
mod payload;
mod procfs;
mod progress;
mod report;
mod scan;
mod spawn;
mod stall;
mod tally;

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use engine::{Engine, Halt, Load, Plan, Shared};
use progress::Progress;
use spawn::SpawnedServer;

/// The longest `--size`: a message's text, inside its JSON request, must fit
/// the server's default line limit (4096 bytes).
pub const MAX_SIZE: usize = 4000;

/// Descriptors the bench needs besides its connections (stdio, polls, the
/// spawned server's pipe).
const SPARE_FDS: u64 = 64;

/// What to measure, and how.
#[derive(Debug, Clone)]
pub struct Config {
    /// The server to measure.
    pub target: Target,
    /// Worker threads driving the clients.
    pub threads: usize,
    /// The whole scenario stops after this long and reports what it got, as a failure.
    pub timeout: Duration,
    /// Bytes of text per message (at least the stamp the bench needs).
    pub size: usize,
    /// Print one JSON line of figures on stdout (the table then goes to stderr).
    pub json: bool,
    /// What to do to it.
    pub scenario: Scenario,
}

/// Which server to measure.
#[derive(Debug, Clone)]
pub enum Target {
    /// One already running at `addr` (`HOST:PORT`), with flood control off;
    /// its `pid`, if given, lets the bench read its memory, threads and CPU.
    Running {
        /// Where it listens.
        addr: String,
        /// Its process id, if known.
        pid: Option<u32>,
    },
    /// Start `chat serve` as a child on a free port; `send_queue` sets its
    /// `--send-queue` (bytes held for one slow client) when given.
    Spawn {
        /// Its `--send-queue` in bytes; the server's default when `None`.
        send_queue: Option<usize>,
    },
}

/// The four scenarios.
#[derive(Debug, Clone)]
pub enum Scenario {
    /// Everyone reads everything a burst of senders sends as fast as it can.
    Fanout(Burst),
    /// A steady aggregate rate; the latency of every delivery.
    Latency(Paced),
    /// Joined connections that do nothing; what each costs the server.
    Idle(Idle),
    /// A fanout with and without one client that never reads.
    Stall(Burst),
}

/// Clients `0..senders` each send `messages` as fast as the server takes them.
#[derive(Debug, Clone, Copy)]
pub struct Burst {
    /// Clients that join and read everything.
    pub clients: usize,
    /// How many of them send (the first ones).
    pub senders: usize,
    /// Messages each sender sends.
    pub messages: u64,
}

/// `rate` messages a second in all, from clients `0..senders`, for `duration`.
#[derive(Debug, Clone, Copy)]
pub struct Paced {
    /// Clients that join and read everything.
    pub clients: usize,
    /// How many of them send (the first ones).
    pub senders: usize,
    /// Messages per second, all senders together.
    pub rate: f64,
    /// How long to send for.
    pub duration: Duration,
}

/// `connections` joined clients, held open for `hold`.
#[derive(Debug, Clone, Copy)]
pub struct Idle {
    /// Connections to join.
    pub connections: usize,
    /// How long to hold them once joined.
    pub hold: Duration,
}

impl Config {
    /// Checks what the argument parser cannot (how flags relate).
    ///
    /// # Errors
    /// A sentence saying which flags do not fit together.
    pub fn check(&self) -> Result<(), String> {
        if self.timeout.is_zero() {
            return Err("--timeout must be more than 0 seconds".into());
        }
        if self.size > MAX_SIZE {
            return Err(format!("--size can be at most {MAX_SIZE} bytes"));
        }
        let (clients, senders) = match &self.scenario {
            Scenario::Fanout(burst) | Scenario::Stall(burst) => (burst.clients, burst.senders),
            Scenario::Latency(paced) => {
                if paced.duration >= self.timeout {
                    return Err("--duration must be shorter than --timeout".into());
                }
                if paced.rate * paced.duration.as_secs_f64() < 1.0 {
                    return Err("--rate times --duration must come to at least one message".into());
                }
                (paced.clients, paced.senders)
            }
            Scenario::Idle(_) => (1, 0),
        };
        if senders > clients {
            return Err(format!("--senders ({senders}) cannot be more than --clients ({clients})"));
        }
        Ok(())
    }
}

impl Scenario {
    /// Connections open at once, at most.
    fn connections(&self) -> usize {
        match self {
            Scenario::Fanout(burst) => burst.clients,
            Scenario::Latency(paced) => paced.clients,
            Scenario::Idle(idle) => idle.connections,
            Scenario::Stall(burst) => burst.clients + 1,
        }
    }
}

/// Runs the scenario and prints its figures.
///
/// # Errors
/// One sentence: why it could not run, or what went wrong (loss, several
/// orders, a timeout), in which case the figures were printed first.
pub fn run(config: &Config) -> Result<(), String> {
    let connections = config.scenario.connections();
    make_room_for(connections)?;
    let (spawned, addr, pid) = match &config.target {
        Target::Spawn { send_queue } => {
            let server = SpawnedServer::start(connections, *send_queue)?;
            let (addr, pid) = (server.addr(), Some(server.pid()));
            (Some(server), addr, pid)
        }
        Target::Running { addr, pid } => (None, resolve(addr)?, *pid),
    };
    let mut bench = Bench::new(config, addr, pid);
    let outcome = match &config.scenario {
        Scenario::Fanout(burst) => fanout::run(&mut bench, burst),
        Scenario::Latency(paced) => latency::run(&mut bench, paced),
        Scenario::Idle(idle) => idle::run(&mut bench, idle),
        Scenario::Stall(burst) => stall::run(&mut bench, burst),
    }?;
    bench.progress.clear();
    drop(spawned);
    outcome.print(config.json).map_err(|err| format!("cannot print the figures: {err}"))?;
    outcome.problem().map_or(Ok(()), |problem| Err(problem.to_owned()))
}

/// The first address `addr` names.
fn resolve(addr: &str) -> Result<SocketAddr, String> {
    let mut addrs =
        addr.to_socket_addrs().map_err(|err| format!("cannot resolve {addr}: {err}"))?;
    addrs.next().ok_or_else(|| format!("{addr} names no address"))
}

/// Raises the open-files limit to the hard limit and checks `connections` fit.
fn make_room_for(connections: usize) -> Result<(), String> {
    let limit =
        raise_open_files().map_err(|err| format!("cannot raise the open-files limit: {err}"))?;
    let needed = connections as u64 + SPARE_FDS;
    if needed > limit {
        return Err(format!(
            "{connections} connections need about {needed} open files but the limit is {limit}; \
             raise the hard limit (ulimit -Hn) or open fewer"
        ));
    }
    Ok(())
}

/// Sets the soft RLIMIT_NOFILE to the hard one; returns the soft limit now.
fn raise_open_files() -> io::Result<u64> {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit and setrlimit only read and write the struct we pass.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let raised = libc::rlimit { rlim_cur: limit.rlim_max, rlim_max: limit.rlim_max };
    // SAFETY: as above.
    let ok = limit.rlim_cur == limit.rlim_max
        || unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0;
    Ok(if ok { raised.rlim_cur } else { limit.rlim_cur })
}

/// What every scenario works with: the server, the settings, the clock.
struct Bench {
    addr: SocketAddr,
    /// The server's process id, when known.
    pid: Option<u32>,
    threads: usize,
    size: usize,
    timeout: Duration,
    /// When the whole scenario must be over.
    deadline: Instant,
    /// The tag of the next run (in its nicks and messages).
    next_tag: u64,
    progress: Progress,
}

impl Bench {
    fn new(config: &Config, addr: SocketAddr, pid: Option<u32>) -> Bench {
        // Unlike any other bench's tags, so runs never take each other's
        // nicks or count each other's messages on a shared server.
        let millis =
            SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().subsec_millis();
        Bench {
            addr,
            pid,
            threads: config.threads,
            size: config.size,
            timeout: config.timeout,
            deadline: Instant::now() + config.timeout,
            next_tag: u64::from(std::process::id()) * 1000 + u64::from(millis),
            progress: Progress::on_stderr(),
        }
    }

    /// A fresh tag for a run.
    fn tag(&mut self) -> u64 {
        self.next_tag += 1;
        self.next_tag
    }

    /// Starts a run of `clients` and waits until all have joined and every
    /// event caused by joining has reached them; returns how long joining took.
    ///
    /// # Errors
    /// A sentence: a refusal, a lost connection, or the timeout.
    fn start_run(
        &mut self,
        tag: u64,
        clients: usize,
        load: Load,
        watch: Option<String>,
    ) -> Result<(Engine, Duration), String> {
        let plan = Plan { addr: self.addr, clients, threads: self.threads, load, size: self.size };
        let mut engine = Engine::start(plan, Shared::new(tag, watch))?;
        let started = Instant::now();
        engine.joined(&mut self.progress, self.deadline).map_err(|halt| {
            let joined = engine.shared().joined.load(std::sync::atomic::Ordering::Relaxed);
            self.halted(halt, &format!("only {joined} of {clients} clients joined"))
        })?;
        let took = started.elapsed();
        engine
            .sync(&mut self.progress, self.deadline)
            .map_err(|halt| self.halted(halt, "not every client's ping was answered"))?;
        Ok((engine, took))
    }

    /// The settings every table's title mentions.
    fn describe(&self) -> String {
        format!("{}-byte texts, {} bench threads, server {}", self.size, self.threads, self.addr)
    }

    /// The settings every JSON line carries.
    fn settings(&self) -> serde_json::Value {
        serde_json::json!({
            "server": self.addr.to_string(),
            "server_pid": self.pid,
            "threads": self.threads,
            "size": self.size,
        })
    }

    /// The sentence for a phase that did not end: why, or that `what`
    /// happened before the timeout.
    fn halted(&self, halt: Halt, what: &str) -> String {
        match halt {
            Halt::Failed(why) => why,
            Halt::TimedOut => {
                format!("{what} within the {} s timeout (--timeout)", self.timeout.as_secs_f64())
            }
        }
    }
}
