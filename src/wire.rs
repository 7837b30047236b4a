//! The wire format: every datagram of the contract as a typed [`Message`].
//!
//! [`parse`] turns the bytes of one datagram into a `Message` that borrows
//! from them (nothing is allocated to parse), and [`Message::encode`] writes a
//! message back into a caller's buffer. Code past this module never looks at
//! strings: it matches on the enum. The grammar is the one of
//! `docs/protocol.md`; the fixed parts are ASCII, a body is any bytes.

use std::ffi::CStr;
use std::fmt;
use std::net::{IpAddr, SocketAddr};

use rand::Rng;

/// The id the hub speaks as; no account may use it.
pub const SERVER_ID: &str = "server";

/// The largest datagram the hub and the client accept, in bytes. Longer ones
/// are refused unanswered: a reply must never be a way to amplify traffic.
pub const MAX_DATAGRAM: usize = 1024;

/// The longest client id.
pub const MAX_ID_LEN: usize = 32;

/// The 6-character secret the hub hands out at login.
///
/// Named `SessionToken`, not `Token`, because `mio::Token` is everywhere in
/// the reactor.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionToken([u8; SessionToken::LEN]);

impl SessionToken {
    /// Length on the wire.
    pub const LEN: usize = 6;
    /// The characters a generated token is drawn from.
    pub const ALPHABET: &'static [u8] =
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!$%&*+-=?@^_~";

    /// A fresh token; `rng` should be cryptographically secure.
    pub fn generate(rng: &mut (impl Rng + ?Sized)) -> Self {
        let mut token = [0; Self::LEN];
        for byte in &mut token {
            *byte = Self::ALPHABET[rng.random_range(0..Self::ALPHABET.len())];
        }
        Self(token)
    }

    /// The token as it is written on the wire.
    pub fn as_str(&self) -> &str {
        // The hub's parsing and generation only ever admit printable
        // ASCII; another hub's token, read by our client, may be any bytes.
        std::str::from_utf8(&self.0).unwrap_or("??????")
    }

    /// Compares in time that does not depend on where the tokens differ, so
    /// that a guesser learns nothing from how fast the hub answers.
    pub fn matches(&self, other: &SessionToken) -> bool {
        constant_time_eq(&self.0, &other.0)
    }

    fn parse(bytes: &[u8]) -> Option<Self> {
        Some(Self(fixed_field(bytes)?))
    }

    /// `<TOKEN>` at the start of `bytes`, and what follows it.
    fn parse_angled(bytes: &[u8], dialect: Dialect) -> Option<(Self, &[u8])> {
        let (token, rest) = fixed_angle_field(bytes, Self::LEN)?;
        let token = match dialect {
            Dialect::Contract => Self::parse(token)?,
            Dialect::AnyHub => Self(token.try_into().ok()?),
        };
        Some((token, rest))
    }
}

impl fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionToken({})", self.as_str())
    }
}

impl fmt::Display for SessionToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The 10-character id a client gives each message; receipts name it.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct MsgId([u8; MsgId::LEN]);

/// Ordered as its bytes are, compared as one number: the hub keeps the ids
/// it remembers sorted, and a byte-array comparison is a `memcmp` call.
impl Ord for MsgId {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_number().cmp(&other.as_number())
    }
}

impl PartialOrd for MsgId {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl MsgId {
    /// Length on the wire.
    pub const LEN: usize = 10;

    /// Ten random decimal digits, as our clients send them.
    pub fn random(rng: &mut (impl Rng + ?Sized)) -> Self {
        let mut id = [0; Self::LEN];
        for digit in &mut id {
            *digit = b'0' + rng.random_range(0..10u8);
        }
        Self(id)
    }

    /// The id as it is written on the wire.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("??????????")
    }

    /// The bytes as one big-endian number, which orders as the bytes do.
    fn as_number(&self) -> u128 {
        let mut bytes = [0; 16];
        bytes[..Self::LEN].copy_from_slice(&self.0);
        u128::from_be_bytes(bytes)
    }

    fn parse(bytes: &[u8]) -> Option<Self> {
        Some(Self(fixed_field(bytes)?))
    }

