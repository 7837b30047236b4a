//! The accounts the flood logs in with: generated for the in-process hub,
//! written to a file for an external `reactor-server` (`--make-users`), or
//! read back from such a file (`--users`); numbered for a file of millions
//! (`--accounts`).

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write as _};
use std::path::Path;

use rand::Rng;
use reactor_hub::accounts::Accounts;

/// One account the flood can log in with.
#[derive(Clone, Debug)]
pub struct User {
    pub id: String,
    pub password: String,
}

/// `count` accounts `flood0`, `flood1`, ... with random passwords.
pub fn generate(count: usize) -> Vec<User> {
    let mut rng = rand::rng();
    (0..count)
        .map(|n| User {
            id: format!("flood{n}"),
            password: (0..12)
                .map(|_| rng.sample(rand::distr::Alphanumeric) as char)
                .collect(),
        })
        .collect()
}

/// Account `n` of `count`: `u0000042:p0000042`, the digits as wide as the
/// last account needs (at least 7). Nothing random: a file of millions is
/// written, and its users found again, without keeping any of them.
pub fn numbered(n: usize, count: usize) -> User {
    let width = count.saturating_sub(1).to_string().len().max(7);
    User {
        id: format!("u{n:0width$}"),
        password: format!("p{n:0width$}"),
    }
}

/// The same accounts as the hub sees them.
pub fn to_accounts(users: &[User]) -> Accounts {
    let mut accounts = Accounts::default();
    for user in users {
        accounts.add(&user.id, user.password.as_bytes());
    }
    accounts
}

/// Writes an accounts file that `reactor-server --users` reads, a line at
/// a time (millions of accounts need not be in memory at once).
pub fn write(path: &Path, users: impl IntoIterator<Item = User>) -> Result<(), String> {
    let header = "# accounts for `cargo run --release --example flood`";
    File::create(path)
        .and_then(|file| write_lines(file, Some(header), users))
        .map_err(|err| format!("cannot write {}: {err}", path.display()))
}

/// Adds accounts at the end of an accounts file.
pub fn append(path: &Path, users: impl IntoIterator<Item = User>) -> Result<(), String> {
    OpenOptions::new()
        .append(true)
        .open(path)
        .and_then(|file| write_lines(file, None, users))
        .map_err(|err| format!("cannot write {}: {err}", path.display()))
}

fn write_lines(
    file: File,
    comment: Option<&str>,
    users: impl IntoIterator<Item = User>,
) -> io::Result<()> {
    let mut file = BufWriter::new(file);
    if let Some(comment) = comment {
        writeln!(file, "{comment}")?;
    }
    for user in users {
        writeln!(file, "{}:{}", user.id, user.password)?;
    }
    file.flush()
}

/// Reads an accounts file, checked by the hub's own loader first so that the
/// flood refuses exactly the files the server refuses.
pub fn read(path: &Path) -> Result<Vec<User>, String> {
    Accounts::load(path).map_err(|err| err.to_string())?;
    let text = std::fs::read_to_string(path)
        .map_err(|err| format!("cannot read {}: {err}", path.display()))?;
    Ok(text
        .lines()
        .map(|line| line.strip_suffix('\r').unwrap_or(line))
        .filter(|line| !line.trim().is_empty() && !line.starts_with('#'))
        .filter_map(|line| line.split_once(':'))
        .map(|(id, password)| User {
            id: id.into(),
            password: password.into(),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbered_accounts_are_as_wide_as_the_last_one_needs() {
        let user = numbered(42, 1_000_000);
        assert_eq!(
            (user.id.as_str(), user.password.as_str()),
            ("u0000042", "p0000042")
        );
        assert_eq!(numbered(0, 10).id, "u0000000");
        assert_eq!(numbered(9_999_999, 10_000_000).id, "u9999999");
        assert_eq!(numbered(42, 10_000_001).id, "u00000042");
    }

    #[test]
    fn a_written_file_reads_back_as_the_same_accounts() {
        let path = std::env::temp_dir().join(format!("flood-users-{}.conf", std::process::id()));
        write(&path, (0..3).map(|n| numbered(n, 3))).unwrap();
        let users = read(&path);
        let _ = std::fs::remove_file(&path);
        let ids: Vec<String> = users.unwrap().into_iter().map(|u| u.id).collect();
        assert_eq!(ids, ["u0000000", "u0000001", "u0000002"]);
    }
}
