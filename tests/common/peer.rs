//! One client of a test, speaking UDP to the real hub by hand.

use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use super::{udp_socket, PATIENCE};

/// One client of the test: the socket it sends from, and the one it receives on.
pub struct Peer {
    tx: UdpSocket,
    rx: UdpSocket,
    hub: SocketAddr,
}

impl Peer {
    /// A client that sends and receives on one socket.
    pub fn new(hub: SocketAddr) -> Self {
        let rx = udp_socket();
        Self {
            tx: rx.try_clone().unwrap(),
            rx,
            hub,
        }
    }

    /// A client that sends from one socket and receives on another.
    pub fn split(hub: SocketAddr) -> Self {
        Self {
            tx: udp_socket(),
            rx: udp_socket(),
            hub,
        }
    }

    pub fn send(&self, text: &str) {
        self.tx.send_to(text.as_bytes(), self.hub).unwrap();
    }

    pub fn send_bytes(&self, bytes: &[u8]) {
        self.tx.send_to(bytes, self.hub).unwrap();
    }

    pub fn recv(&self) -> String {
        let mut buf = [0; 2048];
        let (len, _) = self.rx.recv_from(&mut buf).expect("a reply from the hub");
        String::from_utf8_lossy(&buf[..len]).into_owned()
    }

    /// The next datagram if one comes within `wait` (at least a
    /// millisecond), else `None`: for a test that must see that nothing
    /// comes, or that resends while it waits.
    pub fn recv_within(&self, wait: Duration) -> Option<String> {
        self.rx
            .set_read_timeout(Some(wait.max(Duration::from_millis(1))))
            .unwrap();
        let mut buf = [0; 2048];
        let got = self.rx.recv_from(&mut buf);
        self.rx.set_read_timeout(Some(PATIENCE)).unwrap();
        match got {
            Ok((len, _)) => Some(String::from_utf8_lossy(&buf[..len]).into_owned()),
            Err(err) if matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => None,
            Err(err) => panic!("reading the test socket: {err}"),
        }
    }

    /// Logs in, naming the receiving socket's address; returns the token.
    pub fn login(&self, id: &str, password: &str) -> String {
        let addr = self.rx.local_addr().unwrap();
        self.send(&format!(
            "{id}->server#login<{password}><{}><{}>",
            addr.ip(),
            addr.port()
        ));
        let reply = self.recv();
        let token = reply
            .strip_prefix(&format!("server->{id}#Success<"))
            .and_then(|rest| rest.strip_suffix('>'))
            .unwrap_or_else(|| panic!("login refused: {reply}"));
        assert_eq!(token.len(), 6);
        token.to_string()
    }
}
