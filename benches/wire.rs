//! Parse and encode of every message kind of the contract.
//!
//! `cargo bench --bench wire`. Each message is parsed from the bytes a peer
//! would send, and encoded into a buffer that is cleared and reused, as the
//! hub's outbox does.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use reactor_hub::wire::{self, Message};

/// One datagram of every kind, with a 32-byte body where there is one.
const SAMPLES: &[(&str, &[u8])] = &[
    ("login", b"alice->server#login<secret-pw>"),
    (
        "login_addr",
        b"alice->server#login<secret-pw><127.0.0.1><40001>",
    ),
    ("logoff", b"alice->server#logoff<Ab3$x~>"),
    (
        "chat",
        b"alice->bob#<Ab3$x~><0123456789>a body of exactly thirty-two b.",
    ),
    (
        "receipt",
        b"bob->server#<Zz9@q_><0123456789>Success: a body of exactly thirty-two b.",
    ),
    ("success", b"server->alice#Success<Ab3$x~>"),
    (
        "password_mismatch",
        b"server->alice#Error: password does not match!",
    ),
    ("log_in_again", b"server->alice#Error: please log in again!"),
    (
        "reply_accepted",
        b"server->alice#<Ab3$x~><0123456789>Success: a body of exactly thirty-two b.",
    ),
    (
        "reply_token_error",
        b"server->alice#<Ab3$x~><0123456789>Error: token error!",
    ),
    (
        "reply_offline",
        b"server->alice#<Ab3$x~><0123456789>Error: destination offline!",
    ),
    (
        "reply_log_in_again",
        b"server->alice#<Ab3$x~><0123456789>Error: please log in again!",
    ),
];

fn parse(c: &mut Criterion) {
    let mut group = c.benchmark_group("parse");
    group.throughput(Throughput::Elements(1));
    for (name, datagram) in SAMPLES {
        group.bench_function(*name, |b| {
            b.iter(|| wire::parse(black_box(datagram)).expect("a valid sample"))
        });
    }
    group.finish();
}

fn encode(c: &mut Criterion) {
    let mut group = c.benchmark_group("encode");
    group.throughput(Throughput::Elements(1));
    let mut out = Vec::with_capacity(wire::MAX_DATAGRAM);
    for (name, datagram) in SAMPLES {
        let message: Message<'_> = wire::parse(datagram).expect("a valid sample");
        assert_eq!(message.to_bytes(), *datagram, "{name} round-trips");
        group.bench_function(*name, |b| {
            b.iter(|| {
                out.clear();
                black_box(&message).encode(&mut out);
                black_box(out.len())
            })
        });
    }
    group.finish();
}

criterion_group!(benches, parse, encode);
criterion_main!(benches);
