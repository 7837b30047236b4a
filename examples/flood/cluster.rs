//! What a `--cluster` run adds: a `nats-server` on a free loopback port
//! (`examples/common/nats_server.rs`; its CPU time read from `/proc` like a
//! node's), and a probe that waits until the two nodes reach each other
//! through it.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use reactor_hub::wire::{
    self, Chat, Login, Logoff, Message, MsgId, Outcome, Receipt, Reply, ReplyTo, SessionToken,
    Success,
};

use super::nats_server::{free_addr, NatsServer};
use super::users::User;

/// The broker of a run, on a free loopback port, on at most `cores` cores
/// at once (`None`: every core).
pub fn start_broker(cores: Option<usize>) -> Result<NatsServer, String> {
    let addr = free_addr().map_err(|err| format!("no free port for nats-server: {err}"))?;
    NatsServer::start(addr, cores)
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
    loop {
        let msg_id = MsgId::random(&mut rand::rng());
        let chat = Message::Chat(Chat {
            from: &sender.id,
            to: &receiver.id,
            token: sender.token,
            msg_id,
            body: b"probe",
        });
        let reply = sender.ask(&chat, deadline)?;
        if let Ok(Message::Reply(Reply {
            outcome: Outcome::Accepted(_),
            ..
        })) = wire::parse(&reply)
        {
            // The forward waits for the receiver: receipt it.
            if let Ok(Message::Chat(forward)) = wire::parse(&receiver.read(deadline)?) {
                receiver.send(&Message::Receipt(Receipt {
                    from: &receiver.id,
                    token: receiver.token,
                    msg_id: forward.msg_id,
                    body: b"Success: probe",
                }))?;
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
    token: SessionToken,
}

impl ProbeClient {
    fn log_in(hub: SocketAddr, user: &User, deadline: Instant) -> Result<Self, String> {
        let socket = UdpSocket::bind("127.0.0.1:0").map_err(probe_error)?;
        socket
            .set_read_timeout(Some(Duration::from_millis(200)))
            .map_err(probe_error)?;
        let login = Message::Login(Login {
            from: &user.id,
            password: user.password.as_bytes(),
            reply_to: ReplyTo::Source,
        });
        let mut client = Self {
            socket,
            hub,
            id: user.id.clone(),
            token: wire::ANY_TOKEN,
        };
        let reply = client.ask(&login, deadline)?;
        let Ok(Message::Success(Success { token, .. })) = wire::parse(&reply) else {
            let reply = String::from_utf8_lossy(&reply);
            return Err(format!("cluster probe: login answered {reply:?}"));
        };
        client.token = token;
        Ok(client)
    }

    fn log_off(&self, deadline: Instant) -> Result<(), String> {
        let logoff = Message::Logoff(Logoff {
            from: &self.id,
            token: self.token,
        });
        self.ask(&logoff, deadline).map(drop)
    }

    /// Sends `message` until a reply comes.
    fn ask(&self, message: &Message<'_>, deadline: Instant) -> Result<Vec<u8>, String> {
        loop {
            self.send(message)?;
            match self.read(deadline) {
                Err(err) if Instant::now() < deadline => drop(err),
                other => return other,
            }
        }
    }

    fn send(&self, message: &Message<'_>) -> Result<(), String> {
        self.socket
            .send_to(&message.to_bytes(), self.hub)
            .map(drop)
            .map_err(probe_error)
    }

    /// The next datagram, within one read timeout.
    fn read(&self, deadline: Instant) -> Result<Vec<u8>, String> {
        if Instant::now() > deadline {
            return Err("the cluster's nodes did not reach each other within 10 s".into());
        }
        let mut buf = [0; 2048];
        let len = self.socket.recv(&mut buf).map_err(probe_error)?;
        Ok(buf[..len].to_vec())
    }
}

fn probe_error(err: std::io::Error) -> String {
    format!("cluster probe: {err}")
}
