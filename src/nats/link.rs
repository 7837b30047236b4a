//! The link a node keeps to its NATS broker, as a sans-IO state machine:
//! bytes from the broker and `now` in; bytes to write, events and the next
//! deadline out. No socket, no clock (the edge is [`super::BrokerLink`]).
//!
//! The wire is NATS Core's text protocol, parsed and written by
//! `watermelon-proto`, a maintained sans-IO codec (its stream decoder and
//! encoder). The link adds what a long-lived client needs:
//! - the handshake: the broker's `INFO` first, within
//!   [`LinkConfig::handshake_timeout`], then our `CONNECT` (with
//!   `headers` and `no_responders`, so that a request to a subject nobody
//!   holds is answered at once), every subscription again, and a `PING`
//!   whose `PONG` says the link is up;
//! - keep-alive: a `PING` every [`LinkConfig::ping_interval`]; a broker
//!   that leaves [`LinkConfig::max_pings_out`] unanswered is lost;
//! - reconnection with a doubling, capped, jittered backoff;
//! - bounds: nothing is published while the link is down, nothing larger
//!   than the broker's `max_payload`, and nothing once
//!   [`LinkConfig::max_buffered`] bytes wait to be written.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::str::FromStr;
use std::time::{Duration, Instant};

use bytes::{Buf, BufMut, Bytes};
use rand::{Rng, RngCore};
use watermelon_proto::headers::HeaderMap;
use watermelon_proto::proto::{ClientOp, ServerOp, StreamDecoder, StreamEncoder};
use watermelon_proto::{Connect, MessageBase, NonStandardConnect, StatusCode, Subject};

/// How the link behaves; the defaults suit a broker on the same network.
#[derive(Clone, Copy, Debug)]
pub struct LinkConfig {
    /// How long the broker has to send its `INFO` once the edge connects:
    /// a TCP connect that never completes counts against it too.
    pub handshake_timeout: Duration,
    pub ping_interval: Duration,
    /// Unanswered `PING`s after which the broker is taken for lost.
    pub max_pings_out: u32,
    /// The first wait before reconnecting; doubles after each failure.
    pub reconnect_after: Duration,
    pub max_reconnect_after: Duration,
    /// Bytes that may wait to be written; past it, publishing fails.
    pub max_buffered: usize,
}

impl Default for LinkConfig {
    fn default() -> Self {
        Self {
            // As NATS clients wait.
            handshake_timeout: Duration::from_secs(2),
            ping_interval: Duration::from_secs(1),
            max_pings_out: 2,
            reconnect_after: Duration::from_millis(100),
            max_reconnect_after: Duration::from_secs(2),
            max_buffered: 1 << 20,
        }
    }
}

/// What the link reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LinkEvent {
    /// The handshake is done: publishing works, subscriptions hold.
    Up,
    /// A message on a subscribed subject, delivered under subscription
    /// `subscription` (a subject subscribed again gets a new one).
    Message {
        subject: String,
        subscription: u64,
        reply: Option<String>,
        payload: Bytes,
    },
    /// The broker answered a request to a subject nobody holds.
    NoResponders { subject: String },
    /// The broker has read everything written before
    /// [`confirm`](Link::confirm) returned this number.
    Confirmed(u64),
    /// The connection is gone; the link reconnects by itself.
    Down { why: String },
    /// Connecting failed, `attempts` times since the link was last up (or
    /// created), over `lasted`: reported at the first failure, then at
    /// most once every `REPORT_UNREACHABLE_EVERY` (30 s) while it lasts.
    Unreachable {
        why: String,
        attempts: u32,
        lasted: Duration,
    },
}

/// How often a broker that cannot be reached is reported again.
pub const REPORT_UNREACHABLE_EVERY: Duration = Duration::from_secs(30);

/// Why a publish or a subscription was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkError {
    NotUp,
    TooLarge,
    /// [`LinkConfig::max_buffered`] bytes already wait.
    Full,
    BadSubject,
}

