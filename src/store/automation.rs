//! Rows behind event-driven automation: the webhook replay guard and scheduled jobs.
//!
//! Why a file of its own: these tables belong to the API server and the scheduler, not to chat;
//! keeping their queries together keeps `store/mod.rs` about conversations.

use rusqlite::{params, OptionalExtension};

use super::{now_str, Result, Store};

/// A scheduled job as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct JobRow {
    pub id: i64,
    pub creator: i64,
    pub chat_id: i64,
    pub thread_id: i64,
    pub directory: String,
    pub cron: String,
    pub tz: String,
    pub prompt: String,
    pub paused: bool,
    /// UTC RFC 3339: when the job should fire next.
    pub next_due_at: String,
    pub last_run_at: Option<String>,
}

/// An accepted webhook request. `key` is the replay key (provider-prefixed).
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub key: String,
    pub provider: String,
    pub event: String,
    pub action: Option<String>,
    /// The raw JSON body.
    pub payload: String,
}

/// A job to create.
#[derive(Debug, Clone)]
pub struct NewJob<'a> {
    pub creator: i64,
    pub chat_id: i64,
    pub thread_id: i64,
    pub directory: &'a str,
    pub cron: &'a str,
    pub tz: &'a str,
    pub prompt: &'a str,
    pub next_due_at: &'a str,
}

const JOB_COLS: &str =
    "id, creator, chat_id, thread_id, directory, cron, tz, prompt, paused, next_due_at, last_run_at";

fn job_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<JobRow> {
    Ok(JobRow {
        id: r.get(0)?,
        creator: r.get(1)?,
        chat_id: r.get(2)?,
        thread_id: r.get(3)?,
        directory: r.get(4)?,
        cron: r.get(5)?,
        tz: r.get(6)?,
        prompt: r.get(7)?,
        paused: r.get(8)?,
        next_due_at: r.get(9)?,
        last_run_at: r.get(10)?,
    })
}

fn claim(tx: &rusqlite::Transaction<'_>, d: &Delivery) -> rusqlite::Result<bool> {
    let n = tx.execute(
        "INSERT OR IGNORE INTO webhook_deliveries (key, provider, event, action, payload, received_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![d.key, d.provider, d.event, d.action, d.payload, now_str()],
    )?;
    Ok(n == 1)
}

