//! Voice notes and audio files: downloaded within limits, transcribed, turned into a prompt.
//!
//! Why it exists: a voice note is a prompt the user spoke. It is checked before anything is
//! downloaded ([`crate::policy::voice`]: off by default, `MAX_VOICE_SECONDS`,
//! `MAX_VOICE_BYTES`), fetched through the same capped download as documents
//! ([`crate::telegram::files`]), sent to the operator's transcription server
//! ([`super::transcribe`]) and never saved into the project. The user is shown the transcript
//! (so they see what Claude heard); the caption, if any, goes first in the prompt. Every
//! refusal and every transcription (ok or not) is audited.

use serde_json::json;

use super::transcribe::{self, Audio, TranscribeError};
use super::{audit, Refused, Sender};
use crate::audit::Event;
use crate::policy::voice::{self as rules, VoiceLimits, VoiceRefusal};
use crate::services::Ctx;
use crate::telegram::files::DownloadError;
use crate::telegram::html::escape;
use crate::telegram::update::VoiceNote;

/// A transcribed voice note.
#[derive(Debug, Clone, PartialEq)]
pub struct Transcribed {
    pub transcript: String,
    pub caption: Option<String>,
}

impl Transcribed {
    /// The prompt: the caption (if the sender wrote one), then the transcript.
    pub fn prompt(&self) -> String {
        match self.caption.as_deref().map(str::trim) {
            Some(c) if !c.is_empty() => format!("{c}\n\n{}", self.transcript),
            _ => self.transcript.clone(),
        }
    }

    /// What the user is shown before the turn runs: what Claude heard.
    pub fn shown(&self) -> String {
        format!("🎙 <i>{}</i>", escape(&self.transcript))
    }
}

/// The reply when transcription is not configured.
pub const OFF_REPLY: &str = "🎙 Voice notes are off: the operator can set <code>VOICE_TRANSCRIPTION_URL</code> to an OpenAI-compatible transcription server (a local whisper.cpp server works) to turn them on. Send text meanwhile.";

fn what(v: &VoiceNote) -> &'static str {
    if v.audio {
        "audio file"
    } else {
        "voice note"
    }
}

/// The file name and type the audio is sent under: servers choose the decoder by them.
pub fn audio_name(v: &VoiceNote) -> (String, String) {
    let mime = v
        .upload
        .mime_type
        .as_deref()
        .map(str::to_ascii_lowercase)
        .filter(|m| {
            m.len() <= 64
                && m.split_once('/').is_some_and(|(a, b)| {
                    !a.is_empty()
                        && !b.is_empty()
                        && m.bytes()
                            .all(|c| c.is_ascii_alphanumeric() || b"/.+-".contains(&c))
                })
        });
    let from_mime = match mime.as_deref() {
        Some("audio/ogg" | "audio/opus" | "audio/x-opus+ogg") => Some("ogg"),
        Some("audio/mpeg" | "audio/mp3") => Some("mp3"),
        Some("audio/mp4" | "audio/m4a" | "audio/x-m4a" | "audio/aac") => Some("m4a"),
        Some("audio/wav" | "audio/x-wav" | "audio/wave") => Some("wav"),
        Some("audio/flac" | "audio/x-flac") => Some("flac"),
        Some("audio/webm") => Some("webm"),
        _ => None,
    };
    let from_name = v
        .upload
        .file_name
        .as_deref()
        .and_then(|n| n.rsplit_once('.'))
        .map(|(_, e)| e.to_ascii_lowercase())
        .filter(|e| (1..=5).contains(&e.len()) && e.bytes().all(|c| c.is_ascii_alphanumeric()));
    let ext = from_mime
        .map(str::to_string)
        .or(from_name)
        .unwrap_or_else(|| "ogg".to_string());
    let stem = if v.audio { "audio" } else { "voice" };
    (
        format!("{stem}-{}.{ext}", v.upload.message_id),
        mime.unwrap_or_else(|| "application/octet-stream".to_string()),
    )
}

async fn refuse(ctx: &Ctx, s: &Sender, v: &VoiceNote, why: &VoiceRefusal) -> Refused {
    audit(
        ctx,
        s,
        Event::UploadRefused,
        json!({"via": "voice", "audio": v.audio, "seconds": v.duration, "rule": why.rule(), "reason": why.to_string()}),
    )
    .await;
    Refused {
        html: match why {
            VoiceRefusal::Off => OFF_REPLY.to_string(),
            _ => format!("🚫 Not transcribed: {}.", escape(&why.to_string())),
        },
    }
}

async fn failed(ctx: &Ctx, s: &Sender, v: &VoiceNote, rule: &str, reason: &str) -> Refused {
    audit(
        ctx,
        s,
        Event::UploadRefused,
        json!({"via": "voice", "audio": v.audio, "rule": rule, "reason": reason}),
    )
    .await;
    Refused {
        html: format!("❌ Could not take the {}: {}.", what(v), escape(reason)),
    }
}