    /// `<MSGID>` at the start of `bytes`, and what follows it.
    fn parse_angled(bytes: &[u8]) -> Option<(Self, &[u8])> {
        let (msg_id, rest) = fixed_angle_field(bytes, Self::LEN)?;
        Some((Self::parse(msg_id)?, rest))
    }
}

impl fmt::Debug for MsgId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MsgId({})", self.as_str())
    }
}

impl fmt::Display for MsgId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Equality of two byte strings whose running time depends only on their
/// lengths, not on their contents.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// Where the hub should send its replies, as a login names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplyTo {
    /// The short form `login<PASSWORD>`: the datagram's source address.
    Source,
    /// `<0.0.0.0><PORT>`: the datagram's source IP at this port.
    SourceIpAt(u16),
    /// `<IP><PORT>`: exactly this address.
    Addr(SocketAddr),
}

impl ReplyTo {
    /// The address replies go to, given where the login came from; `None`
    /// if the socket the login came in on cannot send there.
    ///
    /// The source tells the socket's family: an IPv4 socket sees IPv4
    /// sources, an IPv6 one IPv6 sources (IPv4 peers as `::ffff:a.b.c.d`).
    /// An IPv4 socket cannot send to an IPv6 address at all (the kernel
    /// answers `EAFNOSUPPORT`), so such a login is refused like a malformed
    /// one. An IPv4 address named to an IPv6 socket is written in its
    /// mapped form, which a dual-stack socket reaches.
    pub fn resolve(self, source: SocketAddr) -> Option<SocketAddr> {
        let addr = match self {
            ReplyTo::Source => return Some(source),
            ReplyTo::SourceIpAt(port) => return Some(SocketAddr::new(source.ip(), port)),
            ReplyTo::Addr(addr) => addr,
        };
        match (source.ip(), addr.ip()) {
            (IpAddr::V4(_), IpAddr::V4(_)) | (IpAddr::V6(_), IpAddr::V6(_)) => Some(addr),
            (IpAddr::V4(_), IpAddr::V6(ip)) => ip
                .to_ipv4_mapped()
                .map(|ip| SocketAddr::new(ip.into(), addr.port())),
            (IpAddr::V6(_), IpAddr::V4(ip)) => {
                Some(SocketAddr::new(ip.to_ipv6_mapped().into(), addr.port()))
            }
        }
    }
}

