//! The Reactor: one thread waits for readiness and for the next deadline,
//! and hands each to a handler.
//!
//! This is the classic `select()` loop (docs/reactor.md sets the C sketch
//! beside it), made reusable:
//!
//! ```text
//! loop {
//!     timeout = handler.next_deadline() - now      // "the nearest timer"
//!     backlog = handler.has_backlog()              // work no event announces
//!     if backlog          { timeout = 0 }
//!     events  = poll(timeout)                      // select() / epoll_wait()
//!     for event in events { handler.on_ready(event) }
//!     if deadline <= now  { handler.on_deadline(now) }
//!     if backlog          { handler.on_backlog(now) }
//! }
//! ```
//!
//! A program is a type that implements [`ReadyHandler`] (what to do when a
//! registered source is readable or writable) and [`TimerHandler`] (when it
//! next needs to run, and what to do then). The handlers call into the pure
//! state machines with `now` and push their output to the sockets. This
//! module and its children hold the system calls; they know no message
//! format (how big a datagram may be, and how a trace shows one, are the
//! program's to say), so any program on UDP, stdin and signals can use them.
//!
//! mio's readiness is edge-triggered: an event says a source *became* ready,
//! once. A handler must read until `WouldBlock`, or it waits forever for an
//! event that will not come again (see [`udp::UdpEndpoint::drain`]).
//!
//! The `--trace` lines of a turn are types of their own, public with their
//! fields ([`Wait`], [`Woke`], [`Due`], and a datagram's
//! [`udp::DatagramLine`]): whatever traces a loop without running this one
//! (the simulated hub's recording, `tests/simulation.rs`) writes the same
//! lines.
//!
//! # Which errors end a program
//!
//! [`Reactor::run`] returns the first `Err` a handler returns, and the
//! binary exits 1 with it. So every `?` on these paths is a decision that
//! the error says the program cannot go on, never that one peer did
//! something odd. What a peer can cause is handled where it happens:
//!
//! | error | where | ends the program? |
//! | --- | --- | --- |
//! | any send error but `WouldBlock`/`Interrupted` (`EAFNOSUPPORT`, `ENETUNREACH`, `EACCES`, `ENOBUFS`, ...) | [`udp::UdpEndpoint::send_all`], `send_to`, `on_writable` | no: that datagram is lost, counted and logged at debug level |
//! | `WouldBlock` on send | the same | no: queued until writable, bounded by [`udp::SEND_QUEUE_LIMIT`] |
//! | an ICMP error surfacing on receive (`ECONNREFUSED`, unreachable, ...) | [`udp::UdpEndpoint::recv_batch`], `recv`, `drain` | no: skipped, it concerns an earlier datagram |
//! | any other receive error (`EBADF`, `ENOTSOCK`, `EFAULT`, `EINVAL`, `EACCES`) | the same | yes: it would come back on every call, so skipping it would spin |
//! | `epoll_ctl` failing to (re)register a source (`ENOMEM`, `ENOSPC`) | `reregister` in `udp`, `stdin` | yes: without it the loop would wait for an event that never comes |
//! | `epoll_wait` failing, but for `EINTR` | [`Reactor::run`] | yes: there is nothing else to wait on |
//! | setting up a source (`bind`, `Poll::new`, signals) | the programs' constructors | yes, at start: one line naming the cause |
//! | stdin read error, or stdout write error (`EPIPE`: nobody reads us) | the client's [`terminal`](crate::terminal) | yes: the person's side of the program is gone |
//!
//! A datagram's *content* never reaches a `?`: the state machines take
//! any bytes and return no errors.

pub mod hangup;
pub mod mmsg;
pub mod on_thread;
pub mod shutdown;
pub mod stdin;
pub mod udp;

use std::fmt;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use mio::event::Event;
use mio::{Events, Poll, Registry, Token};

/// Reacts to a registered source becoming ready.
pub trait ReadyHandler {
    /// `event` names the source by its `mio::Token` and says whether it is
    /// readable or writable. `now` was read once, after the poll returned.
    fn on_ready(&mut self, event: &Event, now: Instant) -> io::Result<()>;

    /// What the source registered under `token` is, in a word or two, for
    /// `--trace` (only called when tracing is on).
    fn source_name(&self, _token: Token) -> &'static str {
        "source"
    }
}

