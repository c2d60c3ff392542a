//! ccgate's own files, and whether they are exposed: readable by other users of the machine,
//! or inside the approved directory where Claude works.
//!
//! Why it exists: the reference's security checklist leaves these to humans ("keep `.env`
//! private", "do not point the bot at your home"), and each is a way around everything else.
//! A world-readable `.env` or key file hands the bot token to any local user. One of ccgate's
//! files inside the approved directory is in reach of the agent: secrets there are masked in
//! the OS boundary, but the binary, the policy or the triggers file there can be *rewritten*
//! by a script Claude runs, and what runs outside the boundary at the next start is then the
//! agent's choice. The approved directory holding the operator's home is refused outright when
//! the configuration is loaded ([`super::approved_dir`]); what this module finds is reported
//! (at start to the log and the admins, by `ccgate check`/`doctor` as failures), because an
//! operator may have reasons and must decide.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::config::Config;

/// One of ccgate's own files or folders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnFile {
    /// What it is, for the operator ("the .env file", "POLICY_FILE").
    pub what: String,
    pub path: PathBuf,
    /// Holds secrets: must not be readable by group or others.
    pub secret: bool,
}

/// Something about an own file the operator must fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exposure {
    /// A secret file or folder other users may read (`mode` is its permission bits).
    Readable { file: OwnFile, mode: u32 },
    /// An own file inside the approved directory, in reach of the agent.
    InsideApproved { file: OwnFile },
}

impl Exposure {
    /// One line for the log, the admins and `ccgate check`, with the fix.
    pub fn describe(&self) -> String {
        match self {
            Exposure::Readable { file, mode } => format!(
                "{} ({}) is readable by other users (mode {mode:o}); run: chmod {} {}",
                file.what,
                file.path.display(),
                if file.path.is_dir() { "700" } else { "600" },
                file.path.display()
            ),
            Exposure::InsideApproved { file } => format!(
                "{} ({}) is inside APPROVED_DIRECTORY, in reach of Claude; move it out{}",
                file.what,
                file.path.display(),
                if file.secret {
                    " (it is masked inside the OS boundary, but one mistake away)"
                } else {
                    " (a script Claude runs could rewrite it, and ccgate would use it at its next start)"
                }
            ),
        }
    }
}

/// ccgate's own files for `config`: the `.env`, the database and its folder, every secret
/// read from a `*_FILE`, the audit signing key, the policy and triggers files, the private
/// HOMEs and the running binary. Only the ones that exist.
pub fn own_files(config: &Config) -> Vec<OwnFile> {
    let mut files = Vec::new();
    let mut add = |what: &str, path: &Path, secret: bool| {
        if path.exists() {
            files.push(OwnFile {
                what: what.to_string(),
                path: path.to_path_buf(),
                secret,
            });
        }
    };
    if let Some(env) = &config.env_file {
        add("the .env file", env, true);
    }
    add("the database", &config.database_path, true);
    if let Some(dir) = config
        .database_path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
    {
        add("the data directory", dir, true);
    }
    for (name, path) in &config.secret_sources {
        add(&format!("{name}_FILE"), path, true);
    }
    if let Some(crate::audit::signer::KeySource::File(key)) = &config.audit.signing_key {
        add("AUDIT_SIGNING_KEY_FILE", key, true);
    }
    if let Some(p) = &config.policy_file {
        add("POLICY_FILE", p, false);
    }
    if let Some(p) = &config.server.triggers_file {
        add("TRIGGERS_FILE", p, false);
    }
    add(
        "CLAUDE_HOME_DIR (the private HOMEs)",
        &config.sandbox.home_dir,
        true,
    );
    if let Ok(exe) = std::env::current_exe() {
        add("the ccgate binary", &exe, false);
    }
    // One entry per path (a setting and its field may name the same file).
    let mut seen = Vec::new();
    files.retain(|f| {
        let key = std::fs::canonicalize(&f.path).unwrap_or_else(|_| f.path.clone());
        if seen.contains(&key) {
            false
        } else {
            seen.push(key);
            true
        }
    });
    files
}

