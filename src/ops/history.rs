//! `ccgate doctor --deep`: ccgate's secret values found in the git history of a project.
//!
//! Why it exists: a bot token or webhook secret pasted into a file and committed once stays
//! in the repository's object store after the file is fixed, and every clone carries it. The
//! secret-file rules keep Claude from reading `.env`, but a value inside `notes.md` at some old
//! revision is just text to them. Only the operator can rotate the value and rewrite the
//! history, so this check tells them where it is — by setting name and object, never the
//! value.
//!
//! How: every repository under the approved directory (a bounded walk, symlinks not
//! followed, secret folders not entered) is read with `git cat-file --batch-all-objects
//! --batch`, which prints every object in the store, reachable or not, decompressed; the
//! bytes are searched for every value at once (Aho-Corasick). git runs disarmed (no user or
//! system config, no hooks, pager or lazy fetches: [`crate::policy::git_store`]) with a time
//! limit per repository. A finding names the commit that added the object when git can tell.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use aho_corasick::AhoCorasick;

use crate::policy::git_store::disarmed_git;

/// How long one repository's scan may take.
const REPO_TIMEOUT: Duration = Duration::from_secs(300);
/// Objects larger than this are skipped (and counted): a secret is not in a 1 GiB video.
const MAX_OBJECT_BYTES: u64 = 256 << 20;
/// How many entries of the approved directory the search for repositories looks at.
const WALK_LIMIT: usize = 200_000;
/// Values shorter than this are not searched for (they would match everywhere).
const MIN_VALUE_LEN: usize = 8;

/// A secret value, by the setting that holds it.
pub struct Needle {
    pub setting: String,
    pub value: String,
}

/// Where a value was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub repository: PathBuf,
    pub setting: String,
    /// The object (blob, or commit/tag message) holding it.
    pub object: String,
    pub kind: String,
    /// A commit that introduced the object, when git can tell (`git log --find-object`).
    pub commit: Option<String>,
}

/// What the scan of all repositories found.
#[derive(Debug, Default)]
pub struct Scan {
    pub repositories: usize,
    pub objects: u64,
    pub skipped_large: u64,
    pub findings: Vec<Finding>,
    /// Repositories that could not be read completely (a timeout, git failing): unknown.
    pub errors: Vec<(PathBuf, String)>,
}

/// Every git repository (its work tree, or a bare store) under `approved`, `approved` included.
pub fn repositories(
    approved: &Path,
    secrets: &crate::policy::secret_files::SecretFiles,
) -> Vec<PathBuf> {
    let mut found = Vec::new();
    if approved.join(".git").exists() {
        found.push(approved.to_path_buf());
    }
    let _ = crate::walk::walk(approved, WALK_LIMIT, |path, meta| {
        if !meta.is_dir() {
            return false;
        }
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name == ".git" {
            if let Some(parent) = path.parent() {
                found.push(parent.to_path_buf());
            }
            return false;
        }
        // Bare repositories (`x.git/` with HEAD and objects/).
        if path.join("HEAD").is_file() && path.join("objects").is_dir() {
            found.push(path.to_path_buf());
            return false;
        }
        !(name == "node_modules" || name == "target" || secrets.is_secret(path))
    });
    found.sort();
    found.dedup();
    found
}

/// Search every repository under `approved` for `needles`.
pub fn scan(
    approved: &Path,
    secrets: &crate::policy::secret_files::SecretFiles,
    needles: &[Needle],
) -> Scan {
    let needles: Vec<&Needle> = needles
        .iter()
        .filter(|n| n.value.len() >= MIN_VALUE_LEN)
        .collect();
    let mut out = Scan::default();
    if needles.is_empty() {
        return out;
    }
    let Ok(ac) = AhoCorasick::new(needles.iter().map(|n| n.value.as_bytes())) else {
        out.errors
            .push((approved.to_path_buf(), "cannot build the search".into()));
        return out;
    };
    for repo in repositories(approved, secrets) {
        out.repositories += 1;
        match scan_repository(&repo, &ac) {
            Ok(r) => {
                out.objects += r.objects;
                out.skipped_large += r.skipped_large;
                for (object, kind, i) in r.hits {
                    let commit = introducing_commit(&repo, &object);
                    out.findings.push(Finding {
                        repository: repo.clone(),
                        setting: needles[i].setting.clone(),
                        object,
                        kind,
                        commit,
                    });
                }
            }
            Err(e) => out.errors.push((repo, e)),
        }
    }
    out
}

