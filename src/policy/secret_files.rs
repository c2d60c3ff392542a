//! The secret-file denylist: files that are never read, written, listed or sent from chat.
//!
//! Why it exists: containment keeps Claude inside the approved directory, but secrets live
//! inside projects too (`.env`, `deploy.pem`, a copied `.aws/`). Operators may add patterns of
//! their own, yet a typo or a "temporary" `!**/.env` in the config must never switch off the
//! built-in protection, so defaults are structurally impossible to exempt.

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};

use globset::{Candidate, GlobBuilder, GlobSet, GlobSetBuilder};

/// Built-in secret patterns, always active. Matched case-insensitively against the whole
/// (absolute) path and against each of its ancestors.
pub const DEFAULT_SECRET_GLOBS: &[&str] = &[
    "**/.env",
    "**/.env.*",
    "**/.ssh",
    "**/.ssh/**",
    "**/id_rsa*",
    "**/id_dsa*",
    "**/id_ecdsa*",
    "**/id_ed25519*",
    "**/ssh_host_*_key",
    "**/*.pem",
    "**/*.key",
    "**/*.p12",
    "**/*.pfx",
    "**/*.ppk",
    "**/*.jks",
    "**/*.keystore",
    "**/*.kdbx",
    "**/.aws",
    "**/.aws/**",
    "**/.azure",
    "**/.azure/**",
    "**/.gnupg",
    "**/.gnupg/**",
    "**/.password-store",
    "**/.password-store/**",
    "**/.config/gcloud",
    "**/.config/gcloud/**",
    "**/.config/gh/hosts.yml",
    "**/.netrc",
    "**/_netrc",
    "**/.git-credentials",
    "**/.pgpass",
    "**/.htpasswd",
    "**/.vault-token",
    "**/.docker/config.json",
    "**/.kube/config",
    "**/.cargo/credentials",
    "**/.cargo/credentials.toml",
    "**/credentials.json",
];

/// Globs that are NOT secrets despite matching a default: example env files and public keys.
///
/// `*.pub` only exempts names that do not start with a dot, so `.env.pub` stays secret while
/// `id_rsa.pub` does not. These exemptions never lift a secret *ancestor*: everything under
/// `.ssh/` (including `.ssh/id_rsa.pub`) stays secret.
pub const DEFAULT_NOT_SECRET_GLOBS: &[&str] = &[
    "**/.env.example",
    "**/.env.sample",
    "**/.env.template",
    "**/[!.]*.pub",
];

/// Canonical paths that the defaults make secret. An operator's `!glob` that matches any of
/// these is refused with [`SecretGlobError::RemovesDefault`]; a test checks that every default
/// glob matches at least one of them.
const DEFAULT_SECRET_SAMPLES: &[&str] = &[
    "/home/user/project/.env",
    "/p/.env",
    "/p/.env.local",
    "/p/.env.production",
    "/home/user/.ssh",
    "/p/.ssh",
    "/home/user/.ssh/id_rsa",
    "/home/user/.ssh/config",
    "/home/user/.ssh/authorized_keys",
    "/p/.ssh/id_rsa",
    "/p/id_rsa",
    "/p/id_dsa",
    "/p/id_ecdsa",
    "/p/id_ed25519",
    "/p/id_ed25519_sk",
    "/etc/ssh/ssh_host_ed25519_key",
    "/p/key.pem",
    "/p/certs/server.pem",
    "/p/server.key",
    "/p/cert.p12",
    "/p/cert.pfx",
    "/p/putty.ppk",
    "/p/release.jks",
    "/p/release.keystore",
    "/p/passwords.kdbx",
    "/home/user/.aws",
    "/home/user/.aws/credentials",
    "/p/.aws/config",
    "/home/user/.azure",
    "/home/user/.azure/accessTokens.json",
    "/home/user/.gnupg",
    "/home/user/.gnupg/private-keys-v1.d/x.key",
    "/home/user/.gnupg/secring.gpg",
    "/home/user/.password-store",
    "/home/user/.password-store/mail.gpg",
    "/home/user/.config/gcloud",
    "/home/user/.config/gcloud/credentials.db",
    "/home/user/.config/gh/hosts.yml",
    "/home/user/.netrc",
    "/p/_netrc",
    "/home/user/.git-credentials",
    "/home/user/.pgpass",
    "/p/.htpasswd",
    "/home/user/.vault-token",
    "/home/user/.docker/config.json",
    "/home/user/.kube/config",
    "/home/user/.cargo/credentials",
    "/home/user/.cargo/credentials.toml",
    "/p/credentials.json",
];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretGlobError {
    #[error("invalid glob {0:?}: {1}")]
    Invalid(String, String),
    #[error("{0:?} would remove a built-in secret pattern; built-ins cannot be disabled")]
    RemovesDefault(String),
}

