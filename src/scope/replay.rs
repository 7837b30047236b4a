//! A recording served as the live Scope serves a run: the same page, and a
//! stream of every recorded event (`cargo run --example scope -- FILE`).
//! The loop has two sources, the page's listener (with its connections)
//! and Ctrl-C.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use mio::event::Event;
use mio::Token;

use super::endpoint::{Mode, ScopeEndpoint};
use super::flight::FlightRecorder;
use super::recording;
use crate::reactor::on_thread::Listening;
use crate::reactor::shutdown::{Shutdown, StopHandle};
use crate::reactor::{Handler, Reactor, ReadyHandler, TimerHandler};

const SIGNALS: Token = Token(0);
const STOP: Token = Token(1);
const SCOPE: Token = Token(2);
const FIRST_CONNECTION: usize = 3;

/// The page over a recording, ready to run.
pub struct Replay {
    scope: ScopeEndpoint,
    shutdown: Shutdown,
}

impl Replay {
    /// Serves `events` on `addr`, with `reactor`: all of them, in order,
    /// to each page that asks.
    pub fn bind(
        reactor: &Reactor,
        addr: SocketAddr,
        events: &[recording::Event],
    ) -> io::Result<Self> {
        let flight = Arc::new(FlightRecorder::new(events.len()));
        for event in events {
            flight.push(&event.to_string());
        }
        // A client's recording has lines of its own; the page shows either.
        let program = match events.iter().any(|event| event.target == "client") {
            true => "reactor-client",
            false => "reactor-server",
        };
        let registry = reactor.registry();
        let shutdown = Shutdown::register(registry, SIGNALS, STOP)?;
        let tokens = (SCOPE, FIRST_CONNECTION);
        let scope = ScopeEndpoint::bind(addr, registry, tokens, flight, (program, Mode::Replay))?;
        Ok(Self { scope, shutdown })
    }
}

impl ReadyHandler for Replay {
    fn on_ready(&mut self, event: &Event, now: Instant) -> io::Result<()> {
        match event.token() {
            token if self.scope.owns(token) => self.scope.on_ready(token, now),
            token => {
                self.shutdown.on_ready(token);
            }
        }
        Ok(())
    }
}

impl TimerHandler for Replay {
    fn next_deadline(&self) -> Option<Instant> {
        self.scope.next_deadline()
    }

    fn on_deadline(&mut self, now: Instant) -> io::Result<()> {
        self.scope.on_deadline(now);
        Ok(())
    }
}

impl Handler for Replay {
    fn is_finished(&self) -> bool {
        self.shutdown.requested()
    }

    fn before_wait(&mut self) {
        self.scope.before_wait();
    }
}

impl Listening for Replay {
    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.scope.local_addr()
    }

    fn stop_handle(&self) -> StopHandle {
        self.shutdown.stop_handle()
    }
}