/// What the hub says about one message, in its reply to the sender.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome<'a> {
    /// `Success: BODY`: accepted and forwarded.
    Accepted(&'a [u8]),
    /// `Error: token error!`
    TokenError,
    /// `Error: destination offline!`
    DestinationOffline,
    /// `Error: please log in again!`
    LogInAgain,
    /// Another hub's words for a failure (`ERROR: Destination offline.`):
    /// only [`parse_from_any_hub`] reads one, and ours never sends one.
    OtherError(&'a [u8]),
}

const ACCEPTED_PREFIX: &[u8] = b"Success: ";
const TOKEN_ERROR: &[u8] = b"Error: token error!";
const DESTINATION_OFFLINE: &[u8] = b"Error: destination offline!";
const LOG_IN_AGAIN: &[u8] = b"Error: please log in again!";
const PASSWORD_MISMATCH: &[u8] = b"Error: password does not match!";

/// A token and a message id of the right lengths, for measuring datagrams
/// (and the token of a forward between nodes, which its destination's node
/// replaces with the destination's own).
pub const ANY_TOKEN: SessionToken = SessionToken([b'x'; SessionToken::LEN]);
const ANY_MSG_ID: MsgId = MsgId([b'0'; MsgId::LEN]);

/// The longest body a message from `from` to `to` can carry so that every
/// datagram it causes fits in [`MAX_DATAGRAM`] bytes: the message and its
/// forward (the same length), the hub's `Success: BODY` echo to `from`, and
/// the receipt `to` sends back with the same echo.
pub fn max_body(from: &str, to: &str) -> usize {
    let (token, msg_id) = (ANY_TOKEN, ANY_MSG_ID);
    let message = Message::Chat(Chat {
        from,
        to,
        token,
        msg_id,
        body: b"",
    });
    let echo = Message::accepted_echo(from, b"");
    let receipt = Message::Receipt(Receipt {
        from: to,
        token,
        msg_id,
        body: ACCEPTED_PREFIX,
    });
    let longest = [message, echo, receipt].map(|m| m.encoded_len());
    MAX_DATAGRAM.saturating_sub(longest.into_iter().max().unwrap_or(MAX_DATAGRAM))
}

/// The body of `from`'s receipt of a forward: `Success: BODY`, cut where
/// the receipt would pass [`MAX_DATAGRAM`] bytes (the hub takes any body as
/// a receipt, but drops an oversized datagram), as [`Message::accepted`]
/// cuts the hub's echo.
pub fn receipt_echo(from: &str, body: &[u8]) -> Vec<u8> {
    let empty = Message::Receipt(Receipt {
        from,
        token: ANY_TOKEN,
        msg_id: ANY_MSG_ID,
        body: b"",
    });
    let mut echo = [ACCEPTED_PREFIX, body].concat();
    echo.truncate(MAX_DATAGRAM.saturating_sub(empty.encoded_len()));
    echo
}

/// One datagram of the contract, borrowing from the bytes it was parsed from:
/// one variant per kind, each holding the struct of that kind, so that a
/// handler takes the one value it handles (`on_chat(now, source, chat)`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Message<'a> {
    Login(Login<'a>),
    Logoff(Logoff<'a>),
    Chat(Chat<'a>),
    Receipt(Receipt<'a>),
    Success(Success<'a>),
    PasswordMismatch(PasswordMismatch<'a>),
    LogInAgain(LogInAgain<'a>),
    Reply(Reply<'a>),
}

/// `ID->server#login<PASSWORD>[<IP><PORT>]`
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Login<'a> {
    pub from: &'a str,
    pub password: &'a [u8],
    pub reply_to: ReplyTo,
}

/// `ID->server#logoff<TOKEN>`
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Logoff<'a> {
    pub from: &'a str,
    pub token: SessionToken,
}

/// `ID->DEST#<TOKEN><MSGID>BODY`: sent by a client with its own token, and
/// forwarded by the hub with the destination's token in its place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Chat<'a> {
    pub from: &'a str,
    pub to: &'a str,
    pub token: SessionToken,
    pub msg_id: MsgId,
    pub body: &'a [u8],
}

/// `ID->server#<TOKEN><MSGID>anything`: the receipt of a forwarded message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Receipt<'a> {
    pub from: &'a str,
    pub token: SessionToken,
    pub msg_id: MsgId,
    pub body: &'a [u8],
}

/// `server->ID#Success<TOKEN>`: a login or a logoff was accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Success<'a> {
    pub to: &'a str,
    pub token: SessionToken,
}

/// `server->ID#Error: password does not match!`
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PasswordMismatch<'a> {
    pub to: &'a str,
}

/// `server->ID#Error: please log in again!` (the answer to a logoff
/// without a session).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogInAgain<'a> {
    pub to: &'a str,
}

/// `server->ID#<TOKEN><MSGID>OUTCOME`: the hub's answer to a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reply<'a> {
    pub to: &'a str,
    pub token: SessionToken,
    pub msg_id: MsgId,
    pub outcome: Outcome<'a>,
}

