//! Hash chain (placeholder).
use sha2::{Digest, Sha256};
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AuditEntry {
    pub id: i64,
    pub at: String,
    pub user_id: Option<i64>,
    pub chat_id: Option<i64>,
    pub event: String,
    pub risk: String,
    pub details: String,
    pub prev_hash: String,
    pub hash: String,
}
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";
#[allow(clippy::too_many_arguments)]
pub fn compute_hash(
    id: i64,
    at: &str,
    user_id: Option<i64>,
    chat_id: Option<i64>,
    event: &str,
    risk: &str,
    details: &str,
    prev_hash: &str,
) -> String {
    let enc = serde_json::json!([
        "ccgate-audit-v1",
        id,
        at,
        user_id,
        chat_id,
        event,
        risk,
        details,
        prev_hash
    ])
    .to_string();
    hex::encode(Sha256::digest(enc.as_bytes()))
}
#[derive(Debug, Clone, PartialEq)]
pub struct BrokenLink {
    pub id: i64,
    pub reason: String,
}
pub fn verify<'a>(rows: impl IntoIterator<Item = &'a AuditEntry>) -> Result<usize, BrokenLink> {
    let mut prev = GENESIS.to_string();
    let mut n = 0;
    for r in rows {
        if r.prev_hash != prev {
            return Err(BrokenLink {
                id: r.id,
                reason: "prev_hash mismatch".into(),
            });
        }
        if compute_hash(
            r.id,
            &r.at,
            r.user_id,
            r.chat_id,
            &r.event,
            &r.risk,
            &r.details,
            &r.prev_hash,
        ) != r.hash
        {
            return Err(BrokenLink {
                id: r.id,
                reason: "hash mismatch".into(),
            });
        }
        prev = r.hash.clone();
        n += 1;
    }
    Ok(n)
}
