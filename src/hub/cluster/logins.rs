//! Logins in a cluster: a node holds the subject of each user online
//! there, announces each login on it with a [`Stamp`], answers the login
//! once the broker confirms the subscription, and of two sessions of one
//! user keeps the later.

use std::net::SocketAddr;
use std::time::Instant;

use super::payload::{login_inbox, user_subject, Payload, Stamp};
use crate::accounts::AccountIndex;
use crate::hub::{Hub, HubEvent};
use crate::wire::{Chat, Message, SessionToken, Success, ANY_TOKEN};

/// A login's `Success`, held until the broker confirms the subscription.
pub(super) struct HeldLogin {
    confirmation: u64,
    reply_addr: SocketAddr,
    index: AccountIndex,
    token: SessionToken,
}

impl Hub {
    /// A user's session at this node began (not a repeated login): hold
    /// its subject and tell the node it may have been on.
    pub(in crate::hub) fn joined_here(&mut self, index: AccountIndex, now: Instant) {
        let Some(cluster) = &mut self.cluster else {
            return;
        };
        let stamp = cluster.stamp(now);
        let subject = user_subject(self.accounts.id(index));
        // Subscribed before announced: of two logins that cross, one node
        // is sure to hear the other's announcement.
        let _ = cluster.link.subscribe(&subject);
        if let Some(online) = &mut self.sessions[index].online {
            online.stamp = stamp;
        }
        self.trace_broker(format_args!("subscribed to {subject}"));
        self.announce(index);
    }

    /// Answers a login `Success<TOKEN>`: at once, or in a cluster whose
    /// broker is up, once the broker confirms it holds the user's subject
    /// (so that no node can find the user offline after it was told).
    pub(in crate::hub) fn accept_login(
        &mut self,
        index: AccountIndex,
        reply_addr: SocketAddr,
        token: SessionToken,
    ) {
        if let Some(cluster) = &mut self.cluster {
            if let Some(confirmation) = cluster.link.confirm() {
                cluster.held_logins.push_back(HeldLogin {
                    confirmation,
                    reply_addr,
                    index,
                    token,
                });
                return;
            }
        }
        let to = self.accounts.id(index);
        self.outbox
            .push(reply_addr, &Message::Success(Success { to, token }));
    }

    /// Sends the login replies held for confirmations up to `number`, or
    /// all of them (the link is down: nothing will be confirmed).
    pub(super) fn release_logins(&mut self, number: Option<u64>) {
        let Some(cluster) = &mut self.cluster else {
            return;
        };
        while let Some(held) = cluster.held_logins.front() {
            if number.is_some_and(|number| held.confirmation > number) {
                return;
            }
            let Some(held) = cluster.held_logins.pop_front() else {
                return;
            };
            let to = self.accounts.id(held.index);
            let token = held.token;
            self.outbox
                .push(held.reply_addr, &Message::Success(Success { to, token }));
        }
    }

    /// A user's session at this node ended: let go of its subject.
    pub(in crate::hub) fn left_here(&mut self, index: AccountIndex) {
        if let Some(cluster) = &mut self.cluster {
            let subject = user_subject(self.accounts.id(index));
            cluster.link.unsubscribe(&subject);
            self.trace_broker(format_args!("unsubscribed from {subject}"));
        }
    }

    /// Hands the forwards still owed to `index` to the node it logged in
    /// at since: that node holds its subject now.
    fn hand_over_pending(&mut self, index: AccountIndex) {
        let (Some(cluster), Some(online)) = (&mut self.cluster, &mut self.sessions[index].online)
        else {
            return;
        };
        let to = self.accounts.id(index);
        let subject = user_subject(to);
        for pending in std::mem::take(&mut online.pending) {
            let chat = Chat {
                from: self.accounts.id(pending.from),
                to,
                token: ANY_TOKEN,
                msg_id: pending.msg_id,
                body: &pending.body,
            };
            // No answer wanted: the sender had its `Success` long ago.
            let _ = cluster.publish(&subject, None, Payload::Forward(chat));
            self.bodies.give_back(pending.body);
        }
    }

    /// Another node announced a login of `id` (or answered ours): of two
    /// sessions the later stays.
    pub(super) fn on_login_elsewhere(&mut self, id: &str, theirs: Stamp, reply: Option<&str>) {
        let Some(cluster) = &mut self.cluster else {
            return;
        };
        if theirs.node == cluster.node_id {
            return; // our own announcement, back from our own subscription
        }
        cluster.clock = cluster.clock.max(theirs.at);
        let Some(index) = self.accounts.find(id) else {
            return;
        };
        let Some(online) = &self.sessions[index].online else {
            return;
        };
        let ours = online.stamp;
        if ours > theirs {
            // Ours stays; the other node must hear it, or both would.
            if let Some(reply) = reply {
                let payload = Payload::Login { id, stamp: ours };
                let _ = cluster.publish(reply, None, payload);
            }
            return;
        }
        self.hand_over_pending(index);
        self.end_session(index, "logged in at another node");
        self.report(index, "logged in at another node");
        self.event(HubEvent::MovedAway { id: id.into() });
    }

    /// Announces the login of `index` on its subject, if the link is up
    /// (if not, [`on_broker_up`](Self::on_broker_up) will).
    pub(super) fn announce(&mut self, index: AccountIndex) {
        let (Some(cluster), Some(online)) = (&mut self.cluster, &self.sessions[index].online)
        else {
            return;
        };
        let id = self.accounts.id(index);
        let payload = Payload::Login {
            id,
            stamp: online.stamp,
        };
        let inbox = login_inbox(cluster.node_id);
        let announced = cluster.publish(&user_subject(id), Some(&inbox), payload);
        if announced.is_ok() && self.config.trace {
            let what = format!("announced the login of {id}");
            self.event(HubEvent::Broker(what));
        }
    }
}