/// Why a datagram is not a message of the contract.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// Longer than [`MAX_DATAGRAM`].
    TooLong(usize),
    /// No `->` after the sender's id.
    MissingArrow,
    /// No `#` after the destination's id.
    MissingHash,
    /// An id that is empty, too long, or has a character outside `A-Za-z0-9_.-`.
    BadId,
    /// `server` on both sides of the arrow.
    ServerToServer,
    /// Not `<TOKEN>`: six printable characters other than space, `<`, `>`, `#`.
    BadToken,
    /// Not `<MSGID>`: ten printable characters other than space, `<`, `>`, `#`.
    BadMsgId,
    /// A login whose password or address fields are malformed.
    BadLogin,
    /// A datagram to `server` that is no login, logoff or receipt.
    UnknownRequest,
    /// A datagram from `server` that is no reply of the contract.
    UnknownReply,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::TooLong(len) => {
                write!(
                    f,
                    "datagram of {len} bytes is over the {MAX_DATAGRAM}-byte limit"
                )
            }
            ParseError::MissingArrow => f.write_str("no '->' after the sender id"),
            ParseError::MissingHash => f.write_str("no '#' after the destination id"),
            ParseError::BadId => f.write_str("an id is empty, too long or has a bad character"),
            ParseError::ServerToServer => f.write_str("'server' cannot send to 'server'"),
            ParseError::BadToken => f.write_str("malformed <TOKEN>"),
            ParseError::BadMsgId => f.write_str("malformed <MSGID>"),
            ParseError::BadLogin => f.write_str("malformed login<PASSWORD>[<IP><PORT>]"),
            ParseError::UnknownRequest => f.write_str("not a login, logoff or receipt"),
            ParseError::UnknownReply => f.write_str("not a reply the server sends"),
        }
    }
}

impl std::error::Error for ParseError {}

/// The text of a datagram: up to its first `\0`, without trailing `\r`/`\n`.
pub fn frame(datagram: &[u8]) -> &[u8] {
    // `CStr` looks for the `\0` with the standard library's memchr, which
    // reads a word at a time: on a whole datagram that is several times
    // faster than a loop over bytes, and this runs for every datagram.
    let mut text = match CStr::from_bytes_until_nul(datagram) {
        Ok(c_str) => c_str.to_bytes(),
        Err(_) => datagram,
    };
    while let [rest @ .., b'\r' | b'\n'] = text {
        text = rest;
    }
    text
}

/// Parses one datagram.
///
/// ```
/// use reactor_hub::wire::{parse, Chat, Message};
///
/// // Another implementation's buffer: the text, a NUL, then whatever followed.
/// let datagram = b"alice->bob#<aB3$%~><4821930475>hello #<bob>\0\x7f\x7f";
/// let Ok(Message::Chat(Chat { from, to, msg_id, body, .. })) = parse(datagram) else {
///     panic!("a chat message");
/// };
/// assert_eq!((from, to, msg_id.as_str()), ("alice", "bob", "4821930475"));
/// assert_eq!(body, b"hello #<bob>");
///
/// // Encoding gives back the text, without what followed the NUL.
/// let message = parse(datagram).unwrap();
/// assert_eq!(message.to_bytes(), b"alice->bob#<aB3$%~><4821930475>hello #<bob>");
/// ```
pub fn parse(datagram: &[u8]) -> Result<Message<'_>, ParseError> {
    parse_as(datagram, Dialect::Contract)
}

/// Parses a datagram from a hub, ours or another implementation's, as our
/// client reads it: like [`parse`], but a token is any 6 bytes (other hubs
/// use any printable byte), and a reply to a message whose text starts with
/// `error` in any case is [`Outcome::OtherError`] (other hubs word them
/// differently). The client matches a reply by its token and message id,
/// so reading more kinds of text lets no one else speak for its hub.
pub fn parse_from_any_hub(datagram: &[u8]) -> Result<Message<'_>, ParseError> {
    parse_as(datagram, Dialect::AnyHub)
}

/// Which grammar a parse follows: the hub holds everyone to the contract;
/// the client is generous in what it takes from a hub.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Dialect {
    Contract,
    AnyHub,
}

// Inlined into `parse` and `parse_from_any_hub`, so that each is compiled
// for its one dialect: the hub's parse pays nothing for the client's.
#[inline(always)]
fn parse_as(datagram: &[u8], dialect: Dialect) -> Result<Message<'_>, ParseError> {
    if datagram.len() > MAX_DATAGRAM {
        return Err(ParseError::TooLong(datagram.len()));
    }
    let header = split_header(frame(datagram))?;
    let (from, to, rest) = (parse_id(header.from)?, parse_id(header.to)?, header.rest);
    match (from == SERVER_ID, to == SERVER_ID) {
        (true, true) => Err(ParseError::ServerToServer),
        (false, true) => parse_request(from, rest),
        (true, false) => parse_reply(to, rest, dialect),
        (false, false) => {
            let (token, msg_id, body) = token_and_msg_id(rest, dialect)?;
            Ok(Message::Chat(Chat {
                from,
                to,
                token,
                msg_id,
                body,
            }))
        }
    }
}

