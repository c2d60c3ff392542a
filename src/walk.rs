//! A bounded walk of a directory tree.
//!
//! Why it exists: several checks must look at every entry of a tree they do not control — the
//! secret-file scan before a whole-tree tool runs (`policy::secret_files`), the masks of a
//! sandbox (`jail::masks`), the private files under `/etc` (`jail`). Each must never follow a
//! symlink out of the tree, and each must stop at a limit instead of hanging on a huge tree
//! (and say so, so the caller can fail closed). One walk, used by all.

use std::fs::Metadata;
use std::path::{Path, PathBuf};

/// The walk stopped after this many entries; there may be more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitReached(pub usize);

/// Visit every entry below `dir`, depth first, with its own metadata (symlinks are not
/// followed). `visit` returns whether to descend into the entry (only directories are).
/// Unreadable folders are skipped. Returns the number of entries seen, or [`LimitReached`]
/// once more than `limit` were.
pub fn walk(
    dir: &Path,
    limit: usize,
    mut visit: impl FnMut(&Path, &Metadata) -> bool,
) -> Result<usize, LimitReached> {
    let mut seen = 0usize;
    let mut stack: Vec<PathBuf> = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            seen += 1;
            if seen > limit {
                return Err(LimitReached(limit));
            }
            let path = e.path();
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            if visit(&path, &meta) && meta.is_dir() {
                stack.push(path);
            }
        }
    }
    Ok(seen)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_everything_but_links_and_stops_at_the_limit() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(t.path().join("a/b")).unwrap();
        std::fs::write(t.path().join("a/b/f"), "x").unwrap();
        std::os::unix::fs::symlink("/", t.path().join("a/root")).unwrap();
        let mut names = Vec::new();
        let n = walk(t.path(), 100, |p, _| {
            names.push(p.strip_prefix(t.path()).unwrap().display().to_string());
            true
        })
        .unwrap();
        names.sort();
        assert_eq!(names, ["a", "a/b", "a/b/f", "a/root"]);
        assert_eq!(n, 4);
        assert_eq!(walk(t.path(), 2, |_, _| true), Err(LimitReached(2)));
        // Not descending into `a` sees only `a`.
        assert_eq!(walk(t.path(), 100, |_, _| false), Ok(1));
    }
}
