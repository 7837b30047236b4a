//! A UDP socket in the Reactor: receives until `WouldBlock`, and queues what
//! it cannot send yet instead of dropping it or spinning.

use std::cell::Cell;
use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;

use mio::net::UdpSocket;
use mio::{Interest, Registry, Token};

use super::mmsg::{self, RecvBatch};
use crate::outbox::Outbox;

/// Datagrams that may wait for the socket to become writable. Past this the
/// peer (or the kernel) is not keeping up and newer datagrams are dropped.
pub const SEND_QUEUE_LIMIT: usize = 65_536;

/// How `--trace` lines show a datagram. The Reactor knows no message
/// format: a program that has one says how to show it
/// ([`UdpEndpoint::set_format`]); by default the bytes are escaped.
pub type ShowDatagram = fn(&[u8], &mut fmt::Formatter<'_>) -> fmt::Result;

fn escaped(datagram: &[u8], f: &mut fmt::Formatter<'_>) -> fmt::Result {
    write!(f, "{}", datagram.escape_ascii())
}

/// Which way a datagram went through the socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Way {
    In,
    Out,
}

/// A datagram's trace line: `in  127.0.0.1:9 alice->bob#hi` for one
/// received from that address, `out 127.0.0.1:9 ...` for one sent to it,
/// the datagram shown as the program says. Public with its fields, so that
/// a hub traced without a socket (the simulated hub's recording,
/// tests/simulation.rs) shows its datagrams as this socket does.
pub struct DatagramLine<'a> {
    pub way: Way,
    pub peer: SocketAddr,
    pub show: ShowDatagram,
    pub datagram: &'a [u8],
}

impl fmt::Display for DatagramLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let way = match self.way {
            Way::In => "in ",
            Way::Out => "out",
        };
        write!(f, "{way} {} ", self.peer)?;
        (self.show)(self.datagram, f)
    }
}

/// What a receive call says about the socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Drain {
    /// The socket is empty: the next datagram brings a new event.
    Drained,
    /// The batch came back full: more may wait, and no event will say so.
    More,
}

/// Counters a report or a test can read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UdpStats {
    pub received: u64,
    pub sent: u64,
    /// Sends that would block and were queued.
    pub queued: u64,
    /// Datagrams dropped because the send queue was full or the send failed.
    pub send_dropped: u64,
    /// ICMP reports on earlier sends ("connection refused": nothing listens
    /// at that port), as a receive or a send returned them. Only a
    /// [`connect`](UdpEndpoint::connect)ed socket hears of them.
    pub unreachable: u64,
}

impl UdpStats {
    /// Counts a datagram the kernel refused to send.
    fn lost(&mut self, to: SocketAddr, err: &io::Error) {
        self.send_dropped += 1;
        if is_icmp_report(err) {
            self.unreachable += 1;
        }
        log::debug!("cannot send to {to}: {err}");
    }
}

/// What a failed send means, for the one datagram it concerns.
///
/// A send error never says the socket is broken: `sendto` fails for one
/// destination (`EAFNOSUPPORT` for an address of the other family,
/// `ENETUNREACH`, `EACCES` for a broadcast address, `EINVAL`, `EMSGSIZE`,
/// `ECONNREFUSED` from an earlier ICMP error) or for a moment (`ENOBUFS`,
/// `ENOMEM`). So every error but the two below costs that datagram only,
/// counted in [`UdpStats::send_dropped`], and the hub goes on: one peer
/// must never be able to stop it by naming a strange address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SendFailure {
    /// The socket's buffer is full: queue the datagram, wait for writability.
    WouldBlock,
    /// A signal arrived during the call: make it again.
    Interrupted,
    /// Lost: counted and logged, the next datagram goes on.
    Lost,
}

impl SendFailure {
    fn of(err: &io::Error) -> Self {
        match err.kind() {
            io::ErrorKind::WouldBlock => SendFailure::WouldBlock,
            io::ErrorKind::Interrupted => SendFailure::Interrupted,
            _ => SendFailure::Lost,
        }
    }
}