impl fmt::Display for LinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LinkError::NotUp => "the broker link is down",
            LinkError::TooLarge => "larger than the broker's max_payload",
            LinkError::Full => "too much waits to be written to the broker",
            LinkError::BadSubject => "not a NATS subject",
        })
    }
}

enum State {
    /// No connection; the edge opens one at `retry_at`.
    Down { retry_at: Instant },
    /// Connected, waiting for the broker's `INFO` until `deadline`.
    Handshake { deadline: Instant },
    /// `CONNECT` sent; `announced` once the first `PONG` came back.
    Up {
        pings_out: u32,
        next_ping: Instant,
        announced: bool,
    },
}

/// The link's state machine.
pub struct Link {
    config: LinkConfig,
    state: State,
    decoder: StreamDecoder,
    encoder: StreamEncoder,
    /// Every subscription with its id, sent again at each handshake.
    subscriptions: HashMap<String, (u64, Subject)>,
    /// The id the next subscription gets.
    next_subscription: u64,
    /// Connections that failed since the link was last up.
    failures: u32,
    /// Since when connecting fails, and when that was last reported.
    unreachable: Option<(Instant, Instant)>,
    max_payload: usize,
    /// What each `PING` on the wire is for, oldest first: the broker
    /// answers them in order. `Some(n)` is [`confirm`](Self::confirm)'s.
    pings: VecDeque<Option<u64>>,
    next_confirmation: u64,
    events: VecDeque<LinkEvent>,
    rng: Box<dyn RngCore + Send>,
}

impl Link {
    /// A link that wants a connection at once.
    pub fn new(config: LinkConfig, now: Instant, rng: Box<dyn RngCore + Send>) -> Self {
        Self {
            config,
            state: State::Down { retry_at: now },
            decoder: StreamDecoder::new(),
            encoder: StreamEncoder::new(),
            subscriptions: HashMap::new(),
            next_subscription: 1,
            failures: 0,
            unreachable: None,
            max_payload: 0,
            pings: VecDeque::new(),
            next_confirmation: 0,
            events: VecDeque::new(),
            rng,
        }
    }

    /// Whether the edge should open a connection now.
    pub fn wants_connection(&self, now: Instant) -> bool {
        matches!(self.state, State::Down { retry_at } if retry_at <= now)
    }

    /// Whether the edge should have no connection (close the one it has).
    pub fn is_down(&self) -> bool {
        matches!(self.state, State::Down { .. })
    }

    /// Whether publishing works.
    pub fn is_up(&self) -> bool {
        matches!(
            self.state,
            State::Up {
                announced: true,
                ..
            }
        )
    }

    /// The edge opened a connection: the broker speaks first.
    pub fn handle_connected(&mut self, now: Instant) {
        self.decoder = StreamDecoder::new();
        self.encoder = StreamEncoder::new();
        self.pings.clear();
        self.state = State::Handshake {
            deadline: now + self.config.handshake_timeout,
        };
    }

    /// Asks the broker to confirm that it has read everything written so
    /// far (a subscription, say): [`LinkEvent::Confirmed`] with the number
    /// returned comes when it has. `None` while the link is down: a lost
    /// connection loses the confirmations it owed too.
    pub fn confirm(&mut self) -> Option<u64> {
        if !self.is_up() {
            return None;
        }
        let number = self.next_confirmation;
        self.next_confirmation += 1;
        self.ping(Some(number));
        Some(number)
    }

    fn ping(&mut self, purpose: Option<u64>) {
        self.pings.push_back(purpose);
        self.encoder.enqueue_write_op(&ClientOp::Ping);
    }

    /// The connection failed or closed.
    pub fn handle_lost(&mut self, now: Instant, why: &str) {
        let wait = self
            .config
            .reconnect_after
            .saturating_mul(1 << self.failures.min(16))
            .min(self.config.max_reconnect_after);
        self.failures += 1;
        // Up to a quarter more, so that nodes that lost one broker do not
        // all come back in the same millisecond.
        let jitter = wait.mul_f64(self.rng.random_range(0.0..0.25));
        let was_up = self.is_up();
        self.state = State::Down {
            retry_at: now + wait + jitter,
        };
        self.encoder = StreamEncoder::new();
        if was_up {
            self.events.push_back(LinkEvent::Down { why: why.into() });
        } else {
            self.report_unreachable(now, why);
        }
    }