/// The compiled secret-file policy. Build with [`SecretFiles::new`].
#[derive(Debug, Clone)]
pub struct SecretFiles {
    defaults: GlobSet,
    default_exempt: GlobSet,
    extra: GlobSet,
    /// Operator `!` exemptions; they only ever cancel matches of `extra`.
    extra_exempt: GlobSet,
    /// Exact secret paths, lowercased (see [`SecretFiles::with_exact_paths`]).
    exact: BTreeSet<String>,
}

/// Compile one glob with the module's semantics: case-insensitive, `*` does not cross `/`.
fn compile(glob: &str, shown_as: &str) -> Result<globset::Glob, SecretGlobError> {
    GlobBuilder::new(glob)
        .case_insensitive(true)
        .literal_separator(true)
        .build()
        .map_err(|e| SecretGlobError::Invalid(shown_as.to_string(), e.to_string()))
}

fn build_set(globs: &[(String, String)]) -> Result<GlobSet, SecretGlobError> {
    let mut b = GlobSetBuilder::new();
    for (glob, shown_as) in globs {
        b.add(compile(glob, shown_as)?);
    }
    b.build()
        .map_err(|e| SecretGlobError::Invalid(String::new(), e.to_string()))
}

fn builtin(globs: &[&str]) -> Vec<(String, String)> {
    globs
        .iter()
        .map(|g| (g.to_string(), g.to_string()))
        .collect()
}

/// Make an operator glob match anywhere, like a `.gitignore` line: a relative glob
/// (`*.secret`, `vault/`) gets a `**/` prefix; a trailing `/` is dropped (the directory and
/// hence, by the ancestor rule, everything under it is secret).
fn anchor(glob: &str) -> String {
    let g = glob.trim();
    let g = if g.len() > 1 {
        g.trim_end_matches('/')
    } else {
        g
    };
    if g.starts_with('/') || g.starts_with("**/") || g == "**" {
        g.to_string()
    } else {
        format!("**/{g}")
    }
}

/// The path with `.` components and repeated or trailing separators removed, so that
/// `/p/.env/` and `/p//./.env` are checked as `/p/.env`.
fn clean(path: &Path) -> PathBuf {
    path.components()
        .filter(|c| !matches!(c, Component::CurDir))
        .collect()
}

fn exact_key(path: &Path) -> String {
    path.to_string_lossy().to_lowercase()
}

