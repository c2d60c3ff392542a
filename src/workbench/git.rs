//! `/git`: a read-only panel over the chat's repository (branch, ahead/behind, changed files)
//! with buttons for the diff, the log and the full status.
//!
//! Why it exists: a quick look at what Claude changed, without a Claude turn (no cost, no
//! tool calls) and without trusting the repository. git runs directly (no shell) inside the
//! same OS boundary as Claude (`Jail::command_with`: project mounted with secret files masked,
//! no network, nothing of ccgate visible), with the repository's `.git/config` replaced by a
//! disarmed copy (`policy::git_config`) and disarming `-c` options on top
//! (`policy::git_store::DISARM_ARGS`), `--no-ext-diff --no-textconv` on the diff, a timeout and
//! an output cap. Secret files (`policy::secret_files`) are left out of the diff by pathspec
//! and any section that still names one is replaced by "(secret file, not shown)".

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::io::AsyncReadExt;

use crate::jail::{Cell, Jail, Lifeline};
use crate::policy::git_config::{self, Repo};
use crate::policy::git_store::{disarmed_env, DISARM_ARGS};
use crate::policy::secret_files::SecretFiles;
use crate::telegram::html::escape;

/// Longest one git run of the panel may take.
pub const TIMEOUT: Duration = Duration::from_secs(15);
/// Most bytes read from one git run; the rest is cut (and said so).
pub const OUTPUT_CAP: usize = 1024 * 1024;
/// Most characters of rendered output shown in chat messages; longer diffs go as a document,
/// longer logs and status lists are cut with a note.
pub const SHOWN_CAP: usize = 3500;
/// Files listed on the panel itself.
const PANEL_FILES: usize = 15;
/// Commits the log shows.
const LOG_COMMITS: &str = "20";
/// What a masked diff section says instead of its hunks.
pub const SECRET_NOTE: &str = "(secret file, not shown)";

/// One panel view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    Panel,
    Diff,
    Log,
    Status,
}

impl View {
    pub fn parse(s: &str) -> Option<View> {
        match s {
            "panel" => Some(View::Panel),
            "diff" => Some(View::Diff),
            "log" => Some(View::Log),
            "status" => Some(View::Status),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            View::Panel => "panel",
            View::Diff => "diff",
            View::Log => "log",
            View::Status => "status",
        }
    }
}

/// The panel's buttons (callback data `git:<view>`).
pub fn buttons() -> Vec<Vec<crate::telegram::api::Button>> {
    use crate::telegram::api::Button;
    vec![vec![
        Button {
            text: "📝 Diff".into(),
            data: "git:diff".into(),
        },
        Button {
            text: "📜 Log".into(),
            data: "git:log".into(),
        },
        Button {
            text: "📋 Status".into(),
            data: "git:status".into(),
        },
    ]]
}

/// What a view produced.
#[derive(Debug, Default)]
pub struct Shown {
    /// HTML messages (each well under Telegram's limit once split).
    pub html: Vec<String>,
    /// A long output as a document: (file name, text, HTML caption).
    pub document: Option<(String, String, String)>,
    /// Secret files whose content was left out.
    pub masked: Vec<String>,
    /// The panel itself (sent with its buttons).
    pub panel: bool,
    /// Why git could not run, when it could not (the message says so too).
    pub refused: Option<String>,
}

/// One finished git run.
#[derive(Debug)]
pub struct Output {
    pub stdout: Vec<u8>,
    /// The output went past [`OUTPUT_CAP`] and was cut there.
    pub cut: bool,
}

