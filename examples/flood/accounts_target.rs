//! The `--accounts N` target: a real `reactor-server` process started with
//! N numbered accounts in a temporary file, measured as an operator would
//! see it: how long it takes to listen, and its memory before any login,
//! against a server with no account at all.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::reload::Reload;
use super::report::AccountsReport;
use super::server_process::{self, ServerProcess};
use super::users;
use super::PROGRAM;

/// A directory of this run's files, removed with them when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Result<Self, String> {
        let path = std::env::temp_dir().join(format!("flood-accounts-{}", std::process::id()));
        fs::create_dir_all(&path)
            .map_err(|err| format!("cannot make {}: {err}", path.display()))?;
        Ok(Self(path))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// The started server, ready for its clients and its reload.
pub struct Started {
    pub reload: Reload,
    /// The figures so far; the clients and the reload fill in the rest.
    pub report: AccountsReport,
    pub pid: u32,
    pub addr: std::net::SocketAddr,
    /// Holds the accounts files until the run ends.
    pub dir: TempDir,
}

/// Writes `count` accounts (and the next version of the file, with one
/// more), measures a server with no account, then starts the one to flood.
pub fn start(count: usize) -> Result<Started, String> {
    let binary = server_process::binary()?;
    let dir = TempDir::new()?;
    let file = dir.0.join("accounts.conf");
    let writing = Instant::now();
    users::write(&file, (0..count).map(|n| users::numbered(n, count)))?;
    let file_bytes = fs::metadata(&file).map_or(0, |meta| meta.len());
    eprintln!(
        "{PROGRAM}: wrote {count} accounts ({:.1} MB) to {} in {:.2?}",
        file_bytes as f64 / 1e6,
        file.display(),
        writing.elapsed()
    );
    let next = dir.0.join("accounts.conf.next");
    with_one_more(&file, &next, count)?;
    // On disk before the server starts: hundreds of megabytes written back
    // while it is measured would slow the whole machine (here, UDP fell
    // from 47,000 to 3,000 messages a second), not the server alone.
    for written in [&file, &next] {
        fs::File::open(written)
            .and_then(|file| file.sync_all())
            .map_err(|err| format!("cannot sync {}: {err}", written.display()))?;
    }
    let empty = dir.0.join("empty.conf");
    users::write(&empty, std::iter::empty())?;
    let empty_resident = ServerProcess::start(&binary, &empty)?.memory()?.resident;

    let server = ServerProcess::start(&binary, &file)?;
    let before_login = server.memory()?;
    if server.start.accounts != count {
        return Err(format!(
            "reactor-server read {} accounts, not {count}",
            server.start.accounts
        ));
    }
    let report = AccountsReport {
        accounts: count,
        file_bytes,
        start_up: server.start_up,
        read_in: server.start.read_in,
        empty_resident,
        before_login,
        sessions: 0,
        after_logins: None,
        reload: None,
        max_reply_wait: None,
    };
    Ok(Started {
        pid: server.pid,
        addr: server.start.addr,
        reload: Reload::new(server, file, next),
        report,
        dir,
    })
}

/// A copy of `file` with account `count` added at its end: what an
/// operator prepares beside the file before renaming it over.
fn with_one_more(file: &Path, next: &Path, count: usize) -> Result<(), String> {
    fs::copy(file, next).map_err(|err| format!("cannot copy {}: {err}", file.display()))?;
    users::append(next, [users::numbered(count, count + 1)])
}
