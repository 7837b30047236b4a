//! What the client tells the person, one line each.
//!
//! The state machine queues these and the binary prints them; the wording
//! lives here, in `Display`, so that it is the same wherever it is shown and
//! tests can match it. Status lines start with `* `, which no client id
//! can, so that nobody can send a message that looks like one.

use std::fmt;
use std::net::SocketAddr;

use super::command::CommandError;

/// Something to show the person.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Notice {
    /// The server accepted the login.
    LoggedIn { id: String },
    /// `Error: password does not match!`; `still_as` names the session a
    /// refused repeat login leaves as it was.
    LoginRefused { still_as: Option<String> },
    /// `Success: BODY`: the server took the message (not: it was delivered).
    Accepted { to: String },
    /// `Error: destination offline!`
    DestinationOffline { to: String },
    /// Another hub's failure, in its words (`ERROR: Destination offline.`).
    NotDelivered { to: String, said: Vec<u8> },
    /// `Error: token error!`: the session is no longer ours.
    TokenError,
    /// `Error: please log in again!`: the server forgot the session.
    LogInAgain,
    /// The logoff went through (or the server had ended the session already).
    LoggedOff,
    /// A message forwarded to us, shown once however often it arrives.
    Received { from: String, body: Vec<u8> },
    /// No reply from the server at `server` after every resend.
    NotAnswering {
        server: SocketAddr,
        what: Unanswered,
    },
    /// The system says nothing listens at the server's address.
    NobodyListens { server: SocketAddr },
    /// A message kept until the next login.
    WaitsForLogin { to: String },
    /// A message given up on without sending it, and why.
    NotSent { to: String, why: NotSentWhy },
    /// A line that is not a command.
    Usage(CommandError),
    /// A login for another id typed while logged in.
    LogOffFirst { id: String },
    /// A line typed with another id than the logged-in one.
    WrongId { id: String },
    /// A logoff typed while logged off.
    NotLoggedIn,
    /// Ctrl-C: the client logs off before it quits.
    LoggingOff,
}

/// Why a typed message was never sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NotSentWhy {
    /// It waited for a login, and the login was for another id.
    TypedAs { from: String, logged_in: String },
    /// `max_waiting` messages already waited for a login.
    TooManyWaiting(usize),
    /// The program ended before a login went through.
    NoLogin,
    /// Ctrl-C: the lines still waiting are dropped.
    Quitting,
}

impl fmt::Display for NotSentWhy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotSentWhy::TypedAs { from, logged_in } => {
                write!(f, "typed as {from}, logged in as {logged_in}")
            }
            NotSentWhy::TooManyWaiting(count) => {
                write!(f, "{count} messages already wait for a login")
            }
            NotSentWhy::NoLogin => f.write_str("no login went through before quitting"),
            NotSentWhy::Quitting => f.write_str("Ctrl-C, quitting"),
        }
    }
}

/// The request the server did not answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Unanswered {
    Login,
    Message { to: String },
    Logoff,
}

impl fmt::Display for Notice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Notice::LoggedIn { id } => write!(f, "* logged in as {id}"),
            Notice::LoginRefused { still_as } => {
                f.write_str(
                    "* login refused: wrong id or password \
                     (after 5 wrong tries logins are slowed down: wait a minute)",
                )?;
                match still_as {
                    Some(id) => write!(f, "; still logged in as {id}"),
                    None => Ok(()),
                }
            }
            Notice::Accepted { to } => write!(f, "* message to {to} accepted by the server"),
            Notice::DestinationOffline { to } => {
                write!(f, "* {to} is offline or unknown: message not delivered")
            }
            Notice::NotDelivered { to, said } => write!(
                f,
                "* message to {to} not delivered: the server said \"{}\"",
                Printable(said)
            ),
            Notice::TokenError => f.write_str(
                "* token error: the server refused our token (logged in elsewhere?): please log in again",
            ),
            Notice::LogInAgain => f.write_str(
                "* the server ended our session (it restarted, we were idle too long, we logged in elsewhere, or our account was removed): please log in again",
            ),
            Notice::LoggedOff => f.write_str("* logged off"),
            Notice::Received { from, body } => write!(f, "{from}: {}", Printable(body)),
            Notice::NotAnswering { server, what } => {
                write!(f, "* the server at {server} is not answering: ")?;
                match what {
                    Unanswered::Login => f.write_str("login not confirmed"),
                    Unanswered::Message { to } => write!(
                        f,
                        "message to {to} not confirmed \
                         (or our session moved: logged in elsewhere?)"
                    ),
                    Unanswered::Logoff => f.write_str("logged off without its confirmation"),
                }
            }
            Notice::NobodyListens { server } => write!(
                f,
                "* nothing listens at {server} (connection refused): is the server running?"
            ),
            Notice::WaitsForLogin { to } => write!(
                f,
                "* not logged in: message to {to} will be sent after you log in"
            ),
            Notice::NotSent { to, why } => write!(f, "* message to {to} was not sent: {why}"),
            Notice::Usage(error) => write!(f, "* {error}"),
            Notice::LogOffFirst { id } => write!(
                f,
                "* logged in as {id}: log off first with {id}->server#logoff"
            ),
            Notice::WrongId { id } => {
                write!(f, "* you are logged in as {id}: start the line with {id}->")
            }
            Notice::NotLoggedIn => f.write_str("* not logged in"),
            Notice::LoggingOff => {
                f.write_str("* logging off before quitting (Ctrl-C again quits at once)")
            }
        }
    }
}

/// A message body as text a terminal shows as it is: invalid UTF-8 becomes
/// `U+FFFD`, and control characters (escape sequences, newlines) are written
/// as escapes, so a sender cannot move the cursor or fake a second line.
struct Printable<'a>(&'a [u8]);

impl fmt::Display for Printable<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in String::from_utf8_lossy(self.0).chars() {
            if c.is_control() && c != '\t' {
                write!(f, "{}", c.escape_default())?;
            } else {
                write!(f, "{c}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_received_message_is_one_safe_line() {
        let notice = Notice::Received {
            from: "bob".into(),
            body: b"hi\n* logged off\x1b[2J caf\xc3\xa9 \xff".to_vec(),
        };
        assert_eq!(
            notice.to_string(),
            "bob: hi\\n* logged off\\u{1b}[2J caf\u{e9} \u{fffd}"
        );
    }
}
