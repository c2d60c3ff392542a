//! Start-up check of the approved directory: the one tree Claude may touch from chat.
//!
//! Why it exists: every containment check downstream trusts the approved directory. If an
//! operator sets it to `/`, `/etc`, their whole home folder, or a symlink to one of those, the
//! sandbox faithfully "contains" Claude inside a tree that holds SSH keys and cloud
//! credentials. Such a configuration is refused before the bot starts, with advice.

use std::path::{Path, PathBuf};

const ADVICE: &str = "choose a project folder such as ~/projects";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApprovedDirError {
    #[error("approved directory {0} does not exist or cannot be opened; create it or {ADVICE}")]
    NotFound(String),
    #[error("approved directory {0} is not a directory; {ADVICE}")]
    NotADirectory(String),
    #[error(
        "approved directory {0} is a system directory and would expose the whole machine; {ADVICE}"
    )]
    SystemRoot(String),
    #[error(
        "approved directory {0} is your home directory, which holds SSH keys and credentials; \
         {ADVICE}"
    )]
    Home(String),
    #[error(
        "approved directory {0} contains or is a credentials folder (.ssh, .aws, .gnupg, ...) \
         or a home directory; {ADVICE}"
    )]
    ContainsSensitive(String),
}

/// Directories that may never be approved themselves (their subdirectories may).
const SYSTEM_DIRS: &[&str] = &[
    "/",
    "/var",
    "/opt",
    "/root",
    "/home",
    "/users",
    "/library",
    "/private",
    "/private/var",
    "/tmp",
    "/private/tmp",
    "/var/tmp",
    "/srv",
    "/mnt",
    "/media",
    "/volumes",
    "/applications",
    "/nix",
    "/snap",
];

/// Trees that hold only the operating system: neither they nor anything under them may be
/// approved.
const SYSTEM_TREES: &[&str] = &[
    "/etc",
    "/private/etc",
    "/usr",
    "/bin",
    "/sbin",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/boot",
    "/dev",
    "/proc",
    "/sys",
    "/run",
    "/system",
    "/nix/store",
];

/// Folders under a home directory that hold credentials.
const HOME_SECRET_DIRS: &[&str] = &[
    ".ssh",
    ".aws",
    ".azure",
    ".gnupg",
    ".kube",
    ".docker",
    ".password-store",
    ".config",
    ".local/share/keyrings",
];

/// Credential folders whose presence directly inside a directory marks it as someone's home.
const MARKER_DIRS: &[&str] = &[".ssh", ".aws", ".gnupg"];

/// Case-insensitive path prefix test, component-wise (macOS file systems ignore case).
fn lower(p: &Path) -> PathBuf {
    PathBuf::from(p.to_string_lossy().to_lowercase())
}

fn is_system(canonical: &Path) -> bool {
    let l = lower(canonical);
    SYSTEM_DIRS.iter().any(|d| l == Path::new(d)) || SYSTEM_TREES.iter().any(|t| l.starts_with(t))
}

