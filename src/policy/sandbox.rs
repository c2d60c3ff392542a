//! Path containment: every path a user or Claude names must stay inside the approved tree.
//!
//! Why it exists: `/cd ../..`, a symlink pointing at `/etc`, or a tool call reading
//! `~/.ssh/id_rsa` are all the same question — "where does this path really lead?" — and it must
//! be answered in exactly one place, after resolving symlinks, never by string prefix checks on
//! the raw input.

use std::path::{Component, Path, PathBuf};

/// Longest path we accept from chat or a tool call.
pub const MAX_PATH_LEN: usize = 4096;
/// Longest single file or directory name (ext4, APFS and most others).
pub const MAX_NAME_LEN: usize = 255;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SandboxError {
    #[error("the path is empty")]
    Empty,
    #[error("the path contains a NUL byte")]
    Nul,
    #[error("the path is too long")]
    TooLong,
    #[error("a name in the path is longer than {MAX_NAME_LEN} bytes")]
    NameTooLong,
    #[error("the path contains control characters")]
    Control,
    #[error("percent-encoded paths are not accepted")]
    Encoded,
    #[error("the path leads outside the approved directory")]
    Outside,
    #[error("the path does not exist")]
    NotFound,
    #[error("the path is not a directory")]
    NotADirectory,
}

/// Resolve `input` (absolute, or relative to `base`) and check it stays inside `root`.
///
/// `root` must already be canonical. The returned path is canonical for its existing part
/// (symlinks followed), with any not-yet-existing tail appended after lexical normalisation,
/// so a Write to a new file is checked as strictly as a Read of an existing one.
pub fn resolve_within(root: &Path, base: &Path, input: &str) -> Result<PathBuf, SandboxError> {
    check_input(input)?;
    let expanded = if input == "~" || input.starts_with("~/") {
        // `~` means the user's home; never silently reinterpret it as the project.
        return Err(SandboxError::Outside);
    } else {
        PathBuf::from(input)
    };
    let joined = if expanded.is_absolute() {
        expanded
    } else {
        base.join(expanded)
    };
    let resolved = resolve_existing_prefix(&normalize(&joined));
    if resolved.starts_with(root) {
        Ok(resolved)
    } else {
        Err(SandboxError::Outside)
    }
}

/// Like [`resolve_within`], but the result must be an existing directory.
pub fn resolve_dir_within(root: &Path, base: &Path, input: &str) -> Result<PathBuf, SandboxError> {
    let p = resolve_within(root, base, input)?;
    match std::fs::metadata(&p) {
        Ok(m) if m.is_dir() => Ok(p),
        Ok(_) => Err(SandboxError::NotADirectory),
        Err(_) => Err(SandboxError::NotFound),
    }
}

fn check_input(input: &str) -> Result<(), SandboxError> {
    if input.is_empty() {
        return Err(SandboxError::Empty);
    }
    if input.contains('\0') {
        return Err(SandboxError::Nul);
    }
    if input.len() > MAX_PATH_LEN {
        return Err(SandboxError::TooLong);
    }
    if input.chars().any(|c| c.is_control()) {
        return Err(SandboxError::Control);
    }
    // `%2e%2e`, `%2f`: nothing in a filesystem path needs percent-encoding; someone is probing.
    let lower = input.to_ascii_lowercase();
    if lower.contains("%2e")
        || lower.contains("%2f")
        || lower.contains("%5c")
        || lower.contains("%00")
    {
        return Err(SandboxError::Encoded);
    }
    if input.split('/').any(|part| part.len() > MAX_NAME_LEN) {
        return Err(SandboxError::NameTooLong);
    }
    Ok(())
}

/// Remove `.` and fold `..` lexically (`..` at the root stays at the root).
pub(crate) fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// Canonicalize the longest existing prefix (following symlinks), then re-append the rest.
///
/// The lexical normalisation above ran first, so the tail that does not exist yet contains no
/// `..`; the existing head is resolved by the OS, so a symlink anywhere in it is followed.
fn resolve_existing_prefix(p: &Path) -> PathBuf {
    let mut head = p.to_path_buf();
    let mut tail: Vec<std::ffi::OsString> = Vec::new();
    loop {
        match std::fs::canonicalize(&head) {
            Ok(real) => {
                let mut out = real;
                for t in tail.iter().rev() {
                    out.push(t);
                }
                return out;
            }
            Err(_) => {
                // A dangling symlink must not be treated as "does not exist yet": a Write through
                // it would create its target wherever it points.
                if head.symlink_metadata().is_ok() {
                    return PathBuf::from("/\0dangling-symlink");
                }
                match (head.file_name().map(|n| n.to_os_string()), head.parent()) {
                    (Some(name), Some(parent)) => {
                        tail.push(name);
                        head = parent.to_path_buf();
                    }
                    _ => return p.to_path_buf(),
                }
            }
        }
    }
}

