//! Finding what to mask inside a project before it is mounted into the sandbox.
//!
//! Why it exists: the secret-file rules (`policy::secret_files`) are globs over names, and a
//! mount namespace knows no globs: each secret file must be covered by its own mount. So at
//! every start the project tree is walked once (symlinks not followed, nothing skipped:
//! `node_modules`, `target` and `.git` are read by tools too) and every path the rules call
//! secret is listed, as is every ccgate-private path (data dir, `.env`, database) that happens
//! to lie inside, and every *hard link* to a secret file under another name (same device and
//! inode). A tree too large to walk within the limit fails closed: Claude is not started.
//!
//! Configuration that is secret only while it holds a credential (a `.git/config` remote with
//! a token, an `.npmrc` with `_authToken`; see `secret_files::DEFAULT_CREDENTIAL_CARRIERS`) is
//! masked when it holds one at the start, which also stops git inside for that repository.
//!
//! Known limit: files that become secret after the start (an operator drops a `.env` into the
//! project while a session runs) are masked from the next start of the process on.

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::policy::secret_files::SecretFiles;

/// Paths to cover (absolute, inside the project).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Masks {
    pub files: Vec<PathBuf>,
    pub dirs: Vec<PathBuf>,
    /// Git's hooks folders and config files: mounted read-only (see [`is_git_runtime_config`]).
    pub read_only: Vec<PathBuf>,
    /// `.git` folders: each mounted onto itself, so it cannot be renamed or removed and
    /// replaced by one with hooks of Claude's making.
    pub anchors: Vec<PathBuf>,
    /// Directory entries looked at.
    pub seen: usize,
}

/// Most masks of one sandbox; more fails closed (each is a mount).
pub const MAX_MASKS: usize = 4096;

/// Walk `project` (canonical) and list what must be masked.
pub fn scan(
    project: &Path,
    secrets: &SecretFiles,
    hidden: &[PathBuf],
    limit: usize,
) -> Result<Masks, String> {
    let mut out = Masks::default();
    let is_hidden = |p: &Path| hidden.iter().any(|h| p == h || p.starts_with(h));
    let mut secret_inodes: HashSet<(u64, u64)> = HashSet::new();
    let mut linked: Vec<(PathBuf, (u64, u64))> = Vec::new();
    if secrets.is_secret(project) {
        return Err(format!(
            "{} is itself a secret folder; ccgate will not start Claude in it",
            project.display()
        ));
    }
    let mut too_many: Option<String> = None;
    let walked = crate::walk::walk(project, limit, |path, meta| {
        if too_many.is_some() {
            return false;
        }
        let ft = meta.file_type();
        let mut mask = |p: &Path| {
            if let Err(e) = push(&mut out, p) {
                too_many = Some(e);
            }
        };
        if ft.is_symlink() {
            // A secret-named link to a file inside the project: mask what it points to.
            if secrets.is_secret_entry(path) {
                if let Ok(target) = path.canonicalize() {
                    if target.starts_with(project) {
                        mask(&target);
                    }
                }
            }
            return false;
        }
        // Ancestors were checked on the way down: only the entry itself is left.
        if secrets.is_secret_entry(path) || is_hidden(path) {
            if ft.is_file() {
                secret_inodes.insert((meta.dev(), meta.ino()));
            }
            mask(path);
            return false;
        }
        if is_git_runtime_config(path) {
            out.read_only.push(path.to_path_buf());
        }
        if ft.is_dir() && path.file_name().is_some_and(|n| n == ".git") {
            out.anchors.push(path.to_path_buf());
        }
        if ft.is_file() && meta.nlink() > 1 {
            linked.push((path.to_path_buf(), (meta.dev(), meta.ino())));
        }
        ft.is_dir()
    });
    match walked {
        Ok(n) => out.seen = n,
        Err(_) => {
            return Err(format!(
                "the project {} has more than {limit} files and folders; ccgate walks it to hide secret files and will not start Claude on a partial walk (raise SANDBOX_SCAN_LIMIT, or /cd into a smaller folder)",
                project.display()
            ))
        }
    }
    if let Some(e) = too_many {
        return Err(e);
    }
    for (path, inode) in linked {
        if secret_inodes.contains(&inode) {
            push(&mut out, &path)?;
        }
    }
    out.files.sort();
    out.files.dedup();
    out.dirs.sort();
    out.dirs.dedup();
    if out.read_only.len() + out.anchors.len() > MAX_MASKS {
        return Err(format!(
            "more than {MAX_MASKS} git hooks folders and config files in this project; ccgate will not start Claude here"
        ));
    }
    Ok(out)
}

/// `.git/hooks` and `.git/config` (also of submodules under `.git/modules/…`): git runs what
/// they name — hooks, `core.hooksPath`, `core.fsmonitor`, filters, aliases — when the operator
/// next uses the repository on the host, outside the boundary.
pub fn is_git_runtime_config(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str());
    if !matches!(name, Some("hooks") | Some("config")) {
        return false;
    }
    let Some(parent) = path.parent() else {
        return false;
    };
    parent.file_name().is_some_and(|n| n == ".git")
        || parent
            .ancestors()
            .skip(1)
            .any(|a| a.file_name().is_some_and(|n| n == "modules"))
            && parent
                .ancestors()
                .any(|a| a.file_name().is_some_and(|n| n == ".git"))
}

