//! A program on a Reactor of its own thread, for the tests and tools that
//! need a hub or a relay beside them (the fault tests, `flood`, `hostile`).
//! The programs themselves stay single-threaded: this only runs one where
//! its caller can reach it, and hands it back when it stops.

use std::io;
use std::net::SocketAddr;
use std::sync::mpsc;
use std::thread::{self, JoinHandle};

use super::shutdown::StopHandle;
use super::{Handler, Reactor};

/// What [`OnThread`] needs of a program: where it listens, and a way to
/// stop it from another thread.
pub trait Listening: Handler {
    fn local_addr(&self) -> io::Result<SocketAddr>;
    fn stop_handle(&self) -> StopHandle;
}

/// A running program: its address, and the handle that stops it.
pub struct OnThread<P> {
    pub addr: SocketAddr,
    stop: StopHandle,
    thread: JoinHandle<io::Result<P>>,
}

impl<P: Listening + Send + 'static> OnThread<P> {
    /// Starts a thread named `name`, makes the program there with `make`
    /// (which registers its sources with the thread's Reactor), and returns
    /// once it listens; an error in `make` is returned here.
    pub fn start(
        name: &str,
        make: impl FnOnce(&Reactor) -> io::Result<P> + Send + 'static,
    ) -> io::Result<Self> {
        let (ready_tx, ready_rx) = mpsc::channel();
        let thread = thread::Builder::new().name(name.into()).spawn(move || {
            let setup = || -> io::Result<_> {
                let reactor = Reactor::new()?;
                let program = make(&reactor)?;
                let ready = (program.local_addr()?, program.stop_handle());
                Ok((reactor, program, ready))
            };
            let (mut reactor, mut program) = match setup() {
                Ok((reactor, program, ready)) => {
                    let _ = ready_tx.send(Ok(ready));
                    (reactor, program)
                }
                Err(err) => {
                    // The caller gets the error; the thread's result is moot.
                    let _ = ready_tx.send(Err(io::Error::new(err.kind(), err.to_string())));
                    return Err(err);
                }
            };
            reactor.run(&mut program)?;
            Ok(program)
        })?;
        let (addr, stop) = ready_rx
            .recv()
            .map_err(|_| io::Error::other("the program's thread died while starting"))??;
        Ok(Self { addr, stop, thread })
    }

    /// Stops the program and hands it back, for its final counts.
    pub fn stop(self) -> io::Result<P> {
        self.stop.stop()?;
        self.thread
            .join()
            .map_err(|_| io::Error::other("the program's thread panicked"))?
    }
}
