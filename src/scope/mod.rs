//! The Reactor Scope: what a recording of the loop (`--record FILE`) shows.
//! For now, its events read back ([`recording`]) and drawn as a trace
//! that Perfetto's UI and `chrome://tracing` open ([`perfetto`]); the live
//! page is still to come.

pub mod perfetto;
pub mod recording;
