//! Writing an upload into its folder without ever replacing a file.
//!
//! Why it exists: two uploads of `notes.txt` must both survive, and a name that already exists
//! as a symlink must not be written through. Files are created with `O_EXCL` (`create_new`),
//! trying `notes.txt`, `notes-1.txt`, `notes-2.txt`… until one is new; folders for extracted
//! archives are picked the same way (the extraction itself renames with `RENAME_NOREPLACE`).
//! A candidate that already is a plain file with exactly these bytes is used as it is: an
//! update replayed after a crash (or the same file sent twice) does not pile up copies.

use std::io::Write;
use std::path::{Path, PathBuf};

/// How many suffixes are tried before giving up.
const MAX_SUFFIX: u32 = 999;

/// Multi-part extensions kept together when a suffix is inserted.
const DOUBLE: &[&str] = &[".tar.gz", ".tar.xz", ".tar.zst", ".tar.bz2"];

/// `name` with `-n` inserted before its extension (`a.txt` → `a-2.txt`, `p.tar.gz` → `p-2.tar.gz`).
pub fn suffixed(name: &str, n: u32) -> String {
    if n == 0 {
        return name.to_string();
    }
    let lower = name.to_ascii_lowercase();
    let split = DOUBLE
        .iter()
        .find(|d| lower.ends_with(*d) && name.len() > d.len())
        .map(|d| name.len() - d.len())
        .or_else(|| name.rfind('.').filter(|i| *i > 0));
    match split {
        Some(i) => format!("{}-{n}{}", &name[..i], &name[i..]),
        None => format!("{name}-{n}"),
    }
}

/// Is `path` a plain file (not a link) holding exactly `bytes`?
fn holds(path: &Path, bytes: &[u8]) -> bool {
    std::fs::symlink_metadata(path)
        .is_ok_and(|m| m.file_type().is_file() && m.len() == bytes.len() as u64)
        && std::fs::read(path).is_ok_and(|b| b == bytes)
}

/// Write `bytes` as a new file in `dir` named `name` (or the first free `-n` variant); `true`
/// with it when an identical file was found and kept instead.
pub fn save(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<(PathBuf, bool)> {
    for n in 0..=MAX_SUFFIX {
        let path = dir.join(suffixed(name, n));
        if holds(&path, bytes) {
            return Ok((path, true));
        }
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(mut f) => {
                if let Err(e) = f.write_all(bytes).and_then(|_| f.sync_all()) {
                    let _ = std::fs::remove_file(&path);
                    return Err(e);
                }
                return Ok((path, false));
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::AlreadyExists,
        "too many files of that name",
    ))
}

/// The first name for a new folder `stem`, `stem-1`… in `dir` that nothing uses yet (not even
/// a dangling symlink).
pub fn free_dir(dir: &Path, stem: &str) -> std::io::Result<PathBuf> {
    for n in 0..=MAX_SUFFIX {
        let name = if n == 0 {
            stem.to_string()
        } else {
            format!("{stem}-{n}")
        };
        let path = dir.join(name);
        if std::fs::symlink_metadata(&path).is_err() {
            return Ok(path);
        }
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::AlreadyExists,
        "too many folders of that name",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_overwrites_and_never_writes_through_a_link() {
        assert_eq!(suffixed("a.txt", 2), "a-2.txt");
        assert_eq!(suffixed("p.tar.gz", 1), "p-1.tar.gz");
        assert_eq!(suffixed("Makefile", 1), "Makefile-1");
        let t = tempfile::tempdir().unwrap();
        let (a, _) = save(t.path(), "a.txt", b"one").unwrap();
        let (b, reused) = save(t.path(), "a.txt", b"two").unwrap();
        assert_eq!(
            (b.file_name().unwrap().to_str(), reused),
            (Some("a-1.txt"), false)
        );
        assert_eq!(std::fs::read(&a).unwrap(), b"one");
        // The same bytes again (a replayed update): the existing copy.
        assert_eq!(save(t.path(), "a.txt", b"two").unwrap(), (b, true));
        let victim = t.path().join("victim");
        std::fs::write(&victim, "keep").unwrap();
        std::os::unix::fs::symlink(&victim, t.path().join("l.txt")).unwrap();
        let (c, _) = save(t.path(), "l.txt", b"keep").unwrap();
        assert_eq!(c.file_name().unwrap(), "l-1.txt");
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
        std::fs::create_dir(t.path().join("p")).unwrap();
        assert_eq!(free_dir(t.path(), "p").unwrap().file_name().unwrap(), "p-1");
    }
}
