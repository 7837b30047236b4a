//! A real `nats-server` for the cluster tests, on a free port. Where it is
//! not installed the tests say `skipped:` and pass, unless
//! `REACTOR_HUB_REQUIRE_NATS` is set (CI installs it and sets it).

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::PATIENCE;

/// A `nats-server` on `addr`, killed when dropped.
pub struct Broker {
    child: Child,
    pub addr: SocketAddr,
}

impl Broker {
    /// Whether `nats-server` can be run here; if not, says the test is
    /// skipped (or fails, where it is required).
    pub fn installed() -> bool {
        match Command::new("nats-server").arg("--version").output() {
            Ok(_) => true,
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                assert!(
                    std::env::var_os("REACTOR_HUB_REQUIRE_NATS").is_none(),
                    "nats-server is required here"
                );
                println!("skipped: nats-server not found (apt-get install nats-server)");
                false
            }
            Err(err) => panic!("cannot run nats-server: {err}"),
        }
    }

    /// Starts one on `addr` and waits until it listens; `None` (after
    /// saying so) if it is not installed.
    pub fn start(addr: SocketAddr) -> Option<Self> {
        if !Self::installed() {
            return None;
        }
        let child = Command::new("nats-server")
            .args(["-a", &addr.ip().to_string(), "-p", &addr.port().to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nats-server");
        let deadline = Instant::now() + PATIENCE;
        while TcpStream::connect(addr).is_err() {
            assert!(Instant::now() < deadline, "nats-server never listened");
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(Self { child, addr })
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A TCP port on loopback that nobody listens on (as of now).
pub fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}
