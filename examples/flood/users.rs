//! The accounts the flood logs in with: generated for the in-process hub,
//! written to a file for an external `reactor-server` (`--make-users`), or
//! read back from such a file (`--users`).

use std::fmt::Write as _;
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

/// The same accounts as the hub sees them.
pub fn to_accounts(users: &[User]) -> Accounts {
    let mut accounts = Accounts::default();
    for user in users {
        accounts.add(&user.id, user.password.as_bytes());
    }
    accounts
}

/// Writes an accounts file that `reactor-server --users` reads.
pub fn write(path: &Path, users: &[User]) -> Result<(), String> {
    let mut text = String::from("# accounts for `cargo run --release --example flood`\n");
    for user in users {
        let _ = writeln!(text, "{}:{}", user.id, user.password);
    }
    std::fs::write(path, text).map_err(|err| format!("cannot write {}: {err}", path.display()))
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