/// `FROM->TO#REST` split at the first `->` and the first `#` after it, the
/// ids not yet checked.
pub struct Header<'a> {
    pub from: &'a [u8],
    pub to: &'a [u8],
    pub rest: &'a [u8],
}

/// Splits a header off `text`: the one place that knows where a header
/// ends (the hub's parser, and the client's reading of typed lines).
pub fn split_header(text: &[u8]) -> Result<Header<'_>, ParseError> {
    let arrow = find(text, b"->").ok_or(ParseError::MissingArrow)?;
    let after_arrow = &text[arrow + 2..];
    let hash = after_arrow
        .iter()
        .position(|&b| b == b'#')
        .ok_or(ParseError::MissingHash)?;
    Ok(Header {
        from: &text[..arrow],
        to: &after_arrow[..hash],
        rest: &after_arrow[hash + 1..],
    })
}

fn parse_request<'a>(from: &'a str, rest: &'a [u8]) -> Result<Message<'a>, ParseError> {
    if let Some(fields) = rest.strip_prefix(b"login") {
        return parse_login(from, fields);
    }
    if let Some(field) = rest.strip_prefix(b"logoff") {
        let (token, tail) =
            SessionToken::parse_angled(field, Dialect::Contract).ok_or(ParseError::BadToken)?;
        return match tail {
            [] => Ok(Message::Logoff(Logoff { from, token })),
            _ => Err(ParseError::UnknownRequest),
        };
    }
    if rest.first() == Some(&b'<') {
        let (token, msg_id, body) = token_and_msg_id(rest, Dialect::Contract)?;
        return Ok(Message::Receipt(Receipt {
            from,
            token,
            msg_id,
            body,
        }));
    }
    Err(ParseError::UnknownRequest)
}

fn parse_login<'a>(from: &'a str, fields: &'a [u8]) -> Result<Message<'a>, ParseError> {
    let (password, tail) = angle_field(fields).ok_or(ParseError::BadLogin)?;
    let reply_to = if tail.is_empty() {
        ReplyTo::Source
    } else {
        let (ip, tail) = angle_field(tail).ok_or(ParseError::BadLogin)?;
        let (port, tail) = angle_field(tail).ok_or(ParseError::BadLogin)?;
        if !tail.is_empty() {
            return Err(ParseError::BadLogin);
        }
        let ip: IpAddr = ascii_parse(ip).ok_or(ParseError::BadLogin)?;
        let port: u16 = ascii_parse(port)
            .filter(|&p| p != 0)
            .ok_or(ParseError::BadLogin)?;
        if ip.is_unspecified() {
            ReplyTo::SourceIpAt(port)
        } else {
            ReplyTo::Addr(SocketAddr::new(ip, port))
        }
    };
    Ok(Message::Login(Login {
        from,
        password,
        reply_to,
    }))
}

fn parse_reply<'a>(
    to: &'a str,
    rest: &'a [u8],
    dialect: Dialect,
) -> Result<Message<'a>, ParseError> {
    if let Some(field) = rest.strip_prefix(b"Success") {
        let (token, tail) =
            SessionToken::parse_angled(field, dialect).ok_or(ParseError::BadToken)?;
        return match tail {
            [] => Ok(Message::Success(Success { to, token })),
            _ => Err(ParseError::UnknownReply),
        };
    }
    match rest {
        PASSWORD_MISMATCH => return Ok(Message::PasswordMismatch(PasswordMismatch { to })),
        LOG_IN_AGAIN => return Ok(Message::LogInAgain(LogInAgain { to })),
        _ => {}
    }
    let (token, msg_id, text) = token_and_msg_id(rest, dialect)?;
    let outcome = match text {
        TOKEN_ERROR => Outcome::TokenError,
        DESTINATION_OFFLINE => Outcome::DestinationOffline,
        LOG_IN_AGAIN => Outcome::LogInAgain,
        _ => match text.strip_prefix(ACCEPTED_PREFIX) {
            Some(body) => Outcome::Accepted(body),
            None if dialect == Dialect::AnyHub
                && text
                    .get(..5)
                    .is_some_and(|w| w.eq_ignore_ascii_case(b"error")) =>
            {
                Outcome::OtherError(text)
            }
            None => return Err(ParseError::UnknownReply),
        },
    };
    Ok(Message::Reply(Reply {
        to,
        token,
        msg_id,
        outcome,
    }))
}

