//! End to end: Telegram faults, rendering limits, the boundaries around Claude, start-up errors.

mod support;

use std::time::{Duration, Instant};

use support::fake_telegram::Fault;
use support::{Harness, OTHER_USER, STRANGER, USER};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_survive_rate_limits_server_errors_and_dropped_connections() {
    let mut h = Harness::new().await;
    h.start().await;
    // The first sends of this chat fail in every way Telegram can fail; the answer still arrives.
    h.tg.fail_next("sendMessage", Fault::RetryAfter(2));
    h.tg.fail_next("sendMessage", Fault::ServerError);
    h.tg.fail_next("sendMessage", Fault::Drop);
    h.tg.fail_next("sendMessage", Fault::BadGateway);
    h.send("/verbose 0");
    let t0 = Instant::now();
    h.wait_message(USER, "the /verbose reply", |m| m.text.contains("set to 0"))
        .await;
    assert!(
        t0.elapsed() >= Duration::from_secs(2),
        "retry_after was honoured"
    );
    let sends = h.tg.calls_to("sendMessage");
    let first_429 = sends.iter().find(|c| c.status == 429).unwrap().at;
    let next = sends.iter().find(|c| c.at > first_429).unwrap().at;
    assert!(
        next - first_429 >= Duration::from_millis(1900),
        "retried too early: {:?}",
        next - first_429
    );

    // Intake survives faults on getUpdates too.
    h.tg.fail_next("getUpdates", Fault::RetryAfter(1));
    h.tg.fail_next("getUpdates", Fault::ServerError);
    h.tg.fail_next("getUpdates", Fault::Drop);
    h.send("still there?");
    h.wait_message(USER, "answer after poll faults", |m| {
        m.text.contains("FAKE: you said still there")
    })
    .await;
    assert_eq!(h.finals(USER).len(), 1);
    h.stop().await;
}

