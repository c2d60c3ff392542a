//! May this file leave the machine? The decision for every file ccgate sends to a chat: Claude's
//! `send_file` tool and the user's `/get <path>`.
//!
//! Why it exists: sending a file is reading it on the user's behalf and handing the bytes to
//! Telegram, so it must be refused exactly where reading is — outside the project (after
//! following symlinks), in a project the user has no access to, a secret file (by name, or a
//! credential carrier that holds a credential) — and it must not exhaust memory or the Bot API
//! (`MAX_SEND_BYTES`). Both callers ask [`check`] and audit what it says; neither decides.
//!
//! Roles: every role may receive files, viewers included. A viewer may read any project file
//! through Claude's Read tool already; sending it is the same read, with the same refusals.

use std::path::{Path, PathBuf};

use serde_json::json;

use super::sandbox::{self, SandboxError};
use super::workdir::Who;

/// The name of ccgate's own tool as the CLI shows it to the model.
pub const SEND_FILE_TOOL: &str = "mcp__ccgate__send_file";

/// A file that may be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// Canonical (symlinks resolved), inside the approved directory.
    pub path: PathBuf,
    /// The file name shown in the chat.
    pub name: String,
    /// The path relative to the approved directory, for messages and the audit log.
    pub shown: String,
    pub size: u64,
}

/// Why a file may not be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendRefusal {
    /// Not a usable path, or outside the approved directory.
    Path(SandboxError),
    /// The file does not exist.
    NotFound,
    /// A directory, device, socket…
    NotAFile,
    /// A secret file, or inside a secret folder (shown relative to the root).
    Secret(String),
    /// A project the user may not work in.
    Access(String),
    TooLarge {
        size: u64,
        limit: u64,
    },
}

impl SendRefusal {
    /// The audit event: the same one other layers write for such a refusal.
    pub fn audit_event(&self) -> crate::audit::Event {
        use crate::audit::Event;
        match self {
            SendRefusal::Path(_) => Event::PathRejected,
            SendRefusal::Secret(_) => Event::SecretFileBlocked,
            SendRefusal::Access(_) => Event::AccessDenied,
            SendRefusal::NotFound | SendRefusal::NotAFile | SendRefusal::TooLarge { .. } => {
                Event::FileSendRefused
            }
        }
    }

    /// The policy rule that refused.
    pub fn rule(&self) -> &'static str {
        match self {
            SendRefusal::Path(_) => "file.outside_project",
            SendRefusal::NotFound => "send.not_found",
            SendRefusal::NotAFile => "send.not_a_file",
            SendRefusal::Secret(_) => "secret_files",
            SendRefusal::Access(_) => "project_access",
            SendRefusal::TooLarge { .. } => "send.too_large",
        }
    }

    /// The audit details of refusing `input` to `via` (`send_file` or `/get`).
    pub fn audit_details(&self, via: &str, input: &str) -> serde_json::Value {
        json!({"command": via, "input": input, "rule": self.rule(), "reason": self.to_string()})
    }
}

impl std::fmt::Display for SendRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SendRefusal::Path(SandboxError::Outside) => write!(f, "outside the project"),
            SendRefusal::Path(SandboxError::NotFound) | SendRefusal::NotFound => {
                write!(f, "no such file")
            }
            SendRefusal::Path(e) => write!(f, "{e}"),
            SendRefusal::NotAFile => write!(f, "not a regular file"),
            SendRefusal::Secret(p) => write!(f, "secret file ({p}): ccgate never sends it"),
            SendRefusal::Access(why) => write!(f, "{why}"),
            SendRefusal::TooLarge { size, limit } => write!(
                f,
                "too large ({} > {})",
                crate::media::human_size(*size),
                crate::media::human_size(*limit)
            ),
        }
    }
}