    /// A connection that never came up failed: said at once, then again
    /// at most every [`REPORT_UNREACHABLE_EVERY`].
    fn report_unreachable(&mut self, now: Instant, why: &str) {
        let first = self.unreachable.is_none();
        let (since, reported) = self.unreachable.get_or_insert((now, now));
        if !first && now < *reported + REPORT_UNREACHABLE_EVERY {
            return;
        }
        *reported = now;
        let lasted = now - *since;
        self.events.push_back(LinkEvent::Unreachable {
            why: why.into(),
            attempts: self.failures,
            lasted,
        });
    }

    /// Bytes from the broker.
    pub fn handle_bytes(&mut self, now: Instant, bytes: &[u8]) {
        self.decoder.read_buf().put_slice(bytes);
        loop {
            match self.decoder.decode() {
                Ok(Some(op)) => self.on_op(now, op),
                Ok(None) => return,
                Err(err) => return self.handle_lost(now, &format!("bad data: {err}")),
            }
            if self.is_down() {
                return;
            }
        }
    }

    /// Time has come to `now`: a keep-alive `PING`, or a broker taken for
    /// lost (silent since our `PING`s, or since the connection opened).
    pub fn handle_timeout(&mut self, now: Instant) {
        if let State::Handshake { deadline } = self.state {
            if now >= deadline {
                let why = format!(
                    "no INFO from the broker within {:?}",
                    self.config.handshake_timeout
                );
                self.handle_lost(now, &why);
            }
            return;
        }
        let State::Up {
            pings_out,
            next_ping,
            ..
        } = &mut self.state
        else {
            return;
        };
        if now < *next_ping {
            return;
        }
        if *pings_out >= self.config.max_pings_out {
            return self.handle_lost(now, "the broker stopped answering PING");
        }
        *pings_out += 1;
        *next_ping = now + self.config.ping_interval;
        self.ping(None);
    }

