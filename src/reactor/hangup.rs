//! SIGHUP as an event of the Reactor: by convention, "read your
//! configuration again". It arrives through a self-pipe that
//! signal-hook-mio registers, like Ctrl-C and SIGTERM (`shutdown`).

use std::io;

use mio::{Interest, Registry, Token};
use signal_hook::consts::SIGHUP;
use signal_hook_mio::v1_0::Signals;

/// The SIGHUP source.
pub struct Hangup {
    signals: Signals,
    token: Token,
}

impl Hangup {
    /// Registers SIGHUP under `token`. From here on SIGHUP no longer ends
    /// the process: it is only an event.
    pub fn register(registry: &Registry, token: Token) -> io::Result<Self> {
        let mut signals = Signals::new([SIGHUP])?;
        registry.register(&mut signals, token, Interest::READABLE)?;
        Ok(Self { signals, token })
    }

    /// Handles an event if it is ours: whether a SIGHUP arrived (several
    /// close together count as one).
    pub fn on_ready(&mut self, token: Token) -> bool {
        token == self.token && self.signals.pending().count() > 0
    }
}
