//! What a `--cluster` run adds: a `nats-server` on a free loopback port
//! (`examples/common/nats_server.rs`; its CPU time read from `/proc` like a
//! node's), and a probe that waits until the two nodes reach each other
//! through it.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use super::nats_server::{free_addr, NatsServer};
use super::users::User;

/// The broker of a run, on a free loopback port.
pub fn start_broker() -> Result<NatsServer, String> {
    let addr = free_addr().map_err(|err| format!("no free port for nats-server: {err}"))?;
    NatsServer::start(addr)
        .map_err(|err| format!("cannot start nats-server: {err} (apt-get install nats-server)"))
}

/// Waits until a message from `sender` at node `a` reaches `receiver` at
/// node `b` (both links are up and subscribed), then logs both off: the
/// flood's own logins start from a quiet cluster.
pub fn wait_until_nodes_meet(
    a: SocketAddr,
    b: SocketAddr,
    sender: &User,
    receiver: &User,
) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let sender = ProbeClient::log_in(a, sender, deadline)?;
    let receiver = ProbeClient::log_in(b, receiver, deadline)?;
    for n in 0u64.. {
        let text = format!(
            "{}->{}#<{}><{n:010}>probe",
            sender.id, receiver.id, sender.token
        );
        if sender.ask(&text, deadline)?.contains("Success") {
            // The forward waits for the receiver: receipt it.
            let forward = receiver.read(deadline)?;
            let msg_id = format!("<{n:010}>");
            if forward.contains(&msg_id) {
                receiver.send(&format!(
                    "{}->server#<{}>{msg_id}Success: probe",
                    receiver.id, receiver.token
                ))?;
            }
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    sender.log_off(deadline)?;
    receiver.log_off(deadline)
}

/// One user of the probe, on a socket of its own.
struct ProbeClient {
    socket: UdpSocket,
    hub: SocketAddr,
    id: String,
    token: String,
}

impl ProbeClient {
    fn log_in(hub: SocketAddr, user: &User, deadline: Instant) -> Result<Self, String> {
        let socket = UdpSocket::bind("127.0.0.1:0").map_err(probe_error)?;
        socket
            .set_read_timeout(Some(Duration::from_millis(200)))
            .map_err(probe_error)?;
        let mut client = Self {
            socket,
            hub,
            id: user.id.clone(),
            token: String::new(),
        };
        let reply = client.ask(
            &format!("{}->server#login<{}>", user.id, user.password),
            deadline,
        )?;
        client.token = reply
            .strip_prefix(&format!("server->{}#Success<", user.id))
            .and_then(|rest| rest.strip_suffix('>'))
            .ok_or(format!("cluster probe: login answered {reply:?}"))?
            .to_owned();
        Ok(client)
    }

    fn log_off(&self, deadline: Instant) -> Result<(), String> {
        self.ask(
            &format!("{}->server#logoff<{}>", self.id, self.token),
            deadline,
        )
        .map(drop)
    }

    /// Sends `text` until a reply comes.
    fn ask(&self, text: &str, deadline: Instant) -> Result<String, String> {
        loop {
            self.send(text)?;
            match self.read(deadline) {
                Err(err) if Instant::now() < deadline => drop(err),
                other => return other,
            }
        }
    }

    fn send(&self, text: &str) -> Result<(), String> {
        self.socket
            .send_to(text.as_bytes(), self.hub)
            .map(drop)
            .map_err(probe_error)
    }

    /// The next datagram, within one read timeout.
    fn read(&self, deadline: Instant) -> Result<String, String> {
        if Instant::now() > deadline {
            return Err("the cluster's nodes did not reach each other within 10 s".into());
        }
        let mut buf = [0; 2048];
        let len = self.socket.recv(&mut buf).map_err(probe_error)?;
        Ok(String::from_utf8_lossy(&buf[..len]).into_owned())
    }
}

fn probe_error(err: std::io::Error) -> String {
    format!("cluster probe: {err}")
}
