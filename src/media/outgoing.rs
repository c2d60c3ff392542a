//! Files out: a project file sent to the chat, for Claude's `send_file` tool and `/get`.
//!
//! Why it exists: both ways of sending must be the same — the same policy
//! (`policy::send_out`), the same audit rows, the same photo-or-document choice, the same
//! outbox lane and rate limits — so that `/get .env` and Claude's `send_file(".env")` cannot
//! differ. The file is opened after the check and the opened file is checked again (its real
//! path and size, from the descriptor), so swapping a path for a symlink in between sends
//! nothing it should not.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::json;

use super::image::{self, ImageType};
use crate::audit::Event;
use crate::policy::roles::Role;
use crate::policy::send_out::{self, Outgoing, SendRefusal};
use crate::policy::workdir::Who;
use crate::services::Ctx;
use crate::telegram::html::escape;
use crate::telegram::outbox::ProjectFile;
use crate::telegram::update::ChatRef;

/// `sendPhoto` takes at most 10 MB; larger images go as documents.
pub const MAX_PHOTO_BYTES: u64 = 10_000_000;
/// Telegram's caption limit is 1024 characters; keep room for redaction markers.
const CAPTION_CHARS: usize = 1000;
/// How long a send may wait in the chat's lane (behind rate limits and retries).
const SEND_TIMEOUT: Duration = Duration::from_secs(300);

/// One file to send, and on whose behalf.
#[derive(Debug, Clone)]
pub struct SendRequest<'a> {
    pub chat: ChatRef,
    pub user_id: i64,
    pub role: Role,
    /// The chat's working directory: relative paths start here.
    pub cwd: &'a Path,
    /// The path as Claude or the user wrote it.
    pub input: &'a str,
    pub caption: Option<&'a str>,
    /// `send_file` or `/get`, for the audit log.
    pub via: &'static str,
}

/// Why a file was not sent; both are audited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotSent {
    /// The policy refused it: "secret file (…)", "outside the project", "too large (… > …)".
    Refused(String),
    /// Telegram did not take it.
    Failed(String),
}

impl NotSent {
    /// The text Claude gets as the tool's (error) result.
    pub fn tool_text(&self) -> String {
        match self {
            NotSent::Refused(why) => format!("refused: {why}"),
            NotSent::Failed(why) => format!("not sent: {why}"),
        }
    }
}

/// Send the file, or say why not. `Ok` says what was sent: "sent photo a.png (12.0 KiB)".
pub async fn send(ctx: &Ctx, r: &SendRequest<'_>) -> Result<String, NotSent> {
    let who = Who {
        root: &ctx.config.approved_directory,
        secrets: &ctx.secrets,
        access: &ctx.config.project_access,
        role: r.role,
        user_id: r.user_id,
    };
    let limit = ctx.config.media.max_send_bytes;
    let refuse = |refusal: SendRefusal| async move {
        crate::audit::record(
            &ctx.store,
            Some(r.user_id),
            Some(r.chat.chat_id),
            refusal.audit_event(),
            &refusal.audit_details(r.via, r.input),
        )
        .await;
        Err(NotSent::Refused(refusal.to_string()))
    };
    let out = match send_out::check(&who, r.cwd, r.input, limit) {
        Ok(o) => o,
        Err(refusal) => return refuse(refusal).await,
    };
    let bytes = match read_checked(&who, &out, limit) {
        Ok(b) => b,
        Err(refusal) => return refuse(refusal).await,
    };
    let photo = is_photo(&bytes);
    let kind = if photo { "photo" } else { "document" };
    let (done, answer) = tokio::sync::oneshot::channel();
    ctx.outbox.project_file(
        r.chat,
        ProjectFile {
            filename: out.name.clone(),
            bytes,
            photo,
            caption: r.caption.map(caption_html).filter(|c| !c.is_empty()),
            done,
        },
    );
    let sent = match tokio::time::timeout(SEND_TIMEOUT, answer).await {
        Ok(Ok(r)) => r,
        Ok(Err(_)) => Err("the outbox is shut down".into()),
        Err(_) => Err("Telegram did not answer in time".into()),
    };
    let details = json!({"command": r.via, "input": r.input, "path": out.shown,
                         "bytes": out.size, "kind": kind});
    match sent {
        Ok(message_id) => {
            let mut details = details;
            details["message_id"] = json!(message_id);
            crate::audit::record(
                &ctx.store,
                Some(r.user_id),
                Some(r.chat.chat_id),
                Event::FileSent,
                &details,
            )
            .await;
            Ok(format!(
                "sent {kind} {} ({})",
                out.name,
                super::human_size(out.size)
            ))
        }
        Err(e) => {
            let mut details = details;
            details["rule"] = json!("send.telegram");
            details["reason"] = json!(e);
            crate::audit::record(
                &ctx.store,
                Some(r.user_id),
                Some(r.chat.chat_id),
                Event::FileSendRefused,
                &details,
            )
            .await;
            Err(NotSent::Failed(e))
        }
    }
}