/// `<TOKEN><MSGID>` and what follows them.
fn token_and_msg_id(
    bytes: &[u8],
    dialect: Dialect,
) -> Result<(SessionToken, MsgId, &[u8]), ParseError> {
    let (token, rest) = SessionToken::parse_angled(bytes, dialect).ok_or(ParseError::BadToken)?;
    let (msg_id, body) = MsgId::parse_angled(rest).ok_or(ParseError::BadMsgId)?;
    Ok((token, msg_id, body))
}

/// Splits `<FIELD>rest` into `FIELD` and `rest`; the field holds no `<`.
fn angle_field(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let inner = bytes.strip_prefix(b"<")?;
    let close = inner.iter().position(|&b| b == b'>')?;
    let field = &inner[..close];
    if field.contains(&b'<') {
        return None;
    }
    Some((field, &inner[close + 1..]))
}

/// Splits `<FIELD>rest` into `FIELD` and `rest` when `FIELD` has a fixed
/// length (a token, a message id): the closing `>` is looked for at its one
/// possible place, not searched for.
fn fixed_angle_field(bytes: &[u8], len: usize) -> Option<(&[u8], &[u8])> {
    let (field, rest) = bytes.strip_prefix(b"<")?.split_at_checked(len)?;
    Some((field, rest.strip_prefix(b">")?))
}

/// A token or message id: exactly `N` printable ASCII characters other than
/// space, `<`, `>` and `#`.
fn fixed_field<const N: usize>(bytes: &[u8]) -> Option<[u8; N]> {
    let field: [u8; N] = bytes.try_into().ok()?;
    field
        .iter()
        .all(|&b| b.is_ascii_graphic() && !matches!(b, b'<' | b'>' | b'#'))
        .then_some(field)
}

fn parse_id(bytes: &[u8]) -> Result<&str, ParseError> {
    let valid = !bytes.is_empty()
        && bytes.len() <= MAX_ID_LEN
        && bytes
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if !valid {
        return Err(ParseError::BadId);
    }
    std::str::from_utf8(bytes).map_err(|_| ParseError::BadId)
}

/// Is this a valid client id (1 to 32 of `A-Za-z0-9_.-`)?
pub fn is_valid_id(id: &str) -> bool {
    parse_id(id.as_bytes()).is_ok()
}

