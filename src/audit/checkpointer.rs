//! Making checkpoints while ccgate runs, and checking a database's audit trail.
//!
//! Why it exists: [`super::checkpoint`] defines what a checkpoint is; something has to make
//! them at the right moments — every `AUDIT_CHECKPOINT_ROWS` rows, every
//! `AUDIT_CHECKPOINT_MINUTES` while rows keep coming, at start-up over rows written while ccgate
//! was stopped, and once more at a clean shutdown — and `ccgate audit verify` has to gather the
//! rows, the checkpoints and the keys to check them with. Both read and write only through the
//! store; neither decides anything about the rows themselves.
//!
//! The head is polled once a second (one indexed read), so a checkpoint follows its N-th row
//! within about a second; nothing in the audit write path waits for a signature.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ed25519_dalek::VerifyingKey;
use tokio::sync::{watch, Mutex};

use super::checkpoint::{self, reason, Checkpoint, Expected, Report, Sign};
use crate::store::Store;

/// How often the head is looked at.
const POLL: Duration = Duration::from_secs(1);

/// Signs the audit chain head into the store.
pub struct Checkpointer {
    store: Store,
    signer: Box<dyn Sign + Send + Sync>,
    every_rows: i64,
    every: Duration,
    state: Mutex<State>,
    /// Told about each checkpoint once it is stored (the admins' chat: a copy off the machine).
    on_signed: std::sync::OnceLock<OnSigned>,
}

/// Called with each stored checkpoint and its digest.
pub type OnSigned = Box<dyn Fn(&Checkpoint, &str) + Send + Sync>;

struct State {
    last: Option<Checkpoint>,
    /// When the last checkpoint was made (or this process started).
    since: Instant,
}

/// Why a checkpoint is due now, if it is: `rows` new rows since `last_id` at `head_id`,
/// `elapsed` since the last one.
pub fn due(
    head_id: i64,
    last_id: i64,
    elapsed: Duration,
    every_rows: i64,
    every: Duration,
) -> Option<&'static str> {
    let new = head_id - last_id;
    if new <= 0 {
        None
    } else if new >= every_rows {
        Some(reason::ROWS)
    } else if elapsed >= every {
        Some(reason::INTERVAL)
    } else {
        None
    }
}

impl Checkpointer {
    /// Start from the newest stored checkpoint. Says loudly (log) when the rows it signed no
    /// longer match: the tail was cut or rewritten while ccgate was stopped.
    pub async fn new(
        store: Store,
        signer: Box<dyn Sign + Send + Sync>,
        every_rows: u64,
        every: Duration,
    ) -> anyhow::Result<Checkpointer> {
        let last = store.last_checkpoint().await?;
        if let Some(c) = &last {
            let rows = store.audit_rows(c.audit_id - 1, 1).await?;
            let now = rows
                .first()
                .filter(|r| r.id == c.audit_id)
                .map(|r| r.hash.as_str());
            let expected = (c.audit_id == 0).then_some(super::chain::GENESIS);
            if now.or(expected) != Some(c.audit_hash.as_str()) {
                tracing::error!(
                    checkpoint = c.seq,
                    row = c.audit_id,
                    "the audit log no longer matches its newest signed checkpoint: its tail was cut or rewritten; run `ccgate audit verify`"
                );
            }
        }
        Ok(Checkpointer {
            store,
            signer,
            every_rows: every_rows.max(1) as i64,
            every,
            state: Mutex::new(State {
                last,
                since: Instant::now(),
            }),
            on_signed: std::sync::OnceLock::new(),
        })
    }

    /// Install the listener for new checkpoints (once; later calls are ignored).
    pub fn on_signed(&self, f: OnSigned) {
        let _ = self.on_signed.set(f);
    }

    pub fn public_key(&self) -> VerifyingKey {
        self.signer.public_key()
    }

