//! Files and images sent into the chat: downloaded within limits, saved into the project,
//! archives extracted, images handed to Claude.
//!
//! Why it exists: a document or photo is a prompt that carries bytes chosen by its sender.
//! Turning it into something Claude can use — a saved file it is told about, an extracted
//! folder, an image block — takes several steps that must each fail closed and be audited:
//! the size before and during download, the name, the folder, the archive's members, the
//! image's real type. This module does the steps; every "is this allowed?" is answered by
//! [`crate::policy::upload`] (and the file-name and secret-file rules behind it).
//!
//! [`receive`] is called by the chat actor for each document or photo; it returns what to add
//! to the prompt (and the image blocks), or the refusal to reply with. Nothing is inlined
//! into the prompt text: the CLI would expand `@path` mentions found in it, so Claude is given
//! the saved path and reads the file with its (policy-checked) Read tool.
//!
//! Voice notes and audio files take their own path ([`voice`]): transcribed by the operator's
//! server ([`transcribe`]), never saved; the transcript becomes the prompt.

pub mod archive;
pub mod image;
pub mod outgoing;
pub mod transcribe;
pub mod upload;
pub mod voice;

use std::path::{Path, PathBuf};

use serde_json::json;

use crate::audit::Event;
use crate::policy::roles::Role;
use crate::policy::upload::{self as rules, UploadRefusal};
use crate::policy::{access, sandbox};
use crate::services::Ctx;
use crate::telegram::files::DownloadError;
use crate::telegram::html::escape;
use crate::telegram::update::{ChatRef, Upload};

pub use image::Image;

/// A saved upload, as the prompt tells Claude about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Received {
    /// Lines for the prompt: where the file is, what was extracted, what is attached.
    pub note: String,
    /// An image block, for photos and image documents within `MAX_IMAGE_BYTES`.
    pub image: Option<Image>,
    /// The caption, if the sender wrote one.
    pub caption: Option<String>,
    /// Whether it was a photo (for the default prompt).
    pub photo: bool,
}

/// The prompt for uploads received together (one, or an album's parts): the caption(s), or a
/// default naming what was sent, then the notes.
pub fn prompt(parts: &[Received]) -> String {
    let captions: Vec<&str> = parts
        .iter()
        .filter_map(|p| p.caption.as_deref())
        .filter(|c| !c.trim().is_empty())
        .collect();
    let head = if !captions.is_empty() {
        captions.join("\n")
    } else if parts.iter().all(|p| p.photo) {
        if parts.len() == 1 {
            "Please look at the image I sent.".to_string()
        } else {
            "Please look at the images I sent.".to_string()
        }
    } else if parts.len() == 1 {
        "Please look at the file I sent.".to_string()
    } else {
        "Please look at the files I sent.".to_string()
    };
    let notes: Vec<&str> = parts.iter().map(|p| p.note.as_str()).collect();
    format!("{head}\n\n{}", notes.join("\n"))
}

/// What an attached image's note says (replaced when [`cap_images`] detaches it).
const ATTACHED: &str = "\n[ccgate: the image is attached to this message.]";

/// Keep the images of one prompt within `max_total` bytes together, in the order sent: the
/// model API refuses a request over 32 MB, and an album of ten large photos would be one. An
/// image beyond the budget stays saved (its note says so), it is just not attached.
pub fn cap_images(parts: &mut [Received], max_total: u64) {
    let mut total = 0u64;
    for p in parts.iter_mut() {
        let Some(size) = p.image.as_ref().map(Image::size) else {
            continue;
        };
        if total + size <= max_total {
            total += size;
            continue;
        }
        p.image = None;
        p.note = p.note.replace(
            ATTACHED,
            &format!(
                "\n[ccgate: the image is saved but not attached: the images of this message would pass {} together.]",
                human_size(max_total)
            ),
        );
    }
}

/// Why an upload was not taken; `html` is the reply. The refusal has been audited.
#[derive(Debug, Clone, PartialEq)]
pub struct Refused {
    pub html: String,
}

/// Who sent an upload, and where it goes.
pub struct Sender {
    pub chat: ChatRef,
    pub user_id: i64,
    pub role: Role,
    /// The chat's working directory (uploads go under `UPLOAD_DIR` in it).
    pub cwd: PathBuf,
}

