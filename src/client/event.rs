//! What the client reports for its log, as the hub does with its
//! `HubEvent`s: the client never calls the logger; the program on the
//! Reactor decides where its events go (`reactor-client` logs them under
//! the `client` target: transitions at trace level, the rest at debug).

use std::fmt;
use std::net::SocketAddr;

use super::ClientState;
use crate::wire::{MsgId, ParseError};

/// One thing worth a log line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientEvent {
    /// `ID: FROM => TO (cause)`, only with `ClientConfig::trace`.
    Transition {
        id: String,
        from: ClientState,
        to: ClientState,
        /// The cause, and the message in flight entered or left, if any.
        cause: String,
    },
    /// A datagram that changed nothing, and why.
    Ignored(Ignored),
    /// A message forwarded by the server was answered with its receipt,
    /// and shown unless it was a copy of one shown before; only with
    /// `ClientConfig::trace` (receiving changes no state, so no
    /// transition says it).
    Received {
        id: String,
        from: String,
        msg_id: MsgId,
        shown: bool,
    },
}

/// Why a datagram changed nothing: a late copy, a stranger, or a forgery.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ignored {
    NotFromTheServer(SocketAddr),
    Malformed(ParseError),
    NotForThisSession,
    /// The bare `please log in again`, with no logoff in flight.
    BareLogInAgain,
    WithoutOurToken,
}

impl fmt::Display for ClientEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientEvent::Transition {
                id,
                from,
                to,
                cause,
            } => write!(f, "{id}: {from} => {to} ({cause})"),
            ClientEvent::Ignored(why) => write!(f, "ignored {why}"),
            ClientEvent::Received {
                id,
                from,
                msg_id,
                shown: true,
            } => write!(f, "{id}: msg {msg_id} from {from} shown, receipt sent"),
            ClientEvent::Received {
                id, from, msg_id, ..
            } => write!(
                f,
                "{id}: msg {msg_id} from {from} again, shown before: receipt sent again"
            ),
        }
    }
}

impl fmt::Display for Ignored {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ignored::NotFromTheServer(source) => {
                write!(f, "a datagram from {source}: not the server")
            }
            Ignored::Malformed(error) => write!(f, "a malformed datagram: {error}"),
            Ignored::NotForThisSession => f.write_str("a datagram not for this session"),
            Ignored::BareLogInAgain => {
                f.write_str("a bare 'please log in again': no logoff in flight")
            }
            Ignored::WithoutOurToken => f.write_str("a message without our token"),
        }
    }
}