/// Reacts to the passage of time.
pub trait TimerHandler {
    /// The earliest moment the handler needs to run even if no I/O happens.
    fn next_deadline(&self) -> Option<Instant>;

    /// Called once the deadline has passed; fire everything due at `now`.
    fn on_deadline(&mut self, now: Instant) -> io::Result<()>;

    /// What the deadline of [`next_deadline`](Self::next_deadline) is for,
    /// for `--trace` (only called when tracing is on, so it may allocate).
    fn describe_deadline(&self) -> String {
        "deadline".into()
    }

    /// Each timer due at `now`, with its deadline and what it is for, for
    /// `--trace`: one line each, as [`on_deadline`](Self::on_deadline) fires
    /// them all. By default the one [`next_deadline`](Self::next_deadline)
    /// gives.
    fn describe_due(&self, now: Instant) -> Vec<(Instant, String)> {
        self.next_deadline()
            .filter(|&at| at <= now)
            .map(|at| (at, self.describe_deadline()))
            .into_iter()
            .collect()
    }
}

/// A whole program driven by the Reactor.
pub trait Handler: ReadyHandler + TimerHandler {
    /// Whether the loop should end (after logoff, on Ctrl-C, ...).
    fn is_finished(&self) -> bool;

    /// Whether the handler left work that no event will announce: readiness
    /// is edge-triggered, so a socket it stopped draining (to give timers
    /// and signals their turn) or input it could not take yet gets no new
    /// event. While this holds, the Reactor polls without waiting, and calls
    /// [`on_backlog`](Self::on_backlog) after the events and timers of the turn.
    fn has_backlog(&self) -> bool {
        false
    }

    /// Goes on with the work [`has_backlog`](Self::has_backlog) reported.
    fn on_backlog(&mut self, _now: Instant) -> io::Result<()> {
        Ok(())
    }

    /// Called once a turn's work is done and its wait decided, just before
    /// the poll: the Scope sends the turn's events to its pages here, so
    /// that even the line of the wait under way is on the page while the
    /// loop waits. It must not change what the wait is for.
    fn before_wait(&mut self) {}
}

/// Turns of the loop so far, in this process: the trace's records say
/// which turn each event belongs to (`--record`).
static TURN: AtomicU64 = AtomicU64::new(0);

/// The loop's current turn (0 before the first poll).
pub fn turn() -> u64 {
    TURN.load(Ordering::Relaxed)
}

/// Capacity of the event buffer one poll can fill.
const EVENT_CAPACITY: usize = 256;

/// The event loop over one `mio::Poll`.
pub struct Reactor {
    poll: Poll,
    events: Events,
}

impl Reactor {
    pub fn new() -> io::Result<Self> {
        Ok(Self {
            poll: Poll::new()?,
            events: Events::with_capacity(EVENT_CAPACITY),
        })
    }

    /// Where sources are registered.
    pub fn registry(&self) -> &Registry {
        self.poll.registry()
    }

    /// Runs `handler` until it is finished.
    pub fn run(&mut self, handler: &mut impl Handler) -> io::Result<()> {
        while !handler.is_finished() {
            let turn = TURN.fetch_add(1, Ordering::Relaxed) + 1;
            // The Scope records a turn whole or not at all: it says which.
            crate::logging::begin_turn(turn);
            // Only a backlog that a poll has gone by since: between any two
            // pieces of it, other sources and timers get their turn.
            let backlog = handler.has_backlog();
            let timeout = self.timeout(handler);
            handler.before_wait();
            // The clock is read before the wait only for the trace's line.
            let tracing = log::log_enabled!(target: "reactor", log::Level::Trace);
            let waiting_since = tracing.then(Instant::now);
            let polled = self.poll.poll(&mut self.events, timeout);
            let now = Instant::now();
            if let Some(since) = waiting_since {
                let woke = Woke {
                    waited: now - since,
                    events: polled.as_ref().ok().map(|()| self.events.iter().count()),
                    timeout,
                };
                log::trace!(target: "reactor", "{woke}");
            }
            if let Err(err) = polled {
                // A signal arrived during the wait: just wait again.
                if err.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(err);
            }
            for event in self.events.iter() {
                log::trace!(
                    target: "reactor",
                    "event: {} ({:?}){}{}{}",
                    handler.source_name(event.token()),
                    event.token(),
                    if event.is_readable() { " readable" } else { "" },
                    if event.is_writable() { " writable" } else { "" },
                    if event.is_read_closed() { " closed" } else { "" },
                );
                handler.on_ready(event, now)?;
            }
            // Wakeups can come early or be spurious: fire only what is due,
            // and ask the handler again next time round.
            if handler.next_deadline().is_some_and(|at| at <= now) {
                if log::log_enabled!(target: "reactor", log::Level::Trace) {
                    for (at, what) in handler.describe_due(now) {
                        let due = Due {
                            ago: now - at,
                            what: &what,
                        };
                        log::trace!(target: "reactor", "{due}");
                    }
                }
                handler.on_deadline(now)?;
            }
            if backlog && handler.has_backlog() {
                log::trace!(target: "reactor", "backlog: back to the work left");
                handler.on_backlog(now)?;
            }
        }
        Ok(())
    }

