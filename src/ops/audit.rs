//! The audit trail from the operator's side: verify the chain and its signed checkpoints, show
//! or export rows, and create or show the checkpoint signing key.
//!
//! Why a file of its own: `verify` has to choose which public keys to trust (given on the
//! command line, pinned in AUDIT_VERIFY_KEY, or — weakest — the configured signing key), and
//! key generation touches a key file or a PKCS#11 token but never the database; the checking
//! itself lives in `audit::checkpointer`.

use std::path::Path;

use anyhow::bail;

use super::Report;
use crate::audit::chain::AuditEntry;
use crate::audit::checkpoint::{self, Expected, Sign};
use crate::audit::{checkpointer, signer};
use crate::config::Config;
use crate::store::Store;

/// `audit verify`: the hash chain and every signed checkpoint, checked against `public_keys`
/// (hex; default AUDIT_VERIFY_KEY, else the configured signing key's) and the `expected`
/// checkpoints recorded elsewhere. Not ok on any broken link, cut tail or bad checkpoint.
pub async fn verify(
    store: &Store,
    config: &Config,
    public_keys: &[String],
    expected: &[Expected],
) -> anyhow::Result<Report> {
    let (keys, source) = if !public_keys.is_empty() {
        let keys = public_keys
            .iter()
            .map(|k| checkpoint::parse_public_key(k))
            .collect::<Result<Vec<_>, _>>()
            .map_err(anyhow::Error::msg)?;
        (keys, "the key(s) given by --public-key".to_string())
    } else if !config.audit.verify_keys.is_empty() {
        (config.audit.verify_keys.clone(), "AUDIT_VERIFY_KEY".into())
    } else if let Some(src) = &config.audit.signing_key {
        (
            vec![src.open()?.public_key()],
            format!("the configured {} (pin AUDIT_VERIFY_KEY for a check that does not trust this machine)", src.describe()),
        )
    } else {
        (Vec::new(), String::new())
    };
    let found = checkpointer::verify_store(store, &keys, expected).await?;
    let mut report = Report::default();
    for line in checkpointer::report_lines(&found, &source) {
        report.line(line);
    }
    if !found.ok() {
        report.fail();
    }
    Ok(report)
}

/// One audit row as `audit tail` shows it.
pub fn tail_line(r: &AuditEntry) -> String {
    format!(
        "{} #{:<6} {:<8} {:<20} user={} chat={} {}",
        r.at,
        r.id,
        r.risk,
        r.event,
        r.user_id.map(|u| u.to_string()).unwrap_or("-".into()),
        r.chat_id.map(|c| c.to_string()).unwrap_or("-".into()),
        r.details
    )
}

/// `audit tail`: the newest `n` rows, oldest first.
pub async fn tail(store: &Store, n: usize) -> anyhow::Result<Report> {
    let mut report = Report::default();
    for r in store.audit_tail(n).await? {
        report.line(tail_line(&r));
    }
    Ok(report)
}

/// `audit export --json`: every row as one JSON object per line, read a page at a time so a
/// long trail never sits in memory whole.
pub fn export_json(store: &Store) -> Export<'_> {
    Export {
        store,
        after: 0,
        page: Vec::new().into_iter(),
        done: false,
    }
}

/// The lines of [`export_json`], in row order; stops after the first error.
pub struct Export<'a> {
    store: &'a Store,
    after: i64,
    page: std::vec::IntoIter<AuditEntry>,
    done: bool,
}

/// Rows read per query while exporting.
const EXPORT_PAGE: usize = 10_000;

impl Export<'_> {
    /// The next line, `None` at the end.
    pub async fn next_line(&mut self) -> Option<anyhow::Result<String>> {
        if self.done {
            return None;
        }
        let row = match self.page.next() {
            Some(row) => row,
            None => match self.store.audit_rows(self.after, EXPORT_PAGE).await {
                Err(e) => {
                    self.done = true;
                    return Some(Err(e.into()));
                }
                Ok(rows) => {
                    self.page = rows.into_iter();
                    match self.page.next() {
                        Some(row) => row,
                        None => {
                            self.done = true;
                            return None;
                        }
                    }
                }
            },
        };
        self.after = row.id;
        Some(serde_json::to_string(&row).map_err(Into::into))
    }
}

