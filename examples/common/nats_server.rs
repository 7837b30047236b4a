//! A `nats-server` on loopback, for the programs that need a broker to run
//! against (the flood's `--cluster`, the cluster tests): started on an
//! address, waited for until it listens, killed when dropped. Shared by
//! `#[path]`.

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a started broker may take to listen.
const PATIENCE: Duration = Duration::from_secs(10);

/// A running `nats-server`, killed when dropped.
pub struct NatsServer {
    child: Child,
    pub addr: SocketAddr,
}

impl NatsServer {
    /// Starts one on `addr` and waits until it listens. `cores` bounds how
    /// many threads run its Go code at once (`GOMAXPROCS`); `None` lets Go
    /// take every core. The error of a missing program is `NotFound`.
    pub fn start(addr: SocketAddr, cores: Option<usize>) -> io::Result<Self> {
        let mut command = Command::new("nats-server");
        if let Some(cores) = cores {
            command.env("GOMAXPROCS", cores.to_string());
        }
        let child = command
            .args(["-a", &addr.ip().to_string(), "-p", &addr.port().to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        // Dropped (killed) if it never listens.
        let server = Self { child, addr };
        let deadline = Instant::now() + PATIENCE;
        while TcpStream::connect(addr).is_err() {
            if Instant::now() > deadline {
                return Err(io::Error::other(format!(
                    "nats-server did not listen on {addr} within {PATIENCE:?}"
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(server)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A TCP address on loopback that nobody listens on (as of now).
pub fn free_addr() -> io::Result<SocketAddr> {
    TcpListener::bind("127.0.0.1:0")?.local_addr()
}