/// Show `path` relative to `root` for chat messages ("." for the root itself).
pub fn display_relative(root: &Path, path: &Path) -> String {
    match path.strip_prefix(root) {
        Ok(rel) if rel.as_os_str().is_empty() => ".".to_string(),
        Ok(rel) => rel.display().to_string(),
        Err(_) => path.display().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Tree {
        _dir: tempfile::TempDir,
        root: PathBuf,
        outside: PathBuf,
    }

    fn tree() -> Tree {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().canonicalize().unwrap();
        let root = base.join("approved");
        let outside = base.join("outside");
        std::fs::create_dir_all(root.join("proj/src")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("secret.txt"), "s").unwrap();
        std::os::unix::fs::symlink(&outside, root.join("proj/escape")).unwrap();
        std::os::unix::fs::symlink(root.join("proj/src"), root.join("proj/inner-link")).unwrap();
        std::os::unix::fs::symlink(outside.join("nope"), root.join("proj/dangling")).unwrap();
        Tree {
            _dir: dir,
            root,
            outside,
        }
    }

    #[test]
    fn inside_paths_resolve() {
        let t = tree();
        let proj = t.root.join("proj");
        assert_eq!(resolve_dir_within(&t.root, &t.root, "proj").unwrap(), proj);
        assert_eq!(
            resolve_dir_within(&t.root, &proj, "src").unwrap(),
            proj.join("src")
        );
        assert_eq!(resolve_dir_within(&t.root, &proj, "..").unwrap(), t.root);
        assert_eq!(
            resolve_dir_within(&t.root, &proj, "inner-link").unwrap(),
            proj.join("src")
        );
        // A new file inside is fine.
        assert_eq!(
            resolve_within(&t.root, &proj, "src/new/file.rs").unwrap(),
            proj.join("src/new/file.rs")
        );
        assert_eq!(
            resolve_within(&t.root, &proj, "./src/../src/./x").unwrap(),
            proj.join("src/x")
        );
    }

    #[test]
    fn cd_dotdot_at_root_stays_at_root() {
        let t = tree();
        assert_eq!(
            resolve_dir_within(&t.root, &t.root, "..").unwrap_err(),
            SandboxError::Outside
        );
        // Lexically `/..` is `/`, which is outside too.
        assert_eq!(
            resolve_dir_within(&t.root, &t.root, "/..").unwrap_err(),
            SandboxError::Outside
        );
    }

    #[test]
    fn attacks_are_rejected() {
        let t = tree();
        let proj = t.root.join("proj");
        let outside_abs = t.outside.join("secret.txt");
        let cases: Vec<(&str, SandboxError)> = vec![
            ("/etc", SandboxError::Outside),
            ("/etc/passwd", SandboxError::Outside),
            ("../..", SandboxError::Outside),
            ("../../outside/secret.txt", SandboxError::Outside),
            ("src/../../../outside", SandboxError::Outside),
            ("escape", SandboxError::Outside),
            ("escape/secret.txt", SandboxError::Outside),
            ("escape/new-file", SandboxError::Outside),
            ("dangling", SandboxError::Outside),
            ("~", SandboxError::Outside),
            ("~/.ssh/id_rsa", SandboxError::Outside),
            ("%2e%2e/%2e%2e", SandboxError::Encoded),
            ("..%2F..%2Fetc", SandboxError::Encoded),
            ("src\0/../../etc", SandboxError::Nul),
            ("", SandboxError::Empty),
            ("a\nb", SandboxError::Control),
            ("src/\u{1b}[31m", SandboxError::Control),
        ];
        for (input, want) in cases {
            assert_eq!(
                resolve_within(&t.root, &proj, input).unwrap_err(),
                want,
                "{input:?}"
            );
        }
        assert_eq!(
            resolve_within(&t.root, &proj, outside_abs.to_str().unwrap()).unwrap_err(),
            SandboxError::Outside
        );
        let long_name = "a".repeat(300);
        assert_eq!(
            resolve_within(&t.root, &proj, &long_name).unwrap_err(),
            SandboxError::NameTooLong
        );
        let long_path = "a/".repeat(3000);
        assert_eq!(
            resolve_within(&t.root, &proj, &long_path).unwrap_err(),
            SandboxError::TooLong
        );
        // A sibling whose name merely starts with the root's name is not inside.
        let sibling = format!("{}-evil", t.root.display());
        std::fs::create_dir_all(&sibling).unwrap();
        assert_eq!(
            resolve_within(&t.root, &proj, &sibling).unwrap_err(),
            SandboxError::Outside
        );
    }

    #[test]
    fn files_are_not_directories() {
        let t = tree();
        std::fs::write(t.root.join("proj/file"), "x").unwrap();
        assert_eq!(
            resolve_dir_within(&t.root, &t.root, "proj/file").unwrap_err(),
            SandboxError::NotADirectory
        );
        assert_eq!(
            resolve_dir_within(&t.root, &t.root, "proj/missing").unwrap_err(),
            SandboxError::NotFound
        );
    }
}
