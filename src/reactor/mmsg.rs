//! Many datagrams per system call: `recvmmsg` and `sendmmsg` on Linux, and
//! one `recvfrom` / `sendto` per datagram elsewhere.
//!
//! A system call has a fixed cost on top of the work it does, and for the
//! small datagrams of a chat hub that fixed cost is a large part of the
//! whole. `recvmmsg` fills up to [`BATCH`] buffers in one call and
//! `sendmmsg` sends up to [`BATCH`] datagrams in one call; the kernel still
//! does the same work for each datagram, but the crossings into the kernel
//! are shared. Other systems get the same batches filled and sent one
//! datagram per call ([`portable`]): the same behaviour, more system calls.
//! [`UdpEndpoint`](super::udp::UdpEndpoint) is the only user.
//!
//! This module holds the buffers and the unsafe calls; nothing here knows
//! about the Reactor, nor what the datagrams say.

use std::io;
use std::mem;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use mio::net::UdpSocket;

use crate::outbox::Outbox;

/// Datagrams moved by one call at most.
pub const BATCH: usize = 32;

/// Room for [`BATCH`] received datagrams and their source addresses.
///
/// # A short batch means the socket is drained
///
/// `recvmmsg` with `MSG_DONTWAIT` reads until the batch is full or a read
/// would block (and so does [`portable::recv`]). So a batch with fewer than
/// [`BATCH`] datagrams says the socket was empty, which ends a drain as
/// `WouldBlock` does, one system call sooner; a datagram that arrives later
/// brings a new readiness event. (The other reason for a short batch is an
/// error after some datagrams, which Linux keeps for the next call. On an
/// unconnected UDP socket such errors come only from ICMP, and Linux reports
/// ICMP errors only to connected sockets, so the server never sees one.)
pub struct RecvBatch {
    /// [`BATCH`] buffers of `stride` bytes each, end to end.
    buffers: Box<[u8]>,
    /// The largest datagram wanted, plus one byte to tell an oversized one
    /// from a full one.
    stride: usize,
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    names: Box<[libc::sockaddr_storage]>,
    /// Source and length of each datagram of the last call.
    received: Vec<(SocketAddr, usize)>,
}

impl RecvBatch {
    /// Room for [`BATCH`] datagrams of up to `max_datagram` bytes; a longer
    /// one is received cut to `max_datagram + 1` bytes, so that the program
    /// can tell it was too long.
    pub fn new(max_datagram: usize) -> Self {
        let stride = max_datagram + 1;
        Self {
            buffers: vec![0; BATCH * stride].into_boxed_slice(),
            stride,
            // SAFETY: sockaddr_storage is plain bytes; all zeros is valid.
            names: vec![unsafe { mem::zeroed() }; BATCH].into_boxed_slice(),
            received: Vec::with_capacity(BATCH),
        }
    }

    /// How many datagrams the last call received.
    pub fn len(&self) -> usize {
        self.received.len()
    }

    pub fn is_empty(&self) -> bool {
        self.received.is_empty()
    }

    /// The datagrams of the last call, with their sources, in arrival order.
    pub fn iter(&self) -> impl Iterator<Item = (SocketAddr, &[u8])> {
        self.received
            .iter()
            .zip(self.buffers.chunks(self.stride))
            .map(|(&(source, len), buffer)| (source, &buffer[..len]))
    }
}

/// Receives into `batch` without waiting and returns how many datagrams it
/// holds. `WouldBlock` if there was none.
pub fn recv(socket: &UdpSocket, batch: &mut RecvBatch) -> io::Result<usize> {
    #[cfg(target_os = "linux")]
    return linux::recv(socket, batch);
    #[cfg(not(target_os = "linux"))]
    return portable::recv(socket, batch);
}

/// Sends the datagrams of `outbox` from `first` on (at most [`BATCH`]);
/// returns how many were sent, which may be fewer. An error concerns the
/// datagram at `first`: nothing was sent.
pub fn send(socket: &UdpSocket, outbox: &Outbox, first: usize) -> io::Result<usize> {
    #[cfg(target_os = "linux")]
    return linux::send(socket, outbox, first);
    #[cfg(not(target_os = "linux"))]
    return portable::send(socket, outbox, first);
}

#[cfg(target_os = "linux")]
mod linux {
    use std::os::fd::AsRawFd;

