//! Extracting uploaded archives (zip, tar, tar.gz, tar.xz, tar.zst) without letting one
//! write outside its folder, fill the disk, or plant links.
//!
//! Why it exists: an archive is many files with names and types chosen by its sender. The
//! classic attacks are all about extraction: `../x` and absolute names (writing anywhere),
//! symlink or hardlink members (a later member written through the link), device files and
//! fifos, and bombs (a few KiB that expand to gigabytes). Here every member's path is judged by
//! [`crate::policy::upload::check_member`], every non-regular member is refused, and the bytes
//! actually written (never the sizes the headers claim) are counted against [`Limits`]. The
//! archive is extracted into a fresh temporary folder inside the upload folder and renamed into
//! place only when every member passed, so a refused archive leaves nothing behind.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::policy::secret_files::SecretFiles;
use crate::policy::upload::check_member;

/// Extraction limits (settings `ARCHIVE_MAX_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most bytes written over all members.
    pub total_bytes: u64,
    /// Most members (files and folders).
    pub files: u64,
    /// Largest single member.
    pub file_bytes: u64,
    /// Most bytes written per byte of archive, checked once [`RATIO_FLOOR`] bytes were written.
    pub ratio: u64,
}

/// Below this many extracted bytes the ratio is not checked: a small archive of text can
/// compress far better than any bomb threshold and is harmless.
pub const RATIO_FLOOR: u64 = 1 << 20;

/// The archive formats ccgate extracts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Zip,
    Tar,
    TarGz,
    TarXz,
    TarZst,
}

impl Kind {
    pub fn label(self) -> &'static str {
        match self {
            Kind::Zip => "zip",
            Kind::Tar => "tar",
            Kind::TarGz => "tar.gz",
            Kind::TarXz => "tar.xz",
            Kind::TarZst => "tar.zst",
        }
    }

    /// The file name's archive suffix for this kind, if `name` has one (lowercase compare).
    fn suffixes(self) -> &'static [&'static str] {
        match self {
            Kind::Zip => &[".zip"],
            Kind::Tar => &[".tar"],
            Kind::TarGz => &[".tar.gz", ".tgz"],
            Kind::TarXz => &[".tar.xz", ".txz"],
            Kind::TarZst => &[".tar.zst", ".tzst"],
        }
    }
}

/// Which archive `name` with first bytes `head` is, when its name and its magic bytes agree
/// (a `.zip` that does not start like a zip is just a file, saved but not extracted).
pub fn detect(name: &str, head: &[u8]) -> Option<Kind> {
    let lower = name.to_ascii_lowercase();
    let kind = [Kind::Zip, Kind::Tar, Kind::TarGz, Kind::TarXz, Kind::TarZst]
        .into_iter()
        .find(|k| k.suffixes().iter().any(|s| lower.ends_with(s)))?;
    let magic_ok = match kind {
        Kind::Zip => head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06"),
        Kind::Tar => head.len() >= 262 && &head[257..262] == b"ustar",
        Kind::TarGz => head.starts_with(&[0x1f, 0x8b]),
        Kind::TarXz => head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]),
        Kind::TarZst => head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]),
    };
    magic_ok.then_some(kind)
}

/// `name` without its archive suffix (`proj.tar.gz` → `proj`), for the extraction folder.
pub fn stem(name: &str, kind: Kind) -> String {
    let lower = name.to_ascii_lowercase();
    for s in kind.suffixes() {
        if lower.ends_with(s) {
            return name[..name.len() - s.len()].to_string();
        }
    }
    name.to_string()
}

/// Why an archive was refused: the rule, and the member that broke it (if one did).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}{}", member.as_ref().map(|m| format!(" (member {m:?})")).unwrap_or_default())]
pub struct Refusal {
    /// e.g. `archive.traversal`, `archive.link`, `archive.ratio`.
    pub rule: &'static str,
    pub member: Option<String>,
    pub reason: String,
}

fn refuse(rule: &'static str, member: Option<&str>, reason: impl Into<String>) -> Refusal {
    Refusal {
        rule,
        member: member.map(|m| m.chars().take(200).collect()),
        reason: reason.into(),
    }
}

