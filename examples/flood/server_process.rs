//! A real `reactor-server` process, for `--accounts`: started on a free
//! loopback port with an accounts file, timed until its `listening on` line,
//! its log read line by line, signalled, killed when dropped.
//!
//! Its stderr is read on a thread of the flood's (the hub stays one thread
//! in its own process); each line is stamped with the instant it was read,
//! so that the clients' thread learns of it late but measures it right.

use std::io::{self, BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, TryRecvError};
use std::time::{Duration, Instant};

use super::os::Memory;

/// How long the server may take to listen: reading 10 million accounts on a
/// busy machine takes seconds.
const START_PATIENCE: Duration = Duration::from_secs(120);

/// What the `listening on` line says.
#[derive(Clone, Debug, PartialEq)]
pub struct StartLine {
    pub addr: SocketAddr,
    pub accounts: usize,
    /// How long the server says the accounts file took to read.
    pub read_in: Option<Duration>,
}

impl StartLine {
    /// `... listening on ADDR (N accounts from FILE, read in 146.2ms)`.
    pub fn parse(line: &str) -> Option<Self> {
        let (_, rest) = line.split_once("listening on ")?;
        let (addr, rest) = rest.split_once(" (")?;
        let accounts = rest.split_whitespace().next()?.parse().ok()?;
        let read_in = rest
            .rsplit_once(", read in ")
            .and_then(|(_, time)| debug_duration(time.strip_suffix(')')?));
        Some(Self {
            addr: addr.parse().ok()?,
            accounts,
            read_in,
        })
    }
}

/// A `Duration` as `{:?}` prints it: `146.2ms`, `61.0µs`, `1.2s`, `12ns`.
fn debug_duration(text: &str) -> Option<Duration> {
    let split = text.find(|c: char| !c.is_ascii_digit() && c != '.')?;
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let nanos_per_unit = match unit {
        "s" => 1e9,
        "ms" => 1e6,
        "µs" => 1e3,
        "ns" => 1.0,
        _ => return None,
    };
    let nanos = (number * nanos_per_unit).round();
    (nanos < u64::MAX as f64).then(|| Duration::from_nanos(nanos as u64))
}

/// A running `reactor-server`, killed when dropped.
pub struct ServerProcess {
    child: Child,
    pub pid: u32,
    pub start: StartLine,
    /// From the spawn to the `listening on` line.
    pub start_up: Duration,
    /// Its stderr, a line at a time, each with when it was read.
    log: Receiver<(Instant, String)>,
    /// The last line read, to say what it said if it dies.
    last_line: String,
}