/// Sends the datagrams of `batch` through `send` (given the index of the
/// first datagram to send, it sends some and says how many) until all are
/// sent or the socket would block; returns the index of the first datagram
/// not sent. It returns no error: by its type, no send error can end the
/// loop that calls it.
fn send_until_blocked(
    batch: &Outbox,
    stats: &mut UdpStats,
    mut send: impl FnMut(usize) -> io::Result<usize>,
) -> usize {
    let mut next = 0;
    while next < batch.len() {
        match send(next) {
            // `sendmmsg` sends at least one or fails; were it ever to send
            // none, waiting for writability beats spinning.
            Ok(0) => break,
            Ok(sent) => {
                stats.sent += sent as u64;
                next += sent;
            }
            Err(err) => match SendFailure::of(&err) {
                SendFailure::WouldBlock => break,
                SendFailure::Interrupted => continue,
                SendFailure::Lost => {
                    // The error concerns the first datagram of the call.
                    stats.lost(batch.get(next).to, &err);
                    next += 1;
                }
            },
        }
    }
    next
}

/// A registered UDP socket with a send queue.
pub struct UdpEndpoint {
    socket: UdpSocket,
    token: Token,
    registry: Registry,
    queue: VecDeque<(SocketAddr, Vec<u8>)>,
    stats: UdpStats,
    show: ShowDatagram,
    /// The endpoint's own receive batch, made at the first [`recv`](Self::recv).
    received: Option<RecvBatch>,
    /// The longest datagram the program takes.
    max_datagram: usize,
    /// How many datagrams at the front of the outbox were traced already,
    /// each beside the datagram read that caused it
    /// ([`trace_outbox`](Self::trace_outbox)). A cell: it is traced while
    /// the batch read is borrowed.
    traced_out: Cell<usize>,
}

/// At least the largest UDP payload (65,507 bytes over IPv4, 65,527 over
/// IPv6): what an endpoint takes unless its program says less
/// ([`UdpEndpoint::set_format`]).
pub const MAX_UDP_PAYLOAD: usize = 65_535;

impl UdpEndpoint {
    /// Binds `addr` and registers the socket for readability under `token`.
    pub fn bind(addr: SocketAddr, registry: &Registry, token: Token) -> io::Result<Self> {
        Self::register(UdpSocket::bind(addr)?, registry, token)
    }

    /// Binds `addr` with `SO_REUSEPORT`: every process that binds it so
    /// shares the address, and the kernel hands each datagram to one of
    /// their sockets by a hash of its source address and port (so one
    /// client's datagrams keep going to one socket while the set of
    /// sockets stays the same).
    pub fn bind_shared(addr: SocketAddr, registry: &Registry, token: Token) -> io::Result<Self> {
        use socket2::{Domain, Protocol, Socket, Type};
        let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
        socket.set_reuse_port(true)?;
        socket.set_nonblocking(true)?;
        socket.bind(&addr.into())?;
        Self::register(UdpSocket::from_std(socket.into()), registry, token)
    }

    /// Registers an already bound socket for readability under `token`.
    pub fn register(mut socket: UdpSocket, registry: &Registry, token: Token) -> io::Result<Self> {
        registry.register(&mut socket, token, Interest::READABLE)?;
        Ok(Self {
            socket,
            token,
            registry: registry.try_clone()?,
            queue: VecDeque::new(),
            stats: UdpStats::default(),
            show: escaped,
            received: None,
            max_datagram: MAX_UDP_PAYLOAD,
            traced_out: Cell::new(0),
        })
    }

    /// What the program's datagrams are, for the Reactor, which knows no
    /// format: the longest it takes (a longer one is received cut to one
    /// byte more, so that the program can tell), and how `--trace` shows one.
    pub fn set_format(&mut self, max_datagram: usize, show: ShowDatagram) {
        self.max_datagram = max_datagram;
        self.show = show;
        self.received = None;
    }

