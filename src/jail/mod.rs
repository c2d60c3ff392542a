//! The OS boundary around every `claude` process and everything it starts.
//!
//! Why it exists: ccgate's policy engine reads the *text* of each tool call, and no reading of
//! text can contain an agent that writes a script and runs it. The boundary is what makes
//! ccgate's promises hold even when a human presses Allow on a command that misbehaves, or when
//! a repository ships hooks and config: the kernel, not a classifier, decides what the process
//! tree can reach.
//!
//! # Mechanism
//! [bubblewrap] (Debian's `bwrap`, no setuid needed with unprivileged user namespaces) builds a
//! fresh mount, PID, network, IPC, UTS and user namespace for each `claude` process, with every
//! capability dropped and no further user namespaces allowed; [`init`] runs as its PID 1. Chosen
//! over hand-written namespace code because bubblewrap is small, audited, packaged, and used by
//! Flatpak, Claude Code's own Bash sandbox and OpenAI Codex for exactly this.
//!
//! What the process tree sees (all paths at their real locations, so the paths Claude names
//! are the paths the policy checks):
//! - the chat's project directory, read-write, with every secret file in it replaced by an
//!   unreadable empty file (secret directories by an unreadable empty directory), found by a
//!   bounded walk at start ([`masks`]), hard links to secret files included;
//! - a private HOME per Telegram user (`CLAUDE_HOME_DIR/<user id>`), holding the CLI's state
//!   (`.claude/`, sessions for `--resume`), never the operator's home;
//! - a private `/tmp`, removed with the process;
//! - the system trees read-only (`/usr`, `/etc` minus `shadow`, `sudoers`, SSH host keys and
//!   similar, the `/bin`/`/lib*` links), plus `SANDBOX_READ_ONLY_PATHS`;
//! - a fresh `/proc` (only the sandbox's own processes) and a minimal `/dev`;
//! - no network but loopback; the egress gateway is reached through two Unix sockets mounted
//!   at `/run/ccgate` (see [`init`] and `crate::egress`).
//!
//! Nothing else exists inside: not the operator's home, not ccgate's data directory, `.env`,
//! database or lock files, not other projects.
//!
//! `SANDBOX=off` runs the CLI without a boundary (loudly warned about); [`init`] still makes
//! sure no `claude` outlives ccgate, as far as a process group allows.
//!
//! [bubblewrap]: https://github.com/containers/bubblewrap

pub mod init;
pub mod lifeline;
pub mod masks;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::policy::secret_files::SecretFiles;

pub use lifeline::Lifeline;

/// Port inside the sandbox where the model gateway is reached.
pub const API_PORT: u16 = 39801;
/// Port inside the sandbox of the egress (CONNECT) proxy.
pub const PROXY_PORT: u16 = 39802;
/// Where the gateway's sockets are mounted inside.
pub const SOCKETS_INSIDE: &str = "/run/ccgate";
/// Where the init binary is mounted inside.
pub const INIT_INSIDE: &str = "/run/ccgate-init";
/// The fd number the lifeline's read end gets in the child.
pub const LIFELINE_FD: i32 = 3;

/// Files under `/etc` that hold credentials and are hidden even though `/etc` is visible —
/// besides everything there that other users may not read (see [`private_entries`]), which
/// covers most of these already.
const ETC_HIDDEN: &[&str] = &[
    "/etc/shadow",
    "/etc/shadow-",
    "/etc/gshadow",
    "/etc/gshadow-",
    "/etc/sudoers",
    "/etc/sudoers.d",
    "/etc/ssh",
    "/etc/ssl/private",
    "/etc/security/opasswd",
    "/etc/credstore",
    "/etc/credstore.encrypted",
    "/etc/machine-id",
    "/etc/krb5.keytab",
    "/etc/NetworkManager/system-connections",
    "/etc/wireguard",
    "/etc/ipsec.secrets",
    "/etc/ppp",
    "/etc/ccgate",
];

/// System trees visible read-only (the ones that exist).
const SYSTEM_TREES: &[&str] = &["/usr", "/etc"];
/// Top-level links or directories into `/usr` on merged-/usr and classic systems.
const SYSTEM_LINKS: &[&str] = &["/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"];