/// Read the checked file through one descriptor whose real path and size are checked again.
fn read_checked(who: &Who<'_>, out: &Outgoing, limit: u64) -> Result<Vec<u8>, SendRefusal> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_NONBLOCK)
        .open(&out.path)
        .map_err(|_| SendRefusal::NotFound)?;
    let real = opened_path(&file).ok_or(SendRefusal::NotFound)?;
    if real != out.path {
        // The path changed between the check and the open: check what was opened instead.
        if !real.starts_with(who.root) {
            return Err(SendRefusal::Path(
                crate::policy::sandbox::SandboxError::Outside,
            ));
        }
        return Err(SendRefusal::NotFound);
    }
    let meta = file.metadata().map_err(|_| SendRefusal::NotFound)?;
    if !meta.is_file() {
        return Err(SendRefusal::NotAFile);
    }
    let mut bytes = Vec::with_capacity(meta.len().min(limit) as usize);
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|_| SendRefusal::NotFound)?;
    if bytes.len() as u64 > limit {
        return Err(SendRefusal::TooLarge {
            size: bytes.len() as u64,
            limit,
        });
    }
    Ok(bytes)
}

/// The path the kernel has for an open file.
fn opened_path(file: &std::fs::File) -> Option<PathBuf> {
    use std::os::fd::AsRawFd;
    std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd())).ok()
}

/// Sent with `sendPhoto`: PNG, JPEG and WebP (by their magic bytes) up to 10 MB. GIFs go as
/// documents (a photo would be a still of the first frame).
pub fn is_photo(bytes: &[u8]) -> bool {
    bytes.len() as u64 <= MAX_PHOTO_BYTES
        && matches!(
            image::sniff(bytes),
            Some(ImageType::Png | ImageType::Jpeg | ImageType::Webp)
        )
}

/// A caption as Telegram HTML: cut to [`CAPTION_CHARS`] characters, then escaped.
pub fn caption_html(text: &str) -> String {
    let text = text.trim();
    if text.chars().count() <= CAPTION_CHARS {
        return escape(text);
    }
    let cut: String = text.chars().take(CAPTION_CHARS - 1).collect();
    escape(&format!("{cut}…"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn photos_by_magic_bytes_and_size() {
        let png = b"\x89PNG\r\n\x1a\n rest".to_vec();
        assert!(is_photo(&png));
        assert!(is_photo(&[0xff, 0xd8, 0xff, 0xe0]));
        assert!(!is_photo(b"GIF89a...."), "gif goes as a document");
        assert!(!is_photo(b"hello.png"));
        let mut big = png.clone();
        big.resize(MAX_PHOTO_BYTES as usize + 1, 0);
        assert!(!is_photo(&big));
    }

    #[test]
    fn captions_are_escaped_and_cut() {
        assert_eq!(caption_html(" a <b> & c "), "a &lt;b&gt; &amp; c");
        let long = "é".repeat(3000);
        let c = caption_html(&long);
        assert_eq!(c.chars().count(), CAPTION_CHARS);
        assert!(c.ends_with('…'));
        // Escaping never splits an entity: the cut happens before.
        let amps = "&".repeat(2000);
        let c = caption_html(&amps);
        assert!(c.ends_with("&amp;…"), "{}", &c[c.len() - 10..]);
    }

    #[test]
    fn the_opened_file_is_checked_again() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().canonicalize().unwrap();
        std::fs::write(root.join("a.txt"), "hello").unwrap();
        std::fs::write(root.join("b.txt"), "other").unwrap();
        let secrets = crate::policy::secret_files::SecretFiles::defaults().unwrap();
        let access = std::collections::HashMap::new();
        let who = Who {
            root: &root,
            secrets: &secrets,
            access: &access,
            role: Role::Developer,
            user_id: 1,
        };
        let out = send_out::check(&who, &root, "a.txt", 100).unwrap();
        assert_eq!(read_checked(&who, &out, 100).unwrap(), b"hello");
        // Replaced by a symlink after the check: not followed.
        std::fs::remove_file(root.join("a.txt")).unwrap();
        std::os::unix::fs::symlink(root.join("b.txt"), root.join("a.txt")).unwrap();
        assert!(read_checked(&who, &out, 100).is_err());
        // Grown past the limit after the check.
        let out = send_out::check(&who, &root, "b.txt", 100).unwrap();
        std::fs::write(root.join("b.txt"), vec![b'x'; 200]).unwrap();
        assert_eq!(
            read_checked(&who, &out, 100),
            Err(SendRefusal::TooLarge {
                size: 101,
                limit: 100
            })
        );
    }
}
