//! Who may talk to the bot beyond the static allowlist: login tokens and pairing codes.
//!
//! Why it exists: an allowlist alone trusts a Telegram account forever; a stolen phone keeps
//! access. Token auth adds a second factor the operator hands out on the machine
//! (`ccgate token issue`), stored only as a keyed hash, single-use, bound to one Telegram user,
//! and turning into an auth session that expires with inactivity. Pairing lets an unknown user
//! ask for access with a short code that only the operator, on the machine, can approve — never
//! from chat.

use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use rand::rngs::OsRng;
use rand::{Rng, TryRngCore};
use rusqlite::{params, OptionalExtension};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

use crate::secrets::{Keyring, Rotatable, Secrets};
use crate::store::{now_str, Store};

/// Prefix of login tokens, so they are recognisable (and redactable) in logs.
pub const TOKEN_PREFIX: &str = "ccg_";
/// Pairing codes use an alphabet without look-alikes (no 0/O, 1/I/L).
const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";
const CODE_LEN: usize = 8;
/// A code expires after an hour.
pub const PAIRING_TTL: Duration = Duration::from_secs(3600);
/// An unknown user gets at most this many codes (ever), so the bot cannot be used to spam.
pub const PAIRING_MAX_PER_USER: i64 = 2;
/// At most this many codes wait for approval at once.
pub const PAIRING_MAX_PENDING: i64 = 3;

