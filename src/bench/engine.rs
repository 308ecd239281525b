//! [`Engine`]: a few worker threads, each driving its share of the clients
//! over non-blocking sockets with one mio poll, in phases the caller steps
//! through.
//!
//! A thread per client would make the bench cost what the server costs and
//! muddy the figures; a few threads, each with one poll, many sockets and a
//! shared read buffer, cost a system call per batch of lines. Client `i`
//! belongs to worker `i % threads`, so work is spread evenly and any client
//! is found by arithmetic.
//!
//! The phases, each started by the caller and ended when every worker reports
//! it done:
//! 1. join (starts at once): connect and send `hello`, a bounded number at a
//!    time so the server's accept backlog never overflows; done at the welcome;
//! 2. sync: a `ping` on every connection; its `pong` proves that everything
//!    sent to the client before (the flood of `join`s) has arrived;
//! 3. send: the [`Load`]; done when each client has every message, or, once
//!    every sender has seen its own last message come back (so every message
//!    has been handled), when a second `ping`'s `pong` shows nothing more is on
//!    its way. A lost message thus ends the run at once, counted as lost,
//!    instead of leaving it to the timeout.
//!
//! Only [`Shared`] is shared between threads: the run's start, a few counters
//! for the progress line and the end of the run, each bumped at most once per
//! read. Everything counted per delivery stays in the worker's [`Tally`].

use std::fmt::Display;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use mio::{Events, Interest, Poll, Token, Waker};

use super::client::{Awaiting, Client, Context, DRAIN_TOKEN};
use super::payload::Prefix;
use super::progress::Progress;
use super::report::grouped;
use super::scan::Scanner;
use super::tally::Tally;

/// The poll token of each worker's waker; clients use their slot numbers.
const WAKER: Token = Token(usize::MAX);
/// Events taken from the poll at once.
const EVENTS: usize = 1024;
/// Bytes read from a socket at once: many lines per system call.
const READ_BUFFER: usize = 256 * 1024;
/// Bytes of messages a burst sender queues before trying the socket.
const BURST_CHUNK: usize = 64 * 1024;
/// Connections being made or waiting for their welcome, all workers together:
/// half the server's accept backlog (1024), so a big join never overflows it.
const JOIN_WINDOW: usize = 512;
/// How often a sending worker looks at the shared counters when no socket
/// wakes it, and how often the caller refreshes the progress line.
const TICK: Duration = Duration::from_millis(10);
/// How long a worker that is only waiting sleeps between looks at its
/// commands when nothing happens (a command also wakes it at once).
const NAP: Duration = Duration::from_millis(100);
/// How long workers get to hand in their tallies once told to stop.
const STOP_WAIT: Duration = Duration::from_secs(10);

/// What a run looks like: where, how many, and what they send.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The server.
    pub addr: SocketAddr,
    /// How many clients join.
    pub clients: usize,
    /// Worker threads (at most one per client).
    pub threads: usize,
    /// What they send.
    pub load: Load,
    /// Bytes of text per message (see [`Stamp`](super::payload::Stamp)).
    pub size: usize,
}

/// What the clients send during the send phase.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Load {
    /// Nobody sends.
    Idle,
    /// Clients `0..senders` each send `messages`, as fast as the server takes them.
    Burst {
        /// How many clients send (the first ones).
        senders: usize,
        /// Messages each sends.
        messages: u64,
    },
    /// `total` messages, one every `1/rate` seconds, handed round-robin to
    /// clients `0..senders`.
    Paced {
        /// How many clients send (the first ones).
        senders: usize,
        /// Messages per second, all senders together.
        rate: f64,
        /// Messages in all.
        total: u64,
    },
}

impl Load {
    /// How many clients send at least one message.
    pub fn senders(&self) -> usize {
        match *self {
            Load::Idle | Load::Burst { messages: 0, .. } => 0,
            Load::Burst { senders, .. } => senders,
            Load::Paced { senders, total, .. } => senders.min(total as usize),
        }
    }

    /// How many messages are sent in all.
    pub fn total(&self) -> u64 {
        match *self {
            Load::Idle => 0,
            Load::Burst { senders, messages } => senders as u64 * messages,
            Load::Paced { total, .. } => total,
        }
    }

