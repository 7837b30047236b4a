//! The broker link: a node's connection to its NATS broker, as one more
//! event source on the Reactor, beside the UDP socket. [`Link`] is the
//! sans-IO state machine (the hub owns it, as the state it is); [`BrokerLink`]
//! is its edge, a non-blocking `mio::net::TcpStream`, read and written until
//! `WouldBlock` like the rest, that moves the bytes of an [`Endpoint`] (the
//! link, or a state machine that holds it). As the UDP socket does, it asks
//! for writability only from a write that would block until all is written.

#[cfg(test)]
pub(crate) mod fake_broker;
mod link;

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::Instant;

use mio::event::Event;
use mio::net::TcpStream;
use mio::{Interest, Registry, Token};

pub use link::{Link, LinkConfig, LinkError, LinkEvent};

/// The sans-IO side of a broker connection, whose bytes a [`BrokerLink`] moves:
/// a [`Link`], or a state machine that holds one and takes in what it reads at once.
pub trait Endpoint {
    /// Whether the edge should open a connection now.
    fn wants_connection(&self, now: Instant) -> bool;
    /// The edge opened a connection (the broker speaks first).
    fn handle_connected(&mut self, now: Instant);
    /// Bytes from the broker.
    fn handle_bytes(&mut self, now: Instant, bytes: &[u8]);
    /// The connection failed or closed.
    fn handle_lost(&mut self, now: Instant, why: &str);
    /// What waits to be written at `now` (a part of it); `&mut` so that
    /// the endpoint may first publish what it gathered.
    fn pending_write(&mut self, now: Instant) -> &[u8];
    /// `len` bytes of `pending_write` went out.
    fn written(&mut self, len: usize);
    /// Whether the edge should have no connection (close the one it has).
    fn is_down(&self) -> bool;
}

impl Endpoint for Link {
    fn wants_connection(&self, now: Instant) -> bool {
        Link::wants_connection(self, now)
    }

    fn handle_connected(&mut self, now: Instant) {
        Link::handle_connected(self, now);
    }

    fn handle_bytes(&mut self, now: Instant, bytes: &[u8]) {
        Link::handle_bytes(self, now, bytes);
    }

    fn handle_lost(&mut self, now: Instant, why: &str) {
        Link::handle_lost(self, now, why);
    }

    fn pending_write(&mut self, _now: Instant) -> &[u8] {
        Link::pending_write(self)
    }

    fn written(&mut self, len: usize) {
        Link::written(self, len);
    }

    fn is_down(&self) -> bool {
        Link::is_down(self)
    }
}

/// The TCP connection of an [`Endpoint`], registered under one token. It
/// owns no protocol state: every call takes the endpoint whose bytes it moves.
pub struct BrokerLink {
    broker: SocketAddr,
    stream: Option<TcpStream>,
    /// Whether the stream is registered for writability too (only while a
    /// write would block), so that it is reregistered only on a change.
    writable: bool,
    token: Token,
    registry: Registry,
}

impl BrokerLink {
    /// An edge for a link to `broker`; it connects when the link wants.
    pub fn new(broker: SocketAddr, registry: &Registry, token: Token) -> io::Result<Self> {
        Ok(Self {
            broker,
            stream: None,
            writable: false,
            token,
            registry: registry.try_clone()?,
        })
    }

    /// Whether `token` is this connection's.
    pub fn owns(&self, token: Token) -> bool {
        token == self.token
    }

    /// Connects if it is time, writes what waits, and closes the connection
    /// if the endpoint gave it up. The endpoint's own timers (keep-alive,
    /// handshake) are its owner's to fire just before: `Link::handle_timeout`.
    pub fn on_deadline(&mut self, endpoint: &mut impl Endpoint, now: Instant) {
        if endpoint.wants_connection(now) {
            self.connect(endpoint, now);
        }
        self.flush(endpoint, now);
    }

