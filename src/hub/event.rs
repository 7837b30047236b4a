//! What the hub reports for the log: it never prints, it queues these and the
//! binary decides what to show.

use std::fmt;
use std::net::SocketAddr;

use super::SessionState;
use crate::cluster::Note;
use crate::wire::{MsgId, ParseError};

/// Something worth a line in the server's log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HubEvent {
    LoggedIn {
        id: String,
        addr: SocketAddr,
        /// The id was online already, elsewhere: its old token stopped working.
        replaced: bool,
    },
    LoginRefused {
        id: String,
        from: SocketAddr,
    },
    /// A login refused unchecked: too many failures for the id or the address.
    LoginThrottled {
        id: String,
        from: SocketAddr,
    },
    LoggedOff {
        id: String,
    },
    Expired {
        id: String,
    },
    /// A reload removed the account of `id` while it was logged in: its
    /// session ended.
    AccountRemoved {
        id: String,
    },
    /// A forward that will not be resent any more.
    GaveUp {
        from: String,
        to: String,
        msg_id: MsgId,
        why: &'static str,
    },
    /// Datagrams claimed the session of `id` with a wrong token: reported
    /// at the 1st, 10th, 100th, ... so that guessing is seen, never a flood.
    WrongTokens {
        id: String,
        count: u64,
        last_from: SocketAddr,
    },
    /// A datagram that changed nothing and got no answer.
    Dropped {
        source: SocketAddr,
        reason: DropReason,
    },
    /// What the node's part of a cluster did (its link, its requests, its
    /// records of logins); steps only with [`HubConfig::trace`](super::HubConfig).
    Cluster(Note),
    /// The session of `id` ended here: a later login at another node
    /// replaced it (`online_there`), or that login ended too.
    MovedAway {
        id: String,
        online_there: bool,
    },
    /// A session changed state (only with [`HubConfig::trace`](super::HubConfig)).
    Transition {
        id: String,
        from: SessionState,
        to: SessionState,
        cause: String,
    },
    /// The hub sent a datagram that changed no session's state, and why
    /// (only with [`HubConfig::trace`](super::HubConfig)): with the
    /// transitions, every datagram the hub sends has a line that explains it.
    Unchanged {
        id: String,
        /// The session's state, which stays; `None`: `id` has no account.
        state: Option<SessionState>,
        why: NoChange,
    },
}

/// Why the hub sent a datagram that changed no state, and what it said.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NoChange {
    /// A message or logoff from an id with no session: `please log in again!`.
    NoSession,
    /// A login with no account behind it: refused as a wrong password is.
    NoAccount,
    /// A login refused unchecked: too many failures for the id or address.
    Throttled,
    /// A message with a token that is not the session's: `token error!`.
    WrongToken,
    /// A logoff resent with the token it ended (its reply was lost).
    LogoffResent,
    /// A message resent: the same answer as the first time, not forwarded again.
    Resent(MsgId),
    /// A message to an id offline or unknown: `destination offline!`.
    DestinationOffline(MsgId),
    /// A forward to a session that already awaits receipts for others.
    AnotherForward { msg_id: MsgId, from: String },
}

/// Why a datagram was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropReason {
    Malformed(ParseError),
    /// A reply only the server sends.
    ServerMessage,
    /// A receipt from a client without a session.
    NotLoggedIn,
    /// A logoff or receipt whose token is not the session's.
    TokenMismatch,
    /// A datagram carrying a token, from an address that sent too many
    /// wrong ones this second: dropped unchecked.
    TokenGuessing,
    /// A login naming a reply address the hub's socket cannot send to (an
    /// IPv6 address to an IPv4 socket): refused like a malformed login.
    UnreachableReplyAddress,
}

impl DropReason {
    /// The label value of each reason in the metrics, in [`index`](Self::index) order.
    pub const LABELS: [&'static str; 7] = [
        "malformed",
        "too_long",
        "server_message",
        "not_logged_in",
        "token_mismatch",
        "token_guessing",
        "unreachable_reply_address",
    ];

