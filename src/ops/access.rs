//! Who may use the bot, from the machine's side: login tokens, pairing approvals, TOTP
//! enrolment and lifting lockouts.
//!
//! Why a file of its own: these verbs change who gets in, so each one leaves an audit row and
//! the operator a clear answer; the mechanisms themselves live in `auth`, `approval::totp` and
//! the store.

use std::time::Duration;

use anyhow::bail;

use super::Report;
use crate::auth;
use crate::config::Config;
use crate::store::{NewOutbox, Store};

/// `token issue`: a one-time login token for `user`, valid for `ttl`.
pub async fn token_issue(
    store: &Store,
    config: &Config,
    user: i64,
    ttl: Duration,
) -> anyhow::Result<Report> {
    if config.auth_token_secret.is_none() {
        bail!("AUTH_TOKEN_SECRET is not set; token auth needs it");
    }
    let mut report = Report::default();
    if !config.enable_token_auth {
        report.note("note: ENABLE_TOKEN_AUTH is off; the token works once it is turned on");
    }
    // Hashed with the current value: after `ccgate rotate auth-secret`, the rotated one.
    let live = crate::secrets::Secrets::load(config, store).await?;
    let token = auth::Auth::with_secrets(store.clone(), live, config.session_timeout)
        .issue(user, ttl)
        .await?;
    crate::audit::try_record(
        store,
        None,
        None,
        crate::audit::Event::TokenIssued,
        &serde_json::json!({"for_user": user, "ttl_secs": ttl.as_secs()}),
    )
    .await?;
    report.line(token.to_string()).note(format!(
        "Send it to the bot as: /login {token}  (valid {}s, single use)",
        ttl.as_secs()
    ));
    Ok(report)
}

/// `token revoke`: end `user`'s unused tokens and session.
pub async fn token_revoke(store: &Store, config: &Config, user: i64) -> anyhow::Result<Report> {
    let Some(secret) = config.auth_token_secret.clone() else {
        bail!("AUTH_TOKEN_SECRET is not set");
    };
    let n = auth::Auth::new(store.clone(), secret, config.session_timeout)
        .revoke_user(user)
        .await?;
    crate::audit::try_record(
        store,
        None,
        None,
        crate::audit::Event::TokenRevoked,
        &serde_json::json!({"for_user": user, "count": n}),
    )
    .await?;
    let mut report = Report::default();
    report.line(format!(
        "revoked {n} token(s) of user {user}; any session ended"
    ));
    Ok(report)
}

/// `pair list`: pending pairing requests.
pub async fn pair_list(store: &Store) -> anyhow::Result<Report> {
    let pending = auth::pending_pairings(store).await?;
    let mut report = Report::default();
    if pending.is_empty() {
        report.line("no pending pairing requests");
    }
    for p in pending {
        report.line(format!(
            "{}  user {}  {}  expires {}",
            p.code,
            p.user_id,
            p.username.map(|u| format!("@{u}")).unwrap_or_default(),
            p.expires_at
        ));
    }
    Ok(report)
}

/// `pair approve`: admit the user who received `code`, and tell them (a durable outbox row the
/// running bot delivers).
pub async fn pair_approve(store: &Store, config: &Config, code: &str) -> anyhow::Result<Report> {
    let mut report = Report::default();
    match auth::approve_pairing(store, code).await? {
        Ok(user) => {
            crate::audit::try_record(
                store,
                Some(user),
                None,
                crate::audit::Event::PairingApproved,
                &serde_json::json!({"code": code}),
            )
            .await?;
            store.complete_updates(
                &[],
                &[NewOutbox {
                    chat_id: user,
                    thread_id: 0,
                    html: "✅ You're in: the operator approved your pairing request. Send a message to start, or /help.".into(),
                    reply_to: None,
                }],
            ).await?;
            report.line(format!(
                "user {user} may now use the bot (role: {}); they are told so by the running bot",
                config.role_of(user)
            ));
        }
        Err(why) => {
            report.note(format!("ccgate: {why}")).fail();
        }
    }
    Ok(report)
}

