//! Standard input as a source of the Reactor, and a standard output that
//! copes with what that does to a terminal.
//!
//! Three traps, and how this module stays out of them:
//! - Edge-triggered readiness means reading until `WouldBlock`, and that needs
//!   the descriptor non-blocking. The flag belongs to the open file, which is
//!   shared with the shell (and, on a terminal, with stdout): [`Stdin`] puts
//!   the original flags back when it is dropped, on every way out.
//! - epoll refuses regular files and `/dev/null` (`EPERM`). Such a stdin is
//!   always readable and never blocks, so it is not registered:
//!   [`Stdin::is_polled`] says so, and the program reads it without waiting
//!   for an event.
//! - `std::io::stdin()` buffers, and bytes in its buffer are invisible to
//!   epoll. [`Stdin::read`] hands out raw bytes; the caller cuts lines.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, RawFd};

use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};

/// What one read of stdin gave.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Input {
    /// This many bytes.
    Data(usize),
    /// Nothing now: wait for the next readable event.
    WouldBlock,
    /// End of input.
    End,
}

/// Standard input, non-blocking and (where epoll allows) registered.
pub struct Stdin {
    /// A duplicate of fd 0: same open file, same flags, but ours to read.
    file: File,
    /// The flags as they were before, put back on drop.
    saved_flags: libc::c_int,
    registry: Registry,
    polled: bool,
}

impl Stdin {
    /// Makes stdin non-blocking and registers it for readability under
    /// `token`, unless it is a file epoll cannot watch.
    pub fn register(registry: &Registry, token: Token) -> io::Result<Self> {
        let file = File::from(io::stdin().as_fd().try_clone_to_owned()?);
        let fd = file.as_raw_fd();
        let saved_flags = get_flags(fd)?;
        set_flags(fd, saved_flags | libc::O_NONBLOCK)?;
        // From here on, dropping `stdin` restores the flags.
        let mut stdin = Self {
            file,
            saved_flags,
            registry: registry.try_clone()?,
            polled: false,
        };
        match registry.register(&mut SourceFd(&fd), token, Interest::READABLE) {
            Ok(()) => stdin.polled = true,
            Err(err) if err.raw_os_error() == Some(libc::EPERM) => {
                log::debug!("standard input cannot be polled (a regular file?): reading it as always readable");
            }
            Err(err) => return Err(err),
        }
        Ok(stdin)
    }

    /// Whether readiness events come for stdin. If not, it is always
    /// readable: read it whenever there is room for more input.
    pub fn is_polled(&self) -> bool {
        self.polled
    }

    /// Reads what is there, without blocking.
    pub fn read(&mut self, buf: &mut [u8]) -> io::Result<Input> {
        loop {
            return match self.file.read(buf) {
                Ok(0) => Ok(Input::End),
                Ok(len) => Ok(Input::Data(len)),
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => Ok(Input::WouldBlock),
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => Err(err),
            };
        }
    }

    /// At end of input: stop watching stdin, so that nothing typed after
    /// the end (a terminal stays open after Ctrl-D) wakes the loop.
    pub fn deregister(&mut self) -> io::Result<()> {
        if self.polled {
            self.polled = false;
            self.registry
                .deregister(&mut SourceFd(&self.file.as_raw_fd()))?;
        }
        Ok(())
    }
}

impl Drop for Stdin {
    fn drop(&mut self) {
        // epoll watches the open file, not our duplicate descriptor: closing
        // the duplicate alone would leave the registration behind.
        if let Err(err) = self.deregister() {
            log::debug!("cannot deregister standard input: {err}");
        }
        if let Err(err) = set_flags(self.file.as_raw_fd(), self.saved_flags) {
            log::warn!("cannot restore the flags of standard input: {err}");
        }
    }
}

/// Standard output, written whole even when it is non-blocking.
///
/// On a terminal, stdin and stdout are one open file, so the `O_NONBLOCK`
/// that [`Stdin`] sets is stdout's too: a write to a slow terminal (or one
/// paused with Ctrl-S) fails with `WouldBlock`. This writer then waits for
/// the terminal instead of losing the line or failing.
pub struct Stdout {
    file: File,
}

impl Stdout {
    pub fn new() -> io::Result<Self> {
        Ok(Self {
            file: File::from(io::stdout().as_fd().try_clone_to_owned()?),
        })
    }

    /// Writes all of `bytes`, unbuffered.
    pub fn write_all(&mut self, mut bytes: &[u8]) -> io::Result<()> {
        while !bytes.is_empty() {
            match self.file.write(bytes) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(written) => bytes = &bytes[written..],
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                    wait_writable(self.file.as_raw_fd())?
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(err),
            }
        }
        Ok(())
    }
}

fn get_flags(fd: RawFd) -> io::Result<libc::c_int> {
    // SAFETY: F_GETFL reads the flags of a descriptor we hold open; no memory
    // is passed.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(flags)
}

fn set_flags(fd: RawFd, flags: libc::c_int) -> io::Result<()> {
    // SAFETY: F_SETFL on a descriptor we hold open; the argument is an int.
    if unsafe { libc::fcntl(fd, libc::F_SETFL, flags) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Blocks until `fd` can take more output.
fn wait_writable(fd: RawFd) -> io::Result<()> {
    let mut pollfd = libc::pollfd {
        fd,
        events: libc::POLLOUT,
        revents: 0,
    };
    // SAFETY: one valid `pollfd`, and the count says one.
    if unsafe { libc::poll(&mut pollfd, 1, -1) } < 0 {
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
    Ok(())
}
