//! The first process inside the boundary: `ccgate __jail-init … -- claude …`.
//!
//! Why it exists: three jobs must be done *inside* the sandbox, by something that is not
//! Claude and that Claude cannot switch off:
//!
//! - **No survivor.** It holds the read end of a pipe whose only write end lives in ccgate (the
//!   *lifeline*). When ccgate ends — cleanly, by crash or by `kill -9` — the kernel closes that
//!   write end, the read returns EOF and init exits at once. Under bubblewrap init is PID 1 of
//!   the sandbox's PID namespace, and when PID 1 exits the kernel kills every process in the
//!   namespace: no `claude`, no tool, no daemonised grandchild outlives ccgate. (Without a
//!   boundary, `SANDBOX=off`, it kills Claude's process group instead, which is best effort.)
//!   The same pipe carries ccgate's signal requests (`I` interrupt, `T` terminate), because
//!   ccgate cannot see, and so cannot signal, processes inside the namespace.
//! - **The only way out.** The sandbox has its own network namespace with nothing but
//!   loopback. Init listens on fixed loopback ports there and relays each connection, byte for
//!   byte, to a Unix socket of ccgate's egress gateway that is bind-mounted into the sandbox.
//! - **Hard to tamper with.** Init makes itself non-dumpable (no ptrace or `/proc/<pid>/mem` by
//!   Claude, which runs as the same user but without capabilities), and as PID 1 it ignores
//!   signals from inside the namespace that it has no handler for (SIGKILL and SIGSTOP among
//!   them). Claude runs in a session of its own, so it has no controlling terminal either.
//!
//! Init is deliberately small, synchronous and dependency-free (std threads, no async runtime):
//! it runs in every sandbox and must start in a few milliseconds.

use std::ffi::OsString;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream};
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Command;

