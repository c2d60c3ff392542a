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
    /// Hand `update` on (through the gate to its chat); awaited before the next update is read.
    fn dispatch<'a>(&'a self, update: Update) -> Dispatched<'a>;
}

/// The work of [`UpdateSink::dispatch`].
pub type Dispatched<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'a>>;

/// Re-dispatch updates stored but not finished by a previous run (oldest first).
pub async fn replay_pending(store: &Store, sink: &dyn UpdateSink) -> anyhow::Result<usize> {
    let pending = store.pending_updates().await?;
    let n = pending.len();
    for (id, payload) in pending {
        match Update::from_stored(&payload) {
            // A button press from before the restart acted on state that is gone (presses are
            // recorded as done now; an older run may have left one pending).
            Ok(u) if u.callback_id().is_some() => store.complete_updates(&[id], &[]).await?,
            Ok(u) => sink.dispatch(u).await,
            Err(e) => {
                tracing::error!(update_id = id, error = %e, "stored update is unreadable; marking it done");
                store.complete_updates(&[id], &[]).await?;
            }
        }
    }
    Ok(n)
}

/// Store a received update, then dispatch it unless it was already known (a button press is
/// dispatched first and recorded after, see below). `Ok` means Telegram may forget it (polling:
/// the offset may move; webhook mode: answer 200).
pub async fn store_and_dispatch(
    store: &Store,
    sink: &dyn UpdateSink,
    u: &Value,
) -> anyhow::Result<Stored> {
    let Some(u) = Update::parse(u) else {
        tracing::warn!("update without update_id ignored");
        return Ok(Stored::Known);
    };
    if u.callback_id().is_some() {
        // A button press acts on state that lives in memory (a running turn, a pending
        // approval) and dies with the process, so it needs no inbox to survive a restart. It is
        // dispatched at once — a Stop press must work while the database waits for another
        // process's lock — and recorded as done in the background (a redelivery is recognised
        // once that landed; before, it is at worst a second press, which every button handles:
        // approvals and stops act once).
        if store.update_known(u.id).await? {
            tracing::debug!(update_id = u.id, "duplicate button press ignored");
            return Ok(Stored::Known);
        }
        let (id, chat, thread, raw) = (u.id, u.chat, u.thread, u.raw.clone());
        crate::metrics::update_handled();
        sink.dispatch(u).await;
        let store = store.clone();
        tokio::spawn(async move {
            if let Err(e) = store.record_handled_update(id, chat, thread, &raw).await {
                tracing::warn!(update_id = id, error = %e, "could not record a button press");
            }
        });
        return Ok(Stored::Press(id));
    }
    if store.insert_update(u.id, u.chat, u.thread, &u.raw).await? {
        crate::metrics::update_handled();
        sink.dispatch(u).await;
        Ok(Stored::Inbox)
    } else {
        tracing::debug!(update_id = u.id, "duplicate update ignored");
        Ok(Stored::Known)
    }
}

/// What [`store_and_dispatch`] did with an update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    /// In the inbox and dispatched.
    Inbox,
    /// A button press, dispatched; recorded in the background. Polling may confirm past this
    /// id at once: every update before it is in the inbox already.
    Press(i64),
    /// Known already (or unusable): nothing dispatched.
    Known,
}

/// Poll until `shutdown` turns true, or until Telegram refuses the token (then the reason goes
/// to `fatal` and ccgate stops).
pub async fn poll(
    api: TelegramApi,
    store: Store,
    sink: std::sync::Arc<dyn UpdateSink>,
    poll_timeout: Duration,
    mut shutdown: watch::Receiver<bool>,
    fatal: tokio::sync::mpsc::Sender<String>,
) {
    // One past the newest button press dispatched without the inbox (its record may still be
    // waiting for the database).
    let mut pressed_past = 0;
    let mut backoff =
        crate::backoff::Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
    loop {
        if *shutdown.borrow() {
            return;
        }
        let offset = match store.telegram_offset().await {
            Ok(o) => o.max(pressed_past),
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
                    match store_and_dispatch(&store, sink.as_ref(), &u).await {
                        Ok(Stored::Press(id)) => pressed_past = pressed_past.max(id + 1),
                        Ok(_) => {}
                        Err(e) => {
                            // Not stored means not confirmed: the offset did not move, Telegram
                            // will deliver it again.
                            tracing::error!(update_id = id, error = %e, "could not store update");
                            break;
                        }
                    }
                }
            }
            Err(ApiError::RetryAfter(d)) => {
                tracing::warn!(secs = d.as_secs(), "getUpdates rate limited");
                sleep_or_shutdown(d, &mut shutdown).await;
            }
            Err(ApiError::Rejected {
                code: code @ (401 | 404),
                description,
            }) => {
                // Revoked or changed at @BotFather: retrying cannot help, and a bot that
                // silently polls forever with a dead token looks alive to everyone.
                let why = format!(
                    "Telegram refused the bot token ({code} {description}): it was revoked or \
                     replaced at @BotFather. Polling stopped; put the current token in \
                     TELEGRAM_BOT_TOKEN (or TELEGRAM_BOT_TOKEN_FILE) and start ccgate again"
                );
                tracing::error!("{why}");
                let _ = fatal.try_send(why);
                return;
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
