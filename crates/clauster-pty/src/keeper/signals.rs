//! Signals to the keeper (pty.md §3): SIGTERM and SIGINT are a stop request, SIGHUP is
//! ignored. All three are blocked and read from a signalfd that the main loop polls next to
//! the PTY master, so no handler runs asynchronously.

use std::os::fd::{AsFd, BorrowedFd};

use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};

pub struct Signals {
    fd: SignalFd,
}

impl Signals {
    /// Blocks SIGTERM, SIGINT and SIGHUP for this (single-threaded) process and opens the
    /// descriptor they are read from. A spawned bridge starts with an empty mask again.
    pub fn block() -> nix::Result<Self> {
        let mut set = SigSet::empty();
        set.add(Signal::SIGTERM);
        set.add(Signal::SIGINT);
        set.add(Signal::SIGHUP);
        set.thread_block()?;
        let fd = SignalFd::with_flags(&set, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)?;
        Ok(Self { fd })
    }

    /// Reads every pending signal; true when one of them asks the keeper to stop.
    pub fn take_stop_request(&self) -> bool {
        let mut stop = false;
        while let Ok(Some(info)) = self.fd.read_signal() {
            let signo = i32::try_from(info.ssi_signo).unwrap_or(0);
            if signo == Signal::SIGTERM as i32 || signo == Signal::SIGINT as i32 {
                stop = true;
            }
        }
        stop
    }
}

impl AsFd for Signals {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}
