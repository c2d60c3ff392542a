//! Audit of refused webhook requests, aggregated under a flood.
//!
//! Why: anyone can POST to a webhook URL. Writing one audit row per forged request would let a
//! flood fill the disk and take the database's write lock away from real deliveries. So the
//! first [`DETAILED`] refusals of a kind (provider, outcome, source address) in a window are
//! audited at once, with their details (a misconfigured sender is fully visible); beyond that
//! they are only counted, and one summary row per kind (`repeats: N`) is written when the window
//! ends. Metrics still count every request. The number
//! of kinds tracked is bounded: beyond it, sources fold into `"other"`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::audit::Event;
use crate::store::Store;

/// Kinds tracked per window before sources are folded together.
const MAX_KINDS: usize = 1024;
/// Refusals of one kind audited one by one per window; the rest are counted.
pub const DETAILED: u64 = 10;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Kind {
    provider: String,
    outcome: String,
    source: String,
}

/// Refusals seen in the current window, by kind.
pub struct Rejections {
    window: Duration,
    state: Mutex<Window>,
}

struct Window {
    started: Instant,
    /// Kind → refusals seen in this window.
    kinds: HashMap<Kind, u64>,
}

impl Rejections {
    pub fn new(window: Duration) -> Self {
        Rejections {
            window,
            state: Mutex::new(Window {
                started: Instant::now(),
                kinds: HashMap::new(),
            }),
        }
    }

    /// A refused request. Writes an audit row only for the first [`DETAILED`] of its kind in the
    /// window (and, when the window has ended, the summaries of the last one).
    pub async fn note(
        &self,
        store: &Store,
        provider: &str,
        outcome: &str,
        source: &str,
        detail: Value,
    ) {
        let (first, ended) = {
            let mut w = self.state.lock().unwrap_or_else(|p| p.into_inner());
            let ended = (w.started.elapsed() >= self.window).then(|| self.rotate(&mut w));
            let mut kind = Kind {
                provider: provider.chars().take(64).collect(),
                outcome: outcome.to_string(),
                source: source.to_string(),
            };
            if !w.kinds.contains_key(&kind) && w.kinds.len() >= MAX_KINDS {
                kind.source = "other".into();
            }
            let seen = w.kinds.entry(kind).or_insert(0);
            *seen += 1;
            let first = *seen <= DETAILED;
            (first, ended)
        };
        if let Some(summaries) = ended {
            self.write(store, summaries).await;
        }
        if first {
            crate::audit::record(
                store,
                None,
                None,
                Event::WebhookRejected,
                &json!({"provider": provider, "outcome": outcome, "detail": detail}),
            )
            .await;
        }
    }

    /// Write the summaries of the window now (periodically and at shutdown).
    pub async fn flush(&self, store: &Store) {
        let summaries = {
            let mut w = self.state.lock().unwrap_or_else(|p| p.into_inner());
            self.rotate(&mut w)
        };
        self.write(store, summaries).await;
    }

    /// Start a new window; the repeats of the old one.
    fn rotate(&self, w: &mut Window) -> Vec<(Kind, u64)> {
        w.started = Instant::now();
        w.kinds
            .drain()
            .filter(|(_, n)| *n > DETAILED)
            .map(|(k, n)| (k, n - DETAILED))
            .collect()
    }

    async fn write(&self, store: &Store, summaries: Vec<(Kind, u64)>) {
        for (k, repeats) in summaries {
            crate::audit::record(
                store,
                None,
                None,
                Event::WebhookRejected,
                &json!({
                    "provider": k.provider,
                    "outcome": k.outcome,
                    "source": k.source,
                    "repeats": repeats,
                    "window_secs": self.window.as_secs(),
                }),
            )
            .await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn rows(store: &Store) -> Vec<Value> {
        store
            .audit_rows(0, 10_000)
            .await
            .unwrap()
            .into_iter()
            .filter(|r| r.event == "webhook_rejected")
            .map(|r| serde_json::from_str(&r.details).unwrap())
            .collect()
    }

    #[tokio::test]
    async fn a_flood_writes_one_row_then_one_summary_per_kind() {
        let store = Store::open_in_memory().unwrap();
        let r = Rejections::new(Duration::from_secs(3600));
        for _ in 0..1000 {
            r.note(
                &store,
                "github",
                "unauthorized",
                "10.0.0.1",
                json!({"why": "bad"}),
            )
            .await;
        }
        r.note(&store, "github", "unauthorized", "10.0.0.2", json!({}))
            .await;
        r.note(&store, "github", "too_large", "10.0.0.1", json!({}))
            .await;
        let d = DETAILED as usize;
        assert_eq!(
            rows(&store).await.len(),
            d + 2,
            "the first of each kind only"
        );
        r.flush(&store).await;
        let all = rows(&store).await;
        assert_eq!(all.len(), d + 3, "{all:?}");
        assert_eq!(all[d + 2]["repeats"], 1000 - DETAILED);
        assert_eq!(all[d + 2]["source"], "10.0.0.1");
        // A new window starts fresh: the next refusal is audited again.
        r.note(&store, "github", "unauthorized", "10.0.0.1", json!({}))
            .await;
        assert_eq!(rows(&store).await.len(), d + 4);
        r.flush(&store).await;
        assert_eq!(
            rows(&store).await.len(),
            d + 4,
            "no summary without repeats"
        );
    }

    #[tokio::test]
    async fn an_ended_window_is_summarised_by_the_next_refusal_and_kinds_are_bounded() {
        let store = Store::open_in_memory().unwrap();
        let r = Rejections::new(Duration::ZERO);
        r.note(&store, "g", "unauthorized", "a", json!({})).await;
        r.note(&store, "g", "unauthorized", "a", json!({})).await;
        // Window zero: every note starts a new window, so nothing repeats.
        assert_eq!(rows(&store).await.len(), 2);

        let r = Rejections::new(Duration::from_secs(3600));
        let extra = DETAILED as usize + 50;
        for i in 0..(MAX_KINDS + extra) {
            r.note(
                &store,
                "g",
                "unauthorized",
                &format!("10.1.{}.{}", i / 256, i % 256),
                json!({}),
            )
            .await;
        }
        let before = rows(&store).await.len();
        assert_eq!(
            before,
            2 + MAX_KINDS + DETAILED as usize,
            "the overflow folds into one kind"
        );
        r.flush(&store).await;
        let last = rows(&store).await.pop().unwrap();
        assert_eq!(last["source"], "other");
        assert_eq!(last["repeats"], 50);
    }
}
