//! What the operating system says about a thread or a process: CPU time
//! and resident memory. Linux only: it reads `/proc` (and the UDP sockets'
//! table is read in `examples/common/proc_net_udp.rs`).
//!
//! CPU time comes from `schedstat`, whose first field is the time the
//! scheduler ran the thread, in nanoseconds (user and system together). The
//! `utime`/`stime` of `stat` count the same in clock ticks (10 ms), too
//! coarse for a run of a few seconds; they are the fallback.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Whose CPU time to read.
#[derive(Clone, Debug)]
pub enum CpuSource {
    /// One thread of this process (the in-process hub).
    Thread(PathBuf),
    /// Every thread of another process (an external `reactor-server`).
    Process(u32),
    /// Several of these together (the nodes of a cluster and its broker).
    Sum(Vec<CpuSource>),
}

impl CpuSource {
    /// The thread that calls this.
    pub fn current_thread() -> io::Result<Self> {
        // "/proc/thread-self" links to "<pid>/task/<tid>".
        let task = fs::read_link("/proc/thread-self")?;
        Ok(CpuSource::Thread(Path::new("/proc").join(task)))
    }

    /// CPU time used so far.
    pub fn cpu_time(&self) -> io::Result<Duration> {
        match self {
            CpuSource::Thread(task) => task_cpu_time(task),
            CpuSource::Process(pid) => {
                let mut total = Duration::ZERO;
                for task in fs::read_dir(format!("/proc/{pid}/task"))? {
                    // A thread that ended in between has nothing more to add.
                    if let Ok(time) = task_cpu_time(&task?.path()) {
                        total += time;
                    }
                }
                Ok(total)
            }
            CpuSource::Sum(sources) => sources.iter().map(CpuSource::cpu_time).sum(),
        }
    }

    /// The process's resident memory, in bytes.
    pub fn resident_bytes(&self) -> io::Result<u64> {
        match self {
            CpuSource::Thread(_) => resident_bytes(Path::new("/proc/self")),
            CpuSource::Process(pid) => resident_bytes(&Path::new("/proc").join(pid.to_string())),
            // Threads of this process count it once.
            CpuSource::Sum(sources) => {
                let mut processes: Vec<Option<u32>> = Vec::new();
                let mut total = 0;
                for source in sources {
                    let process = match source {
                        CpuSource::Process(pid) => Some(*pid),
                        _ => None,
                    };
                    if !processes.contains(&process) {
                        processes.push(process);
                        total += source.resident_bytes()?;
                    }
                }
                Ok(total)
            }
        }
    }
}

fn task_cpu_time(task: &Path) -> io::Result<Duration> {
    if let Ok(text) = fs::read_to_string(task.join("schedstat")) {
        if let Some(nanos) = text.split_whitespace().next().and_then(|f| f.parse().ok()) {
            return Ok(Duration::from_nanos(nanos));
        }
    }
    // Fields 14 and 15 of stat, counted after the ")" that ends the name.
    let stat = fs::read_to_string(task.join("stat"))?;
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
    match (ticks(11), ticks(12)) {
        (Some(utime), Some(stime)) => Ok(Duration::from_millis((utime + stime) * 10)),
        _ => Err(io::Error::other(format!(
            "{}: unreadable stat",
            task.display()
        ))),
    }
}

fn resident_bytes(process: &Path) -> io::Result<u64> {
    Memory::read(process).map(|memory| memory.resident)
}

/// A process's memory as its `status` file states it, in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Memory {
    /// Resident now (`VmRSS`).
    pub resident: u64,
    /// The most it has been resident (`VmHWM`) since it started, or since
    /// [`reset_peak`].
    pub peak: u64,
}

impl Memory {
    /// Process `pid`'s memory now.
    pub fn of(pid: u32) -> io::Result<Self> {
        Self::read(&Path::new("/proc").join(pid.to_string()))
    }

    fn read(process: &Path) -> io::Result<Self> {
        let status = fs::read_to_string(process.join("status"))?;
        Self::parse(&status).ok_or_else(|| io::Error::other("no VmRSS or VmHWM in status"))
    }

    /// The `VmRSS:` and `VmHWM:` lines of a `status` file (`VmRSS:  1748 kB`).
    fn parse(status: &str) -> Option<Self> {
        let kib = |field: &str| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(field))?
                .trim()
                .strip_suffix("kB")?
                .trim()
                .parse::<u64>()
                .ok()
        };
        Some(Self {
            resident: kib("VmRSS:")?.checked_mul(1024)?,
            peak: kib("VmHWM:")?.checked_mul(1024)?,
        })
    }
}

/// Makes process `pid`'s peak ([`Memory::peak`]) its resident memory now,
/// so that a later peak is that of what it did since (Linux 4.0 and later).
pub fn reset_peak(pid: u32) -> io::Result<()> {
    fs::write(format!("/proc/{pid}/clear_refs"), "5")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_is_read_from_the_status_lines_in_kib() {
        let status =
            "Name:\treactor-server\nVmHWM:\t   62012 kB\nVmRSS:\t   52000 kB\nThreads:\t1\n";
        let memory = Memory::parse(status).unwrap();
        assert_eq!(memory.resident, 52_000 * 1024);
        assert_eq!(memory.peak, 62_012 * 1024);
    }

    #[test]
    fn a_status_without_both_figures_is_not_read() {
        for status in [
            "",
            "VmRSS:\t 52000 kB\n",
            "VmHWM:\t 62012 kB\n",
            "VmRSS:\t 52000 kB\nVmHWM:\t many kB\n",
            "VmRSS:\t 52000\nVmHWM:\t 62012 kB\n",
            "VmRSS:\t 99999999999999999999 kB\nVmHWM:\t 1 kB\n",
        ] {
            assert_eq!(Memory::parse(status), None, "{status:?}");
        }
    }

    #[test]
    fn this_process_has_a_memory() {
        let memory = Memory::of(std::process::id()).unwrap();
        assert!(memory.resident > 0 && memory.peak >= memory.resident);
    }
}