/// `audit keygen --out PATH`: a new Ed25519 key file (mode 0600, never overwriting).
pub fn keygen_file(path: &Path) -> anyhow::Result<Report> {
    let key = signer::FileKey::generate();
    key.write_new(path)?;
    let mut report = Report::default();
    report.note(format!(
        "wrote {} (mode 0600); use it with AUDIT_SIGNING_KEY_FILE={}",
        path.display(),
        path.display()
    ));
    Ok(keygen_done(report, &key.public_key()))
}

/// `audit keygen --pkcs11`: a new key inside the configured PKCS#11 token.
pub fn keygen_pkcs11(config: &Config) -> anyhow::Result<Report> {
    let Some(signer::KeySource::Pkcs11(s)) = &config.audit.signing_key else {
        bail!("--pkcs11 needs AUDIT_PKCS11_MODULE, AUDIT_PKCS11_TOKEN_LABEL, AUDIT_PKCS11_PIN[_FILE] and AUDIT_PKCS11_KEY_LABEL");
    };
    let public = signer::Pkcs11Key::generate(s)?;
    let mut report = Report::default();
    report.note(format!(
        "created key {:?} on token {:?}",
        s.key_label, s.token_label
    ));
    Ok(keygen_done(report, &public))
}

fn keygen_done(mut report: Report, public: &ed25519_dalek::VerifyingKey) -> Report {
    report
        .line(hex::encode(public.as_bytes()))
        .note("pin this public key where verify runs: AUDIT_VERIFY_KEY=<it> or --public-key <it>");
    report
}

/// `audit pubkey`: the public key of the configured signing key.
pub fn pubkey(config: &Config) -> anyhow::Result<Report> {
    let Some(src) = &config.audit.signing_key else {
        bail!("no signing key configured (AUDIT_SIGNING_KEY_FILE or AUDIT_PKCS11_MODULE)");
    };
    let mut report = Report::default();
    report.line(hex::encode(src.open()?.public_key().as_bytes()));
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn export_pages_through_every_row_in_order() {
        let store = Store::open_in_memory().unwrap();
        let n = EXPORT_PAGE + 3;
        store
            .tx(move |tx| {
                for i in 0..n {
                    tx.execute(
                        "INSERT INTO audit_log (id, at, event, risk, details, prev_hash, hash)
                         VALUES (?1, 'now', 'login', 'low', '{}', 'p', 'h')",
                        [i as i64 + 1],
                    )?;
                }
                Ok(())
            })
            .await
            .unwrap();
        let mut export = export_json(&store);
        let mut lines: Vec<String> = Vec::new();
        while let Some(line) = export.next_line().await {
            lines.push(line.unwrap());
        }
        assert_eq!(lines.len(), n);
        let ids: Vec<i64> = lines
            .iter()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["id"]
                    .as_i64()
                    .unwrap()
            })
            .collect();
        assert!(ids.windows(2).all(|w| w[1] == w[0] + 1), "in order");
        assert_eq!((ids[0], ids[n - 1]), (1, n as i64));
    }

    #[tokio::test]
    async fn verify_fails_on_a_tampered_row_and_tail_shows_it() {
        let store = Store::open_in_memory().unwrap();
        let (_dir, config) = super::super::test_config(&[]);
        for i in 0..3 {
            crate::audit::try_record(
                &store,
                Some(i),
                None,
                crate::audit::Event::Login,
                &serde_json::json!({"i": i}),
            )
            .await
            .unwrap();
        }
        assert!(verify(&store, &config, &[], &[]).await.unwrap().ok);
        store
            .tx(move |tx| tx.execute("UPDATE audit_log SET details = '{}' WHERE id = 2", []))
            .await
            .unwrap();
        let r = verify(&store, &config, &[], &[]).await.unwrap();
        assert!(!r.ok, "{}", r.stdout());
        let tail = tail(&store, 1).await.unwrap().stdout();
        assert!(
            tail.contains(" #3 ") && tail.contains("user=2 chat=-"),
            "{tail}"
        );
    }

    #[test]
    fn a_generated_key_file_is_what_pubkey_shows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.pem");
        let made = keygen_file(&path).unwrap();
        assert!(
            made.stderr().contains("AUDIT_SIGNING_KEY_FILE="),
            "{}",
            made.stderr()
        );
        let (_d, config) =
            super::super::test_config(&[("AUDIT_SIGNING_KEY_FILE", path.to_str().unwrap())]);
        assert_eq!(pubkey(&config).unwrap().stdout(), made.stdout());
        assert!(keygen_file(&path).is_err(), "never overwrites");
    }
}