use nix::sys::signal::{kill, killpg, signal, SigHandler, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

/// The hidden sub-command that runs [`main`].
pub const INIT_ARG: &str = "__jail-init";

/// Lifeline messages: one byte each.
pub const MSG_INTERRUPT: u8 = b'I';
pub const MSG_TERMINATE: u8 = b'T';

/// What init was asked to do.
#[derive(Debug, Default, PartialEq)]
pub struct InitArgs {
    pub lifeline_fd: Option<RawFd>,
    /// Inside port → Unix socket path.
    pub forwards: Vec<(u16, PathBuf)>,
    /// Init is PID 1 of its own PID namespace (bubblewrap): exiting ends everything.
    pub pid1: bool,
    pub program: Vec<OsString>,
}

/// Parse `[--lifeline-fd N] [--forward PORT=PATH]… [--pid1] -- PROGRAM ARGS…`.
pub fn parse_args(args: &[OsString]) -> Result<InitArgs, String> {
    let mut out = InitArgs::default();
    let mut i = 0;
    while i < args.len() {
        let a = args[i].to_string_lossy();
        match a.as_ref() {
            "--" => {
                out.program = args[i + 1..].to_vec();
                break;
            }
            "--pid1" => out.pid1 = true,
            "--lifeline-fd" => {
                i += 1;
                let v = args.get(i).ok_or("--lifeline-fd needs a value")?;
                out.lifeline_fd = Some(
                    v.to_string_lossy()
                        .parse()
                        .map_err(|_| "--lifeline-fd: not a number")?,
                );
            }
            "--forward" => {
                i += 1;
                let v = args.get(i).ok_or("--forward needs PORT=PATH")?;
                let v = v.to_string_lossy();
                let (port, path) = v.split_once('=').ok_or("--forward needs PORT=PATH")?;
                let port: u16 = port.parse().map_err(|_| "--forward: bad port")?;
                out.forwards.push((port, PathBuf::from(path)));
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
        i += 1;
    }
    if out.program.is_empty() {
        return Err("no program after --".into());
    }
    Ok(out)
}

fn fail(msg: &str) -> ! {
    let _ = writeln!(std::io::stderr(), "ccgate jail-init: {msg}");
    std::process::exit(125);
}

/// The child's process group (= its pid: it is a session leader), once started.
static CHILD: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

extern "C" fn forward_signal(sig: i32) {
    let child = CHILD.load(std::sync::atomic::Ordering::SeqCst);
    if child > 0 {
        // SAFETY: kill(2) is async-signal-safe.
        unsafe {
            nix::libc::kill(-child, sig);
        }
    }
}

/// Run init; never returns.
pub fn main(args: &[OsString]) -> ! {
    let args = parse_args(args).unwrap_or_else(|e| fail(&e));
    // No ptrace, no /proc/<pid>/mem, no core dumps of init by anything in the sandbox.
    let _ = nix::sys::prctl::set_dumpable(false);

    let lifeline = args.lifeline_fd.map(|fd| {
        // SAFETY: the fd was handed to us by ccgate for exactly this purpose; we own it now.
        let owned = unsafe { OwnedFd::from_raw_fd(fd) };
        // Claude must not inherit it: close-on-exec.
        let _ = nix::fcntl::fcntl(
            &owned,
            nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
        );
        owned
    });

    for (port, path) in &args.forwards {
        let addr = SocketAddrV4::new(Ipv4Addr::LOCALHOST, *port);
        let listener = TcpListener::bind(addr)
            .unwrap_or_else(|e| fail(&format!("cannot listen on {addr}: {e}")));
        let path = path.clone();
        std::thread::spawn(move || relay(listener, path));
    }

    // Signals ccgate (or the outer bubblewrap) sends to init go to Claude's whole group.
    for sig in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        // SAFETY: the handler only calls kill(2) with an atomic load.
        unsafe {
            let _ = signal(sig, SigHandler::Handler(forward_signal));
        }
    }

    let mut cmd = Command::new(&args.program[0]);
    cmd.args(&args.program[1..]);
    // SAFETY: setsid is async-signal-safe. A session of its own: no controlling terminal
    // (no TIOCSTI into the operator's shell) and a process group we can signal as a whole.
    unsafe {
        cmd.pre_exec(|| {
            nix::unistd::setsid().map_err(std::io::Error::from)?;
            // Restore default dispositions the child must not inherit from us.
            for sig in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
                let _ = signal(sig, SigHandler::SigDfl);
            }
            Ok(())
        });
    }
    let child = cmd.spawn().unwrap_or_else(|e| {
        fail(&format!(
            "cannot start {}: {e}",
            args.program[0].to_string_lossy()
        ))
    });
    let child_pid = child.id() as i32;
    CHILD.store(child_pid, std::sync::atomic::Ordering::SeqCst);
    let pid1 = args.pid1;

    if let Some(fd) = lifeline {
        std::thread::spawn(move || watch_lifeline(fd, child_pid, pid1));
    }

    // Reap: as PID 1 every orphan in the namespace is ours; exit with the main child's status.
    let code = loop {
        let target = if pid1 {
            Pid::from_raw(-1)
        } else {
            Pid::from_raw(child_pid)
        };
        match waitpid(target, Some(WaitPidFlag::__WALL)) {
            Ok(WaitStatus::Exited(pid, code)) if pid.as_raw() == child_pid => break code,
            Ok(WaitStatus::Signaled(pid, sig, _)) if pid.as_raw() == child_pid => {
                break 128 + sig as i32
            }
            Ok(_) => continue,
            Err(nix::errno::Errno::EINTR) => continue,
            // No children left: cannot happen before the main child was reaped.
            Err(_) => break 125,
        }
    };
    if !pid1 {
        // Best effort without a PID namespace: whatever Claude left in its group goes too.
        let _ = killpg(Pid::from_raw(child_pid), Signal::SIGKILL);
    }
    std::process::exit(code);
}

/// Read control bytes until EOF; EOF means ccgate is gone.
fn watch_lifeline(fd: OwnedFd, child: i32, pid1: bool) -> ! {
    let mut file = std::fs::File::from(fd);
    let mut buf = [0u8; 64];
    loop {
        match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                for b in &buf[..n] {
                    let sig = match *b {
                        MSG_INTERRUPT => Signal::SIGINT,
                        MSG_TERMINATE => Signal::SIGTERM,
                        _ => continue,
                    };
                    let _ = killpg(Pid::from_raw(child), sig);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        }
    }
    if !pid1 {
        let _ = killpg(Pid::from_raw(child), Signal::SIGKILL);
        let _ = kill(Pid::from_raw(child), Signal::SIGKILL);
    }
    // As PID 1, exiting makes the kernel kill everything else in the namespace.
    std::process::exit(137);
}

/// Accept loopback connections and pipe each to a fresh connection on `path`.
fn relay(listener: TcpListener, path: PathBuf) {
    for conn in listener.incoming() {
        let Ok(tcp) = conn else { continue };
        let path = path.clone();
        std::thread::spawn(move || {
            let Ok(unix) = UnixStream::connect(&path) else {
                return;
            };
            let _ = tcp.set_nodelay(true);
            splice(tcp, unix);
        });
    }
}

fn splice(tcp: TcpStream, unix: UnixStream) {
    let (Ok(mut tcp_r), Ok(mut unix_r)) = (tcp.try_clone(), unix.try_clone()) else {
        return;
    };
    let mut tcp_w = tcp;
    let mut unix_w = unix;
    let up = std::thread::spawn(move || {
        let _ = std::io::copy(&mut tcp_r, &mut unix_w);
        let _ = unix_w.shutdown(std::net::Shutdown::Write);
    });
    let _ = std::io::copy(&mut unix_r, &mut tcp_w);
    let _ = tcp_w.shutdown(std::net::Shutdown::Write);
    let _ = up.join();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    #[test]
    fn arguments_parse_and_junk_is_refused() {
        let a = parse_args(&os(&[
            "--lifeline-fd",
            "3",
            "--forward",
            "7070=/run/ccgate/api.sock",
            "--pid1",
            "--",
            "claude",
            "--",
            "-p",
        ]))
        .unwrap();
        assert_eq!(a.lifeline_fd, Some(3));
        assert_eq!(
            a.forwards,
            vec![(7070, PathBuf::from("/run/ccgate/api.sock"))]
        );
        assert!(a.pid1);
        assert_eq!(a.program, os(&["claude", "--", "-p"]));
        assert!(parse_args(&os(&["--",])).is_err());
        assert!(parse_args(&os(&["--forward", "x=/a", "--", "c"])).is_err());
        assert!(parse_args(&os(&["--bogus", "--", "c"])).is_err());
        assert!(parse_args(&os(&["--lifeline-fd"])).is_err());
    }
}
