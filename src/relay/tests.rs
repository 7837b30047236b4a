//! The relay over real sockets on loopback, with no faults: what it rewrites
//! and where it sends things.

use std::net::UdpSocket;
use std::time::Duration;

use super::*;
use crate::reactor::on_thread::OnThread;

fn socket() -> UdpSocket {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    socket
}

fn recv(socket: &UdpSocket) -> (String, SocketAddr) {
    let mut buf = [0; 2048];
    let (len, from) = socket.recv_from(&mut buf).expect("a datagram");
    (String::from_utf8_lossy(&buf[..len]).into_owned(), from)
}

/// A relay with no faults in front of `hub`, on its own thread.
fn start(hub: SocketAddr) -> OnThread<Relay> {
    OnThread::start("relay", move |reactor| {
        let config = RelayConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            hub,
            faults: Faults::NONE,
            seed: 1,
            max_clients: 2,
        };
        Relay::bind(reactor, config)
    })
    .unwrap()
}

#[test]
fn logins_are_rewritten_to_the_upstream_socket_and_replies_go_where_the_client_receives() {
    let hub = socket();
    let relay = start(hub.local_addr().unwrap());
    let front = relay.addr;

    // Alice sends from one socket and receives on another.
    let (alice_tx, alice_rx) = (socket(), socket());
    let rx = alice_rx.local_addr().unwrap();
    let login = format!("alice->server#login<pw><{}><{}>", rx.ip(), rx.port());
    alice_tx.send_to(login.as_bytes(), front).unwrap();
    let (seen, upstream) = recv(&hub);
    assert_eq!(
        seen,
        format!(
            "alice->server#login<pw><{}><{}>",
            upstream.ip(),
            upstream.port()
        ),
        "the hub is told to reply to the relay's socket for alice"
    );
    assert_ne!(upstream, alice_tx.local_addr().unwrap());

    hub.send_to(b"server->alice#Success<abcdef>", upstream)
        .unwrap();
    assert_eq!(
        recv(&alice_rx),
        ("server->alice#Success<abcdef>".into(), front),
        "back at the address alice named, from the address she sends to"
    );

    // Everything else passes unchanged, from the same upstream socket.
    alice_tx
        .send_to(b"alice->bob#<abcdef><0123456789>hi", front)
        .unwrap();
    assert_eq!(
        recv(&hub),
        ("alice->bob#<abcdef><0123456789>hi".into(), upstream)
    );

    // Bob, with one socket and the short login, gets a socket of his own.
    let bob = socket();
    bob.send_to(b"bob->server#login<pw>", front).unwrap();
    let (seen, bob_upstream) = recv(&hub);
    assert_ne!(bob_upstream, upstream);
    assert_eq!(
        seen,
        format!("bob->server#login<pw><127.0.0.1><{}>", bob_upstream.port())
    );
    hub.send_to(b"server->bob#Success<ghijkl>", bob_upstream)
        .unwrap();
    assert_eq!(recv(&bob), ("server->bob#Success<ghijkl>".into(), front));

    // A third client is past max_clients; a stranger writing to an upstream
    // socket is not the hub. Neither is passed on.
    let carol = socket();
    carol.send_to(b"carol->server#login<pw>", front).unwrap();
    socket()
        .send_to(b"server->bob#Success<forged>", bob_upstream)
        .unwrap();
    // A marker that does pass, sent after both: when it arrives, they were seen.
    bob.send_to(b"marker", front).unwrap();
    assert_eq!(recv(&hub).0, "marker");

    let stats = relay.stop().unwrap().stats();
    assert_eq!((stats.clients, stats.refused), (2, 1));
    assert_eq!(stats.to_hub.datagrams, 4);
    assert_eq!(stats.to_clients.datagrams, 2);
    assert_eq!(stats.held, 0);
    // Read in the same turn as the marker, at the latest: both were queued
    // on their sockets before it was sent.
    assert_eq!(stats.strangers, 1);
    bob.set_nonblocking(true).unwrap();
    assert!(
        bob.recv_from(&mut [0; 64]).is_err(),
        "the forgery reached bob"
    );
}
