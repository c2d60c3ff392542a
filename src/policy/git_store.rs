//! Secrets in git's object store: `git show HEAD:.env` reads a file no path argument names.
//!
//! Why it exists: a `.env` committed once (and deleted since) is still in the repository, and
//! every git command that prints content — `git show <rev>:<path>`, `git log -p`, `git diff
//! <rev>`, `git cat-file -p`, `git archive`, `git grep`, `git stash show -p`, `git
//! format-patch` — can print it back at any revision. Reading it that way is reading the file,
//! and the secret-file rule must treat it so. The shell classifier (`policy::bash`) records
//! what each git invocation may print ([`GitRead`]); this module knows which paths the
//! repository holds and decides.
//!
//! How: for a command that names objects (`HEAD:.env`, `:0:config/.env`, `v1:` for a whole
//! tree), the named path is checked like a file, and a tree holding secret paths counts as
//! secret. For a command that prints entries no argument names (`git log -p`, `git show
//! <commit>`, `git diff HEAD~3`, `git ls-files`, `git archive HEAD`), ccgate learns which paths
//! the repository holds at all — every path of every reachable revision (all refs, the reflog,
//! the stash) and of the index — by running git itself, and refuses when a secret path is among
//! those the command's pathspecs leave in. `git log -p -- src/` or `git show HEAD -- .
//! ':!**/.env'` stay allowed; a repository that never held a secret file is not affected.
//!
//! Decisions, and why:
//!
//! - Ask git, not a parser of `.git/`: packs, the index format and reflogs are git's to read.
//!   git runs read-only and disarmed: no hooks, no fsmonitor, no pager, no external diff or
//!   textconv, no signature checks, no lazy fetches, no user or system config, a clean
//!   environment, a timeout and an output limit. A limit or timeout is *unknown*, which asks
//!   (never allows); a known secret is a deny.
//! - The whole store, not the revisions a command names: `git show <commit>` in a repository
//!   whose history once held `.env` is refused although that commit may not touch it. Finding
//!   out exactly would mean running the model's own git arguments on the host; the
//!   over-approximation costs one pathspec (the refusal says how) and only in repositories that
//!   committed a secret, where caution is due.
//! - Listing counts: `git ls-files`, `git log --stat` and `git ls-tree` print secret *names*,
//!   which ccgate never lists either.
//! - Credential carriers (`.git/config`, `.npmrc`, `gradle.properties` …, see
//!   `secret_files::DEFAULT_CREDENTIAL_CARRIERS`) are secret in the store when any version held
//!   a credential: their history is read once per repository state and checked.
//! - Results are cached per repository and state (every ref, `HEAD`, the index), so a chat's
//!   git commands cost one `git show-ref` each after the first.
//!
//! Not covered: unreachable objects (a blob left by `git add .env && git reset`, printed with
//! `git cat-file -p <id>` once its id is known); submodules' own histories (`--submodule=diff`);
//! a checkout that brings a committed secret back into the work tree (the file is then secret by
//! name; the OS boundary masks it from the next start).

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use super::bash::{GitRead, GitScope};
use super::secret_files::SecretFiles;

/// Longest a git call of the policy may take.
pub const GIT_TIMEOUT: Duration = Duration::from_secs(10);
/// Most bytes read from one git call.
const MAX_OUTPUT: usize = 64 * 1024 * 1024;
/// Most credential carriers whose history is read; more makes the store unknown.
const MAX_CARRIERS: usize = 32;
/// Repositories remembered.
const CACHE_SIZE: usize = 64;

/// What the policy makes of the git reads of one command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Ok,
    /// Would print a secret file (content or name): deny.
    Secret(String),
    /// Cannot tell (timeout, limit, odd repository): ask.
    Unknown(String),
}

/// The secret paths a repository's store holds.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Store {
    /// The work tree's top (the git dir for a bare repository).
    top: PathBuf,
    /// Secret paths of any revision or the index, relative to `top`, `/`-separated.
    secret: Vec<String>,
    /// Secret paths of the index (and tracked files of the work tree).
    index: Vec<String>,
    /// Secret paths of `HEAD`'s tree.
    head: Vec<String>,
}

