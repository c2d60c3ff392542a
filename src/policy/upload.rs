//! Which uploaded files (and which members of uploaded archives) may land in a project, and where.
//!
//! Why it exists: a document sent into the chat is a file written into the project by whoever
//! sent it, with a name they chose. `media` does the downloading and writing; every "may this
//! be written there?" is answered here, from the name, the size, the sender's role and the
//! resolved folder, so the rules are unit-testable with literal attack inputs: an oversize
//! file, `.env`, `id_rsa`, `../x`, `/etc/passwd`, a folder that is a symlink out of the project.

use std::path::{Component, Path, PathBuf};

use super::filename::{validate_filename, ExtensionPolicy, FilenameError};
use super::roles::Role;
use super::secret_files::SecretFiles;

/// Why an upload was refused. The messages are shown to the user; [`UploadRefusal::rule`]
/// names the rule in the audit row.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UploadRefusal {
    #[error("viewers may not upload files into a project")]
    Role,
    #[error("the file is {size} bytes; at most {limit} bytes are accepted (MAX_UPLOAD_BYTES)")]
    TooLarge { size: u64, limit: u64 },
    #[error("{0}")]
    Name(FilenameError),
    #[error("{0:?} is the name of a secret file (keys, credentials, .env); it is not accepted")]
    Secret(String),
    #[error("the upload folder is not usable: {0}")]
    Folder(String),
}

impl UploadRefusal {
    /// The rule's short name, as audited.
    pub fn rule(&self) -> &'static str {
        match self {
            UploadRefusal::Role => "upload.role",
            UploadRefusal::TooLarge { .. } => "upload.size",
            UploadRefusal::Name(_) => "upload.filename",
            UploadRefusal::Secret(_) => "upload.secret_name",
            UploadRefusal::Folder(_) => "upload.folder",
        }
    }
}

/// May a user with `role` upload at all? Uploads write into the project: developers and up.
pub fn may_upload(role: Role) -> Result<(), UploadRefusal> {
    if role.can_write() {
        Ok(())
    } else {
        Err(UploadRefusal::Role)
    }
}

/// Is `size` bytes within `limit`? Checked on Telegram's announced size before any download,
/// and again on the bytes received.
pub fn check_size(size: u64, limit: u64) -> Result<(), UploadRefusal> {
    if size > limit {
        Err(UploadRefusal::TooLarge { size, limit })
    } else {
        Ok(())
    }
}

/// May a file named `name` be saved into `dir` (the resolved upload folder)? Secret names
/// are refused first (so `.env` is audited as a secret, not merely as a hidden file), then the
/// file-name rules of [`super::filename`].
pub fn check_name(name: &str, dir: &Path, secrets: &SecretFiles) -> Result<(), UploadRefusal> {
    if !name.contains(['/', '\\']) && secrets.is_secret_path_name(&dir.join(name)) {
        return Err(UploadRefusal::Secret(name.to_string()));
    }
    validate_filename(name, &ExtensionPolicy::default_policy()).map_err(UploadRefusal::Name)?;
    Ok(())
}

/// The upload folder for a chat working in `cwd`: `cwd/rel`, created if missing, resolved
/// (symlinks followed) and required to stay inside both `cwd` and `root`, and not to be a
/// secret location itself. Fails closed on anything unexpected.
pub fn upload_dir(
    root: &Path,
    cwd: &Path,
    rel: &Path,
    secrets: &SecretFiles,
) -> Result<PathBuf, UploadRefusal> {
    if rel.as_os_str().is_empty() || !rel.components().all(|c| matches!(c, Component::Normal(_))) {
        return Err(UploadRefusal::Folder(
            "UPLOAD_DIR must be a plain relative path".into(),
        ));
    }
    let folder = |e: std::io::Error| UploadRefusal::Folder(e.to_string());
    let cwd = cwd.canonicalize().map_err(folder)?;
    let root = root.canonicalize().map_err(folder)?;
    let wanted = cwd.join(rel);
    std::fs::create_dir_all(&wanted).map_err(folder)?;
    let dir = wanted.canonicalize().map_err(folder)?;
    if !dir.starts_with(&cwd) || !dir.starts_with(&root) {
        return Err(UploadRefusal::Folder(
            "it resolves outside the project (a symlink?)".into(),
        ));
    }
    if !dir.is_dir() {
        return Err(UploadRefusal::Folder("it is not a folder".into()));
    }
    if secrets.is_secret_path_name(&dir) {
        return Err(UploadRefusal::Folder("it is a secret location".into()));
    }
    Ok(dir)
}

/// Why a member of an archive was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MemberRefusal {
    #[error("absolute path")]
    Absolute,
    #[error("path leaves the archive's folder (`..`)")]
    Traversal,
    #[error("empty or unreadable path")]
    Empty,
    #[error("{0}")]
    Name(FilenameError),
    #[error("secret file name (keys, credentials, .env)")]
    Secret,
}

impl MemberRefusal {
    pub fn rule(&self) -> &'static str {
        match self {
            MemberRefusal::Absolute => "archive.absolute_path",
            MemberRefusal::Traversal => "archive.traversal",
            MemberRefusal::Empty => "archive.empty_name",
            MemberRefusal::Name(_) => "archive.filename",
            MemberRefusal::Secret => "archive.secret_name",
        }
    }
}