/// Whether the sender may work in the chat's directory (project access lists); a refusal is
/// audited with `via` (what was sent).
async fn may_work_here(ctx: &Ctx, s: &Sender, via: &str) -> Result<(), String> {
    let cfg = &ctx.config;
    let Err(why) = access::may_work_in(
        &cfg.project_access,
        s.role,
        s.user_id,
        &cfg.approved_directory,
        &s.cwd,
    ) else {
        return Ok(());
    };
    audit(
        ctx,
        s,
        Event::AccessDenied,
        json!({"via": via, "dir": sandbox::display_relative(&cfg.approved_directory, &s.cwd), "reason": why}),
    )
    .await;
    Err(why)
}

async fn audit(ctx: &Ctx, s: &Sender, event: Event, details: serde_json::Value) {
    crate::audit::record(
        &ctx.store,
        Some(s.user_id),
        Some(s.chat.chat_id),
        event,
        &details,
    )
    .await;
}

pub fn human_size(n: u64) -> String {
    const K: f64 = 1024.0;
    let f = n as f64;
    if f < K {
        format!("{n} B")
    } else if f < K * K {
        format!("{:.1} KiB", f / K)
    } else {
        format!("{:.1} MiB", f / K / K)
    }
}

/// Refuse by an upload rule: audited (secret names as [`Event::SecretFileBlocked`]), replied.
/// A rule's refusal, audited and worded (see [`refuse`]).
trait OrRefuse<T> {
    async fn or_refuse(self, ctx: &Ctx, s: &Sender, name: &str) -> Result<T, Refused>;
}

impl<T> OrRefuse<T> for Result<T, UploadRefusal> {
    async fn or_refuse(self, ctx: &Ctx, s: &Sender, name: &str) -> Result<T, Refused> {
        match self {
            Ok(v) => Ok(v),
            Err(why) => Err(refuse(ctx, s, name, &why).await),
        }
    }
}

async fn refuse(ctx: &Ctx, s: &Sender, name: &str, why: &UploadRefusal) -> Refused {
    let event = match why {
        UploadRefusal::Secret(_) => Event::SecretFileBlocked,
        _ => Event::UploadRefused,
    };
    audit(
        ctx,
        s,
        event,
        json!({"via": "upload", "name": name, "rule": why.rule(), "reason": why.to_string()}),
    )
    .await;
    Refused {
        html: format!(
            "🚫 Not saved: {} ({}).",
            escape(&why.to_string()),
            escape(name)
        ),
    }
}

async fn failed(ctx: &Ctx, s: &Sender, name: &str, rule: &str, reason: &str) -> Refused {
    audit(
        ctx,
        s,
        Event::UploadRefused,
        json!({"via": "upload", "name": name, "rule": rule, "reason": reason}),
    )
    .await;
    Refused {
        html: format!("❌ Could not take {}: {}.", escape(name), escape(reason)),
    }
}

