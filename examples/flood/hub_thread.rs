//! The hub inside the flood's own process, on a thread of its own: the same
//! [`Server`] that `reactor-server` runs, bound to a free loopback port.

use std::io;
use std::net::SocketAddr;
use std::sync::mpsc;

use reactor_hub::accounts::Accounts;
use reactor_hub::hub::HubConfig;
use reactor_hub::reactor::on_thread::OnThread;
use reactor_hub::reactor::udp::UdpStats;
use reactor_hub::server::Server;

use super::os::CpuSource;

/// A running in-process hub.
pub struct HubThread {
    pub addr: SocketAddr,
    /// The hub thread's own CPU time, nothing else of the process.
    pub cpu: CpuSource,
    server: OnThread<Server>,
}

/// What the hub's socket counted when it stopped.
#[derive(Clone, Copy, Debug)]
pub struct Final {
    pub udp: UdpStats,
}

impl HubThread {
    /// Starts a hub with these accounts and waits until it listens.
    pub fn start(accounts: Accounts, config: HubConfig) -> io::Result<Self> {
        Self::start_node(accounts, config, None)
    }

    /// Starts a hub that joins the cluster of the broker at `broker`, if
    /// one is given.
    pub fn start_node(
        accounts: Accounts,
        config: HubConfig,
        broker: Option<SocketAddr>,
    ) -> io::Result<Self> {
        let (cpu_tx, cpu_rx) = mpsc::channel();
        let server = OnThread::start("hub", move |reactor| {
            // On the hub's thread: its clock is the one to read.
            let _ = cpu_tx.send(CpuSource::current_thread()?);
            let mut server = Server::bind(reactor, ([127, 0, 0, 1], 0).into(), accounts, config)?;
            if let Some(broker) = broker {
                server.join_cluster(reactor, broker)?;
            }
            Ok(server)
        })?;
        let cpu = cpu_rx
            .recv()
            .map_err(|_| io::Error::other("the hub thread died while starting"))?;
        Ok(Self {
            addr: server.addr,
            cpu,
            server,
        })
    }

    /// Stops the hub and returns its final counts.
    pub fn stop(self) -> io::Result<Final> {
        let server = self.server.stop()?;
        Ok(Final {
            udp: server.udp().stats(),
        })
    }
}
