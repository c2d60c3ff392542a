//! The audit trail's building blocks: hash chain, signed checkpoints, risk levels, redaction,
//! anomaly detection.
//!
//! Why it exists: an audit log is only worth keeping if whoever gains write access cannot quietly
//! rewrite history (tamper-evident chain; signed checkpoints so its tail cannot be cut or
//! rewritten either), if the few rows that matter stand out from thousands
//! that do not (risk levels from explicit rules, bursts flagged as anomalies), and if the log
//! never becomes the place where secrets leak (redaction before anything is stored or shown).

pub mod anomaly;
pub mod chain;
pub mod checkpoint;
pub mod checkpointer;
pub mod redact;
pub mod risk;
pub mod signer;

pub use redact::Redactor;
pub use risk::Risk;

use crate::store::Store;

/// Record one audit event: its risk from the audit rules ([`risk::assess`]), then the store's
/// append (redaction and the hash chain). The store persists; it does not classify.
pub fn record(
    store: &Store,
    user_id: Option<i64>,
    chat_id: Option<i64>,
    event: &str,
    details: &serde_json::Value,
) -> anyhow::Result<()> {
    Ok(store.append_audit(
        user_id,
        chat_id,
        event,
        risk::assess(event, details),
        details,
    )?)
}
