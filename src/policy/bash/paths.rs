//! Placing a path: lexical normalisation, symlink resolution with a budget, the resolutions a
//! path may have, raw devices.
//!
//! Why it exists: "inside the project" is only meaningful for a path resolved the way the kernel
//! will resolve it (`..`, symlinks such as `out -> /etc`), and a resolution loop must end. These
//! pure helpers answer where a path lands; the walker decides what that means.

use super::*;

/// How a path argument is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Access {
    Read,
    Write,
    Any,
}

pub(super) fn lexical_normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for comp in p.components() {
        match comp {
            Component::Prefix(_) | Component::RootDir => out = PathBuf::from("/"),
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(c) => out.push(c),
        }
    }
    out
}

/// Resolve `p` (absolute) the way the kernel would: follow every symlink that
/// exists, then append the non-existing rest lexically.
pub(super) fn physical_resolve(p: &Path, budget: &mut u32) -> PathBuf {
    let mut cur = PathBuf::from("/");
    let mut exists = true;
    for comp in p.components() {
        match comp {
            Component::Prefix(_) | Component::RootDir => cur = PathBuf::from("/"),
            Component::CurDir => {}
            Component::ParentDir => {
                cur.pop();
            }
            Component::Normal(c) => {
                cur.push(c);
                if !exists {
                    continue;
                }
                match fs::symlink_metadata(&cur) {
                    Ok(meta) if meta.file_type().is_symlink() => {
                        if *budget == 0 {
                            return PathBuf::from("/<too many symlinks>");
                        }
                        *budget -= 1;
                        match fs::read_link(&cur) {
                            Ok(target) => {
                                let parent = cur
                                    .parent()
                                    .map_or_else(|| PathBuf::from("/"), Path::to_path_buf);
                                cur = physical_resolve(&parent.join(target), budget);
                            }
                            Err(_) => exists = false,
                        }
                    }
                    Ok(_) => {}
                    Err(_) => exists = false,
                }
            }
        }
    }
    cur
}

pub(super) fn canonical_or_resolved(p: &Path) -> PathBuf {
    fs::canonicalize(p)
        .unwrap_or_else(|_| physical_resolve(&lexical_normalize(p), &mut MAX_SYMLINKS.clone()))
}

/// The places an absolute path may really refer to: lexical normalisation and
/// physical (symlink-following) resolution, both taken into account.
pub(super) fn resolutions(abs: &Path) -> Vec<PathBuf> {
    let lexical = lexical_normalize(abs);
    let mut budget = MAX_SYMLINKS;
    let physical = physical_resolve(abs, &mut budget);
    let mut budget = MAX_SYMLINKS;
    let physical_of_lexical = physical_resolve(&lexical, &mut budget);
    let mut out = vec![lexical];
    for p in [physical, physical_of_lexical] {
        if !out.contains(&p) {
            out.push(p);
        }
    }
    out
}

pub(super) fn is_raw_device(p: &Path) -> bool {
    let s = p.to_string_lossy();
    s.strip_prefix("/dev/")
        .is_some_and(|rest| RAW_DEVICE_PREFIXES.iter().any(|d| rest.starts_with(d)))
}