fn ascii_parse<T: std::str::FromStr>(bytes: &[u8]) -> Option<T> {
    std::str::from_utf8(bytes).ok()?.parse().ok()
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

impl<'a> Message<'a> {
    /// The hub's `server->TO#<TOKEN><MSGID>Success: BODY`, with the echo of
    /// the body cut where the datagram would pass [`MAX_DATAGRAM`] bytes: a
    /// message that fits can have an echo that does not (`Success: ` and
    /// `server` are longer than some ids), and the `MSGID` says which
    /// message it confirms.
    pub fn accepted(to: &'a str, token: SessionToken, msg_id: MsgId, body: &'a [u8]) -> Self {
        let room = MAX_DATAGRAM.saturating_sub(Self::accepted_echo(to, b"").encoded_len());
        Message::Reply(Reply {
            to,
            token,
            msg_id,
            outcome: Outcome::Accepted(&body[..body.len().min(room)]),
        })
    }

    /// `server->TO#<TOKEN><MSGID>Success: BODY`, any token and id: its
    /// length is the echo's.
    fn accepted_echo(to: &'a str, body: &'a [u8]) -> Self {
        Message::Reply(Reply {
            to,
            token: ANY_TOKEN,
            msg_id: ANY_MSG_ID,
            outcome: Outcome::Accepted(body),
        })
    }

    /// Appends the message as it goes on the wire to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        self.write(out);
    }

    /// The length of the datagram [`encode`](Self::encode) writes, counted
    /// by the same code without writing it.
    pub fn encoded_len(&self) -> usize {
        let mut length = Length(0);
        self.write(&mut length);
        length.0
    }

    fn write(&self, out: &mut impl Sink) {
        match *self {
            Message::Login(Login {
                from,
                password,
                reply_to,
            }) => {
                header(out, from, SERVER_ID);
                out.put(b"login<");
                out.put(password);
                out.put(b">");
                match reply_to {
                    ReplyTo::Source => {}
                    ReplyTo::SourceIpAt(port) => write_addr(out, "0.0.0.0", port),
                    ReplyTo::Addr(addr) => write_addr(out, &addr.ip().to_string(), addr.port()),
                }
            }
            Message::Logoff(Logoff { from, token }) => {
                header(out, from, SERVER_ID);
                out.put(b"logoff");
                angle(out, &token.0);
            }
            Message::Chat(Chat {
                from,
                to,
                token,
                msg_id,
                body,
            }) => {
                header(out, from, to);
                ids(out, token, msg_id);
                out.put(body);
            }
            Message::Receipt(Receipt {
                from,
                token,
                msg_id,
                body,
            }) => {
                header(out, from, SERVER_ID);
                ids(out, token, msg_id);
                out.put(body);
            }
            Message::Success(Success { to, token }) => {
                header(out, SERVER_ID, to);
                out.put(b"Success");
                angle(out, &token.0);
            }
            Message::PasswordMismatch(PasswordMismatch { to }) => {
                header(out, SERVER_ID, to);
                out.put(PASSWORD_MISMATCH);
            }
            Message::LogInAgain(LogInAgain { to }) => {
                header(out, SERVER_ID, to);
                out.put(LOG_IN_AGAIN);
            }
            Message::Reply(Reply {
                to,
                token,
                msg_id,
                outcome,
            }) => {
                header(out, SERVER_ID, to);
                ids(out, token, msg_id);
                match outcome {
                    Outcome::Accepted(body) => {
                        out.put(ACCEPTED_PREFIX);
                        out.put(body);
                    }
                    Outcome::TokenError => out.put(TOKEN_ERROR),
                    Outcome::DestinationOffline => out.put(DESTINATION_OFFLINE),
                    Outcome::LogInAgain => out.put(LOG_IN_AGAIN),
                    Outcome::OtherError(text) => out.put(text),
                }
            }
        }
    }

    /// The message as a fresh byte vector.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }
}

impl crate::outbox::Encode for Message<'_> {
    fn encode(&self, out: &mut Vec<u8>) {
        Message::encode(self, out);
    }
}

/// Where [`Message::write`] puts bytes: a buffer, or a count of them.
trait Sink {
    fn put(&mut self, bytes: &[u8]);
}

impl Sink for Vec<u8> {
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

/// Counts what would be written.
struct Length(usize);

impl Sink for Length {
    fn put(&mut self, bytes: &[u8]) {
        self.0 += bytes.len();
    }
}

fn header(out: &mut impl Sink, from: &str, to: &str) {
    out.put(from.as_bytes());
    out.put(b"->");
    out.put(to.as_bytes());
    out.put(b"#");
}

fn angle(out: &mut impl Sink, field: &[u8]) {
    out.put(b"<");
    out.put(field);
    out.put(b">");
}

fn ids(out: &mut impl Sink, token: SessionToken, msg_id: MsgId) {
    angle(out, &token.0);
    angle(out, &msg_id.0);
}

fn write_addr(out: &mut impl Sink, ip: &str, port: u16) {
    angle(out, ip.as_bytes());
    angle(out, port.to_string().as_bytes());
}

mod log_text;

pub use log_text::{show_datagram, LogText};

#[cfg(test)]
mod tests;
