//! End to end: each security layer, attacked through the running bot and the operator CLI.

mod support;

use std::time::Duration;

use support::{Harness, STRANGER, USER};

/// Run a `ccgate` operator command with the harness configuration; returns (exit code, stdout, stderr).
async fn ccgate(h: &Harness, args: &[&str]) -> (i32, String, String) {
    let out = h.command().args(args).output().await.unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const SECRET: &str = "0123456789abcdef0123456789abcdef-auth-secret";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pairing_code_is_approved_on_the_machine_only() {
    let mut h = Harness::new().await;
    h.start().await;
    let ids: Vec<i64> = (0..4)
        .map(|i| {
            h.tg.inject_message(STRANGER, STRANGER, &format!("hello {i}"))
        })
        .collect();
    let m = h
        .wait_message(STRANGER, "pairing code", |m| {
            m.text.contains("ccgate pair approve")
        })
        .await;
    // The marker: the gate saw all four and every reply it made has gone out.
    h.wait_settled("the four messages", STRANGER, &ids).await;
    assert_eq!(h.audit_count("auth_rejected"), 4);
    assert_eq!(
        h.tg.messages(STRANGER).len(),
        2,
        "at most two codes per stranger"
    );
    let code = m
        .text
        .split("ccgate pair approve ")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .trim_end_matches('.')
        .to_string();
    assert_eq!(code.len(), 8);

    // Approving from chat is impossible: the stranger cannot, and the allowed user's text is a prompt.
    let (rc, out, _) = ccgate(&h, &["pair", "list"]).await;
    assert_eq!(rc, 0);
    assert!(
        out.contains(&code) && out.contains(&STRANGER.to_string()),
        "{out}"
    );
    let (rc, _, err) = ccgate(&h, &["pair", "approve", "WRONG123"]).await;
    assert_ne!(rc, 0);
    assert!(err.contains("no such pairing code"));
    let (rc, out, _) = ccgate(&h, &["pair", "approve", &code]).await;
    assert_eq!(rc, 0, "{out}");

    h.tg.inject_message(STRANGER, STRANGER, "/pwd");
    h.wait_message(STRANGER, "paired user is served", |m| m.text.contains("📂"))
        .await;
    h.wait_message(STRANGER, "told they are in", |m| {
        m.text.contains("You're in")
    })
    .await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_login_is_single_use_deletes_the_token_and_expires() {
    let mut h = Harness::new().await;
    h.set_env("ENABLE_TOKEN_AUTH", "true");
    h.set_env("AUTH_TOKEN_SECRET", SECRET);
    h.start().await;

    h.send("hello without login");
    h.wait_message(USER, "login required", |m| m.text.contains("Please log in"))
        .await;
    assert_eq!(h.model.request_count(), 0);

    let (rc, token, _) = ccgate(
        &h,
        &["token", "issue", "--user", &USER.to_string(), "--ttl", "1h"],
    )
    .await;
    assert_eq!(rc, 0);
    let token = token.trim().to_string();
    assert!(token.starts_with("ccg_"));
    // The database holds only a keyed hash.
    let stored: String = h
        .db()
        .query_row("SELECT token_hash FROM auth_tokens", [], |r| r.get(0))
        .unwrap();
    assert!(!stored.contains(&token[4..]) && stored.len() == 64);

    // Someone else's token does not work for this user.
    let (_, other, _) = ccgate(&h, &["token", "issue", "--user", "999", "--ttl", "1h"]).await;
    h.send(&format!("/login {}", other.trim()));
    h.wait_message(USER, "wrong user's token", |m| m.text.contains("not valid"))
        .await;

    let before = h.tg.calls_to("deleteMessage").len();
    let login_msg = h.send(&format!("/login {token}"));
    let _ = login_msg;
    h.wait_message(USER, "logged in", |m| m.text.contains("Logged in"))
        .await;
    h.tg.wait_for(Duration::from_secs(5), "token message deleted", |tg| {
        tg.calls_to("deleteMessage").len() > before
    })
    .await;
    h.send("now a prompt");
    h.wait_message(USER, "prompt runs", |m| {
        m.text.contains("FAKE: you said now a prompt")
    })
    .await;

    h.send("/logout");
    h.wait_message(USER, "logged out", |m| m.text.contains("Logged out"))
        .await;
    h.send(&format!("/login {token}"));
    let replays = |h: &Harness| {
        h.tg.messages(USER)
            .iter()
            .filter(|m| m.text.contains("not valid"))
            .count()
    };
    h.wait_message(USER, "replay refused", |m| {
        m.text.contains("not valid") && replays(&h) >= 2
    })
    .await;

    let (_, short, _) = ccgate(
        &h,
        &["token", "issue", "--user", &USER.to_string(), "--ttl", "1s"],
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    h.send(&format!("/login {}", short.trim()));
    h.wait_message(USER, "expired refused", |_| replays(&h) >= 3)
        .await;

    let count = |e: &str| h.audit_count(e);
    assert_eq!(count("token_replay"), 1);
    assert_eq!(count("token_expired"), 1);
    assert_eq!(count("token_invalid"), 1);
    assert_eq!(count("login"), 1);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_bucket_exhaustion() {
    let mut h = Harness::new().await;
    h.set_env("RATE_LIMIT_REQUESTS", "1");
    h.set_env("RATE_LIMIT_WINDOW", "3600");
    h.set_env("RATE_LIMIT_BURST", "2");
    h.start().await;
    let ids: Vec<i64> = (0..5).map(|_| h.send("/pwd")).collect();
    h.wait_message(USER, "slow down", |m| m.text.contains("Too many messages"))
        .await;
    // The marker: all five were handled and every reply to them has gone out.
    h.wait_settled("the five messages", USER, &ids).await;
    let texts: Vec<String> = h.tg.messages(USER).into_iter().map(|m| m.text).collect();
    assert_eq!(
        texts.iter().filter(|t| t.contains("📂")).count(),
        2,
        "{texts:?}"
    );
    assert_eq!(
        texts.iter().filter(|t| t.contains("Too many")).count(),
        1,
        "told once: {texts:?}"
    );
    let limited: i64 = h
        .db()
        .query_row(
            "SELECT COUNT(*) FROM audit_log WHERE event = 'rate_limited'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(limited, 3);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn budget_exhaustion_stops_new_requests() {
    let mut h = Harness::new().await;
    h.set_env("CLAUDE_MAX_COST_PER_USER", "0.000001");
    h.start().await;
    h.send("first is within budget");
    h.wait_message(USER, "first", |m| m.text.contains("FAKE: you said first"))
        .await;
    h.send("second is over");
    let m = h
        .wait_message(USER, "budget refusal", |m| {
            m.text.contains("budget is used up")
        })
        .await;
    assert!(m.text.contains("resets at"), "{}", m.text);
    assert_eq!(h.model.request_count(), 1, "nothing ran");
    // It holds across a restart: the ledger is persisted.
    h.stop().await;
    h.start().await;
    h.send("third after restart");
    h.wait_message(USER, "still refused", |m| {
        m.text.contains("budget is used up") && m.text.contains("$0.0")
    })
    .await;
    assert_eq!(h.model.request_count(), 1);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viewers_cannot_write() {
    let mut h = Harness::new().await;
    h.set_env("USER_ROLES", &format!("{USER}:viewer"));
    h.start().await;
    h.send("/cd proj");
    h.wait_message(USER, "cd", |m| m.text.contains("Now in proj"))
        .await;
    h.send(r#"[[tool:Write:{"file_path":"viewer.txt","content":"x"}]]"#);
    h.wait_message(USER, "write refused", |m| {
        m.text.contains("FAKE: tool error was")
    })
    .await;
    assert!(!h.approved().join("proj/viewer.txt").exists());
    // Writes are not even offered to the model in a viewer's session.
    let tools = h.model.requests().last().unwrap()["tools"].to_string();
    assert!(
        !tools.contains("\"name\":\"Write\""),
        "Write tool still offered"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_in_answers_are_redacted_before_telegram() {
    let mut h = Harness::new().await;
    h.start().await;
    let token = h.token.clone();
    h.send(&format!(
        "[[text:the bot token is {token} and the url https://api.telegram.org/bot{token}/getMe]]"
    ));
    let m = h
        .wait_message(USER, "answer", |m| m.text.contains("the bot token is"))
        .await;
    assert!(!m.text.contains(&token), "{}", m.text);
    assert!(m.text.contains("[REDACTED"), "{}", m.text);
    assert!(!h.log().contains(&token));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_chain_tampering_is_detected_by_the_cli() {
    let mut h = Harness::new().await;
    h.start().await;
    h.tg.inject_message(STRANGER, STRANGER, "knock knock");
    for c in ["/pwd", "/cd /etc", "/ls"] {
        h.send(c);
    }
    h.wait_message(USER, "ls", |m| {
        m.text.contains("README") || m.text.contains("proj/")
    })
    .await;
    h.stop().await;

    let (rc, out, _) = ccgate(&h, &["audit", "verify"]).await;
    assert_eq!(rc, 0, "{out}");
    assert!(out.contains("intact"), "{out}");
    let (rc, out, _) = ccgate(&h, &["audit", "export", "--json"]).await;
    assert_eq!(rc, 0);
    let rows: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(rows.iter().any(|r| r["event"] == "auth_rejected"));
    assert!(rows.iter().any(|r| r["event"] == "path_rejected"));
    let (rc, out, _) = ccgate(&h, &["audit", "tail", "-n", "2"]).await;
    assert_eq!(rc, 0);
    assert_eq!(out.lines().count(), 2);

    // Someone with database access rewrites history.
    let target = rows[1]["id"].as_i64().unwrap();
    let db = rusqlite::Connection::open(h.db_path()).unwrap();
    db.execute(
        "UPDATE audit_log SET details = '{\"innocent\":true}' WHERE id = ?1",
        [target],
    )
    .unwrap();
    drop(db);
    let (rc, out, _) = ccgate(&h, &["audit", "verify"]).await;
    assert_eq!(rc, 1);
    assert!(out.contains(&format!("BROKEN at row {target}")), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dangerous_configuration_is_refused_at_start() {
    let mut h = Harness::new().await;
    let home = h.tmp.path().join("home").display().to_string();
    for (var, val, expect) in [
        ("APPROVED_DIRECTORY", "/", "APPROVED_DIRECTORY"),
        ("APPROVED_DIRECTORY", "/etc", "APPROVED_DIRECTORY"),
        ("APPROVED_DIRECTORY", home.as_str(), "APPROVED_DIRECTORY"),
        ("SECRET_FILE_PATTERNS", "!**/.env", "SECRET_FILE_PATTERNS"),
        ("ENABLE_TOKEN_AUTH", "true", "AUTH_TOKEN_SECRET"),
        ("ALLOWED_GROUPS", "12345", "ALLOWED_GROUPS"),
        ("USER_ROLES", "1:root", "USER_ROLES"),
        ("CLAUDE_MAX_COST_PER_USER", "-3", "CLAUDE_MAX_COST_PER_USER"),
        ("API_SERVER_BIND", "everywhere", "API_SERVER_BIND"),
        (
            "TELEGRAM_WEBHOOK_URL",
            "http://bot.example/hook",
            "TELEGRAM_WEBHOOK_URL",
        ),
        ("GITHUB_WEBHOOK_SECRET", "short", "GITHUB_WEBHOOK_SECRET"),
        ("WEBHOOK_MAX_BODY_BYTES", "10", "WEBHOOK_MAX_BODY_BYTES"),
        (
            "SCHEDULER_TIMEZONE",
            "Mars/Olympus_Mons",
            "SCHEDULER_TIMEZONE",
        ),
        // tracing would read a bare word as a target and silently drop every other log line.
        ("LOG_LEVEL", "verbose", "LOG_LEVEL"),
        ("LOG_LEVEL", "info,ccgate=loud", "LOG_LEVEL"),
    ] {
        let saved = h.extra_env.clone();
        h.set_env(var, val);
        let (rc, _, err) = ccgate(&h, &["check"]).await;
        assert_eq!(rc, 2, "{var}={val}: {err}");
        assert!(err.contains(expect), "{var}={val}: {err}");
        h.extra_env = saved;
    }

    // `check` (alias `doctor`) also validates the trigger file: a project outside fails.
    let triggers = h.tmp.path().join("triggers.toml");
    std::fs::write(
        &triggers,
        "[[trigger]]\nname=\"x\"\nprovider=\"ci\"\nevent=\"e\"\nproject=\"../..\"\nchats=[1]\nprompt=\"p\"\n",
    )
    .unwrap();
    let saved = h.extra_env.clone();
    h.set_env("TRIGGERS_FILE", triggers.to_str().unwrap());
    let (rc, out, _) = ccgate(&h, &["doctor"]).await;
    assert_eq!(rc, 2, "{out}");
    assert!(out.contains("FAIL  triggers"), "{out}");
    h.extra_env = saved;

    // Secrets may come from files; both forms at once is ambiguous.
    let token_file = h.tmp.path().join("token.txt");
    std::fs::write(&token_file, format!("{}\n", h.token)).unwrap();
    // Owner-only, as a secret file must be (a readable one is reported: below, and
    // tests/secrets.rs).
    std::fs::set_permissions(
        &token_file,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    h.set_env("TELEGRAM_BOT_TOKEN_FILE", token_file.to_str().unwrap());
    let (rc, _, err) = ccgate(&h, &["check"]).await;
    assert_eq!(rc, 2);
    assert!(err.contains("not both"), "{err}");
    h.set_env("TELEGRAM_BOT_TOKEN", "");
    h.start().await;
    h.send("/pwd");
    h.wait_message(USER, "works with a token file", |m| m.text.contains("📂"))
        .await;
    h.stop().await;

    // The database is created owner-only; loosened permissions are reported at start.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(h.db_path()).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert!(!h.log().contains("readable by other users"));
    std::fs::set_permissions(h.db_path(), std::fs::Permissions::from_mode(0o644)).unwrap();
    h.start().await;
    h.stop().await;
    assert!(
        h.log().contains(&format!(
            "the database ({}) is readable by other users (mode 644)",
            h.db_path().display()
        )),
        "{}",
        h.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_rejections_alerts_admins_and_locks_the_user_out() {
    let mut h = Harness::new().await;
    h.set_env("USER_ROLES", &format!("{}:admin", support::OTHER_USER));
    h.start().await;
    for _ in 0..10 {
        h.send("/cd /etc");
    }
    let alert = h
        .wait_message(support::OTHER_USER, "alert to the admin", |m| {
            m.text.contains("Security alert")
        })
        .await;
    assert!(
        alert.text.contains("rejection_burst") && alert.text.contains(&USER.to_string()),
        "{}",
        alert.text
    );
    // Locked out: nothing more is answered (once the ten refusals queued before have gone out).
    let refusals = |h: &Harness| {
        h.tg.messages(USER)
            .iter()
            .filter(|m| m.text.contains("Cannot change"))
            .count()
    };
    h.wait_message(USER, "all ten refusals", |_| refusals(&h) == 10)
        .await;
    let locked = h.send("/pwd");
    // The marker: the gate dropped it as locked out and ccgate is done with it.
    h.wait_settled("the locked-out message", USER, &[locked])
        .await;
    assert_eq!(h.audit_count("lockout_blocked"), 1);
    assert_eq!(
        h.tg.messages(USER).len(),
        10,
        "locked-out user gets no reply"
    );
    let db = h.db();
    let lockouts: i64 = db
        .query_row(
            "SELECT COUNT(*) FROM audit_log WHERE event = 'lockout' AND risk = 'critical'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(lockouts, 1);

    let (rc, out, _) = ccgate(&h, &["unlock", "--user", &USER.to_string()]).await;
    assert_eq!(rc, 0, "{out}");
    h.send("/pwd");
    h.wait_message(USER, "served again", |m| m.text.starts_with("📂"))
        .await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_tool_call_is_decided_by_ccgate_even_reads_the_cli_would_allow() {
    let mut h = Harness::new().await;
    let proj = h.approved().join("proj");
    std::fs::write(proj.join(".env"), "API_KEY=topsecret-value-123").unwrap();
    h.start().await;
    h.send("/cd proj");
    h.wait_message(USER, "cd", |m| m.text.contains("Now in proj"))
        .await;

    // A plain read inside the project: allowed, but by ccgate, not by the CLI's defaults.
    h.send(&format!(
        r#"[[tool:Read:{{"file_path":"{}"}}]]"#,
        proj.join("README.md").display()
    ));
    h.wait_message(USER, "read ok", |m| {
        m.text.contains("FAKE: tool result was")
    })
    .await;
    // A read of the secret file inside the project: the CLI would allow it; ccgate refuses.
    h.send(&format!(
        r#"[[tool:Read:{{"file_path":"{}"}}]]"#,
        proj.join(".env").display()
    ));
    let m = h
        .wait_message(USER, "secret read refused", |m| {
            m.text.contains("FAKE: tool error was")
        })
        .await;
    assert!(m.text.contains("secret"), "{}", m.text);
    assert!(!m.text.contains("topsecret"));
    // A harmless shell command is decided by ccgate too.
    h.send(r#"[[tool:Bash:{"command":"echo hi","description":"x"}]]"#);
    h.wait_message(USER, "echo", |m| {
        m.text.contains("FAKE: tool result was: hi")
    })
    .await;

    let decisions: Vec<(String, String)> = h
        .db()
        .prepare("SELECT tool_name, decision FROM tool_usage ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        decisions,
        vec![
            ("Read".to_string(), "allow".to_string()),
            ("Read".to_string(), "deny".to_string()),
            ("Bash".to_string(), "allow".to_string())
        ]
    );
    // Nothing of the secret reached the model either.
    assert!(!h
        .model
        .requests()
        .iter()
        .any(|r| r.to_string().contains("topsecret")));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn updates_from_bots_are_dropped_whatever_their_id() {
    let mut h = Harness::new().await;
    h.start().await;
    let dropped = |h: &Harness| -> i64 {
        h.db()
            .query_row(
                "SELECT COUNT(*) FROM audit_log WHERE event = 'bot_sender_dropped'",
                [],
                |r| r.get(0),
            )
            .unwrap()
    };
    // A bot carrying the allowed user's id: a prompt, an edit, a channel post.
    h.tg.inject_bot_message(USER, USER, "[[text:BOT-PROMPT-ONE]]");
    h.tg.inject_update(serde_json::json!({"edited_message": {
        "message_id": 77, "date": 0, "edit_date": 1, "text": "[[text:BOT-PROMPT-TWO]]",
        "from": {"id": USER, "is_bot": true, "first_name": "B"},
        "chat": {"id": USER, "type": "private"}}}));
    h.tg.inject_update(serde_json::json!({"channel_post": {
        "message_id": 78, "date": 0, "text": "[[text:BOT-PROMPT-THREE]]",
        "from": {"id": USER, "is_bot": true, "first_name": "B"},
        "sender_chat": {"id": -100300, "type": "channel", "title": "c"},
        "chat": {"id": -100300, "type": "channel", "title": "c"}}}));
    // The human's call asks; a bot with the human's id presses "Allow once".
    h.send(r#"[[tool:Bash:{"command":"curl -s http://127.0.0.1:9/bot-press","description":"x"}]]"#);
    let p = h
        .wait_message(USER, "an approval prompt", |m| {
            m.text.contains("Approval needed") && m.reply_markup.is_some()
        })
        .await;
    let allow = support::button_data(&p, "Allow once");
    h.tg.inject_bot_callback(USER, USER, p.message_id, &allow);
    support::wait_for("four bot updates audited", || dropped(&h) == 4).await;
    // The prompt is still open: the human decides.
    h.tg.inject_callback(USER, USER, p.message_id, &support::button_data(&p, "Deny"));
    h.wait_message(USER, "denied by the human", |m| {
        m.text.contains("denied by user") && m.text.contains("FAKE: tool")
    })
    .await;
    // And a human message after the bots' still runs.
    h.send("[[text:HUMAN-PROMPT]]");
    h.wait_message(USER, "the human's answer", |m| {
        m.text.contains("HUMAN-PROMPT")
    })
    .await;
    let seen = h
        .model
        .requests()
        .iter()
        .map(|r| r.to_string())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        !seen.contains("BOT-PROMPT"),
        "a bot's prompt reached Claude"
    );
    assert!(h
        .tg
        .messages(USER)
        .iter()
        .all(|m| !m.text.contains("BOT-PROMPT")));
    let db = h.db();
    let decided: String = db
        .query_row(
            "SELECT details FROM audit_log WHERE event = 'approval_decided'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(decided.contains("\"decision\":\"deny\""), "{decided}");
    let kinds: Vec<String> = db
        .prepare("SELECT details FROM audit_log WHERE event = 'bot_sender_dropped' ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for kind in [
        "message",
        "edited_message",
        "channel_post",
        "callback_query",
    ] {
        assert!(
            kinds
                .iter()
                .any(|k| k.contains(&format!("\"kind\":\"{kind}\""))),
            "{kind}: {kinds:?}"
        );
    }
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_in_urls_are_masked_in_messages_audit_rows_and_logs() {
    let mut h = Harness::new().await;
    h.start().await;
    const PW: &str = "Sup3rS3cretPw";
    const LONG_PW: &str = "VeryLongPassword0123456789";
    const TOOL_PW: &str = "T00lCallSecret";
    let last = |h: &Harness| {
        h.tg.messages(USER)
            .iter()
            .map(|m| m.message_id)
            .max()
            .unwrap_or(0)
    };
    h.send(&format!(
        "/schedule add \"0 9 * * *\" deploy https://deployer:{PW}@git.example.com/org/repo.git now"
    ));
    h.wait_message(USER, "first job added", |m| {
        m.text.contains("Job #1 scheduled")
    })
    .await;
    // The listing cuts prompts at 80 characters: here inside the password, before the `@`.
    h.send(&format!(
        "/schedule add \"0 10 * * *\" {} https://ci:{LONG_PW}@ci.example.com/x",
        "x".repeat(50)
    ));
    h.wait_message(USER, "second job added", |m| {
        m.text.contains("Job #2 scheduled")
    })
    .await;
    let mark = last(&h);
    h.send("/schedule list");
    let list = h
        .wait_message(USER, "the job list", |m| {
            m.message_id > mark && m.text.contains("#2")
        })
        .await;
    assert!(
        list.text
            .contains("https://***@git.example.com/org/repo.git"),
        "{}",
        list.text
    );
    assert!(!list.text.contains(PW), "{}", list.text);
    assert!(!list.text.contains("VeryLong"), "{}", list.text);
    assert!(list.text.contains("https://***"), "{}", list.text);

    // A tool call with credentials in its URL: the approval prompt shows the host, not them.
    let mark = last(&h);
    h.send(&format!(
        r#"[[tool:Bash:{{"command":"curl -s https://bob:{TOOL_PW}@127.0.0.1:9/x","description":"x"}}]]"#
    ));
    let p = h
        .wait_message(USER, "an approval prompt", |m| {
            m.message_id > mark && m.text.contains("Approval needed") && m.reply_markup.is_some()
        })
        .await;
    assert!(p.text.contains("https://***@127.0.0.1:9/x"), "{}", p.text);
    h.tg.inject_callback(USER, USER, p.message_id, &support::button_data(&p, "Deny"));
    h.wait_message(USER, "denied", |m| {
        m.text.contains("denied by user") && m.text.contains("FAKE: tool")
    })
    .await;

    // The operator's listing is masked too.
    let (rc, out, _) = ccgate(&h, &["schedule", "list"]).await;
    assert_eq!(rc, 0);
    assert!(out.contains("https://***@git.example.com"), "{out}");
    assert!(!out.contains(PW) && !out.contains(LONG_PW), "{out}");
    h.stop().await;

    // Nothing ccgate wrote down holds them: audit rows, tool records, stored messages, the log.
    let db = h.db();
    for secret in [PW, LONG_PW, TOOL_PW] {
        for table in ["audit_log", "tool_usage", "messages", "outbox"] {
            let n: i64 = db
                .query_row(
                    &format!(
                        "SELECT COUNT(*) FROM {table} WHERE CAST(({}) AS TEXT) LIKE ?1",
                        match table {
                            "audit_log" => "details",
                            "tool_usage" => "input || COALESCE(reason, '')",
                            "messages" => "prompt || COALESCE(response, '')",
                            _ => "html",
                        }
                    ),
                    [format!("%{secret}%")],
                    |r| r.get(0),
                )
                .unwrap();
            assert_eq!(n, 0, "{secret} in {table}");
        }
        assert!(!h.log().contains(secret), "{secret} in the log");
    }
    let recorded: i64 = db
        .query_row(
            "SELECT COUNT(*) FROM tool_usage WHERE input LIKE '%https://***@127.0.0.1:9/x%'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(recorded, 1, "the tool call was recorded, masked");
}
