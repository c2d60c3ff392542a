//! Audit trail support (placeholder until the full module lands).
pub mod anomaly;
pub mod chain;
pub mod redact;
pub mod risk;
pub use redact::Redactor;
pub use risk::Risk;