struct RepoScan {
    objects: u64,
    skipped_large: u64,
    /// (object id, type, needle index), one per object and needle.
    hits: Vec<(String, String, usize)>,
}

fn scan_repository(dir: &Path, ac: &AhoCorasick) -> Result<RepoScan, String> {
    let mut child = disarmed_git(dir)
        .args(["cat-file", "--batch-all-objects", "--batch", "--unordered"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run git: {e}"))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut stderr = child.stderr.take().ok_or("no stderr")?;
    let err_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = (&mut stderr).take(16 * 1024).read_to_end(&mut buf);
        buf
    });
    // The watchdog: kill git when the repository takes too long (the reader then sees EOF).
    let pid = child.id();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        if done_rx.recv_timeout(REPO_TIMEOUT).is_err() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
            return true;
        }
        false
    });
    let started = Instant::now();
    let read = read_batch(BufReader::with_capacity(1 << 20, stdout), ac);
    let _ = done_tx.send(());
    let timed_out = watchdog.join().unwrap_or(false);
    let status = child.wait().map_err(|e| format!("git: {e}"))?;
    let err = err_reader.join().unwrap_or_default();
    if timed_out {
        return Err(format!(
            "timed out after {}s (the repository was not read completely)",
            started.elapsed().as_secs()
        ));
    }
    if !status.success() {
        let why: String = String::from_utf8_lossy(&err)
            .trim()
            .chars()
            .take(300)
            .collect();
        return Err(format!("git cat-file failed: {why}"));
    }
    read
}

/// Parse `git cat-file --batch` output (`<oid> <type> <size>\n<content>\n` per object) and
/// search each object's content.
fn read_batch(mut r: impl BufRead, ac: &AhoCorasick) -> Result<RepoScan, String> {
    let mut out = RepoScan {
        objects: 0,
        skipped_large: 0,
        hits: Vec::new(),
    };
    let mut header = String::new();
    let mut content = Vec::new();
    loop {
        header.clear();
        let n = r
            .read_line(&mut header)
            .map_err(|e| format!("reading git's output: {e}"))?;
        if n == 0 {
            return Ok(out);
        }
        let mut parts = header.split_ascii_whitespace();
        let (Some(oid), Some(kind), Some(size)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(format!("unexpected line from git: {:?}", header.trim()));
        };
        let size: u64 = size
            .parse()
            .map_err(|_| format!("unexpected size from git: {:?}", header.trim()))?;
        out.objects += 1;
        if size > MAX_OBJECT_BYTES {
            out.skipped_large += 1;
            std::io::copy(&mut (&mut r).take(size + 1), &mut std::io::sink())
                .map_err(|e| format!("reading git's output: {e}"))?;
            continue;
        }
        content.clear();
        (&mut r)
            .take(size + 1)
            .read_to_end(&mut content)
            .map_err(|e| format!("reading git's output: {e}"))?;
        if content.len() as u64 != size + 1 {
            return Err("git's output ended inside an object".into());
        }
        content.pop();
        let mut seen = Vec::new();
        for m in ac.find_overlapping_iter(&content) {
            let i = m.pattern().as_usize();
            if !seen.contains(&i) {
                seen.push(i);
                out.hits.push((oid.to_string(), kind.to_string(), i));
            }
        }
    }
}

