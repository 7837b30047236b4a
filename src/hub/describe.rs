//! Words for `--trace`: what the hub's next deadline is for.
//!
//! Only called when tracing is on (it formats a string), and it only reads:
//! the hub decides what to do when the deadline comes, in
//! [`Hub::handle_timeout`].

use std::time::{Duration, Instant};

use super::sessions::SessionId;
use super::Hub;

impl Hub {
    /// What the deadline that [`poll_timeout`](Hub::poll_timeout) gives is
    /// for: a session's expiry, a resend of a forward, or an entry made
    /// stale by activity since it was queued.
    pub fn describe_timeout(&self) -> String {
        if let Some(cluster) = &self.cluster {
            let sessions = self.timers.next_deadline();
            if cluster
                .poll_timeout()
                .is_some_and(|at| sessions.is_none_or(|s| at < s))
            {
                return format!("the cluster: {}", cluster.describe_timeout());
            }
        }
        match self.timers.peek() {
            Some((at, &id)) => self.describe_wakeup(at, id),
            None => "nothing".into(),
        }
    }

    /// Every deadline due at `now`, earliest first, and what each is for:
    /// all of them fire in one [`handle_timeout`](Hub::handle_timeout).
    pub fn describe_due(&self, now: Instant) -> Vec<(Instant, String)> {
        let cluster = self.cluster.as_ref().and_then(|cluster| {
            let at = cluster.poll_timeout().filter(|&at| at <= now)?;
            Some((at, format!("the cluster: {}", cluster.describe_timeout())))
        });
        let sessions = self.timers.due(now).into_iter();
        let mut due: Vec<_> = cluster
            .into_iter()
            .chain(sessions.map(|(at, &id)| (at, self.describe_wakeup(at, id))))
            .collect();
        due.sort_by_key(|(at, _)| *at);
        due
    }

    /// What the wakeup of the session in slot `slot` at `at` is for.
    fn describe_wakeup(&self, at: Instant, slot: SessionId) -> String {
        let Some(session) = self.sessions.get(slot) else {
            return "a wakeup of a session that ended, nothing to do".into();
        };
        let id = self.accounts.id(session.account());
        if session.wake_at != Some(at) {
            return format!("{id}: a superseded wakeup, nothing to do");
        }
        let timeout = self.config.session_timeout;
        let expiry = session.expiry(timeout);
        if expiry.is_some_and(|expiry| expiry <= at) {
            return format!("{id}: session expiry ({timeout:?} without a datagram)");
        }
        let due = session
            .pending()
            .iter()
            .filter(|pending| pending.due <= at && pending.held.is_none())
            .min_by_key(|pending| pending.due);
        match due {
            Some(pending) => format!(
                "{id}: resend msg {} from {} (resend {}, no receipt yet)",
                pending.msg_id,
                self.accounts.id(pending.from),
                pending.resends + 1,
            ),
            None => format!(
                "{id}: a wakeup with nothing due any more (expires {:.1?} later)",
                expiry.map_or(Duration::MAX, |expiry| expiry - at)
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::time::{Duration, Instant};

    use crate::accounts::Accounts;
    use crate::hub::{Hub, HubConfig};
    use crate::wire::{self, Message, Success};

    /// Logs `id` in from `addr`; returns its token.
    fn login(hub: &mut Hub, now: Instant, id: &str, password: &str, addr: SocketAddr) -> String {
        hub.handle_datagram(
            now,
            addr,
            format!("{id}->server#login<{password}>").as_bytes(),
        );
        let reply = hub.poll_transmit().expect("a reply");
        match wire::parse(reply.payload) {
            Ok(Message::Success(Success { token, .. })) => token.as_str().to_owned(),
            other => panic!("login answered {other:?}"),
        }
    }

    #[test]
    fn says_what_the_next_deadline_is_for() {
        let accounts = Accounts::parse("alice:wonderland\nbob:builder\n").unwrap();
        let mut hub = Hub::new(accounts, HubConfig::default());
        let t0 = Instant::now();
        assert_eq!(hub.describe_timeout(), "nothing");
        let alice_addr = "127.0.0.1:40001".parse().unwrap();
        let bob_addr = "127.0.0.1:40002".parse().unwrap();
        let alice = login(&mut hub, t0, "alice", "wonderland", alice_addr);
        assert_eq!(
            hub.describe_timeout(),
            "alice: session expiry (300s without a datagram)"
        );
        let t1 = t0 + Duration::from_secs(10);
        let bob = login(&mut hub, t1, "bob", "builder", bob_addr);
        let chat = format!("alice->bob#<{alice}><0123456789>hello");
        hub.handle_datagram(t1, alice_addr, chat.as_bytes());
        assert_eq!(
            hub.describe_timeout(),
            "bob: resend msg 0123456789 from alice (resend 1, no receipt yet)"
        );
        let receipt = format!("bob->server#<{bob}><0123456789>Success: hello");
        hub.handle_datagram(t1, bob_addr, receipt.as_bytes());
        assert_eq!(
            hub.describe_timeout(),
            "bob: a wakeup with nothing due any more (expires 299.0s later)"
        );
        hub.handle_timeout(t1 + Duration::from_secs(1));
        assert_eq!(
            hub.describe_timeout(),
            "alice: a wakeup with nothing due any more (expires 10.0s later)"
        );
    }

    #[test]
    fn names_every_deadline_due_at_once() {
        let accounts = Accounts::parse("alice:wonderland\nbob:builder\n").unwrap();
        let mut hub = Hub::new(accounts, HubConfig::default());
        let t0 = Instant::now();
        login(
            &mut hub,
            t0,
            "alice",
            "wonderland",
            "127.0.0.1:40001".parse().unwrap(),
        );
        let t1 = t0 + Duration::from_millis(5);
        login(
            &mut hub,
            t1,
            "bob",
            "builder",
            "127.0.0.1:40002".parse().unwrap(),
        );
        let expiry = "session expiry (300s without a datagram)";
        let late = t1 + Duration::from_secs(301);
        assert_eq!(
            hub.describe_due(late),
            [
                (t0 + Duration::from_secs(300), format!("alice: {expiry}")),
                (t1 + Duration::from_secs(300), format!("bob: {expiry}")),
            ]
        );
        assert_eq!(hub.describe_due(t1 + Duration::from_secs(299)), []);
    }
}
