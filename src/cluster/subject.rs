//! The subjects the nodes use, and what a message's subject says it is:
//! a node reads the subject first, then the payload the subject calls for.
//!
//! | subject | held by | payload |
//! | --- | --- | --- |
//! | `hub.user.ID` | the node where ID is online | asks for ID ([`super::asks`]); reply: the asker's inbox |
//! | `hub.login.ID` | that node, and a node that remembers ID's ended login | a [`Record`](super::payload::Record) of a login of ID; reply: the announcer's `logins` |
//! | `hub.node.NODE.asks` | node NODE | asks for NODE's users, from nodes that know they are there |
//! | `hub.node.NODE.verdicts` | node NODE | verdicts on NODE's asks |
//! | `hub.node.NODE.logins` | node NODE | records that answer NODE's announcements |
//! | `hub.node.NODE.N` | node NODE | the broker's "no responders" to the batch of asks whose first is N |

/// What a message on one of our subjects is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Inbound<'a> {
    /// Asks for the user `id`, sent to the user's subject.
    AsksForUser(&'a str),
    /// Asks for users of this node, sent to its `asks` subject.
    AsksForNode,
    /// Verdicts on this node's asks.
    Verdicts,
    /// A login of some user, announced on the user's `login` subject.
    Announcement,
    /// A record that answers one of this node's announcements.
    LoginAnswer,
    /// The inbox of the batch of asks whose first is numbered so.
    Inbox(u64),
}

const USER: &str = "hub.user.";
const LOGIN: &str = "hub.login.";
const NODE: &str = "hub.node.";

impl<'a> Inbound<'a> {
    /// What `subject` is for node `me`; `None` if no node of ours sends there.
    pub fn of(subject: &'a str, me: u64) -> Option<Self> {
        if let Some(user) = subject.strip_prefix(USER) {
            return Some(Inbound::AsksForUser(user));
        }
        if subject.starts_with(LOGIN) {
            return Some(Inbound::Announcement);
        }
        let (node, what) = subject.strip_prefix(NODE)?.split_once('.')?;
        if u64::from_str_radix(node, 16).ok()? != me {
            return None;
        }
        match what {
            "asks" => Some(Inbound::AsksForNode),
            "verdicts" => Some(Inbound::Verdicts),
            "logins" => Some(Inbound::LoginAnswer),
            number => Some(Inbound::Inbox(number.parse().ok()?)),
        }
    }
}

/// An id in a subject: an id may hold `.`, which separates a subject's
/// tokens; `~` is no id character, so it takes the dot's place without
/// making two ids one.
fn token(id: &str) -> String {
    id.replace('.', "~")
}

/// Where asks for the user `id` go while its node is not known.
pub fn user(id: &str) -> String {
    format!("{USER}{}", token(id))
}

/// Whether `subject` is [`user`]`(id)`, without writing it.
pub fn is_user(subject: &str, id: &str) -> bool {
    subject.strip_prefix(USER).is_some_and(|rest| {
        rest.len() == id.len()
            && rest
                .bytes()
                .eq(id.bytes().map(|b| if b == b'.' { b'~' } else { b }))
    })
}

/// Where logins of `id` are announced.
pub fn login(id: &str) -> String {
    format!("{LOGIN}{}", token(id))
}

/// Every subject of node `node`: the one subscription that brings it its
/// asks, verdicts, login answers and "no responders".
pub fn node_wildcard(node: u64) -> String {
    format!("{NODE}{node:016x}.>")
}

/// Where other nodes send asks for `node`'s users.
pub fn node_asks(node: u64) -> String {
    format!("{NODE}{node:016x}.asks")
}

/// Where other nodes send their verdicts on `node`'s asks.
pub fn node_verdicts(node: u64) -> String {
    format!("{NODE}{node:016x}.verdicts")
}

/// Where a node that knows a later login answers `node`'s announcement.
pub fn node_logins(node: u64) -> String {
    format!("{NODE}{node:016x}.logins")
}

/// The reply subject of `node`'s batch of asks whose first is `first`.
pub fn inbox(node: u64, first: u64) -> String {
    format!("{NODE}{node:016x}.{first}")
}

/// The node and batch of an inbox, from the reply subject of asks.
pub fn parse_inbox(subject: &str) -> Option<(u64, u64)> {
    let (node, first) = subject.strip_prefix(NODE)?.split_once('.')?;
    Some((u64::from_str_radix(node, 16).ok()?, first.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use proptest::prelude::*;

    use super::*;

    #[test]
    fn each_subject_is_read_as_what_it_is() {
        let me = 0xa1;
        assert_eq!(
            Inbound::of(&user("a.b"), me),
            Some(Inbound::AsksForUser("a~b"))
        );
        assert_ne!(user("a.b"), user("a_b"));
        assert!(is_user(&user("a.b"), "a.b"));
        assert!(!is_user(&user("a.b"), "a_b"));
        assert!(!is_user(&user("ab"), "a"));
        assert!(!is_user(&login("ab"), "ab"));
        assert_eq!(Inbound::of(&login("bob"), me), Some(Inbound::Announcement));
        assert_eq!(Inbound::of(&node_asks(me), me), Some(Inbound::AsksForNode));
        assert_eq!(Inbound::of(&node_verdicts(me), me), Some(Inbound::Verdicts));
        assert_eq!(
            Inbound::of(&node_logins(me), me),
            Some(Inbound::LoginAnswer)
        );
        assert_eq!(Inbound::of(&inbox(me, 42), me), Some(Inbound::Inbox(42)));
        assert_eq!(parse_inbox(&inbox(me, 42)), Some((me, 42)));
        // Another node's, or nobody's.
        assert_eq!(Inbound::of(&node_asks(0xb2), me), None);
        assert_eq!(Inbound::of("hub.node.00000000000000a1.what", me), None);
        assert_eq!(Inbound::of("news.today", me), None);
        assert_eq!(parse_inbox(&node_verdicts(me)), None);
        assert!(node_wildcard(me).starts_with("hub.node.00000000000000a1."));
    }

    proptest! {
        /// Every id makes subjects the broker takes: no empty token, no
        /// wildcard, no space.
        #[test]
        fn every_id_makes_a_valid_subject(id in "[A-Za-z0-9_.-]{1,32}") {
            for subject in [user(&id), login(&id)] {
                prop_assert!(watermelon_proto::Subject::from_str(&subject).is_ok(), "{}", subject);
                prop_assert!(!subject.contains(['*', '>']));
            }
        }
    }
}
