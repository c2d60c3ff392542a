//! The lifeline: a pipe from ccgate to the sandbox's init.
//!
//! Why it exists: the kernel closes a process's file descriptors however it dies, `kill -9`
//! included, and a pipe whose last write end is closed reads as EOF. So init, holding the only
//! read end, learns of ccgate's death without polling and without a signal that could be lost
//! (`PR_SET_PDEATHSIG` fires on the death of the spawning *thread*, which in a thread pool is
//! not ccgate's death). The write end never leaves ccgate: it is close-on-exec, and the read
//! end is made inheritable only in the one child it is meant for.

use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;

use super::{init, LIFELINE_FD};

/// ccgate's end of a lifeline.
#[derive(Debug)]
pub struct Lifeline {
    writer: std::fs::File,
}

/// A close-on-exec pipe: (read end, write end).
pub fn pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(std::io::Error::from)
}

/// Hand `reader` to the child of `cmd` as fd [`LIFELINE_FD`], inheritable there only.
pub fn attach(cmd: &mut std::process::Command, reader: OwnedFd) {
    let fd = reader.as_raw_fd();
    // SAFETY: dup2/fcntl are async-signal-safe; `reader` stays open in the parent until the
    // command (which owns the closure) is dropped after spawning.
    unsafe {
        cmd.pre_exec(move || {
            let _keep = &reader;
            if fd == LIFELINE_FD {
                let flags = nix::libc::fcntl(fd, nix::libc::F_GETFD);
                nix::libc::fcntl(fd, nix::libc::F_SETFD, flags & !nix::libc::FD_CLOEXEC);
            } else if nix::libc::dup2(fd, LIFELINE_FD) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

impl Lifeline {
    /// A new lifeline; attach the returned read end to the child's command.
    pub fn new() -> std::io::Result<(Lifeline, OwnedFd)> {
        let (r, w) = pipe()?;
        Ok((
            Lifeline {
                writer: std::fs::File::from(w),
            },
            r,
        ))
    }

    /// Ask init to interrupt Claude (SIGINT to its process group).
    pub fn interrupt(&mut self) {
        let _ = self.writer.write_all(&[init::MSG_INTERRUPT]);
    }

    /// Ask init to terminate Claude (SIGTERM to its process group).
    pub fn terminate(&mut self) {
        let _ = self.writer.write_all(&[init::MSG_TERMINATE]);
    }
}
// Dropping a Lifeline closes the write end: init ends the sandbox.