/// Run `git <args>` for the repository at `top` inside the boundary; stdout on success.
pub async fn run(
    jail: &Jail,
    secrets: &SecretFiles,
    top: &Path,
    git_dir: &Path,
    args: &[&str],
) -> Result<Output, String> {
    if !jail.is_contained() {
        return Err(match jail.unavailable() {
            Some(why) => {
                format!("the OS boundary is not available ({why}); /git runs git only inside it")
            }
            None => "the OS boundary is off (SANDBOX=off); /git runs git only inside it".into(),
        });
    }
    let git = crate::jail::which(Path::new("git"))
        .and_then(|p| p.canonicalize().ok())
        .ok_or("git is not installed")?;
    let started = std::time::Instant::now();
    let config_of = git_dir.join("config");
    // A regular file, not a link: the disarmed copy is read from and mounted at this path.
    if !std::fs::symlink_metadata(&config_of).is_ok_and(|m| m.is_file()) {
        return Err("the repository's .git/config is missing or not a regular file".into());
    }
    let gd = git_dir.to_path_buf();
    let config = tokio::task::spawn_blocking(move || git_config::disarmed_config(&gd))
        .await
        .map_err(|e| e.to_string())??;
    let tmp = crate::jail::tempdir_in(jail.runtime()).map_err(|e| e.to_string())?;
    let _cleanup = RemoveOnDrop(tmp.clone());
    let sanitised = tmp.join("git-config");
    std::fs::write(&sanitised, config).map_err(|e| e.to_string())?;
    let cell = Cell {
        project: top,
        home: &tmp,
        tmp: &tmp,
        sockets: None,
        cli: &git,
        secrets,
    };
    // The mask scan walks the project, as every Claude launch does (`Launcher::prepare`).
    let mut cmd = jail
        .command_with(&cell, &argv_of(args), &[(sanitised, config_of)])
        .map_err(|e| e.to_string())?;
    let mut env = disarmed_env();
    if let Some(parent) = top.parent() {
        env.push((
            "GIT_CEILING_DIRECTORIES".into(),
            parent.to_string_lossy().into_owned(),
        ));
    }
    cmd.env_clear().envs(env);
    let (lifeline, reader) = Lifeline::new().map_err(|e| e.to_string())?;
    crate::jail::lifeline::attach(&mut cmd, reader);
    let mut cmd = tokio::process::Command::from(cmd);
    cmd.stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn().map_err(|e| format!("cannot run git: {e}"))?;
    let mut stdout = child.stdout.take().ok_or("no stdout")?;
    let mut stderr = child.stderr.take().ok_or("no stderr")?;
    let mut lifeline = Some(lifeline);
    let work = async {
        let mut out = Vec::new();
        let mut err = Vec::new();
        // stdout first (up to the cap), then stderr: a cut stops git before it could block
        // on a full pipe nobody reads.
        (&mut stdout)
            .take(OUTPUT_CAP as u64 + 1)
            .read_to_end(&mut out)
            .await
            .map_err(|e| e.to_string())?;
        let cut = out.len() > OUTPUT_CAP;
        if cut {
            out.truncate(OUTPUT_CAP);
            // Stop git: the rest is not read (closing the lifeline ends the whole sandbox).
            lifeline.take();
            let _ = child.start_kill();
        }
        let _ = (&mut stderr).take(16 * 1024).read_to_end(&mut err).await;
        let status = child.wait().await.map_err(|e| e.to_string())?;
        Ok::<_, String>((out, err, status, cut))
    };
    let result = tokio::time::timeout(TIMEOUT, work).await;
    // Ends init, and with it everything in the sandbox's PID namespace.
    drop(lifeline);
    let (out, err, status, cut) = match result {
        Ok(r) => r?,
        Err(_) => {
            return Err(format!(
                "git took longer than {}s and was stopped",
                TIMEOUT.as_secs()
            ))
        }
    };
    tracing::debug!(
        command = args.first().copied().unwrap_or(""),
        ms = started.elapsed().as_millis() as u64,
        bytes = out.len(),
        "jailed git run"
    );
    if !cut && !status.success() {
        let msg = String::from_utf8_lossy(&err);
        let msg = msg
            .lines()
            .filter(|l| !l.trim().is_empty())
            .take(3)
            .collect::<Vec<_>>()
            .join(" ");
        return Err(if msg.is_empty() {
            format!("git failed ({status})")
        } else {
            msg.chars().take(400).collect()
        });
    }
    Ok(Output { stdout: out, cut })
}

fn argv_of(args: &[&str]) -> Vec<String> {
    DISARM_ARGS
        .iter()
        .chain(args)
        .map(|s| s.to_string())
        .collect()
}

struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

// ---------------------------------------------------------------------------
// Reading git's answers
// ---------------------------------------------------------------------------

/// One changed path from `git status --porcelain=v2`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Two status letters (index, work tree), `??` for untracked, `UU`… for conflicts.
    pub code: String,
    pub path: String,
    /// The path before a rename or copy.
    pub from: Option<String>,
}