/// Replies in no shape Telegram uses (a gateway's own JSON error, an empty 500, `ok` without a
/// result, a 4xx with a foreign body) are failures like any other: retried, never taken as sent,
/// and the bot keeps working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bot_api_replies_outside_telegrams_error_shape_are_failures_like_any_other() {
    let mut h = Harness::new().await;
    h.start().await;
    for fault in [
        Fault::Raw(500, r#"{"error":"upstream exploded"}"#.into()),
        Fault::Raw(500, String::new()),
        Fault::Raw(200, r#"{"ok":true}"#.into()),
        Fault::Raw(404, r#"{"message":"no route"}"#.into()),
    ] {
        h.tg.fail_next("sendMessage", fault);
    }
    h.send("/verbose 0");
    h.wait_message(USER, "the /verbose reply after odd replies", |m| {
        m.text.contains("set to 0")
    })
    .await;
    let statuses: Vec<u16> =
        h.tg.calls_to("sendMessage")
            .iter()
            .map(|c| c.status)
            .collect();
    assert_eq!(&statuses[..4], &[500, 500, 200, 404], "{statuses:?}");
    assert_eq!(
        h.tg.messages(USER)
            .iter()
            .filter(|m| m.text.contains("set to 0"))
            .count(),
        1,
        "delivered exactly once"
    );
    // The same on the intake side: polling goes on.
    h.tg.fail_next("getUpdates", Fault::Raw(500, r#"{"error":"x"}"#.into()));
    h.tg.fail_next(
        "getUpdates",
        Fault::Raw(200, r#"{"ok":true,"result":{}}"#.into()),
    );
    h.send("still polling?");
    h.wait_message(USER, "answer after odd poll replies", |m| {
        m.text.contains("FAKE: you said still polling")
    })
    .await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_answers_are_split_and_rejected_html_is_resent_as_plain_text() {
    let mut h = Harness::new().await;
    h.start().await;
    let para = "**bold** and `code <x>` & more text here. ".repeat(40);
    let long = format!("{para}\n\n{para}\n\n{para}\n\n{para}");
    h.send(&format!("[[text:{long}]]"));
    h.wait_message(USER, "footer of the long answer", |m| {
        m.text.contains("claude --resume")
    })
    .await;
    let parts: Vec<_> =
        h.tg.messages(USER)
            .into_iter()
            .filter(|m| !m.deleted && m.text.contains("code <x>"))
            .collect();
    assert!(parts.len() >= 2, "split into several messages");
    for p in &parts {
        assert!(p.raw_text.encode_utf16().count() <= 4096);
        assert_eq!(p.parse_mode.as_deref(), Some("HTML"));
    }
    assert!(parts[0].raw_text.contains("<b>bold</b>"));

    // Telegram refuses the HTML of the next answer: it is sent again as plain text.
    h.send("[[sleep:2]] [[text:plain **fallback** please]]");
    let last_id =
        h.tg.messages(USER)
            .iter()
            .map(|m| m.message_id)
            .max()
            .unwrap();
    h.wait_message(USER, "progress of the second turn", |m| {
        !m.deleted && m.message_id > last_id && m.text.contains("Working")
    })
    .await;
    h.tg.fail_next(
        "sendMessage",
        Fault::BadRequest("Bad Request: can't parse entities: Unsupported start tag".into()),
    );
    let m = h
        .wait_message(USER, "plain fallback", |m| m.text.contains("fallback"))
        .await;
    assert_eq!(m.parse_mode, None);
    assert!(m.text.contains("plain fallback please"), "{}", m.text);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strangers_are_ignored_silently_and_audited() {
    let mut h = Harness::new().await;
    h.set_env("PAIRING", "off");
    h.start().await;
    h.tg.inject_message(STRANGER, STRANGER, "let me in");
    h.tg.inject_message(STRANGER, STRANGER, "/status");
    // A stranger pressing a Stop button of someone else's chat.
    h.tg.inject_callback(USER, STRANGER, 1, "stop:1");
    h.send("/pwd");
    h.wait_message(USER, "reply to the allowed user", |m| m.text.contains('.'))
        .await;
    assert!(h.tg.messages(STRANGER).is_empty(), "no reply to a stranger");
    assert!(h.tg.calls_to("answerCallbackQuery").is_empty());
    assert_eq!(h.model.request_count(), 0, "Claude never ran");
    let audited: i64 = h
        .db()
        .query_row(
            "SELECT COUNT(*) FROM audit_log WHERE event = 'auth_rejected' AND user_id = ?1",
            [STRANGER],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(audited, 3);

    // An empty allowlist means nobody, not everybody.
    h.stop().await;
    h.set_env("ALLOWED_USERS", "");
    h.start().await;
    let hello = h.send("hello?");
    // The marker: the gate rejected it (audited) and ccgate is done with it.
    h.wait_settled("the rejected message", USER, &[hello]).await;
    let rejected: i64 = h
        .db()
        .query_row(
            "SELECT COUNT(*) FROM audit_log WHERE event = 'auth_rejected' AND user_id = ?1",
            [USER],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(rejected, 1, "the allowed user of before is rejected now");
    assert_eq!(h.model.request_count(), 0);
    assert_eq!(h.tg.messages(USER).len(), 1, "only the earlier /pwd reply");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tool_calls_outside_the_directory_are_denied_and_claude_sees_why() {
    let mut h = Harness::new().await;
    let outside = h.tmp.path().join("outside.txt");
    h.start().await;
    h.send("/cd proj");
    h.wait_message(USER, "cd", |m| m.text.contains("Now in proj"))
        .await;

    let write = format!(
        r#"[[tool:Write:{{"file_path":"{}","content":"pwned"}}]]"#,
        outside.display()
    );
    h.send(&write);
    let m = h
        .wait_message(USER, "denied write", |m| {
            m.text.contains("FAKE: tool error was")
        })
        .await;
    assert!(
        m.text.contains("ccgate policy"),
        "Claude was told why: {}",
        m.text
    );
    assert!(!outside.exists(), "nothing was written outside");

    h.send(r#"[[tool:Write:{"file_path":"inside.txt","content":"ok"}]]"#);
    h.wait_message(USER, "allowed write", |m| {
        m.text.contains("FAKE: tool result was")
    })
    .await;
    assert_eq!(
        std::fs::read_to_string(h.approved().join("proj/inside.txt")).unwrap(),
        "ok"
    );

    // A shell command reaching outside asks the user; denying it is what Claude sees.
    h.send(r#"[[tool:Bash:{"command":"touch ../../escaped","description":"x"}]]"#);
    let prompt = h
        .wait_message(USER, "approval prompt", |m| {
            m.text.contains("Approval needed")
        })
        .await;
    let deny = support::button_data(&prompt, "Deny");
    h.tg.inject_callback(USER, USER, prompt.message_id, &deny);
    h.wait_message(USER, "denied bash", |m| {
        m.text
            .contains("FAKE: tool error was: ccgate: denied by user")
    })
    .await;
    assert!(!h.tmp.path().join("escaped").exists());

    let decisions: Vec<(String, String)> = h
        .db()
        .prepare("SELECT tool_name, decision FROM tool_usage ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(
        decisions.contains(&("Write".into(), "deny".into())),
        "{decisions:?}"
    );
    assert!(
        decisions.contains(&("Write".into(), "allow".into())),
        "{decisions:?}"
    );
    assert!(
        decisions.contains(&("Bash".into(), "deny".into())),
        "{decisions:?}"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claude_never_sees_the_bot_token_or_other_secrets() {
    let mut h = Harness::new().await;
    h.set_env(
        "AUTH_TOKEN_SECRET",
        "hmac-secret-value-0123456789abcdef0123456789",
    );
    h.set_env("SOME_OTHER_VAR", "not-allowlisted");
    h.start().await;
    let probe = r#"import os; e=os.environ; print('LEAK' if any(k.startswith('TELEGRAM') or 'AAtest' in v or v.startswith('hmac-') or k=='SOME_OTHER_VAR' for k,v in e.items()) else 'CLEAN', 'HOME' in e)"#;
    // Inline code (`python3 -c`) is never allowed unseen; a script file in the project is.
    std::fs::write(h.approved().join("probe.py"), probe).unwrap();
    h.send(r#"[[tool:Bash:{"command":"python3 probe.py","description":"env probe"}]]"#);
    let m = h
        .wait_message(USER, "probe result", |m| m.text.contains("FAKE: tool"))
        .await;
    assert!(m.text.contains("CLEAN True"), "{}", m.text);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_config_exits_2_naming_the_variable_and_second_instance_is_refused() {
    let mut h = Harness::new().await;
    h.set_env("CLAUDE_MAX_TURNS", "lots");
    let out = h.command().arg("run").output().await.unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("CLAUDE_MAX_TURNS"), "{err}");
    assert!(!err.contains(&h.token), "the token is never printed");

    h.set_env("CLAUDE_MAX_TURNS", "5");
    h.start().await;
    let out = h.command().arg("run").output().await.unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("already running"), "{err}");
    assert!(
        !h.log().contains(&h.token),
        "the token never reaches the log"
    );
    h.stop().await;
}

/// The real CLI always honours the interrupt; a hung one must still be stopped. This stand-in
/// starts a turn, then ignores interrupts and SIGINT.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claude_that_ignores_interrupts_is_signalled_then_killed() {
    let mut h = Harness::new().await;
    let stub = h.tmp.path().join("stubborn-claude");
    std::fs::write(
        &stub,
        "#!/usr/bin/env python3\n\
         import json, signal, sys\n\
         signal.signal(signal.SIGINT, signal.SIG_IGN)\n\
         for line in sys.stdin:\n\
         \x20   if json.loads(line).get('type') == 'user':\n\
         \x20       print(json.dumps({'type': 'system', 'subtype': 'init', 'session_id': 'stubborn'}), flush=True)\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&stub, std::fs::Permissions::from_mode(0o755)).unwrap();
    h.set_env("CLAUDE_CLI_PATH", stub.to_str().unwrap());
    h.start().await;
    h.send("hang forever");
    h.wait_progress(USER).await;
    let t0 = Instant::now();
    h.send("/stop");
    let m = h
        .wait_message(USER, "stopped after escalation", |m| {
            m.text.contains("Stopped")
        })
        .await;
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_secs(9),
        "interrupt, then SIGINT, then kill: {took:?}"
    );
    assert!(took < Duration::from_secs(20), "{took:?}");
    assert!(!m.text.contains("FAKE"));
    let log = h.log();
    assert!(
        log.contains("sending SIGINT") && log.contains("killing it"),
        "{log}"
    );
    // The chat still works afterwards (a new process is started for the next message).
    h.send("/status");
    h.wait_message(USER, "status after kill", |m| {
        m.text.contains("not running")
    })
    .await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_retires_every_stale_button_and_says_what_happens() {
    let mut h = Harness::new().await;
    h.start().await;
    // A turn in progress (Stop button) and, in another turn later, an approval prompt.
    h.send("[[sleep:4]] long running");
    let progress = h.wait_progress(USER).await;
    // Crash once ccgate has recorded the message's live buttons (written right after Telegram
    // accepted it).
    support::wait_for("the live buttons recorded", || {
        live_buttons_recorded(&h, progress.message_id)
    })
    .await;
    h.kill().await;
    h.start().await;
    let retired = h
        .wait_message(USER, "the stale progress message retired", |m| {
            m.message_id == progress.message_id && m.text.contains("Interrupted by a restart")
        })
        .await;
    assert!(retired.text.contains("re-running"), "{}", retired.text);
    assert!(retired.reply_markup.is_none(), "the Stop button is gone");
    // The re-run is under way with a new progress message; stop it to move on.
    h.kill().await;
    h.start().await;

    let outside = h.tmp.path().join("needs-approval.txt");
    h.send(&format!(
        r#"[[tool:Bash:{{"command":"touch {}","description":"x"}}]]"#,
        outside.display()
    ));
    let prompt = h
        .wait_message(USER, "an approval prompt", |m| {
            m.text.contains("Approval needed") && m.reply_markup.is_some()
        })
        .await;
    support::wait_for("the prompt's buttons recorded", || {
        live_buttons_recorded(&h, prompt.message_id)
    })
    .await;
    h.stop().await;
    h.start().await;
    let done = h
        .wait_message(USER, "the stale approval retired", |m| {
            m.message_id == prompt.message_id && m.text.contains("ended with a restart")
        })
        .await;
    assert!(done.reply_markup.is_none(), "the Allow buttons are gone");
    assert!(done.text.contains("nothing was approved"), "{}", done.text);
    // The record goes after Telegram accepted the edit (and is written in the background).
    support::wait_for("the retired messages forgotten", || {
        !live_buttons_recorded(&h, progress.message_id)
            && !live_buttons_recorded(&h, prompt.message_id)
    })
    .await;
    let left: i64 = h
        .db()
        .query_row(
            "SELECT COUNT(*) FROM live_messages WHERE message_id IN (?1, ?2)",
            [progress.message_id, prompt.message_id],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(left, 0);
    h.stop().await;
}

/// Has ccgate recorded that message `id` carries live buttons?
fn live_buttons_recorded(h: &Harness, id: i64) -> bool {
    h.db()
        .query_row(
            "SELECT COUNT(*) FROM live_messages WHERE message_id = ?1",
            [id],
            |r| r.get::<_, i64>(0),
        )
        .unwrap_or(0)
        == 1
}

/// Another process holding the database's write lock (the operator CLI, a backup) stalls only
/// the work that must write: Stop presses in two chats are acknowledged at once and interrupt
/// their turns, and while both stopped turns wait to be recorded (one per runtime worker), the
/// bot keeps running (typing); the waiting writes complete when the lock is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_lock_held_by_another_process_does_not_freeze_the_bot() {
    let mut h = Harness::new().await;
    // As many runtime workers as there will be writes waiting for the lock (the two stopped
    // turns): a store that waited on a worker would hold every worker, and typing would stop.
    h.set_env("TOKIO_WORKER_THREADS", "2");
    h.start().await;
    let stop_button = |m: &support::fake_telegram::SentMessage| {
        m.reply_markup.as_ref().unwrap()["inline_keyboard"][0][0]["callback_data"]
            .as_str()
            .unwrap()
            .to_string()
    };
    h.send("[[sleep:30]] slow one");
    let mine = h.wait_progress(USER).await;
    h.tg.inject_message(OTHER_USER, OTHER_USER, "[[sleep:30]] slow other");
    let other = h.wait_progress(OTHER_USER).await;

    // Another process takes the write lock (SQLite's RESERVED lock: other writers wait).
    let locker = rusqlite::Connection::open(h.db_path()).unwrap();
    locker.execute_batch("BEGIN IMMEDIATE").unwrap();
    locker
        .execute(
            "INSERT INTO kv (key, value) VALUES ('held-by-test', '1')",
            [],
        )
        .unwrap();
    let locked_at = Instant::now();
    let acks = |tg: &support::fake_telegram::FakeTelegram| {
        tg.calls_to("answerCallbackQuery")
            .iter()
            .filter(|c| c.params["text"] == "Stopping…")
            .count()
    };
    let acks_before = acks(&h.tg);
    for (chat, progress) in [(USER, &mine), (OTHER_USER, &other)] {
        let pressed = Instant::now();
        h.tg.inject_callback(chat, chat, progress.message_id, &stop_button(progress));
        h.tg.wait_for(
            Duration::from_secs(30),
            "the Stop press acknowledged",
            |tg| acks(tg) > acks_before + usize::from(chat == OTHER_USER),
        )
        .await;
        assert!(
            pressed.elapsed() < Duration::from_millis(1500),
            "the Stop press in chat {chat} waited for the lock: {:?}",
            pressed.elapsed()
        );
    }
    // Both stopped turns now wait to be recorded (queued for the database's writer thread); the
    // runtime still runs: Telegram's typing indicator (renewed every 4 s) goes on.
    let typing = |tg: &support::fake_telegram::FakeTelegram| tg.calls_to("sendChatAction").len();
    let typing_before = typing(&h.tg);
    h.tg.wait_for(Duration::from_secs(30), "typing renewed", |tg| {
        typing(tg) > typing_before
    })
    .await;
    assert!(
        locked_at.elapsed() < Duration::from_millis(4600),
        "typing stalled behind the lock: {:?}",
        locked_at.elapsed()
    );
    // Nothing that must be recorded went out while the lock was held.
    assert!(!h
        .tg
        .messages(USER)
        .iter()
        .any(|m| m.text.contains("Stopped")));
    locker.execute_batch("ROLLBACK").unwrap();

    // Once it is gone, the writes that waited complete: both stopped turns are reported.
    for chat in [USER, OTHER_USER] {
        h.wait_message(chat, "the stopped answer", |m| m.text.contains("Stopped"))
            .await;
    }
    h.stop().await;
}

/// A bot token revoked at @BotFather (Telegram answers 401) stops polling with a message that
/// says what to do, and ccgate exits with a failure, instead of retrying forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_bot_token_stops_polling_with_a_clear_message() {
    let mut h = Harness::new().await;
    h.start().await;
    h.tg.fail_next("getUpdates", Fault::Api(401, "Unauthorized".into()));
    let status = h.wait_exit(Duration::from_secs(20)).await;
    assert!(!status.success(), "a dead token is a failure");
    let log = h.log();
    assert!(
        log.contains("Telegram refused the bot token (401 Unauthorized)")
            && log.contains("put the current token in TELEGRAM_BOT_TOKEN"),
        "{log}"
    );
    let polls = h.tg.calls_to("getUpdates").len();
    assert!(
        h.tg.calls_to("getUpdates").last().unwrap().status == 401,
        "no poll after the refusal ({polls} polls)"
    );
}