impl SecretFiles {
    /// Defaults plus `extra` globs (from config, e.g.
    /// `SECRET_FILE_PATTERNS="**/*.secret,**/vault/**"`). Entries are trimmed; empty entries
    /// are ignored; relative globs match anywhere (`*.secret` means `**/*.secret`).
    ///
    /// An entry starting with `!` is an exemption. It is refused with
    /// [`SecretGlobError::RemovesDefault`] if it matches any canonical sample path of a
    /// default (`/p/.env`, `/home/user/.ssh/id_rsa`, `/p/key.pem`, ...). Independently of that
    /// check, exemptions are only ever applied to matches of the operator's own extra globs,
    /// so no exemption can lift a default, even one the samples do not anticipate.
    pub fn new(extra: &[String]) -> Result<SecretFiles, SecretGlobError> {
        let defaults = build_set(&builtin(DEFAULT_SECRET_GLOBS))?;
        let default_exempt = build_set(&builtin(DEFAULT_NOT_SECRET_GLOBS))?;
        let mut add = Vec::new();
        let mut exempt = Vec::new();
        for entry in extra {
            let trimmed = entry.trim();
            if trimmed.is_empty() {
                continue;
            }
            if let Some(neg) = trimmed.strip_prefix('!') {
                if neg.trim().is_empty() {
                    return Err(SecretGlobError::Invalid(
                        entry.clone(),
                        "an exemption needs a pattern after !".into(),
                    ));
                }
                let glob = anchor(neg);
                let matcher = compile(&glob, entry)?.compile_matcher();
                if DEFAULT_SECRET_SAMPLES.iter().any(|s| matcher.is_match(s)) {
                    return Err(SecretGlobError::RemovesDefault(entry.clone()));
                }
                exempt.push((glob, entry.clone()));
            } else {
                add.push((anchor(trimmed), entry.clone()));
            }
        }
        Ok(SecretFiles {
            defaults,
            default_exempt,
            extra: build_set(&add)?,
            extra_exempt: build_set(&exempt)?,
            exact: BTreeSet::new(),
        })
    }

    /// Only the built-in patterns.
    pub fn defaults() -> Result<SecretFiles, SecretGlobError> {
        Self::new(&[])
    }

    /// Is this (absolute, already resolved) path a secret? Also true when any ancestor
    /// directory is secret (anything under `.ssh/`). All glob matching is case-insensitive
    /// (`KEY.PEM`, and `.SSH` on a case-insensitive file system), as is the comparison with
    /// exact paths.
    pub fn is_secret(&self, path: &Path) -> bool {
        let path = clean(path);
        path.ancestors()
            .filter(|p| !p.as_os_str().is_empty())
            .any(|p| self.is_secret_itself(p))
    }

    /// Is this path itself secret, ignoring its ancestors? For walks that never descend into
    /// a secret directory, where the ancestors were already checked on the way down.
    pub fn is_secret_entry(&self, path: &Path) -> bool {
        self.is_secret_itself(&clean(path))
    }

    fn is_secret_itself(&self, p: &Path) -> bool {
        let c = Candidate::new(p);
        (self.defaults.is_match_candidate(&c) && !self.default_exempt.is_match_candidate(&c))
            || (self.extra.is_match_candidate(&c) && !self.extra_exempt.is_match_candidate(&c))
            || (!self.exact.is_empty() && self.exact.contains(&exact_key(p)))
    }

    /// Add exact files (ccgate's database, its `.env`) that are always secret, as is anything
    /// under them. For each path, its SQLite companions `-wal`, `-shm` and `-journal` are
    /// added too, and so is the path with its parent canonicalized (so a relative or
    /// symlinked config value still matches the resolved paths `is_secret` receives).
    pub fn with_exact_paths(mut self, paths: Vec<PathBuf>) -> Self {
        for p in paths {
            if p.as_os_str().is_empty() {
                continue;
            }
            let mut forms = vec![clean(&p)];
            if let Ok(real) = std::fs::canonicalize(&p) {
                forms.push(real);
            }
            if let (Some(parent), Some(name)) = (p.parent(), p.file_name()) {
                let parent = if parent.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    parent
                };
                if let Ok(real_parent) = std::fs::canonicalize(parent) {
                    forms.push(real_parent.join(name));
                }
            }
            for form in forms {
                for suffix in ["", "-wal", "-shm", "-journal"] {
                    let mut s = form.clone().into_os_string();
                    s.push(suffix);
                    self.exact.insert(exact_key(Path::new(&s)));
                }
            }
        }
        self
    }
}

