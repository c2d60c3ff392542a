//! Rows behind signed audit checkpoints (`audit::checkpoint`): the chain head and the
//! checkpoints that sign it.
//!
//! Why a file of its own: checkpoints are the audit trail's anchor, written by one task and read
//! by `ccgate audit verify`; keeping their queries together keeps `store/mod.rs` about
//! conversations. The store only keeps them: signing and checking happen in `audit`.

use rusqlite::{params, OptionalExtension};

use super::{Result, Store};
use crate::audit::chain::GENESIS;
use crate::audit::checkpoint::Checkpoint;

const COLS: &str =
    "seq, at, audit_id, audit_hash, prev_digest, reason, algorithm, public_key, signature";

fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Checkpoint> {
    Ok(Checkpoint {
        seq: r.get(0)?,
        at: r.get(1)?,
        audit_id: r.get(2)?,
        audit_hash: r.get(3)?,
        prev_digest: r.get(4)?,
        reason: r.get(5)?,
        algorithm: r.get(6)?,
        public_key: r.get(7)?,
        signature: r.get(8)?,
    })
}

impl Store {
    /// The id and hash of the newest audit row: `(0, GENESIS)` for an empty log.
    pub async fn audit_head(&self) -> Result<(i64, String)> {
        self.read(move |conn| {
            Ok(conn
                .query_row(
                    "SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?
                .unwrap_or((0, GENESIS.to_string())))
        })
        .await
    }

    /// The newest checkpoint.
    pub async fn last_checkpoint(&self) -> Result<Option<Checkpoint>> {
        self.read(move |conn| {
            Ok(conn
                .query_row(
                    &format!("SELECT {COLS} FROM audit_checkpoints ORDER BY seq DESC LIMIT 1"),
                    [],
                    from_row,
                )
                .optional()?)
        })
        .await
    }

    /// Every checkpoint, oldest first.
    pub async fn checkpoints(&self) -> Result<Vec<Checkpoint>> {
        self.read(move |conn| {
            let mut st = conn.prepare(&format!(
                "SELECT {COLS} FROM audit_checkpoints ORDER BY seq"
            ))?;
            let rows = st.query_map([], from_row)?.collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
        .await
    }

    /// Store a checkpoint. Its seq is the primary key: a second writer with the same
    /// predecessor fails instead of forking the checkpoint chain.
    pub async fn insert_checkpoint(&self, c: &Checkpoint) -> Result<()> {
        let c = c.clone();
        self.write(move |conn| {
    conn.execute(
                &format!("INSERT INTO audit_checkpoints ({COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"),
                params![
                    c.seq,
                    c.at,
                    c.audit_id,
                    c.audit_hash,
                    c.prev_digest,
                    c.reason,
                    c.algorithm,
                    c.public_key,
                    c.signature
                ],
            )?;
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use crate::audit::checkpoint::{make, reason};
    use crate::audit::signer::FileKey;
    use crate::store::Store;

    #[tokio::test]
    async fn checkpoints_round_trip_and_seq_cannot_fork() {
        let s = Store::open_in_memory().unwrap();
        assert_eq!(s.audit_head().await.unwrap().0, 0);
        assert!(s.last_checkpoint().await.unwrap().is_none());
        for i in 0..3 {
            crate::audit::try_record(
                &s,
                None,
                None,
                crate::audit::Event::Login,
                &serde_json::json!({"i": i}),
            )
            .await
            .unwrap();
        }
        let head = s.audit_head().await.unwrap();
        assert_eq!(head.0, 3);
        assert_eq!(head.1, s.audit_tail(1).await.unwrap()[0].hash);
        let key = FileKey::generate();
        let c1 = make(&key, None, head.0, &head.1, reason::ROWS, "t1").unwrap();
        s.insert_checkpoint(&c1).await.unwrap();
        let c2 = make(&key, Some(&c1), head.0, &head.1, reason::SHUTDOWN, "t2").unwrap();
        s.insert_checkpoint(&c2).await.unwrap();
        assert_eq!(s.checkpoints().await.unwrap(), vec![c1.clone(), c2.clone()]);
        assert_eq!(s.last_checkpoint().await.unwrap(), Some(c2));
        let fork = make(&key, Some(&c1), head.0, &head.1, reason::ROWS, "t3").unwrap();
        assert!(s.insert_checkpoint(&fork).await.is_err());
    }
}
