//! End to end: `ccgate rotate` against the running bot. In the overlap window the previous
//! value and the new one are both accepted (GitHub HMAC, generic Bearer + signature, token
//! login); once it has passed only the new one is. The bot is never restarted: it reads the
//! rotation from the database (refreshed every 2 s).

mod support;

use std::time::Duration;

use support::{free_port, hmac_hex, Harness, USER};

const GH_SECRET: &str = "gh-webhook-secret-before-rotation";
const API_SECRET: &str = "generic-webhook-secret-before-rotation";
const AUTH_SECRET: &str = "0123456789abcdef0123456789abcdef-auth-before";
/// Long enough for every "both accepted" check below, short enough to wait out.
const OVERLAP_SECS: u64 = 12;

async fn ccgate(h: &Harness, args: &[&str]) -> (i32, String, String) {
    let out = h.command().args(args).output().await.unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Rotate `which` and return the new value (the report's first line).
async fn rotate(h: &Harness, which: &str) -> String {
    let overlap = format!("{OVERLAP_SECS}s");
    let (rc, out, err) = ccgate(h, &["rotate", which, "--overlap", &overlap]).await;
    assert_eq!(rc, 0, "rotate {which}: {out}\n{err}");
    let new = out.lines().next().unwrap_or_default().trim().to_string();
    assert_eq!(new.len(), 64, "a 64-hex value first: {out}");
    assert!(err.contains("stay accepted until"), "{err}");
    new
}

/// Sends webhooks with a given secret; every request is fresh (no replay refusals).
struct Sender {
    base: String,
    client: reqwest::Client,
    n: std::sync::atomic::AtomicU64,
}

impl Sender {
    fn new(port: u16) -> Sender {
        Sender {
            base: format!("http://127.0.0.1:{port}"),
            client: reqwest::Client::new(),
            n: Default::default(),
        }
    }

    fn next(&self) -> u64 {
        self.n.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }

    async fn wait_up(&self) {
        support::wait_for_async("the HTTP server is up", || async {
            self.client
                .get(format!("{}/healthz", self.base))
                .send()
                .await
                .is_ok_and(|r| r.status() == 200)
        })
        .await;
    }

    /// A GitHub `ping` signed with `secret`: its HTTP status.
    async fn github(&self, secret: &str) -> u16 {
        let n = self.next();
        let body = format!(r#"{{"zen":"rotation {n}","hook_id":{n}}}"#).into_bytes();
        let sig = format!("sha256={}", hmac_hex(secret, &[&body]));
        self.client
            .post(format!("{}/webhooks/github", self.base))
            .header("x-github-event", "ping")
            .header("x-github-delivery", format!("rotation-{n}"))
            .header("x-hub-signature-256", sig)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    /// A generic webhook with `secret` as Bearer and as the timestamp's signing key.
    async fn generic(&self, secret: &str) -> u16 {
        self.generic_mixed(secret, secret).await
    }

    /// A generic webhook with `bearer` as the Bearer token and a signature made with `signer`.
    async fn generic_mixed(&self, bearer: &str, signer: &str) -> u16 {
        let n = self.next();
        let body = format!(r#"{{"event":"rotation","n":{n}}}"#).into_bytes();
        let ts = chrono::Utc::now().timestamp().to_string();
        let sig = format!("sha256={}", hmac_hex(signer, &[ts.as_bytes(), b".", &body]));
        self.client
            .post(format!("{}/webhooks/ci", self.base))
            .header("authorization", format!("Bearer {bearer}"))
            .header("x-ccgate-timestamp", ts)
            .header("x-ccgate-signature", sig)
            .body(body)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }
}

fn accepted(status: u16) -> bool {
    (200..300).contains(&status)
}

/// Log in with `token` and wait for the bot's verdict: true if it logged the user in (then it
/// logs out again, so the next login is a fresh one).
async fn login(h: &Harness, token: &str) -> bool {
    let before = h.last_message_id(USER);
    h.send(&format!("/login {}", token.trim()));
    let verdict = h
        .wait_message(USER, "the login verdict", |m| {
            m.message_id > before && (m.text.contains("Logged in") || m.text.contains("not valid"))
        })
        .await;
    if !verdict.text.contains("Logged in") {
        return false;
    }
    let before = h.last_message_id(USER);
    h.send("/logout");
    h.wait_message(USER, "logged out", |m| {
        m.message_id > before && m.text.contains("Logged out")
    })
    .await;
    true
}

async fn issue_token(h: &Harness) -> String {
    let (rc, out, err) = ccgate(
        h,
        &["token", "issue", "--user", &USER.to_string(), "--ttl", "1h"],
    )
    .await;
    assert_eq!(rc, 0, "{out}{err}");
    out.trim().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_and_new_secrets_are_accepted_in_the_window_and_only_the_new_after_it() {
    let mut h = Harness::new().await;
    let port = free_port();
    h.set_env("ENABLE_API_SERVER", "true");
    h.set_env("API_SERVER_BIND", &format!("127.0.0.1:{port}"));
    h.set_env("GITHUB_WEBHOOK_SECRET", GH_SECRET);
    h.set_env("WEBHOOK_API_SECRET", API_SECRET);
    h.set_env("WEBHOOK_RATE_LIMIT", "1000");
    h.set_env("ENABLE_TOKEN_AUTH", "true");
    h.set_env("AUTH_TOKEN_SECRET", AUTH_SECRET);
    h.start().await;
    let http = Sender::new(port);
    http.wait_up().await;

    // Before any rotation: the configured values, and nothing else.
    assert!(accepted(http.github(GH_SECRET).await));
    assert_eq!(http.github("some-other-github-secret").await, 401);
    assert!(accepted(http.generic(API_SECRET).await));
    assert_eq!(http.generic("some-other-generic-secret").await, 401);
    // Tokens issued under the configured auth secret: one used in the window, one after it.
    let old_in_window = issue_token(&h).await;
    let old_after_window = issue_token(&h).await;

    let gh_new = rotate(&h, "github-secret").await;
    let api_new = rotate(&h, "webhook-secret").await;
    let auth_new = rotate(&h, "auth-secret").await;
    let rotated_at = tokio::time::Instant::now();
    assert!(gh_new != api_new && api_new != auth_new);
    // A token issued now is hashed under the new auth secret.
    let new_token = issue_token(&h).await;

    // The running bot picks the new values up without a restart (positive marker)...
    support::wait_for_async("the new GitHub secret is accepted", || async {
        accepted(http.github(&gh_new).await)
    })
    .await;
    support::wait_for_async("the new generic secret is accepted", || async {
        accepted(http.generic(&api_new).await)
    })
    .await;
    // ...and in the window the previous values still work.
    assert!(accepted(http.github(GH_SECRET).await));
    assert!(accepted(http.generic(API_SECRET).await));
    // Mixing keys is not a match: the new Bearer with the old signing key.
    assert_eq!(
        http.generic_mixed(&api_new, API_SECRET).await,
        401,
        "a Bearer and a signature under different keys"
    );
    assert!(
        login(&h, &new_token).await,
        "a token hashed under the new auth secret"
    );
    assert!(
        login(&h, &old_in_window).await,
        "a token hashed under the previous auth secret, in the window"
    );
    assert!(
        rotated_at.elapsed() < Duration::from_secs(OVERLAP_SECS - 2),
        "the in-window checks took too long to prove anything: {:?}",
        rotated_at.elapsed()
    );

    // After the window: the previous values are refused, the new ones still work.
    tokio::time::sleep_until(rotated_at + Duration::from_secs(OVERLAP_SECS)).await;
    support::wait_for_async("the previous GitHub secret is refused", || async {
        http.github(GH_SECRET).await == 401
    })
    .await;
    assert_eq!(http.generic(API_SECRET).await, 401);
    assert!(accepted(http.github(&gh_new).await));
    assert!(accepted(http.generic(&api_new).await));
    assert!(
        !login(&h, &old_after_window).await,
        "a token hashed under the retired auth secret is no longer valid"
    );
    let another_new = issue_token(&h).await;
    assert!(login(&h, &another_new).await);

    // Audited, and the new values never reached Telegram or the log.
    assert_eq!(h.audit_count("secret_rotated"), 3);
    let log = h.log();
    for v in [&gh_new, &api_new, &auth_new] {
        assert!(!log.contains(v.as_str()), "a rotated value in the log");
        assert!(
            h.tg.messages(USER)
                .iter()
                .all(|m| !m.text.contains(v.as_str())),
            "a rotated value in a chat"
        );
    }
    h.stop().await;
}