/// How the boundary is provided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mechanism {
    /// bubblewrap at this path.
    Bubblewrap(PathBuf),
    /// `SANDBOX=off`: no boundary.
    Off,
}

/// Why a contained process cannot be started.
#[derive(Debug, thiserror::Error)]
pub enum JailError {
    #[error("the OS boundary is not available: {0}. ccgate will not start Claude without it; install bubblewrap (apt-get install bubblewrap) and allow unprivileged user namespaces, or set SANDBOX=off to run uncontained (not recommended)")]
    Unavailable(String),
    #[error("{0}")]
    Scan(String),
    #[error("cannot prepare the sandbox: {0}")]
    Io(#[from] std::io::Error),
}

/// Settings from which a [`Jail`] is built (from `Config`).
#[derive(Debug, Clone)]
pub struct JailSettings {
    /// `SANDBOX=off` turns the boundary off.
    pub enabled: bool,
    /// `BWRAP_PATH`, default `bwrap` from `PATH`.
    pub bwrap: PathBuf,
    /// `SANDBOX_READ_ONLY_PATHS`: more trees visible read-only (toolchains, `/opt`…).
    pub read_only: Vec<PathBuf>,
    /// ccgate's own files and folders (data dir, `.env`, database, lock dir): never visible,
    /// even when they lie inside a project.
    pub hidden: Vec<PathBuf>,
    /// `SANDBOX_SCAN_LIMIT`: most directory entries walked to find secret files.
    pub scan_limit: usize,
    /// The ccgate binary that runs as init (default: this executable; tests name it).
    pub init_exe: Option<PathBuf>,
}

/// The boundary, computed once at start.
#[derive(Debug)]
pub struct Jail {
    mechanism: Mechanism,
    /// Why the boundary is missing (then every launch fails), if it is.
    unavailable: Option<String>,
    init_exe: PathBuf,
    read_only: Vec<PathBuf>,
    hidden: Vec<PathBuf>,
    scan_limit: usize,
    /// ccgate's private runtime folder (0700): masks, per-process temp dirs and sockets.
    runtime: PathBuf,
    mask_file: PathBuf,
    mask_dir: PathBuf,
    /// What is hidden under `/etc`, found once at start.
    etc_masks: Vec<PathBuf>,
}

/// One process's view of the world.
#[derive(Debug, Clone)]
pub struct Cell<'a> {
    /// The chat's directory (canonical): read-write.
    pub project: &'a Path,
    /// The private HOME (exists).
    pub home: &'a Path,
    /// The private temp dir (exists), mounted at `/tmp`.
    pub tmp: &'a Path,
    /// The egress gateway's socket folder, mounted at [`SOCKETS_INSIDE`].
    pub sockets: Option<&'a Path>,
    /// The CLI binary (canonical).
    pub cli: &'a Path,
    pub secrets: &'a SecretFiles,
}

