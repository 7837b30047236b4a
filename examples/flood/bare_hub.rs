//! The control experiment: a bare hub that does only the happy path, with
//! no dedupe, no timers, no logging and no Reactor: one blocking socket,
//! `recvfrom`, then the forward and the reply with two `sendto`.
//!
//! `flood --bare-hub` floods it instead of the real one. The floor says what
//! the kernel costs; the bare hub says what any hub costs on top of that on
//! this machine today (waking the clients' thread, caches shared with
//! sixty-four sockets); the real hub's figure is read against both.

use std::collections::HashMap;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use reactor_hub::wire::{
    self, Chat, Login, Logoff, Message, Outcome, Reply, SessionToken, Success, MAX_DATAGRAM,
};

use super::os::CpuSource;

/// A running bare hub.
pub struct BareHub {
    pub addr: SocketAddr,
    pub cpu: CpuSource,
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

impl BareHub {
    pub fn start() -> io::Result<Self> {
        let socket = UdpSocket::bind("127.0.0.1:0")?;
        // Wake now and then to see whether to stop.
        socket.set_read_timeout(Some(Duration::from_millis(50)))?;
        set_buffers(&socket, 4 << 20);
        let addr = socket.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let (cpu_tx, cpu_rx) = std::sync::mpsc::channel();
        let stopping = stop.clone();
        let thread = thread::Builder::new()
            .name("bare-hub".into())
            .spawn(move || {
                let _ = cpu_tx.send(CpuSource::current_thread());
                serve(&socket, &stopping);
            })?;
        let cpu = cpu_rx
            .recv()
            .map_err(|_| io::Error::other("the bare hub died while starting"))??;
        Ok(Self {
            addr,
            cpu,
            stop,
            thread,
        })
    }

    pub fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.thread.join();
    }
}

fn serve(socket: &UdpSocket, stop: &AtomicBool) {
    // Every session gets the same token: nothing is checked anyway.
    let token = SessionToken::generate(&mut rand::rng());
    let mut addrs: HashMap<String, SocketAddr> = HashMap::new();
    let mut buf = [0u8; MAX_DATAGRAM + 1];
    let mut out = Vec::with_capacity(MAX_DATAGRAM);
    let send = |out: &mut Vec<u8>, to: SocketAddr, message: Message<'_>| {
        out.clear();
        message.encode(out);
        let _ = socket.send_to(out, to);
    };
    while !stop.load(Ordering::Relaxed) {
        let Ok((len, source)) = socket.recv_from(&mut buf) else {
            continue;
        };
        match wire::parse(&buf[..len]) {
            Ok(Message::Login(Login { from, reply_to, .. })) => {
                let addr = reply_to.resolve(source).unwrap_or(source);
                addrs.insert(from.to_string(), addr);
                send(
                    &mut out,
                    addr,
                    Message::Success(Success { to: from, token }),
                );
            }
            Ok(Message::Logoff(Logoff { from, .. })) => {
                let addr = addrs.get(from).copied().unwrap_or(source);
                send(
                    &mut out,
                    addr,
                    Message::Success(Success { to: from, token }),
                );
            }
            Ok(Message::Chat(Chat {
                from,
                to,
                msg_id,
                body,
                ..
            })) => {
                if let Some(&dest) = addrs.get(to) {
                    let forward = Message::Chat(Chat {
                        from,
                        to,
                        token,
                        msg_id,
                        body,
                    });
                    send(&mut out, dest, forward);
                }
                let reply = Message::Reply(Reply {
                    to: from,
                    token,
                    msg_id,
                    outcome: Outcome::Accepted(body),
                });
                let addr = addrs.get(from).copied().unwrap_or(source);
                send(&mut out, addr, reply);
            }
            _ => {}
        }
    }
}

fn set_buffers(socket: &UdpSocket, bytes: libc::c_int) {
    for option in [libc::SO_RCVBUF, libc::SO_SNDBUF] {
        // SAFETY: a valid socket and a c_int option value that outlives the call.
        unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                libc::SOL_SOCKET,
                option,
                (&bytes as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
    }
}