/// Canonicalize (follow symlinks) and validate. `home` is the user's home directory (passed in
/// for testability; the caller uses `$HOME`). Returns the canonical directory.
///
/// Refused, in this order: a path that does not resolve ([`ApprovedDirError::NotFound`]); a
/// non-directory; a system directory ([`ApprovedDirError::SystemRoot`]: `/`, `/var`, `/tmp`,
/// `/home`, `/Users`, ... themselves, and anything inside `/etc`, `/usr`, `/bin`, `/lib*`,
/// `/boot`, `/dev`, `/proc`, `/sys`, `/run`); exactly `home` ([`ApprovedDirError::Home`]);
/// and [`ApprovedDirError::ContainsSensitive`] for an ancestor of `home`, a directory that is
/// or is inside a credentials folder of `home` (`~/.ssh`, `~/.aws`, `~/.config`, ...), or one
/// that directly contains `.ssh`, `.aws` or `.gnupg` (someone else's home). System names are
/// compared case-insensitively.
pub fn validate_approved_dir(dir: &Path, home: Option<&Path>) -> Result<PathBuf, ApprovedDirError> {
    let shown = dir.display().to_string();
    let canonical =
        std::fs::canonicalize(dir).map_err(|_| ApprovedDirError::NotFound(shown.clone()))?;
    let shown = if canonical.as_path() == dir {
        shown
    } else {
        format!("{shown} (= {})", canonical.display())
    };
    match std::fs::metadata(&canonical) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return Err(ApprovedDirError::NotADirectory(shown)),
        Err(_) => return Err(ApprovedDirError::NotFound(shown)),
    }
    if is_system(&canonical) {
        return Err(ApprovedDirError::SystemRoot(shown));
    }
    if let Some(home) = home.filter(|h| !h.as_os_str().is_empty()) {
        let home = std::fs::canonicalize(home).unwrap_or_else(|_| home.to_path_buf());
        let (dir_l, home_l) = (lower(&canonical), lower(&home));
        if dir_l == home_l {
            return Err(ApprovedDirError::Home(shown));
        }
        if home_l.starts_with(&dir_l) {
            return Err(ApprovedDirError::ContainsSensitive(shown));
        }
        for secret in HOME_SECRET_DIRS {
            let s = home.join(secret);
            let s = std::fs::canonicalize(&s).unwrap_or(s);
            if dir_l.starts_with(lower(&s)) {
                return Err(ApprovedDirError::ContainsSensitive(shown));
            }
        }
    }
    if MARKER_DIRS
        .iter()
        .any(|m| canonical.join(m).symlink_metadata().is_ok())
    {
        return Err(ApprovedDirError::ContainsSensitive(shown));
    }
    Ok(canonical)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;
    use ApprovedDirError as E;

    struct Fixture {
        _dir: tempfile::TempDir,
        base: PathBuf,
        home: PathBuf,
    }

    /// base/home (with .ssh), base/projects/app, base/file.txt
    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().canonicalize().unwrap();
        let home = base.join("home");
        std::fs::create_dir_all(home.join(".ssh")).unwrap();
        std::fs::create_dir_all(home.join("projects/app")).unwrap();
        std::fs::create_dir_all(home.join(".config/tool")).unwrap();
        std::fs::create_dir_all(base.join("projects/app")).unwrap();
        std::fs::write(base.join("file.txt"), "x").unwrap();
        Fixture {
            _dir: dir,
            base,
            home,
        }
    }

    fn v(dir: &Path, home: &Path) -> Result<PathBuf, ApprovedDirError> {
        validate_approved_dir(dir, Some(home))
    }

    #[test]
    fn project_dirs_accepted() {
        let f = fixture();
        let app = f.base.join("projects/app");
        assert_eq!(v(&app, &f.home), Ok(app.clone()));
        assert_eq!(validate_approved_dir(&app, None), Ok(app.clone()));
        let in_home = f.home.join("projects/app");
        assert_eq!(v(&in_home, &f.home), Ok(in_home.clone()));
        assert_eq!(
            v(&f.home.join("projects"), &f.home),
            Ok(f.home.join("projects"))
        );
        // A symlink to a project resolves to it.
        let link = f.base.join("link-to-app");
        symlink(&app, &link).unwrap();
        assert_eq!(v(&link, &f.home), Ok(app.clone()));
        // Trailing slash and `..` are resolved.
        let odd = PathBuf::from(format!("{}/projects/app/../app/", f.base.display()));
        assert_eq!(v(&odd, &f.home), Ok(app));
    }

    #[test]
    fn missing_and_files_refused() {
        let f = fixture();
        assert!(matches!(
            v(&f.base.join("nope"), &f.home),
            Err(E::NotFound(_))
        ));
        assert!(matches!(
            v(&f.base.join("file.txt"), &f.home),
            Err(E::NotADirectory(_))
        ));
        let dangling = f.base.join("dangling");
        symlink(f.base.join("nope"), &dangling).unwrap();
        assert!(matches!(v(&dangling, &f.home), Err(E::NotFound(_))));
        assert!(matches!(
            validate_approved_dir(Path::new(""), None),
            Err(E::NotFound(_))
        ));
    }

    #[test]
    fn system_dirs_refused() {
        let f = fixture();
        for d in [
            "/",
            "/etc",
            "/usr/",
            "/usr/bin",
            "/etc/ssh",
            "/tmp",
            "/tmp/",
            "/proc/self",
        ] {
            let p = Path::new(d);
            if !p.exists() {
                continue;
            }
            assert!(
                matches!(v(p, &f.home), Err(E::SystemRoot(_))),
                "{d}: {:?}",
                v(p, &f.home)
            );
        }
        // `/home` is SystemRoot even when it is an ancestor of HOME.
        if Path::new("/home").is_dir() {
            assert!(matches!(
                v(Path::new("/home"), Path::new("/home/alice")),
                Err(E::SystemRoot(_))
            ));
        }
        let root_link = f.base.join("root-link");
        symlink("/", &root_link).unwrap();
        let err = v(&root_link, &f.home).unwrap_err();
        assert!(matches!(err, E::SystemRoot(_)), "{err:?}");
        assert!(err.to_string().contains("~/projects"), "{err}");
        let etc_link = f.base.join("etc-link");
        symlink("/etc", &etc_link).unwrap();
        assert!(matches!(v(&etc_link, &f.home), Err(E::SystemRoot(_))));
        // The case-insensitive comparison.
        assert!(is_system(Path::new("/USERS")));
        assert!(is_system(Path::new("/System/Library")));
        assert!(!is_system(Path::new("/tmp/x")));
        assert!(!is_system(Path::new("/var/www/site")));
        assert!(!is_system(Path::new("/etcetera")));
    }

    #[test]
    fn home_and_its_secrets_refused() {
        let f = fixture();
        let err = v(&f.home, &f.home).unwrap_err();
        assert!(matches!(err, E::Home(_)), "{err:?}");
        assert!(err.to_string().contains("choose a project folder"), "{err}");
        // With a trailing slash, and through a symlink whose target is HOME.
        let slash = PathBuf::from(format!("{}/", f.home.display()));
        assert!(matches!(v(&slash, &f.home), Err(E::Home(_))));
        let link = f.base.join("home-link");
        symlink(&f.home, &link).unwrap();
        assert!(matches!(v(&link, &f.home), Err(E::Home(_))));
        // HOME itself given through a symlink.
        assert!(matches!(v(&f.home, &link), Err(E::Home(_))));
        // An ancestor of HOME exposes it.
        assert!(matches!(v(&f.base, &f.home), Err(E::ContainsSensitive(_))));
        // Credentials folders inside HOME.
        for d in [".ssh", ".config", ".config/tool"] {
            assert!(
                matches!(v(&f.home.join(d), &f.home), Err(E::ContainsSensitive(_))),
                "{d}"
            );
        }
        // Someone else's home (has .ssh inside), without knowing HOME.
        assert!(matches!(
            validate_approved_dir(&f.home, None),
            Err(E::ContainsSensitive(_))
        ));
        // An empty HOME is ignored.
        let app = f.base.join("projects/app");
        assert_eq!(v(&app, Path::new("")), Ok(app));
    }

    #[test]
    fn messages_say_what_to_do() {
        for e in [
            E::NotFound("x".into()),
            E::NotADirectory("x".into()),
            E::SystemRoot("x".into()),
            E::Home("x".into()),
            E::ContainsSensitive("x".into()),
        ] {
            assert!(e.to_string().contains(ADVICE), "{e}");
        }
    }
}
