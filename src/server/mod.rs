//! `chat serve`: the TCP server.
//!
//! # Architecture
//! - [`listener`]: the accept loop (main thread). Sets socket options, enforces
//!   the connection limit, and gives each connection its own thread.
//! - [`session`]: one connection. Its thread reads and parses lines and sends
//!   [`Command`](hub::Command)s to the hub; a writer thread ([`writer`]) drains its
//!   outgoing [`SendQueue`](send_queue::SendQueue) into the socket.
//! - [`hub`]: one thread that owns the room (members, nicks, ids, history) and
//!   fans events out by pushing shared, once-encoded bytes into bounded queues.
//!   It never blocks on a client: a full queue means that client is dropped.
//! - [`shutdown`]: the switch for Ctrl-C / SIGTERM: `bye` to all, a short grace
//!   to flush, then close.
//!
//! Data flows one way up (socket, session, hub) and one way down (hub, queue,
//! writer, socket); the only shared state is each queue's byte count.

pub mod admission;
mod fault;
pub mod flood;
pub mod hub;
pub mod listener;
mod log;
pub mod send_queue;
pub mod session;
pub mod shutdown;
pub mod writer;

use std::io;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};

pub use shutdown::Shutdown;

/// How many connection requests the kernel queues before we accept them;
/// large, so a crowd joining at once is not refused.
const LISTEN_BACKLOG: i32 = 1024;

/// How many commands may wait for the hub; readers block (and TCP pushes back
/// on their clients) when it is full, which only happens under extreme load.
const COMMAND_BACKLOG: usize = 16 * 1024;

/// How long, at exit, the log may take to write what it still holds.
const LOG_FLUSH: Duration = Duration::from_secs(1);

/// The server's settings; `chat serve --help` documents each.
#[derive(Debug, Clone)]
pub struct Config {
    /// Room messages replayed to someone who joins.
    pub history: usize,
    /// Longest line accepted from a client, in bytes.
    pub max_line: usize,
    /// Most connections at once; more get `server_full`.
    pub max_clients: usize,
    /// Most connections from one IP address (0: no limit).
    pub max_per_ip: usize,
    /// Whether loopback addresses count against `max_per_ip`.
    pub limit_loopback: bool,
    /// Message of the day, sent in the welcome.
    pub motd: Option<String>,
    /// Most bytes queued for one client before it is dropped as too slow.
    pub send_queue: usize,
    /// How long one write may block before the client is dropped as too slow.
    pub write_timeout: Duration,
    /// Lines per second a client may send once its burst is spent (0: no limit).
    pub rate: f64,
    /// Lines a client may send at once before `rate` applies.
    pub burst: u32,
    /// How long a connection may take to join (0: forever).
    pub handshake_timeout: Duration,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            history: 50,
            max_line: crate::protocol::DEFAULT_MAX_LINE,
            max_clients: 10_000,
            max_per_ip: 16,
            limit_loopback: false,
            motd: None,
            send_queue: 1024 * 1024,
            write_timeout: Duration::from_secs(10),
            rate: 2.0,
            burst: 10,
            handshake_timeout: Duration::from_secs(20),
        }
    }
}

/// A bound server, ready to run.
pub struct Server {
    listener: TcpListener,
    config: Arc<Config>,
    shutdown: Shutdown,
    shutdown_requested: crossbeam_channel::Receiver<()>,
}

impl Server {
    /// Binds `addr` (`IP:PORT`, or `HOST:PORT`; port 0 picks a free port).
    ///
    /// # Errors
    /// One sentence saying what failed and what to do about it.
    pub fn bind(addr: &str, config: Config) -> io::Result<Server> {
        let addrs = addr.to_socket_addrs().map_err(|_| {
            let message = format!("cannot resolve {addr}; give an address such as 127.0.0.1:5000");
            io::Error::new(io::ErrorKind::InvalidInput, message)
        })?;
        let mut last_error = None;
        for candidate in addrs {
            match listen(candidate) {
                Ok(listener) => {
                    let (shutdown, shutdown_requested) = Shutdown::new(listener.local_addr()?);
                    let config = Arc::new(config);
                    return Ok(Server { listener, config, shutdown, shutdown_requested });
                }
                Err(err) => last_error = Some(bind_error(candidate, err)),
            }
        }
        Err(last_error.unwrap_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, format!("{addr} names no address"))
        }))
    }

    /// The address actually bound (the real port when asked for port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// A handle that stops the server from any thread.
    pub fn shutdown_handle(&self) -> Shutdown {
        self.shutdown.clone()
    }

    /// Serves until shutdown; returns once every client got its `bye`.
    ///
    /// # Errors
    /// Only if the hub thread cannot be started.
    pub fn run(self) -> io::Result<()> {
        let Server { listener, config, shutdown, shutdown_requested } = self;
        let (commands, hub_commands) = crossbeam_channel::bounded(COMMAND_BACKLOG);
        let (sessions_alive, sessions_done) = crossbeam_channel::bounded::<()>(0);
        let hub = thread::Builder::new().name("hub".into()).spawn({
            let config = Arc::clone(&config);
            move || hub::run(config, hub_commands, shutdown_requested, sessions_done)
        })?;
        log_capacity(&config);
        log::info(format_args!("listening on {}", listener.local_addr()?));
        listener::accept_loop(&listener, &config, &shutdown, &commands, &sessions_alive);
        drop((commands, sessions_alive, listener));
        let _ = hub.join();
        log::info(format_args!("stopped"));
        log::flush(LOG_FLUSH);
        Ok(())
    }
}

/// Raises the open-files limit as far as allowed (each client costs one file
/// descriptor) and says how many clients fit.
fn log_capacity(config: &Config) {
    match raise_fd_limit() {
        Ok(limit) => {
            let clients = limit.saturating_sub(FDS_RESERVED);
            log::info(format_args!("file descriptors: {limit}, room for about {clients} clients"));
            if clients < config.max_clients as u64 {
                log::info(format_args!(
                    "warning: --max-clients is {} but only about {clients} connections fit; \
                     raise the hard limit (ulimit -Hn) to allow more",
                    config.max_clients
                ));
            }
        }
        Err(err) => log::info(format_args!("cannot read the open-files limit: {err}")),
    }
}

/// Descriptors the server needs besides its clients (stdio, listener, spare).
const FDS_RESERVED: u64 = 16;

/// Sets the soft RLIMIT_NOFILE to the hard one; returns the new soft limit.
fn raise_fd_limit() -> io::Result<u64> {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return Err(io::Error::last_os_error());
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit { rlim_cur: limit.rlim_max, rlim_max: limit.rlim_max };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit = raised;
            }
        }
    }
    Ok(limit.rlim_cur)
}

/// A listening socket with SO_REUSEADDR, so a restarted server can bind the
/// same port at once even while old connections sit in TIME_WAIT.
fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    #[cfg(not(windows))]
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(LISTEN_BACKLOG)?;
    Ok(socket.into())
}

fn bind_error(addr: SocketAddr, err: io::Error) -> io::Error {
    let advice = match err.kind() {
        io::ErrorKind::AddrInUse => "address in use; pick another with --bind".to_owned(),
        io::ErrorKind::PermissionDenied => {
            "permission denied; ports below 1024 need privileges, pick another with --bind"
                .to_owned()
        }
        io::ErrorKind::AddrNotAvailable => {
            "no such address on this machine; try 127.0.0.1 or 0.0.0.0 with --bind".to_owned()
        }
        _ => format!("{err}; pick another address with --bind"),
    };
    io::Error::new(err.kind(), format!("cannot bind {addr}: {advice}"))
}
