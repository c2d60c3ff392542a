//! `ccgate rotate webhook-secret|github-secret|auth-secret`: a new value accepted at once,
//! the old one for an overlap window (see `crate::secrets` for the rule and where values live).
//!
//! Why a file of its own: rotation changes what every sender must hold, so it is one audited
//! operator step with a clear report of what to update and by when.

use std::time::Duration;

use anyhow::bail;
use secrecy::ExposeSecret;

use super::Report;
use crate::config::Config;
use crate::secrets::{self, Rotatable, Secrets};
use crate::store::Store;

/// Rotate `which`: a fresh value is accepted now; every value accepted so far stays accepted
/// for `overlap`, then only the new one is.
pub async fn rotate(
    store: &Store,
    config: &Config,
    which: Rotatable,
    overlap: Duration,
) -> anyhow::Result<Report> {
    let live = Secrets::load(config, store).await?;
    if live.ring(which).is_none() {
        bail!(
            "{} is not set: there is nothing to rotate (set it first)",
            which.setting()
        );
    }
    let new = secrets::generate();
    let new_fingerprint = secrets::fingerprint(new.expose_secret());
    let now = chrono::Utc::now().timestamp();
    let until = now + overlap.as_secs() as i64;
    let configured = which
        .configured(config)
        .map(|c| secrets::fingerprint(c.expose_secret()));
    let changed = store
        .rotate_secret(
            which.setting(),
            configured,
            new_fingerprint.clone(),
            new.expose_secret().to_string(),
            now,
            until,
        )
        .await?;
    crate::audit::try_record(
        store,
        None,
        None,
        crate::audit::Event::SecretRotated,
        &serde_json::json!({
            "setting": which.setting(),
            "overlap_secs": overlap.as_secs(),
            "previous_values_retiring": changed.retiring,
            "new_fingerprint": &new_fingerprint[..16],
        }),
    )
    .await?;
    let end = chrono::DateTime::from_timestamp(until, 0)
        .map(|t| t.to_rfc3339())
        .unwrap_or_default();
    let mut report = Report::default();
    report.line(new.expose_secret().to_string()).note(format!(
        "New {} (shown once). Accepted now; the previous value(s) stay accepted until {end} \
         (overlap {}s). The running bot picks this up within {}s. Give the new value to every \
         sender (for GitHub: the webhook's secret in the repository settings) and put it into \
         {} (or its _FILE / credential) before the window ends.",
        which.setting(),
        overlap.as_secs(),
        secrets::REFRESH.as_secs(),
        which.setting(),
    ));
    Ok(report)
}