/// Check, download (capped) and transcribe one voice note or audio file.
pub async fn receive(ctx: &Ctx, s: &Sender, v: &VoiceNote) -> Result<Transcribed, Refused> {
    let cfg = &ctx.config;
    let voice = &cfg.media.voice;
    let limits = VoiceLimits {
        enabled: voice.url.is_some(),
        max_seconds: voice.max_seconds,
        max_bytes: voice.max_bytes,
    };
    // Before anything is downloaded: on at all, the duration and size Telegram announced,
    // and whether the user may work where the chat is (transcription costs).
    if let Err(why) = rules::check_announced(v.duration, v.upload.file_size, &limits) {
        return Err(refuse(ctx, s, v, &why).await);
    }
    if let Err(why) = super::may_work_here(ctx, s, "voice").await {
        return Err(Refused {
            html: format!("🚫 Not run: {}.", escape(&why)),
        });
    }
    let api = ctx.outbox.api();
    let remote = match api.get_file(&v.upload.file_id).await {
        Ok(r) => r,
        Err(e) => return Err(failed(ctx, s, v, "voice.telegram", &e.to_string()).await),
    };
    if let Some(size) = remote.file_size {
        if let Err(why) = rules::check_bytes(size, &limits) {
            return Err(refuse(ctx, s, v, &why).await);
        }
    }
    let bytes = match api.download(&remote.file_path, limits.max_bytes).await {
        Ok(b) => b,
        Err(DownloadError::TooLarge { cap }) => {
            let why = VoiceRefusal::TooLarge {
                size: cap + 1,
                limit: cap,
            };
            return Err(refuse(ctx, s, v, &why).await);
        }
        Err(e) => return Err(failed(ctx, s, v, "voice.download", &e.to_string()).await),
    };
    if let Err(why) = rules::check_bytes(bytes.len() as u64, &limits) {
        return Err(refuse(ctx, s, v, &why).await);
    }
    let size = bytes.len();
    let (file_name, mime_type) = audio_name(v);
    let result = transcribe::transcribe(
        voice,
        Audio {
            bytes,
            file_name,
            mime_type,
        },
    )
    .await;
    let mut details =
        json!({"audio": v.audio, "seconds": v.duration, "bytes": size, "ok": result.is_ok()});
    match result {
        Ok(transcript) => {
            details["chars"] = json!(transcript.chars().count());
            audit(ctx, s, Event::VoiceTranscribed, details).await;
            Ok(Transcribed {
                transcript,
                caption: v.upload.caption.clone(),
            })
        }
        Err(e) => {
            details["error"] = json!(e.kind());
            details["reason"] = json!(e.to_string());
            audit(ctx, s, Event::VoiceTranscribed, details).await;
            tracing::warn!(error = %e, "voice transcription failed");
            let html = match e {
                TranscribeError::Off => OFF_REPLY.to_string(),
                e => format!(
                    "❌ Could not transcribe the {}: {}.",
                    what(v),
                    escape(&e.to_string())
                ),
            };
            Err(Refused { html })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telegram::update::Upload;

    fn note(mime: Option<&str>, name: Option<&str>, audio: bool) -> VoiceNote {
        VoiceNote {
            upload: Upload {
                message_id: 7,
                file_id: "V".into(),
                file_name: name.map(str::to_string),
                mime_type: mime.map(str::to_string),
                file_size: None,
                caption: None,
                media_group_id: None,
            },
            duration: Some(3),
            audio,
        }
    }

    #[test]
    fn the_caption_goes_first_and_the_transcript_is_shown_escaped() {
        let t = Transcribed {
            transcript: "run <the> tests & report".into(),
            caption: Some("in src/".into()),
        };
        assert_eq!(t.prompt(), "in src/\n\nrun <the> tests & report");
        assert_eq!(t.shown(), "🎙 <i>run &lt;the&gt; tests &amp; report</i>");
        let bare = Transcribed {
            caption: Some("  ".into()),
            ..t
        };
        assert_eq!(bare.prompt(), "run <the> tests & report");
    }

    #[test]
    fn audio_is_named_for_the_server_by_its_type() {
        assert_eq!(
            audio_name(&note(Some("audio/ogg"), None, false)),
            ("voice-7.ogg".into(), "audio/ogg".into())
        );
        assert_eq!(
            audio_name(&note(Some("audio/mpeg"), Some("talk.MP3"), true)),
            ("audio-7.mp3".into(), "audio/mpeg".into())
        );
        assert_eq!(
            audio_name(&note(None, Some("x.flac"), true)),
            ("audio-7.flac".into(), "application/octet-stream".into())
        );
        // Whatever the sender claims never reaches a header or a file name unchecked.
        assert_eq!(
            audio_name(&note(Some("audio/ogg\r\nX: y"), Some("../../a.b;c"), false)),
            ("voice-7.ogg".into(), "application/octet-stream".into())
        );
    }
}
