//! The reload under load, for `--accounts`: a moment into the measured
//! part, the accounts file is replaced by one with one more account (by a
//! rename, as docs/operations.md tells operators to), the server gets a
//! SIGHUP, and the clients go on until a little after its `accounts
//! reloaded` line ([`ReloadWindow`] says which replies count). The clients'
//! thread drives it from its ticks, so that a server that dies or never
//! finishes its reload ends the run with a reason instead of hanging it.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::os;
use super::reload_window::ReloadWindow;
use super::report::ReloadReport;
use super::server_process::ServerProcess;

/// Measured this long before the SIGHUP: the waits without a reload.
pub const LEAD_IN: Duration = Duration::from_millis(500);
/// How long a reload may take, from the SIGHUP to its line.
const PATIENCE: Duration = Duration::from_secs(120);
/// The server's line when a reload is done, and when it failed.
pub const RELOADED: &str = "accounts reloaded: ";
const NOT_RELOADED: &str = "accounts not reloaded";

/// Where the reload stands, for the clients.
pub enum Progress {
    Going,
    /// The window has closed: stop measuring.
    Over,
    Failed(String),
}

/// The server under test, its accounts file, and the reload to come.
pub struct Reload {
    server: ServerProcess,
    file: PathBuf,
    /// The next version of `file`, renamed over it at the SIGHUP.
    next: PathBuf,
    window: ReloadWindow,
    /// The server's line saying what the reload changed.
    line: Option<String>,
    /// Whether the server's peak memory was reset at the SIGHUP (so that
    /// the peak read after is the reload's).
    peak_reset: bool,
    /// The server's memory once the window closed.
    after: Option<os::Memory>,
}

impl Reload {
    pub fn new(server: ServerProcess, file: PathBuf, next: PathBuf) -> Self {
        Self {
            server,
            file,
            next,
            window: ReloadWindow::default(),
            line: None,
            peak_reset: false,
            after: None,
        }
    }

    pub fn start_measuring(&mut self, now: Instant) {
        self.window.start_measuring(now);
    }

    /// A reply to a message first sent at `sent` came at `now`.
    pub fn on_reply(&mut self, sent: Instant, now: Instant) {
        self.window.on_reply(sent, now);
    }

    /// At every tick of the clients, whatever their phase: reads the
    /// server's log, sends the SIGHUP once [`LEAD_IN`] has been measured,
    /// and says when the window has closed.
    pub fn on_tick(&mut self, now: Instant) -> Progress {
        let lines = match self.server.read_log() {
            Ok(lines) => lines,
            Err(why) => return Progress::Failed(why),
        };
        let Some(signalled) = self.window.signalled() else {
            let due = self
                .window
                .measuring_since()
                .is_some_and(|since| now >= since + LEAD_IN);
            return match due {
                true => self
                    .hang_up()
                    .map_or_else(Progress::Failed, |()| Progress::Going),
                false => Progress::Going,
            };
        };
        for (at, line) in lines {
            if line.contains(NOT_RELOADED) {
                return Progress::Failed(format!("the reload failed: {line}"));
            }
            if self.line.is_none() && line.contains(RELOADED) {
                self.window.complete(at);
                self.line = Some(line);
            }
        }
        match self.window.closes_at() {
            Some(end) if now >= end => {
                if self.after.is_none() {
                    match self.server.memory() {
                        Ok(memory) => self.after = Some(memory),
                        Err(why) => return Progress::Failed(why),
                    }
                }
                Progress::Over
            }
            Some(_) => Progress::Going,
            None if now >= signalled + PATIENCE => Progress::Failed(format!(
                "no {RELOADED:?} line within {PATIENCE:?} of the SIGHUP"
            )),
            None => Progress::Going,
        }
    }

    /// Puts the next file in place and signals the server. The file
    /// replaced keeps a second name until the run's directory goes: its
    /// last name gone, the rename would drop its pages from the page cache
    /// (180 MB for 10M accounts: a hundred milliseconds in this thread,
    /// which reads the replies).
    fn hang_up(&mut self) -> Result<(), String> {
        let replaced = self.file.with_extension("conf.replaced");
        std::fs::hard_link(&self.file, &replaced).map_err(|err| {
            format!(
                "cannot link {} to {}: {err}",
                self.file.display(),
                replaced.display()
            )
        })?;
        std::fs::rename(&self.next, &self.file).map_err(|err| {
            format!(
                "cannot rename {} to {}: {err}",
                self.next.display(),
                self.file.display()
            )
        })?;
        self.peak_reset = match os::reset_peak(self.server.pid) {
            Ok(()) => true,
            Err(err) => {
                eprintln!("flood: cannot reset reactor-server's peak memory ({err}): its peak during the reload is unknown");
                false
            }
        };
        let at = Instant::now();
        self.server.hang_up()?;
        self.window.signal(at);
        Ok(())
    }

    /// What the reload cost, once its window has closed.
    pub fn report(&self) -> Option<ReloadReport> {
        let after = self.after?;
        Some(ReloadReport {
            took: self.window.reload_took()?,
            line: self.line.clone()?,
            longest_wait: self.window.longest_during,
            longest_before: self.window.longest_before,
            replies: self.window.replies_during,
            peak: self.peak_reset.then_some(after.peak),
            resident_after: after.resident,
        })
    }
}