/// Take one document or photo: check, download (capped), save, extract, attach.
pub async fn receive(ctx: &Ctx, s: &Sender, up: &Upload, photo: bool) -> Result<Received, Refused> {
    let cfg = &ctx.config;
    let media = &cfg.media;
    let shown = up
        .file_name
        .clone()
        .unwrap_or_else(|| if photo { "photo" } else { "file" }.to_string());
    rules::may_upload(s.role).or_refuse(ctx, s, &shown).await?;
    if let Err(why) = may_work_here(ctx, s, "upload").await {
        return Err(Refused {
            html: format!("🚫 Not saved: {}.", escape(&why)),
        });
    }
    // Before anything is downloaded: the size Telegram announced, the name, the folder.
    if let Some(size) = up.file_size {
        rules::check_size(size, media.max_upload_bytes)
            .or_refuse(ctx, s, &shown)
            .await?;
    }
    let dir = rules::upload_dir(
        &cfg.approved_directory,
        &s.cwd,
        &media.upload_dir,
        &ctx.secrets,
    )
    .or_refuse(ctx, s, &shown)
    .await?;
    let doc_name = match (&up.file_name, photo) {
        (Some(n), false) => Some(n.clone()),
        (None, false) => Some(format!("document-{}", up.message_id)),
        (_, true) => None, // named after its sniffed type, below
    };
    if let Some(n) = &doc_name {
        rules::check_name(n, &dir, &ctx.secrets)
            .or_refuse(ctx, s, n)
            .await?;
    }
    let api = ctx.outbox.api();
    let remote = match api.get_file(&up.file_id).await {
        Ok(r) => r,
        Err(e) => return Err(failed(ctx, s, &shown, "upload.telegram", &e.to_string()).await),
    };
    if let Some(size) = remote.file_size {
        rules::check_size(size, media.max_upload_bytes)
            .or_refuse(ctx, s, &shown)
            .await?;
    }
    let bytes = match api
        .download(&remote.file_path, media.max_upload_bytes)
        .await
    {
        Ok(b) => b,
        Err(DownloadError::TooLarge { cap }) => {
            let e = UploadRefusal::TooLarge {
                size: cap + 1,
                limit: cap,
            };
            return Err(refuse(ctx, s, &shown, &e).await);
        }
        Err(e) => return Err(failed(ctx, s, &shown, "upload.download", &e.to_string()).await),
    };
    rules::check_size(bytes.len() as u64, media.max_upload_bytes)
        .or_refuse(ctx, s, &shown)
        .await?;
    let sniffed = image::sniff(&bytes);
    let name = match doc_name {
        Some(n) => n,
        None => {
            let Some(kind) = sniffed else {
                return Err(failed(
                    ctx,
                    s,
                    &shown,
                    "upload.image_type",
                    "it is not a PNG, JPEG, GIF or WebP image",
                )
                .await);
            };
            let ext = kind.media_type().trim_start_matches("image/");
            let n = format!("photo-{}.{}", up.message_id, ext.replace("jpeg", "jpg"));
            rules::check_name(&n, &dir, &ctx.secrets)
                .or_refuse(ctx, s, &n)
                .await?;
            n
        }
    };
    let (saved, reused) = match upload::save(&dir, &name, &bytes) {
        Ok(v) => v,
        Err(e) => return Err(failed(ctx, s, &name, "upload.io", &e.to_string()).await),
    };
    // A credential carrier (`auth.json`, `.git/config`-like files) is secret by what it holds:
    // judged on the saved bytes, and removed again when it holds a credential.
    if ctx.secrets.is_secret(&saved) {
        if !reused {
            let _ = std::fs::remove_file(&saved);
        }
        return Err(refuse(ctx, s, &name, &UploadRefusal::Secret(name.clone())).await);
    }
    let cwd = s.cwd.canonicalize().unwrap_or_else(|_| s.cwd.to_path_buf());
    let rel = |p: &Path| -> String {
        p.strip_prefix(&cwd)
            .unwrap_or(p)
            .to_string_lossy()
            .into_owned()
    };
    let saved_rel = rel(&saved);
    let mut note = format!(
        "[ccgate: the user sent the file {name:?} ({}); it is saved at {saved_rel} (relative to your working directory).]",
        human_size(bytes.len() as u64)
    );
    let mut details = json!({"name": name, "path": saved_rel, "bytes": bytes.len(), "photo": photo, "reused": reused});
    // Archives: extracted into a new folder beside the upload, or the upload is removed.
    if let Some(kind) = archive::detect(&name, &bytes) {
        let saved_name = saved
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        match extract(ctx, &dir, &saved, &saved_name, kind).await {
            Ok(x) => {
                let x_rel = rel(&x.dir);
                note.push_str(&format!(
                    "\n[ccgate: the {} archive was extracted into {x_rel}/ ({} files, {}).]",
                    kind.label(),
                    x.files,
                    human_size(x.bytes)
                ));
                audit(
                    ctx,
                    s,
                    Event::ArchiveExtracted,
                    json!({"name": name, "path": x_rel, "kind": kind.label(), "files": x.files, "bytes": x.bytes}),
                ).await;
            }
            Err(r) => {
                if !reused {
                    let _ = std::fs::remove_file(&saved);
                }
                audit(
                    ctx,
                    s,
                    Event::ArchiveRefused,
                    json!({"name": name, "kind": kind.label(), "rule": r.rule, "member": r.member, "reason": r.reason}),
                ).await;
                let member = r
                    .member
                    .as_ref()
                    .map(|m| format!(", member <code>{}</code>", escape(m)))
                    .unwrap_or_default();
                return Err(Refused {
                    html: format!(
                        "🚫 Archive {} refused ({}{member}): {}. Nothing was kept.",
                        escape(&name),
                        escape(r.rule),
                        escape(&r.reason)
                    ),
                });
            }
        }
    }
    // Images: attached when their real type is one the model reads and they are small enough.
    let image = match sniffed {
        Some(_) if bytes.len() as u64 <= media.max_image_bytes => {
            note.push_str(ATTACHED);
            Image::from_bytes(&bytes)
        }
        Some(_) => {
            note.push_str(&format!(
                "\n[ccgate: the image is larger than {} and is not attached; only the file is saved.]",
                human_size(media.max_image_bytes)
            ));
            None
        }
        None => None,
    };
    details["image"] = json!(image.is_some());
    audit(ctx, s, Event::UploadSaved, details).await;
    Ok(Received {
        note,
        image,
        caption: up.caption.clone(),
        photo,
    })
}