impl Store {
    /// A trivial query: is the database usable (`/readyz`)?
    pub async fn ping(&self) -> Result<()> {
        self.read(move |conn| {
            conn.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))?;
            Ok(())
        })
        .await
    }

    /// Items waiting in each durable queue (`/metrics`).
    pub async fn queue_depths(&self) -> Result<Vec<(String, i64)>> {
        self.read(move |conn| {
            let mut out = Vec::new();
            for (name, sql) in [
                ("outbox", "SELECT COUNT(*) FROM outbox"),
                (
                    "inbox",
                    "SELECT COUNT(*) FROM telegram_updates WHERE state = 'pending'",
                ),
                (
                    "webhooks",
                    "SELECT COUNT(*) FROM webhook_deliveries WHERE state = 'pending'",
                ),
            ] {
                out.push((name.to_string(), conn.query_row(sql, [], |r| r.get(0))?));
            }
            Ok(out)
        })
        .await
    }

    /// Record an accepted webhook delivery; false if this key was seen before (a replay).
    /// Atomic: of two concurrent deliveries with the same key exactly one gets `true`.
    pub async fn claim_delivery(&self, d: &Delivery) -> Result<bool> {
        let d = d.clone();
        self.tx(move |tx| claim(tx, &d)).await
    }

    /// [`Store::claim_delivery`] and its audit row in one write: a webhook accepted costs one
    /// transaction. No row when the delivery was known (the caller audits replays).
    pub async fn claim_delivery_audited(
        &self,
        d: &Delivery,
        row: &super::AuditRow<'_>,
    ) -> Result<bool> {
        let (d, owned) = (d.clone(), self.owned_row(row));
        let claimed = self
            .tx(move |tx| {
                let claimed = claim(tx, &d)?;
                if claimed {
                    super::append_audit_in(tx, &owned)?;
                }
                Ok(claimed)
            })
            .await?;
        if claimed {
            self.observe(row).await;
        }
        Ok(claimed)
    }

    /// The delivery's runs are done (their answers are in the outbox): drop its payload.
    pub async fn finish_delivery(&self, key: &str) -> Result<()> {
        let key = key.to_owned();
        self.write(move |conn| {
            conn.execute(
                // The payload is only kept for a re-run after a crash; the key keeps guarding replays.
                "UPDATE webhook_deliveries SET state = 'done', payload = '' WHERE key = ?1",
                params![key],
            )?;
            Ok(())
        })
        .await
    }

    /// Deliveries accepted but not finished (a crash mid-run): dispatched again at start.
    pub async fn pending_deliveries(&self) -> Result<Vec<Delivery>> {
        self.read(move |conn| {
            let mut st = conn.prepare(
                "SELECT key, provider, event, action, payload FROM webhook_deliveries
                 WHERE state = 'pending' ORDER BY received_at",
            )?;
            let rows = st
                .query_map([], |r| {
                    Ok(Delivery {
                        key: r.get(0)?,
                        provider: r.get(1)?,
                        event: r.get(2)?,
                        action: r.get(3)?,
                        payload: r.get(4)?,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
        .await
    }

    pub async fn add_job(&self, j: &NewJob<'_>) -> Result<i64> {
        let (creator, chat_id, thread_id) = (j.creator, j.chat_id, j.thread_id);
        let [directory, cron, tz, prompt, next_due_at] =
            [j.directory, j.cron, j.tz, j.prompt, j.next_due_at].map(str::to_owned);
        self.write(move |conn| {
            conn.execute(
                "INSERT INTO jobs (creator, chat_id, thread_id, directory, cron, tz, prompt, next_due_at, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    creator, chat_id, thread_id, directory, cron, tz, prompt, next_due_at,
                    now_str()
                ],
            )?;
            Ok(conn.last_insert_rowid())
        })
        .await
    }

    /// Jobs not removed; of one chat (and topic) when `chat` is given.
    pub async fn list_jobs(&self, chat: Option<(i64, i64)>) -> Result<Vec<JobRow>> {
        self.read(move |conn| {
            let rows = match chat {
                Some((c, t)) => conn
                    .prepare(&format!(
                        "SELECT {JOB_COLS} FROM jobs WHERE removed_at IS NULL AND chat_id = ?1 AND thread_id = ?2 ORDER BY id"
                    ))?
                    .query_map(params![c, t], job_from_row)?
                    .collect::<Result<Vec<_>, _>>()?,
                None => conn
                    .prepare(&format!(
                        "SELECT {JOB_COLS} FROM jobs WHERE removed_at IS NULL ORDER BY id"
                    ))?
                    .query_map([], job_from_row)?
                    .collect::<Result<Vec<_>, _>>()?,
            };
            Ok(rows)
        })
        .await
    }

    pub async fn job(&self, id: i64) -> Result<Option<JobRow>> {
        self.read(move |conn| {
            Ok(conn
                .query_row(
                    &format!("SELECT {JOB_COLS} FROM jobs WHERE id = ?1 AND removed_at IS NULL"),
                    params![id],
                    job_from_row,
                )
                .optional()?)
        })
        .await
    }

    /// Pause or resume; false if no such job. `next_due_at` is set when resuming.
    pub async fn set_job_paused(
        &self,
        id: i64,
        paused: bool,
        next_due_at: Option<&str>,
    ) -> Result<bool> {
        let next_due_at = next_due_at.map(str::to_owned);
        self.write(move |conn| {
            let n = conn.execute(
                "UPDATE jobs SET paused = ?2, next_due_at = COALESCE(?3, next_due_at)
                 WHERE id = ?1 AND removed_at IS NULL",
                params![id, paused, next_due_at],
            )?;
            Ok(n == 1)
        })
        .await
    }

    pub async fn remove_job(&self, id: i64) -> Result<bool> {
        self.write(move |conn| {
            let n = conn.execute(
                "UPDATE jobs SET removed_at = ?2 WHERE id = ?1 AND removed_at IS NULL",
                params![id, now_str()],
            )?;
            Ok(n == 1)
        })
        .await
    }

    /// Move a job past a due time: `fired` says whether it actually ran (vs. skipped as missed).
    /// Conditional on the due time the caller saw, so a job is never fired twice.
    pub async fn advance_job(
        &self,
        id: i64,
        seen_due: &str,
        next_due_at: &str,
        fired_at: Option<&str>,
    ) -> Result<bool> {
        let (seen_due, next_due_at) = (seen_due.to_owned(), next_due_at.to_owned());
        let fired_at = fired_at.map(str::to_owned);
        self.write(move |conn| {
            let n = conn.execute(
                "UPDATE jobs SET next_due_at = ?3, last_run_at = COALESCE(?4, last_run_at)
                 WHERE id = ?1 AND next_due_at = ?2 AND removed_at IS NULL",
                params![id, seen_due, next_due_at, fired_at],
            )?;
            Ok(n == 1)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_delivery_key_is_claimed_once() {
        let s = Store::open_in_memory().unwrap();
        let d = |key: &str| Delivery {
            key: key.into(),
            provider: "github".into(),
            event: "push".into(),
            action: None,
            payload: "{}".into(),
        };
        assert!(s.claim_delivery(&d("github:abc")).await.unwrap());
        assert!(!s.claim_delivery(&d("github:abc")).await.unwrap());
        assert!(s.claim_delivery(&d("other:abc")).await.unwrap());
        assert_eq!(s.pending_deliveries().await.unwrap().len(), 2);
        s.finish_delivery("github:abc").await.unwrap();
        assert_eq!(s.pending_deliveries().await.unwrap(), vec![d("other:abc")]);
        // Finished keys still block replays.
        assert!(!s.claim_delivery(&d("github:abc")).await.unwrap());
    }

    #[tokio::test]
    async fn jobs_lifecycle() {
        let s = Store::open_in_memory().unwrap();
        let id = s
            .add_job(&NewJob {
                creator: 1,
                chat_id: 1,
                thread_id: 0,
                directory: "/p",
                cron: "0 9 * * *",
                tz: "UTC",
                prompt: "hi",
                next_due_at: "2026-01-01T09:00:00.000Z",
            })
            .await
            .unwrap();
        assert_eq!(s.list_jobs(Some((1, 0))).await.unwrap().len(), 1);
        assert!(s.list_jobs(Some((2, 0))).await.unwrap().is_empty());
        // Advancing is conditional on the due time seen: a second advance from it fails.
        assert!(s
            .advance_job(
                id,
                "2026-01-01T09:00:00.000Z",
                "2026-01-02T09:00:00.000Z",
                Some("x")
            )
            .await
            .unwrap());
        assert!(!s
            .advance_job(
                id,
                "2026-01-01T09:00:00.000Z",
                "2026-01-02T09:00:00.000Z",
                Some("x")
            )
            .await
            .unwrap());
        assert!(s.set_job_paused(id, true, None).await.unwrap());
        assert!(s.job(id).await.unwrap().unwrap().paused);
        assert!(s.remove_job(id).await.unwrap());
        assert!(!s.remove_job(id).await.unwrap());
        assert!(s.job(id).await.unwrap().is_none());
        assert!(!s.set_job_paused(id, false, None).await.unwrap());
    }
}
