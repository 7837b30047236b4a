//! The lines a person types, as docs/protocol.md writes them:
//! `ID->server#login<PASSWORD>`, `ID->DEST#some message`, `ID->server#logoff`.
//!
//! The client adds the receive address, the token and the message id itself,
//! so a typed line is shorter than the datagram it becomes. A line that is
//! none of the three becomes a [`CommandError`] whose `Display` is the hint
//! the person sees.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use crate::wire::{self, Login, Message, ReplyTo, MAX_DATAGRAM, SERVER_ID};

/// One typed line, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// `ID->server#login<PASSWORD>`
    Login { id: String, password: Vec<u8> },
    /// `ID->DEST#BODY`
    Send {
        from: String,
        to: String,
        body: Vec<u8>,
    },
    /// `ID->server#logoff`
    Logoff { id: String },
}

/// Why a typed line is not a command; `Display` is the usage hint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CommandError {
    /// No `ID->DEST#` in front.
    NotACommand,
    /// An id that is not 1 to 32 of `A-Z a-z 0-9 _ . -`, as typed.
    BadId(String),
    /// `server->...`: the hub's id is nobody's.
    FromServer,
    /// To `server`, but neither `login<PASSWORD>` nor `logoff`.
    UnknownRequest,
    /// `login` without a well-formed `<PASSWORD>`.
    BadPassword,
    /// A NUL byte would end the datagram early on the receiving side.
    NulInBody,
    /// The datagram, or one it causes (the hub's echo, the receipt), would
    /// be over [`MAX_DATAGRAM`] bytes: see [`wire::max_body`].
    TooLong,
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CommandError::NotACommand => f.write_str(
                "type ID->server#login<PASSWORD>, ID->DEST#message or ID->server#logoff",
            ),
            CommandError::BadId(id) => write!(
                f,
                "{id:?} is not an id: an id is 1 to 32 of A-Z a-z 0-9 _ . -"
            ),
            CommandError::FromServer => {
                f.write_str("'server' is the hub's id: type your own id before the ->")
            }
            CommandError::UnknownRequest => f.write_str(
                "to the server you can send ID->server#login<PASSWORD> or ID->server#logoff",
            ),
            CommandError::BadPassword => {
                f.write_str("type ID->server#login<PASSWORD>; the password cannot contain < or >")
            }
            CommandError::NulInBody => f.write_str("a message cannot contain a NUL byte"),
            CommandError::TooLong => write!(
                f,
                "too long: a message, and the server's echo of it, must each fit in one {MAX_DATAGRAM}-byte datagram"
            ),
        }
    }
}

impl std::error::Error for CommandError {}

/// The reply address whose `<IP><PORT>` is the longest the client writes.
const LONGEST_REPLY_TO: ReplyTo = ReplyTo::Addr(SocketAddr::new(
    IpAddr::V6(Ipv6Addr::new(
        0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff,
    )),
    65535,
));

/// Parses one typed line (without its `\n`; a trailing `\r` is dropped).
/// An empty line is no command and no error: `Ok(None)`.
pub fn parse(line: &[u8]) -> Result<Option<Command>, CommandError> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.is_empty() {
        return Ok(None);
    }
    if line.len() > MAX_DATAGRAM {
        return Err(CommandError::TooLong);
    }
    let header = wire::split_header(line).map_err(|_| CommandError::NotACommand)?;
    let (from, to, rest) = (id(header.from)?, id(header.to)?, header.rest);
    if from == SERVER_ID {
        return Err(CommandError::FromServer);
    }
    if to != SERVER_ID {
        if rest.contains(&0) {
            return Err(CommandError::NulInBody);
        }
        // Also the hub's echo and the receipt must fit, not only the message.
        if rest.len() > wire::max_body(&from, &to) {
            return Err(CommandError::TooLong);
        }
        return Ok(Some(Command::Send {
            from,
            to,
            body: rest.to_vec(),
        }));
    }
    if rest == b"logoff" {
        return Ok(Some(Command::Logoff { id: from }));
    }
    let Some(field) = rest.strip_prefix(b"login") else {
        return Err(CommandError::UnknownRequest);
    };
    let password = field
        .strip_prefix(b"<")
        .and_then(|f| f.strip_suffix(b">"))
        .filter(|p| !p.iter().any(|b| matches!(b, b'<' | b'>' | 0)))
        .ok_or(CommandError::BadPassword)?;
    let login = Login {
        from: &from,
        password,
        reply_to: LONGEST_REPLY_TO,
    };
    if Message::Login(login).encoded_len() > MAX_DATAGRAM {
        return Err(CommandError::TooLong);
    }
    Ok(Some(Command::Login {
        id: from,
        password: password.to_vec(),
    }))
}

