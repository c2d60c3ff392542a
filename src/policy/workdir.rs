//! A chat's working directory: where `/cd` may go and what `/ls` and `/resume` may show.
//!
//! Why it exists: a working directory is the most powerful path a user names — Claude works
//! there, `/ls` lists it, and the OS boundary mounts it read-write. `/cd .ssh` (or a symlink to
//! it, or `x/../.ssh`) must therefore be refused like reading `.ssh/id_rsa`: inside a secret
//! folder every file is secret, and listing it lists secret names. The chat handlers only call
//! [`change`] and [`check`]; the decision (containment, secret folders, project access) and the
//! audit event to write are made here.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::json;

use super::roles::Role;
use super::sandbox::{self, SandboxError};
use super::secret_files::SecretFiles;

/// Why a directory may not be a chat's working directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Not a directory inside the approved tree (or not a usable path at all).
    Path(SandboxError),
    /// A secret folder, or inside one (the path shown relative to the root).
    Secret(String),
    /// The user has no access to that project.
    Access(String),
}

impl Refusal {
    /// The audit event, the same one other layers write for such a refusal.
    pub fn audit_event(&self) -> crate::audit::Event {
        use crate::audit::Event;
        match self {
            Refusal::Path(_) => Event::PathRejected,
            Refusal::Secret(_) => Event::SecretFileBlocked,
            Refusal::Access(_) => Event::AccessDenied,
        }
    }

    /// The audit details for a refusal of `command` (`cd`, `ls`, `resume`) with `input`.
    pub fn audit_details(&self, command: &str, input: &str) -> serde_json::Value {
        let (rule, reason) = match self {
            Refusal::Path(e) => ("file.outside_project", e.to_string()),
            Refusal::Secret(p) => ("secret_files", format!("{p} is a secret folder")),
            Refusal::Access(why) => ("project_access", why.clone()),
        };
        json!({"command": command, "input": input, "rule": rule, "reason": reason})
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Path(e) => write!(f, "{e}"),
            Refusal::Secret(p) => write!(
                f,
                "{p} is a secret folder: ccgate never works in it or lists it"
            ),
            Refusal::Access(why) => write!(f, "{why}"),
        }
    }
}

/// What a chat needs to know to decide about a working directory.
#[derive(Debug, Clone, Copy)]
pub struct Who<'a> {
    pub root: &'a Path,
    pub secrets: &'a SecretFiles,
    pub access: &'a HashMap<String, Vec<i64>>,
    pub role: Role,
    pub user_id: i64,
}

/// `/cd <input>` from `cwd`: the new working directory, or why not. `""` and `/` mean the
/// approved root; `..` at the root stays there.
pub fn change(who: &Who<'_>, cwd: &Path, input: &str) -> Result<PathBuf, Refusal> {
    let target = if input.is_empty() { "/" } else { input };
    let only_up = target.split('/').all(|p| matches!(p, ".." | "." | ""));
    // The path as written counts first: a link named `.ssh` is treated as what it says it
    // is, and `.SSH` is refused whether or not this file system tells it from `.ssh`.
    let lexical = lexical(cwd, target);
    if lexical.starts_with(who.root) && who.secrets.is_secret(&lexical) {
        return Err(Refusal::Secret(sandbox::display_relative(
            who.root, &lexical,
        )));
    }
    let dir = if target == "/" || (only_up && cwd == who.root) {
        who.root.to_path_buf()
    } else {
        sandbox::resolve_dir_within(who.root, cwd, target).map_err(Refusal::Path)?
    };
    check(who, &dir)?;
    Ok(dir)
}

/// May `dir` (canonical) be worked in and listed: inside the root, not a secret folder or in
/// one, open to this user? For `/ls`, `/resume` and a stored working directory.
pub fn check(who: &Who<'_>, dir: &Path) -> Result<(), Refusal> {
    if !dir.starts_with(who.root) {
        return Err(Refusal::Path(SandboxError::Outside));
    }
    if who.secrets.is_secret(dir) {
        return Err(Refusal::Secret(sandbox::display_relative(who.root, dir)));
    }
    super::access::may_work_in(who.access, who.role, who.user_id, who.root, dir)
        .map_err(Refusal::Access)
}

