//! [`Shutdown`]: the one switch that stops the server.
//!
//! Shutdown has three parts: *decide* (a signal handler or a test calls
//! [`Shutdown::trigger`]), *tell* (the hub hears it on a channel and says `bye` to
//! everyone; the accept loop is woken by a connection to itself, since a blocked
//! `accept` is restarted after a signal, not interrupted), and *wait* (the hub
//! gives connections a short grace to flush, then closes what is left).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};

/// A cloneable trigger; triggering twice is harmless.
#[derive(Clone)]
pub struct Shutdown {
    requested: Arc<AtomicBool>,
    /// The hub `select!`s on the other end.
    notify: Sender<()>,
    /// Where to connect to wake the blocked `accept`.
    wake_addr: SocketAddr,
}

impl Shutdown {
    /// A switch for a server listening on `listen_addr`, and the receiver the
    /// hub watches.
    pub fn new(listen_addr: SocketAddr) -> (Shutdown, Receiver<()>) {
        let (notify, notified) = crossbeam_channel::bounded(1);
        let shutdown = Shutdown {
            requested: Arc::new(AtomicBool::new(false)),
            notify,
            wake_addr: reachable(listen_addr),
        };
        (shutdown, notified)
    }

    /// Asks the server to stop. Safe to call from a signal-handling thread.
    pub fn trigger(&self) {
        if self.requested.swap(true, Ordering::SeqCst) {
            return;
        }
        let _ = self.notify.try_send(());
        // Only wakes the accept loop; failure means it is not blocked there.
        let _ = TcpStream::connect_timeout(&self.wake_addr, Duration::from_secs(1));
    }

    /// True once [`trigger`](Shutdown::trigger) was called.
    pub fn is_requested(&self) -> bool {
        self.requested.load(Ordering::SeqCst)
    }
}

/// An address a local connection can reach: a wildcard bind becomes loopback.
fn reachable(addr: SocketAddr) -> SocketAddr {
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, addr.port())
}