    /// Traces a datagram read: `in  127.0.0.1:9 ...`. A program traces
    /// each just before it handles it, so that the trace shows what each
    /// caused ([`trace_outbox`](Self::trace_outbox)) right after it.
    pub fn trace_in(&self, from: SocketAddr, datagram: &[u8]) {
        log::trace!(target: "udp", "{}", self.line(Way::In, from, datagram));
    }

    /// Traces the datagrams put in `outbox` since it was last traced:
    /// `out 127.0.0.1:9 ...`. [`send_all`](Self::send_all) traces the
    /// rest, those that no datagram read caused (timers, the broker).
    pub fn trace_outbox(&self, outbox: &Outbox) {
        if log::log_enabled!(target: "udp", log::Level::Trace) {
            for index in self.traced_out.get()..outbox.len() {
                let transmit = outbox.get(index);
                let line = self.line(Way::Out, transmit.to, transmit.payload);
                log::trace!(target: "udp", "{line}");
            }
        }
        self.traced_out.set(outbox.len());
    }

    /// The trace line of a datagram through this socket.
    fn line<'a>(&self, way: Way, peer: SocketAddr, datagram: &'a [u8]) -> DatagramLine<'a> {
        DatagramLine {
            way,
            peer,
            show: self.show,
            datagram,
        }
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// The socket, for options such as buffer sizes.
    pub fn socket(&self) -> &UdpSocket {
        &self.socket
    }

    /// Asks the kernel for receive and send buffers of `bytes` each, and
    /// returns what it granted `(receive, send)`.
    ///
    /// Datagrams that arrive while the receive buffer is full are dropped by
    /// the kernel, before the Reactor ever sees them. Linux's default (about
    /// 200 KB) holds a few hundred small datagrams: less than a burst from a
    /// few dozen busy clients. The kernel caps the request at
    /// `net.core.rmem_max` / `net.core.wmem_max` and reports twice the size
    /// (it counts its own bookkeeping too).
    pub fn set_buffer_sizes(&self, bytes: usize) -> io::Result<(usize, usize)> {
        let fd = self.socket.as_raw_fd();
        let granted = |option| -> io::Result<usize> {
            set_socket_option(fd, option, bytes)?;
            get_socket_option(fd, option)
        };
        Ok((granted(libc::SO_RCVBUF)?, granted(libc::SO_SNDBUF)?))
    }

    /// Sends and receives only to and from `peer`, for a program with one
    /// peer (the client): the kernel then reports an ICMP "port unreachable"
    /// from it as an error (counted in [`UdpStats::unreachable`]), which an
    /// unconnected socket never hears of.
    pub fn connect(&self, peer: SocketAddr) -> io::Result<()> {
        self.socket.connect(peer)
    }

    pub fn stats(&self) -> UdpStats {
        self.stats
    }

    /// Receives up to [`mmsg::BATCH`] datagrams into the endpoint's own
    /// batch (one `recvmmsg` system call on Linux), read them with
    /// [`received`](Self::received); says whether the socket is drained.
    ///
    /// Call it again while it says [`Drain::More`]: readiness is
    /// edge-triggered, so what is left gets no new event.
    pub fn recv(&mut self) -> io::Result<Drain> {
        let mut batch = self
            .received
            .take()
            .unwrap_or_else(|| RecvBatch::new(self.max_datagram));
        let drain = self.recv_batch(&mut batch);
        self.received = Some(batch);
        drain
    }

    /// Reads the socket until it is drained, handing each datagram to
    /// `each` with its source: what a handler does on a readable event.
    pub fn drain(&mut self, mut each: impl FnMut(SocketAddr, &[u8])) -> io::Result<()> {
        loop {
            let drain = self.recv()?;
            for (from, datagram) in self.received() {
                self.trace_in(from, datagram);
                each(from, datagram);
            }
            if drain == Drain::Drained {
                return Ok(());
            }
        }
    }

    /// The datagrams of the last [`recv`](Self::recv), with their sources.
    pub fn received(&self) -> impl Iterator<Item = (SocketAddr, &[u8])> {
        self.received.iter().flat_map(RecvBatch::iter)
    }

    /// As [`recv`](Self::recv), into a batch the caller holds: for a
    /// program that must send on this socket while it reads what came (the
    /// flood's clients), or that reads many sockets into one batch. A batch
    /// that is not full says the socket was empty (see [`RecvBatch`]).
    pub fn recv_batch(&mut self, batch: &mut RecvBatch) -> io::Result<Drain> {
        let count = loop {
            match mmsg::recv(&self.socket, batch) {
                Ok(count) => break count,
                // The batch is empty: a failed call leaves it so.
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => break 0,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) if is_icmp_report(&err) => {
                    self.stats.unreachable += 1;
                    log::debug!("receive error from an earlier send: {err}");
                    continue;
                }
                Err(err) => return Err(err),
            }
        };
        self.stats.received += count as u64;
        let drain = if count < mmsg::BATCH {
            Drain::Drained
        } else {
            Drain::More
        };
        // Each datagram's own line comes as it is handled (`trace_in`).
        log::trace!(target: "udp", "{}", Received { count, drain });
        Ok(drain)
    }

    /// Sends every datagram of `outbox`, up to [`mmsg::BATCH`] per system
    /// call (`sendmmsg` on Linux), straight from where the state machine
    /// encoded them; queues what the socket cannot take yet (as
    /// [`send_to`](Self::send_to) does), and empties `outbox`.
    ///
    /// No send error ends the program: a datagram the kernel refuses is lost
    /// alone (see `SendFailure`). The `Err` this returns comes from asking
    /// for writability (`epoll_ctl`), not from a send.
    pub fn send_all(&mut self, outbox: &mut Outbox) -> io::Result<()> {
        self.trace_outbox(outbox);
        // Once something waits, later datagrams wait behind it, in order.
        let next = if self.queue.is_empty() {
            let socket = &self.socket;
            send_until_blocked(outbox, &mut self.stats, |first| {
                let sent = mmsg::send(socket, outbox, first);
                if let Ok(count) = sent {
                    let left = outbox.len() - first;
                    log::trace!(target: "udp", "sendmmsg: {count} of {} in one call", Datagrams(left));
                }
                sent
            })
        } else {
            0
        };
        if next < outbox.len() {
            let was_waiting = !self.queue.is_empty();
            trace_queued(outbox.len() - next, self.queue.len());
            for index in next..outbox.len() {
                let transmit = outbox.get(index);
                self.enqueue(transmit.to, transmit.payload);
            }
            if !was_waiting {
                self.registry.reregister(
                    &mut self.socket,
                    self.token,
                    Interest::READABLE | Interest::WRITABLE,
                )?;
            }
        }
        outbox.clear();
        self.traced_out.set(0);
        Ok(())
    }

    /// Sends a datagram now, or queues it until the socket is writable.
    /// As with [`send_all`](Self::send_all), an `Err` concerns the
    /// registration, never the datagram.
    pub fn send_to(&mut self, to: SocketAddr, payload: &[u8]) -> io::Result<()> {
        log::trace!(target: "udp", "{}", self.line(Way::Out, to, payload));
        // Once something waits, later datagrams wait behind it, in order.
        if !self.queue.is_empty() {
            trace_queued(1, self.queue.len());
            self.enqueue(to, payload);
            return Ok(());
        }
        loop {
            match self.socket.send_to(payload, to) {
                Ok(_) => self.stats.sent += 1,
                Err(err) => match SendFailure::of(&err) {
                    SendFailure::Interrupted => continue,
                    SendFailure::WouldBlock => {
                        trace_queued(1, 0);
                        self.enqueue(to, payload);
                        self.registry.reregister(
                            &mut self.socket,
                            self.token,
                            Interest::READABLE | Interest::WRITABLE,
                        )?;
                    }
                    SendFailure::Lost => self.stats.lost(to, &err),
                },
            }
            return Ok(());
        }
    }

    /// The socket became writable: sends what waits, and stops asking for
    /// writability once the queue is empty.
    pub fn on_writable(&mut self) -> io::Result<()> {
        let waiting = self.queue.len();
        while let Some((to, payload)) = self.queue.front() {
            match self.socket.send_to(payload, *to) {
                Ok(_) => self.stats.sent += 1,
                Err(err) => match SendFailure::of(&err) {
                    SendFailure::Interrupted => continue,
                    SendFailure::WouldBlock => break,
                    SendFailure::Lost => self.stats.lost(*to, &err),
                },
            }
            self.queue.pop_front();
        }
        let left = self.queue.len();
        log::trace!(
            target: "udp",
            "writable: sent {} of {waiting} queued, {left} still queued",
            Datagrams(waiting - left)
        );
        if left > 0 {
            return Ok(());
        }
        self.registry
            .reregister(&mut self.socket, self.token, Interest::READABLE)
    }

    /// Datagrams waiting to be sent.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    fn enqueue(&mut self, to: SocketAddr, payload: &[u8]) {
        if self.queue.len() >= SEND_QUEUE_LIMIT {
            // Counted, not logged at warn: a peer that stops reading could
            // otherwise make the hub write a line per datagram.
            self.stats.send_dropped += 1;
            log::debug!("send queue full: dropped a datagram to {to}");
            return;
        }
        self.stats.queued += 1;
        self.queue.push_back((to, payload.to_vec()));
    }
}