    /// The number of client `index`'s last message, if it sends any.
    fn last_of(&self, index: usize) -> Option<u64> {
        let index = index as u64;
        match *self {
            Load::Idle => None,
            Load::Burst { senders, messages } => {
                (index < senders as u64 && messages > 0).then(|| messages - 1)
            }
            Load::Paced { senders, total, .. } => {
                (index < (senders as u64).min(total)).then(|| (total - index - 1) / senders as u64)
            }
        }
    }
}

/// The nick of client `who` in the run tagged `tag`: short, and unlike any
/// other run's.
pub fn nick(tag: u64, who: impl Display) -> String {
    format!("b{tag}-{who}")
}

/// What the workers share: the run's identity and a few counters.
#[derive(Debug)]
pub struct Shared {
    /// Message timestamps are nanoseconds since this instant.
    pub epoch: Instant,
    /// Marks this run's nicks.
    pub tag: u64,
    /// Starts this run's message texts.
    pub prefix: Prefix,
    /// The nick whose "too slow" leave is timed (the stalled client).
    pub watch: Option<String>,
    /// When the send phase began, in nanoseconds since `epoch`.
    pub send_start_ns: AtomicU64,
    /// Clients that got their welcome.
    pub joined: AtomicUsize,
    /// Messages received, all clients together.
    pub delivered: AtomicU64,
    /// Senders whose own last message came back (or that are gone).
    pub echoed: AtomicUsize,
    /// When the watched client was first seen dropped; 0 until then.
    pub dropped_ns: AtomicU64,
}

impl Shared {
    /// Counters for a new run.
    pub fn new(tag: u64, watch: Option<String>) -> Shared {
        Shared {
            epoch: Instant::now(),
            tag,
            prefix: Prefix::new(tag),
            watch,
            send_start_ns: AtomicU64::new(0),
            joined: AtomicUsize::new(0),
            delivered: AtomicU64::new(0),
            echoed: AtomicUsize::new(0),
            dropped_ns: AtomicU64::new(0),
        }
    }

    /// Nanoseconds since `epoch`.
    pub fn now_ns(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }
}

/// Why a phase did not end as planned.
#[derive(Debug)]
pub enum Halt {
    /// The deadline came first.
    TimedOut,
    /// A sentence saying what went wrong.
    Failed(String),
}

/// What the caller tells a worker.
enum Command {
    /// Ping every client with this token and wait for the pongs.
    Sync(u64),
    /// Start the load.
    Send,
    /// Hand in the tally and end.
    Stop,
}

/// What a worker tells the caller.
enum Report {
    /// The current phase is over for this worker.
    Done,
    /// The run cannot go on.
    Failed(String),
    /// The worker's counts, its last word.
    Finished(Box<Tally>),
}

/// The caller's handle on the workers of one run.
pub struct Engine {
    plan: Arc<Plan>,
    shared: Arc<Shared>,
    links: Vec<Link>,
    reports: Receiver<Report>,
    /// Sync rounds so far; each round's token is its number.
    rounds: u64,
}

/// The caller's end of one worker.
struct Link {
    commands: Sender<Command>,
    waker: Waker,
    thread: Option<JoinHandle<()>>,
}

impl Engine {
    /// Starts the workers; they begin joining at once.
    ///
    /// # Errors
    /// When a poll or a thread cannot be had.
    pub fn start(mut plan: Plan, shared: Shared) -> Result<Engine, String> {
        plan.threads = plan.threads.clamp(1, plan.clients.max(1));
        let (plan, shared) = (Arc::new(plan), Arc::new(shared));
        let (report, reports) = mpsc::channel();
        let mut engine = Engine { plan, shared, links: Vec::new(), reports, rounds: 0 };
        for number in 0..engine.plan.threads {
            let link = engine.spawn_worker(number, report.clone());
            engine.links.push(link.map_err(|err| format!("cannot start a bench worker: {err}"))?);
        }
        Ok(engine)
    }

    fn spawn_worker(&self, number: usize, reports: Sender<Report>) -> io::Result<Link> {
        let poll = Poll::new()?;
        let waker = Waker::new(poll.registry(), WAKER)?;
        let (commands, inbox) = mpsc::channel();
        let worker = Worker::new(number, &self.plan, &self.shared, poll, inbox, reports);
        let thread =
            thread::Builder::new().name(format!("bench-{number}")).spawn(move || worker.run())?;
        Ok(Link { commands, waker, thread: Some(thread) })
    }

    /// The counters of this run.
    pub fn shared(&self) -> &Shared {
        &self.shared
    }

