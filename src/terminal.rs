//! The client on the Reactor: one UDP socket, standard input, the shutdown
//! sources, and the [`Client`] state machine between them.
//!
//! Every event follows the same path as in [`server`](crate::server): read
//! the input, hand it to the client with `now`, send what it queued, print
//! what it has to say.
//!
//! Standard input is read only while the client wants more lines, so a long
//! file is read at the pace of the server's replies. Because readiness is
//! edge-triggered, an event that is not acted on at once must be remembered:
//! `stdin_ready` keeps it until stdin is drained, and the Reactor comes back
//! for it as a backlog once the client wants lines again. A stdin that epoll
//! cannot watch (a regular file) is ready from the start until its end.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use mio::event::Event;
use mio::Token;

use crate::client::command::CommandError;
use crate::client::line_buffer::{Line, LineBuffer};
use crate::client::{Client, ClientConfig, ClientEvent, Notice};
use crate::reactor::shutdown::Shutdown;
use crate::reactor::stdin::{Input, Stdin, Stdout};
use crate::reactor::udp::UdpEndpoint;
use crate::reactor::{Handler, Reactor, ReadyHandler, TimerHandler};
use crate::scope::endpoint::{Mode, ScopeEndpoint};
use crate::scope::flight::FlightRecorder;
use crate::wire::{self, ReplyTo, MAX_DATAGRAM};

const UDP: Token = Token(0);
const STDIN: Token = Token(1);
const SIGNALS: Token = Token(2);
const STOP: Token = Token(3);
const SCOPE: Token = Token(4);
/// The Scope's connections get the tokens from here on.
const FIRST_SCOPE_CONNECTION: usize = 5;

/// Bytes read from stdin at a time.
const READ_CHUNK: usize = 4096;

/// A client bound to its socket and to the terminal, ready to run.
pub struct Terminal {
    client: Client,
    udp: UdpEndpoint,
    stdin: Stdin,
    stdout: Stdout,
    lines: LineBuffer,
    shutdown: Shutdown,
    /// Stop requests already handed to the client.
    interrupts: u32,
    /// Whether stdin may hold unread bytes; false once drained or ended.
    stdin_ready: bool,
    /// The socket's ICMP reports already handed to the client.
    unreachable: u64,
    /// The Reactor Scope's page, once asked for.
    scope: Option<ScopeEndpoint>,
}

impl Terminal {
    /// Binds `listen`, registers it, stdin and the shutdown sources with
    /// `reactor`, and makes a client of the hub at `server`.
    ///
    /// The login advertises the bound address; if that is the unspecified
    /// address it advertises `<0.0.0.0><PORT>`, which the hub reads as the
    /// login's source IP: right, because the client sends from this socket.
    pub fn bind(
        reactor: &Reactor,
        server: SocketAddr,
        listen: SocketAddr,
        config: ClientConfig,
    ) -> io::Result<Self> {
        let mut udp = UdpEndpoint::bind(listen, reactor.registry(), UDP)?;
        udp.set_format(MAX_DATAGRAM, wire::show_datagram);
        let local = udp.local_addr()?;
        let reply_to = if local.ip().is_unspecified() {
            ReplyTo::SourceIpAt(local.port())
        } else {
            ReplyTo::Addr(local)
        };
        // The client hears only the server anyway; connected, it also
        // hears when nothing listens there.
        udp.connect(server)?;
        let shutdown = Shutdown::register(reactor.registry(), SIGNALS, STOP)?;
        let stdin = Stdin::register(reactor.registry(), STDIN)?;
        let stdin_ready = !stdin.is_polled();
        Ok(Self {
            client: Client::new(server, reply_to, config),
            udp,
            stdin,
            stdout: Stdout::new()?,
            lines: LineBuffer::new(MAX_DATAGRAM),
            shutdown,
            interrupts: 0,
            stdin_ready,
            unreachable: 0,
            scope: None,
        })
    }

    /// Serves the Reactor Scope on `addr`, on this Reactor: the page, and
    /// the events `flight` keeps; returns the address.
    pub fn serve_scope(
        &mut self,
        reactor: &Reactor,
        addr: SocketAddr,
        flight: Arc<FlightRecorder>,
    ) -> io::Result<SocketAddr> {
        let about = ("reactor-client", Mode::Live);
        let tokens = (SCOPE, FIRST_SCOPE_CONNECTION);
        let scope = ScopeEndpoint::bind(addr, reactor.registry(), tokens, flight, about)?;
        self.scope.insert(scope).local_addr()
    }