fn push(out: &mut Masks, path: &Path) -> Result<(), String> {
    if out.files.len() + out.dirs.len() >= MAX_MASKS {
        return Err(format!(
            "more than {MAX_MASKS} secret files to hide in this project; ccgate will not start Claude here"
        ));
    }
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => out.dirs.push(path.to_path_buf()),
        Ok(_) => out.files.push(path.to_path_buf()),
        Err(_) => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_secrets_everywhere_links_and_hidden_paths() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().canonicalize().unwrap();
        for d in ["src", "node_modules/pkg", ".git", "keys/.ssh", "data"] {
            std::fs::create_dir_all(p.join(d)).unwrap();
        }
        for f in [
            ".env",
            "src/app.py",
            "node_modules/pkg/.env.production",
            ".git/deploy.pem",
            "keys/.ssh/id_rsa",
            "data/ccgate.db",
            "README.md",
        ] {
            std::fs::write(p.join(f), "x").unwrap();
        }
        std::fs::hard_link(p.join(".env"), p.join("src/notes.txt")).unwrap();
        std::os::unix::fs::symlink(p.join("src/app.py"), p.join("src/.env")).unwrap();
        let secrets = SecretFiles::defaults().unwrap();
        let m = scan(&p, &secrets, &[p.join("data")], 1000).unwrap();
        let rel: Vec<String> = m
            .files
            .iter()
            .map(|f| f.strip_prefix(&p).unwrap().display().to_string())
            .collect();
        for must in [
            ".env",
            ".git/deploy.pem",
            "node_modules/pkg/.env.production",
            "src/notes.txt",
            "src/app.py",
        ] {
            assert!(
                rel.contains(&must.to_string()),
                "{must} not masked: {rel:?}"
            );
        }
        assert!(!rel.contains(&"README.md".to_string()));
        let dirs: Vec<String> = m
            .dirs
            .iter()
            .map(|f| f.strip_prefix(&p).unwrap().display().to_string())
            .collect();
        assert_eq!(dirs, vec!["data".to_string(), "keys/.ssh".to_string()]);
    }

    #[test]
    fn a_repository_config_holding_a_token_is_masked_a_plain_one_stays_read_only() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().canonicalize().unwrap();
        for (repo, url) in [
            ("plain", "git@github.com:o/r.git"),
            ("token", "https://ghp_x@github.com/o/r.git"),
        ] {
            std::fs::create_dir_all(p.join(repo).join(".git")).unwrap();
            std::fs::write(
                p.join(repo).join(".git/config"),
                format!("[remote \"origin\"]\n\turl = {url}\n"),
            )
            .unwrap();
        }
        std::fs::write(p.join("token/.npmrc"), "//r/:_authToken=npm_x\n").unwrap();
        std::fs::write(p.join("plain/.npmrc"), "save-exact=true\n").unwrap();
        let m = scan(&p, &SecretFiles::defaults().unwrap(), &[], 1000).unwrap();
        assert!(m.files.contains(&p.join("token/.git/config")), "{m:?}");
        assert!(m.files.contains(&p.join("token/.npmrc")), "{m:?}");
        assert!(!m.files.contains(&p.join("plain/.git/config")), "{m:?}");
        assert!(!m.files.contains(&p.join("plain/.npmrc")), "{m:?}");
        assert!(m.read_only.contains(&p.join("plain/.git/config")), "{m:?}");
        assert!(!m.read_only.contains(&p.join("token/.git/config")), "{m:?}");
    }

    #[test]
    fn git_hooks_and_config_are_recognised_and_little_else() {
        for yes in [
            "/p/.git/hooks",
            "/p/.git/config",
            "/p/.git/modules/sub/hooks",
            "/p/.git/modules/a/b/config",
            "/p/vendor/x/.git/config",
        ] {
            assert!(is_git_runtime_config(Path::new(yes)), "{yes}");
        }
        for no in [
            "/p/config",
            "/p/src/hooks",
            "/p/.git/HEAD",
            "/p/.git/objects/config",
            "/p/modules/x/config",
        ] {
            assert!(!is_git_runtime_config(Path::new(no)), "{no}");
        }
    }

    #[test]
    fn a_tree_over_the_limit_fails_closed() {
        let t = tempfile::tempdir().unwrap();
        for i in 0..20 {
            std::fs::write(t.path().join(format!("f{i}")), "x").unwrap();
        }
        let secrets = SecretFiles::defaults().unwrap();
        let err = scan(t.path(), &secrets, &[], 10).unwrap_err();
        assert!(err.contains("SANDBOX_SCAN_LIMIT"), "{err}");
        assert!(scan(t.path(), &secrets, &[], 100).is_ok());
    }
}
