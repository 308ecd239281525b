//! The accept loop: socket options, the connection limit, one thread each.
//!
//! Accepting never waits on a client: a refused connection gets one short line
//! written into an empty socket buffer, and everything else happens on the new
//! connection's own thread.

use std::io::{self, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use crossbeam_channel::Sender;
use socket2::{SockRef, TcpKeepalive};

use super::hub::{Command, ConnId};
use super::shutdown::Shutdown;
use super::{log, session, Config};
use crate::protocol::message::encode;
use crate::protocol::{ErrorCode, Event};

/// TCP keepalive: probe after a minute of silence, every 10 s, give up after 5
/// unanswered probes. A peer that vanished without a FIN or RST (a laptop lid
/// closed, a cable pulled) is found within about two minutes and its nick freed.
pub const KEEPALIVE_IDLE: Duration = Duration::from_secs(60);
pub const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(10);
pub const KEEPALIVE_PROBES: u32 = 5;

/// Stack for a connection thread. JSON parsing recurses at most 128 levels
/// deep (serde_json's limit), which fits with room to spare; only the pages a
/// thread touches cost memory.
const SESSION_STACK: usize = 256 * 1024;

/// How long to pause when `accept` fails (for instance out of file
/// descriptors), so the loop does not spin while the condition lasts.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Accepts connections until shutdown is requested.
///
/// Each connection thread holds a clone of `sessions_alive`; the hub learns
/// that all are done when the last clone is dropped.
pub fn accept_loop(
    listener: &TcpListener,
    config: &Arc<Config>,
    shutdown: &Shutdown,
    hub: &Sender<Command>,
    sessions_alive: &Sender<()>,
) {
    let open = Arc::new(AtomicUsize::new(0));
    let mut next_id: ConnId = 0;
    for accepted in listener.incoming() {
        if shutdown.is_requested() {
            break; // possibly our own wake-up connection
        }
        let socket = match accepted {
            Ok(socket) => socket,
            Err(err) => {
                log::info(format_args!("error accepting a connection: {err}"));
                thread::sleep(ACCEPT_BACKOFF);
                continue;
            }
        };
        next_id += 1;
        if open.load(Ordering::SeqCst) >= config.max_clients {
            let message =
                format!("the server is full ({} clients); try again later", config.max_clients);
            refuse(next_id, socket, &message);
            continue;
        }
        let slot = Slot::take(&open);
        let (config, hub, alive) = (Arc::clone(config), hub.clone(), sessions_alive.clone());
        let id = next_id;
        let spawned =
            thread::Builder::new().name(format!("conn#{id}")).stack_size(SESSION_STACK).spawn({
                let socket = socket.try_clone();
                move || {
                    let _alive = alive;
                    let _slot = slot;
                    if let Ok(socket) = socket {
                        start(id, socket, config, hub);
                    }
                }
            });
        if let Err(err) = spawned {
            refuse(
                id,
                socket,
                &format!("the server cannot take more connections now ({err}); try again later"),
            );
        }
    }
}

/// Sets up the socket and serves it (on the connection's own thread).
fn start(id: ConnId, socket: TcpStream, config: Arc<Config>, hub: Sender<Command>) {
    let peer = match socket.peer_addr() {
        Ok(peer) => peer,
        Err(_) => return, // already gone
    };
    log::info(format_args!("connect #{id} {peer}"));
    if let Err(err) = configure(&socket) {
        log::info(format_args!("error #{id} {peer}: cannot set socket options: {err}"));
    }
    session::run(id, socket, peer, config, hub);
}

/// Turns off Nagle (the writer batches itself) and turns on keepalive.
fn configure(socket: &TcpStream) -> io::Result<()> {
    socket.set_nodelay(true)?;
    let keepalive = TcpKeepalive::new()
        .with_time(KEEPALIVE_IDLE)
        .with_interval(KEEPALIVE_INTERVAL)
        .with_retries(KEEPALIVE_PROBES);
    SockRef::from(socket).set_tcp_keepalive(&keepalive)
}

/// Tells a connection we cannot serve why, and closes it.
///
/// The error is JSON, since the mode is not known yet; a person reads it fine.
fn refuse(id: ConnId, mut socket: TcpStream, message: &str) {
    let peer = socket.peer_addr().map(|p| p.to_string()).unwrap_or_default();
    log::info(format_args!("refuse #{id} {peer}: {message}"));
    let _ = socket.set_write_timeout(Some(Duration::from_millis(100)));
    let _ = socket.write_all(&encode(&Event::error(ErrorCode::ServerFull, message)));
}

/// One taken connection slot, given back when dropped.
struct Slot(Arc<AtomicUsize>);

impl Slot {
    fn take(open: &Arc<AtomicUsize>) -> Slot {
        open.fetch_add(1, Ordering::SeqCst);
        Slot(Arc::clone(open))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}
