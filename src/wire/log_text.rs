//! A datagram as a log line shows it: its text, escaped, with a login's
//! password masked.
//!
//! `--trace` logs every datagram in and out, and a trace is something people
//! paste into bug reports. A password outlives the session and is often used
//! elsewhere, so it never reaches a log line: `login<***>`. Tokens are left
//! in: they are what ties a datagram to its session when reading a trace,
//! and one is worth nothing once its session ends (logoff or expiry).

use std::fmt;

use super::frame;

/// What comes before the password of a login request.
const LOGIN: &[u8] = b"->server#login<";

/// Writes `datagram` as a log line shows it: the format the Reactor's
/// sockets are given for `--trace` (`UdpEndpoint::set_format`).
pub fn show_datagram(datagram: &[u8], f: &mut fmt::Formatter<'_>) -> fmt::Result {
    fmt::Display::fmt(&LogText::new(datagram), f)
}

/// [`fmt::Display`] for a datagram in a log line; see the module doc.
pub struct LogText<'a>(&'a [u8]);

impl<'a> LogText<'a> {
    pub fn new(datagram: &'a [u8]) -> Self {
        Self(frame(datagram))
    }
}

impl fmt::Display for LogText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self.0;
        let Some(password) = password_span(text) else {
            return write!(f, "{}", text.escape_ascii());
        };
        write!(
            f,
            "{}***{}",
            text[..password.start].escape_ascii(),
            text[password.end..].escape_ascii()
        )
    }
}

/// Where the password of a login request is (also a malformed one, whose
/// password runs to the end), or `None` if `text` is no login. It looks for
/// the first `->server#login<` anywhere, not only after a valid id: a
/// message that merely quotes one loses a few bytes of a debugging view,
/// while a login with a malformed id must not show its password.
fn password_span(text: &[u8]) -> Option<std::ops::Range<usize>> {
    let start = text.windows(LOGIN.len()).position(|w| w == LOGIN)? + LOGIN.len();
    let len = text[start..]
        .iter()
        .position(|&b| b == b'>')
        .unwrap_or(text.len() - start);
    Some(start..start + len)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(datagram: &[u8]) -> String {
        LogText::new(datagram).to_string()
    }

    #[test]
    fn a_login_shows_no_password() {
        assert_eq!(
            shown(b"alice->server#login<wonderland><127.0.0.1><40000>\n"),
            "alice->server#login<***><127.0.0.1><40000>"
        );
        assert_eq!(
            shown(b"alice->server#login<wonderland>"),
            "alice->server#login<***>"
        );
    }

    #[test]
    fn a_malformed_login_hides_all_that_could_be_a_password() {
        assert_eq!(
            shown(b"alice->server#login<wonder"),
            "alice->server#login<***"
        );
        assert_eq!(
            shown(b"al ice->server#login<pw>"),
            "al ice->server#login<***>"
        );
    }

    #[test]
    fn everything_else_is_shown_escaped() {
        assert_eq!(
            shown(b"alice->bob#<Tok3n!><0000000001>my login<secret> is\x01"),
            "alice->bob#<Tok3n!><0000000001>my login<secret> is\\x01"
        );
        assert_eq!(
            shown(b"alice->server#logoff<Tok3n!>"),
            "alice->server#logoff<Tok3n!>"
        );
        assert_eq!(shown(b"no arrow#login<x>"), "no arrow#login<x>");
        assert_eq!(shown(b"x->"), "x->");
    }

    #[test]
    fn no_password_survives_any_login_shape() {
        let password = "pa55-w0rd";
        for tail in ["", ">", "><::1><1>", "><127.0.0.1><40000>\r\n", ">\0junk"] {
            for from in ["alice", "", "a b", "x->y"] {
                let datagram = format!("{from}->server#login<{password}{tail}");
                let text = shown(datagram.as_bytes());
                assert!(!text.contains(password), "{datagram:?} shown as {text:?}");
            }
        }
    }
}