/// A project registry's `path` (relative to `root`): the canonical project folder, or why it
/// cannot be one — absolute, outside the approved tree once symlinks are resolved, missing, not
/// a folder, a secret folder or inside one. Checked when the registry is loaded, so a topic is
/// never bound to a directory `/cd` would refuse.
pub fn project_dir(root: &Path, secrets: &SecretFiles, rel: &str) -> Result<PathBuf, String> {
    if rel.trim().is_empty() {
        return Err("path is empty".into());
    }
    if Path::new(rel).is_absolute() || rel.starts_with('~') {
        return Err(format!(
            "path {rel:?} must be relative to APPROVED_DIRECTORY"
        ));
    }
    let lexical = lexical(root, rel);
    if !lexical.starts_with(root) {
        return Err(format!("path {rel:?} leaves APPROVED_DIRECTORY"));
    }
    if secrets.is_secret(&lexical) {
        return Err(format!("path {rel:?} is a secret folder"));
    }
    let dir =
        sandbox::resolve_dir_within(root, root, rel).map_err(|e| format!("path {rel:?}: {e}"))?;
    if secrets.is_secret(&dir) {
        return Err(format!(
            "path {rel:?} resolves to the secret folder {}",
            sandbox::display_relative(root, &dir)
        ));
    }
    Ok(dir)
}

/// A chat bound to a project (a project topic) works only inside that project: `/cd`, a
/// picker press or `/resume` that would leave it is refused (the topic *is* the project).
pub fn within_project(root: &Path, project: &Path, dir: &Path) -> Result<(), Refusal> {
    if dir.starts_with(project) {
        return Ok(());
    }
    Err(Refusal::Access(format!(
        "this topic is bound to the project {}; /cd stays inside it (use the project's own topic)",
        sandbox::display_relative(root, project)
    )))
}

