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

/// A reload of a big file runs as the server's backlog, a slice a turn:
/// between any two slices, the old accounts answer every datagram; the
/// new ones take over at once after the last.
#[test]
fn a_reload_answers_every_datagram_between_its_pieces() {
    let path = std::env::temp_dir().join(format!("slices-{}.conf", std::process::id()));
    let many: String = (0..50_000).map(|n| format!("u{n:07}:p{n:07}\n")).collect();
    std::fs::write(&path, format!("alice:wonderland\n{many}")).unwrap();
    let reactor = Reactor::new().unwrap();
    let hangup = Server::catch_hangup(&reactor).unwrap();
    let (accounts, _) = Accounts::load(&path).unwrap();
    let addr = "127.0.0.1:0".parse().unwrap();
    let mut server = Server::bind(&reactor, addr, accounts, HubConfig::default()).unwrap();
    server.reload_accounts_on(hangup, path.clone());
    // The new file: alice removed, erin added.
    std::fs::write(&path, format!("{many}erin:e\n")).unwrap();
    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    client.connect(server.local_addr().unwrap()).unwrap();
    let ask = |server: &mut Server, datagram: &str| {
        client.send(datagram.as_bytes()).unwrap();
        server.on_readable(Instant::now()).unwrap();
        let mut reply = [0; 512];
        let len = client.recv(&mut reply).unwrap();
        String::from_utf8_lossy(&reply[..len]).into_owned()
    };
    let t0 = Instant::now();
    let (_, reload) = server.reload.as_mut().unwrap();
    reload.asked(t0);
    server.on_deadline(t0 + SETTLE).unwrap();
    assert!(server.has_backlog(), "the reading is the backlog");
    let reading = |server: &Server| server.reload.as_ref().unwrap().1.is_reading();
    let mut turns = 0;
    while reading(&server) {
        let alice = ask(&mut server, "alice->server#login<wonderland>");
        assert!(alice.starts_with("server->alice#Success<"), "{alice}");
        assert_eq!(server.hub().accounts().find("erin"), None, "not yet");
        server.on_backlog(Instant::now()).unwrap();
        turns += 1;
    }
    // 50,000 lines take tens of milliseconds here, in slices of one.
    assert!(turns >= 5, "{turns} turns");
    // The accounts replaced are freed in slices too.
    assert!(server.has_backlog());
    while server.has_backlog() {
        server.on_backlog(Instant::now()).unwrap();
    }
    let erin = ask(&mut server, "erin->server#login<e>");
    assert!(erin.starts_with("server->erin#Success<"), "{erin}");
    let alice = ask(&mut server, "alice->server#login<wonderland>");
    assert!(alice.contains("password does not match"), "{alice}");
    std::fs::remove_file(&path).unwrap();
}
