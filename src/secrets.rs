//! Rotated secrets: which values of a shared secret are accepted right now, and which one is
//! used for what ccgate creates.
//!
//! Why it exists: a webhook secret or the key that hashes login tokens is shared with someone
//! (GitHub, a sender, tokens already handed out). Replacing it in one step breaks every sender
//! until each is updated, so operators put rotation off. `ccgate rotate <secret>` instead
//! generates a new value that is accepted at once, and keeps the old one accepted for an
//! overlap window, after which only the new one is. Both steps are audited.
//!
//! Where values live: the configured value (env, `*_FILE`, `$CREDENTIALS_DIRECTORY`) stays
//! where the operator put it; the database (0600, masked inside the sandbox like every ccgate
//! file) keeps the rotated-in values, because the bot must verify with them, and only a hash
//! of a configured value it retires. The running bot re-reads the rotations every
//! [`REFRESH`], so a rotation takes effect without a restart. Once the operator has put the
//! new value into the configuration, the database row and the configured value are the same
//! and nothing changes.
//!
//! Layout: [`Keyring::at`] is the pure rule (unit-tested); [`Secrets`] is the live,
//! shared view the verifiers read; the rows are in `store::rotations`.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use crate::config::Config;
use crate::store::Store;

/// How often the running bot re-reads the rotations.
pub const REFRESH: Duration = Duration::from_secs(2);

/// A secret `ccgate rotate` can rotate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rotatable {
    /// `WEBHOOK_API_SECRET`: Bearer token and signing key of `/webhooks/{provider}`.
    WebhookSecret,
    /// `GITHUB_WEBHOOK_SECRET`: the HMAC key of GitHub's deliveries.
    GithubSecret,
    /// `AUTH_TOKEN_SECRET`: the key login tokens are hashed with.
    AuthSecret,
}

impl Rotatable {
    pub const ALL: [Rotatable; 3] = [
        Rotatable::WebhookSecret,
        Rotatable::GithubSecret,
        Rotatable::AuthSecret,
    ];

    /// The name on the command line (`ccgate rotate webhook-secret`).
    pub fn cli_name(self) -> &'static str {
        match self {
            Rotatable::WebhookSecret => "webhook-secret",
            Rotatable::GithubSecret => "github-secret",
            Rotatable::AuthSecret => "auth-secret",
        }
    }

    /// The setting it rotates (and the name in the database).
    pub fn setting(self) -> &'static str {
        match self {
            Rotatable::WebhookSecret => "WEBHOOK_API_SECRET",
            Rotatable::GithubSecret => "GITHUB_WEBHOOK_SECRET",
            Rotatable::AuthSecret => "AUTH_TOKEN_SECRET",
        }
    }

    pub fn from_cli(s: &str) -> Option<Rotatable> {
        Rotatable::ALL.into_iter().find(|r| r.cli_name() == s)
    }

    /// The configured value, if any.
    pub fn configured(self, config: &Config) -> Option<&SecretString> {
        match self {
            Rotatable::WebhookSecret => config.server.webhook_api_secret.as_ref(),
            Rotatable::GithubSecret => config.server.github_webhook_secret.as_ref(),
            Rotatable::AuthSecret => config.auth_token_secret.as_ref(),
        }
    }
}

/// One row of `secret_rotations`: a value accepted from `added_at` until `until` (unix
/// seconds; `None`: no end). `value` is `None` for a retired configured value (only its hash
/// is kept).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotationRow {
    pub value_sha256: String,
    pub value: Option<String>,
    pub added_at: i64,
    pub until: Option<i64>,
}

/// The hex SHA-256 of a secret value: how a configured value is named without storing it.
pub fn fingerprint(value: &str) -> String {
    hex::encode(Sha256::digest(value.as_bytes()))
}

/// A fresh secret: 32 random bytes, hex (64 characters, valid for every rotatable setting).
pub fn generate() -> SecretString {
    let mut b = [0u8; 32];
    rand::rng().fill_bytes(&mut b);
    SecretString::from(hex::encode(b))
}

