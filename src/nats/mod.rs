//! The broker link: a node's connection to its NATS broker, as one more
//! event source on the Reactor, beside the UDP socket. [`Link`] is the
//! sans-IO state machine; [`BrokerLink`] is its edge, a non-blocking
//! `mio::net::TcpStream`, read and written until `WouldBlock` like the rest.

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

/// The link and its TCP connection, registered under one token.
pub struct BrokerLink {
    broker: SocketAddr,
    link: Link,
    stream: Option<TcpStream>,
    token: Token,
    registry: Registry,
}

impl BrokerLink {
    /// A link to `broker`; it connects at its first deadline.
    pub fn new(
        broker: SocketAddr,
        link: Link,
        registry: &Registry,
        token: Token,
    ) -> io::Result<Self> {
        Ok(Self {
            broker,
            link,
            stream: None,
            token,
            registry: registry.try_clone()?,
        })
    }

    /// The state machine, to publish, subscribe and take events.
    pub fn link(&mut self) -> &mut Link {
        &mut self.link
    }

    /// When [`on_deadline`](Self::on_deadline) is due.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.link.poll_timeout()
    }

    /// Connects if it is time, keeps the link alive, writes what waits.
    pub fn on_deadline(&mut self, now: Instant) {
        if self.link.wants_connection(now) {
            self.connect(now);
        }
        self.link.handle_timeout(now);
        self.flush(now);
    }

    /// The connection became readable or writable (or failed).
    pub fn on_ready(&mut self, event: &Event, now: Instant) {
        if event.is_error() {
            return self.lost(now, "the connection failed");
        }
        if event.is_readable() {
            self.read(now);
        }
        self.flush(now);
    }

    /// Writes what the link queued (after publishing, say).
    pub fn flush(&mut self, now: Instant) {
        let Some(stream) = &mut self.stream else {
            return;
        };
        while !self.link.pending_write().is_empty() {
            match stream.write(self.link.pending_write()) {
                Ok(0) => return self.lost(now, "the broker closed the connection"),
                Ok(written) => self.link.written(written),
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
                Err(err) if err.kind() == io::ErrorKind::NotConnected => break,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => return self.lost(now, &err.to_string()),
            }
        }
        if self.link.is_down() {
            self.close();
        }
    }

    fn read(&mut self, now: Instant) {
        let mut chunk = [0; 16 * 1024];
        while let Some(stream) = &mut self.stream {
            match stream.read(&mut chunk) {
                Ok(0) => return self.lost(now, "the broker closed the connection"),
                Ok(len) => self.link.handle_bytes(now, &chunk[..len]),
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return,
                Err(err) if err.kind() == io::ErrorKind::NotConnected => return,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => return self.lost(now, &err.to_string()),
            }
            if self.link.is_down() {
                return self.close();
            }
        }
    }

    fn connect(&mut self, now: Instant) {
        let mut stream = match TcpStream::connect(self.broker) {
            Ok(stream) => stream,
            Err(err) => return self.lost(now, &err.to_string()),
        };
        let interest = Interest::READABLE | Interest::WRITABLE;
        if let Err(err) = self.registry.register(&mut stream, self.token, interest) {
            return self.lost(now, &err.to_string());
        }
        self.stream = Some(stream);
        self.link.handle_connected();
    }

    fn lost(&mut self, now: Instant, why: &str) {
        self.close();
        self.link.handle_lost(now, why);
    }

    fn close(&mut self) {
        if let Some(mut stream) = self.stream.take() {
            let _ = self.registry.deregister(&mut stream);
        }
    }
}