/// The branch and changes `git status --porcelain=v2 --branch -z` reports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Status {
    /// `None` for a detached HEAD.
    pub branch: Option<String>,
    /// No commit yet.
    pub unborn: bool,
    pub upstream: Option<String>,
    pub ahead: u64,
    pub behind: u64,
    pub changes: Vec<Change>,
}

/// Parse `git status --porcelain=v2 --branch -z` output.
pub fn parse_status(out: &[u8]) -> Status {
    let mut st = Status::default();
    let mut records = out.split(|b| *b == 0).map(String::from_utf8_lossy);
    while let Some(rec) = records.next() {
        if let Some(h) = rec.strip_prefix("# ") {
            let (k, v) = h.split_once(' ').unwrap_or((h, ""));
            match k {
                "branch.oid" => st.unborn = v == "(initial)",
                "branch.head" if v != "(detached)" => st.branch = Some(v.to_string()),
                "branch.upstream" => st.upstream = Some(v.to_string()),
                "branch.ab" => {
                    for n in v.split(' ') {
                        if let Some(a) = n.strip_prefix('+') {
                            st.ahead = a.parse().unwrap_or(0);
                        } else if let Some(b) = n.strip_prefix('-') {
                            st.behind = b.parse().unwrap_or(0);
                        }
                    }
                }
                _ => {}
            }
            continue;
        }
        let fields = |n: usize| rec.splitn(n, ' ').collect::<Vec<_>>();
        match rec.chars().next() {
            Some('1') => {
                let f = fields(9);
                if let (Some(code), Some(path)) = (f.get(1), f.get(8)) {
                    st.changes.push(Change {
                        code: code.replace('.', " "),
                        path: path.to_string(),
                        from: None,
                    });
                }
            }
            Some('2') => {
                let f = fields(10);
                let from = records.next().map(|r| r.into_owned());
                if let (Some(code), Some(path)) = (f.get(1), f.get(9)) {
                    st.changes.push(Change {
                        code: code.replace('.', " "),
                        path: path.to_string(),
                        from,
                    });
                }
            }
            Some('u') => {
                let f = fields(11);
                if let (Some(code), Some(path)) = (f.get(1), f.get(10)) {
                    st.changes.push(Change {
                        code: code.to_string(),
                        path: path.to_string(),
                        from: None,
                    });
                }
            }
            Some('?') => st.changes.push(Change {
                code: "??".into(),
                path: rec[2..].to_string(),
                from: None,
            }),
            _ => {}
        }
    }
    st
}

/// Is the repository path `rel` one whose content must not be shown: secret by name (it or
/// a folder above it), a credential carrier (whose old versions may hold a token), or secret
/// by its current content?
pub fn is_secret(secrets: &SecretFiles, top: &Path, rel: &str) -> bool {
    let abs = top.join(rel);
    secrets.is_secret_path_name(&abs) || secrets.is_carrier(&abs) || secrets.is_secret(&abs)
}

/// Inside the boundary a tracked secret file's work-tree copy is masked (an unreadable empty
/// file), so git reports it changed whatever it holds. Its work-tree column is worked out
/// here instead: ccgate hashes the real file as git would (`blob <len>\0<content>`, SHA-1 or
/// SHA-256 as the index's ids are) and compares it with the index entry git lists without
/// reading the work tree. The content is only hashed, never shown. Returns the tracked
/// secret paths git saw (each must be kept out of any later command that reads the work tree).
async fn fix_masked(
    jail: &Jail,
    secrets: &SecretFiles,
    top: &Path,
    git_dir: &Path,
    st: &mut Status,
) -> Result<Vec<String>, String> {
    let masked: Vec<String> = st
        .changes
        .iter()
        .filter(|c| c.code != "??" && is_secret(secrets, top, &c.path))
        .map(|c| c.path.clone())
        .collect();
    if masked.is_empty() {
        return Ok(masked);
    }
    let mut args: Vec<String> = vec!["ls-files".into(), "-s".into(), "-z".into(), "--".into()];
    args.extend(masked.iter().map(|p| format!(":(top,literal){p}")));
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run(jail, secrets, top, git_dir, &argv).await?;
    let mut index: std::collections::HashMap<String, String> = Default::default();
    for rec in out.stdout.split(|b| *b == 0).filter(|r| !r.is_empty()) {
        let rec = String::from_utf8_lossy(rec);
        // `<mode> <id> <stage>\t<path>`
        if let Some((meta, path)) = rec.split_once('\t') {
            if let Some(id) = meta.split(' ').nth(1) {
                index.insert(path.to_string(), id.to_string());
            }
        }
    }
    st.changes.retain_mut(|c| {
        let Some(id) = index.get(&c.path) else {
            return true; // not in the index (deleted there): git's answer stands
        };
        let worktree = match worktree_id(&top.join(&c.path), id.len()) {
            None => 'D',
            Some(w) if &w == id => ' ',
            Some(_) => 'M',
        };
        let x = c.code.chars().next().unwrap_or(' ');
        c.code = format!("{x}{worktree}");
        c.code != "  "
    });
    Ok(masked)
}