/// Check what the git invocations of one command may print.
pub fn check(secrets: &SecretFiles, reads: &[GitRead]) -> Verdict {
    for read in reads {
        if read.explicit_repo {
            return Verdict::Unknown(
                "git works on a repository named by --git-dir/--work-tree or an unknown directory; ccgate cannot check its history for secret files".into(),
            );
        }
        for dir in &read.dirs {
            let v = check_one(secrets, read, dir);
            if v != Verdict::Ok {
                return v;
            }
        }
    }
    Verdict::Ok
}

fn check_one(secrets: &SecretFiles, read: &GitRead, dir: &Path) -> Verdict {
    let store = match store_of(secrets, dir) {
        Ok(Some(s)) => s,
        Ok(None) => return Verdict::Ok, // not a repository: git prints nothing
        Err(e) => {
            return Verdict::Unknown(format!(
                "cannot tell which files the git history holds ({e})"
            ))
        }
    };
    let prefix = relative(&store.top, dir).unwrap_or_default();
    for object in &read.objects {
        let Some(rel) = (if object.starts_with("./") || object.starts_with("../") {
            join_rel(&prefix, object)
        } else {
            join_rel("", object)
        }) else {
            continue; // leaves the work tree: git refuses it
        };
        let shown = if rel.is_empty() { "/" } else { rel.as_str() };
        if secrets.is_secret_path_name(&store.top.join(&rel)) {
            return Verdict::Secret(format!(
                "{shown} in the git history is a protected secret file"
            ));
        }
        let inside: Vec<&String> = store
            .secret
            .iter()
            .filter(|p| rel.is_empty() || *p == &rel || p.starts_with(&format!("{rel}/")))
            .collect();
        if !inside.is_empty() {
            return Verdict::Secret(format!(
                "the git object {shown} holds secret files ({})",
                names(&inside)
            ));
        }
    }
    if read.entries {
        let specs: Vec<Spec> = read
            .pathspecs
            .iter()
            .filter_map(|s| Spec::parse(s, &prefix))
            .collect();
        let includes: Vec<&Spec> = specs.iter().filter(|s| !s.exclude).collect();
        let scope: Vec<&String> = match read.scope {
            GitScope::History => store.secret.iter().collect(),
            GitScope::Index => store.index.iter().collect(),
            GitScope::IndexAndHead => store.index.iter().chain(&store.head).collect(),
        };
        let shown: Vec<&String> = scope
            .into_iter()
            .filter(|p| includes.is_empty() || includes.iter().any(|s| s.includes(p)))
            .filter(|p| !specs.iter().any(|s| s.exclude && s.excludes(p)))
            .collect();
        if !shown.is_empty() {
            return Verdict::Secret(format!(
                "the git history or index holds secret files ({}) that this command may print; name the paths you need (`-- src/`) or exclude them (`-- . ':!**/.env'`)",
                names(&shown)
            ));
        }
    }
    Verdict::Ok
}

fn names(paths: &[&String]) -> String {
    let mut out: Vec<String> = paths.iter().take(3).map(|p| p.to_string()).collect();
    if paths.len() > 3 {
        out.push(format!("and {} more", paths.len() - 3));
    }
    out.join(", ")
}

/// `dir` relative to `top` as a `/`-separated string ("" for the top itself).
fn relative(top: &Path, dir: &Path) -> Option<String> {
    let rel = dir.strip_prefix(top).ok()?;
    Some(
        rel.components()
            .filter_map(|c| c.as_os_str().to_str())
            .collect::<Vec<_>>()
            .join("/"),
    )
}

/// `prefix` joined with `path`, `.` and `..` folded; `None` if it leaves the top.
fn join_rel(prefix: &str, path: &str) -> Option<String> {
    let mut parts: Vec<&str> = prefix.split('/').filter(|p| !p.is_empty()).collect();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    Some(parts.join("/"))
}