    /// Waits until every client has joined.
    ///
    /// # Errors
    /// A refusal or a failed connection, or the deadline.
    pub fn joined(&mut self, progress: &mut Progress, deadline: Instant) -> Result<(), Halt> {
        self.wait("joining", progress, deadline)
    }

    /// Pings every client and waits for every pong.
    ///
    /// # Errors
    /// As [`joined`](Engine::joined).
    pub fn sync(&mut self, progress: &mut Progress, deadline: Instant) -> Result<(), Halt> {
        self.rounds += 1;
        self.command(|| Command::Sync(self.rounds));
        self.wait("syncing", progress, deadline)
    }

    /// Runs the load until everything arrived (or is known lost).
    ///
    /// # Errors
    /// As [`joined`](Engine::joined).
    pub fn send(&mut self, progress: &mut Progress, deadline: Instant) -> Result<(), Halt> {
        self.shared.send_start_ns.store(self.shared.now_ns(), Ordering::Release);
        self.command(|| Command::Send);
        self.wait("sending", progress, deadline)
    }

    /// Keeps the connections open and read for `hold`.
    ///
    /// # Errors
    /// As [`joined`](Engine::joined).
    pub fn hold(
        &mut self,
        hold: Duration,
        progress: &mut Progress,
        deadline: Instant,
    ) -> Result<(), Halt> {
        let until = Instant::now() + hold;
        if until > deadline {
            return Err(Halt::TimedOut);
        }
        while self.next_report("holding", progress, until)?.is_some() {}
        Ok(())
    }

    /// Stops the workers and adds up what they counted; what a worker does
    /// not hand in within a few seconds is missing from the sum.
    pub fn finish(self) -> Tally {
        self.command(|| Command::Stop);
        let mut tally = Tally::default();
        let deadline = Instant::now() + STOP_WAIT;
        for _ in 0..self.links.len() {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.reports.recv_timeout(left) {
                Ok(Report::Finished(part)) => tally.merge(*part),
                Ok(_) => {}
                Err(_) => break,
            }
        }
        tally
    }

    fn command(&self, command: impl Fn() -> Command) {
        for link in &self.links {
            // A worker that is gone has reported why, or is found by `wait`.
            if link.commands.send(command()).is_ok() {
                let _ = link.waker.wake();
            }
        }
    }

    /// Waits until every worker reports the phase done.
    fn wait(
        &mut self,
        label: &str,
        progress: &mut Progress,
        deadline: Instant,
    ) -> Result<(), Halt> {
        let mut done = 0;
        while done < self.links.len() {
            match self.next_report(label, progress, deadline)? {
                Some(_) => done += 1,
                None => return Err(Halt::TimedOut),
            }
        }
        Ok(())
    }

    /// The next `Done` before `until` (`None` if none came), keeping the
    /// progress line fresh meanwhile.
    fn next_report(
        &mut self,
        label: &str,
        progress: &mut Progress,
        until: Instant,
    ) -> Result<Option<()>, Halt> {
        let started = Instant::now();
        loop {
            progress.show(|| self.status(label, started));
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            match self.reports.recv_timeout(left.min(TICK)) {
                Ok(Report::Done) => return Ok(Some(())),
                Ok(Report::Failed(why)) => return Err(Halt::Failed(why)),
                Ok(Report::Finished(_)) | Err(RecvTimeoutError::Disconnected) => {
                    return Err(Halt::Failed(WORKER_GONE.to_owned()))
                }
                Err(RecvTimeoutError::Timeout) => {
                    let gone = self.links.iter().flat_map(|link| &link.thread);
                    if gone.into_iter().any(JoinHandle::is_finished) {
                        return Err(Halt::Failed(WORKER_GONE.to_owned()));
                    }
                }
            }
        }
    }

    fn status(&self, label: &str, started: Instant) -> String {
        let clients = self.plan.clients;
        let joined = self.shared.joined.load(Ordering::Relaxed);
        let mut line =
            format!("{label}: {}/{} joined", grouped(joined as u64), grouped(clients as u64));
        let expected = self.plan.load.total() * clients as u64;
        if expected > 0 {
            let delivered = self.shared.delivered.load(Ordering::Relaxed);
            line += &format!(", {}/{} delivered", grouped(delivered), grouped(expected));
        }
        line + &format!(", {:.1} s", started.elapsed().as_secs_f64())
    }
}

/// The sentence for a worker that ended without saying why: a bug.
const WORKER_GONE: &str = "a bench worker thread stopped unexpectedly (a bug in chat bench)";