/// What an extraction produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extracted {
    pub dir: PathBuf,
    pub files: u64,
    pub bytes: u64,
}

/// Extract the archive at `archive` (of `kind`) into the new folder `dest`, which must not
/// exist yet. Blocking: call from `spawn_blocking`. Nothing is left at `dest` (or in the
/// temporary folder) unless every member passed.
pub fn extract(
    kind: Kind,
    archive: &Path,
    dest: &Path,
    limits: &Limits,
    secrets: &SecretFiles,
) -> Result<Extracted, Refusal> {
    let parent = dest
        .parent()
        .ok_or_else(|| refuse("archive.io", None, "no folder to extract into"))?;
    sweep_stale(parent);
    let tmp = parent.join(format!("{TMP_PREFIX}{:016x}", rand::random::<u64>()));
    std::fs::create_dir(&tmp).map_err(|e| refuse("archive.io", None, e.to_string()))?;
    let result = extract_into(kind, archive, &tmp, dest, limits, secrets).and_then(|(f, b)| {
        nix::fcntl::renameat2(
            nix::fcntl::AT_FDCWD,
            &tmp,
            nix::fcntl::AT_FDCWD,
            dest,
            nix::fcntl::RenameFlags::RENAME_NOREPLACE,
        )
        .map_err(|e| {
            refuse(
                "archive.io",
                None,
                format!("could not move into place: {e}"),
            )
        })?;
        Ok((f, b))
    });
    match result {
        Ok((files, bytes)) => Ok(Extracted {
            dir: dest.to_path_buf(),
            files,
            bytes,
        }),
        Err(r) => {
            let _ = std::fs::remove_dir_all(&tmp);
            Err(r)
        }
    }
}

/// Temporary extraction folders start with this (a dot: the file-name rules refuse such
/// names, so no upload or member can collide with one).
const TMP_PREFIX: &str = ".extract-";

/// A temporary folder this old was left by an extraction that never finished (ccgate was
/// killed mid-way): removed before the next extraction in the same folder.
const STALE: std::time::Duration = std::time::Duration::from_secs(3600);

fn sweep_stale(parent: &Path) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for e in entries.flatten() {
        let old = e
            .metadata()
            .ok()
            .filter(|m| m.is_dir())
            .and_then(|m| m.modified().ok())
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > STALE);
        if old && e.file_name().to_string_lossy().starts_with(TMP_PREFIX) {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// Counts what was written against the limits.
struct Budget<'a> {
    limits: &'a Limits,
    archive_len: u64,
    entries: u64,
    bytes: u64,
    files: u64,
}

impl Budget<'_> {
    fn entry(&mut self, name: &str) -> Result<(), Refusal> {
        self.entries += 1;
        if self.entries > self.limits.files {
            return Err(refuse(
                "archive.too_many_files",
                Some(name),
                format!(
                    "more than {} entries (ARCHIVE_MAX_FILES)",
                    self.limits.files
                ),
            ));
        }
        Ok(())
    }

    /// Copy one member's bytes to `out`, counting every byte.
    fn copy(&mut self, name: &str, src: &mut dyn Read, out: &mut File) -> Result<(), Refusal> {
        let mut buf = vec![0u8; 64 * 1024];
        let mut this = 0u64;
        loop {
            let n = src
                .read(&mut buf)
                .map_err(|e| refuse("archive.corrupt", Some(name), e.to_string()))?;
            if n == 0 {
                break;
            }
            this += n as u64;
            self.bytes += n as u64;
            if this > self.limits.file_bytes {
                return Err(refuse(
                    "archive.file_too_large",
                    Some(name),
                    format!(
                        "a member is larger than {} bytes (ARCHIVE_MAX_FILE_BYTES)",
                        self.limits.file_bytes
                    ),
                ));
            }
            if self.bytes > self.limits.total_bytes {
                return Err(refuse(
                    "archive.total_too_large",
                    Some(name),
                    format!(
                        "it extracts to more than {} bytes (ARCHIVE_MAX_TOTAL_BYTES)",
                        self.limits.total_bytes
                    ),
                ));
            }
            if self.bytes > RATIO_FLOOR
                && self.bytes > self.limits.ratio.saturating_mul(self.archive_len.max(1))
            {
                return Err(refuse(
                    "archive.ratio",
                    Some(name),
                    format!(
                        "it expands more than {}× (ARCHIVE_MAX_RATIO): a zip bomb?",
                        self.limits.ratio
                    ),
                ));
            }
            out.write_all(&buf[..n])
                .map_err(|e| refuse("archive.io", Some(name), e.to_string()))?;
        }
        self.files += 1;
        Ok(())
    }
}