/// One pathspec, resolved against the work tree's top.
#[derive(Debug)]
struct Spec {
    exclude: bool,
    /// Top-relative path or pattern.
    path: String,
    /// A wildcard pattern (and how it matches), or `None` for a literal path.
    glob: Option<globset::GlobMatcher>,
}

impl Spec {
    /// Parse git's pathspec magic (`:!x`, `:^x`, `:/x`, `:(top,exclude,icase,glob,literal)x`);
    /// `prefix` is the directory git runs in, relative to the top.
    fn parse(text: &str, prefix: &str) -> Option<Spec> {
        let (mut top, mut exclude, mut icase, mut glob, mut literal) =
            (false, false, false, false, false);
        let mut rest = text;
        if let Some(long) = text.strip_prefix(":(") {
            let (magic, after) = long.split_once(')')?;
            for m in magic.split(',') {
                match m.trim() {
                    "top" => top = true,
                    "exclude" => exclude = true,
                    "icase" => icase = true,
                    "glob" => glob = true,
                    "literal" => literal = true,
                    _ => {} // attr:…, prefix:… only narrow further
                }
            }
            rest = after;
        } else if let Some(short) = text.strip_prefix(':') {
            let end = short
                .find(|c| !matches!(c, '/' | '!' | '^'))
                .unwrap_or(short.len());
            for c in short[..end].chars() {
                match c {
                    '/' => top = true,
                    _ => exclude = true,
                }
            }
            rest = short[end..].strip_prefix(':').unwrap_or(&short[end..]);
        }
        let path = join_rel(if top { "" } else { prefix }, rest)?;
        let wild = !literal && rest.contains(['*', '?', '[']);
        let glob = if wild {
            Some(
                globset::GlobBuilder::new(&path)
                    .literal_separator(glob)
                    .case_insensitive(icase)
                    .backslash_escape(true)
                    .build()
                    .ok()?
                    .compile_matcher(),
            )
        } else {
            None
        };
        Some(Spec {
            exclude,
            path,
            glob,
        })
    }

    fn literal_covers(&self, p: &str) -> bool {
        self.path.is_empty() || p == self.path || p.starts_with(&format!("{}/", self.path))
    }

    /// May this pathspec select `p`? (Generous: also when it matches a leading directory.)
    fn includes(&self, p: &str) -> bool {
        match &self.glob {
            None => self.literal_covers(p),
            Some(g) => {
                g.is_match(p)
                    || Path::new(p)
                        .ancestors()
                        .any(|a| !a.as_os_str().is_empty() && g.is_match(a))
                    || self.literal_covers(p)
            }
        }
    }

    /// Does this exclusion surely remove `p`? (Strict: the path itself or a literal directory.)
    fn excludes(&self, p: &str) -> bool {
        match &self.glob {
            None => self.literal_covers(p),
            Some(g) => g.is_match(p),
        }
    }
}

// ---------------------------------------------------------------------------
// Running git
// ---------------------------------------------------------------------------

/// Configuration given on git's command line (`-c`), which wins over every configuration
/// file, the repository's own and its includes: no hooks, no fsmonitor daemon, no external
/// diff, pager, credential helper, askpass, ssh or signature program, no network protocol.
/// (Drivers a repository's config defines for its `.gitattributes` — textconv, filters — are
/// named by the repository, so they cannot be listed here: `--no-textconv`/`--no-ext-diff` on
/// each diff, and the `/git` panel runs with a disarmed copy of the config, see
/// [`super::git_config`].)
pub const DISARM_ARGS: &[&str] = &[
    "--no-pager",
    "-c",
    "core.hooksPath=/dev/null",
    "-c",
    "core.fsmonitor=false",
    "-c",
    "core.untrackedCache=false",
    "-c",
    "core.pager=cat",
    "-c",
    "core.askPass=",
    "-c",
    "core.sshCommand=false",
    "-c",
    "credential.helper=",
    "-c",
    "protocol.allow=never",
    "-c",
    "log.showSignature=false",
    "-c",
    "gpg.program=false",
    "-c",
    "core.quotePath=false",
    "-c",
    "diff.external=",
    "-c",
    "color.ui=never",
];