    use super::*;

    /// One `recvmmsg` call.
    pub fn recv(socket: &UdpSocket, batch: &mut RecvBatch) -> io::Result<usize> {
        batch.received.clear();
        let stride = batch.stride;
        // SAFETY: all-zero iovecs and mmsghdrs are valid (null pointers, zero
        // lengths); every pointer set below points into `batch`, which
        // outlives the call, with the length of the memory it points to.
        let mut iovecs: [libc::iovec; BATCH] = unsafe { mem::zeroed() };
        let mut headers: [libc::mmsghdr; BATCH] = unsafe { mem::zeroed() };
        let buffers = batch.buffers.chunks_mut(stride);
        for (((header, iovec), buffer), name) in headers
            .iter_mut()
            .zip(iovecs.iter_mut())
            .zip(buffers)
            .zip(batch.names.iter_mut())
        {
            *iovec = libc::iovec {
                iov_base: buffer.as_mut_ptr().cast(),
                iov_len: stride,
            };
            header.msg_hdr.msg_name = (name as *mut libc::sockaddr_storage).cast();
            header.msg_hdr.msg_namelen =
                mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            header.msg_hdr.msg_iov = iovec;
            header.msg_hdr.msg_iovlen = 1;
        }
        // SAFETY: `headers` holds BATCH valid headers, as set up above.
        let count = unsafe {
            libc::recvmmsg(
                socket.as_raw_fd(),
                headers.as_mut_ptr(),
                BATCH as _,
                libc::MSG_DONTWAIT as _,
                std::ptr::null_mut(),
            )
        };
        if count < 0 {
            return Err(io::Error::last_os_error());
        }
        for (header, name) in headers.iter().zip(batch.names.iter()).take(count as usize) {
            // A source that is neither IPv4 nor IPv6 cannot happen on an IP
            // socket; were it to, the datagram's replies go nowhere useful.
            let source = from_sockaddr(name).unwrap_or(SocketAddr::from(([0, 0, 0, 0], 0)));
            batch.received.push((source, header.msg_len as usize));
        }
        Ok(batch.received.len())
    }

    /// One `sendmmsg` call.
    pub fn send(socket: &UdpSocket, outbox: &Outbox, first: usize) -> io::Result<usize> {
        let count = (outbox.len() - first).min(BATCH);
        // SAFETY: as in `recv`; every pointer points into `outbox` or into
        // the local arrays, which outlive the call.
        let mut names: [libc::sockaddr_storage; BATCH] = unsafe { mem::zeroed() };
        let mut iovecs: [libc::iovec; BATCH] = unsafe { mem::zeroed() };
        let mut headers: [libc::mmsghdr; BATCH] = unsafe { mem::zeroed() };
        for i in 0..count {
            let transmit = outbox.get(first + i);
            let name_len = to_sockaddr(transmit.to, &mut names[i]);
            iovecs[i] = libc::iovec {
                // sendmmsg only reads the payload; the pointer is *mut by C's type.
                iov_base: transmit.payload.as_ptr().cast_mut().cast(),
                iov_len: transmit.payload.len(),
            };
            let header = &mut headers[i].msg_hdr;
            header.msg_name = (&mut names[i] as *mut libc::sockaddr_storage).cast();
            header.msg_namelen = name_len;
            header.msg_iov = &mut iovecs[i];
            header.msg_iovlen = 1;
        }
        // SAFETY: the first `count` headers are valid, as set up above.
        let sent = unsafe {
            libc::sendmmsg(
                socket.as_raw_fd(),
                headers.as_mut_ptr(),
                count as _,
                libc::MSG_DONTWAIT as _,
            )
        };
        if sent < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(sent as usize)
    }
}

/// One `recvfrom` or `sendto` per datagram: what systems without
/// `recvmmsg`/`sendmmsg` get, filling and sending the same batches. Built
/// on Linux too, for its tests.
#[cfg_attr(target_os = "linux", allow(dead_code))]
pub mod portable {
    use super::*;

    /// Receives until the batch is full or the socket would block.
    pub fn recv(socket: &UdpSocket, batch: &mut RecvBatch) -> io::Result<usize> {
        batch.received.clear();
        for buffer in batch.buffers.chunks_mut(batch.stride) {
            match socket.recv_from(buffer) {
                Ok((len, source)) => batch.received.push((source, len)),
                // After some datagrams, an error waits for the next call.
                Err(_) if !batch.received.is_empty() => break,
                Err(err) => return Err(err),
            }
        }
        Ok(batch.received.len())
    }