    /// When [`handle_timeout`](Self::handle_timeout) or a reconnection is due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::Down { retry_at, .. } => Some(retry_at),
            State::Handshake { deadline } => Some(deadline),
            State::Up { next_ping, .. } => Some(next_ping),
        }
    }

    /// Subscribes to `subject` now if up, and at every handshake until
    /// [`unsubscribe`](Self::unsubscribe)d. Subscribing twice changes nothing.
    pub fn subscribe(&mut self, subject: &str) -> Result<(), LinkError> {
        if self.subscriptions.contains_key(subject) {
            return Ok(());
        }
        let parsed = Subject::from_str(subject).map_err(|_| LinkError::BadSubject)?;
        let id = self.next_subscription;
        self.next_subscription += 1;
        if self.is_connected() {
            self.send_subscribe(id, &parsed);
        }
        self.subscriptions.insert(subject.to_owned(), (id, parsed));
        Ok(())
    }

    /// Ends the subscription to `subject`, if there is one.
    pub fn unsubscribe(&mut self, subject: &str) {
        let Some((id, _)) = self.subscriptions.remove(subject) else {
            return;
        };
        if self.is_connected() {
            self.encoder.enqueue_write_op(&ClientOp::Unsubscribe {
                id: id.into(),
                max_messages: None,
            });
        }
    }

    /// The id of the subscription to `subject`, while there is one.
    pub fn subscription(&self, subject: &str) -> Option<u64> {
        self.subscriptions.get(subject).map(|(id, _)| *id)
    }

    /// How many subjects the link holds.
    pub fn subscriptions(&self) -> usize {
        self.subscriptions.len()
    }

    /// Whether the handshake was sent: operations go out in order after it.
    fn is_connected(&self) -> bool {
        matches!(self.state, State::Up { .. })
    }

    /// Publishes `payload` on `subject`, with an optional reply subject.
    pub fn publish(
        &mut self,
        subject: &str,
        reply: Option<&str>,
        payload: &[u8],
    ) -> Result<(), LinkError> {
        if !self.is_up() {
            return Err(LinkError::NotUp);
        }
        if payload.len() > self.max_payload {
            return Err(LinkError::TooLarge);
        }
        if self.encoder.remaining() + payload.len() > self.config.max_buffered {
            return Err(LinkError::Full);
        }
        let subject = Subject::from_str(subject).map_err(|_| LinkError::BadSubject)?;
        let reply_subject = reply
            .map(Subject::from_str)
            .transpose()
            .map_err(|_| LinkError::BadSubject)?;
        let message = MessageBase {
            subject,
            reply_subject,
            headers: HeaderMap::new(),
            payload: Bytes::copy_from_slice(payload),
        };
        self.encoder
            .enqueue_write_op(&ClientOp::Publish { message });
        Ok(())
    }

    /// What waits to be written to the broker (a part of it).
    pub fn pending_write(&self) -> &[u8] {
        self.encoder.chunk()
    }

    /// `written` bytes of [`pending_write`](Self::pending_write) went out.
    pub fn written(&mut self, written: usize) {
        self.encoder.advance(written);
    }

    pub fn poll_event(&mut self) -> Option<LinkEvent> {
        self.events.pop_front()
    }

    fn on_op(&mut self, now: Instant, op: ServerOp) {
        match op {
            ServerOp::Info { info } => {
                if !matches!(self.state, State::Handshake { .. }) {
                    return; // a later INFO: cluster news we do not use
                }
                self.max_payload = info.max_payload.get() as usize;
                self.encoder.enqueue_write_op(&ClientOp::Connect {
                    connect: Box::new(connect()),
                });
                let mut subscriptions: Vec<_> = self
                    .subscriptions
                    .values()
                    .map(|(id, subject)| (*id, subject.clone()))
                    .collect();
                // In the order they were made: a log reads the same each time.
                subscriptions.sort_unstable_by_key(|(id, _)| *id);
                for (id, subject) in subscriptions {
                    self.send_subscribe(id, &subject);
                }
                self.ping(None);
                self.state = State::Up {
                    pings_out: 1,
                    next_ping: now + self.config.ping_interval,
                    announced: false,
                };
            }
            ServerOp::Ping => self.encoder.enqueue_write_op(&ClientOp::Pong),
            ServerOp::Pong => {
                if let Some(Some(number)) = self.pings.pop_front() {
                    self.events.push_back(LinkEvent::Confirmed(number));
                }
                if let State::Up {
                    pings_out,
                    announced,
                    ..
                } = &mut self.state
                {
                    *pings_out = 0;
                    if !*announced {
                        *announced = true;
                        self.failures = 0;
                        self.unreachable = None;
                        self.events.push_back(LinkEvent::Up);
                    }
                }
            }
            ServerOp::Message { message } => {
                let subject = message.base.subject.as_str().to_owned();
                if message.status_code == Some(StatusCode::NO_RESPONDERS) {
                    return self.events.push_back(LinkEvent::NoResponders { subject });
                }
                self.events.push_back(LinkEvent::Message {
                    subject,
                    subscription: message.subscription_id.into(),
                    reply: message.base.reply_subject.map(|r| r.as_str().to_owned()),
                    payload: message.base.payload,
                });
            }
            ServerOp::Success => {}
            ServerOp::Error { error } => {
                self.handle_lost(now, &format!("the broker said: {error}"));
            }
        }
    }

    fn send_subscribe(&mut self, id: u64, subject: &Subject) {
        self.encoder.enqueue_write_op(&ClientOp::Subscribe {
            id: id.into(),
            subject: subject.clone(),
            queue_group: None,
        });
    }
}