/// May an archive member with the stored path `raw` be extracted under `dest` (the folder the
/// archive is extracted into)? Returns the member's path relative to `dest`: plain names only
/// (`./` parts dropped). Absolute paths, `..`, names the file-name rules refuse (every folder
/// part too, without the extension rule) and secret names are refused. `is_dir` members need
/// only pass the folder rules.
pub fn check_member(
    raw: &str,
    is_dir: bool,
    dest: &Path,
    secrets: &SecretFiles,
) -> Result<PathBuf, MemberRefusal> {
    if raw.contains('\\') {
        // Windows separators in a zip: `..\x` would be a traversal on the other side.
        return Err(if raw.split('\\').any(|p| p == "..") {
            MemberRefusal::Traversal
        } else {
            MemberRefusal::Name(FilenameError::Separator)
        });
    }
    let trimmed = raw.trim_end_matches('/');
    if raw.starts_with('/') {
        return Err(MemberRefusal::Absolute);
    }
    let path = Path::new(trimmed);
    let mut rel = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(part) => {
                let part = part.to_str().ok_or(MemberRefusal::Empty)?;
                rel.push(part);
            }
            Component::CurDir => {}
            Component::ParentDir => return Err(MemberRefusal::Traversal),
            Component::RootDir | Component::Prefix(_) => return Err(MemberRefusal::Absolute),
        }
    }
    if !rel.as_os_str().is_empty() && secrets.is_secret_path_name(&dest.join(&rel)) {
        return Err(MemberRefusal::Secret);
    }
    let parts: Vec<&str> = rel.iter().filter_map(|p| p.to_str()).collect();
    let Some((last, folders)) = parts.split_last() else {
        return Err(MemberRefusal::Empty);
    };
    let any_ext = ExtensionPolicy::new(&[], &[]);
    for f in folders {
        validate_filename(f, &any_ext).map_err(MemberRefusal::Name)?;
    }
    let policy = if is_dir {
        any_ext
    } else {
        ExtensionPolicy::default_policy()
    };
    validate_filename(last, &policy).map_err(MemberRefusal::Name)?;
    Ok(rel)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secrets() -> SecretFiles {
        SecretFiles::defaults().unwrap()
    }

    #[test]
    fn size_role_and_names() {
        assert!(check_size(10, 10).is_ok());
        assert_eq!(
            check_size(11, 10),
            Err(UploadRefusal::TooLarge {
                size: 11,
                limit: 10
            })
        );
        assert_eq!(may_upload(Role::Viewer), Err(UploadRefusal::Role));
        assert!(may_upload(Role::Developer).is_ok());
        let d = Path::new("/p/uploads");
        let s = secrets();
        assert!(check_name("notes.txt", d, &s).is_ok());
        for secret in [".env", "id_rsa", "server.pem", "prod.tfvars", ".netrc"] {
            let r = check_name(secret, d, &s).unwrap_err();
            assert_eq!(r.rule(), "upload.secret_name", "{secret}");
        }
        for bad in ["../x.txt", "a/b.txt", "run.exe", ".bashrc", "x.txt."] {
            assert_eq!(
                check_name(bad, d, &s).unwrap_err().rule(),
                "upload.filename",
                "{bad}"
            );
        }
    }

    #[test]
    fn the_default_upload_folder_is_no_secret_location() {
        let s = secrets();
        assert!(!s.is_secret_path_name(Path::new("/p/uploads")));
        assert!(!s.is_secret_path_name(Path::new("/p/uploads/notes.txt")));
    }

    #[test]
    fn upload_dir_is_created_inside_and_a_symlink_out_is_refused() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("root");
        let proj = root.join("proj");
        std::fs::create_dir_all(&proj).unwrap();
        let s = secrets();
        let d = upload_dir(&root, &proj, Path::new("uploads"), &s).unwrap();
        assert!(d.is_dir() && d.ends_with("proj/uploads"));
        let outside = t.path().join("outside");
        std::fs::create_dir_all(&outside).unwrap();
        std::os::unix::fs::symlink(&outside, proj.join("out")).unwrap();
        let r = upload_dir(&root, &proj, Path::new("out"), &s).unwrap_err();
        assert_eq!(r.rule(), "upload.folder");
        assert!(upload_dir(&root, &proj, Path::new("../x"), &s).is_err());
        assert!(upload_dir(&root, &proj, Path::new(".ssh"), &s).is_err());
    }

    #[test]
    fn archive_members() {
        let s = secrets();
        let d = Path::new("/p/uploads/a");
        assert_eq!(
            check_member("./src/main.rs", false, d, &s).unwrap(),
            PathBuf::from("src/main.rs")
        );
        assert!(check_member("v1.2/", true, d, &s).is_ok());
        let rule = |raw: &str| check_member(raw, false, d, &s).unwrap_err().rule();
        assert_eq!(rule("../x.txt"), "archive.traversal");
        assert_eq!(rule("a/../../x.txt"), "archive.traversal");
        assert_eq!(rule("..\\x.txt"), "archive.traversal");
        assert_eq!(rule("/etc/passwd"), "archive.absolute_path");
        assert_eq!(rule("conf/.env"), "archive.secret_name");
        assert_eq!(rule(".ssh/config"), "archive.secret_name");
        assert_eq!(rule("bin/run.exe"), "archive.filename");
        assert_eq!(rule(".hidden/x.txt"), "archive.filename");
        assert_eq!(rule("./"), "archive.empty_name");
    }
}