impl Jail {
    /// Build the boundary; a missing mechanism is recorded (and reported on every launch),
    /// not an error, so the bot can still answer and explain.
    pub fn new(settings: &JailSettings, runtime: PathBuf) -> std::io::Result<Jail> {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&runtime)?;
        std::fs::set_permissions(&runtime, std::fs::Permissions::from_mode(0o700))?;
        let runtime = runtime.canonicalize()?;
        let mask_file = runtime.join("masked-file");
        let mask_dir = runtime.join("masked-dir");
        if !mask_file.exists() {
            std::fs::write(&mask_file, b"")?;
        }
        std::fs::set_permissions(&mask_file, std::fs::Permissions::from_mode(0o000))?;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o000)
            .create(&mask_dir)?;
        std::fs::set_permissions(&mask_dir, std::fs::Permissions::from_mode(0o000))?;
        let init_exe = match &settings.init_exe {
            Some(p) => p.canonicalize()?,
            None => std::env::current_exe()?.canonicalize()?,
        };
        let (mechanism, unavailable) = if settings.enabled {
            match which(&settings.bwrap) {
                Some(p) => (Mechanism::Bubblewrap(p), None),
                None => (
                    Mechanism::Bubblewrap(settings.bwrap.clone()),
                    Some(format!(
                        "bubblewrap ({}) not found",
                        settings.bwrap.display()
                    )),
                ),
            }
        } else {
            (Mechanism::Off, None)
        };
        let mut hidden: Vec<PathBuf> = Vec::new();
        for p in settings.hidden.iter().chain([&runtime]) {
            hidden.push(p.clone());
            if let Ok(c) = p.canonicalize() {
                hidden.push(c);
            }
        }
        let read_only = settings
            .read_only
            .iter()
            .filter_map(|p| p.canonicalize().ok())
            .collect();
        let mut etc_masks: Vec<PathBuf> = ETC_HIDDEN.iter().map(PathBuf::from).collect();
        etc_masks.extend(private_entries(Path::new("/etc"), 100_000));
        etc_masks.sort();
        etc_masks.dedup();
        let mut jail = Jail {
            etc_masks,
            mechanism,
            unavailable,
            init_exe,
            read_only,
            hidden,
            scan_limit: settings.scan_limit,
            runtime,
            mask_file,
            mask_dir,
        };
        if jail.unavailable.is_none() && jail.mechanism != Mechanism::Off {
            if let Err(e) = jail.probe() {
                jail.unavailable = Some(e);
            }
        }
        Ok(jail)
    }

    pub fn mechanism(&self) -> &Mechanism {
        &self.mechanism
    }

    /// Is a boundary in force for every launch?
    pub fn is_contained(&self) -> bool {
        self.mechanism != Mechanism::Off && self.unavailable.is_none()
    }

    /// Why launches fail, if they do.
    pub fn unavailable(&self) -> Option<&str> {
        self.unavailable.as_deref()
    }

    /// ccgate's private runtime folder.
    pub fn runtime(&self) -> &Path {
        &self.runtime
    }

    /// One line for `/status`, `ccgate doctor` and the start-up log.
    pub fn summary(&self) -> String {
        match (&self.mechanism, &self.unavailable) {
            (Mechanism::Off, _) => "⚠️ OFF (SANDBOX=off): Claude runs with ccgate's own rights — it can read the operator's files and reach the network".into(),
            (Mechanism::Bubblewrap(_), Some(why)) => format!("❌ unavailable ({why}): Claude will not be started"),
            (Mechanism::Bubblewrap(p), None) => format!(
                "bubblewrap ({}): own mount/PID/network/IPC/user namespaces, no capabilities; project read-write with secret files masked, private HOME and /tmp, system read-only; network only through ccgate's egress gateway",
                p.display()
            ),
        }
    }

    /// Each layer and what it covers, for `ccgate doctor`.
    pub fn layers(&self) -> Vec<(&'static str, String)> {
        let on = self.is_contained();
        let state = |s: &str| {
            if on {
                s.to_string()
            } else {
                "not enforced".into()
            }
        };
        vec![
            ("files", state("only the chat's project (rw), private HOME and /tmp (rw), system trees (ro); operator home, ccgate's data, .env, database, lock dir and other projects do not exist inside")),
            ("secret files", state("masked in the project at start: unreadable to every tool, script and @mention")),
            ("processes", state("own PID namespace: ccgate is invisible, cannot be signalled or traced; init is PID 1 and ends everything when ccgate ends (kill -9 included)")),
            ("network", state("own network namespace with loopback only; the model API through the gateway with an ephemeral key; other hosts only through the CONNECT proxy and EGRESS_ALLOW")),
            ("privileges", state("all capabilities dropped, no new user namespaces")),
            ("lifetime", "init holds a lifeline to ccgate: no claude outlives it".into()),
        ]
    }

    /// The command that runs `cli_args` for `cell` inside the boundary (or, with
    /// `SANDBOX=off`, under init only). The child must get the lifeline's read end as
    /// [`LIFELINE_FD`] (see [`Lifeline::attach`]).
    pub fn command(&self, cell: &Cell<'_>, cli_args: &[String]) -> Result<Command, JailError> {
        self.command_with(cell, cli_args, &[])
    }

    /// [`Jail::command`] with `overlays`: (host file, path inside) pairs mounted read-only
    /// last, over everything else at that path — the secret masks included, so an overlay must
    /// hold nothing secret. The `/git` panel puts a disarmed copy of a repository's
    /// configuration over `.git/config` this way (see `policy::git_config`). Without a
    /// boundary (`SANDBOX=off`) there is nothing to mount into: overlays are refused.
    pub fn command_with(
        &self,
        cell: &Cell<'_>,
        cli_args: &[String],
        overlays: &[(PathBuf, PathBuf)],
    ) -> Result<Command, JailError> {
        if let Some(why) = &self.unavailable {
            return Err(JailError::Unavailable(why.clone()));
        }
        match &self.mechanism {
            Mechanism::Off if !overlays.is_empty() => Err(JailError::Unavailable(
                "SANDBOX=off: no boundary to run this in".into(),
            )),
            Mechanism::Off => {
                let mut cmd = Command::new(&self.init_exe);
                cmd.arg(init::INIT_ARG)
                    .arg("--lifeline-fd")
                    .arg(LIFELINE_FD.to_string())
                    .arg("--")
                    .arg(cell.cli)
                    .args(cli_args)
                    .current_dir(cell.project);
                Ok(cmd)
            }
            Mechanism::Bubblewrap(bwrap) => {
                let found = masks::scan(cell.project, cell.secrets, &self.hidden, self.scan_limit)
                    .map_err(JailError::Scan)?;
                let mut cmd = Command::new(bwrap);
                cmd.args(self.bwrap_args_with(cell, &found, overlays, cli_args))
                    .current_dir(cell.project);
                Ok(cmd)
            }
        }
    }

    /// bubblewrap's arguments (public for tests and the benchmark).
    pub fn bwrap_args(
        &self,
        cell: &Cell<'_>,
        found: &masks::Masks,
        cli_args: &[String],
    ) -> Vec<OsString> {
        self.bwrap_args_with(cell, found, &[], cli_args)
    }

    fn bwrap_args_with(
        &self,
        cell: &Cell<'_>,
        found: &masks::Masks,
        overlays: &[(PathBuf, PathBuf)],
        cli_args: &[String],
    ) -> Vec<OsString> {
        let mut a = Args::default();
        a.flags(&[
            "--unshare-user",
            "--unshare-pid",
            "--unshare-net",
            "--unshare-ipc",
            "--unshare-uts",
            "--unshare-cgroup-try",
            "--disable-userns",
            "--cap-drop",
            "ALL",
            "--as-pid-1",
            "--hostname",
            "ccgate-sandbox",
        ]);
        for t in SYSTEM_TREES {
            if Path::new(t).is_dir() {
                a.two("--ro-bind", t, t);
            }
        }
        for l in SYSTEM_LINKS {
            let p = Path::new(l);
            match std::fs::read_link(p) {
                Ok(target) => a.two("--symlink", target, p),
                Err(_) if p.is_dir() => a.two("--ro-bind", p, p),
                Err(_) => {}
            }
        }
        for h in &self.etc_masks {
            self.mask(&mut a, h);
        }
        for p in &self.read_only {
            a.two("--ro-bind", p, p);
        }
        a.one("--proc", "/proc");
        a.one("--dev", "/dev");
        a.two("--bind", cell.tmp, "/tmp");
        a.two("--bind", cell.home, cell.home);
        a.two("--bind", cell.project, cell.project);
        // Order matters: a later mount covers an earlier one at or below the same place. The
        // `.git` anchors first, then git's runtime config read-only, then the secret masks, which
        // always win.
        for g in &found.anchors {
            a.two("--bind", g, g);
        }
        // Configuration that runs code later *outside* the boundary (git hooks, `core.hooksPath`,
        // `core.fsmonitor`…) stays read-only, so nothing Claude runs can plant it for the
        // operator's next `git commit` on the host.
        for r in &found.read_only {
            a.two("--ro-bind", r, r);
        }
        for m in &found.files {
            a.two("--ro-bind", &self.mask_file, m);
        }
        for m in &found.dirs {
            a.two("--ro-bind", &self.mask_dir, m);
        }
        // Read-only tool trees below HOME or the project stay read-only.
        for p in &self.read_only {
            if p.starts_with(cell.home) || p.starts_with(cell.project) {
                a.two("--ro-bind", p, p);
            }
        }
        for (host, inside) in overlays {
            a.two("--ro-bind", host, inside);
        }
        a.two("--ro-bind", cell.cli, cell.cli);
        a.two("--ro-bind", &self.init_exe, INIT_INSIDE);
        let mut forwards: Vec<OsString> = Vec::new();
        if let Some(s) = cell.sockets {
            a.two("--bind", s, SOCKETS_INSIDE);
            for (port, name) in [(API_PORT, "api.sock"), (PROXY_PORT, "proxy.sock")] {
                forwards.push("--forward".into());
                forwards.push(format!("{port}={SOCKETS_INSIDE}/{name}").into());
            }
        }
        // Nothing but the mounts above is writable: the root of the new tree is read-only.
        a.one("--remount-ro", "/");
        a.one("--chdir", cell.project);
        a.flags(&["--", INIT_INSIDE, init::INIT_ARG, "--pid1", "--lifeline-fd"]);
        a.0.push(LIFELINE_FD.to_string().into());
        a.0.extend(forwards);
        a.0.push("--".into());
        a.0.push(cell.cli.into());
        a.0.extend(cli_args.iter().map(OsString::from));
        a.0
    }

    fn mask(&self, a: &mut Args, p: &Path) {
        match std::fs::symlink_metadata(p) {
            Ok(m) if m.is_dir() => a.two("--ro-bind", &self.mask_dir, p),
            Ok(m) if m.is_file() => a.two("--ro-bind", &self.mask_file, p),
            _ => {}
        }
    }

    /// Run a trivial contained process and check what it sees: the boundary works on this
    /// kernel, or the reason it does not.
    pub fn probe(&self) -> Result<(), String> {
        let Mechanism::Bubblewrap(bwrap) = &self.mechanism else {
            return Ok(());
        };
        let dir = tempdir_in(&self.runtime).map_err(|e| e.to_string())?;
        let secrets = SecretFiles::defaults().map_err(|e| e.to_string())?;
        let cell = Cell {
            project: &dir,
            home: &dir,
            tmp: &dir,
            sockets: None,
            cli: &self.init_exe,
            secrets: &secrets,
        };
        let mut args = self.bwrap_args(&cell, &masks::Masks::default(), &[]);
        // Run the probe instead of a CLI: replace the program after the last `--`.
        let last = args.iter().rposition(|a| a == "--").unwrap_or(args.len());
        args.truncate(last + 1);
        args.push(INIT_INSIDE.into());
        args.push(PROBE_ARG.into());
        let (reader, writer) = lifeline::pipe().map_err(|e| e.to_string())?;
        let mut cmd = Command::new(bwrap);
        cmd.args(&args)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .stdin(std::process::Stdio::null());
        lifeline::attach(&mut cmd, reader);
        let out = cmd
            .output()
            .map_err(|e| format!("cannot run bubblewrap: {e}"));
        drop(writer);
        let _ = std::fs::remove_dir_all(&dir);
        let out = out?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            return Err(format!(
                "bubblewrap failed ({}): {}",
                out.status,
                err.trim().lines().last().unwrap_or("")
            ));
        }
        check_probe(&stdout)
    }
}