/// The values of one secret that count at one moment.
#[derive(Default)]
pub struct Keyring {
    /// What ccgate signs or hashes new things with: the newest open-ended value.
    pub current: Option<SecretString>,
    /// Every value a request may carry now, `current` first.
    pub accepted: Vec<SecretString>,
}

impl Keyring {
    /// The rule: the configured value counts unless a rotation retired it and its window has
    /// passed; a rotated-in value counts from when it was added until its window (if any)
    /// has passed. The current value is the newest one without an end, else the configured.
    pub fn at(configured: Option<&SecretString>, rows: &[RotationRow], now: i64) -> Keyring {
        let live = |r: &RotationRow| r.added_at <= now && r.until.is_none_or(|u| now < u);
        let mut rotated: Vec<&RotationRow> = rows.iter().filter(|r| r.value.is_some()).collect();
        rotated.sort_by_key(|r| std::cmp::Reverse(r.added_at));
        let mut k = Keyring::default();
        let mut seen: Vec<String> = Vec::new();
        let mut push = |k: &mut Keyring, v: &str| {
            let fp = fingerprint(v);
            if !seen.contains(&fp) {
                seen.push(fp);
                k.accepted.push(SecretString::from(v.to_string()));
            }
        };
        if let Some(r) = rotated.iter().find(|r| r.until.is_none() && live(r)) {
            let v = r.value.as_deref().unwrap_or_default();
            k.current = Some(SecretString::from(v.to_string()));
            push(&mut k, v);
        }
        if let Some(c) = configured {
            let fp = fingerprint(c.expose_secret());
            let retired = rows
                .iter()
                .any(|r| r.value_sha256 == fp && r.until.is_some_and(|u| now >= u));
            if !retired {
                if k.current.is_none() {
                    k.current = Some(c.clone());
                }
                push(&mut k, c.expose_secret());
            }
        }
        for r in rotated.iter().filter(|r| live(r)) {
            push(&mut k, r.value.as_deref().unwrap_or_default());
        }
        k
    }
}

/// The live keyrings of every rotatable secret, shared by the verifiers. The refresh only
/// re-reads the rotation rows; which values count is worked out at the moment of each check
/// ([`Secrets::ring`]), so a window ends on its second, not up to one refresh later.
pub struct Secrets {
    configured: HashMap<Rotatable, SecretString>,
    rows: RwLock<HashMap<Rotatable, Arc<Vec<RotationRow>>>>,
}

impl Secrets {
    /// Only the configured values, no rotations (tests, and before the first load).
    pub fn configured(config: &Config) -> Secrets {
        let configured: HashMap<Rotatable, SecretString> = Rotatable::ALL
            .into_iter()
            .filter_map(|r| r.configured(config).map(|s| (r, s.clone())))
            .collect();
        Secrets {
            configured,
            rows: RwLock::default(),
        }
    }

    /// One fixed value for one secret (no rotations, no refresh).
    pub fn single(r: Rotatable, value: SecretString) -> Secrets {
        Secrets {
            configured: HashMap::from([(r, value)]),
            rows: RwLock::default(),
        }
    }

    /// The configured values and the rotations in the database now.
    pub async fn load(config: &Config, store: &Store) -> anyhow::Result<Arc<Secrets>> {
        let s = Arc::new(Secrets::configured(config));
        s.refresh(store).await?;
        Ok(s)
    }

    /// Re-read the rotations.
    pub async fn refresh(&self, store: &Store) -> anyhow::Result<()> {
        let mut all = HashMap::new();
        for r in Rotatable::ALL {
            all.insert(r, Arc::new(store.rotations(r.setting()).await?));
        }
        *self.rows.write().unwrap_or_else(|p| p.into_inner()) = all;
        Ok(())
    }