fn ts(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn after(d: Duration) -> String {
    ts(chrono::Utc::now() + chrono::Duration::from_std(d).unwrap_or(chrono::Duration::days(3650)))
}

/// HMAC-SHA256(secret, token) as hex: what the database stores instead of the token.
pub fn token_hash(secret: &SecretString, token: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose_secret().as_bytes())
        .expect("HMAC accepts keys of any length");
    mac.update(token.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Compare two strings in time independent of where they differ.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// A new random token: 32 bytes from the OS CSPRNG, hex-encoded, prefixed.
pub fn new_token() -> String {
    let bytes: [u8; 32] = OsRng.unwrap_err().random();
    format!("{TOKEN_PREFIX}{}", hex::encode(bytes))
}

fn new_code() -> String {
    let mut rng = OsRng.unwrap_err();
    (0..CODE_LEN)
        .map(|_| CODE_ALPHABET[rng.random_range(0..CODE_ALPHABET.len())] as char)
        .collect()
}

/// Why a login failed (all are audited; the user sees one generic message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginError {
    Malformed,
    Unknown,
    WrongUser,
    Used,
    Revoked,
    Expired,
}

impl LoginError {
    pub fn event(&self) -> crate::audit::Event {
        use crate::audit::Event;
        match self {
            LoginError::Used => Event::TokenReplay,
            LoginError::Expired => Event::TokenExpired,
            _ => Event::TokenInvalid,
        }
    }
}

/// (id, user_id, token_hash, expires_at, used_at, revoked_at)
type TokenRow = (i64, i64, String, String, Option<String>, Option<String>);

/// Token and session bookkeeping over the store.
pub struct Auth {
    store: Store,
    /// `AUTH_TOKEN_SECRET` and, during a rotation, its previous values (`crate::secrets`).
    secrets: Arc<Secrets>,
    session_timeout: Duration,
}

impl Auth {
    /// With one fixed key (no rotations).
    pub fn new(store: Store, secret: SecretString, session_timeout: Duration) -> Self {
        Auth::with_secrets(
            store,
            Arc::new(Secrets::single(Rotatable::AuthSecret, secret)),
            session_timeout,
        )
    }

    /// With the live keyring: tokens are hashed with the current key, and a token hashed
    /// under a key still accepted (a rotation's overlap window) still logs in.
    pub fn with_secrets(store: Store, secrets: Arc<Secrets>, session_timeout: Duration) -> Self {
        Auth {
            store,
            secrets,
            session_timeout,
        }
    }

    fn keys(&self) -> anyhow::Result<Keyring> {
        self.secrets
            .ring(Rotatable::AuthSecret)
            .ok_or_else(|| anyhow::anyhow!("AUTH_TOKEN_SECRET is not set"))
    }

    /// Issue a one-time token for `user_id`, valid for `ttl`. Returns the token (shown once).
    pub async fn issue(&self, user_id: i64, ttl: Duration) -> anyhow::Result<String> {
        let token = new_token();
        let keys = self.keys()?;
        let Some(current) = keys.current.as_ref() else {
            anyhow::bail!("AUTH_TOKEN_SECRET has no current value");
        };
        let hash = token_hash(current, &token);
        self.store.tx(move |tx| {
            tx.execute(
                "INSERT INTO auth_tokens (user_id, token_hash, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)",
                params![user_id, hash, now_str(), after(ttl)],
            )
        }).await?;
        Ok(token)
    }

    /// Revoke every unused token of `user_id` and end their session. Returns tokens revoked.
    pub async fn revoke_user(&self, user_id: i64) -> anyhow::Result<usize> {
        Ok(self.store.tx(move |tx| {
            let n = tx.execute(
                "UPDATE auth_tokens SET revoked_at = ?2 WHERE user_id = ?1 AND revoked_at IS NULL AND used_at IS NULL",
                params![user_id, now_str()],
            )?;
            tx.execute("DELETE FROM auth_sessions WHERE user_id = ?1", params![user_id])?;
            Ok(n)
        }).await?)
    }

    /// Redeem `token` for `user_id`: single use, bound to the user it was issued for.
    pub async fn login(&self, user_id: i64, token: &str) -> anyhow::Result<Result<(), LoginError>> {
        let token = token.trim();
        if !token.starts_with(TOKEN_PREFIX) || token.len() != TOKEN_PREFIX.len() + 64 {
            return Ok(Err(LoginError::Malformed));
        }
        let hashes: Vec<String> = self
            .keys()?
            .accepted
            .iter()
            .map(|k| token_hash(k, token))
            .collect();
        let now = now_str();
        Ok(self.store.tx(move |tx| {
            // Look up by the keyed hash under each accepted key; the equality below is
            // re-checked in constant time so the database index is not the only comparison.
            let mut found = None;
            for hash in hashes {
                let row: Option<TokenRow> = tx
                    .query_row(
                        "SELECT id, user_id, token_hash, expires_at, used_at, revoked_at FROM auth_tokens WHERE token_hash = ?1",
                        params![hash],
                        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)),
                    )
                    .optional()?;
                if let Some(row) = row {
                    found = Some((row, hash));
                    break;
                }
            }
            let Some(((id, owner, stored, expires, used, revoked), hash)) = found else {
                return Ok(Err(LoginError::Unknown));
            };
            if !constant_time_eq(&stored, &hash) {
                return Ok(Err(LoginError::Unknown));
            }
            if owner != user_id {
                return Ok(Err(LoginError::WrongUser));
            }
            if revoked.is_some() {
                return Ok(Err(LoginError::Revoked));
            }
            if used.is_some() {
                return Ok(Err(LoginError::Used));
            }
            if expires <= now {
                return Ok(Err(LoginError::Expired));
            }
            tx.execute("UPDATE auth_tokens SET used_at = ?2 WHERE id = ?1", params![id, now])?;
            tx.execute(
                "INSERT INTO auth_sessions (user_id, token_id, created_at, last_seen) VALUES (?1, ?2, ?3, ?3)
                 ON CONFLICT(user_id) DO UPDATE SET token_id = excluded.token_id, created_at = excluded.created_at, last_seen = excluded.last_seen",
                params![user_id, id, now],
            )?;
            Ok(Ok(()))
        }).await?)
    }

    /// Is `user_id` logged in? Refreshes the inactivity timer when so; ends a stale session.
    pub async fn check_session(&self, user_id: i64) -> anyhow::Result<bool> {
        let cutoff = ts(chrono::Utc::now()
            - chrono::Duration::from_std(self.session_timeout)
                .unwrap_or(chrono::Duration::days(1)));
        Ok(self
            .store
            .tx(move |tx| {
                let last: Option<String> = tx
                    .query_row(
                        "SELECT last_seen FROM auth_sessions WHERE user_id = ?1",
                        params![user_id],
                        |r| r.get(0),
                    )
                    .optional()?;
                match last {
                    Some(l) if l > cutoff => {
                        tx.execute(
                            "UPDATE auth_sessions SET last_seen = ?2 WHERE user_id = ?1",
                            params![user_id, now_str()],
                        )?;
                        Ok(true)
                    }
                    Some(_) => {
                        tx.execute(
                            "DELETE FROM auth_sessions WHERE user_id = ?1",
                            params![user_id],
                        )?;
                        Ok(false)
                    }
                    None => Ok(false),
                }
            })
            .await?)
    }

    pub async fn logout(&self, user_id: i64) -> anyhow::Result<bool> {
        Ok(self
            .store
            .tx(move |tx| {
                tx.execute(
                    "DELETE FROM auth_sessions WHERE user_id = ?1",
                    params![user_id],
                )
            })
            .await?
            > 0)
    }
}

/// What happened when an unknown user asked for access.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PairingOutcome {
    /// A new code to show the user.
    Code(String),
    /// This user already got the maximum number of codes: say nothing more.
    Exhausted,
    /// Too many codes wait for approval: try later.
    Busy,
}

