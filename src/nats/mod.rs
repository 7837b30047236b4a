//! The broker link: a node's connection to its NATS broker, as one more
//! event source on the Reactor, beside the UDP socket. [`Link`] is the
//! sans-IO state machine (the hub owns it, as the state it is); [`BrokerLink`]
//! is its edge, a non-blocking `mio::net::TcpStream`, read and written until
//! `WouldBlock` like the rest, that moves the link's bytes.

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

/// The TCP connection of a [`Link`], registered under one token. It owns
/// no protocol state: every call takes the link whose bytes it moves.
pub struct BrokerLink {
    broker: SocketAddr,
    stream: Option<TcpStream>,
    token: Token,
    registry: Registry,
}

impl BrokerLink {
    /// An edge for a link to `broker`; it connects when the link wants.
    pub fn new(broker: SocketAddr, registry: &Registry, token: Token) -> io::Result<Self> {
        Ok(Self {
            broker,
            stream: None,
            token,
            registry: registry.try_clone()?,
        })
    }

    /// Whether `token` is this connection's.
    pub fn owns(&self, token: Token) -> bool {
        token == self.token
    }

    /// Connects if it is time, keeps the link alive, writes what waits.
    pub fn on_deadline(&mut self, link: &mut Link, now: Instant) {
        if link.wants_connection(now) {
            self.connect(link, now);
        }
        link.handle_timeout(now);
        self.flush(link, now);
    }

    /// The connection became readable or writable (or failed).
    pub fn on_ready(&mut self, link: &mut Link, event: &Event, now: Instant) {
        if event.is_error() {
            return self.lost(link, now, "the connection failed");
        }
        if event.is_readable() {
            self.read(link, now);
        }
        self.flush(link, now);
    }

    /// Writes what the link queued (after publishing, say) until the
    /// socket would block; the rest goes when it is writable again.
    pub fn flush(&mut self, link: &mut Link, now: Instant) {
        let Some(stream) = &mut self.stream else {
            return;
        };
        while !link.pending_write().is_empty() {
            match stream.write(link.pending_write()) {
                Ok(0) => return self.lost(link, now, "the broker closed the connection"),
                Ok(written) => link.written(written),
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
                Err(err) if err.kind() == io::ErrorKind::NotConnected => break,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => return self.lost(link, now, &err.to_string()),
            }
        }
        if link.is_down() {
            self.close();
        }
    }

    fn read(&mut self, link: &mut Link, now: Instant) {
        let mut chunk = [0; 16 * 1024];
        while let Some(stream) = &mut self.stream {
            match stream.read(&mut chunk) {
                Ok(0) => return self.lost(link, now, "the broker closed the connection"),
                Ok(len) => {
                    link.handle_bytes(now, &chunk[..len]);
                    // A short read emptied the socket: what comes later
                    // raises a new edge. One read instead of two per event.
                    if len < chunk.len() && !link.is_down() {
                        return;
                    }
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return,
                Err(err) if err.kind() == io::ErrorKind::NotConnected => return,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => return self.lost(link, now, &err.to_string()),
            }
            if link.is_down() {
                return self.close();
            }
        }
    }

    fn connect(&mut self, link: &mut Link, now: Instant) {
        log::trace!(target: "nats", "connecting to {}", self.broker);
        let mut stream = match TcpStream::connect(self.broker) {
            Ok(stream) => stream,
            Err(err) => return self.lost(link, now, &err.to_string()),
        };
        let interest = Interest::READABLE | Interest::WRITABLE;
        if let Err(err) = self.registry.register(&mut stream, self.token, interest) {
            return self.lost(link, now, &err.to_string());
        }
        self.stream = Some(stream);
        link.handle_connected();
    }

    fn lost(&mut self, link: &mut Link, now: Instant, why: &str) {
        log::trace!(target: "nats", "connection to {} lost: {why}", self.broker);
        self.close();
        link.handle_lost(now, why);
    }

    fn close(&mut self) {
        if let Some(mut stream) = self.stream.take() {
            let _ = self.registry.deregister(&mut stream);
        }
    }
}