/// Entries under `dir` that other users may not read (a file without `o+r`, a folder without
/// `o+r` or `o+x`): private by the owner's intent, yet readable inside the sandbox when ccgate
/// runs as their owner (root). Symlinks are not followed; at most `limit` entries are walked.
pub fn private_entries(dir: &Path, limit: usize) -> Vec<PathBuf> {
    use std::os::unix::fs::MetadataExt;
    let mut out = Vec::new();
    // A partial list on a huge /etc still hides what it found.
    let _ = crate::walk::walk(dir, limit, |path, m| {
        let mode = m.mode();
        let private = if m.is_dir() {
            mode & 0o005 != 0o005
        } else {
            m.is_file() && mode & 0o004 == 0
        };
        if private {
            out.push(path.to_path_buf());
        }
        !private
    });
    out
}

/// The hidden sub-command run by [`Jail::probe`] inside the sandbox.
pub const PROBE_ARG: &str = "__jail-probe";

/// What the probe reports from inside: one `key=value` per line.
pub fn probe_main() -> std::process::ExitCode {
    let pid = std::process::id();
    let procs = std::fs::read_dir("/proc")
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_name().to_string_lossy().parse::<u32>().is_ok())
                .count()
        })
        .unwrap_or(0);
    let ifaces = std::fs::read_to_string("/proc/net/dev")
        .map(|s| {
            s.lines()
                .skip(2)
                .filter_map(|l| l.split(':').next())
                .map(|n| n.trim().to_string())
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    let caps = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("CapEff:"))
                .map(|l| l[7..].trim().to_string())
        })
        .unwrap_or_default();
    let home_visible = Path::new("/root").exists() || Path::new("/home").exists();
    println!(
        "pid={pid}\nprocs={procs}\nifaces={ifaces}\ncapeff={caps}\nhome_visible={home_visible}"
    );
    std::process::ExitCode::SUCCESS
}