/// Hand out a pairing code to `user_id`, within the limits.
pub async fn request_pairing(
    store: &Store,
    user_id: i64,
    username: Option<&str>,
) -> anyhow::Result<PairingOutcome> {
    let now = now_str();
    let username = username.map(str::to_owned);
    Ok(store.tx(move |tx| {
        let given: i64 = tx.query_row(
            "SELECT COUNT(*) FROM pairing_codes WHERE user_id = ?1",
            params![user_id],
            |r| r.get(0),
        )?;
        if given >= PAIRING_MAX_PER_USER {
            return Ok(PairingOutcome::Exhausted);
        }
        let pending: i64 = tx.query_row(
            "SELECT COUNT(*) FROM pairing_codes WHERE approved_at IS NULL AND expires_at > ?1",
            params![now],
            |r| r.get(0),
        )?;
        if pending >= PAIRING_MAX_PENDING {
            return Ok(PairingOutcome::Busy);
        }
        let code = new_code();
        tx.execute(
            "INSERT INTO pairing_codes (code, user_id, username, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![code, user_id, username, now, after(PAIRING_TTL)],
        )?;
        Ok(PairingOutcome::Code(code))
    }).await?)
}

/// A pending pairing request, for `ccgate pair list`.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingPairing {
    pub code: String,
    pub user_id: i64,
    pub username: Option<String>,
    pub expires_at: String,
}

pub async fn pending_pairings(store: &Store) -> anyhow::Result<Vec<PendingPairing>> {
    Ok(store
        .query(move |tx| {
            let mut st = tx.prepare(
                "SELECT code, user_id, username, expires_at FROM pairing_codes
             WHERE approved_at IS NULL AND expires_at > ?1 ORDER BY created_at",
            )?;
            let rows = st
                .query_map(params![now_str()], |r| {
                    Ok(PendingPairing {
                        code: r.get(0)?,
                        user_id: r.get(1)?,
                        username: r.get(2)?,
                        expires_at: r.get(3)?,
                    })
                })?
                .collect::<Result<Vec<_>, _>>();
            rows
        })
        .await?)
}

/// Approve a code (operator, on the machine). Returns the admitted user, or why not.
pub async fn approve_pairing(
    store: &Store,
    code: &str,
) -> anyhow::Result<Result<i64, &'static str>> {
    let code = code.trim().to_ascii_uppercase();
    let now = now_str();
    Ok(store.tx(move |tx| {
        let row: Option<(i64, Option<String>, String, Option<String>)> = tx
            .query_row(
                "SELECT user_id, username, expires_at, approved_at FROM pairing_codes WHERE code = ?1",
                params![code],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()?;
        let Some((user_id, username, expires, approved)) = row else {
            return Ok(Err("no such pairing code"));
        };
        if approved.is_some() {
            return Ok(Err("this code was already approved"));
        }
        if expires <= now {
            return Ok(Err("this code has expired; ask the user to message the bot again"));
        }
        tx.execute("UPDATE pairing_codes SET approved_at = ?2 WHERE code = ?1", params![code, now])?;
        tx.execute(
            "INSERT INTO paired_users (user_id, username, approved_at, code) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(user_id) DO UPDATE SET approved_at = excluded.approved_at, code = excluded.code",
            params![user_id, username, now, code],
        )?;
        Ok(Ok(user_id))
    }).await?)
}

/// Users admitted by pairing.
pub async fn paired_users(store: &Store) -> anyhow::Result<Vec<i64>> {
    Ok(store
        .query(move |tx| {
            let mut st = tx.prepare("SELECT user_id FROM paired_users")?;
            let rows = st
                .query_map([], |r| r.get(0))?
                .collect::<Result<Vec<i64>, _>>();
            rows
        })
        .await?)
}