impl ServerProcess {
    /// Starts `binary` on 127.0.0.1:0 with the accounts of `users`, and
    /// waits for its `listening on` line.
    pub fn start(binary: &Path, users: &Path) -> Result<Self, String> {
        let spawned = Instant::now();
        let mut child = Command::new(binary)
            .args(["--bind", "127.0.0.1:0", "--users"])
            .arg(users)
            // The lines read here are `info`, whatever the caller's RUST_LOG.
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|err| format!("cannot start {}: {err}", binary.display()))?;
        let log = match child.stderr.take() {
            Some(stderr) => read_lines(stderr),
            None => return Err("reactor-server has no stderr to read".into()),
        };
        // Whole from the start (its start line a placeholder until read),
        // so that it is killed if it never listens.
        let mut server = Self {
            pid: child.id(),
            child,
            start: StartLine {
                addr: SocketAddr::from(([127, 0, 0, 1], 0)),
                accounts: 0,
                read_in: None,
            },
            start_up: Duration::ZERO,
            log,
            last_line: String::new(),
        };
        let deadline = spawned + START_PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let (at, line) = match server.log.recv_timeout(left) {
                Ok(read) => read,
                Err(RecvTimeoutError::Timeout) => {
                    return Err(format!(
                        "reactor-server did not listen within {START_PATIENCE:?}"
                    ))
                }
                Err(RecvTimeoutError::Disconnected) => return Err(server.exited()),
            };
            if let Some(start) = StartLine::parse(&line) {
                server.start = start;
                server.start_up = at - spawned;
                return Ok(server);
            }
            server.last_line = line;
        }
    }

    /// The lines logged since the last call, or why there will be no more.
    pub fn read_log(&mut self) -> Result<Vec<(Instant, String)>, String> {
        let mut lines = Vec::new();
        loop {
            match self.log.try_recv() {
                Ok((at, line)) => {
                    self.last_line.clone_from(&line);
                    lines.push((at, line));
                }
                Err(TryRecvError::Empty) => return Ok(lines),
                Err(TryRecvError::Disconnected) => return Err(self.exited()),
            }
        }
    }

    /// Sends it SIGHUP: reload the accounts file.
    pub fn hang_up(&self) -> Result<(), String> {
        let pid = libc::pid_t::try_from(self.pid).map_err(|_| "no such pid".to_string())?;
        // SAFETY: kill(2) takes two integers and touches no memory of ours.
        match unsafe { libc::kill(pid, libc::SIGHUP) } {
            0 => Ok(()),
            _ => Err(format!(
                "cannot send SIGHUP to reactor-server: {}",
                io::Error::last_os_error()
            )),
        }
    }

    pub fn memory(&self) -> Result<Memory, String> {
        Memory::of(self.pid).map_err(|err| format!("cannot read reactor-server's memory: {err}"))
    }

    /// Why its log ended: it exited, with a status, after a last line.
    fn exited(&mut self) -> String {
        let status = match self.child.wait() {
            Ok(status) => status.to_string(),
            Err(err) => format!("status unknown: {err}"),
        };
        format!(
            "reactor-server exited ({status}); its last line: {:?}",
            self.last_line
        )
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `reactor-server` of the flood's own build: next to its directory of
/// examples (`target/release/examples/flood` ->
/// `target/release/reactor-server`). When cargo runs the flood, it is built
/// first, in the same profile, so that the server measured is the one the
/// sources make now, never a stale one.
pub fn binary() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|err| format!("where is the flood? {err}"))?;
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .ok_or("the flood is not in a cargo target directory")?;
    let binary = profile_dir.join("reactor-server");
    if let Some(cargo) = std::env::var_os("CARGO") {
        let profile = match profile_dir.file_name().and_then(|name| name.to_str()) {
            Some("debug") | None => "dev",
            Some(name) => name,
        };
        let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
        let built = Command::new(cargo)
            .args(["build", "--quiet", "--manifest-path", manifest])
            .args(["--profile", profile, "--bin", "reactor-server"])
            .status()
            .map_err(|err| format!("cannot run cargo: {err}"))?;
        if !built.success() {
            return Err(format!(
                "cargo build --profile {profile} --bin reactor-server: {built}"
            ));
        }
    }
    if !binary.is_file() {
        return Err(format!(
            "no {}: build it first (cargo build --release --bin reactor-server)",
            binary.display()
        ));
    }
    Ok(binary)
}

/// Every line of `pipe`, with when it was read, until it closes.
fn read_lines(pipe: impl Read + Send + 'static) -> Receiver<(Instant, String)> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).split(b'\n') {
            let Ok(line) = line else { break };
            let line = String::from_utf8_lossy(&line).into_owned();
            if tx.send((Instant::now(), line)).is_err() {
                break;
            }
        }
    });
    rx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_start_line_gives_the_address_the_count_and_the_read_time() {
        let line = "reactor-server: INFO: listening on 127.0.0.1:41234 \
                    (1000000 accounts from /tmp/a, read in 3/accounts.conf, read in 146.2ms)";
        assert_eq!(
            StartLine::parse(line),
            Some(StartLine {
                addr: "127.0.0.1:41234".parse().unwrap(),
                accounts: 1_000_000,
                read_in: Some(Duration::from_micros(146_200)),
            })
        );
        let one = "reactor-server: INFO: listening on [::1]:9 (1 account from u, read in 61.0µs)";
        let one = StartLine::parse(one).unwrap();
        assert_eq!(
            (one.accounts, one.read_in),
            (1, Some(Duration::from_micros(61)))
        );
    }

    #[test]
    fn a_start_line_without_its_time_still_gives_the_address() {
        let line = "listening on 127.0.0.1:9 (3 accounts from u)";
        let start = StartLine::parse(line).unwrap();
        assert_eq!((start.accounts, start.read_in), (3, None));
    }

    #[test]
    fn other_lines_are_not_a_start_line() {
        for line in [
            "",
            "reactor-server: INFO: metrics on http://127.0.0.1:9/metrics",
            "listening on nowhere (3 accounts from u, read in 1.0ms)",
            "listening on 127.0.0.1:9 (many accounts from u, read in 1.0ms)",
            "listening on 127.0.0.1:9",
        ] {
            assert_eq!(StartLine::parse(line), None, "{line:?}");
        }
    }

    #[test]
    fn durations_read_as_debug_prints_them() {
        for (text, expected) in [
            ("1.2s", Duration::from_millis(1200)),
            ("146.2ms", Duration::from_micros(146_200)),
            ("61.0µs", Duration::from_micros(61)),
            ("12ns", Duration::from_nanos(12)),
        ] {
            assert_eq!(debug_duration(text), Some(expected), "{text}");
        }
        for text in ["", "ms", "1.2", "1.2 ms", "1.2min", "-1.0s", "1e400s"] {
            assert_eq!(debug_duration(text), None, "{text}");
        }
    }
}
