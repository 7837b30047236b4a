//! Stopping the loop cleanly: Ctrl-C and SIGTERM arrive as events of the
//! Reactor (through a self-pipe that signal-hook-mio registers), and another
//! thread can ask for a stop through a `mio::Waker`.

use std::io;
use std::sync::Arc;

use mio::{Registry, Token, Waker};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook_mio::v1_0::Signals;

/// The sources that ask a program to stop.
pub struct Shutdown {
    signals: Signals,
    signal_token: Token,
    waker: Arc<Waker>,
    waker_token: Token,
    /// Stop requests so far: signals and wakes.
    requests: u32,
}

/// Lets another thread stop a running program.
#[derive(Clone)]
pub struct StopHandle(Arc<Waker>);

impl StopHandle {
    /// Asks the program to stop; it does so at its next turn of the loop.
    pub fn stop(&self) -> io::Result<()> {
        self.0.wake()
    }
}

impl Shutdown {
    /// Registers SIGINT/SIGTERM under `signal_token` and a waker under `waker_token`.
    pub fn register(
        registry: &Registry,
        signal_token: Token,
        waker_token: Token,
    ) -> io::Result<Self> {
        let mut signals = Signals::new([SIGINT, SIGTERM])?;
        registry.register(&mut signals, signal_token, mio::Interest::READABLE)?;
        Ok(Self {
            signals,
            signal_token,
            waker: Arc::new(Waker::new(registry, waker_token)?),
            waker_token,
            requests: 0,
        })
    }

    pub fn stop_handle(&self) -> StopHandle {
        StopHandle(self.waker.clone())
    }

    /// Handles an event if it is one of ours; returns whether it was.
    pub fn on_ready(&mut self, token: Token) -> bool {
        if token == self.signal_token {
            for signal in self.signals.pending() {
                log::info!("received signal {signal}, stopping");
                self.requests += 1;
            }
            true
        } else if token == self.waker_token {
            log::debug!("stop requested");
            self.requests += 1;
            true
        } else {
            false
        }
    }

    /// Whether a stop was asked for.
    pub fn requested(&self) -> bool {
        self.requests > 0
    }

    /// How many stops were asked for: a program that winds down before it
    /// stops (the client logs off) takes a second request as "now".
    pub fn requests(&self) -> u32 {
        self.requests
    }
}
