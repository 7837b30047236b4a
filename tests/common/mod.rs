//! Running the real binaries in tests: a hub on port 0 with its own accounts
//! file, and helpers to read what a child process prints without hanging.

#![allow(dead_code)] // each test binary uses a different part of this module

pub mod broker;
pub mod browser;
pub mod chat;
pub mod markdown;
pub mod peer;
pub mod scope;

use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

/// How long a test waits for an expected line or datagram before failing.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// The accounts every test hub knows.
pub const ACCOUNTS: &str = "alice:wonderland\nbob:builder\ncarol:s3cret\n";

/// A file in the temp directory, unique to this process and `name`,
/// removed when dropped.
pub struct TempFile(pub PathBuf);

impl TempFile {
    pub fn new(name: &str, contents: &str) -> Self {
        let path = std::env::temp_dir().join(format!("reactor-hub-{}-{name}", std::process::id()));
        std::fs::write(&path, contents).expect("write temp file");
        Self(path)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Lines a child process writes to one of its pipes, read on a thread.
pub struct Lines(Receiver<String>);

impl Lines {
    pub fn new(pipe: impl Read + Send + 'static) -> Self {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self(rx)
    }

    /// The next line containing `needle`, skipping others; panics after
    /// [`PATIENCE`] with everything seen.
    pub fn expect(&self, needle: &str) -> String {
        self.until(needle).pop().expect("the line found")
    }

    /// Every line up to and including the next one containing `needle`;
    /// panics after [`PATIENCE`] without one, however chatty the log.
    pub fn until(&self, needle: &str) -> Vec<String> {
        let deadline = Instant::now() + PATIENCE;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.0.recv_timeout(left) {
                Ok(line) => {
                    let found = line.contains(needle);
                    seen.push(line);
                    if found {
                        return seen;
                    }
                }
                Err(_) => panic!("no line containing {needle:?}; saw {seen:#?}"),
            }
        }
    }

    /// Every line until the pipe closes.
    pub fn rest(&self) -> Vec<String> {
        self.0.iter().collect()
    }
}

/// The trace lines of a log, as `--trace` printed them after their time
/// and target: `  0.084172 [udp] in  127.0.0.1:...` is `in  127.0.0.1:...`.
pub fn trace_lines(log: Vec<String>) -> Vec<String> {
    log.into_iter()
        .filter_map(|line| Some(line.split_once("] ")?.1.to_owned()))
        .collect()
}

/// A running `reactor-server`, killed when dropped.
pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
    pub log: Lines,
    /// The log up to its `listening on` line.
    pub start_log: Vec<String>,
    _accounts: TempFile,
}

impl Server {
    /// Starts the hub on 127.0.0.1:0 with [`ACCOUNTS`] and waits for its
    /// `listening on ADDR` line.
    pub fn start(name: &str, extra_args: &[&str]) -> Self {
        Self::start_at(name, "127.0.0.1:0", extra_args)
    }

    /// Like [`start`](Self::start), bound to `bind`: a restarted hub comes
    /// back where its clients expect it.
    pub fn start_at(name: &str, bind: &str, extra_args: &[&str]) -> Self {
        Self::start_with(name, bind, ACCOUNTS, extra_args)
    }

    /// Like [`start_at`](Self::start_at), with `accounts` as the accounts
    /// file.
    pub fn start_with(name: &str, bind: &str, accounts: &str, extra_args: &[&str]) -> Self {
        let accounts = TempFile::new(&format!("{name}.conf"), accounts);
        let mut child = Command::new(env!("CARGO_BIN_EXE_reactor-server"))
            .args(["--bind", bind, "--users"])
            .arg(&accounts.0)
            .args(extra_args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start reactor-server");
        let log = Lines::new(child.stderr.take().unwrap());
        let start_log = log.until("listening on ");
        let line = start_log.last().expect("a line");
        let addr = line
            .split("listening on ")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|addr| addr.parse().ok())
            .unwrap_or_else(|| panic!("no address in {line:?}"));
        Self {
            child,
            addr,
            log,
            start_log,
            _accounts: accounts,
        }
    }

    /// Sends SIGTERM and returns the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        self.signal("TERM");
        self.child.wait().expect("wait for reactor-server")
    }

    /// Sends the signal `name` (`HUP`, `TERM`, ...) with `kill`.
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([format!("-{name}"), self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name}");
    }

    /// Stops the hub where it is (SIGSTOP), as a stalled machine would:
    /// its sockets stay open and what comes for it waits, unread, until
    /// [`resume`](Self::resume).
    pub fn pause(&self) {
        self.signal("STOP");
    }

    /// Lets a [`pause`](Self::pause)d hub go on (SIGCONT).
    pub fn resume(&self) {
        self.signal("CONT");
    }

    /// The hub's accounts file, for a test to rewrite.
    pub fn accounts_file(&self) -> &std::path::Path {
        &self._accounts.0
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A UDP socket on loopback that gives up reading after [`PATIENCE`].
pub fn udp_socket() -> UdpSocket {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind test socket");
    socket.set_read_timeout(Some(PATIENCE)).unwrap();
    socket
}
