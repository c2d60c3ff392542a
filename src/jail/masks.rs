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
    let mut stack = vec![project.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            // Unreadable to ccgate is unreadable to Claude too.
            Err(_) => continue,
        };
        for e in entries.flatten() {
            out.seen += 1;
            if out.seen > limit {
                return Err(format!(
                    "the project {} has more than {limit} files and folders; ccgate walks it to hide secret files and will not start Claude on a partial walk (raise SANDBOX_SCAN_LIMIT, or /cd into a smaller folder)",
                    project.display()
                ));
            }
            let path = e.path();
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            let ft = meta.file_type();
            if ft.is_symlink() {
                // A secret-named link to a file inside the project: mask what it points to.
                if secrets.is_secret_entry(&path) {
                    if let Ok(target) = path.canonicalize() {
                        if target.starts_with(project) {
                            push(&mut out, &target)?;
                        }
                    }
                }
                continue;
            }
            // Ancestors were checked on the way down: only the entry itself is left.
            if secrets.is_secret_entry(&path) || is_hidden(&path) {
                if ft.is_file() {
                    secret_inodes.insert((meta.dev(), meta.ino()));
                }
                push(&mut out, &path)?;
                continue;
            }
            if ft.is_dir() {
                stack.push(path);
            } else if ft.is_file() && meta.nlink() > 1 {
                linked.push((path, (meta.dev(), meta.ino())));
            }
        }
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
    Ok(out)
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