impl Drop for Engine {
    fn drop(&mut self) {
        self.command(|| Command::Stop);
        for link in &mut self.links {
            if let Some(thread) = link.thread.take() {
                let _ = thread.join();
            }
        }
    }
}

/// What a worker is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Joining,
    Syncing,
    Sending,
    /// Between phases: only reading.
    Waiting,
}

/// One worker thread: its clients and its poll.
struct Worker {
    number: usize,
    plan: Arc<Plan>,
    shared: Arc<Shared>,
    poll: Poll,
    commands: Receiver<Command>,
    reports: Sender<Report>,
    /// Its clients by slot: client index `number + slot * threads`.
    clients: Vec<Client>,
    /// How many clients it drives in all.
    share: usize,
    phase: Phase,
    /// Clients still awaited in this phase.
    pending: usize,
    /// Clients connecting or waiting for their welcome.
    connecting: usize,
    /// Burst senders (slots) with messages still to queue.
    active: Vec<usize>,
    /// Paced: the next message of the whole run to consider.
    next_message: u64,
    drained: bool,
    failed: bool,
    scanner: Scanner,
    buffer: Vec<u8>,
    tally: Tally,
}

impl Worker {
    fn new(
        number: usize,
        plan: &Arc<Plan>,
        shared: &Arc<Shared>,
        poll: Poll,
        commands: Receiver<Command>,
        reports: Sender<Report>,
    ) -> Worker {
        let share = plan.clients / plan.threads + usize::from(number < plan.clients % plan.threads);
        Worker {
            number,
            plan: Arc::clone(plan),
            shared: Arc::clone(shared),
            poll,
            commands,
            reports,
            clients: Vec::with_capacity(share),
            share,
            phase: Phase::Joining,
            pending: share,
            connecting: 0,
            active: Vec::new(),
            next_message: 0,
            drained: false,
            failed: false,
            scanner: Scanner::new(),
            buffer: vec![0; READ_BUFFER],
            tally: Tally::default(),
        }
    }

    fn run(mut self) {
        let mut events = Events::with_capacity(EVENTS);
        self.report_if_done();
        loop {
            self.advance();
            let timeout = self.timeout();
            if let Err(err) = self.poll.poll(&mut events, Some(timeout)) {
                if err.kind() != io::ErrorKind::Interrupted {
                    self.fail(format!("the bench's event loop failed: {err}"));
                    break;
                }
            }
            for event in events.iter() {
                if event.token() != WAKER {
                    let readable =
                        event.is_readable() || event.is_read_closed() || event.is_error();
                    self.on_ready(event.token().0, readable);
                }
            }
            if !self.take_commands() {
                break;
            }
        }
        for client in &self.clients {
            if client.is_joined() {
                self.tally.add_order(client.order().hash(), client.order().backwards());
            }
        }
        let _ = self.reports.send(Report::Finished(Box::new(std::mem::take(&mut self.tally))));
    }

    /// Starts the commands that came in; `false` once told to stop.
    fn take_commands(&mut self) -> bool {
        loop {
            match self.commands.try_recv() {
                Ok(Command::Stop) | Err(TryRecvError::Disconnected) => return false,
                Ok(Command::Sync(round)) => self.start_sync(round),
                Ok(Command::Send) => self.start_send(),
                Err(TryRecvError::Empty) => return true,
            }
        }
    }

    /// The work that is not a reaction to a socket: opening connections,
    /// sending on schedule, draining.
    fn advance(&mut self) {
        match (self.phase, self.plan.load) {
            (Phase::Joining, _) => self.connect_more(),
            (Phase::Sending, Load::Burst { messages, .. }) => self.pump_burst(messages),
            (Phase::Sending, Load::Paced { senders, rate, total }) => {
                self.pump_paced(senders, rate, total)
            }
            _ => {}
        }
        if self.phase == Phase::Sending {
            self.drain_when_all_echoed();
        }
    }

    /// How long the poll may sleep.
    fn timeout(&self) -> Duration {
        match (self.phase, self.plan.load) {
            (Phase::Sending, Load::Burst { .. }) => {
                // A sender whose socket took everything can take more now.
                let ready = self.active.iter().any(|&slot| !self.clients[slot].has_unsent());
                if ready {
                    Duration::ZERO
                } else {
                    TICK
                }
            }
            (Phase::Sending, Load::Paced { rate, total, .. }) if self.next_message < total => {
                let next = self.scheduled_ns(self.next_message, rate);
                Duration::from_nanos(next.saturating_sub(self.shared.now_ns())).min(TICK)
            }
            (Phase::Sending, _) | (Phase::Joining, _) => TICK,
            _ => NAP,
        }
    }