fn set_socket_option(fd: libc::c_int, option: libc::c_int, value: usize) -> io::Result<()> {
    let value = libc::c_int::try_from(value).unwrap_or(libc::c_int::MAX);
    // SAFETY: `fd` is an open socket owned by the caller, and the option's
    // value is a c_int that lives across the call, as SOL_SOCKET expects.
    let result = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            option,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if result == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn get_socket_option(fd: libc::c_int, option: libc::c_int) -> io::Result<usize> {
    let mut value: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: as above; `value` and `len` are valid for writes of their size.
    let result = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            option,
            (&mut value as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    if result == 0 {
        Ok(usize::try_from(value).unwrap_or(0))
    } else {
        Err(io::Error::last_os_error())
    }
}

/// What one batched receive (`recvmmsg`) returned, for the trace: a batch
/// that is not full says the socket is empty, so draining stops there.
struct Received {
    count: usize,
    drain: Drain,
}

impl fmt::Display for Received {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (count, most) = (Datagrams(self.count), mmsg::BATCH);
        match self.drain {
            Drain::Drained if self.count == 0 => {
                f.write_str("recvmmsg: no datagram (it would block): the socket is drained")
            }
            Drain::Drained => {
                write!(
                    f,
                    "recvmmsg: {count}, fewer than {most}: the socket is drained"
                )
            }
            Drain::More => write!(f, "recvmmsg: {count}, a full batch: more may wait"),
        }
    }
}

/// The trace's line for `count` datagrams the socket would not take now,
/// queued behind `waiting` others until it is writable.
fn trace_queued(count: usize, waiting: usize) {
    let count = Datagrams(count);
    if waiting == 0 {
        log::trace!(target: "udp", "queued {count}: the socket would block, until it is writable");
    } else {
        log::trace!(target: "udp", "queued {count} behind {waiting} waiting for the socket");
    }
}

/// A count of datagrams in words: `1 datagram`, `3 datagrams`.
struct Datagrams(usize);

impl fmt::Display for Datagrams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            1 => f.write_str("1 datagram"),
            count => write!(f, "{count} datagrams"),
        }
    }
}

