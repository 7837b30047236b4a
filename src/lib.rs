//! reactor-hub: a UDP chat hub and its terminal client, built as a
//! single-threaded Reactor on mio.
//!
//! The crate is layered so that each layer can be read (and tested) alone:
//!
//! | layer | where | touches the OS? |
//! | --- | --- | --- |
//! | wire format | [`wire`] | no: bytes in, typed messages out |
//! | datagrams to send | [`outbox`] | no: what a state machine encodes and the socket sends from |
//! | accounts file | [`accounts`] | reads one file at start |
//! | server session state machine | [`hub`] | no: `(now, from, datagram)` in, datagrams and a deadline out |
//! | client session state machine | [`client`] | no: typed lines, datagrams and `now` in; datagrams, a deadline and notices out |
//! | a hub's part in a cluster | [`cluster`] | no: the broker's bytes and `now` in; bytes to write, a deadline and events for the hub out |
//! | the Reactor | [`reactor`] | yes: the event loop, the sockets, stdin and signals; it knows no message format |
//! | the programs on the Reactor | [`server`], [`terminal`] | yes: wire a state machine to its sources (mio tokens, the clock in a long drain) |
//! | a link to a NATS broker | [`nats`] | a sans-IO state machine ([`nats::Link`]) and its TCP edge on the Reactor |
//! | a lossy relay for tests | [`relay`] | yes: a second small Reactor program, its faults decided by a seeded, pure [`relay::FaultInjector`] |
//! | the binaries | `src/bin/`, [`cli`], [`logging`] | flags, logging, exit codes |

pub mod accounts;
pub mod cli;
pub mod client;
pub mod cluster;
pub mod hub;
pub mod json;
pub mod logging;
pub mod nats;
pub mod outbox;
pub mod reactor;
pub mod relay;
pub mod scope;
pub mod server;
/// A seeded simulation of a cluster: nodes, broker and people in memory.
#[cfg(test)]
mod simulation;
pub mod terminal;
pub mod timers;
pub mod wire;