    /// The connection became readable or writable, or failed, or closed:
    /// epoll reports the last two whatever the interest.
    pub fn on_ready(&mut self, endpoint: &mut impl Endpoint, event: &Event, now: Instant) {
        if event.is_error() {
            // Why: "Connection refused", say, for an operator to read.
            let why = self
                .stream
                .as_ref()
                .and_then(|s| s.take_error().ok().flatten());
            let why = why.map_or_else(|| "the connection failed".into(), |e| e.to_string());
            return self.lost(endpoint, now, &why);
        }
        if event.is_readable() || event.is_read_closed() {
            self.read(endpoint, now);
        }
        // What came before the broker's end is read; no new edge will come.
        if event.is_read_closed() && self.stream.is_some() {
            return self.lost(endpoint, now, "the broker closed the connection");
        }
        self.flush(endpoint, now);
    }

    /// Writes what the endpoint queued (after publishing, say) until the
    /// socket would block; the rest goes when it is writable again.
    pub fn flush(&mut self, endpoint: &mut impl Endpoint, now: Instant) {
        let Some(stream) = &mut self.stream else {
            return;
        };
        let mut blocked = false;
        loop {
            let pending = endpoint.pending_write(now);
            if pending.is_empty() {
                break;
            }
            match stream.write(pending) {
                Ok(0) => return self.lost(endpoint, now, "the broker closed the connection"),
                Ok(written) => endpoint.written(written),
                // NotConnected: the connect is still under way.
                Err(err)
                    if matches!(
                        err.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::NotConnected
                    ) =>
                {
                    blocked = true;
                    break;
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => return self.lost(endpoint, now, &err.to_string()),
            }
        }
        if endpoint.is_down() {
            return self.close();
        }
        if let Err(err) = self.want_writable(blocked) {
            self.lost(endpoint, now, &err.to_string());
        }
    }

    /// Asks for writability while a write would block, and for readability
    /// only once all is written, as the UDP socket does.
    fn want_writable(&mut self, writable: bool) -> io::Result<()> {
        let Some(stream) = &mut self.stream else {
            return Ok(());
        };
        if writable == self.writable {
            return Ok(());
        }
        let interest = if writable {
            Interest::READABLE | Interest::WRITABLE
        } else {
            Interest::READABLE
        };
        self.registry.reregister(stream, self.token, interest)?;
        self.writable = writable;
        Ok(())
    }

    fn read(&mut self, endpoint: &mut impl Endpoint, now: Instant) {
        let mut chunk = [0; 16 * 1024];
        while let Some(stream) = &mut self.stream {
            match stream.read(&mut chunk) {
                Ok(0) => return self.lost(endpoint, now, "the broker closed the connection"),
                Ok(len) => {
                    endpoint.handle_bytes(now, &chunk[..len]);
                    // A short read emptied the socket: what comes later
                    // raises a new edge. One read instead of two per event.
                    if len < chunk.len() && !endpoint.is_down() {
                        return;
                    }
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return,
                Err(err) if err.kind() == io::ErrorKind::NotConnected => return,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => return self.lost(endpoint, now, &err.to_string()),
            }
            if endpoint.is_down() {
                return self.close();
            }
        }
    }

    /// Opens the connection, registered for readability only: the broker
    /// speaks first, and a refused connect is an error epoll reports anyway.
    fn connect(&mut self, endpoint: &mut impl Endpoint, now: Instant) {
        log::trace!(target: "nats", "connecting to {}", self.broker);
        let mut stream = match TcpStream::connect(self.broker) {
            Ok(stream) => stream,
            Err(err) => return self.lost(endpoint, now, &err.to_string()),
        };
        if let Err(err) = self
            .registry
            .register(&mut stream, self.token, Interest::READABLE)
        {
            return self.lost(endpoint, now, &err.to_string());
        }
        self.stream = Some(stream);
        endpoint.handle_connected(now);
    }

    fn lost(&mut self, endpoint: &mut impl Endpoint, now: Instant, why: &str) {
        log::trace!(target: "nats", "connection to {} lost: {why}", self.broker);
        self.close();
        endpoint.handle_lost(now, why);
    }

    fn close(&mut self) {
        if let Some(mut stream) = self.stream.take() {
            let _ = self.registry.deregister(&mut stream);
        }
        self.writable = false;
    }
}