    fn connect_more(&mut self) {
        let window = (JOIN_WINDOW / self.plan.threads).max(1);
        while self.clients.len() < self.share && self.connecting < window && !self.failed {
            let slot = self.clients.len();
            let index = self.number + slot * self.plan.threads;
            let nick = nick(self.shared.tag, index);
            let expected = self.plan.load.total();
            let opened = Client::connect(
                index,
                self.plan.addr,
                &nick,
                expected,
                self.plan.load.last_of(index),
            )
            .and_then(|mut client| {
                let interest = Interest::READABLE | Interest::WRITABLE;
                self.poll.registry().register(client.stream(), Token(slot), interest)?;
                Ok(client)
            });
            match opened {
                Ok(client) => {
                    self.clients.push(client);
                    self.connecting += 1;
                }
                Err(err) => self.fail(format!("cannot open connection {index}: {err}")),
            }
        }
    }

    fn on_ready(&mut self, slot: usize, readable: bool) {
        let client = &mut self.clients[slot];
        if client.is_closed() {
            return;
        }
        match client.finish_connect() {
            Ok(true) => {}
            Ok(false) => return,
            Err(err) => {
                let addr = self.plan.addr;
                return self.fail(format!(
                    "cannot connect to {addr} ({err}); is chat serve running there? \
                     (--spawn starts one)"
                ));
            }
        }
        self.flush(slot);
        if readable {
            self.read(slot);
        }
    }

    /// Reads everything the socket holds and handles it.
    fn read(&mut self, slot: usize) {
        loop {
            let read = match self.clients[slot].read(&mut self.buffer) {
                Ok(0) => return self.close(slot, "the server closed the connection".into()),
                Ok(read) => read,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => return self.close(slot, err.to_string()),
            };
            let before = self.tally.received;
            let mut cx = Context {
                scanner: &self.scanner,
                shared: &self.shared,
                tally: &mut self.tally,
                now_ns: self.shared.now_ns(),
            };
            let fed = self.clients[slot].feed(&self.buffer[..read], &mut cx);
            let delivered = self.tally.received - before;
            if delivered > 0 {
                self.shared.delivered.fetch_add(delivered, Ordering::Relaxed);
            }
            match fed {
                Ok(true) => self.arrived(),
                Ok(false) => {}
                Err(refusal) => return self.fail(refusal),
            }
            if read < self.buffer.len() {
                // The socket is empty. Linux signals an edge for every arrival,
                // so a read that would only say WouldBlock is saved.
                return;
            }
        }
    }

    /// Writes what the client has buffered; a broken connection is closed.
    fn flush(&mut self, slot: usize) {
        if let Err(err) = self.clients[slot].flush() {
            self.close(slot, err.to_string());
        }
    }

    fn close(&mut self, slot: usize, why: String) {
        let client = &mut self.clients[slot];
        let awaited = client.close(&self.shared);
        let _ = self.poll.registry().deregister(client.stream());
        if !client.is_joined() {
            let index = self.number + slot * self.plan.threads;
            return self
                .fail(format!("client {index} lost its connection before it joined: {why}"));
        }
        self.tally.closed += 1;
        if awaited {
            self.arrived();
        }
    }

    /// A client delivered what this phase waits for.
    fn arrived(&mut self) {
        if self.phase == Phase::Joining {
            self.connecting -= 1;
            self.shared.joined.fetch_add(1, Ordering::Relaxed);
        }
        self.pending -= 1;
        self.report_if_done();
    }

    fn report_if_done(&mut self) {
        if self.pending == 0 && self.phase != Phase::Waiting && !self.failed {
            self.phase = Phase::Waiting;
            let _ = self.reports.send(Report::Done);
        }
    }

    fn fail(&mut self, why: String) {
        if !std::mem::replace(&mut self.failed, true) {
            let _ = self.reports.send(Report::Failed(why));
        }
        self.phase = Phase::Waiting;
    }

    fn start_sync(&mut self, round: u64) {
        self.start_phase(Phase::Syncing, Awaiting::Pong(round), |client| client.queue_ping(round));
    }

