//! Downloading files users send: `getFile`, then the bytes from `/file/bot<token>/<file_path>`.
//!
//! Why it exists: a download is the one Bot API call whose answer size the sender controls.
//! It must never be read whole before it is measured: the body is streamed and the download
//! aborted as soon as it passes the caller's byte cap (whatever `Content-Length` or
//! `file_size` claimed). The URL embeds the bot token, so it is held as a secret and never
//! printed; the `file_path` Telegram returns is checked before it is put into a URL. Kept apart
//! from any caller (uploads, voice notes; `/get` later) so each reuses one capped path.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde_json::Value;

use super::api::{ApiError, TelegramApi};

/// A download may take this long in all (20 MiB at a slow 200 KiB/s is ~100 s).
const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(180);

/// The HTTP client and the (secret) URL prefix of file downloads.
#[derive(Clone)]
pub(crate) struct FileClient {
    /// `{api}/file/bot{token}`.
    base: SecretString,
    http: reqwest::Client,
}

impl FileClient {
    pub(super) fn new(api_url: &str, token: &SecretString) -> anyhow::Result<FileClient> {
        Ok(FileClient {
            base: SecretString::from(format!(
                "{}/file/bot{}",
                api_url.trim_end_matches('/'),
                token.expose_secret()
            )),
            http: reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(10))
                .timeout(DOWNLOAD_TIMEOUT)
                .build()?,
        })
    }
}

/// What `getFile` says about a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteFile {
    pub file_path: String,
    pub file_size: Option<u64>,
}

/// Why a download failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DownloadError {
    /// More bytes than the cap (announced or received); the download was aborted.
    #[error("the file is larger than {cap} bytes")]
    TooLarge { cap: u64 },
    #[error("Telegram: {0}")]
    Api(ApiError),
    #[error("download failed: {0}")]
    Transport(String),
}

#[derive(Debug, Serialize)]
struct GetFileParams<'a> {
    file_id: &'a str,
}

/// A `file_path` safe to append to the download URL: relative, no `..`, no query or fragment.
fn safe_file_path(p: &str) -> bool {
    !p.is_empty()
        && p.len() <= 512
        && !p.starts_with('/')
        && !p.split('/').any(|s| s.is_empty() || s == "." || s == "..")
        && p.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '-' | '.'))
}

impl TelegramApi {
    /// `getFile`: where to download `file_id` from, and its size if Telegram knows it.
    pub async fn get_file(&self, file_id: &str) -> Result<RemoteFile, ApiError> {
        let v: Value = self
            .call(self.bot(), "getFile", Some(&GetFileParams { file_id }))
            .await?;
        let file_path = v
            .get("file_path")
            .and_then(Value::as_str)
            .filter(|p| safe_file_path(p))
            .ok_or_else(|| ApiError::Rejected {
                code: 0,
                description: "getFile returned no usable file_path".into(),
            })?
            .to_string();
        Ok(RemoteFile {
            file_path,
            file_size: v.get("file_size").and_then(Value::as_u64),
        })
    }

    /// Download `file_path` into memory, reading at most `cap` bytes: a body that announces or
    /// delivers more is abandoned at once ([`DownloadError::TooLarge`]).
    pub async fn download(&self, file_path: &str, cap: u64) -> Result<Vec<u8>, DownloadError> {
        if !safe_file_path(file_path) {
            return Err(DownloadError::Transport("unusable file path".into()));
        }
        let url = format!("{}/{}", self.files.base.expose_secret(), file_path);
        // reqwest errors can carry the URL (and with it the token): keep only their kind.
        let transport = |e: reqwest::Error| DownloadError::Transport(e.without_url().to_string());
        let mut resp = self.files.http.get(&url).send().await.map_err(transport)?;
        let status = resp.status();
        if !status.is_success() {
            let api = if status.is_server_error() {
                ApiError::Transient(format!("download answered {status}"))
            } else {
                ApiError::Rejected {
                    code: u64::from(status.as_u16()),
                    description: format!("download answered {status}"),
                }
            };
            return Err(DownloadError::Api(api));
        }
        if resp.content_length().is_some_and(|n| n > cap) {
            return Err(DownloadError::TooLarge { cap });
        }
        let mut out = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(transport)? {
            if out.len() as u64 + chunk.len() as u64 > cap {
                return Err(DownloadError::TooLarge { cap });
            }
            out.extend_from_slice(&chunk);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_relative_file_paths_reach_the_url() {
        assert!(safe_file_path("documents/file_12.txt"));
        assert!(safe_file_path("photos/file_0.jpg"));
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../b",
            "a//b",
            "a?x=1",
            "a#f",
            "a b",
            "a/./b",
        ] {
            assert!(!safe_file_path(bad), "{bad}");
        }
    }
}