/// git's object id of the work-tree file at `path` (symlinks: their target), with the hash
/// whose hex length is `hex_len`; `None` when the file is missing.
fn worktree_id(path: &Path, hex_len: usize) -> Option<String> {
    use sha1::Digest as _;
    const MAX: u64 = 64 * 1024 * 1024;
    let meta = std::fs::symlink_metadata(path).ok()?;
    let content: Vec<u8> = if meta.file_type().is_symlink() {
        std::fs::read_link(path)
            .ok()?
            .as_os_str()
            .as_encoded_bytes()
            .to_vec()
    } else if meta.is_file() && meta.len() <= MAX {
        std::fs::read(path).ok()?
    } else {
        // Too large to hash here, or not a file: count it as changed.
        return Some(String::new());
    };
    let header = format!("blob {}\0", content.len());
    Some(if hex_len == 64 {
        let mut h = sha2::Sha256::new();
        h.update(header.as_bytes());
        h.update(&content);
        hex::encode(h.finalize())
    } else {
        let mut h = sha1::Sha1::new();
        h.update(header.as_bytes());
        h.update(&content);
        hex::encode(h.finalize())
    })
}

/// The path a `diff --git a/X b/Y` header names, when both sides are the same unquoted
/// path (no renames are asked for); `None` otherwise — the caller then masks the section.
fn header_path(line: &str) -> Option<String> {
    let rest = line.strip_prefix("diff --git ")?;
    if rest.starts_with('"') {
        return None;
    }
    let half = rest.len().checked_sub(1)? / 2;
    let (a, b) = (rest.get(..half)?, rest.get(half + 1..)?);
    let a = a.strip_prefix("a/")?;
    let b = b.strip_prefix("b/")?;
    (a == b && rest.as_bytes().get(half) == Some(&b' ')).then(|| a.to_string())
}

/// Replace each section of a unified diff that touches a secret path (or whose path cannot
/// be read) by its header and [`SECRET_NOTE`]; returns the text and the masked paths.
pub fn mask_diff(diff: &str, is_secret: impl Fn(&str) -> bool) -> (String, Vec<String>) {
    let mut out = String::new();
    let mut masked = Vec::new();
    let mut hiding = false;
    for line in diff.split_inclusive('\n') {
        if line.starts_with("diff --git ") {
            let header = line.trim_end_matches('\n');
            let path = header_path(header);
            hiding = path.as_deref().is_none_or(&is_secret);
            out.push_str(line);
            if hiding {
                masked.push(path.unwrap_or_else(|| header.to_string()));
                out.push_str(SECRET_NOTE);
                out.push('\n');
            }
            continue;
        }
        if !hiding {
            out.push_str(line);
        }
    }
    (out, masked)
}

// ---------------------------------------------------------------------------
// Views
// ---------------------------------------------------------------------------

const STATUS_ARGS: &[&str] = &[
    "status",
    "--porcelain=v2",
    "--branch",
    "-z",
    "--untracked-files=normal",
    "--ignore-submodules=all",
];