    fn start_send(&mut self) {
        if let Load::Burst { senders, .. } = self.plan.load {
            let threads = self.plan.threads;
            self.active = (0..self.clients.len())
                .filter(|slot| self.number + slot * threads < senders)
                .collect();
        }
        self.start_phase(Phase::Sending, Awaiting::Messages, |_| {});
    }

    /// Makes every open client awaited for `awaiting`, after `prepare` (which
    /// queues what to send to start the phase).
    fn start_phase(&mut self, phase: Phase, awaiting: Awaiting, prepare: impl Fn(&mut Client)) {
        if self.failed {
            return;
        }
        self.phase = phase;
        self.pending = 0;
        for slot in 0..self.clients.len() {
            let client = &mut self.clients[slot];
            if client.is_closed() || !client.expect(awaiting) {
                continue;
            }
            self.pending += 1;
            prepare(client);
            self.flush(slot);
        }
        self.report_if_done();
    }

    /// Queues more for each burst sender whose socket took everything so far.
    fn pump_burst(&mut self, messages: u64) {
        let now = self.shared.now_ns();
        let mut at = 0;
        while at < self.active.len() {
            let slot = self.active[at];
            let client = &mut self.clients[slot];
            if client.is_closed() || client.queued() >= messages {
                self.active.swap_remove(at);
                continue;
            }
            at += 1;
            if !client.has_unsent() {
                let (prefix, size) = (&self.shared.prefix, self.plan.size);
                self.tally.sent += client.queue_messages(prefix, size, messages, BURST_CHUNK, now);
                self.flush(slot);
            }
        }
    }

    /// Sends every message of this worker's senders that is due by now.
    fn pump_paced(&mut self, senders: usize, rate: f64, total: u64) {
        let now = self.shared.now_ns();
        let threads = self.plan.threads;
        while self.next_message < total && self.scheduled_ns(self.next_message, rate) <= now {
            let message = self.next_message;
            self.next_message += 1;
            let sender = (message % senders as u64) as usize;
            if sender % threads != self.number || self.clients[sender / threads].is_closed() {
                continue;
            }
            let lag = now - self.scheduled_ns(message, rate);
            self.tally.max_lag_ns = self.tally.max_lag_ns.max(lag);
            self.tally.sent += 1;
            let seq = message / senders as u64;
            let client = &mut self.clients[sender / threads];
            client.queue_message(&self.shared.prefix, seq, self.plan.size, now);
            self.flush(sender / threads);
        }
    }

    /// When message number `message` of a paced run is due.
    fn scheduled_ns(&self, message: u64, rate: f64) -> u64 {
        let start = self.shared.send_start_ns.load(Ordering::Acquire);
        start + (message as f64 * 1e9 / rate) as u64
    }

    /// Once every sender's last message came back, all messages have been
    /// handed to every client's queue: a ping now is answered after the last
    /// of them, so its pong ends the wait for a client that lost some.
    fn drain_when_all_echoed(&mut self) {
        if self.drained || self.shared.echoed.load(Ordering::Acquire) < self.plan.load.senders() {
            return;
        }
        self.drained = true;
        for slot in 0..self.clients.len() {
            if self.clients[slot].is_awaited() && !self.clients[slot].is_closed() {
                self.clients[slot].queue_ping(DRAIN_TOKEN);
                self.flush(slot);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_count_their_messages() {
        let burst = Load::Burst { senders: 3, messages: 4 };
        assert_eq!((burst.senders(), burst.total()), (3, 12));
        assert_eq!(burst.last_of(2), Some(3));
        assert_eq!(burst.last_of(3), None, "not a sender");

        // 10 messages over 4 senders: 3, 3, 2, 2.
        let paced = Load::Paced { senders: 4, rate: 100.0, total: 10 };
        let last: Vec<_> = (0..5).map(|index| paced.last_of(index)).collect();
        assert_eq!(last, [Some(2), Some(2), Some(1), Some(1), None]);

        // Fewer messages than senders: the rest send nothing.
        let sparse = Load::Paced { senders: 4, rate: 1.0, total: 2 };
        let last: Vec<_> = (0..4).map(|index| sparse.last_of(index)).collect();
        assert_eq!(last, [Some(0), Some(0), None, None]);
        assert_eq!(sparse.senders(), 2, "only those that send wait for their echo");
        assert_eq!(Load::Idle.last_of(0), None);
        assert_eq!(Load::Burst { senders: 5, messages: 0 }.senders(), 0);
    }
}
