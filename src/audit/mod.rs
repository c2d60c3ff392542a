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