    /// How long the next poll may wait: not at all while the handler has a
    /// backlog, else until its next deadline, or for ever without one.
    fn timeout(&self, handler: &impl Handler) -> Option<Duration> {
        if handler.has_backlog() {
            log::trace!(target: "reactor", "{}", Wait::Backlog);
            return Some(Duration::ZERO);
        }
        let Some(deadline) = handler.next_deadline() else {
            log::trace!(target: "reactor", "{}", Wait::Forever);
            return None;
        };
        let timeout = round_up_to_millis(deadline.saturating_duration_since(Instant::now()));
        log::trace!(target: "reactor", "{}", Wait::AtMost {
            timeout,
            what: handler.describe_deadline(),
        });
        Some(timeout)
    }
}

/// What a wait is for, on the trace's line before it:
/// `wait: at most 1000 ms, for bob: resend msg 7 from alice (...)`.
pub enum Wait {
    /// Work is left from the last turn: the poll does not wait.
    Backlog,
    /// No deadline: the poll waits for an event.
    Forever,
    /// The poll waits for an event, at most `timeout` (the time to the
    /// deadline, [`round_up_to_millis`]), for the deadline `what` is for
    /// ([`TimerHandler::describe_deadline`]).
    AtMost { timeout: Duration, what: String },
}

impl fmt::Display for Wait {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Wait::Backlog => f.write_str("wait: none, work is left from the last turn"),
            Wait::Forever => f.write_str("wait: no deadline, until an event"),
            Wait::AtMost { timeout, what } => {
                write!(f, "wait: at most {} ms, for {what}", timeout.as_millis())
            }
        }
    }
}

/// What a wait came to, for the trace: `woke after 37.2 ms with 2 events`.
/// Beside the `wait:` line before it, it shows how long the wait really
/// lasted, and whether an event or the deadline ended it.
pub struct Woke {
    pub waited: Duration,
    /// How many events the poll returned; `None`: a signal interrupted it.
    pub events: Option<usize>,
    /// How long the poll was allowed to wait; `None`: until an event.
    pub timeout: Option<Duration>,
}

impl fmt::Display for Woke {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let millis = self.waited.as_secs_f64() * 1e3;
        write!(f, "woke after {millis:.1} ms")?;
        match (self.events, self.timeout) {
            (None, _) => f.write_str(": a signal interrupted the wait, waiting again"),
            (Some(0), Some(_)) => f.write_str(": timed out, no event"),
            (Some(1), _) => f.write_str(" with 1 event"),
            (Some(count), _) => write!(f, " with {count} events"),
        }
    }
}

/// A timer that fires, on the trace's line: `timer, due 1.4ms ago: bob:
/// resend msg 7 from alice (...)`, one for each deadline due
/// ([`TimerHandler::describe_due`]).
pub struct Due<'a> {
    /// How late the loop came to it.
    pub ago: Duration,
    pub what: &'a str,
}

impl fmt::Display for Due<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "timer, due {:.1?} ago: {}", self.ago, self.what)
    }
}

/// epoll counts in milliseconds; rounding down would wake the loop just
/// before the deadline and make it spin until the deadline passes.
pub fn round_up_to_millis(wait: Duration) -> Duration {
    let millis = wait.as_nanos().div_ceil(1_000_000);
    Duration::from_millis(millis.try_into().unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests;