/// `totp enroll`: a new TOTP secret for `user`, shown as a QR code, text and URI.
pub async fn totp_enroll(store: &Store, user: i64) -> anyhow::Result<Report> {
    use crate::approval::totp;
    let secret = totp::TotpSecret::generate();
    store.set_totp_secret(user, &secret.to_base32()).await?;
    crate::audit::try_record(
        store,
        Some(user),
        None,
        crate::audit::Event::TotpEnrolled,
        &serde_json::json!({}),
    )
    .await?;
    let uri = secret.otpauth_uri(&format!("user-{user}"));
    let mut report = Report::default();
    report
        .line(totp::qr_for_terminal(&uri))
        .line(format!("secret: {}", secret.to_base32()))
        .line(format!("uri:    {uri}"))
        .note("Scan the QR code (or type the secret) into an authenticator app. Any earlier secret of this user no longer works.");
    Ok(report)
}

/// `unlock`: lift `user`'s lockout, automatic or manual.
pub async fn unlock(store: &Store, user: i64) -> anyhow::Result<Report> {
    let lifted = store.unlock(user).await?;
    crate::audit::try_record(
        store,
        Some(user),
        None,
        crate::audit::Event::Unlock,
        &serde_json::json!({"was_locked": lifted}),
    )
    .await?;
    let mut report = Report::default();
    report.line(if lifted {
        "lockout lifted"
    } else {
        "that user was not locked out"
    });
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        super::super::test_config(&[("AUTH_TOKEN_SECRET", "0123456789abcdef0123456789abcdef")]).1
    }

    #[tokio::test]
    async fn an_issued_token_is_audited_and_revoking_counts_it() {
        let store = Store::open_in_memory().unwrap();
        let c = config();
        let r = token_issue(&store, &c, 5, Duration::from_secs(60))
            .await
            .unwrap();
        let token = r.stdout().trim().to_string();
        assert!(token.starts_with("ccg_"), "{token}");
        assert!(
            r.stderr().contains(&format!("/login {token}  (valid 60s")),
            "{}",
            r.stderr()
        );
        assert_eq!(store.audit_count("token_issued").await.unwrap(), 1);
        let r = token_revoke(&store, &c, 5).await.unwrap();
        assert_eq!(
            r.stdout(),
            "revoked 1 token(s) of user 5; any session ended\n"
        );
    }

    #[tokio::test]
    async fn tokens_need_the_secret() {
        let store = Store::open_in_memory().unwrap();
        let mut c = config();
        c.auth_token_secret = None;
        let e = token_issue(&store, &c, 5, Duration::from_secs(60))
            .await
            .unwrap_err();
        assert!(e.to_string().contains("AUTH_TOKEN_SECRET"), "{e}");
        assert_eq!(store.audit_count("token_issued").await.unwrap(), 0);
    }

    #[tokio::test]
    async fn an_unknown_pairing_code_is_a_no_not_an_error() {
        let store = Store::open_in_memory().unwrap();
        let r = pair_approve(&store, &config(), "NOSUCH").await.unwrap();
        assert!(!r.ok);
        assert_eq!(r.stderr(), "ccgate: no such pairing code\n");
        assert_eq!(
            pair_list(&store).await.unwrap().stdout(),
            "no pending pairing requests\n"
        );
    }

    #[tokio::test]
    async fn unlock_says_whether_there_was_a_lockout() {
        let store = Store::open_in_memory().unwrap();
        store.lock_out(5, "too many failures", None).await.unwrap();
        assert_eq!(
            unlock(&store, 5).await.unwrap().stdout(),
            "lockout lifted\n"
        );
        assert_eq!(
            unlock(&store, 5).await.unwrap().stdout(),
            "that user was not locked out\n"
        );
        assert_eq!(store.audit_count("unlock").await.unwrap(), 2);
    }
}