/// `base/input` with `.` and `..` folded, no symlinks followed.
fn lexical(base: &Path, input: &str) -> PathBuf {
    // `join` with an absolute `input` is `input` itself.
    super::sandbox::normalize(&base.join(input))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct T {
        _t: tempfile::TempDir,
        root: PathBuf,
        secrets: SecretFiles,
        access: HashMap<String, Vec<i64>>,
    }

    fn tree() -> T {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().canonicalize().unwrap().join("approved");
        for d in [
            "proj/src",
            "proj/.ssh",
            "proj/.aws/sso",
            "proj/.gnupg",
            "proj/.config/gcloud",
            "proj/.kube",
            "proj/.secrets",
            "proj/.password-store",
            "proj/docs",
            "proj/.github",
            "proj/certs.pem",
            "other",
        ] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        std::os::unix::fs::symlink(root.join("proj/.ssh"), root.join("proj/keys")).unwrap();
        std::os::unix::fs::symlink(root.join("proj/.aws"), root.join("proj/docs/cloud")).unwrap();
        std::os::unix::fs::symlink(root.join("proj/docs"), root.join("proj/.env")).unwrap();
        T {
            _t: t,
            root,
            secrets: SecretFiles::defaults().unwrap(),
            access: HashMap::from([("other".to_string(), vec![2])]),
        }
    }

    #[test]
    fn secret_folders_are_never_a_working_directory() {
        let t = tree();
        let open = HashMap::new();
        let who = Who {
            root: &t.root,
            secrets: &t.secrets,
            access: &open,
            role: Role::Developer,
            user_id: 1,
        };
        let proj = t.root.join("proj");
        for (input, shown) in [
            (".ssh", ".ssh"),
            (".SSH", ".SSH"),
            ("./.ssh/", ".ssh"),
            ("src/../.ssh", ".ssh"),
            ("keys", ".ssh"),
            (".aws", ".aws"),
            (".aws/sso", ".aws/sso"),
            ("docs/cloud", ".aws"),
            ("docs/cloud/sso", ".aws/sso"),
            (".gnupg", ".gnupg"),
            (".config/gcloud", ".config/gcloud"),
            (".secrets", ".secrets"),
            (".password-store", ".password-store"),
            ("certs.pem", "certs.pem"),
            (".env", ".env"),
        ] {
            match change(&who, &proj, input) {
                Err(Refusal::Secret(p)) => assert!(p.ends_with(shown), "{input}: {p}"),
                r => panic!("{input}: {r:?}"),
            }
        }
        // Absolute, and from the root.
        let abs = proj.join(".ssh").display().to_string();
        assert!(matches!(change(&who, &proj, &abs), Err(Refusal::Secret(_))));
        assert!(matches!(
            change(&who, &t.root, "proj/.gnupg"),
            Err(Refusal::Secret(_))
        ));
        // Ordinary folders, `..`, the root.
        for (input, want) in [
            ("src", proj.join("src")),
            (".github", proj.join(".github")),
            ("docs", proj.join("docs")),
            (".ssh/..", proj.clone()),
            ("..", t.root.clone()),
            ("/", t.root.clone()),
            ("", t.root.clone()),
        ] {
            assert_eq!(change(&who, &proj, input), Ok(want), "{input}");
        }
        // Outside, missing, and other people's projects are refused as before.
        assert_eq!(
            change(&who, &proj, "../../.."),
            Err(Refusal::Path(SandboxError::Outside))
        );
        assert_eq!(
            change(&who, &proj, "nope"),
            Err(Refusal::Path(SandboxError::NotFound))
        );
        let restricted = Who {
            access: &t.access,
            ..who
        };
        assert!(matches!(
            change(&restricted, &t.root, "other"),
            Err(Refusal::Access(_))
        ));
        assert!(matches!(
            change(&restricted, &t.root, "proj/.ssh"),
            Err(Refusal::Secret(_))
        ));
        // A stored or resumed directory is checked the same way.
        assert!(matches!(
            check(&who, &proj.join(".ssh")),
            Err(Refusal::Secret(_))
        ));
        assert_eq!(check(&who, &proj.join("src")), Ok(()));
        assert_eq!(
            check(&who, Path::new("/etc")),
            Err(Refusal::Path(SandboxError::Outside))
        );
        let r = change(&who, &proj, "keys").unwrap_err();
        assert_eq!(r.audit_event(), "secret_file_blocked");
        assert_eq!(r.audit_details("cd", "keys")["rule"], "secret_files");
        assert!(r.to_string().contains("secret folder"), "{r}");
    }

    #[test]
    fn registry_paths_must_be_plain_project_folders() {
        let t = tree();
        std::fs::write(t.root.join("proj/notes.txt"), "x").unwrap();
        assert_eq!(
            project_dir(&t.root, &t.secrets, "proj"),
            Ok(t.root.join("proj"))
        );
        assert_eq!(
            project_dir(&t.root, &t.secrets, "proj/src/"),
            Ok(t.root.join("proj/src"))
        );
        for (bad, why) in [
            ("", "empty"),
            ("/etc", "relative"),
            ("~/x", "relative"),
            ("../outside", "leaves"),
            ("proj/../../x", "leaves"),
            ("proj/.ssh", "secret"),
            ("proj/keys", "secret"),
            ("proj/docs/cloud", "secret"),
            ("nope", "does not exist"),
            ("proj/notes.txt", "not a directory"),
        ] {
            let e = project_dir(&t.root, &t.secrets, bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
        let proj = t.root.join("proj");
        assert_eq!(within_project(&t.root, &proj, &proj.join("src")), Ok(()));
        assert_eq!(within_project(&t.root, &proj, &proj), Ok(()));
        let r = within_project(&t.root, &proj, &t.root.join("other")).unwrap_err();
        assert!(r.to_string().contains("bound to the project proj"), "{r}");
        assert!(within_project(&t.root, &proj, &t.root).is_err());
    }
}
