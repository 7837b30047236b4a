//! A NATS broker in memory, for tests of nodes without sockets: it reads
//! what clients write (`CONNECT`, `PING`, `SUB`, `UNSUB`, `PUB`) and writes
//! what `nats-server` would (`INFO`, `PONG`, `MSG`, and a 503 status for a
//! request nobody holds), delivering in the order it reads.

use std::collections::BTreeMap;
use std::time::Instant;

use super::Endpoint;

/// One client's connection.
#[derive(Default)]
struct Connection {
    /// Bytes read but not yet a whole operation.
    unread: Vec<u8>,
    /// Bytes for the client.
    out: Vec<u8>,
    /// By subscription id, in order: a run replays the same each time.
    subscriptions: BTreeMap<String, String>,
}

/// The broker: connections by number; a closed one is `None`.
#[derive(Default)]
pub struct FakeBroker {
    connections: Vec<Option<Connection>>,
    /// The subject of every message published, in order.
    pub published: Vec<String>,
}

const INFO: &[u8] = b"INFO {\"server_id\":\"fake\",\"server_name\":\"fake\",\"version\":\"2.9.10\",\"go\":\"go\",\"host\":\"127.0.0.1\",\"port\":4222,\"headers\":true,\"max_payload\":1048576,\"proto\":1}\r\n";

impl FakeBroker {
    /// A new connection; the broker speaks first.
    pub fn connect(&mut self) -> usize {
        let connection = Connection {
            out: INFO.to_vec(),
            ..Connection::default()
        };
        self.connections.push(Some(connection));
        self.connections.len() - 1
    }

    /// The connection is gone (the client died, or the broker did): its
    /// subscriptions go with it.
    pub fn close(&mut self, connection: usize) {
        self.connections[connection] = None;
    }

    /// What the broker wrote to `connection` since the last call.
    pub fn take_output(&mut self, connection: usize) -> Vec<u8> {
        self.connections[connection]
            .as_mut()
            .map(|c| std::mem::take(&mut c.out))
            .unwrap_or_default()
    }

    /// Moves bytes both ways between `connection` and its client
    /// `endpoint` at `now`: what the endpoint wants written, then what the
    /// broker has for it. Returns whether any byte moved.
    pub fn exchange(
        &mut self,
        connection: usize,
        endpoint: &mut impl Endpoint,
        now: Instant,
    ) -> bool {
        let mut moved = false;
        loop {
            let bytes = endpoint.pending_write(now).to_vec();
            if bytes.is_empty() {
                break;
            }
            endpoint.written(bytes.len());
            self.read(connection, &bytes);
            moved = true;
        }
        let bytes = self.take_output(connection);
        if !bytes.is_empty() {
            endpoint.handle_bytes(now, &bytes);
            moved = true;
        }
        moved
    }

    /// Bytes `connection` wrote.
    pub fn read(&mut self, connection: usize, bytes: &[u8]) {
        let Some(c) = self.connections[connection].as_mut() else {
            return;
        };
        c.unread.extend_from_slice(bytes);
        while let Some(op) = self.next_op(connection) {
            self.apply(connection, op);
        }
    }

    fn next_op(&mut self, connection: usize) -> Option<Op> {
        let c = self.connections[connection].as_mut()?;
        let end = c.unread.windows(2).position(|w| w == b"\r\n")?;
        let line = String::from_utf8(c.unread[..end].to_vec()).expect("ASCII control line");
        let words: Vec<String> = line.split(' ').map(str::to_owned).collect();
        let op = match words[0].as_str() {
            "PUB" => {
                let len: usize = words.last()?.parse().expect("a length");
                let start = end + 2;
                if c.unread.len() < start + len + 2 {
                    return None; // the payload is still on its way
                }
                let payload = c.unread[start..start + len].to_vec();
                c.unread.drain(..start + len + 2);
                let reply = (words.len() == 4).then(|| words[2].clone());
                return Some(Op::Pub(words[1].clone(), reply, payload));
            }
            "SUB" => Op::Sub(words[1].clone(), words[2].clone()),
            "UNSUB" => Op::Unsub(words[1].clone()),
            "PING" => Op::Ping,
            "CONNECT" | "PONG" => Op::Nothing,
            other => panic!("the fake broker cannot read {other}"),
        };
        c.unread.drain(..end + 2);
        Some(op)
    }

    fn apply(&mut self, connection: usize, op: Op) {
        let Some(c) = self.connections[connection].as_mut() else {
            return;
        };
        match op {
            Op::Sub(subject, sid) => {
                c.subscriptions.insert(sid, subject);
            }
            Op::Unsub(sid) => {
                c.subscriptions.remove(&sid);
            }
            Op::Ping => c.out.extend_from_slice(b"PONG\r\n"),
            Op::Nothing => {}
            Op::Pub(subject, reply, payload) => self.deliver(connection, &subject, reply, &payload),
        }
    }

    fn deliver(&mut self, from: usize, subject: &str, reply: Option<String>, payload: &[u8]) {
        self.published.push(subject.to_owned());
        let mut delivered = false;
        for c in self.connections.iter_mut().flatten() {
            for (sid, pattern) in &c.subscriptions {
                if matches(pattern, subject) {
                    delivered = true;
                    let reply = reply
                        .as_deref()
                        .map(|r| format!("{r} "))
                        .unwrap_or_default();
                    let head = format!("MSG {subject} {sid} {reply}{}\r\n", payload.len());
                    c.out.extend_from_slice(head.as_bytes());
                    c.out.extend_from_slice(payload);
                    c.out.extend_from_slice(b"\r\n");
                }
            }
        }
        let (Some(reply), false) = (reply, delivered) else {
            return;
        };
        // No responders: a 503 status to the reply subject, if the sender holds it.
        let Some(c) = self.connections[from].as_mut() else {
            return;
        };
        let held = c.subscriptions.iter().find(|(_, p)| matches(p, &reply));
        if let Some((sid, _)) = held {
            let status = "NATS/1.0 503\r\n\r\n";
            let head = format!("HMSG {reply} {sid} {0} {0}\r\n", status.len());
            c.out.extend_from_slice(head.as_bytes());
            c.out.extend_from_slice(status.as_bytes());
            c.out.extend_from_slice(b"\r\n");
        }
    }
}

enum Op {
    Pub(String, Option<String>, Vec<u8>),
    Sub(String, String),
    Unsub(String),
    Ping,
    Nothing,
}

/// Whether `subject` matches `pattern` (`*` one token, `>` the rest).
fn matches(pattern: &str, subject: &str) -> bool {
    let mut subject_tokens = subject.split('.');
    for token in pattern.split('.') {
        match (token, subject_tokens.next()) {
            (">", Some(_)) => return true,
            ("*", Some(_)) => {}
            (token, Some(other)) if token == other => {}
            _ => return false,
        }
    }
    subject_tokens.next().is_none()
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn wildcards() {
        assert!(matches("a.>", "a.b.c"));
        assert!(!matches("a.>", "a"));
        assert!(matches("a.*.c", "a.b.c"));
        assert!(!matches("a.*", "a.b.c"));
        assert!(matches("a.b", "a.b"));
        assert!(!matches("a.b", "a.bc"));
    }
}
