//! Asking humans: approvals of tool calls, step-up authentication, Claude's questions.
//!
//! Why it exists: deciding *what* is dangerous belongs to `policy`; *getting a human's answer*
//! — inline buttons, a fresh TOTP code, timeouts — is a separate concern with its own state:
//! [`registry`] is the one registry of pending prompts (tool-call approvals and Claude's
//! questions), [`questions`] how `AskUserQuestion` and plans are shown and answered, [`totp`]
//! the step-up codes.

pub mod questions;
pub mod registry;
pub mod totp;

use rand::rngs::OsRng;
use rand::{Rng, TryRngCore};
use sha2::{Digest, Sha256};

/// A fresh unguessable id of `N` random bytes, hex-encoded (it travels in callback data, which
/// Telegram limits to 64 bytes).
pub(crate) fn random_id<const N: usize>() -> String {
    let b: [u8; N] = OsRng.unwrap_err().random();
    hex::encode(b)
}

/// The outbox progress key of one prompt message: stable for (`kind`, `id`, `n`), so the same
/// message is edited rather than sent again.
pub(crate) fn message_key(kind: &str, id: &str, n: i64) -> u64 {
    let h = Sha256::digest(format!("{kind}:{id}:{n}").as_bytes());
    u64::from_be_bytes(h[..8].try_into().expect("8 bytes"))
}