/// What the chat gets for `view` of the repository around `cwd`; `label` names the folder.
pub async fn show(
    jail: &Jail,
    secrets: &SecretFiles,
    repo: &Repo,
    label: &str,
    view: View,
) -> Shown {
    let (top, git_dir) = match repo {
        Repo::Found { top, git_dir } => (top, git_dir),
        Repo::None => {
            return Shown {
                html: vec![format!(
                    "ℹ️ <code>{}</code> is not in a git repository (none from here up to the approved directory).",
                    escape(label)
                )],
                ..Default::default()
            }
        }
        Repo::Unsupported(why) => {
            return error(&format!("cannot read this repository: {why}"));
        }
    };
    let mut status = match run(jail, secrets, top, git_dir, STATUS_ARGS).await {
        Ok(o) => parse_status(&o.stdout),
        Err(e) => return error(&e),
    };
    let masked = match fix_masked(jail, secrets, top, git_dir, &mut status).await {
        Ok(m) => m,
        Err(e) => return error(&e),
    };
    match view {
        View::Panel => Shown {
            html: vec![panel(&status, label, PANEL_FILES)],
            panel: true,
            ..Default::default()
        },
        View::Status => Shown {
            html: vec![cap(panel(&status, label, usize::MAX))],
            ..Default::default()
        },
        View::Log => log(jail, secrets, top, git_dir, &status).await,
        View::Diff => diff(jail, secrets, top, git_dir, &status, &masked).await,
    }
}

fn error(e: &str) -> Shown {
    Shown {
        html: vec![format!("❌ git: {}", escape(e))],
        refused: Some(e.to_string()),
        ..Default::default()
    }
}

fn branch_line(st: &Status) -> String {
    let mut s = match &st.branch {
        Some(b) => format!("🌿 <b>{}</b>", escape(b)),
        None => "🌿 <i>detached HEAD</i>".to_string(),
    };
    if st.unborn {
        s.push_str(" (no commits yet)");
    }
    match &st.upstream {
        Some(u) => s.push_str(&format!(
            " → <code>{}</code> · ↑{} ↓{}",
            escape(u),
            st.ahead,
            st.behind
        )),
        None => s.push_str(" · no upstream"),
    }
    s
}

/// The panel text: branch, counts and up to `max_files` changed files.
fn panel(st: &Status, label: &str, max_files: usize) -> String {
    let mut s = format!("{}\n📂 <code>{}</code>\n", branch_line(st), escape(label));
    if st.changes.is_empty() {
        s.push_str("✨ Working tree clean.");
        return s;
    }
    let staged = st
        .changes
        .iter()
        .filter(|c| c.code != "??" && !c.code.starts_with(' '))
        .count();
    let unstaged = st
        .changes
        .iter()
        .filter(|c| c.code != "??" && !c.code.ends_with(' '))
        .count();
    let untracked = st.changes.iter().filter(|c| c.code == "??").count();
    s.push_str(&format!(
        "{} changed: {staged} staged, {unstaged} unstaged, {untracked} untracked\n<pre>",
        st.changes.len()
    ));
    for c in st.changes.iter().take(max_files) {
        let name = match &c.from {
            Some(f) => format!("{f} → {}", c.path),
            None => c.path.clone(),
        };
        s.push_str(&escape(&format!("{} {name}\n", c.code)));
    }
    s.push_str("</pre>");
    if st.changes.len() > max_files {
        s.push_str(&format!(
            "\n… and {} more (📋 Status lists all)",
            st.changes.len() - max_files
        ));
    }
    s
}

fn redact(s: &str) -> String {
    crate::audit::redact::process().redact(s).into_owned()
}

/// Cut an HTML text at [`SHOWN_CAP`] characters (at a line, `<pre>` closed) with a note.
/// Masked first (the outbox masks again): a cut must never leave half a credential that no
/// longer matches.
fn cap(html: String) -> String {
    let html = redact(&html);
    if html.chars().count() <= SHOWN_CAP {
        return html;
    }
    let mut cut: String = html.chars().take(SHOWN_CAP).collect();
    if let Some(nl) = cut.rfind('\n') {
        cut.truncate(nl);
    }
    // Never end inside an entity or a tag.
    if let Some(amp) = cut.rfind('&') {
        if !cut[amp..].contains(';') {
            cut.truncate(amp);
        }
    }
    if let Some(lt) = cut.rfind('<') {
        if !cut[lt..].contains('>') {
            cut.truncate(lt);
        }
    }
    let open = cut.matches("<pre>").count() > cut.matches("</pre>").count();
    if open {
        cut.push_str("</pre>");
    }
    cut.push_str("\n✂️ <i>Cut here: too long for chat. Run git in a terminal for the rest.</i>");
    cut
}

