//! The hub inside the flood's own process, on a thread of its own: the same
//! [`Server`] that `reactor-server` runs, bound to a free loopback port.

use std::io;
use std::net::SocketAddr;
use std::sync::mpsc;
use std::thread::{self, JoinHandle};

use reactor_hub::accounts::Accounts;
use reactor_hub::hub::HubConfig;
use reactor_hub::reactor::shutdown::StopHandle;
use reactor_hub::reactor::udp::UdpStats;
use reactor_hub::reactor::Reactor;
use reactor_hub::server::Server;

use super::os::CpuSource;

/// A running in-process hub.
pub struct HubThread {
    pub addr: SocketAddr,
    /// The hub thread's own CPU time, nothing else of the process.
    pub cpu: CpuSource,
    stop: StopHandle,
    thread: JoinHandle<io::Result<Final>>,
}

/// What the hub's socket counted when it stopped.
#[derive(Clone, Copy, Debug)]
pub struct Final {
    pub udp: UdpStats,
}

impl HubThread {
    /// Starts a hub with these accounts and waits until it listens.
    pub fn start(accounts: Accounts, config: HubConfig) -> io::Result<Self> {
        let (ready_tx, ready_rx) = mpsc::channel();
        let thread = thread::Builder::new().name("hub".into()).spawn(move || {
            let setup = || -> io::Result<_> {
                let reactor = Reactor::new()?;
                let server = Server::bind(&reactor, ([127, 0, 0, 1], 0).into(), accounts, config)?;
                let ready = (
                    server.local_addr()?,
                    server.stop_handle(),
                    CpuSource::current_thread()?,
                );
                Ok((reactor, server, ready))
            };
            let (mut reactor, mut server) = match setup() {
                Ok((reactor, server, ready)) => {
                    let _ = ready_tx.send(Ok(ready));
                    (reactor, server)
                }
                Err(err) => {
                    let _ = ready_tx.send(Err(io::Error::new(err.kind(), err.to_string())));
                    return Err(err);
                }
            };
            reactor.run(&mut server)?;
            Ok(Final {
                udp: server.udp().stats(),
            })
        })?;
        let (addr, stop, cpu) = ready_rx
            .recv()
            .map_err(|_| io::Error::other("the hub thread died while starting"))??;
        Ok(Self {
            addr,
            cpu,
            stop,
            thread,
        })
    }

    /// Stops the hub and returns its final counts.
    pub fn stop(self) -> io::Result<Final> {
        self.stop.stop()?;
        self.thread
            .join()
            .map_err(|_| io::Error::other("the hub thread panicked"))?
    }
}