/// The whole environment of a disarmed git (nothing inherited but `PATH`): no user or system
/// configuration, no optional index writes, no prompts, lazy fetches or replace objects.
pub fn disarmed_env() -> Vec<(String, String)> {
    let path = std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into());
    [
        ("PATH", path.as_str()),
        ("HOME", "/nonexistent"),
        ("LC_ALL", "C"),
        ("GIT_CONFIG_NOSYSTEM", "1"),
        ("GIT_CONFIG_GLOBAL", "/dev/null"),
        ("GIT_ATTR_NOSYSTEM", "1"),
        ("GIT_OPTIONAL_LOCKS", "0"),
        ("GIT_TERMINAL_PROMPT", "0"),
        ("GIT_NO_LAZY_FETCH", "1"),
        ("GIT_NO_REPLACE_OBJECTS", "1"),
        ("GIT_PAGER", "cat"),
        ("PAGER", "cat"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// A git command in `dir`, disarmed ([`DISARM_ARGS`], [`disarmed_env`]); the caller adds
/// its arguments and stdio.
pub(crate) fn disarmed_git(dir: &Path) -> Command {
    let mut cmd = Command::new("git");
    cmd.env_clear()
        .envs(disarmed_env())
        .current_dir(dir)
        .args(DISARM_ARGS);
    cmd
}

/// Run git read-only and disarmed in `dir`; stdout on exit status 0 (or `ok_codes`).
pub(crate) fn git(dir: &Path, args: &[&str], ok_codes: &[i32]) -> Result<Vec<u8>, String> {
    let deadline = Instant::now() + GIT_TIMEOUT;
    let mut cmd = disarmed_git(dir);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| format!("cannot run git: {e}"))?;
    let mut stdout = child.stdout.take().ok_or("no stdout")?;
    let mut stderr = child.stderr.take().ok_or("no stderr")?;
    let reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let r = (&mut stdout)
            .take(MAX_OUTPUT as u64 + 1)
            .read_to_end(&mut buf);
        (buf, r.is_ok())
    });
    let err_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = (&mut stderr).take(64 * 1024).read_to_end(&mut buf);
        buf
    });
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break st,
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("git {} timed out", args.first().unwrap_or(&"")));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => return Err(format!("git: {e}")),
        }
    };
    let (out, ok) = reader.join().map_err(|_| "git output reader failed")?;
    let err = err_reader.join().unwrap_or_default();
    if !ok || out.len() > MAX_OUTPUT {
        return Err(format!(
            "git {} printed too much",
            args.first().unwrap_or(&"")
        ));
    }
    match status.code() {
        Some(0) => Ok(out),
        Some(c) if ok_codes.contains(&c) => Ok(out),
        _ => Err(String::from_utf8_lossy(&err)
            .trim()
            .chars()
            .take(300)
            .collect()),
    }
}

fn lines(out: &[u8], sep: u8) -> impl Iterator<Item = String> + '_ {
    out.split(move |b| *b == sep || *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| String::from_utf8_lossy(l).into_owned())
}

/// The repository `dir` is in: (git dir, top of the work tree, or the git dir when bare).
/// `Ok(None)` when `dir` is in no repository.
fn locate(dir: &Path) -> Result<Option<(PathBuf, PathBuf)>, String> {
    let out = match git(dir, &["rev-parse", "--absolute-git-dir"], &[]) {
        Ok(o) => o,
        Err(e) if e.contains("not a git repository") => return Ok(None),
        Err(e) => return Err(e),
    };
    let git_dir = PathBuf::from(String::from_utf8_lossy(&out).trim());
    let top = match git(dir, &["rev-parse", "--show-toplevel"], &[]) {
        Ok(o) => PathBuf::from(String::from_utf8_lossy(&o).trim()),
        Err(_) => git_dir.clone(), // bare: paths are relative to nothing on disk
    };
    Ok(Some((git_dir, top)))
}

