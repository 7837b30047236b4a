//! What the hub has done since it started, counted: the totals its metrics
//! export (`reactor-server --metrics`). Plain integers bumped on the paths
//! they count, so counting costs the message path next to nothing.

use super::event::DropReason;
use super::session::Answer;

/// How a login ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoginResult {
    /// A new session (a first login, or one replacing a session).
    Ok,
    /// Wrong password or unknown id.
    Refused,
    /// Refused unchecked: too many failures.
    Throttled,
    /// The same session asked again (a resent login).
    Repeat,
}

/// How the hub answered a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageResult {
    Forwarded,
    Offline,
    TokenError,
    LogInAgain,
    /// A resend of a message already answered: answered again, not forwarded.
    Resend,
    /// To another node's user, and whether that node took it could not be
    /// learned (the broker link dropped its verdict): not answered.
    Unconfirmed,
}

impl LoginResult {
    pub const ALL: [LoginResult; 4] = [
        LoginResult::Ok,
        LoginResult::Refused,
        LoginResult::Throttled,
        LoginResult::Repeat,
    ];

    /// The label value of the metric.
    pub fn label(self) -> &'static str {
        match self {
            LoginResult::Ok => "ok",
            LoginResult::Refused => "refused",
            LoginResult::Throttled => "throttled",
            LoginResult::Repeat => "repeat",
        }
    }
}

impl MessageResult {
    pub const ALL: [MessageResult; 6] = [
        MessageResult::Forwarded,
        MessageResult::Offline,
        MessageResult::TokenError,
        MessageResult::LogInAgain,
        MessageResult::Resend,
        MessageResult::Unconfirmed,
    ];

    /// The label value of the metric.
    pub fn label(self) -> &'static str {
        match self {
            MessageResult::Forwarded => "forwarded",
            MessageResult::Offline => "offline",
            MessageResult::TokenError => "token_error",
            MessageResult::LogInAgain => "log_in_again",
            MessageResult::Resend => "resend",
            MessageResult::Unconfirmed => "unconfirmed",
        }
    }
}

/// The hub's totals; they only ever grow.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HubCounters {
    logins: [u64; LoginResult::ALL.len()],
    messages: [u64; MessageResult::ALL.len()],
    pub forwards_resent: u64,
    pub forwards_given_up: u64,
    dropped: [u64; DropReason::LABELS.len()],
}

impl HubCounters {
    pub fn login(&mut self, result: LoginResult) {
        self.logins[result as usize] += 1;
    }

    pub fn message(&mut self, result: MessageResult) {
        self.messages[result as usize] += 1;
    }

    pub fn dropped(&mut self, reason: &DropReason) {
        self.dropped[reason.index()] += 1;
    }

    pub fn logins(&self, result: LoginResult) -> u64 {
        self.logins[result as usize]
    }

    pub fn messages(&self, result: MessageResult) -> u64 {
        self.messages[result as usize]
    }

    /// Datagrams dropped, by the label of their reason.
    pub fn drops(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        DropReason::LABELS.iter().copied().zip(self.dropped)
    }
}

impl Answer {
    /// How the answer is counted; a message still asking is not, yet.
    pub(super) fn result(self) -> Option<MessageResult> {
        match self {
            Answer::Accepted => Some(MessageResult::Forwarded),
            Answer::DestinationOffline => Some(MessageResult::Offline),
            Answer::Unconfirmed => Some(MessageResult::Unconfirmed),
            Answer::Asking => None,
        }
    }
}