/// Whether `path` (symlinks resolved) lies inside `approved` (already canonical).
pub fn is_inside(approved: &Path, path: &Path) -> bool {
    match std::fs::canonicalize(path) {
        Ok(p) => p.starts_with(approved),
        Err(_) => false,
    }
}

/// Every exposure of `files` given the approved directory (canonical).
pub fn find(approved: &Path, files: &[OwnFile]) -> Vec<Exposure> {
    let mut out = Vec::new();
    for f in files {
        if f.secret {
            if let Ok(meta) = std::fs::metadata(&f.path) {
                let mode = meta.permissions().mode() & 0o777;
                if mode & 0o077 != 0 {
                    out.push(Exposure::Readable {
                        file: f.clone(),
                        mode,
                    });
                }
            }
        }
        if is_inside(approved, &f.path) {
            out.push(Exposure::InsideApproved { file: f.clone() });
        }
    }
    out
}

/// The exposures of `config`'s own files.
pub fn of_config(config: &Config) -> Vec<Exposure> {
    find(&config.approved_directory, &own_files(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn own(what: &str, path: &Path, secret: bool) -> OwnFile {
        OwnFile {
            what: what.into(),
            path: path.to_path_buf(),
            secret,
        }
    }

    fn chmod(p: &Path, mode: u32) {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn secrets_readable_by_others_and_own_files_inside_the_approved_directory_are_found() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().canonicalize().unwrap();
        let approved = base.join("projects");
        std::fs::create_dir_all(approved.join("app")).unwrap();
        let env = base.join(".env");
        let key = base.join("key.pem");
        let policy = approved.join("app/policy.toml");
        let db = approved.join("ccgate.db");
        for p in [&env, &key, &policy, &db] {
            std::fs::write(p, "x").unwrap();
        }
        chmod(&env, 0o644);
        chmod(&key, 0o600);
        chmod(&policy, 0o644);
        chmod(&db, 0o600);
        // A symlink from outside into the approved directory counts as inside.
        let link = base.join("triggers.toml");
        std::os::unix::fs::symlink(&policy, &link).unwrap();
        let files = vec![
            own("the .env file", &env, true),
            own("AUDIT_SIGNING_KEY_FILE", &key, true),
            own("POLICY_FILE", &policy, false),
            own("the database", &db, true),
            own("TRIGGERS_FILE", &link, false),
        ];
        let found = find(&approved, &files);
        assert_eq!(
            found,
            vec![
                Exposure::Readable {
                    file: files[0].clone(),
                    mode: 0o644
                },
                Exposure::InsideApproved {
                    file: files[2].clone()
                },
                Exposure::InsideApproved {
                    file: files[3].clone()
                },
                Exposure::InsideApproved {
                    file: files[4].clone()
                },
            ]
        );
        assert!(found[0].describe().contains("chmod 600"));
        assert!(found[1].describe().contains("could rewrite it"));
        assert!(found[2].describe().contains("masked"));

        // Fixed: nothing left.
        chmod(&env, 0o600);
        let moved = base.join("policy.toml");
        std::fs::rename(&policy, &moved).unwrap();
        std::fs::remove_file(&link).unwrap();
        std::fs::rename(&db, base.join("ccgate.db")).unwrap();
        let files = vec![
            own("the .env file", &env, true),
            own("POLICY_FILE", &moved, false),
            own("the database", &base.join("ccgate.db"), true),
        ];
        assert_eq!(find(&approved, &files), vec![]);
    }

    #[test]
    fn a_path_that_only_shares_a_prefix_is_not_inside() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().canonicalize().unwrap();
        std::fs::create_dir_all(base.join("proj")).unwrap();
        std::fs::write(base.join("projects.env"), "x").unwrap();
        assert!(!is_inside(&base.join("proj"), &base.join("projects.env")));
        assert!(is_inside(&base, &base.join("projects.env")));
        assert!(!is_inside(&base, &base.join("missing")));
    }
}