    /// Sign the current head now, whatever is due.
    pub async fn checkpoint(&self, why: &str) -> anyhow::Result<Checkpoint> {
        let mut state = self.state.lock().await;
        let (id, hash) = self.store.audit_head().await?;
        let c = checkpoint::make(
            self.signer.as_ref(),
            state.last.as_ref(),
            id,
            &hash,
            why,
            &crate::store::now_str(),
        )?;
        self.store.insert_checkpoint(&c).await?;
        tracing::info!(seq = c.seq, row = id, reason = why, digest = %c.digest(), "audit checkpoint signed");
        state.last = Some(c.clone());
        state.since = Instant::now();
        drop(state);
        if let Some(f) = self.on_signed.get() {
            f(&c, &c.digest());
        }
        Ok(c)
    }

    /// Sign the head if a checkpoint is due.
    pub async fn tick(&self) -> anyhow::Result<Option<Checkpoint>> {
        let why = {
            let state = self.state.lock().await;
            let (head, _) = self.store.audit_head().await?;
            due(
                head,
                state.last.as_ref().map_or(0, |c| c.audit_id),
                state.since.elapsed(),
                self.every_rows,
                self.every,
            )
        };
        match why {
            Some(w) => self.checkpoint(w).await.map(Some),
            None => Ok(None),
        }
    }

    /// Sign rows written while ccgate was stopped, then keep signing until `shutdown`. The
    /// final checkpoint is the caller's ([`Checkpointer::checkpoint`] with
    /// [`reason::SHUTDOWN`]), once nothing else writes audit rows.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let behind = match (
            self.store.audit_head().await,
            self.store.last_checkpoint().await,
        ) {
            (Ok((head, _)), Ok(last)) => head > last.map_or(0, |c| c.audit_id),
            _ => false,
        };
        if behind {
            if let Err(e) = self.checkpoint(reason::STARTUP).await {
                tracing::error!(error = %format!("{e:#}"), "could not sign an audit checkpoint");
            }
        }
        let mut every = tokio::time::interval(POLL);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = every.tick() => {}
                _ = shutdown.changed() => return,
            }
            if *shutdown.borrow() {
                return;
            }
            if let Err(e) = self.tick().await {
                tracing::error!(error = %format!("{e:#}"), "could not sign an audit checkpoint");
            }
        }
    }
}

/// Check a database's audit trail: every row, every checkpoint, against `keys`.
pub async fn verify_store(
    store: &Store,
    keys: &[VerifyingKey],
    expected: &[Expected],
) -> anyhow::Result<Report> {
    let mut rows = Vec::new();
    let mut after = 0;
    loop {
        let page = store.audit_rows(after, 10_000).await?;
        let Some(last) = page.last() else { break };
        after = last.id;
        rows.extend(page);
    }
    let checkpoints = store.checkpoints().await?;
    Ok(checkpoint::verify(&rows, &checkpoints, keys, expected))
}

/// The note for the admins' chat: enough to check later that this checkpoint is still there.
pub fn notice_html(c: &Checkpoint, digest: &str) -> String {
    format!(
        "🔏 <b>Audit checkpoint #{seq}</b> over row {row} ({why})\nKeep it: <code>ccgate audit verify --checkpoint {seq}:{short}</code>",
        seq = c.seq,
        row = c.audit_id,
        why = crate::telegram::html::escape(&c.reason),
        short = &digest[..16]
    )
}

