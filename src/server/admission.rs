//! [`Admission`]: who may connect, by total and per-address limits.
//!
//! The accept loop takes a [`Slot`] for each new connection; the connection's
//! thread gives it back by dropping it, whenever and however it ends (a panic
//! included). That is why the counts sit behind a mutex rather than inside the
//! accept loop: they are released from many threads. The lock is held for one
//! map lookup and never across I/O, and a poisoned lock is simply taken over
//! (the counts stay consistent: every change is a single step).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// The limits, as configured.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Most connections in all.
    pub max_clients: usize,
    /// Most connections from one IP address; 0 means no limit.
    pub max_per_ip: usize,
    /// Whether loopback addresses count against `max_per_ip`. By default they
    /// do not: on a shared shell host every user comes from 127.0.0.1.
    pub limit_loopback: bool,
}

/// The connection counts, shared by the accept loop and the connections.
#[derive(Clone)]
pub struct Admission {
    limits: Limits,
    counts: Arc<Mutex<Counts>>,
}

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
}

/// One admitted connection; dropping it frees its place.
#[derive(Debug)]
pub struct Slot {
    ip: IpAddr,
    counts: Arc<Mutex<Counts>>,
}

impl Admission {
    pub fn new(limits: Limits) -> Admission {
        Admission { limits, counts: Arc::default() }
    }

    /// Admits a connection from `ip`, or says (as a sentence for the client)
    /// why not.
    pub fn admit(&self, ip: IpAddr) -> Result<Slot, String> {
        // A dual-stack listener sees IPv4 peers as ::ffff:a.b.c.d; count them as IPv4.
        let ip = ip.to_canonical();
        let mut counts = lock(&self.counts);
        if counts.total >= self.limits.max_clients {
            return Err(format!(
                "the server is full ({} clients); try again later",
                self.limits.max_clients
            ));
        }
        let per_ip = counts.per_ip.get(&ip).copied().unwrap_or(0);
        let limited =
            self.limits.max_per_ip > 0 && (self.limits.limit_loopback || !ip.is_loopback());
        if limited && per_ip >= self.limits.max_per_ip {
            return Err(format!(
                "too many connections from {ip} (the limit is {}); close one and try again",
                self.limits.max_per_ip
            ));
        }
        counts.total += 1;
        *counts.per_ip.entry(ip).or_insert(0) += 1;
        Ok(Slot { ip, counts: Arc::clone(&self.counts) })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut counts = lock(&self.counts);
        counts.total -= 1;
        if let Some(n) = counts.per_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                counts.per_ip.remove(&self.ip);
            }
        }
    }
}

fn lock(counts: &Mutex<Counts>) -> MutexGuard<'_, Counts> {
    counts.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 2));
    const LOOPBACK: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    fn admission(max_clients: usize, max_per_ip: usize, limit_loopback: bool) -> Admission {
        Admission::new(Limits { max_clients, max_per_ip, limit_loopback })
    }

    #[test]
    fn per_ip_limit_frees_a_place_when_a_slot_drops() {
        let admission = admission(100, 2, false);
        let first = admission.admit(A).unwrap();
        let _second = admission.admit(A).unwrap();
        assert!(admission.admit(A).unwrap_err().contains("too many connections from 192.0.2.1"));
        assert!(admission.admit(B).is_ok(), "other addresses are not affected");
        drop(first);
        assert!(admission.admit(A).is_ok());
    }

    #[test]
    fn loopback_is_exempt_unless_asked() {
        let exempt = admission(100, 1, false);
        let _held: Vec<Slot> = (0..5).map(|_| exempt.admit(LOOPBACK).unwrap()).collect();
        let strict = admission(100, 1, true);
        let _one = strict.admit(LOOPBACK).unwrap();
        assert!(strict.admit(LOOPBACK).is_err());
    }

    #[test]
    fn mapped_ipv4_loopback_is_loopback_too() {
        let mapped: IpAddr = "::ffff:127.0.0.1".parse().unwrap();
        let exempt = admission(100, 1, false);
        let _held: Vec<Slot> = (0..3).map(|_| exempt.admit(mapped).unwrap()).collect();
    }

    #[test]
    fn total_limit() {
        let admission = admission(2, 0, false);
        let _a = admission.admit(A).unwrap();
        let b = admission.admit(B).unwrap();
        assert!(admission.admit(LOOPBACK).unwrap_err().contains("server is full (2 clients)"));
        drop(b);
        assert!(admission.admit(LOOPBACK).is_ok());
    }
}