/// Receive errors that report an ICMP error about an earlier send: each is
/// reported once and then cleared, so skipping it cannot spin. Any other
/// receive error (`EBADF`, `EINVAL`, `EACCES`, ...) would come back on every
/// call, and ends the program instead.
fn is_icmp_report(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::HostUnreachable
            | io::ErrorKind::NetworkUnreachable
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch_of(count: usize) -> Outbox {
        let mut batch = Outbox::default();
        for port in 1..=count as u16 {
            batch.push(SocketAddr::from(([127, 0, 0, 1], port)), &b"x"[..]);
        }
        batch
    }

    /// Every error a send can return, each fed once into the send loop
    /// between datagrams that go out: none ends the loop, a lost one costs
    /// its datagram only, and only `WouldBlock` leaves the rest to the queue.
    #[test]
    fn each_kind_of_send_error_costs_at_most_its_datagram() {
        use io::ErrorKind::*;
        let lost_kinds = [
            Unsupported, // EAFNOSUPPORT: an IPv6 address to an IPv4 socket
            InvalidInput,
            PermissionDenied,
            ConnectionRefused,
            ConnectionReset,
            HostUnreachable,
            NetworkUnreachable,
            AddrNotAvailable,
            OutOfMemory,
            Other, // ENOBUFS, EMSGSIZE and the rest
        ];
        for kind in lost_kinds {
            let batch = batch_of(3);
            let mut stats = UdpStats::default();
            let mut calls = Vec::new();
            let next = send_until_blocked(&batch, &mut stats, |first| {
                calls.push(first);
                match first {
                    1 => Err(io::Error::from(kind)),
                    _ => Ok(1),
                }
            });
            assert_eq!(next, 3, "{kind:?}: every datagram handled");
            assert_eq!(calls, [0, 1, 2], "{kind:?}: the loop went on after it");
            assert_eq!((stats.sent, stats.send_dropped), (2, 1), "{kind:?}");
        }
        // A raw errno the standard library has no kind for.
        let batch = batch_of(2);
        let mut stats = UdpStats::default();
        let next = send_until_blocked(&batch, &mut stats, |first| match first {
            0 => Err(io::Error::from_raw_os_error(libc::EAFNOSUPPORT)),
            _ => Ok(1),
        });
        assert_eq!((next, stats.sent, stats.send_dropped), (2, 1, 1));
    }

    #[test]
    fn an_interrupted_send_is_made_again_and_would_block_stops_the_loop() {
        let batch = batch_of(4);
        let mut stats = UdpStats::default();
        let mut results = vec![
            Ok(1),
            Err(io::Error::from(io::ErrorKind::Interrupted)),
            Ok(1),
            Err(io::Error::from(io::ErrorKind::WouldBlock)),
        ]
        .into_iter();
        let next = send_until_blocked(&batch, &mut stats, |_| results.next().unwrap());
        assert_eq!(next, 2, "the last two wait for writability");
        assert_eq!((stats.sent, stats.send_dropped), (2, 0));
        // A call that sends nothing does not spin either.
        let next = send_until_blocked(&batch, &mut stats, |_| Ok(0));
        assert_eq!(next, 0);
    }

    /// The real socket: an IPv4 socket asked to reach an IPv6 address (the
    /// one datagram that stopped the hub) loses that datagram only.
    #[test]
    fn an_ipv4_socket_sending_to_an_ipv6_address_loses_that_datagram_only() {
        let poll = mio::Poll::new().unwrap();
        let mut udp =
            UdpEndpoint::bind("127.0.0.1:0".parse().unwrap(), poll.registry(), Token(0)).unwrap();
        let peer = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut batch = Outbox::default();
        batch.push("[::1]:9".parse().unwrap(), &b"unreachable"[..]);
        batch.push(peer.local_addr().unwrap(), &b"reachable"[..]);
        udp.send_all(&mut batch).unwrap();
        udp.send_to("[::1]:9".parse().unwrap(), b"again").unwrap();
        assert_eq!((udp.stats().sent, udp.stats().send_dropped), (1, 2));
        let mut buf = [0; 16];
        let (len, _) = peer.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..len], b"reachable");
    }
}