/// What identifies the state of the store: every ref and `HEAD`, the index, the reflog.
fn fingerprint(dir: &Path, git_dir: &Path) -> Result<Vec<u8>, String> {
    let mut fp = git(dir, &["show-ref", "--head"], &[1])?;
    for f in ["index", "logs/HEAD", "packed-refs"] {
        if let Ok(m) = std::fs::metadata(git_dir.join(f)) {
            use std::os::unix::fs::MetadataExt;
            fp.extend(
                format!(
                    "{f}:{}:{}:{}:{};",
                    m.ino(),
                    m.size(),
                    m.mtime(),
                    m.mtime_nsec()
                )
                .bytes(),
            );
        }
    }
    Ok(fp)
}

type CacheEntry = (Vec<u8>, u64, Arc<Result<Store, String>>);

fn cache() -> &'static Mutex<HashMap<PathBuf, CacheEntry>> {
    static CACHE: OnceLock<Mutex<HashMap<PathBuf, CacheEntry>>> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(HashMap::new()))
}

/// The secret paths of the repository `dir` is in (cached per repository state).
fn store_of(secrets: &SecretFiles, dir: &Path) -> Result<Option<Store>, String> {
    let Some((git_dir, top)) = locate(dir)? else {
        return Ok(None);
    };
    let fp = fingerprint(dir, &git_dir)?;
    if let Ok(c) = cache().lock() {
        if let Some((f, id, store)) = c.get(&git_dir) {
            if *f == fp && *id == secrets.id() {
                return (**store).clone().map(Some);
            }
        }
    }
    let store = analyse(secrets, dir, &top);
    if let Ok(mut c) = cache().lock() {
        if c.len() >= CACHE_SIZE {
            c.clear();
        }
        c.insert(git_dir, (fp, secrets.id(), Arc::new(store.clone())));
    }
    store.map(Some)
}

/// Every path the store holds (reachable revisions, reflog, stash, index), filtered to the
/// secret ones; also those of the index and of `HEAD` alone.
fn analyse(secrets: &SecretFiles, dir: &Path, top: &Path) -> Result<Store, String> {
    let history = git(
        dir,
        &[
            "log",
            "--all",
            "--reflog",
            "-m",
            "--no-renames",
            "--name-only",
            "--format=",
            "-z",
        ],
        &[],
    )?;
    let index: Vec<String> = lines(
        &git(dir, &["ls-files", "-z", "--cached", "--full-name"], &[])?,
        0,
    )
    .collect();
    // No HEAD yet (a fresh repository): an empty tree.
    let head: Vec<String> = git(
        dir,
        &["ls-tree", "-r", "-z", "--name-only", "--full-tree", "HEAD"],
        &[128],
    )
    .map(|o| lines(&o, 0).collect())
    .unwrap_or_default();
    let mut all: Vec<String> = lines(&history, 0).chain(index.iter().cloned()).collect();
    all.sort();
    all.dedup();
    let mut store = Store {
        top: top.to_path_buf(),
        secret: Vec::new(),
        index: Vec::new(),
        head: Vec::new(),
    };
    let mut carriers = Vec::new();
    for p in all {
        let abs = top.join(&p);
        if secrets.is_secret_path_name(&abs) {
            if index.contains(&p) {
                store.index.push(p.clone());
            }
            if head.contains(&p) {
                store.head.push(p.clone());
            }
            store.secret.push(p);
        } else if secrets.is_carrier(&abs) {
            carriers.push(p);
        }
    }
    if carriers.len() > MAX_CARRIERS {
        return Err(format!(
            "more than {MAX_CARRIERS} configuration files that may hold credentials"
        ));
    }
    for p in carriers {
        let json = Path::new(&p)
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"));
        let holds = |bytes: &[u8]| {
            super::secret_files::holds_credential(&String::from_utf8_lossy(bytes), json)
        };
        let in_index = index.contains(&p)
            && (holds(&git(dir, &["cat-file", "blob", &format!(":{p}")], &[])?)
                || secrets.is_secret(&top.join(&p)));
        let in_head = head.contains(&p)
            && holds(&git(dir, &["cat-file", "blob", &format!("HEAD:{p}")], &[])?);
        if in_index {
            store.index.push(p.clone());
        }
        if in_head {
            store.head.push(p.clone());
        }
        if in_index || in_head || carrier_ever_held_credential(dir, &p)? {
            store.secret.push(p);
        }
    }
    store.secret.sort();
    Ok(store)
}

