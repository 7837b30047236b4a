//! The Reactor Scope: the loop turn by turn, in a browser.
//!
//! - [`flight`]: the flight recorder, the last events kept for the pages;
//! - [`endpoint`]: the page and its stream of events, served on the
//!   program's own Reactor (`--scope ADDR`);
//! - [`recording`]: a recording (`--record FILE`) read back, and
//!   [`replay`]: served the same way (`cargo run --example scope -- FILE`);
//! - [`perfetto`]: a recording drawn as a trace that Perfetto's UI and
//!   `chrome://tracing` open.

pub mod endpoint;
pub mod flight;
pub mod perfetto;
pub mod recording;
pub mod replay;
