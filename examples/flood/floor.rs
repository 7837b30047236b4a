//! The floor: what the kernel alone costs for the datagrams one hub message
//! needs. The hub receives the message, sends the forward and the reply, and
//! receives the receipt: 2 `recvfrom` and 2 `sendto`. Here one thread does
//! exactly that on two loopback sockets, with datagrams of the same sizes,
//! and its CPU time per round is the least a hub on these sockets could cost.

use std::io;
use std::net::UdpSocket;
use std::thread;
use std::time::{Duration, Instant};

use super::os::CpuSource;

/// CPU time of one round of 2 `sendto` + 2 `recvfrom`.
#[derive(Clone, Copy, Debug)]
pub struct Floor {
    pub per_round: Duration,
    pub rounds: u64,
}

/// Runs rounds for about `wall` of wall time; `request` and `reply` are the
/// sizes of the two datagrams (a chat message and the hub's reply to it).
pub fn measure(request: usize, reply: usize, wall: Duration) -> io::Result<Floor> {
    let a = UdpSocket::bind("127.0.0.1:0")?;
    let b = UdpSocket::bind("127.0.0.1:0")?;
    let (a_addr, b_addr) = (a.local_addr()?, b.local_addr()?);
    let request = vec![b'x'; request];
    let reply = vec![b'y'; reply];
    let mut buf = [0u8; reactor_hub::wire::MAX_DATAGRAM + 1];
    let cpu = CpuSource::current_thread()?;

    // Sleeping makes the scheduler bring the thread's CPU time up to date;
    // without it, the count can lag the truth by a scheduler tick.
    thread::sleep(Duration::from_millis(1));
    let start_cpu = cpu.cpu_time()?;
    let start = Instant::now();
    let mut rounds = 0;
    while start.elapsed() < wall {
        for _ in 0..1_000 {
            a.send_to(&request, b_addr)?;
            b.recv_from(&mut buf)?;
            b.send_to(&reply, a_addr)?;
            a.recv_from(&mut buf)?;
        }
        rounds += 1_000;
    }
    thread::sleep(Duration::from_millis(1));
    let used = cpu.cpu_time()? - start_cpu;
    Ok(Floor {
        per_round: Duration::from_secs_f64(used.as_secs_f64() / rounds as f64),
        rounds,
    })
}