/// Did any version of the carrier `p` (top-relative) in the history hold a credential?
fn carrier_ever_held_credential(dir: &Path, p: &str) -> Result<bool, String> {
    let spec = format!(":(top,literal){p}");
    let patches = git(
        dir,
        &[
            "log",
            "--all",
            "--reflog",
            "-m",
            "--no-renames",
            "--no-ext-diff",
            "--no-textconv",
            "--format=",
            "-p",
            "--",
            &spec,
        ],
        &[],
    )?;
    let added: String = String::from_utf8_lossy(&patches)
        .lines()
        .filter(|l| l.starts_with('+') && !l.starts_with("+++"))
        .map(|l| format!("{}\n", &l[1..]))
        .collect();
    let json = Path::new(p)
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    Ok(super::secret_files::holds_credential(&added, json))
}

#[cfg(test)]
mod tests {
    use super::super::bash::object_path;
    use super::super::engine::{decide, Decision, Rules};
    use super::super::roles::Role;
    use super::super::ToolContext;
    use super::*;
    use serde_json::json;

    fn sh(dir: &Path, script: &str) {
        let out = Command::new("sh")
            .arg("-c")
            .arg(script)
            .current_dir(dir)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.com")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.com")
            .output()
            .unwrap();
        assert!(out.status.success(), "{script}: {out:?}");
    }

    /// A project whose history once held `.env` (deleted since), and a clean one next to it.
    fn with_repos(f: impl FnOnce(&ToolContext<'_>, &Path, &Path)) {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().canonicalize().unwrap();
        let dirty = root.join("dirty");
        let clean = root.join("clean");
        std::fs::create_dir_all(&dirty).unwrap();
        std::fs::create_dir_all(&clean).unwrap();
        sh(
            &dirty,
            "git init -q -b main . && mkdir -p src config docs && echo 'fn main(){}' > src/main.rs \
             && echo KEY=hunter2 > .env && echo 'registry=https://r.example/' > config/.npmrc \
             && echo doc > docs/a.md && git add -A && git commit -qm one \
             && echo '//r.example/:_authToken=npm_SECRET' >> config/.npmrc && git commit -qam two \
             && echo 'registry=https://r.example/' > config/.npmrc \
             && git rm -q .env && git commit -qam three && echo x >> src/main.rs && git commit -qam four",
        );
        sh(
            &clean,
            "git init -q -b main . && mkdir src && echo 'fn main(){}' > src/main.rs \
             && git add -A && git commit -qm one && echo KEY=1 > .env",
        );
        let secrets = SecretFiles::defaults().unwrap();
        let ctx = ToolContext {
            root: &root,
            cwd: &dirty,
            role: Role::Developer,
            secrets: &secrets,
            plans_dir: None,
            contained: true,
        };
        f(&ctx, &dirty, &clean);
    }

    fn bash(ctx: &ToolContext<'_>, c: &str) -> Decision {
        decide(&Rules::default(), ctx, "Bash", &json!({"command": c}))
    }

    #[test]
    fn git_commands_that_print_a_secret_of_any_revision_are_refused() {
        with_repos(|ctx, dirty, _| {
            for c in [
                // Named objects.
                "git show HEAD~3:.env",
                "git show HEAD~1:./.env",
                "git show 'HEAD@{2 days ago}:.env'",
                "git cat-file -p HEAD~3:.env",
                "git cat-file blob main~3:.env",
                "git diff HEAD~3:.env HEAD:src/main.rs",
                "git show HEAD~2:config/.npmrc",
                "git archive HEAD~3: | tar t",
                "git ls-tree HEAD~3:",
                "git log -L1,1:.env",
                "cd src && git show HEAD~3:../.env",
                "git -C src show HEAD~3:.env",
                // Patches, trees, names and matches of unnamed entries.
                "git log -p",
                "git log --all --patch",
                "git log -1p",
                "git log -U3",
                "git log --stat",
                "git log --name-only --format=",
                "git whatchanged",
                "git show HEAD~3",
                "git show",
                "git diff HEAD~3",
                "git diff HEAD~3 HEAD",
                "git diff-tree -r HEAD~3",
                "git format-patch --stdout -3",
                "git archive HEAD~3",
                "git archive --format=zip -o out.zip HEAD~2",
                "git grep hunter2 HEAD~3",
                "git grep -e hunter2 $(git rev-list --all)",
                "git ls-tree -r HEAD~3",
                "git rev-list --all --objects",
                "git cat-file -p 0123abcd",
                "git show -- config",
                "git log -p -- .",
                "git log -p -- '*.env'",
                "git log -p -- ':(glob)**/.npmrc'",
                "git log -p -- . ':!src'",
                "git log -p -- ':(top)config'",
                "git log -p -- . ':!.env'",
                "git -C src log -p -- ..",
                "git stash show -p",
                "git range-diff HEAD~3..HEAD HEAD~2..HEAD",
                "git blame HEAD~3 -- .env",
            ] {
                let d = bash(ctx, c);
                assert!(
                    matches!(&d, Decision::Deny { rule, .. } if rule.starts_with("secret_files")),
                    "{c}: {d:?}"
                );
            }
            // Ordinary work stays allowed.
            for c in [
                "git log",
                "git log --oneline -5",
                "git log --format='%h %s' -n 3",
                "git status",
                "git diff",
                "git diff --stat src",
                "git log -p -- src",
                "git log -p src/main.rs",
                "git show HEAD -- src/main.rs",
                "git show HEAD:src/main.rs",
                "git show HEAD~3:docs/a.md",
                "git cat-file -p HEAD:src/main.rs",
                "git cat-file -t HEAD",
                "git diff HEAD~3 -- src docs",
                "git log -p -- . ':!**/.env' ':!config'",
                "git log -p -- . ':(exclude).env' ':(exclude)config/.npmrc'",
                "git archive HEAD src | tar t",
                "git archive HEAD:src",
                "git grep main -- src",
                "git ls-tree HEAD:src",
                "git show HEAD~2:config/.npmrc~",
                "git blame src/main.rs",
                "git rev-parse HEAD",
                "git branch -a",
            ] {
                let d = bash(ctx, c);
                assert!(matches!(d, Decision::Allow { .. }), "{c}: {d:?}");
            }
            let Decision::Deny { reason, .. } = bash(ctx, "git log -p") else {
                panic!()
            };
            assert!(
                reason.contains(".env") && reason.contains("config/.npmrc"),
                "{reason}"
            );
            assert!(!reason.contains("docs/a.md"), "{reason}");
            // The index counts too: a staged secret is printed by `git diff --cached`.
            sh(dirty, "echo KEY=2 > .env.staged && git add -f .env.staged");
            let d = bash(ctx, "git diff --cached");
            assert!(matches!(d, Decision::Deny { .. }), "{d:?}");
            assert!(matches!(bash(ctx, "git ls-files"), Decision::Deny { .. }));
            assert!(matches!(
                bash(ctx, "git ls-files src"),
                Decision::Allow { .. }
            ));
        });
    }

    #[test]
    fn a_repository_that_never_held_a_secret_is_not_affected() {
        with_repos(|ctx, _, clean| {
            let ctx = ToolContext {
                cwd: clean,
                ..ctx.clone()
            };
            // `.env` exists in the work tree but was never committed.
            for c in [
                "git log -p",
                "git show",
                "git diff HEAD",
                "git archive HEAD | tar t",
                "git grep main",
                "git ls-files",
                "git log --stat",
            ] {
                let d = bash(&ctx, c);
                assert!(matches!(d, Decision::Allow { .. }), "{c}: {d:?}");
            }
            // Still refused by name, and untracked files are read by these.
            for c in ["git show HEAD:.env", "git grep --untracked KEY"] {
                assert!(!matches!(bash(&ctx, c), Decision::Allow { .. }), "{c}");
            }
        });
    }

    #[test]
    fn a_token_in_the_repository_config_is_secret_and_plain_config_is_not() {
        with_repos(|ctx, dirty, _| {
            for c in [
                "git remote -v",
                "git config --list",
                "git config --get remote.origin.url",
                "git remote get-url origin",
                "cat .git/config",
            ] {
                sh(
                    dirty,
                    "git remote add origin git@github.com:o/r.git 2>/dev/null || true",
                );
                let d = bash(ctx, c);
                assert!(matches!(d, Decision::Allow { .. }), "{c}: {d:?}");
            }
            sh(
                dirty,
                "git remote set-url origin https://ghp_tok@github.com/o/r.git",
            );
            for c in [
                "git remote -v",
                "git config --list",
                "git config -l",
                "git config get remote.origin.url",
                "git remote get-url origin",
                "cat .git/config",
                "git -C src config --get-regexp remote",
            ] {
                let d = bash(ctx, c);
                assert!(
                    matches!(&d, Decision::Deny { rule, .. } if rule == "secret_files"),
                    "{c}: {d:?}"
                );
            }
            let d = decide(
                &Rules::default(),
                ctx,
                "Read",
                &json!({"file_path": ".git/config"}),
            );
            assert!(matches!(d, Decision::Deny { .. }), "{d:?}");
            // Ordinary git work in that repository is not refused because of it.
            assert!(matches!(
                bash(ctx, "git log --oneline"),
                Decision::Allow { .. }
            ));
        });
    }

    #[test]
    fn what_cannot_be_known_asks() {
        with_repos(|ctx, _, _| {
            for c in ["git --git-dir=.git log -p", "git --work-tree=. show HEAD"] {
                let d = bash(ctx, c);
                assert!(matches!(&d, Decision::Ask { .. }), "{c}: {d:?}");
            }
            let d = bash(ctx, "git --work-tree=. show HEAD");
            assert_eq!(d.rule(), "secret_files.git_history");
        });
    }

    #[test]
    fn pathspecs_and_object_names() {
        assert_eq!(object_path("HEAD:.env"), Some(".env"));
        assert_eq!(object_path(":0:a/b"), Some("a/b"));
        assert_eq!(object_path(":a"), Some("a"));
        assert_eq!(object_path("v1:"), Some(""));
        assert_eq!(object_path("HEAD@{2024-01-01 10:00}:x"), Some("x"));
        assert_eq!(object_path("HEAD@{2024-01-01 10:00}"), None);
        assert_eq!(object_path(":/fix"), None);
        assert_eq!(object_path("HEAD~3"), None);
        let inc = |s: &str, prefix: &str, p: &str| Spec::parse(s, prefix).unwrap().includes(p);
        let exc = |s: &str, prefix: &str, p: &str| Spec::parse(s, prefix).unwrap().excludes(p);
        assert!(inc(".", "", "a/.env"));
        assert!(inc("a", "", "a/.env"));
        assert!(!inc("ab", "", "a/.env"));
        assert!(
            inc("*.env", "", "deep/x/.env"),
            "default pathspecs: * crosses /"
        );
        assert!(inc(":(glob)*", "", "a/.env"), "a leading directory matches");
        assert!(inc("..", "sub", "a/.env"));
        assert!(inc(":/a", "sub", "a/.env"));
        assert!(inc(":(top)a", "sub", "a/.env"));
        assert!(!inc("a", "sub", "a/.env"));
        assert!(exc(":!a", "", "a/.env"));
        assert!(exc(":(exclude,glob)**/.env", "", "a/b/.env"));
        assert!(exc(":^*.env", "", "a/.env"));
        assert!(
            !exc(":(exclude,glob)*.env", "", "a/.env"),
            "glob * stays in its folder"
        );
        assert!(!exc(":!.env", "", "a/.env"));
        assert!(Spec::parse(":!x", "").unwrap().exclude);
        assert!(Spec::parse("../..", "a").is_none(), "leaves the work tree");
    }
}