    /// Sends the datagram at `first`: one a call.
    pub fn send(socket: &UdpSocket, outbox: &Outbox, first: usize) -> io::Result<usize> {
        let transmit = outbox.get(first);
        socket.send_to(transmit.payload, transmit.to).map(|_| 1)
    }
}

/// The address in a `sockaddr_storage` the kernel filled.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn from_sockaddr(name: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match libc::c_int::from(name.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in, and
            // sockaddr_storage is large and aligned enough for any address.
            let v4 =
                unsafe { &*(name as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            let ip = Ipv4Addr::from(u32::from_be(v4.sin_addr.s_addr));
            Some(SocketAddr::V4(SocketAddrV4::new(
                ip,
                u16::from_be(v4.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: as above, for sockaddr_in6.
            let v6 =
                unsafe { &*(name as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(v6.sin6_addr.s6_addr),
                u16::from_be(v6.sin6_port),
                v6.sin6_flowinfo,
                v6.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

/// Writes `addr` into `name` as the kernel expects it; returns its length.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn to_sockaddr(addr: SocketAddr, name: &mut libc::sockaddr_storage) -> libc::socklen_t {
    match addr {
        SocketAddr::V4(v4) => {
            // SAFETY: sockaddr_storage is large and aligned enough for a
            // sockaddr_in, and all-zero bytes are a valid one to start from.
            let out =
                unsafe { &mut *(name as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            out.sin_family = libc::AF_INET as libc::sa_family_t;
            out.sin_port = v4.port().to_be();
            out.sin_addr.s_addr = u32::from(*v4.ip()).to_be();
            mem::size_of::<libc::sockaddr_in>() as libc::socklen_t
        }
        SocketAddr::V6(v6) => {
            // SAFETY: as above, for sockaddr_in6.
            let out =
                unsafe { &mut *(name as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            out.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            out.sin6_port = v6.port().to_be();
            out.sin6_flowinfo = v6.flowinfo();
            out.sin6_addr.s6_addr = v6.ip().octets();
            out.sin6_scope_id = v6.scope_id();
            mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_survive_the_round_trip_through_sockaddr() {
        for addr in ["127.0.0.1:32000", "[::1]:9", "[fe80::1%2]:5"] {
            let addr: SocketAddr = addr.parse().unwrap();
            let mut name = unsafe { mem::zeroed() };
            to_sockaddr(addr, &mut name);
            assert_eq!(from_sockaddr(&name), Some(addr));
        }
    }

    type Recv = fn(&UdpSocket, &mut RecvBatch) -> io::Result<usize>;
    type Send = fn(&UdpSocket, &Outbox, usize) -> io::Result<usize>;

    /// Both ways, the batched system calls and the portable one-by-one,
    /// move the same datagrams.
    #[test]
    fn a_batch_goes_out_and_comes_in_whole() {
        let ways: [(Recv, Send, usize); 2] = [(recv, send, 4), (portable::recv, portable::send, 1)];
        for (recv, send, per_call) in ways {
            let a = UdpSocket::bind("127.0.0.1:0".parse().unwrap()).unwrap();
            let b = UdpSocket::bind("127.0.0.1:0".parse().unwrap()).unwrap();
            let mut out = Outbox::default();
            for n in 0..5u8 {
                out.push(b.local_addr().unwrap(), &[b'x'; 8][..n as usize]);
            }
            let mut first = 1;
            while first < out.len() {
                let sent = send(&a, &out, first).unwrap();
                assert_eq!(sent, per_call);
                first += sent;
            }
            // Loopback delivers during the send: all four are queued by now.
            // The batch holds datagrams of up to 2 bytes: longer ones are
            // cut to 3, so the program can tell them.
            let mut batch = RecvBatch::new(2);
            assert_eq!(recv(&b, &mut batch).unwrap(), 4);
            let lens: Vec<usize> = batch.iter().map(|(_, d)| d.len()).collect();
            assert_eq!(lens, [1, 2, 3, 3]);
            assert!(batch
                .iter()
                .all(|(from, _)| from == a.local_addr().unwrap()));
            let err = recv(&b, &mut batch).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
        }
    }
}
