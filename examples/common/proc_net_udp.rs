//! `/proc/net/udp`, Linux's table of UDP sockets: the datagrams the kernel
//! dropped at a socket for want of room, and which process owns a socket.
//! Shared by the examples (`#[path]`); elsewhere than Linux every reader
//! finds nothing.

#![allow(dead_code)] // each example uses a different part of this module

use std::fs;
use std::io;
use std::net::SocketAddr;

/// One row of `/proc/net/udp`.
struct UdpRow {
    local: SocketAddr,
    inode: u64,
    drops: u64,
}

fn udp_rows() -> io::Result<Vec<UdpRow>> {
    let text = fs::read_to_string("/proc/net/udp")?;
    Ok(text.lines().skip(1).filter_map(parse_udp_row).collect())
}

/// `sl local rem st tx:rx tr:when retrnsmt uid timeout inode ref pointer drops`,
/// with the local address as `0100007F:7D00`: the IPv4 bytes printed as a
/// native-endian number.
fn parse_udp_row(line: &str) -> Option<UdpRow> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    let (ip, port) = fields.get(1)?.split_once(':')?;
    let ip = u32::from_str_radix(ip, 16).ok()?;
    let port = u16::from_str_radix(port, 16).ok()?;
    Some(UdpRow {
        local: SocketAddr::from((ip.to_ne_bytes(), port)),
        inode: fields.get(9)?.parse().ok()?,
        drops: fields.get(12)?.parse().ok()?,
    })
}

/// Datagrams the kernel dropped at these sockets (a full receive buffer),
/// summed; sockets it cannot find count nothing.
pub fn udp_drops(sockets: &[SocketAddr]) -> u64 {
    let Ok(rows) = udp_rows() else {
        return 0;
    };
    rows.iter()
        .filter(|row| sockets.iter().any(|s| matches(row.local, *s)))
        .map(|row| row.drops)
        .sum()
}

/// A socket bound to 0.0.0.0 receives for every address.
fn matches(bound: SocketAddr, addr: SocketAddr) -> bool {
    bound.port() == addr.port() && (bound.ip() == addr.ip() || bound.ip().is_unspecified())
}

/// The process that owns the UDP socket bound to `addr`: its inode in
/// `/proc/net/udp`, then the process with a file descriptor on that inode.
pub fn find_udp_owner(addr: SocketAddr) -> Option<u32> {
    let inode = udp_rows()
        .ok()?
        .into_iter()
        .find(|row| matches(row.local, addr))?
        .inode;
    let wanted = format!("socket:[{inode}]");
    for process in fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = process.file_name().to_str().and_then(|n| n.parse().ok()) else {
            continue;
        };
        let Ok(fds) = fs::read_dir(process.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            if fs::read_link(fd.path()).is_ok_and(|link| link.as_os_str() == wanted.as_str()) {
                return Some(pid);
            }
        }
    }
    None
}