async fn log(jail: &Jail, secrets: &SecretFiles, top: &Path, git_dir: &Path, st: &Status) -> Shown {
    if st.unborn {
        return Shown {
            html: vec![format!("{}\n📜 No commits yet.", branch_line(st))],
            ..Default::default()
        };
    }
    let args = [
        "log",
        "--no-color",
        "--no-show-signature",
        "--no-decorate",
        "--date=short",
        "-n",
        LOG_COMMITS,
        "--format=%h %ad %an%n    %s",
    ];
    match run(jail, secrets, top, git_dir, &args).await {
        Ok(o) => {
            let text = redact(&String::from_utf8_lossy(&o.stdout));
            Shown {
                html: vec![cap(format!(
                    "{}\n📜 Last commits:\n<pre>{}</pre>",
                    branch_line(st),
                    escape(text.trim_end())
                ))],
                ..Default::default()
            }
        }
        Err(e) => error(&e),
    }
}

async fn diff(
    jail: &Jail,
    secrets: &SecretFiles,
    top: &Path,
    git_dir: &Path,
    st: &Status,
    tracked_secrets: &[String],
) -> Shown {
    // Secret paths among the changes: kept out of git's diff altogether (inside the boundary
    // their work-tree copies are masked anyway), and listed as not shown.
    let mut secret: Vec<String> = Vec::new();
    for c in &st.changes {
        for p in std::iter::once(&c.path).chain(c.from.as_ref()) {
            if is_secret(secrets, top, p) && !secret.contains(p) {
                secret.push(p.clone());
            }
        }
    }
    let tracked: Vec<&Change> = st.changes.iter().filter(|c| c.code != "??").collect();
    if tracked.is_empty() {
        let untracked = st.changes.len();
        return Shown {
            html: vec![format!(
                "{}\n📝 No changes to tracked files{}.",
                branch_line(st),
                if untracked > 0 {
                    format!(" ({untracked} untracked: see 📋 Status)")
                } else {
                    String::new()
                }
            )],
            masked: secret,
            ..Default::default()
        };
    }
    let mut args: Vec<String> = [
        "diff",
        "--no-ext-diff",
        "--no-textconv",
        "--no-color",
        "--no-renames",
        "--ignore-submodules=all",
        "--src-prefix=a/",
        "--dst-prefix=b/",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    // Staged and unstaged changes together: against HEAD, or the index before a first commit.
    args.push(if st.unborn { "--cached" } else { "HEAD" }.into());
    args.push("--".into());
    args.push(":(top)".into());
    for p in secret.iter().chain(tracked_secrets) {
        args.push(format!(":(top,exclude,literal){p}"));
    }
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = match run(jail, secrets, top, git_dir, &argv).await {
        Ok(o) => o,
        Err(e) => return error(&e),
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let (text, more) = mask_diff(&text, |p| is_secret(secrets, top, p));
    let mut text = redact(&text);
    for p in more {
        if !secret.contains(&p) {
            secret.push(p);
        }
    }
    let listed: Vec<&String> = secret
        .iter()
        .filter(|p| !text.contains(&format!("diff --git a/{p} b/{p}")))
        .collect();
    for p in listed {
        text.push_str(&format!("diff --git a/{p} b/{p}\n{SECRET_NOTE}\n"));
    }
    if out.cut {
        text.push_str(&format!(
            "\n[ccgate: output cut at {} KiB]\n",
            OUTPUT_CAP / 1024
        ));
    }
    let (plus, minus) = text.lines().fold((0, 0), |(p, m), l| {
        if l.starts_with('+') && !l.starts_with("+++") {
            (p + 1, m)
        } else if l.starts_with('-') && !l.starts_with("---") {
            (p, m + 1)
        } else {
            (p, m)
        }
    });
    let files = text.matches("diff --git ").count();
    let summary = format!(
        "{}\n📝 {} file{} changed, +{plus} −{minus}{}",
        branch_line(st),
        files,
        if files == 1 { "" } else { "s" },
        if secret.is_empty() {
            String::new()
        } else {
            format!(" · 🔒 {} secret file(s) not shown", secret.len())
        }
    );
    let body = format!(
        "<pre><code class=\"language-diff\">{}</code></pre>",
        escape(text.trim_end())
    );
    if summary.len() + body.len() < SHOWN_CAP {
        Shown {
            html: vec![format!("{summary}\n{body}")],
            masked: secret,
            ..Default::default()
        }
    } else {
        Shown {
            html: Vec::new(),
            document: Some(("changes.diff".into(), text, summary)),
            masked: secret,
            panel: false,
            refused: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_v2_is_read() {
        let out = b"# branch.oid abc\0# branch.head main\0# branch.upstream origin/main\0# branch.ab +2 -1\x001 .M N... 100644 100644 100644 aaa bbb src/a b.rs\x002 R. N... 100644 100644 100644 aaa bbb R100 new.rs\0old.rs\0u UU N... 100644 100644 100644 100644 a b c conflict.txt\0? new file.txt\0";
        let st = parse_status(out);
        assert_eq!(st.branch.as_deref(), Some("main"));
        assert_eq!(st.upstream.as_deref(), Some("origin/main"));
        assert_eq!((st.ahead, st.behind), (2, 1));
        assert!(!st.unborn);
        let paths: Vec<(&str, &str)> = st
            .changes
            .iter()
            .map(|c| (c.code.as_str(), c.path.as_str()))
            .collect();
        assert_eq!(
            paths,
            vec![
                (" M", "src/a b.rs"),
                ("R ", "new.rs"),
                ("UU", "conflict.txt"),
                ("??", "new file.txt")
            ]
        );
        assert_eq!(st.changes[1].from.as_deref(), Some("old.rs"));
        let unborn = parse_status(b"# branch.oid (initial)\0# branch.head (detached)\0");
        assert!(unborn.unborn && unborn.branch.is_none());
    }

    #[test]
    fn secret_sections_are_masked_and_unreadable_headers_too() {
        let diff = "diff --git a/src/a.rs b/src/a.rs\n--- a/src/a.rs\n+++ b/src/a.rs\n@@ -1 +1 @@\n-x\n+y\n\
                    diff --git a/.env b/.env\n--- a/.env\n+++ b/.env\n@@ -1 +1 @@\n-TOKEN=old\n+TOKEN=new\n\
                    diff --git \"a/we\\\"ird\" \"b/we\\\"ird\"\n+hidden\n\
                    diff --git a/x b/y\n+renamed\n";
        let (out, masked) = mask_diff(diff, |p| p == ".env");
        assert!(out.contains("+y"));
        assert!(!out.contains("TOKEN"), "{out}");
        assert!(!out.contains("hidden") && !out.contains("renamed"), "{out}");
        assert_eq!(out.matches(SECRET_NOTE).count(), 3, "{out}");
        assert_eq!(masked.len(), 3);
        assert_eq!(masked[0], ".env");
        assert_eq!(
            header_path("diff --git a/a b/c b/a b/c").as_deref(),
            Some("a b/c")
        );
    }

    #[test]
    fn a_cut_never_leaves_a_tag_or_entity_open() {
        let long = format!("<pre>{}</pre>", "a &amp; b\n".repeat(1000));
        let c = cap(long);
        assert!(c.chars().count() < SHOWN_CAP + 200);
        assert_eq!(c.matches("<pre>").count(), c.matches("</pre>").count());
        assert!(c.contains("Cut here"));
        // A credential across the cut is masked before the cut, not cut in half.
        let token = "ghp_abcdefghijklmnopqrstuvwxyz0123456789";
        for shift in [0usize, 10, 20, 30] {
            let pad = "x".repeat(SHOWN_CAP - 20 + shift);
            let c = cap(format!("{pad} {token} tail\n{}", "y\n".repeat(100)));
            assert!(
                !c.contains("ghp_abcdef"),
                "shift {shift}: {}",
                &c[c.len() - 120..]
            );
        }
        let split =
            crate::telegram::html::split_html(&c, crate::telegram::html::TELEGRAM_MAX_MESSAGE_LEN);
        assert_eq!(split.len(), 1);
    }
}