fn id(bytes: &[u8]) -> Result<String, CommandError> {
    std::str::from_utf8(bytes)
        .ok()
        .filter(|id| wire::is_valid_id(id))
        .map(str::to_owned)
        .ok_or_else(|| CommandError::BadId(String::from_utf8_lossy(bytes).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn send(from: &str, to: &str, body: &[u8]) -> Command {
        Command::Send {
            from: from.into(),
            to: to.into(),
            body: body.to_vec(),
        }
    }

    #[test]
    fn parses_the_three_typed_lines_of_the_protocol() {
        assert_eq!(
            parse(b"alice->server#login<wonder land>"),
            Ok(Some(Command::Login {
                id: "alice".into(),
                password: b"wonder land".to_vec()
            }))
        );
        assert_eq!(
            parse(b"alice->bob#hello there"),
            Ok(Some(send("alice", "bob", b"hello there")))
        );
        assert_eq!(
            parse(b"alice->server#logoff"),
            Ok(Some(Command::Logoff { id: "alice".into() }))
        );
    }

    #[test]
    fn a_body_may_hold_anything_but_nul() {
        assert_eq!(
            parse(b"alice->bob#a#b<c>->d \xff"),
            Ok(Some(send("alice", "bob", b"a#b<c>->d \xff")))
        );
        assert_eq!(parse(b"alice->bob#"), Ok(Some(send("alice", "bob", b""))));
        assert_eq!(parse(b"alice->bob#a\0b"), Err(CommandError::NulInBody));
    }

    #[test]
    fn drops_a_carriage_return_and_ignores_empty_lines() {
        assert_eq!(
            parse(b"alice->server#logoff\r"),
            Ok(Some(Command::Logoff { id: "alice".into() }))
        );
        assert_eq!(parse(b""), Ok(None));
        assert_eq!(parse(b"\r"), Ok(None));
    }

    #[test]
    fn anything_else_gets_a_hint() {
        for (line, error) in [
            (&b"hello"[..], CommandError::NotACommand),
            (b"alice->bob hello", CommandError::NotACommand),
            (b"al ice->bob#hi", CommandError::BadId("al ice".into())),
            (b"alice->#hi", CommandError::BadId("".into())),
            (b"server->bob#hi", CommandError::FromServer),
            (b"alice->server#hello", CommandError::UnknownRequest),
            (
                b"alice->server#logoff<ABCDEF>",
                CommandError::UnknownRequest,
            ),
            (b"alice->server#login", CommandError::BadPassword),
            (b"alice->server#login<pw", CommandError::BadPassword),
            (b"alice->server#login<p<w>", CommandError::BadPassword),
            (b"alice->server#login<pw>x", CommandError::BadPassword),
        ] {
            assert_eq!(parse(line), Err(error), "{}", line.escape_ascii());
        }
    }

    #[test]
    fn the_id_hint_names_the_id_it_refused() {
        let error = parse(b"al ice->bob#hi").unwrap_err();
        assert_eq!(
            error.to_string(),
            "\"al ice\" is not an id: an id is 1 to 32 of A-Z a-z 0-9 _ . -"
        );
    }

    #[test]
    fn refuses_what_would_not_fit_in_one_datagram() {
        // `server->alice#<TOKEN><MSGID>Success: ` is the longest datagram
        // about a message from alice to bob: her echo.
        let echo = "server->alice#<abcdef><0123456789>Success: ".len();
        let fits = vec![b'x'; MAX_DATAGRAM - echo];
        let line = [&b"alice->bob#"[..], &fits].concat();
        assert!(parse(&line).is_ok());
        let line = [&line[..], b"x"].concat();
        assert_eq!(parse(&line), Err(CommandError::TooLong));
        // To a long id, the receipt it sends back is the longest.
        let to = "b".repeat(32);
        let receipt = format!("{to}->server#<abcdef><0123456789>Success: ").len();
        let fits = vec![b'x'; MAX_DATAGRAM - receipt];
        let line = [format!("alice->{to}#").as_bytes(), &fits].concat();
        assert!(parse(&line).is_ok());
        let line = [&line[..], b"x"].concat();
        assert_eq!(parse(&line), Err(CommandError::TooLong));

        let password = "p".repeat(MAX_DATAGRAM);
        let line = format!("alice->server#login<{password}>");
        assert_eq!(parse(line.as_bytes()), Err(CommandError::TooLong));
    }
}
