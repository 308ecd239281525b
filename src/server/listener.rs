//! The accept loop: socket options, the connection limit, one thread each.
//!
//! Accepting never waits on a client: a refused connection gets one short line
//! written into an empty socket buffer, and everything else happens on the new
//! connection's own thread.

use std::io::{self, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use crossbeam_channel::Sender;
use socket2::{SockRef, TcpKeepalive};

use super::admission::{Admission, Limits, Slot};
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

/// TCP_USER_TIMEOUT: how long sent data may stay unacknowledged before the
/// kernel gives up on the connection. Keepalive does not probe while data is
/// in flight, so without this a peer that vanished mid-conversation would hold
/// its nick for the kernel's default of about 15 minutes. Set to match the
/// keepalive budget, so an idle peer still gets all its probes.
pub const USER_TIMEOUT: Duration = Duration::from_secs(110);

/// Stack for a connection thread. JSON nests at most 32 levels deep (see
/// `protocol::message::MAX_NESTING`, checked before parsing), which keeps the
/// parser's recursion well inside it; only the pages a thread touches cost memory.
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
    let admission = Admission::new(Limits {
        max_clients: config.max_clients,
        max_per_ip: config.max_per_ip,
        limit_loopback: config.limit_loopback,
    });
    let mut next_id: ConnId = 0;
    // Set while accept keeps failing, so the log says so once, not ten times a second.
    let mut failing = false;
    for accepted in listener.incoming() {
        if shutdown.is_requested() {
            break; // possibly our own wake-up connection
        }
        let socket = match accepted {
            Ok(socket) => socket,
            Err(err) => {
                if !failing {
                    log::info(format_args!(
                        "error accepting connections: {err}; retrying every {} ms",
                        ACCEPT_BACKOFF.as_millis()
                    ));
                    failing = true;
                }
                thread::sleep(ACCEPT_BACKOFF);
                continue;
            }
        };
        if std::mem::take(&mut failing) {
            log::info(format_args!("accepting connections again"));
        }
        next_id += 1;
        let Ok(peer) = socket.peer_addr() else {
            continue; // already gone
        };
        match admission.admit(peer.ip()) {
            Ok(slot) => spawn_connection(next_id, socket, slot, config, hub, sessions_alive),
            Err(message) => refuse(next_id, &socket, &message),
        }
    }
}

/// Gives the connection its own thread, which holds `slot` and a clone of
/// `sessions_alive` until it ends. A failure to spawn refuses this one
/// connection; the server goes on.
fn spawn_connection(
    id: ConnId,
    socket: TcpStream,
    slot: Slot,
    config: &Arc<Config>,
    hub: &Sender<Command>,
    sessions_alive: &Sender<()>,
) {
    let (config, hub, alive) = (Arc::clone(config), hub.clone(), sessions_alive.clone());
    // The socket waits in a one-place channel: the new thread takes it out,
    // and if the thread cannot start we take it back to tell the client why.
    let (handover, pickup) = crossbeam_channel::bounded(1);
    let _ = handover.send(socket);
    let taken = pickup.clone();
    let spawned = thread::Builder::new()
        .name(format!("conn#{id}"))
        .stack_size(SESSION_STACK)
        .spawn(move || {
            let _held = (alive, slot);
            if let Ok(socket) = taken.try_recv() {
                start(id, socket, config, hub);
            }
        });
    if let Err(err) = spawned {
        if let Ok(socket) = pickup.try_recv() {
            let message =
                format!("the server cannot take more connections now ({err}); try again later");
            refuse(id, &socket, &message);
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
    if let Err(err) = configure(&socket, config.write_timeout) {
        log::info(format_args!("error #{id} {peer}: cannot set socket options: {err}"));
    }
    session::run(id, socket, peer, config, hub);
}

/// Turns off Nagle (the writer batches itself), bounds how long a write may
/// block, and makes sure a vanished peer is noticed (keepalive, user timeout).
fn configure(socket: &TcpStream, write_timeout: Duration) -> io::Result<()> {
    socket.set_nodelay(true)?;
    socket.set_write_timeout((!write_timeout.is_zero()).then_some(write_timeout))?;
    let keepalive = TcpKeepalive::new()
        .with_time(KEEPALIVE_IDLE)
        .with_interval(KEEPALIVE_INTERVAL)
        .with_retries(KEEPALIVE_PROBES);
    let socket = SockRef::from(socket);
    socket.set_tcp_keepalive(&keepalive)?;
    #[cfg(any(target_os = "linux", target_os = "android"))]
    socket.set_tcp_user_timeout(Some(USER_TIMEOUT))?;
    Ok(())
}

/// Tells a connection we cannot serve why, and closes it.
///
/// The error is JSON, since the mode is not known yet; a person reads it fine.
fn refuse(id: ConnId, mut socket: &TcpStream, message: &str) {
    let peer = socket.peer_addr().map(|p| p.to_string()).unwrap_or_default();
    log::info(format_args!("refuse #{id} {peer}: {message}"));
    let _ = socket.set_write_timeout(Some(Duration::from_millis(100)));
    let _ = socket.write_all(&encode(&Event::error(ErrorCode::ServerFull, message)));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// The options are really set on an accepted socket.
    #[test]
    fn configure_sets_keepalive_user_timeout_and_nodelay() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let _client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (accepted, _) = listener.accept().unwrap();
        configure(&accepted, Duration::from_secs(7)).unwrap();
        let sock = SockRef::from(&accepted);
        assert!(sock.keepalive().unwrap());
        assert_eq!(sock.tcp_keepalive_time().unwrap(), KEEPALIVE_IDLE);
        assert_eq!(sock.tcp_keepalive_interval().unwrap(), KEEPALIVE_INTERVAL);
        assert_eq!(sock.tcp_keepalive_retries().unwrap(), KEEPALIVE_PROBES);
        assert_eq!(sock.tcp_user_timeout().unwrap(), Some(USER_TIMEOUT));
        assert!(accepted.nodelay().unwrap());
        assert_eq!(accepted.write_timeout().unwrap(), Some(Duration::from_secs(7)));
    }
}
