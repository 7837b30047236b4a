//! The owner of an account under a guessing attack: can they still log in?
//!
//! While the flood guesses at the account from its many addresses, its
//! owner, from an address of their own, sends a typo and a wrong login
//! forged with that address (the same datagram to the hub) before each
//! right password, each time from another loopback address (127.0.1.N,
//! which the flood never uses), so that their own failures stay within an
//! address's budget: a device trusted by nothing. The hub must accept
//! every right password: docs/security.md.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::time::Duration;

/// How long a reply may take before the right password is sent again.
const PATIENCE: Duration = Duration::from_millis(250);
/// Right passwords sent (and resent) at most per try.
const SENDS: usize = 5;

/// Right passwords accepted, of those tried.
pub struct OwnerReport {
    pub accepted: usize,
    pub tries: usize,
}

/// `tries` times (at most 254): a typo, a forged wrong login, then the
/// right password.
pub fn log_in_under_attack(
    hub: SocketAddr,
    (id, password): (&str, &str),
    tries: usize,
) -> io::Result<OwnerReport> {
    let mut accepted = 0;
    for n in 0..tries {
        let socket = UdpSocket::bind((Ipv4Addr::new(127, 0, 1, n as u8 + 1), 0))?;
        socket.set_read_timeout(Some(PATIENCE))?;
        for wrong in ["typo", "forged"] {
            // Sent once: a resend would be one more failure.
            socket.send_to(format!("{id}->server#login<{wrong}>").as_bytes(), hub)?;
            reply(&socket);
        }
        let right = format!("{id}->server#login<{password}>");
        let success = format!("server->{id}#Success<");
        for _ in 0..SENDS {
            socket.send_to(right.as_bytes(), hub)?;
            match reply(&socket) {
                Some(reply) if reply.starts_with(&success) => {
                    accepted += 1;
                    break;
                }
                Some(_) => break, // refused
                None => {}        // lost in the flood: sent again
            }
        }
    }
    Ok(OwnerReport { accepted, tries })
}

/// The next reply, if one comes within [`PATIENCE`].
fn reply(socket: &UdpSocket) -> Option<String> {
    let mut buf = [0; 1024];
    let len = socket.recv(&mut buf).ok()?;
    Some(String::from_utf8_lossy(&buf[..len]).into_owned())
}
