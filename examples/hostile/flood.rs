//! The flood: one thread sending hostile datagrams from many loopback
//! addresses at a set rate.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use rand::{Rng, RngCore};
use reactor_hub::wire::MAX_DATAGRAM;

/// The flood: one thread sending a mix of hostile datagrams from many
/// loopback addresses, paced to a rate.
pub struct Flood {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<FloodResult>,
}

pub struct FloodResult {
    pub sent: u64,
    pub errors: u64,
    pub elapsed: Duration,
}

impl Flood {
    pub fn start(hub: SocketAddr, sources: u8, rate: u64, no_forged_ids: bool) -> io::Result<Self> {
        let mut sockets = Vec::new();
        for n in 0..sources {
            // Loopback only: 127.0.0.2 to 127.0.0.250.
            let ip = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2 + n));
            let socket = UdpSocket::bind((ip, 0))?;
            socket.set_nonblocking(true)?;
            sockets.push(socket);
        }
        let carol_token = log_carol_in(&sockets[0], hub)?;
        let datagrams = hostile_datagrams(no_forged_ids, &carol_token);
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = thread::spawn(move || {
            let started = Instant::now();
            let (mut sent, mut errors) = (0u64, 0u64);
            let mut next = 0usize;
            while !stopped.load(Ordering::Relaxed) {
                // Paced by the millisecond: what the rate allows so far.
                let allowed = match rate {
                    0 => sent + 1024,
                    rate => (started.elapsed().as_secs_f64() * rate as f64) as u64,
                };
                if sent >= allowed {
                    thread::sleep(Duration::from_millis(1));
                    continue;
                }
                while sent < allowed {
                    let socket = &sockets[next % sockets.len()];
                    let datagram = &datagrams[next % datagrams.len()];
                    next = next.wrapping_add(1);
                    sent += 1;
                    if socket.send_to(datagram, hub).is_err() {
                        errors += 1;
                    }
                    if sent % 4096 == 0 {
                        // What the hub answers is of no interest: read it
                        // now and then so that it does not pile up.
                        let mut sink = [0; 64];
                        for socket in &sockets {
                            while socket.recv_from(&mut sink).is_ok() {}
                        }
                    }
                }
            }
            FloodResult {
                sent,
                errors,
                elapsed: started.elapsed(),
            }
        });
        Ok(Self { stop, thread })
    }

    pub fn stop(self) -> FloodResult {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("the flood thread")
    }
}

/// The mix the flood cycles through (prime-sized, so that it does not stay
/// in step with the sources).
fn hostile_datagrams(no_forged_ids: bool, carol_token: &str) -> Vec<Vec<u8>> {
    let mut rng = rand::rng();
    let token = |rng: &mut rand::rngs::ThreadRng| -> String {
        (0..6)
            .map(|_| rng.sample(rand::distr::Alphanumeric) as char)
            .collect()
    };
    let msg_id = |rng: &mut rand::rngs::ThreadRng| -> String {
        (0..10)
            .map(|_| char::from(b'0' + rng.random_range(0..10)))
            .collect()
    };
    let mut all: Vec<Vec<u8>> = Vec::new();
    while all.len() < 251 {
        let mut garbage = vec![0u8; rng.random_range(1..200)];
        rng.fill_bytes(&mut garbage);
        let (t, m) = (token(&mut rng), msg_id(&mut rng));
        let guess = token(&mut rng);
        let n = all.len();
        let kinds = [
            garbage,
            vec![b'x'; MAX_DATAGRAM + 1 + n],
            format!("alice->server#login<{guess}>").into_bytes(),
            format!("dave->server#login<{guess}>").into_bytes(),
            format!("bob->server#login<{guess}><127.0.0.1><9>").into_bytes(),
            format!("nobody{n}->server#login<{guess}>").into_bytes(),
            format!("alice->bob#<{t}><{m}>forged, wrong token").into_bytes(),
            format!("bob->alice#<{t}><{m}>forged, wrong token").into_bytes(),
            format!("mallory{n}->bob#<{t}><{m}>never logged in").into_bytes(),
            format!("bob->server#<{t}><{m}>Success: forged receipt").into_bytes(),
            format!("server->alice#Success<{t}>").into_bytes(),
            format!("alice->server#logoff<{t}>").into_bytes(),
            b"x->server#login<><::1><1>".to_vec(),
            format!("carol->server#login<c4r0l><::1><{}>", 1 + n).into_bytes(),
            longest_to_self(carol_token, &m),
        ];
        let answered_at_their_address = |d: &Vec<u8>| d.ends_with(b"forged, wrong token");
        all.extend(
            kinds
                .into_iter()
                .filter(|d| !(no_forged_ids && answered_at_their_address(d))),
        );
    }
    all.truncate(251);
    all
}

/// Logs carol in from `socket`, blocking; returns her token.
pub fn log_carol_in(socket: &UdpSocket, hub: SocketAddr) -> io::Result<String> {
    socket.set_nonblocking(false)?;
    socket.set_read_timeout(Some(Duration::from_secs(5)))?;
    socket.send_to(b"carol->server#login<c4r0l>", hub)?;
    let mut buf = [0; 64];
    let (len, _) = socket.recv_from(&mut buf)?;
    socket.set_nonblocking(true)?;
    let reply = String::from_utf8_lossy(&buf[..len]).into_owned();
    reply
        .strip_prefix("server->carol#Success<")
        .and_then(|rest| rest.strip_suffix('>'))
        .map(str::to_owned)
        .ok_or_else(|| io::Error::other(format!("carol's login answered {reply:?}")))
}

/// A 1024-byte message from carol to herself: its forward fits exactly,
/// and the hub's `Success: BODY` echo would not if the hub did not cut it.
fn longest_to_self(token: &str, msg_id: &str) -> Vec<u8> {
    let mut message = format!("carol->carol#<{token}><{msg_id}>").into_bytes();
    message.resize(MAX_DATAGRAM, b'L');
    message
}
