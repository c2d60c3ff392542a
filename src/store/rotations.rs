//! Rows behind secret rotation (`crate::secrets`): which values of a rotatable secret are
//! accepted, from when and until when.
//!
//! Why a file of its own: rotation rows are written only by `ccgate rotate` and read by the
//! bot's periodic refresh; the rule deciding what they mean lives in `secrets::Keyring`.

use rusqlite::params;

use super::{Result, Store};
use crate::secrets::RotationRow;

/// What one rotation changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotated {
    /// Values (by fingerprint) that were open-ended and now end at the window's end.
    pub retiring: usize,
}

impl Store {
    /// Every rotation row of the secret `name`.
    pub async fn rotations(&self, name: &'static str) -> Result<Vec<RotationRow>> {
        self.read(move |conn| {
            let mut st = conn.prepare_cached(
                "SELECT value_sha256, value, added_at, until FROM secret_rotations
                  WHERE name = ?1 ORDER BY id",
            )?;
            let rows = st
                .query_map(params![name], |r| {
                    Ok(RotationRow {
                        value_sha256: r.get(0)?,
                        value: r.get(1)?,
                        added_at: r.get(2)?,
                        until: r.get(3)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
        .await
    }

    /// In one transaction: every value of `name` accepted without an end (the configured one,
    /// named by `configured_sha256`, included) is accepted until `until`; `new_value` is
    /// accepted from `now` without an end.
    pub async fn rotate_secret(
        &self,
        name: &'static str,
        configured_sha256: Option<String>,
        new_sha256: String,
        new_value: String,
        now: i64,
        until: i64,
    ) -> Result<Rotated> {
        self.tx(move |tx| {
            if let Some(fp) = configured_sha256 {
                // A configured value not seen before gets a row that only retires it.
                tx.execute(
                    "INSERT OR IGNORE INTO secret_rotations (name, value_sha256, value, added_at, until)
                     VALUES (?1, ?2, NULL, ?3, NULL)",
                    params![name, fp, now],
                )?;
            }
            let retiring = tx.execute(
                "UPDATE secret_rotations SET until = ?2 WHERE name = ?1 AND until IS NULL",
                params![name, until],
            )?;
            tx.execute(
                "INSERT INTO secret_rotations (name, value_sha256, value, added_at, until)
                 VALUES (?1, ?2, ?3, ?4, NULL)",
                params![name, new_sha256, new_value, now],
            )?;
            Ok(Rotated { retiring })
        })
        .await
    }
}