/// The report as the lines `ccgate audit verify` prints; `key_source` says where the keys came
/// from.
pub fn report_lines(r: &Report, key_source: &str) -> Vec<String> {
    let mut out = Vec::new();
    match &r.chain {
        Ok(n) => out.push(format!(
            "audit log intact: {n} rows; last hash {}",
            r.head.1
        )),
        Err(b) => out.push(format!("audit log BROKEN at row {}: {}", b.id, b.reason)),
    }
    match &r.last {
        None => out.push(
            "no signed checkpoints: a cut or rewritten tail cannot be detected (set AUDIT_SIGNING_KEY_FILE or AUDIT_PKCS11_MODULE)"
                .into(),
        ),
        Some((c, digest)) => {
            out.push(format!(
                "checkpoints: {} ({}); newest #{} over row {} ({}, {}) digest {digest}",
                r.checkpoints,
                if r.keys_given {
                    format!("signatures checked with {key_source}")
                } else {
                    "signatures NOT checked: no key pinned (--public-key or AUDIT_VERIFY_KEY)"
                        .into()
                },
                c.seq,
                c.audit_id,
                c.reason,
                c.at
            ));
            out.push(format!(
                "(keep \"{}:{}\" elsewhere; later `audit verify --checkpoint {}:{}` shows whether newer checkpoints were deleted)",
                c.seq,
                &digest[..16],
                c.seq,
                &digest[..16]
            ));
        }
    }
    if r.last.is_some() && r.unsigned_tail > 0 {
        out.push(format!(
            "unsigned tail: {} row(s) after the newest checkpoint are not protected yet",
            r.unsigned_tail
        ));
    }
    for p in &r.problems {
        out.push(format!("PROBLEM: {p}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::signer::FileKey;

    #[test]
    fn due_counts_rows_and_time_only_when_the_head_moved() {
        let m = Duration::from_secs(600);
        assert_eq!(due(0, 0, Duration::from_secs(9999), 100, m), None);
        assert_eq!(due(50, 50, Duration::from_secs(9999), 100, m), None);
        assert_eq!(due(149, 50, Duration::from_secs(1), 100, m), None);
        assert_eq!(due(150, 50, Duration::from_secs(1), 100, m), Some("rows"));
        assert_eq!(due(51, 50, m, 100, m), Some("interval"));
    }

    #[tokio::test]
    async fn checkpointer_signs_every_n_rows_and_verify_store_checks_them() {
        let s = Store::open_in_memory().unwrap();
        let key = FileKey::generate();
        let public = key.public_key();
        let cp = Checkpointer::new(s.clone(), Box::new(key), 3, Duration::from_secs(3600))
            .await
            .unwrap();
        let mut made = Vec::new();
        for i in 0..7 {
            crate::audit::try_record(
                &s,
                None,
                None,
                crate::audit::Event::Login,
                &serde_json::json!({"i": i}),
            )
            .await
            .unwrap();
            made.extend(cp.tick().await.unwrap());
        }
        assert_eq!(
            made.iter().map(|c| c.audit_id).collect::<Vec<_>>(),
            vec![3, 6]
        );
        let r = verify_store(&s, &[public], &[]).await.unwrap();
        assert!(r.ok(), "{:?}", r.problems);
        assert_eq!(r.unsigned_tail, 1);
        let c = cp.checkpoint(reason::SHUTDOWN).await.unwrap();
        assert_eq!((c.seq, c.audit_id), (3, 7));
        let r = verify_store(&s, &[public], &[]).await.unwrap();
        assert_eq!(r.unsigned_tail, 0);
        let lines = report_lines(&r, "the pinned key").join("\n");
        assert!(lines.contains("audit log intact: 7 rows"), "{lines}");
        assert!(lines.contains("newest #3 over row 7 (shutdown"), "{lines}");
        assert!(!lines.contains("PROBLEM"), "{lines}");

        // Cut the signed tail: verify names it.
        s.tx(move |tx| tx.execute("DELETE FROM audit_log WHERE id > 5", []))
            .await
            .unwrap();
        let r = verify_store(&s, &[public], &[]).await.unwrap();
        assert!(!r.ok());
        let lines = report_lines(&r, "k").join("\n");
        assert!(
            lines.contains(
                "PROBLEM: tail CUT: checkpoint #2 signed row 6, but the log ends at row 5"
            ),
            "{lines}"
        );
    }
}