/// Where a member goes under `tmp`, after the path rules (judged against the final `dest`).
fn place(
    raw: &str,
    is_dir: bool,
    tmp: &Path,
    dest: &Path,
    secrets: &SecretFiles,
) -> Result<PathBuf, Refusal> {
    let rel = check_member(raw, is_dir, dest, secrets)
        .map_err(|e| refuse(e.rule(), Some(raw), e.to_string()))?;
    Ok(tmp.join(rel))
}

fn make_dir(path: &Path, name: &str) -> Result<(), Refusal> {
    std::fs::create_dir_all(path).map_err(|e| refuse("archive.io", Some(name), e.to_string()))
}

/// A new file (never an existing one, never through a link: `create_new` is `O_EXCL`).
fn new_file(path: &Path, name: &str) -> Result<File, Refusal> {
    if let Some(p) = path.parent() {
        make_dir(p, name)?;
    }
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => refuse(
                "archive.duplicate",
                Some(name),
                "the archive holds this path twice",
            ),
            _ => refuse("archive.io", Some(name), e.to_string()),
        })
}

fn extract_into(
    kind: Kind,
    archive: &Path,
    tmp: &Path,
    dest: &Path,
    limits: &Limits,
    secrets: &SecretFiles,
) -> Result<(u64, u64), Refusal> {
    let io = |e: std::io::Error| refuse("archive.io", None, e.to_string());
    let file = File::open(archive).map_err(io)?;
    let archive_len = file.metadata().map_err(io)?.len();
    let mut budget = Budget {
        limits,
        archive_len,
        entries: 0,
        bytes: 0,
        files: 0,
    };
    match kind {
        Kind::Zip => extract_zip(file, tmp, dest, secrets, &mut budget)?,
        Kind::Tar => extract_tar(file, tmp, dest, secrets, &mut budget)?,
        Kind::TarGz => extract_tar(
            flate2::read::GzDecoder::new(file),
            tmp,
            dest,
            secrets,
            &mut budget,
        )?,
        Kind::TarXz => extract_tar(
            liblzma::read::XzDecoder::new(file),
            tmp,
            dest,
            secrets,
            &mut budget,
        )?,
        Kind::TarZst => {
            let dec = zstd::stream::read::Decoder::new(file)
                .map_err(|e| refuse("archive.corrupt", None, e.to_string()))?;
            extract_tar(dec, tmp, dest, secrets, &mut budget)?
        }
    }
    Ok((budget.files, budget.bytes))
}

/// `S_IFMT` bits of a unix mode.
const S_IFMT: u32 = 0o170000;
const S_IFREG: u32 = 0o100000;
const S_IFDIR: u32 = 0o040000;

fn extract_zip(
    file: File,
    tmp: &Path,
    dest: &Path,
    secrets: &SecretFiles,
    budget: &mut Budget<'_>,
) -> Result<(), Refusal> {
    let mut zip = zip::ZipArchive::new(file)
        .map_err(|e| refuse("archive.corrupt", None, format!("not a readable zip: {e}")))?;
    for i in 0..zip.len() {
        let mut f = zip
            .by_index(i)
            .map_err(|e| refuse("archive.corrupt", None, e.to_string()))?;
        let name = String::from_utf8_lossy(f.name_raw()).into_owned();
        budget.entry(&name)?;
        if f.encrypted() {
            return Err(refuse(
                "archive.encrypted",
                Some(&name),
                "encrypted members are not extracted",
            ));
        }
        if f.is_symlink() {
            return Err(refuse(
                "archive.link",
                Some(&name),
                "links are not extracted",
            ));
        }
        let mode = f.unix_mode().map(|m| m & S_IFMT).filter(|m| *m != 0);
        let is_dir = f.is_dir();
        match mode {
            None => {}
            Some(S_IFDIR) if is_dir => {}
            Some(S_IFREG) if !is_dir => {}
            Some(_) => {
                return Err(refuse(
                    "archive.special_file",
                    Some(&name),
                    "only plain files and folders are extracted",
                ))
            }
        }
        let path = place(&name, is_dir, tmp, dest, secrets)?;
        if is_dir {
            make_dir(&path, &name)?;
        } else {
            let mut out = new_file(&path, &name)?;
            budget.copy(&name, &mut f, &mut out)?;
        }
    }
    Ok(())
}