    /// The address the client receives on.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.udp.local_addr()
    }

    /// Reads stdin while it has bytes and the client wants lines.
    fn read_stdin(&mut self, now: Instant) -> io::Result<()> {
        let mut chunk = [0; READ_CHUNK];
        while self.stdin_ready && self.client.wants_input() {
            match self.stdin.read(&mut chunk)? {
                Input::Data(len) => {
                    self.lines.push(&chunk[..len]);
                    self.take_lines(now)?;
                }
                Input::WouldBlock => self.stdin_ready = false,
                Input::End => {
                    self.stdin_ready = false;
                    self.stdin.deregister()?;
                    self.lines.finish();
                    self.take_lines(now)?;
                    self.client.handle_end_of_input(now);
                }
            }
        }
        Ok(())
    }

    /// Hands every whole line to the client.
    fn take_lines(&mut self, now: Instant) -> io::Result<()> {
        while let Some(line) = self.lines.next_line() {
            match line {
                Line::Complete(line) => self.client.handle_line(now, line),
                Line::TooLong => {
                    // After what the client has to say, to keep the order.
                    self.flush()?;
                    self.print(&Notice::Usage(CommandError::TooLong))?;
                }
            }
        }
        Ok(())
    }

    /// Tells the client if the kernel reported that nothing listens at the
    /// server's address since the last call.
    fn hand_over_unreachable(&mut self, now: Instant) {
        let reported = self.udp.stats().unreachable;
        if reported > self.unreachable {
            self.unreachable = reported;
            self.client.handle_nobody_listens(now);
        }
    }

    /// Logs what the client reported, sends what it queued, and prints
    /// what it has to say: under `--trace` a transition comes before the
    /// datagrams it sent, as in the hub's trace.
    fn flush(&mut self) -> io::Result<()> {
        while let Some(event) = self.client.poll_event() {
            match event {
                ClientEvent::Transition { .. } | ClientEvent::Received { .. } => {
                    log::trace!(target: "client", "{event}")
                }
                ClientEvent::Ignored(_) => log::debug!(target: "client", "{event}"),
            }
        }
        self.udp.send_all(self.client.outbox())?;
        while let Some(notice) = self.client.poll_notice() {
            self.print(&notice)?;
        }
        Ok(())
    }

    fn print(&mut self, notice: &Notice) -> io::Result<()> {
        self.stdout.write_all(format!("{notice}\n").as_bytes())
    }
}

impl ReadyHandler for Terminal {
    fn on_ready(&mut self, event: &Event, now: Instant) -> io::Result<()> {
        match event.token() {
            UDP => {
                if event.is_writable() {
                    self.udp.on_writable()?;
                }
                if event.is_readable() {
                    // Drain: the next event comes only for new datagrams.
                    let client = &mut self.client;
                    self.udp
                        .drain(|from, datagram| client.handle_datagram(now, from, datagram))?;
                }
            }
            STDIN => {
                self.stdin_ready = true;
                self.read_stdin(now)?;
            }
            token if self.scope.as_ref().is_some_and(|s| s.owns(token)) => {
                if let Some(scope) = &mut self.scope {
                    scope.on_ready(token, now);
                }
            }
            token => {
                self.shutdown.on_ready(token);
                while self.interrupts < self.shutdown.requests() {
                    self.interrupts += 1;
                    self.client.handle_interrupt(now);
                }
            }
        }
        self.hand_over_unreachable(now);
        self.flush()
    }

    fn source_name(&self, token: Token) -> &'static str {
        match token {
            UDP => "udp socket",
            STDIN => "stdin",
            SIGNALS => "signals",
            STOP => "stop waker",
            _ => self
                .scope
                .as_ref()
                .filter(|scope| scope.owns(token))
                .map_or("unknown", |scope| scope.source_name(token)),
        }
    }
}

impl TimerHandler for Terminal {
    fn next_deadline(&self) -> Option<Instant> {
        let scope = self.scope.as_ref().and_then(ScopeEndpoint::next_deadline);
        self.client.poll_timeout().into_iter().chain(scope).min()
    }

    fn on_deadline(&mut self, now: Instant) -> io::Result<()> {
        if let Some(scope) = &mut self.scope {
            scope.on_deadline(now);
        }
        self.client.handle_timeout(now);
        self.hand_over_unreachable(now);
        self.flush()
    }

    fn describe_deadline(&self) -> String {
        let scope = self.scope.as_ref().and_then(ScopeEndpoint::next_deadline);
        match (scope, self.client.poll_timeout()) {
            (Some(scope), client) if client.is_none_or(|client| scope < client) => {
                "a scope request's time limit".into()
            }
            _ => self.client.describe_timeout(),
        }
    }
}

impl Handler for Terminal {
    fn is_finished(&self) -> bool {
        self.client.is_finished()
    }

    /// Unread input, and a client that wants it.
    fn has_backlog(&self) -> bool {
        self.stdin_ready && self.client.wants_input()
    }

    fn on_backlog(&mut self, now: Instant) -> io::Result<()> {
        self.read_stdin(now)?;
        self.flush()
    }

    fn before_wait(&mut self) {
        if let Some(scope) = &mut self.scope {
            scope.before_wait();
        }
    }
}
