//! The server's memory, threads, descriptors and CPU time, read from `/proc`
//! (Linux), and the bench's own CPU time, so every figure can be weighed
//! against what producing it cost each side.

use std::fs;
use std::io;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use serde::Serialize;

/// A process's footprint at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Footprint {
    /// Resident memory (`VmRSS`), in KiB.
    pub rss_kib: u64,
    /// Threads (`/proc/PID/task` entries).
    pub threads: usize,
    /// Open file descriptors.
    pub fds: usize,
}

impl Footprint {
    /// Reads the footprint of process `pid`.
    ///
    /// # Errors
    /// A sentence, when `/proc` does not have the process (or is not there).
    pub fn of(pid: u32) -> Result<Footprint, String> {
        let read = || -> io::Result<Footprint> {
            Ok(Footprint {
                rss_kib: rss_kib(pid)?,
                threads: fs::read_dir(format!("/proc/{pid}/task"))?.count(),
                fds: fs::read_dir(format!("/proc/{pid}/fd"))?.count(),
            })
        };
        read().map_err(|err| format!("cannot read the server's figures from /proc/{pid}: {err}"))
    }
}

/// How often [`PeakRss`] looks at the server's memory.
const RSS_SAMPLE: Duration = Duration::from_millis(20);

/// The highest resident memory of a process while it is watched, sampled
/// from a thread of its own (a slow client's queue fills and is freed within
/// a run, so a reading at the end would miss it).
#[derive(Debug)]
pub struct PeakRss {
    stop: Sender<()>,
    thread: JoinHandle<u64>,
}

impl PeakRss {
    /// Starts watching process `pid`; `None` if no thread can be had.
    pub fn start(pid: u32) -> Option<PeakRss> {
        let (stop, stopped) = mpsc::channel();
        let watch = move || {
            let mut peak = 0;
            loop {
                peak = peak.max(rss_kib(pid).unwrap_or(0));
                if stopped.recv_timeout(RSS_SAMPLE) != Err(RecvTimeoutError::Timeout) {
                    return peak;
                }
            }
        };
        let thread = thread::Builder::new().name("rss-sampler".into()).spawn(watch).ok()?;
        Some(PeakRss { stop, thread })
    }

    /// Stops watching; the peak in KiB (`None` if it could not be read).
    pub fn stop(self) -> Option<u64> {
        let _ = self.stop.send(());
        self.thread.join().ok().filter(|&peak| peak > 0)
    }
}

/// `VmRSS` from `/proc/PID/status`, in KiB.
fn rss_kib(pid: u32) -> io::Result<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status.lines().find_map(|line| line.strip_prefix("VmRSS:"));
    let kib = line.and_then(|line| line.split_whitespace().next()?.parse().ok());
    kib.ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no VmRSS line"))
}

/// User plus system CPU time of process `pid`, from `/proc/PID/stat`.
fn cpu_time(pid: u32) -> io::Result<Duration> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name may hold spaces and parentheses; fields follow the last ')'.
    let fields: Vec<&str> =
        stat.rsplit_once(')').map_or("", |(_, rest)| rest).split_whitespace().collect();
    let ticks = |at: usize| fields.get(at).and_then(|field| field.parse::<u64>().ok());
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 here.
    let (Some(user), Some(system)) = (ticks(11), ticks(12)) else {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "unexpected /proc stat format"));
    };
    // SAFETY: sysconf only reads a system constant.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Ok(Duration::from_nanos((user + system) * 1_000_000_000 / per_second))
}

/// User plus system CPU time of this process, all threads together.
fn own_cpu_time() -> Duration {
    // SAFETY: getrusage writes into the struct we own; all-zero is a valid value.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let time = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    time(usage.ru_utime) + time(usage.ru_stime)
}

/// CPU used by the bench and the server over one stretch of wall time.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Cpu {
    /// The stretch of wall time measured.
    pub wall_s: f64,
    /// CPU used by the bench, all its threads together.
    pub bench_s: f64,
    /// Known only when the server's pid is.
    pub server_s: Option<f64>,
}

impl Cpu {
    /// One line for a table: seconds, and how much of one core that is.
    pub fn describe(&self) -> String {
        let share = |cpu: f64| {
            format!("{cpu:.2} s ({:.0}% of a core)", 100.0 * cpu / self.wall_s.max(1e-9))
        };
        match self.server_s {
            Some(server) => format!("bench {}, server {}", share(self.bench_s), share(server)),
            None => format!("bench {}, server unknown (give --server-pid)", share(self.bench_s)),
        }
    }
}

/// Measures [`Cpu`] from its start to each reading.
#[derive(Debug)]
pub struct CpuMeter {
    started: Instant,
    bench: Duration,
    server: Option<(u32, Duration)>,
}

impl CpuMeter {
    /// Starts measuring this process and, if its pid is known, the server.
    pub fn start(server_pid: Option<u32>) -> CpuMeter {
        let server = server_pid.and_then(|pid| Some((pid, cpu_time(pid).ok()?)));
        CpuMeter { started: Instant::now(), bench: own_cpu_time(), server }
    }

    /// What each side used since the start.
    pub fn read(&self) -> Cpu {
        let server =
            self.server.and_then(|(pid, before)| Some(cpu_time(pid).ok()?.saturating_sub(before)));
        Cpu {
            wall_s: self.started.elapsed().as_secs_f64(),
            bench_s: own_cpu_time().saturating_sub(self.bench).as_secs_f64(),
            server_s: server.map(|cpu| cpu.as_secs_f64()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let me = std::process::id();
        let footprint = Footprint::of(me).expect("our own /proc entry");
        assert!(footprint.rss_kib > 0 && footprint.threads >= 1 && footprint.fds >= 3);
        let meter = CpuMeter::start(Some(me));
        let spin = Instant::now();
        while spin.elapsed() < Duration::from_millis(30) {
            std::hint::black_box(0);
        }
        let cpu = meter.read();
        assert!(cpu.wall_s >= 0.03 && cpu.bench_s > 0.0, "{cpu:?}");
        assert!(cpu.server_s.is_some());
        assert!(Footprint::of(u32::MAX).is_err());
        let peak = PeakRss::start(me).expect("a sampler thread").stop();
        assert!(peak.is_some_and(|kib| kib >= footprint.rss_kib / 2), "{peak:?}");
        assert_eq!(PeakRss::start(u32::MAX).expect("a sampler thread").stop(), None);
    }
}