fn check_probe(out: &str) -> Result<(), String> {
    let get = |k: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .unwrap_or("")
            .to_string()
    };
    if get("ifaces") != "lo" {
        return Err(format!(
            "the sandbox has network interfaces besides loopback: {}",
            get("ifaces")
        ));
    }
    if !get("capeff").trim_start_matches('0').is_empty() {
        return Err(format!("the sandbox kept capabilities: {}", get("capeff")));
    }
    let procs: usize = get("procs").parse().unwrap_or(usize::MAX);
    if procs > 3 {
        return Err(format!(
            "the sandbox sees {procs} processes: no PID namespace"
        ));
    }
    if get("home_visible") == "true" {
        return Err("the sandbox sees /root or /home".into());
    }
    Ok(())
}

#[derive(Default)]
struct Args(Vec<OsString>);

impl Args {
    fn flags(&mut self, f: &[&str]) {
        self.0.extend(f.iter().map(OsString::from));
    }
    fn one(&mut self, flag: &str, v: impl AsRef<std::ffi::OsStr>) {
        self.0.push(flag.into());
        self.0.push(v.as_ref().to_os_string());
    }
    fn two(&mut self, flag: &str, a: impl AsRef<std::ffi::OsStr>, b: impl AsRef<std::ffi::OsStr>) {
        self.0.push(flag.into());
        self.0.push(a.as_ref().to_os_string());
        self.0.push(b.as_ref().to_os_string());
    }
}