/// Our `CONNECT`: quiet (no `+OK`), with headers and no-responders.
fn connect() -> Connect {
    Connect {
        verbose: false,
        pedantic: false,
        require_tls: false,
        auth_token: None,
        username: None,
        password: None,
        client_name: Some("reactor-hub".into()),
        client_lang: "rust",
        client_version: env!("CARGO_PKG_VERSION"),
        protocol: 1,
        echo: true,
        signature: None,
        jwt: None,
        supports_no_responders: true,
        supports_headers: true,
        nkey: None,
        non_standard: NonStandardConnect::default(),
    }
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    use super::*;

    const INFO: &[u8] = b"INFO {\"server_id\":\"x\",\"server_name\":\"x\",\"version\":\"2.9.10\",\"go\":\"go\",\"host\":\"127.0.0.1\",\"port\":4222,\"headers\":true,\"max_payload\":64,\"proto\":1}\r\n";

    fn link(now: Instant) -> Link {
        Link::new(
            LinkConfig::default(),
            now,
            Box::new(StdRng::seed_from_u64(1)),
        )
    }

    /// Everything the link wants written, as text.
    fn written(link: &mut Link) -> String {
        let mut out = Vec::new();
        while !link.pending_write().is_empty() {
            let chunk = link.pending_write().to_vec();
            link.written(chunk.len());
            out.extend(chunk);
        }
        String::from_utf8(out).unwrap()
    }

    fn events(link: &mut Link) -> Vec<LinkEvent> {
        std::iter::from_fn(|| link.poll_event()).collect()
    }

    /// A link through its handshake, with `news.>` subscribed before it.
    fn up(now: Instant) -> Link {
        let mut l = link(now);
        l.subscribe("news.>").unwrap();
        assert!(l.wants_connection(now));
        l.handle_connected(now);
        l.handle_bytes(now, INFO);
        let out = written(&mut l);
        assert!(out.starts_with("CONNECT {"), "{out}");
        assert!(out.contains("\"no_responders\":true") && out.contains("\"headers\":true"));
        assert!(out.contains("SUB news.> 1\r\n"), "{out}");
        assert!(out.ends_with("PING\r\n"), "{out}");
        assert!(!l.is_up(), "up once the PONG comes");
        l.handle_bytes(now, b"PONG\r\n");
        assert_eq!(events(&mut l), [LinkEvent::Up]);
        l
    }

    #[test]
    fn the_handshake_subscribes_again_and_ends_with_a_pong() {
        up(Instant::now());
    }

    #[test]
    fn messages_in_and_out() {
        let now = Instant::now();
        let mut l = up(now);
        l.publish("news.a", Some("inbox.1"), b"hello").unwrap();
        assert_eq!(written(&mut l), "PUB news.a inbox.1 5\r\nhello\r\n");
        l.handle_bytes(now, b"MSG news.a 1 inbox.1 5\r\nhel");
        assert!(events(&mut l).is_empty(), "half a message waits");
        l.handle_bytes(now, b"lo\r\nPING\r\n");
        assert_eq!(
            events(&mut l),
            [LinkEvent::Message {
                subject: "news.a".into(),
                subscription: 1,
                reply: Some("inbox.1".into()),
                payload: Bytes::from_static(b"hello"),
            }]
        );
        assert_eq!(written(&mut l), "PONG\r\n", "the broker's PING answered");
        l.handle_bytes(now, b"HMSG inbox.9 1 16 16\r\nNATS/1.0 503\r\n\r\n\r\n");
        assert_eq!(
            events(&mut l),
            [LinkEvent::NoResponders {
                subject: "inbox.9".into()
            }]
        );
    }

    #[test]
    fn what_cannot_be_published_is_refused() {
        let now = Instant::now();
        let mut l = link(now);
        assert_eq!(l.publish("a", None, b"x"), Err(LinkError::NotUp));
        let mut l = up(now);
        assert_eq!(l.publish("a", None, &[0; 65]), Err(LinkError::TooLarge));
        assert_eq!(l.publish("a b", None, b"x"), Err(LinkError::BadSubject));
        let mut published = 0;
        while l.publish("a", None, &[0; 64]).is_ok() {
            published += 1;
        }
        assert_eq!(l.publish("a", None, &[0; 64]), Err(LinkError::Full));
        assert!(published > 10_000, "about a MiB waits: {published}");
        written(&mut l);
        assert_eq!(
            l.publish("a", None, &[0; 64]),
            Ok(()),
            "written: room again"
        );
    }

    #[test]
    fn a_silent_broker_is_lost_and_the_link_comes_back_with_backoff() {
        let t0 = Instant::now();
        let mut l = up(t0);
        let ping = LinkConfig::default().ping_interval;
        let mut now = t0;
        for _ in 0..LinkConfig::default().max_pings_out {
            now += ping;
            l.handle_timeout(now);
            assert_eq!(written(&mut l), "PING\r\n");
        }
        now += ping;
        l.handle_timeout(now);
        assert!(l.is_down());
        assert!(matches!(&events(&mut l)[..], [LinkEvent::Down { .. }]));
        assert_eq!(l.publish("a", None, b"x"), Err(LinkError::NotUp));
        // Failed attempts wait longer and longer, up to the cap (+ jitter).
        let mut waits = Vec::new();
        for _ in 0..8 {
            let retry_at = l.poll_timeout().unwrap();
            waits.push(retry_at - now);
            now = retry_at;
            assert!(l.wants_connection(now));
            l.handle_connected(now);
            l.handle_lost(now, "refused");
        }
        assert!(waits.windows(2).take(3).all(|w| w[1] > w[0]), "{waits:?}");
        let cap = LinkConfig::default().max_reconnect_after;
        assert!(waits.iter().all(|&w| w <= cap + cap / 4), "{waits:?}");
        // The loss is news once; the failures after it, at once and then
        // every REPORT_UNREACHABLE_EVERY (these 8 took less).
        let events = events(&mut l);
        assert!(
            matches!(&events[..], [LinkEvent::Unreachable { attempts: 2, .. }]),
            "{events:?}"
        );
    }

    #[test]
    fn a_broker_that_cannot_be_reached_is_said_at_once_then_at_a_limited_rate() {
        let t0 = Instant::now();
        let mut l = link(t0);
        let mut now = t0;
        let mut reports = Vec::new();
        // Two minutes of refused connections, each retry when the link asks.
        while now < t0 + Duration::from_secs(120) {
            assert!(l.wants_connection(now));
            l.handle_connected(now);
            l.handle_lost(now, "Connection refused");
            reports.extend(events(&mut l).into_iter().map(|event| match event {
                LinkEvent::Unreachable {
                    why,
                    attempts,
                    lasted,
                } => (why, attempts, lasted),
                other => panic!("{other:?}"),
            }));
            now = l.poll_timeout().unwrap();
        }
        assert_eq!(reports[0], ("Connection refused".into(), 1, Duration::ZERO));
        assert!((4..=5).contains(&reports.len()), "{reports:?}");
        for pair in reports.windows(2) {
            let apart = pair[1].2 - pair[0].2;
            assert!(apart >= REPORT_UNREACHABLE_EVERY, "{reports:?}");
            assert!(pair[1].1 > pair[0].1, "attempts grow: {reports:?}");
        }
        // Once up, a later failure is news at once again.
        l.handle_connected(now);
        l.handle_bytes(now, INFO);
        written(&mut l);
        l.handle_bytes(now, b"PONG\r\n");
        l.handle_lost(now, "reset");
        let later = l.poll_timeout().unwrap();
        l.handle_connected(later);
        l.handle_lost(later, "Connection refused");
        let events = events(&mut l);
        assert!(
            matches!(
                &events[..],
                [
                    LinkEvent::Up,
                    LinkEvent::Down { .. },
                    LinkEvent::Unreachable { attempts: 2, .. }
                ]
            ),
            "{events:?}"
        );
    }

    #[test]
    fn subscriptions_come_and_go_and_only_the_held_ones_come_back() {
        let now = Instant::now();
        let mut l = up(now);
        l.subscribe("hub.user.alice").unwrap();
        l.subscribe("hub.user.alice").unwrap();
        l.subscribe("hub.user.bob").unwrap();
        assert_eq!(
            written(&mut l),
            "SUB hub.user.alice 2\r\nSUB hub.user.bob 3\r\n"
        );
        l.unsubscribe("hub.user.alice");
        l.unsubscribe("hub.user.nobody");
        assert_eq!(written(&mut l), "UNSUB 2\r\n");
        assert_eq!(l.subscriptions(), 2);
        l.handle_lost(now, "gone");
        l.unsubscribe("hub.user.bob"); // while down: nothing to write
        l.subscribe("hub.user.carol").unwrap();
        assert_eq!(written(&mut l), "");
        let later = l.poll_timeout().unwrap();
        l.handle_connected(later);
        l.handle_bytes(later, INFO);
        let out = written(&mut l);
        assert!(
            out.contains("SUB news.> 1\r\nSUB hub.user.carol 4\r\nPING"),
            "{out}"
        );
        assert!(!out.contains("bob") && !out.contains("alice"), "{out}");
    }

    #[test]
    fn a_confirmation_comes_with_the_pong_of_its_own_ping() {
        let now = Instant::now();
        let mut l = link(now);
        assert_eq!(l.confirm(), None, "down: nothing to confirm");
        let mut l = up(now);
        l.handle_timeout(now + LinkConfig::default().ping_interval); // keep-alive
        let first = l.confirm().unwrap();
        let second = l.confirm().unwrap();
        assert_eq!(written(&mut l), "PING\r\nPING\r\nPING\r\n");
        l.handle_bytes(now, b"PONG\r\n");
        assert_eq!(events(&mut l), [], "the keep-alive's PONG");
        l.handle_bytes(now, b"PONG\r\nPONG\r\n");
        assert_eq!(
            events(&mut l),
            [LinkEvent::Confirmed(first), LinkEvent::Confirmed(second)]
        );
        // A PONG the broker owed on a lost connection confirms nothing later.
        let third = l.confirm().unwrap();
        l.handle_lost(now, "gone");
        l.handle_connected(now);
        l.handle_bytes(now, INFO);
        l.handle_bytes(now, b"PONG\r\n");
        let events = events(&mut l);
        assert!(
            matches!(&events[..], [LinkEvent::Down { .. }, LinkEvent::Up]),
            "{events:?}"
        );
        assert_ne!(l.confirm(), Some(third));
    }

    #[test]
    fn a_broker_that_sends_no_info_is_lost_at_the_handshake_timeout() {
        let t0 = Instant::now();
        let config = LinkConfig::default();
        let mut l = link(t0);
        l.handle_connected(t0);
        let deadline = t0 + config.handshake_timeout;
        assert_eq!(l.poll_timeout(), Some(deadline));
        l.handle_timeout(deadline - Duration::from_millis(1));
        assert!(!l.is_down(), "still handshaking");
        assert_eq!(l.poll_timeout(), Some(deadline));
        l.handle_timeout(deadline);
        assert!(l.is_down());
        let why = "no INFO from the broker within 2s".to_owned();
        assert_eq!(
            events(&mut l),
            [LinkEvent::Unreachable {
                why,
                attempts: 1,
                lasted: Duration::ZERO
            }],
            "never up: no Down, an unreachable broker"
        );
        // It retries after the first backoff (+ jitter), then a longer one.
        let first = l.poll_timeout().unwrap() - deadline;
        let backoff = config.reconnect_after;
        assert!(
            backoff <= first && first <= backoff + backoff / 4,
            "{first:?}"
        );
        let retry_at = deadline + first;
        assert!(!l.wants_connection(retry_at - Duration::from_millis(1)));
        assert!(l.wants_connection(retry_at));
        l.handle_connected(retry_at);
        l.handle_timeout(retry_at + config.handshake_timeout);
        let second = l.poll_timeout().unwrap() - (retry_at + config.handshake_timeout);
        assert!(second >= 2 * backoff, "{second:?}");
    }

    #[test]
    fn an_error_from_the_broker_drops_the_connection() {
        let now = Instant::now();
        let mut l = up(now);
        l.handle_bytes(now, b"-ERR 'Stale Connection'\r\n");
        assert!(l.is_down());
    }
}