    /// The keyring of `r` at `now` (unix seconds).
    fn ring_at(&self, r: Rotatable, now: i64) -> Option<Keyring> {
        let rows = self
            .rows
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&r)
            .cloned()
            .unwrap_or_default();
        let ring = Keyring::at(self.configured.get(&r), &rows, now);
        ring.current.is_some().then_some(ring)
    }

    /// Keep refreshing until the process ends (a failed read keeps the last view and says so).
    pub fn spawn_refresh(self: &Arc<Self>, store: Store) {
        let me = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(REFRESH).await;
                let Some(s) = me.upgrade() else { return };
                if let Err(e) = s.refresh(&store).await {
                    tracing::warn!(error = %e, "could not re-read secret rotations; keeping the last view");
                }
            }
        });
    }

    /// The keyring of `r`; `None` when the secret is not set at all (its endpoint is off).
    pub fn ring(&self, r: Rotatable) -> Option<Keyring> {
        self.ring_at(r, chrono::Utc::now().timestamp())
    }

    /// Every rotated-in value accepted now (for the redactor: they are secrets too).
    pub fn rotated_values(&self) -> Vec<String> {
        let now = chrono::Utc::now().timestamp();
        Rotatable::ALL
            .into_iter()
            .filter_map(|r| self.ring_at(r, now).map(|ring| (r, ring)))
            .flat_map(|(r, ring)| {
                let configured = self
                    .configured
                    .get(&r)
                    .map(|c| c.expose_secret().to_string());
                ring.accepted
                    .into_iter()
                    .map(|s| s.expose_secret().to_string())
                    .filter(move |v| Some(v) != configured.as_ref())
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> SecretString {
        SecretString::from(v.to_string())
    }

    /// A row for `value`; `kept`: the value itself is stored (rotated in), else only its hash.
    fn row(value: &str, kept: bool, added_at: i64, until: Option<i64>) -> RotationRow {
        RotationRow {
            value_sha256: fingerprint(value),
            value: kept.then(|| value.to_string()),
            added_at,
            until,
        }
    }

    fn values(k: &Keyring) -> Vec<String> {
        k.accepted
            .iter()
            .map(|s| s.expose_secret().to_string())
            .collect()
    }

    fn current(k: &Keyring) -> Option<String> {
        k.current.as_ref().map(|s| s.expose_secret().to_string())
    }

    #[test]
    fn without_rotations_the_configured_value_is_all_there_is() {
        let k = Keyring::at(Some(&s("old")), &[], 100);
        assert_eq!(values(&k), ["old"]);
        assert_eq!(current(&k).as_deref(), Some("old"));
        let k = Keyring::at(None, &[], 100);
        assert!(k.current.is_none() && k.accepted.is_empty());
    }

    #[test]
    fn a_rotation_accepts_old_and_new_in_the_window_and_only_new_after_it() {
        // Rotated at t=100 with a 50 s overlap: the configured "old" retires at 150.
        let rows = vec![
            row("old", false, 100, Some(150)),
            row("new", true, 100, None),
        ];
        let before = Keyring::at(Some(&s("old")), &rows, 99);
        assert_eq!(values(&before), ["old"]);
        let during = Keyring::at(Some(&s("old")), &rows, 120);
        assert_eq!(values(&during), ["new", "old"]);
        assert_eq!(current(&during).as_deref(), Some("new"));
        let after = Keyring::at(Some(&s("old")), &rows, 150);
        assert_eq!(values(&after), ["new"]);
        // The operator later puts "new" into the configuration: nothing changes.
        let moved = Keyring::at(Some(&s("new")), &rows, 200);
        assert_eq!(values(&moved), ["new"]);
        assert_eq!(current(&moved).as_deref(), Some("new"));
    }

    #[test]
    fn a_second_rotation_retires_the_first_rotated_value_after_its_own_window() {
        let rows = vec![
            row("old", false, 100, Some(150)),
            row("v2", true, 100, Some(400)),
            row("v3", true, 300, None),
        ];
        let k = Keyring::at(Some(&s("old")), &rows, 350);
        assert_eq!(values(&k), ["v3", "v2"]);
        assert_eq!(current(&k).as_deref(), Some("v3"));
        let k = Keyring::at(Some(&s("old")), &rows, 400);
        assert_eq!(values(&k), ["v3"]);
    }

    #[test]
    fn generated_secrets_are_long_and_distinct() {
        let (a, b) = (generate(), generate());
        assert_eq!(a.expose_secret().len(), 64);
        assert_ne!(a.expose_secret(), b.expose_secret());
    }
}