    /// Where the reason's label is in [`LABELS`](Self::LABELS).
    pub fn index(&self) -> usize {
        match self {
            DropReason::Malformed(ParseError::TooLong(_)) => 1,
            DropReason::Malformed(_) => 0,
            DropReason::ServerMessage => 2,
            DropReason::NotLoggedIn => 3,
            DropReason::TokenMismatch => 4,
            DropReason::TokenGuessing => 5,
            DropReason::UnreachableReplyAddress => 6,
        }
    }
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DropReason::Malformed(error) => write!(f, "malformed: {error}"),
            DropReason::ServerMessage => f.write_str("a message only the server sends"),
            DropReason::NotLoggedIn => f.write_str("receipt from a client not logged in"),
            DropReason::TokenMismatch => f.write_str("token does not match the session"),
            DropReason::TokenGuessing => {
                f.write_str("too many wrong tokens from this address: not checked")
            }
            DropReason::UnreachableReplyAddress => {
                f.write_str("login names a reply address this socket cannot reach")
            }
        }
    }
}

impl fmt::Display for HubEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HubEvent::LoggedIn { id, addr, replaced } => {
                write!(f, "{id} logged in, replies to {addr}")?;
                if *replaced {
                    f.write_str(" (replacing its earlier session)")?;
                }
                Ok(())
            }
            HubEvent::LoginRefused { id, from } => write!(f, "login refused for {id} from {from}"),
            HubEvent::LoginThrottled { id, from } => {
                write!(
                    f,
                    "login refused for {id} from {from}: too many failures, slowed down"
                )
            }
            HubEvent::LoggedOff { id } => write!(f, "{id} logged off"),
            HubEvent::Expired { id } => write!(f, "{id} expired after inactivity"),
            HubEvent::AccountRemoved { id } => {
                write!(f, "{id}'s account was removed: its session ended")
            }
            HubEvent::GaveUp {
                from,
                to,
                msg_id,
                why,
            } => write!(f, "gave up on msg {msg_id} from {from} to {to}: {why}"),
            HubEvent::WrongTokens {
                id,
                count,
                last_from,
            } => write!(
                f,
                "{count} datagrams for {id}'s session with a wrong token so far, \
                 the last from {last_from}: someone may be guessing it"
            ),
            HubEvent::Dropped { source, reason } => {
                write!(f, "dropped datagram from {source}: {reason}")
            }
            HubEvent::Cluster(note) => write!(f, "{note}"),
            HubEvent::MovedAway { id, online_there } => {
                if *online_there {
                    write!(f, "{id} logged in at another node: its session here ended")
                } else {
                    write!(
                        f,
                        "{id} logged in at another node and that login ended: its session here ended"
                    )
                }
            }
            HubEvent::Transition {
                id,
                from,
                to,
                cause,
            } => write!(f, "{id}: {from} => {to} ({cause})"),
            HubEvent::Unchanged {
                id,
                state: Some(state),
                why,
            } => write!(f, "{id}: stays {state} ({})", Said(id, why)),
            HubEvent::Unchanged {
                id,
                state: None,
                why: NoChange::NoSession,
            } => write!(f, "{id}: no such account (answered log in again)"),
            HubEvent::Unchanged {
                id,
                state: None,
                why,
            } => write!(f, "{id}: no such account ({})", Said(id, why)),
        }
    }
}

/// A [`NoChange`] in words, for the session of the id it names.
struct Said<'a>(&'a str, &'a NoChange);

impl fmt::Display for Said<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Said(id, why) = self;
        match why {
            NoChange::NoSession => write!(f, "no session for {id}: answered log in again"),
            NoChange::NoAccount => f.write_str("login refused as a wrong password is"),
            NoChange::Throttled => {
                f.write_str("too many failed logins: refused, the password unchecked")
            }
            NoChange::WrongToken => write!(f, "not {id}'s token: answered token error"),
            NoChange::LogoffResent => {
                f.write_str("logoff resent, its reply was lost: answered success again")
            }
            NoChange::Resent(msg_id) => {
                write!(
                    f,
                    "msg {msg_id} resent: the same answer, not forwarded again"
                )
            }
            NoChange::DestinationOffline(msg_id) => {
                write!(f, "msg {msg_id}: its destination is offline or unknown")
            }
            NoChange::AnotherForward { msg_id, from } => {
                write!(
                    f,
                    "msg {msg_id} from {from}, awaiting its receipt with the others"
                )
            }
        }
    }
}
