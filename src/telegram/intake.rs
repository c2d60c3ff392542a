//! Long polling with an at-least-once inbox and exactly-once dispatch.
//!
//! Why it exists: `getUpdates(offset)` tells Telegram to forget every update below `offset`.
//! If that offset moved past an update we had only held in memory, a crash would lose the
//! message. So each update is first written to the database inbox (deduplicated on its id),
//! and only then does the offset advance; the inbox row is marked done by whoever finishes
//! handling it. At start-up, rows still pending are dispatched again — once — before polling
//! resumes. The loop never dies: 429s are honoured, 5xx and network errors back off.

use std::time::Duration;

use serde_json::Value;
use tokio::sync::watch;

use super::api::{ApiError, TelegramApi};
use super::update::Update;
use crate::store::Store;

/// Receives each new update exactly once per process lifetime.
pub trait UpdateSink: Send + Sync {
    fn dispatch(&self, update: Update);
}

/// Re-dispatch updates stored but not finished by a previous run (oldest first).
pub fn replay_pending(store: &Store, sink: &dyn UpdateSink) -> anyhow::Result<usize> {
    let pending = store.pending_updates()?;
    let n = pending.len();
    for (id, payload) in pending {
        match Update::from_stored(&payload) {
            Ok(u) => sink.dispatch(u),
            Err(e) => {
                tracing::error!(update_id = id, error = %e, "stored update is unreadable; marking it done");
                store.complete_updates(&[id], &[])?;
            }
        }
    }
    Ok(n)
}

/// Store a received update, then dispatch it unless it was already known. `Ok` means Telegram
/// may forget it (polling: the offset may move; webhook mode: answer 200).
pub fn store_and_dispatch(store: &Store, sink: &dyn UpdateSink, u: &Value) -> anyhow::Result<()> {
    let Some(u) = Update::parse(u) else {
        tracing::warn!("update without update_id ignored");
        return Ok(());
    };
    if store.insert_update(u.id, u.chat, u.thread, &u.raw)? {
        crate::metrics::update_handled();
        sink.dispatch(u);
    } else {
        tracing::debug!(update_id = u.id, "duplicate update ignored");
    }
    Ok(())
}

/// Poll until `shutdown` turns true.
pub async fn poll(
    api: TelegramApi,
    store: Store,
    sink: std::sync::Arc<dyn UpdateSink>,
    poll_timeout: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut backoff =
        crate::backoff::Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
    loop {
        if *shutdown.borrow() {
            return;
        }
        let offset = match store.telegram_offset() {
            Ok(o) => o,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the update offset; retrying");
                sleep_or_shutdown(Duration::from_secs(2), &mut shutdown).await;
                continue;
            }
        };
        let result = tokio::select! {
            r = api.get_updates(offset, poll_timeout) => r,
            _ = shutdown.changed() => return,
        };
        match result {
            Ok(updates) => {
                backoff.reset();
                for u in updates {
                    let Some(id) = u.get("update_id").and_then(Value::as_i64) else {
                        tracing::warn!("update without update_id ignored");
                        continue;
                    };
                    if let Err(e) = store_and_dispatch(&store, sink.as_ref(), &u) {
                        // Not stored means not confirmed: the offset did not move, Telegram
                        // will deliver it again.
                        tracing::error!(update_id = id, error = %e, "could not store update");
                        break;
                    }
                }
            }
            Err(ApiError::RetryAfter(d)) => {
                tracing::warn!(secs = d.as_secs(), "getUpdates rate limited");
                sleep_or_shutdown(d, &mut shutdown).await;
            }
            Err(ApiError::Rejected {
                code: 401 | 404,
                description,
            }) => {
                tracing::error!(%description, "Telegram rejected the bot token; check TELEGRAM_BOT_TOKEN");
                sleep_or_shutdown(Duration::from_secs(30), &mut shutdown).await;
            }
            Err(ApiError::Rejected {
                code: 409,
                description,
            }) => {
                tracing::error!(%description, "another getUpdates consumer or a webhook is active for this token");
                sleep_or_shutdown(Duration::from_secs(10), &mut shutdown).await;
            }
            Err(e) => {
                let delay = backoff.next_delay();
                tracing::warn!(error = %e, retry_in = ?delay, "getUpdates failed");
                sleep_or_shutdown(delay, &mut shutdown).await;
            }
        }
    }
}

async fn sleep_or_shutdown(d: Duration, shutdown: &mut watch::Receiver<bool>) {
    tokio::select! {
        _ = tokio::time::sleep(d) => {},
        _ = shutdown.changed() => {},
    }
}