/// The commit that added `object` (a blob) to some reachable revision, if any (a long
/// history makes this one more walk per finding; findings are rare).
fn introducing_commit(dir: &Path, object: &str) -> Option<String> {
    let out = disarmed_git(dir)
        .args([
            "log",
            "--all",
            "--format=%h %ad %s",
            "--date=short",
            &format!("--find-object={object}"),
        ])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    // Newest first: the last line is the commit that added it (later ones changed or removed it).
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().rfind(|l| !l.trim().is_empty())?;
    Some(line.trim().chars().take(120).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn sh(dir: &Path, script: &str) {
        let st = Command::new("sh")
            .args(["-c", script])
            .current_dir(dir)
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.com")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.com")
            .status()
            .unwrap();
        assert!(st.success(), "{script}");
    }

    fn needles() -> Vec<Needle> {
        vec![
            Needle {
                setting: "TELEGRAM_BOT_TOKEN".into(),
                value: "123456:AAsecretvalueofthebot".into(),
            },
            Needle {
                setting: "WEBHOOK_API_SECRET".into(),
                value: "webhook-secret-in-history".into(),
            },
            Needle {
                setting: "SHORT".into(),
                value: "abc".into(),
            },
        ]
    }

    #[test]
    fn a_value_committed_once_and_removed_since_is_found_by_setting_and_commit() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().canonicalize().unwrap();
        let app = base.join("app");
        let clean = base.join("clean");
        std::fs::create_dir_all(&app).unwrap();
        std::fs::create_dir_all(&clean).unwrap();
        sh(
            &app,
            "git init -q -b main . && echo 'token: 123456:AAsecretvalueofthebot' > notes.md \
             && git add notes.md && git commit -qm 'add notes' \
             && echo 'nothing here' > notes.md && git commit -qam 'remove the token' \
             && echo 'webhook-secret-in-history' > dangling.txt && git add dangling.txt \
             && git reset -q dangling.txt && rm dangling.txt",
        );
        sh(
            &clean,
            "git init -q -b main . && echo abc > a.txt && git add a.txt && git commit -qm one",
        );
        let secrets = crate::policy::secret_files::SecretFiles::new(&[]).unwrap();
        assert_eq!(
            repositories(&base, &secrets),
            vec![app.clone(), clean.clone()]
        );
        let scan = scan(&base, &secrets, &needles());
        assert_eq!(scan.repositories, 2);
        assert!(scan.errors.is_empty(), "{:?}", scan.errors);
        let mut found: Vec<(String, PathBuf, bool)> = scan
            .findings
            .iter()
            .map(|f| (f.setting.clone(), f.repository.clone(), f.commit.is_some()))
            .collect();
        found.sort();
        // The token in history (with the commit that added it); the value staged once and
        // unstaged (an unreachable blob, no commit); never the short value that matches `abc`.
        assert_eq!(
            found,
            vec![
                ("TELEGRAM_BOT_TOKEN".into(), app.clone(), true),
                ("WEBHOOK_API_SECRET".into(), app.clone(), false),
            ]
        );
        let token = scan
            .findings
            .iter()
            .find(|f| f.setting == "TELEGRAM_BOT_TOKEN")
            .unwrap();
        assert_eq!(token.kind, "blob");
        assert!(token.commit.as_deref().unwrap().contains("add notes"));
    }

    #[test]
    fn git_output_is_parsed_object_by_object() {
        let ac = AhoCorasick::new(["needle-value"]).unwrap();
        let batch =
            b"aaaa blob 12\nneedle-value\nbbbb blob 5\nnope!\ncccc commit 18\nsays needle-value!\n";
        let r = read_batch(&batch[..], &ac).unwrap();
        assert_eq!(r.objects, 3);
        assert_eq!(
            r.hits,
            vec![
                ("aaaa".into(), "blob".into(), 0),
                ("cccc".into(), "commit".into(), 0)
            ]
        );
        // Cut inside an object: an error, never a clean "nothing found".
        assert!(read_batch(&b"aaaa blob 40\nneedle"[..], &ac).is_err());
    }
}