/// Everyone who may use the bot: `ALLOWED_USERS` plus approved pairings. If the pairings
/// cannot be read, only the configured users count (fail closed).
pub async fn allowed_users(configured: &[i64], store: &Store) -> std::collections::HashSet<i64> {
    let mut set: std::collections::HashSet<i64> = configured.iter().copied().collect();
    match paired_users(store).await {
        Ok(p) => set.extend(p),
        Err(e) => tracing::error!(error = %e, "reading paired users failed"),
    }
    set
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth() -> (Store, Auth) {
        let store = Store::open_in_memory().unwrap();
        let a = Auth::new(
            store.clone(),
            SecretString::from("k".repeat(40)),
            Duration::from_secs(3600),
        );
        (store, a)
    }

    #[tokio::test]
    async fn token_is_single_use_and_bound_to_its_user() {
        let (store, a) = auth();
        let t = a.issue(7, Duration::from_secs(60)).await.unwrap();
        assert!(t.starts_with(TOKEN_PREFIX) && t.len() == 68);
        // Only the keyed hash is stored.
        let stored: String = store
            .tx(move |tx| tx.query_row("SELECT token_hash FROM auth_tokens", [], |r| r.get(0)))
            .await
            .unwrap();
        assert!(!stored.contains(&t[4..]));
        assert_eq!(a.login(8, &t).await.unwrap(), Err(LoginError::WrongUser));
        assert!(!a.check_session(7).await.unwrap());
        assert_eq!(a.login(7, &t).await.unwrap(), Ok(()));
        assert!(a.check_session(7).await.unwrap());
        assert_eq!(
            a.login(7, &t).await.unwrap(),
            Err(LoginError::Used),
            "replay"
        );
        assert!(a.logout(7).await.unwrap());
        assert!(!a.check_session(7).await.unwrap());
    }

    #[tokio::test]
    async fn malformed_unknown_expired_revoked() {
        let (_, a) = auth();
        assert_eq!(
            a.login(7, "hello").await.unwrap(),
            Err(LoginError::Malformed)
        );
        assert_eq!(
            a.login(7, &new_token()).await.unwrap(),
            Err(LoginError::Unknown)
        );
        let t = a.issue(7, Duration::ZERO).await.unwrap();
        assert_eq!(a.login(7, &t).await.unwrap(), Err(LoginError::Expired));
        let t = a.issue(7, Duration::from_secs(60)).await.unwrap();
        assert_eq!(a.revoke_user(7).await.unwrap(), 2);
        assert_eq!(a.login(7, &t).await.unwrap(), Err(LoginError::Revoked));
        // A token hashed under another secret is unknown here.
        let other = Auth::new(
            Store::open_in_memory().unwrap(),
            SecretString::from("x".repeat(40)),
            Duration::from_secs(1),
        );
        let t2 = other.issue(7, Duration::from_secs(60)).await.unwrap();
        assert_eq!(a.login(7, &t2).await.unwrap(), Err(LoginError::Unknown));
    }

    #[tokio::test]
    async fn session_expires_with_inactivity() {
        let store = Store::open_in_memory().unwrap();
        let a = Auth::new(
            store.clone(),
            SecretString::from("k".repeat(40)),
            Duration::from_secs(3600),
        );
        let t = a.issue(7, Duration::from_secs(60)).await.unwrap();
        a.login(7, &t).await.unwrap().unwrap();
        store
            .tx(move |tx| {
                tx.execute(
                    "UPDATE auth_sessions SET last_seen = '2000-01-01T00:00:00.000Z'",
                    [],
                )
            })
            .await
            .unwrap();
        assert!(!a.check_session(7).await.unwrap());
        assert!(!a.check_session(7).await.unwrap(), "and it stays ended");
    }

    #[test]
    fn constant_time_compare() {
        assert!(constant_time_eq("abc", "abc"));
        assert!(!constant_time_eq("abc", "abd"));
        assert!(!constant_time_eq("abc", "abcd"));
        assert!(!constant_time_eq("", "a"));
    }

    #[tokio::test]
    async fn pairing_limits_and_approval() {
        let store = Store::open_in_memory().unwrap();
        let PairingOutcome::Code(c1) = request_pairing(&store, 1, Some("a")).await.unwrap() else {
            panic!()
        };
        assert_eq!(c1.len(), CODE_LEN);
        assert!(c1.bytes().all(|b| CODE_ALPHABET.contains(&b)));
        assert!(matches!(
            request_pairing(&store, 1, None).await.unwrap(),
            PairingOutcome::Code(_)
        ));
        assert_eq!(
            request_pairing(&store, 1, None).await.unwrap(),
            PairingOutcome::Exhausted,
            "at most twice"
        );
        assert!(matches!(
            request_pairing(&store, 2, None).await.unwrap(),
            PairingOutcome::Code(_)
        ));
        assert_eq!(
            request_pairing(&store, 3, None).await.unwrap(),
            PairingOutcome::Busy,
            "at most 3 pending"
        );
        assert_eq!(pending_pairings(&store).await.unwrap().len(), 3);

        assert_eq!(
            approve_pairing(&store, "NOPE1234").await.unwrap(),
            Err("no such pairing code")
        );
        assert_eq!(
            approve_pairing(&store, &c1.to_lowercase()).await.unwrap(),
            Ok(1)
        );
        assert!(
            approve_pairing(&store, &c1).await.unwrap().is_err(),
            "not twice"
        );
        assert_eq!(paired_users(&store).await.unwrap(), vec![1]);

        store
            .tx(move |tx| {
                tx.execute(
                    "UPDATE pairing_codes SET expires_at = '2000-01-01T00:00:00.000Z'",
                    [],
                )
            })
            .await
            .unwrap();
        let pending = pending_pairings(&store).await.unwrap();
        assert!(pending.is_empty(), "expired codes are not pending");
        assert!(matches!(
            request_pairing(&store, 3, None).await.unwrap(),
            PairingOutcome::Code(_)
        ));
    }

    #[test]
    fn codes_are_random() {
        let a: std::collections::HashSet<String> = (0..200).map(|_| new_code()).collect();
        assert_eq!(a.len(), 200);
    }
}
