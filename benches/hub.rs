//! The pure hub handling one message and its receipt: no sockets, no clock.
//!
//! `cargo bench --bench hub`. One iteration is what the server does for one
//! chat message: the sender's datagram goes in, the forward and the reply
//! come out, the receiver's receipt goes in. Time moves on by a microsecond
//! each iteration and `handle_timeout` runs whenever the hub asks for it, as
//! the Reactor would call it. This is measured with 10 sessions online and
//! with 100,000, to show that the cost does not grow with the sessions.

use std::hint::black_box;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rand::rngs::StdRng;
use rand::SeedableRng;
use reactor_hub::accounts::Accounts;
use reactor_hub::hub::{Hub, HubConfig};
use reactor_hub::wire::{self, Chat, Message, MsgId, Receipt, SessionToken, Success};

/// Pairs that take turns sending, like the flood's clients.
const MAX_PAIRS: usize = 32;
const BODY: &[u8] = b"a body of exactly thirty-two b.."; // 32 bytes

struct Client {
    id: String,
    addr: SocketAddr,
    token: SessionToken,
}

/// A hub with `online` sessions logged in, and the clients that hold them.
fn hub_with_sessions(online: usize) -> (Hub, Vec<Client>, Instant) {
    let mut accounts = Accounts::default();
    for n in 0..online {
        accounts.add(&format!("user{n}"), b"pw");
    }
    let rng = Box::new(StdRng::seed_from_u64(7));
    let mut hub = Hub::with_rng(accounts, HubConfig::default(), rng);
    let now = Instant::now();
    let mut clients = Vec::with_capacity(online);
    for n in 0..online {
        let id = format!("user{n}");
        // Distinct addresses, so that each session has its own.
        let ip = Ipv4Addr::new(127, 0, (n / 50_000) as u8, 1);
        let addr = SocketAddr::from((ip, 10_000 + (n % 50_000) as u16));
        let login = format!("{id}->server#login<pw>");
        hub.handle_datagram(now, addr, login.as_bytes());
        let transmit = hub.poll_transmit().expect("a login reply");
        let Ok(Message::Success(Success { token, .. })) = wire::parse(transmit.payload) else {
            panic!("login refused");
        };
        while hub.poll_transmit().is_some() {}
        while hub.poll_event().is_some() {}
        clients.push(Client { id, addr, token });
    }
    assert_eq!(hub.stats().online, online);
    (hub, clients, now)
}

/// Writes `n` as a ten-digit message id into `out`.
fn write_msg_id(out: &mut [u8], mut n: u64) {
    for digit in out.iter_mut().rev() {
        *digit = b'0' + (n % 10) as u8;
        n /= 10;
    }
}

/// A chat datagram and its receipt, with the message id at a known offset.
struct Exchange {
    chat: Vec<u8>,
    chat_id_at: usize,
    receipt: Vec<u8>,
    receipt_id_at: usize,
    from: SocketAddr,
    to: SocketAddr,
}

fn exchange(sender: &Client, receiver: &Client) -> Exchange {
    let msg_id = MsgId::random(&mut StdRng::seed_from_u64(1));
    let chat = Message::Chat(Chat {
        from: &sender.id,
        to: &receiver.id,
        token: sender.token,
        msg_id,
        body: BODY,
    })
    .to_bytes();
    let mut receipt = Message::Receipt(Receipt {
        from: &receiver.id,
        token: receiver.token,
        msg_id,
        body: b"Success: ",
    })
    .to_bytes();
    receipt.extend_from_slice(BODY);
    let id_offset = |bytes: &[u8]| {
        let hash = bytes.iter().position(|&b| b == b'#').unwrap();
        hash + 1 + 1 + SessionToken::LEN + 1 + 1
    };
    Exchange {
        chat_id_at: id_offset(&chat),
        receipt_id_at: id_offset(&receipt),
        chat,
        receipt,
        from: sender.addr,
        to: receiver.addr,
    }
}

fn message_and_receipt(c: &mut Criterion) {
    let mut group = c.benchmark_group("hub/message_and_receipt");
    group.throughput(Throughput::Elements(1));
    for online in [10, 100_000] {
        // Built on first use, so that a filtered-out size costs nothing.
        let mut state = None;
        let mut now = Instant::now();
        let mut counter: u64 = 0;
        group.bench_function(BenchmarkId::from_parameter(online), |b| {
            let (hub, exchanges) = state.get_or_insert_with(|| {
                let (hub, clients, start) = hub_with_sessions(online);
                now = start;
                let pairs = (online / 2).min(MAX_PAIRS);
                let exchanges: Vec<Exchange> = (0..pairs)
                    .map(|p| exchange(&clients[2 * p], &clients[2 * p + 1]))
                    .collect();
                (hub, exchanges)
            });
            b.iter(|| {
                counter += 1;
                now += Duration::from_micros(1);
                let pairs = exchanges.len();
                let ex = &mut exchanges[counter as usize % pairs];
                let at = ex.chat_id_at;
                write_msg_id(&mut ex.chat[at..at + MsgId::LEN], counter);
                let at = ex.receipt_id_at;
                write_msg_id(&mut ex.receipt[at..at + MsgId::LEN], counter);

                hub.handle_datagram(now, ex.from, &ex.chat);
                while let Some(transmit) = hub.poll_transmit() {
                    black_box(transmit);
                }
                hub.handle_datagram(now, ex.to, &ex.receipt);
                while hub.poll_transmit().is_some() {}
                if hub.poll_timeout().is_some_and(|at| at <= now) {
                    hub.handle_timeout(now);
                    while hub.poll_transmit().is_some() {}
                }
                while hub.poll_event().is_some() {}
            })
        });
        if let Some((hub, _)) = &state {
            let stats = hub.stats();
            assert_eq!(stats.online, online, "nobody expired or logged off");
            assert_eq!(stats.pending, 0, "every forward was receipted");
        }
    }
    group.finish();
}

criterion_group!(benches, message_and_receipt);
criterion_main!(benches);