/// What a bounded walk of a directory found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scan {
    /// Secret files (or secret directories) found, relative to the scanned directory.
    pub found: Vec<PathBuf>,
    /// False when the walk stopped at its limit: there may be more.
    pub complete: bool,
}

/// How many directory entries a scan looks at before giving up.
pub const SCAN_LIMIT: usize = 20_000;
/// Directories a scan does not descend into (large, and generated).
const SCAN_SKIP: &[&str] = &["node_modules", "target", ".git"];

impl SecretFiles {
    /// Secret files under `dir` (not following symlinks), for tools that read whole trees.
    pub fn scan(&self, dir: &Path) -> Scan {
        let mut found = Vec::new();
        let walked = crate::walk::walk(dir, SCAN_LIMIT, |path, meta| {
            if self.is_secret(path) {
                found.push(path.strip_prefix(dir).unwrap_or(path).to_path_buf());
                return false;
            }
            let skip = path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| SCAN_SKIP.contains(&n));
            meta.is_dir() && !skip
        });
        if walked.is_err() {
            return Scan {
                found,
                complete: false,
            };
        }
        found.sort();
        Scan {
            found,
            complete: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> SecretFiles {
        SecretFiles::new(&[]).unwrap()
    }

    fn extra(list: &[&str]) -> Result<SecretFiles, SecretGlobError> {
        SecretFiles::new(&list.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn every_default_matches_its_samples() {
        let s = defaults();
        for sample in DEFAULT_SECRET_SAMPLES {
            assert!(s.is_secret(Path::new(sample)), "{sample}");
        }
        for glob in DEFAULT_SECRET_GLOBS {
            let m = compile(glob, glob).unwrap().compile_matcher();
            assert!(
                DEFAULT_SECRET_SAMPLES.iter().any(|p| m.is_match(p)),
                "no sample for {glob}"
            );
        }
        for glob in DEFAULT_NOT_SECRET_GLOBS {
            compile(glob, glob).unwrap();
        }
    }

    #[test]
    fn secrets_and_non_secrets() {
        let s = defaults();
        for p in [
            "/a/.env",
            "/a/.ENV",
            "/a/.env.local",
            "/h/.ssh/known_hosts",
            "/a/.ssh/sub/x",
            "/a/.ssh/id_rsa.pub",
            "/k/id_ed25519",
            "/x/tls.PEM",
            "/x/KEY.PEM",
            "/x/Server.Key",
            "/x/.aws/credentials",
            "/x/.git-credentials",
            "/a/.env/",
            "/a//./.env",
            "/a/.env.pub",
            "/a/certs.pem/inner.txt",
            "relative/.env",
            ".env",
        ] {
            assert!(s.is_secret(Path::new(p)), "{p}");
        }
        for p in [
            "/a/env.rs",
            "/a/.env.example",
            "/a/.ENV.Example",
            "/a/.env.sample",
            "/a/.env.template",
            "/a/keyboard.rs",
            "/a/README.md",
            "/a/monkey.pem.md",
            "/a/key.pem.txt",
            "/a/keys/id_rsa.pub",
            "/a/id_ed25519.PUB",
            "/a/.environment/x.txt",
            "/a/ssh/config",
            "/a/src/key.rs",
            "/",
            "",
        ] {
            assert!(!s.is_secret(Path::new(p)), "{p}");
        }
    }

    #[test]
    fn exemptions_of_defaults_are_refused() {
        for bad in [
            "!**/.env",
            "!**/*.pem",
            "!*.pem",
            "!.env",
            "!**/.ssh",
            "!**/.ssh/**",
            "!**",
            "!/home/user/.aws/credentials",
            "!**/.ENV.local",
            "! **/id_rsa",
        ] {
            assert_eq!(
                extra(&[bad]).unwrap_err(),
                SecretGlobError::RemovesDefault(bad.to_string()),
                "{bad}"
            );
        }
    }

    #[test]
    fn exemptions_never_lift_defaults_even_when_unanticipated() {
        // Not matching any sample, so accepted, but it still cannot exempt a default.
        let s = extra(&["!**/prod/**"]).unwrap();
        assert!(s.is_secret(Path::new("/srv/prod/.env")));
        assert!(s.is_secret(Path::new("/srv/prod/tls.pem")));
    }

    #[test]
    fn extra_globs_and_their_exemptions() {
        let s = extra(&[
            "**/*.secret",
            "!**/public.secret",
            " vault/ ",
            "",
            "*.token",
        ])
        .unwrap();
        assert!(s.is_secret(Path::new("/p/db.secret")));
        assert!(s.is_secret(Path::new("/p/DB.SECRET")));
        assert!(!s.is_secret(Path::new("/p/public.secret")));
        assert!(s.is_secret(Path::new("/p/.ssh/public.secret")));
        assert!(s.is_secret(Path::new("/p/vault")));
        assert!(s.is_secret(Path::new("/p/vault/a/b.txt")));
        assert!(s.is_secret(Path::new("/p/x/api.token")));
        assert!(!s.is_secret(Path::new("/p/vaults/a.txt")));
        assert!(!s.is_secret(Path::new("/p/x.secrets")));
        // Defaults still on.
        assert!(s.is_secret(Path::new("/p/.env")));
        // Without the extra glob, *.secret is not a secret.
        assert!(!defaults().is_secret(Path::new("/p/db.secret")));
    }

    #[test]
    fn invalid_globs() {
        for bad in ["**/[abc", "!**/[abc", "!", "! ", "**/{a,b"] {
            assert!(
                matches!(extra(&[bad]), Err(SecretGlobError::Invalid(ref g, _)) if g == bad),
                "{bad}"
            );
        }
        let msg = extra(&["**/[abc"]).unwrap_err().to_string();
        assert!(msg.starts_with("invalid glob \"**/[abc\""), "{msg}");
        let msg = extra(&["!**/.env"]).unwrap_err().to_string();
        assert!(msg.contains("built-ins cannot be disabled"), "{msg}");
    }

    #[test]
    fn exact_paths() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().canonicalize().unwrap();
        let db = base.join("ccgate.db");
        std::fs::write(&db, "").unwrap();
        let env = base.join("conf/ccgate.env");
        let s = defaults().with_exact_paths(vec![db.clone(), env.clone(), PathBuf::new()]);
        for p in [
            db.clone(),
            base.join("ccgate.db-wal"),
            base.join("ccgate.db-shm"),
            base.join("ccgate.db-journal"),
            base.join("CCGATE.DB"),
            env.clone(),
        ] {
            assert!(s.is_secret(&p), "{}", p.display());
        }
        for p in [
            base.join("ccgate.db.bak"),
            base.join("other.db"),
            base.clone(),
        ] {
            assert!(!s.is_secret(&p), "{}", p.display());
        }
        // A symlinked directory in the configured path still matches the resolved path.
        let link = base.join("link");
        std::os::unix::fs::symlink(&base, &link).unwrap();
        let s = defaults().with_exact_paths(vec![link.join("ccgate.db")]);
        assert!(s.is_secret(&db));
        assert!(s.is_secret(&base.join("ccgate.db-wal")));
    }

    #[test]
    fn odd_paths_do_not_panic() {
        use std::os::unix::ffi::OsStrExt;
        let s = extra(&["**/*.secret"])
            .unwrap()
            .with_exact_paths(vec!["x".into()]);
        for raw in [
            &b"/p/\xff\xfe.env"[..],
            b"/p/\xff/.ssh/x",
            b"..",
            b"/../..",
            b"\0",
        ] {
            let _ = s.is_secret(Path::new(std::ffi::OsStr::from_bytes(raw)));
        }
        assert!(s.is_secret(Path::new(std::ffi::OsStr::from_bytes(b"/p/\xff/.ssh/x"))));
    }
}