/// May `input` (relative to `cwd`, or absolute) be sent to `who`, at most `limit` bytes?
pub fn check(who: &Who<'_>, cwd: &Path, input: &str, limit: u64) -> Result<Outgoing, SendRefusal> {
    let input = input.trim();
    // The path as written counts first: a link named `.env` is what it says it is.
    let lexical = sandbox::normalize(&cwd.join(input));
    if lexical.starts_with(who.root) && who.secrets.is_secret(&lexical) {
        return Err(SendRefusal::Secret(sandbox::display_relative(
            who.root, &lexical,
        )));
    }
    let resolved = sandbox::resolve_within(who.root, cwd, input).map_err(SendRefusal::Path)?;
    // `resolve_within` leaves a missing tail unresolved: canonicalize proves it exists and
    // resolves the last link too.
    let path = match resolved.canonicalize() {
        Ok(p) => p,
        Err(_) => return Err(SendRefusal::NotFound),
    };
    if !path.starts_with(who.root) {
        return Err(SendRefusal::Path(SandboxError::Outside));
    }
    let shown = sandbox::display_relative(who.root, &path);
    if who.secrets.is_secret(&path) {
        return Err(SendRefusal::Secret(shown));
    }
    let dir = path.parent().unwrap_or(who.root);
    super::access::may_work_in(who.access, who.role, who.user_id, who.root, dir)
        .map_err(SendRefusal::Access)?;
    let meta = std::fs::metadata(&path).map_err(|_| SendRefusal::NotFound)?;
    if !meta.is_file() {
        return Err(SendRefusal::NotAFile);
    }
    if meta.len() > limit {
        return Err(SendRefusal::TooLarge {
            size: meta.len(),
            limit,
        });
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".into());
    Ok(Outgoing {
        name,
        shown,
        size: meta.len(),
        path,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::roles::Role;
    use crate::policy::secret_files::SecretFiles;
    use std::collections::HashMap;

    #[test]
    fn only_regular_non_secret_files_inside_the_project_within_the_limit() {
        let t = tempfile::tempdir().unwrap();
        let base = t.path().canonicalize().unwrap();
        let root = base.join("approved");
        let proj = root.join("proj");
        std::fs::create_dir_all(proj.join("src")).unwrap();
        std::fs::create_dir_all(root.join("private")).unwrap();
        std::fs::write(proj.join("src/a.txt"), "hello").unwrap();
        std::fs::write(proj.join(".env"), "A=b").unwrap();
        std::fs::write(proj.join("big.bin"), vec![0u8; 2048]).unwrap();
        std::fs::write(base.join("outside.txt"), "x").unwrap();
        std::fs::write(root.join("private/p.txt"), "x").unwrap();
        std::fs::write(proj.join("plain.txt"), "x").unwrap();
        std::os::unix::fs::symlink(base.join("outside.txt"), proj.join("out")).unwrap();
        std::os::unix::fs::symlink(proj.join(".env"), proj.join("config.txt")).unwrap();
        std::os::unix::fs::symlink(proj.join("plain.txt"), proj.join(".envrc")).unwrap();
        let secrets = SecretFiles::defaults().unwrap();
        let access = HashMap::from([("private".to_string(), vec![2])]);
        let who = Who {
            root: &root,
            secrets: &secrets,
            access: &access,
            role: Role::Viewer,
            user_id: 1,
        };
        let ok = check(&who, &proj, "src/a.txt", 1024).unwrap();
        assert_eq!(ok.name, "a.txt");
        assert_eq!(ok.shown, "proj/src/a.txt");
        assert_eq!(ok.size, 5);
        let abs = proj.join("src/a.txt").display().to_string();
        assert_eq!(check(&who, &proj, &abs, 1024).unwrap().path, ok.path);
        let refused = |input: &str| check(&who, &proj, input, 1024).unwrap_err();
        assert!(matches!(refused(".env"), SendRefusal::Secret(_)));
        assert!(matches!(refused("src/../.env"), SendRefusal::Secret(_)));
        // A harmless name linking to a secret, and a secret name linking to a harmless file.
        assert!(matches!(refused("config.txt"), SendRefusal::Secret(_)));
        assert!(matches!(refused(".envrc"), SendRefusal::Secret(_)));
        assert_eq!(refused("out"), SendRefusal::Path(SandboxError::Outside));
        assert_eq!(
            refused("../../outside.txt"),
            SendRefusal::Path(SandboxError::Outside)
        );
        assert_eq!(
            refused("/etc/passwd"),
            SendRefusal::Path(SandboxError::Outside)
        );
        assert_eq!(refused("nope.txt"), SendRefusal::NotFound);
        assert_eq!(refused("src"), SendRefusal::NotAFile);
        assert_eq!(
            refused("big.bin"),
            SendRefusal::TooLarge {
                size: 2048,
                limit: 1024
            }
        );
        assert!(matches!(
            refused("../private/p.txt"),
            SendRefusal::Access(_)
        ));
        assert_eq!(refused(""), SendRefusal::Path(SandboxError::Empty));
        // Words and audit events.
        assert_eq!(refused("nope.txt").to_string(), "no such file");
        assert_eq!(refused("out").to_string(), "outside the project");
        assert!(refused(".env").to_string().starts_with("secret file"));
        assert_eq!(
            refused("big.bin").to_string(),
            "too large (2.0 KiB > 1.0 KiB)"
        );
        assert_eq!(refused(".env").audit_event(), "secret_file_blocked");
        assert_eq!(refused("out").audit_event(), "path_rejected");
        assert_eq!(refused("big.bin").audit_event(), "file_send_refused");
        assert_eq!(
            refused("big.bin").audit_details("/get", "big.bin")["rule"],
            "send.too_large"
        );
    }
}
