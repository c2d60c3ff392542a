//! The client of an OpenAI-compatible `POST {URL}/audio/transcriptions` endpoint.
//!
//! Why it exists: one request shape covers OpenAI, Groq, Mistral-compatible gateways and local
//! servers (whisper.cpp's server, faster-whisper servers), so voice can stay on the operator's
//! machine. The request goes from ccgate itself, never from inside the jail: Claude never sees
//! the audio or the key. The answer is measured while it is read (a server cannot make ccgate
//! buffer more than [`MAX_ANSWER_BYTES`]), the whole exchange has a deadline, and errors are
//! reduced to a short reason the user can be shown. The key is sent only as a Bearer header
//! and never appears in an error (reqwest errors are stripped of their URL too).

use std::time::Duration;

use secrecy::ExposeSecret;
use serde_json::Value;

use crate::config::VoiceConfig;

/// The whole request (upload, transcription, answer) may take this long.
pub const TIMEOUT: Duration = Duration::from_secs(120);
/// The most bytes of an answer read (a transcript of a long note is a few tens of KiB).
pub const MAX_ANSWER_BYTES: usize = 1 << 20;

/// What is sent: the audio and how to name it.
#[derive(Debug, Clone)]
pub struct Audio {
    pub bytes: Vec<u8>,
    /// A plain file name (servers pick the decoder by its extension).
    pub file_name: String,
    pub mime_type: String,
}

/// Why no transcript came back. The messages are shown to the user (after redaction).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TranscribeError {
    #[error("voice notes are off")]
    Off,
    #[error("the transcription server answered {status}{}", detail.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    Status { status: u16, detail: Option<String> },
    #[error("the transcription server did not answer within {} s", TIMEOUT.as_secs())]
    Timeout,
    #[error("the transcription server could not be reached: {0}")]
    Transport(String),
    #[error(
        "the transcription server's answer is larger than {} bytes",
        MAX_ANSWER_BYTES
    )]
    TooLarge,
    #[error("the transcription server's answer has no text")]
    BadAnswer,
    #[error("nothing was heard in it (the transcript is empty)")]
    Empty,
}

impl TranscribeError {
    /// The short name audited with the failure.
    pub fn kind(&self) -> &'static str {
        match self {
            TranscribeError::Off => "off",
            TranscribeError::Status { .. } => "status",
            TranscribeError::Timeout => "timeout",
            TranscribeError::Transport(_) => "transport",
            TranscribeError::TooLarge => "too_large",
            TranscribeError::BadAnswer => "bad_answer",
            TranscribeError::Empty => "empty",
        }
    }
}

/// The endpoint under the configured base URL.
pub fn endpoint(base: &reqwest::Url) -> String {
    format!(
        "{}/audio/transcriptions",
        base.as_str().trim_end_matches('/')
    )
}

/// Send `audio` to the configured server and return the transcript (trimmed, never empty).
pub async fn transcribe(cfg: &VoiceConfig, audio: Audio) -> Result<String, TranscribeError> {
    let Some(base) = &cfg.url else {
        return Err(TranscribeError::Off);
    };
    let http = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| TranscribeError::Transport(e.without_url().to_string()))?;
    let file = reqwest::multipart::Part::bytes(audio.bytes)
        .file_name(audio.file_name)
        .mime_str(&audio.mime_type)
        .map_err(|e| TranscribeError::Transport(e.without_url().to_string()))?;
    let mut form = reqwest::multipart::Form::new()
        .part("file", file)
        .text("model", cfg.model.clone())
        .text("response_format", "json");
    if let Some(lang) = &cfg.language {
        form = form.text("language", lang.clone());
    }
    let mut req = http.post(endpoint(base)).multipart(form);
    if let Some(key) = &cfg.api_key {
        req = req.bearer_auth(key.expose_secret());
    }
    let failed = |e: reqwest::Error| {
        if e.is_timeout() {
            TranscribeError::Timeout
        } else {
            TranscribeError::Transport(e.without_url().to_string())
        }
    };
    let mut resp = req.send().await.map_err(failed)?;
    let status = resp.status();
    if resp
        .content_length()
        .is_some_and(|n| n > MAX_ANSWER_BYTES as u64)
    {
        return Err(TranscribeError::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(failed)? {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(TranscribeError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    if !status.is_success() {
        return Err(TranscribeError::Status {
            status: status.as_u16(),
            detail: error_detail(&body),
        });
    }
    parse_answer(&body)
}

/// The transcript in a `{"text": …}` answer.
pub fn parse_answer(body: &[u8]) -> Result<String, TranscribeError> {
    let v: Value = serde_json::from_slice(body).map_err(|_| TranscribeError::BadAnswer)?;
    let text = v
        .get("text")
        .and_then(Value::as_str)
        .ok_or(TranscribeError::BadAnswer)?
        .trim();
    if text.is_empty() {
        return Err(TranscribeError::Empty);
    }
    Ok(text.to_string())
}

/// A short, printable reason from an error answer (`{"error": {"message"}}`, `{"error": "…"}`,
/// `{"detail": "…"}`), at most 200 characters.
fn error_detail(body: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let msg = v
        .pointer("/error/message")
        .or_else(|| v.get("error"))
        .or_else(|| v.get("detail"))
        .or_else(|| v.get("message"))
        .and_then(Value::as_str)?;
    let clean: String = msg
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(200)
        .collect();
    let clean = clean.trim().to_string();
    (!clean.is_empty()).then_some(clean)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_and_errors_are_read_into_short_reasons() {
        assert_eq!(
            parse_answer(br#"{"text": "  hello there \n"}"#),
            Ok("hello there".into())
        );
        assert_eq!(
            parse_answer(br#"{"text": " "}"#),
            Err(TranscribeError::Empty)
        );
        assert_eq!(
            parse_answer(br#"{"txt": "x"}"#),
            Err(TranscribeError::BadAnswer)
        );
        assert_eq!(parse_answer(b"hello"), Err(TranscribeError::BadAnswer));
        assert_eq!(
            error_detail(br#"{"error": {"message": "bad\nkey", "type": "auth"}}"#),
            Some("bad key".into())
        );
        assert_eq!(
            error_detail(br#"{"detail": "model not found"}"#),
            Some("model not found".into())
        );
        assert_eq!(error_detail(b"<html>"), None);
        let e = TranscribeError::Status {
            status: 500,
            detail: Some("boom".into()),
        };
        assert_eq!(e.to_string(), "the transcription server answered 500: boom");
        let base = reqwest::Url::parse("http://127.0.0.1:8080/v1/").unwrap();
        assert_eq!(
            endpoint(&base),
            "http://127.0.0.1:8080/v1/audio/transcriptions"
        );
    }
}