async fn extract(
    ctx: &Ctx,
    dir: &Path,
    saved: &Path,
    saved_name: &str,
    kind: archive::Kind,
) -> Result<archive::Extracted, archive::Refusal> {
    let io = |e: std::io::Error| archive::Refusal {
        rule: "archive.io",
        member: None,
        reason: e.to_string(),
    };
    let dest: PathBuf = upload::free_dir(dir, &archive::stem(saved_name, kind)).map_err(io)?;
    let limits = ctx.config.media.archive;
    let secrets = ctx.secrets.clone();
    let saved = saved.to_path_buf();
    tokio::task::spawn_blocking(move || archive::extract(kind, &saved, &dest, &limits, &secrets))
        .await
        .map_err(|e| archive::Refusal {
            rule: "archive.io",
            member: None,
            reason: e.to_string(),
        })?
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(caption: Option<&str>, photo: bool) -> Received {
        Received {
            note: "[note]".into(),
            image: None,
            caption: caption.map(str::to_string),
            photo,
        }
    }

    #[test]
    fn the_caption_is_the_prompt_else_a_default_names_what_was_sent() {
        assert_eq!(prompt(&[part(Some("fix it"), false)]), "fix it\n\n[note]");
        assert_eq!(
            prompt(&[part(None, false)]),
            "Please look at the file I sent.\n\n[note]"
        );
        assert_eq!(
            prompt(&[part(None, true), part(Some("compare"), true)]),
            "compare\n\n[note]\n[note]"
        );
        assert_eq!(
            prompt(&[part(None, true), part(None, true)]),
            "Please look at the images I sent.\n\n[note]\n[note]"
        );
    }

    #[test]
    fn the_images_of_one_prompt_stay_within_the_budget_in_the_order_sent() {
        // A PNG header and `n` bytes of padding: an image of n + 8 bytes.
        let image = |n: usize| {
            let mut b = b"\x89PNG\r\n\x1a\n".to_vec();
            b.resize(8 + n, 0);
            Image::from_bytes(&b).unwrap()
        };
        let with = |n: usize| Received {
            note: format!("saved a.png{ATTACHED}"),
            image: Some(image(n)),
            caption: None,
            photo: true,
        };
        let mut parts = vec![with(592), with(1192), part(None, false), with(292)];
        assert_eq!(parts[0].image.as_ref().unwrap().size(), 600);
        cap_images(&mut parts, 1000);
        let attached: Vec<bool> = parts.iter().map(|p| p.image.is_some()).collect();
        // 600 fits; 1200 would pass 1000; the file has none; 300 still fits (900 in all).
        assert_eq!(attached, vec![true, false, false, true]);
        assert!(parts[0].note.ends_with(ATTACHED));
        assert!(
            parts[1].note.contains("saved but not attached")
                && parts[1].note.contains("1000 B")
                && !parts[1].note.contains(ATTACHED),
            "{}",
            parts[1].note
        );
        assert_eq!(parts[2].note, "[note]");
    }
}