/// What every sandbox shows read-only whatever the project: the system trees and their links,
/// and `read_only` (`SANDBOX_READ_ONLY_PATHS`), canonical. A host path below one of these needs
/// no mount of its own (e.g. an MCP server's command, see `policy::mcp`).
pub fn shown_read_only(read_only: &[PathBuf]) -> Vec<PathBuf> {
    SYSTEM_TREES
        .iter()
        .chain(SYSTEM_LINKS)
        .map(Path::new)
        .chain(read_only.iter().map(PathBuf::as_path))
        .filter_map(|p| p.canonicalize().ok())
        .collect()
}

/// `name` as given if it has a slash, else the first match in `PATH` (a file either way).
pub fn which(name: &Path) -> Option<PathBuf> {
    if name.components().count() > 1 {
        return name.is_file().then(|| name.to_path_buf());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// Remove a runtime folder of ccgate's (this run's at shutdown, or a dead run's at start). The
/// mask file and folder are mode 000, so they are made removable first.
pub fn remove_runtime(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    for name in ["masked-dir", "masked-file"] {
        let _ = std::fs::set_permissions(dir.join(name), std::fs::Permissions::from_mode(0o700));
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// A fresh private directory (0700) under `base`.
pub fn tempdir_in(base: &Path) -> std::io::Result<PathBuf> {
    use std::os::unix::fs::DirBuilderExt;
    for _ in 0..16 {
        let name = format!("p{:016x}", rand::random::<u64>());
        let p = base.join(name);
        match std::fs::DirBuilder::new().mode(0o700).create(&p) {
            Ok(()) => return Ok(p),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::other("no free temporary name"))
}