fn extract_tar(
    reader: impl Read,
    tmp: &Path,
    dest: &Path,
    secrets: &SecretFiles,
    budget: &mut Budget<'_>,
) -> Result<(), Refusal> {
    use tar::EntryType;
    let mut ar = tar::Archive::new(reader);
    let entries = ar
        .entries()
        .map_err(|e| refuse("archive.corrupt", None, e.to_string()))?;
    for entry in entries {
        let mut e = entry.map_err(|e| refuse("archive.corrupt", None, e.to_string()))?;
        // The raw stored path (long names and pax paths included), not a sanitised one.
        let name = String::from_utf8_lossy(&e.path_bytes()).into_owned();
        let kind = e.header().entry_type();
        match kind {
            EntryType::Regular | EntryType::Continuous | EntryType::Directory => {}
            EntryType::Symlink | EntryType::Link => {
                return Err(refuse(
                    "archive.link",
                    Some(&name),
                    "links are not extracted",
                ))
            }
            // Metadata records the reader has applied; nothing to write.
            EntryType::XGlobalHeader | EntryType::XHeader => continue,
            _ => {
                return Err(refuse(
                    "archive.special_file",
                    Some(&name),
                    "only plain files and folders are extracted",
                ))
            }
        }
        budget.entry(&name)?;
        let is_dir = kind == EntryType::Directory;
        let path = place(&name, is_dir, tmp, dest, secrets)?;
        if is_dir {
            make_dir(&path, &name)?;
        } else {
            let mut out = new_file(&path, &name)?;
            budget.copy(&name, &mut e, &mut out)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn limits() -> Limits {
        Limits {
            total_bytes: 50 << 20,
            files: 100,
            file_bytes: 20 << 20,
            ratio: 100,
        }
    }

    fn secrets() -> SecretFiles {
        SecretFiles::defaults().unwrap()
    }

    fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for (name, data) in entries {
            if name.ends_with('/') {
                w.add_directory(*name, opts).unwrap();
            } else {
                w.start_file(*name, opts).unwrap();
                w.write_all(data).unwrap();
            }
        }
        w.finish().unwrap().into_inner()
    }

    /// A tar with raw names (the `tar` crate's `set_path` refuses `..`, so names are written
    /// into the header bytes directly, as an attacker's tool would).
    fn tar_of(entries: &[(&str, EntryKind)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, kind) in entries {
            let mut h = tar::Header::new_ustar();
            h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
            h.set_mode(0o644);
            let data: &[u8] = match kind {
                EntryKind::File(d) => {
                    h.set_entry_type(tar::EntryType::Regular);
                    d
                }
                EntryKind::Dir => {
                    h.set_entry_type(tar::EntryType::Directory);
                    b""
                }
                EntryKind::Symlink(target) => {
                    h.set_entry_type(tar::EntryType::Symlink);
                    h.set_link_name(target).unwrap();
                    b""
                }
                EntryKind::Hardlink(target) => {
                    h.set_entry_type(tar::EntryType::Link);
                    h.set_link_name(target).unwrap();
                    b""
                }
                EntryKind::Fifo => {
                    h.set_entry_type(tar::EntryType::Fifo);
                    b""
                }
            };
            h.set_size(data.len() as u64);
            h.set_cksum();
            b.append(&h, data).unwrap();
        }
        b.into_inner().unwrap()
    }

    enum EntryKind {
        File(&'static [u8]),
        Dir,
        Symlink(&'static str),
        Hardlink(&'static str),
        Fifo,
    }
    use EntryKind::*;

    /// Write `bytes` as `name` into a fresh upload folder and extract it into `<folder>/out`.
    fn run(
        name: &str,
        bytes: &[u8],
        limits: &Limits,
    ) -> (tempfile::TempDir, Result<Extracted, Refusal>) {
        let t = tempfile::tempdir().unwrap();
        let path = t.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let kind = detect(name, bytes).expect("detected");
        let r = extract(kind, &path, &t.path().join("out"), limits, &secrets());
        (t, r)
    }

    /// Only the archive itself is left: no `out`, no temporary folder.
    fn nothing_left(t: &tempfile::TempDir, name: &str) {
        let left: Vec<String> = std::fs::read_dir(t.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(left, vec![name.to_string()]);
    }

    #[test]
    fn detects_by_name_and_magic_together() {
        let z = zip_of(&[("a.txt", b"x")]);
        assert_eq!(detect("a.ZIP", &z), Some(Kind::Zip));
        assert_eq!(detect("a.txt", &z), None);
        assert_eq!(detect("a.zip", b"not a zip"), None);
        assert_eq!(
            detect("a.tar", &tar_of(&[("a.txt", File(b"x"))])),
            Some(Kind::Tar)
        );
        assert_eq!(stem("Proj.Tar.Gz", Kind::TarGz), "Proj");
    }

    #[test]
    fn a_zip_extracts_with_its_folders() {
        let z = zip_of(&[
            ("src/", b""),
            ("src/main.rs", b"fn main() {}"),
            ("README.md", b"# hi"),
        ]);
        let (t, r) = run("p.zip", &z, &limits());
        let r = r.unwrap();
        assert_eq!((r.files, r.bytes), (2, 16));
        assert_eq!(
            std::fs::read_to_string(t.path().join("out/src/main.rs")).unwrap(),
            "fn main() {}"
        );
        // Only `out` and the archive: the temporary folder was renamed.
        assert_eq!(std::fs::read_dir(t.path()).unwrap().count(), 2);
    }

    #[test]
    fn every_tar_compression_extracts() {
        let tar = tar_of(&[("d/", Dir), ("d/a.txt", File(b"hello"))]);
        let gz = {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(&tar).unwrap();
            e.finish().unwrap()
        };
        let xz = {
            let mut e = liblzma::write::XzEncoder::new(Vec::new(), 6);
            e.write_all(&tar).unwrap();
            e.finish().unwrap()
        };
        let zst = zstd::stream::encode_all(&tar[..], 3).unwrap();
        for (name, bytes) in [
            ("a.tar", &tar),
            ("a.tar.gz", &gz),
            ("a.tgz", &gz),
            ("a.tar.xz", &xz),
            ("a.tar.zst", &zst),
        ] {
            let (t, r) = run(name, bytes, &limits());
            assert_eq!(r.unwrap().files, 1, "{name}");
            assert_eq!(
                std::fs::read(t.path().join("out/d/a.txt")).unwrap(),
                b"hello",
                "{name}"
            );
        }
    }

    #[test]
    fn a_zip_bomb_is_refused_by_its_ratio_and_leaves_nothing() {
        let zeros = vec![0u8; 8 << 20];
        let z = zip_of(&[("zeros.txt", &zeros)]);
        assert!(z.len() < 64 << 10, "the bomb compresses well: {}", z.len());
        let (t, r) = run("bomb.zip", &z, &limits());
        let r = r.unwrap_err();
        assert_eq!(r.rule, "archive.ratio");
        assert_eq!(r.member.as_deref(), Some("zeros.txt"));
        nothing_left(&t, "bomb.zip");
    }

    #[test]
    fn size_and_count_limits() {
        let data = vec![7u8; 3000];
        let z = zip_of(&[("a.txt", &data), ("b.txt", &data)]);
        let small = |f: fn(&mut Limits)| {
            let mut l = limits();
            f(&mut l);
            l
        };
        let (t, r) = run("a.zip", &z, &small(|l| l.file_bytes = 2000));
        assert_eq!(r.unwrap_err().rule, "archive.file_too_large");
        nothing_left(&t, "a.zip");
        let (_, r) = run("a.zip", &z, &small(|l| l.total_bytes = 5000));
        assert_eq!(r.unwrap_err().rule, "archive.total_too_large");
        let (_, r) = run("a.zip", &z, &small(|l| l.files = 1));
        let r = r.unwrap_err();
        assert_eq!(
            (r.rule, r.member.as_deref()),
            ("archive.too_many_files", Some("b.txt"))
        );
    }

    #[test]
    fn tar_traversal_absolute_links_and_fifos_are_refused() {
        type Case = (Vec<(&'static str, EntryKind)>, &'static str, &'static str);
        let cases: Vec<Case> = vec![
            (
                vec![("ok.txt", File(b"x")), ("../x.txt", File(b"evil"))],
                "archive.traversal",
                "../x.txt",
            ),
            (
                vec![("/etc/cron.d/x", File(b"evil"))],
                "archive.absolute_path",
                "/etc/cron.d/x",
            ),
            (
                vec![("ok.txt", File(b"x")), ("link", Symlink("/etc/passwd"))],
                "archive.link",
                "link",
            ),
            (vec![("hard", Hardlink("ok.txt"))], "archive.link", "hard"),
            (vec![("pipe", Fifo)], "archive.special_file", "pipe"),
            (
                vec![("conf/.env", File(b"K=V"))],
                "archive.secret_name",
                "conf/.env",
            ),
            (
                vec![("run.exe", File(b"MZ"))],
                "archive.filename",
                "run.exe",
            ),
            (
                vec![("a.txt", File(b"1")), ("a.txt", File(b"2"))],
                "archive.duplicate",
                "a.txt",
            ),
        ];
        for (entries, rule, member) in cases {
            let tar = tar_of(&entries);
            let (t, r) = run("x.tar", &tar, &limits());
            let r = r.unwrap_err();
            assert_eq!((r.rule, r.member.as_deref()), (rule, Some(member)));
            nothing_left(&t, "x.tar");
        }
        // Nothing was written outside either.
    }

    #[test]
    fn zip_symlinks_and_traversal_are_refused() {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let opts = zip::write::SimpleFileOptions::default();
        w.add_symlink("l", "/etc/passwd", opts).unwrap();
        let z = w.finish().unwrap().into_inner();
        let (t, r) = run("l.zip", &z, &limits());
        assert_eq!(r.unwrap_err().rule, "archive.link");
        nothing_left(&t, "l.zip");
        let z = zip_of(&[("../../x.txt", b"evil")]);
        let (t, r) = run("t.zip", &z, &limits());
        assert_eq!(r.unwrap_err().rule, "archive.traversal");
        nothing_left(&t, "t.zip");
    }

    #[test]
    fn a_stale_temporary_folder_is_swept_a_fresh_one_kept() {
        let t = tempfile::tempdir().unwrap();
        let stale = t.path().join(".extract-00000000000000aa");
        let fresh = t.path().join(".extract-00000000000000bb");
        std::fs::create_dir_all(stale.join("x")).unwrap();
        std::fs::create_dir(&fresh).unwrap();
        let long_ago = std::time::SystemTime::now() - STALE * 2;
        std::fs::File::open(&stale)
            .unwrap()
            .set_modified(long_ago)
            .unwrap();
        sweep_stale(t.path());
        assert!(!stale.exists());
        assert!(fresh.exists());
    }

    #[test]
    fn an_existing_destination_is_never_replaced() {
        let z = zip_of(&[("a.txt", b"x")]);
        let t = tempfile::tempdir().unwrap();
        let path = t.path().join("a.zip");
        std::fs::write(&path, &z).unwrap();
        std::fs::create_dir(t.path().join("out")).unwrap();
        let r = extract(
            Kind::Zip,
            &path,
            &t.path().join("out"),
            &limits(),
            &secrets(),
        );
        assert_eq!(r.unwrap_err().rule, "archive.io");
        assert_eq!(std::fs::read_dir(t.path().join("out")).unwrap().count(), 0);
    }
}
