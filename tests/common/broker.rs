//! A real `nats-server` for the cluster tests, on a free port
//! (`examples/common/nats_server.rs`). Where it is not installed the tests
//! say `skipped:` and pass, unless `REACTOR_HUB_REQUIRE_NATS` is set (CI
//! installs it and sets it).

use std::io;
use std::net::SocketAddr;
use std::process::Command;

#[path = "../../examples/common/nats_server.rs"]
mod nats_server;

pub use nats_server::NatsServer;

/// Whether `nats-server` can be run here; if not, says the test is
/// skipped (or fails, where it is required).
pub fn nats_installed() -> bool {
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

/// A broker on `addr`, listening; `None` (after saying so) if
/// `nats-server` is not installed.
pub fn start_broker(addr: SocketAddr) -> Option<NatsServer> {
    nats_installed().then(|| NatsServer::start(addr, None).expect("nats-server starts and listens"))
}

/// A TCP address on loopback that nobody listens on (as of now).
pub fn free_addr() -> SocketAddr {
    nats_server::free_addr().expect("a free port on loopback")
}
