use crate::reactor::mmsg;
use std::net::UdpSocket;

use super::*;

fn server() -> (Reactor, Server) {
    let reactor = Reactor::new().unwrap();
    let addr = "127.0.0.1:0".parse().unwrap();
    let server = Server::bind(&reactor, addr, Accounts::default(), HubConfig::default()).unwrap();
    (reactor, server)
}

#[test]
fn a_flood_is_read_in_turns_that_leave_room_for_timers_and_signals() {
    let (_reactor, mut server) = server();
    // Two batches a turn, so that the socket's default buffer holds a flood
    // of several turns.
    server.batches_per_turn = 2;
    let turn = 2 * mmsg::BATCH;
    let flood = 2 * turn + 10;
    let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
    for _ in 0..flood {
        sender
            .send_to(b"not a message", server.local_addr().unwrap())
            .unwrap();
    }
    // Loopback queues a datagram during `send_to`: all of them wait now.
    let received = |server: &Server| server.udp().stats().received as usize;

    server.on_readable(Instant::now()).unwrap();
    assert_eq!(received(&server), turn);
    assert!(
        server.has_backlog(),
        "the Reactor must come back for the rest"
    );

    server.on_backlog(Instant::now()).unwrap();
    assert_eq!(received(&server), 2 * turn);
    server.on_backlog(Instant::now()).unwrap();
    assert_eq!(received(&server), flood);
    assert!(!server.has_backlog(), "drained");
}
