//! The audit trail's building blocks: typed events, hash chain, signed checkpoints, risk
//! levels, redaction, anomaly detection.
//!
//! Why it exists: an audit log is only worth keeping if whoever gains write access cannot quietly
//! rewrite history (tamper-evident chain; signed checkpoints so its tail cannot be cut or
//! rewritten either), if the few rows that matter stand out from thousands
//! that do not (risk levels from explicit rules, bursts flagged as anomalies), and if the log
//! never becomes the place where secrets leak (redaction before anything is stored or shown).
//! Writers name an [`Event`], never a string, and go through [`record`] (or [`try_record`]
//! where the action must not happen unaudited): a failed write is logged and counted there,
//! not left to each caller to drop.

pub mod anomaly;
pub mod chain;
pub mod checkpoint;
pub mod checkpointer;
pub mod event;
pub mod redact;
pub mod risk;
pub mod signer;

pub use event::Event;
pub use redact::Redactor;
pub use risk::Risk;

use crate::store::Store;

/// Record one audit event: its risk from the audit rules ([`risk::of_event`]), then the store's
/// append (redaction and the hash chain). The store persists; it does not classify.
///
/// A write that fails is logged and counted (`ccgate_audit_write_failures_total`) here, once
/// for every caller; nothing is returned, because most callers can do nothing better. Where
/// the action must not happen unaudited, use [`try_record`].
pub async fn record(
    store: &Store,
    user_id: Option<i64>,
    chat_id: Option<i64>,
    event: Event,
    details: &serde_json::Value,
) {
    let _counted_and_logged = try_record(store, user_id, chat_id, event, details).await;
}

/// The row to store for `event`, its risk assessed here (the store persists, it does not
/// classify). For callers that write the row inside their own transaction (an accepted webhook).
pub fn row<'a>(
    user_id: Option<i64>,
    chat_id: Option<i64>,
    event: Event,
    details: &'a serde_json::Value,
) -> crate::store::AuditRow<'a> {
    crate::store::AuditRow {
        user_id,
        chat_id,
        event,
        risk: risk::of_event(event, details),
        details,
    }
}

/// [`record`] for the paths that fail closed: the failure is logged and counted the same way,
/// and returned so the caller refuses what it was about to do (allowing a tool call, an
/// operator verb).
#[must_use = "a failed audit write must stop the action it records; use `record` otherwise"]
pub async fn try_record(
    store: &Store,
    user_id: Option<i64>,
    chat_id: Option<i64>,
    event: Event,
    details: &serde_json::Value,
) -> anyhow::Result<()> {
    store
        .append_audit(&row(user_id, chat_id, event, details))
        .await
        .map_err(anyhow::Error::from)
        .inspect_err(|e| {
            crate::metrics::audit_write_failed();
            tracing::error!(error = %e, event = event.as_str(), "audit write failed");
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A store on a file whose audit table a second connection can drop.
    async fn broken_store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite");
        let store = Store::open(&path).unwrap();
        record(&store, None, None, Event::Login, &json!({})).await;
        assert_eq!(store.audit_count("login").await.unwrap(), 1);
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch("DROP TABLE audit_log").unwrap();
        (dir, store)
    }

    #[tokio::test]
    async fn a_failing_write_is_counted_and_returned() {
        let (_dir, store) = broken_store().await;
        let before = crate::metrics::audit_write_failures();
        record(
            &store,
            Some(1),
            None,
            Event::Command,
            &json!({"command": "/status"}),
        )
        .await;
        let after_record = crate::metrics::audit_write_failures();
        // Other tests may fail writes concurrently: the counter only grows.
        assert!(after_record > before, "{before} -> {after_record}");
        let err = try_record(&store, Some(1), None, Event::ToolDecision, &json!({})).await;
        assert!(err.is_err());
        assert!(crate::metrics::audit_write_failures() > after_record);
        assert!(crate::metrics::render(&[], None).contains("ccgate_audit_write_failures_total"));
    }

    #[tokio::test]
    async fn a_good_write_is_not_counted_as_failed_and_keeps_the_name() {
        let store = Store::open_in_memory().unwrap();
        try_record(
            &store,
            Some(1),
            None,
            Event::ToolDecision,
            &json!({"tool": "Read", "decision": "allow"}),
        )
        .await
        .unwrap();
        let rows = store.audit_tail(1).await.unwrap();
        assert_eq!(rows[0].event, "tool_decision");
        assert_eq!(rows[0].risk, "low");
    }
}
