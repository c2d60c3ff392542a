//! End to end: every tool call passes ccgate's policy; asks are answered from the phone.

mod support;

use std::time::Duration;

use support::{button_data, Harness, OTHER_USER, USER};

async fn ccgate(h: &Harness, args: &[&str]) -> (i32, String, String) {
    let out = h.command().args(args).output().await.unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The newest open approval prompt in `chat` after message id `after`.
async fn prompt_after(h: &Harness, chat: i64, after: i64) -> support::fake_telegram::SentMessage {
    h.wait_message(chat, "an approval prompt", |m| {
        m.message_id > after && m.text.contains("Approval needed") && m.reply_markup.is_some()
    })
    .await
}

fn bash(cmd: &str) -> String {
    format!(
        r#"[[tool:Bash:{{"command":{},"description":"x"}}]]"#,
        serde_json::to_string(cmd).unwrap()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_outside_asks_runs_once_approved_and_the_button_cannot_be_replayed() {
    let mut h = Harness::new().await;
    h.start().await;
    let target = h.tmp.path().join("outside-approved.txt");
    let inside = h.approved().join("approved-ran.txt");
    h.send(&bash(&format!(
        "touch {} {}",
        inside.display(),
        target.display()
    )));
    let p = prompt_after(&h, USER, 0).await;
    assert!(p.text.contains("touch"), "{}", p.text);
    let allow = button_data(&p, "Allow once");
    h.tg.inject_callback(USER, USER, p.message_id, &allow);
    let ran = h
        .wait_message(USER, "ran", |m| m.text.contains("FAKE: tool"))
        .await;
    assert!(
        ran.text.contains("Read-only file system"),
        "the OS refused the write outside: {}",
        ran.text
    );
    assert!(inside.exists(), "the approved command ran");
    // Approval is the user experience; the OS boundary still holds: nothing outside changed.
    assert!(
        !target.exists(),
        "an approved command wrote outside the project"
    );

    // The answered prompt lost its buttons; pressing its button again does nothing.
    h.tg.wait_for(Duration::from_secs(10), "buttons removed", |tg| {
        tg.messages(USER)
            .iter()
            .any(|m| m.message_id == p.message_id && m.reply_markup.is_none())
    })
    .await;
    let before = h.model.request_count();
    h.tg.inject_callback(USER, USER, p.message_id, &allow);
    // A different command must ask anew: the old approval id covers only the call it was for.
    let target2 = h.tmp.path().join("outside-second.txt");
    let mark = h.last_message_id(USER);
    h.send(&bash(&format!("touch {}", target2.display())));
    let p2 = prompt_after(&h, USER, mark).await;
    assert_ne!(button_data(&p2, "Allow once"), allow);
    // The stale press has been handled (answered and audited) before we look for its effect;
    // the short pause then gives a wrongly honoured press time to run the command.
    support::wait_for("the stale press answered and audited", || {
        h.tg.unanswered_callbacks().is_empty() && h.audit_count("approval_stale_press") >= 1
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!target2.exists(), "not run without its own approval");
    h.tg.inject_callback(USER, USER, p2.message_id, &button_data(&p2, "Deny"));
    h.wait_message(USER, "denied", |m| {
        m.text.contains("denied by user") && m.text.contains("FAKE: tool")
    })
    .await;
    assert!(!target2.exists());
    assert!(h.model.request_count() > before);
    let count = |e: &str| h.audit_count(e);
    assert_eq!(
        count("approval_stale_press"),
        1,
        "the replayed press was audited"
    );
    assert_eq!(count("approval_decided"), 2);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_answer_in_time_denies() {
    let mut h = Harness::new().await;
    h.set_env("APPROVAL_TIMEOUT", "5");
    h.start().await;
    h.send(&bash("curl -s http://127.0.0.1:9/nothing"));
    let p = prompt_after(&h, USER, 0).await;
    let m = h
        .wait_message(USER, "timeout denial", |m| {
            // The final answer (the progress message may show the denial first).
            m.text.contains("no approval within") && m.text.contains("FAKE: tool")
        })
        .await;
    assert!(m.text.contains("FAKE: tool error was"));
    h.tg.wait_for(Duration::from_secs(10), "prompt marked expired", |tg| {
        tg.messages(USER)
            .iter()
            .any(|m| m.message_id == p.message_id && m.text.contains("Expired"))
    })
    .await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_press_by_someone_else_is_ignored() {
    let mut h = Harness::new().await;
    h.set_env("ALLOWED_GROUPS", "-100200");
    h.start().await;
    h.send(&bash("curl -s http://127.0.0.1:9/x"));
    let p = prompt_after(&h, USER, 0).await;
    // Another allowed user presses the button of USER's approval message.
    h.tg.inject_callback(
        USER,
        OTHER_USER,
        p.message_id,
        &button_data(&p, "Allow once"),
    );
    h.tg.wait_for(Duration::from_secs(10), "press answered", |tg| {
        tg.calls_to("answerCallbackQuery")
            .iter()
            .any(|c| c.params.to_string().contains("cannot answer"))
    })
    .await;
    // Still open: the rightful approver decides.
    h.tg.inject_callback(USER, USER, p.message_id, &button_data(&p, "Deny"));
    h.wait_message(USER, "denied by the requester", |m| {
        m.text.contains("denied by user 4242")
    })
    .await;
    let n: i64 = h
        .db()
        .query_row(
            "SELECT COUNT(*) FROM audit_log WHERE event = 'approval_unauthorized_press'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, 1);
    // Approval prompts never go to a group, even when the request comes from one.
    let mark = h.last_message_id(USER);
    h.tg.inject_message(
        -100200,
        USER,
        &bash("curl -s http://127.0.0.1:9/from-group"),
    );
    prompt_after(&h, USER, mark).await;
    assert!(h
        .tg
        .messages(-100200)
        .iter()
        .all(|m| !m.text.contains("Approval needed")));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dangerous_calls_need_a_fresh_totp_code() {
    let mut h = Harness::new().await;
    h.start().await;
    let (rc, out, _) = ccgate(&h, &["totp", "enroll", "--user", &USER.to_string()]).await;
    assert_eq!(rc, 0);
    let secret_b32 = out
        .lines()
        .find_map(|l| l.strip_prefix("secret: "))
        .unwrap()
        .trim()
        .to_string();
    let secret = ccgate::approval::totp::TotpSecret::from_base32(&secret_b32).unwrap();
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    };

    h.send(&bash("sudo -n true"));
    let p = prompt_after(&h, USER, 0).await;
    assert!(p.text.contains("TOTP required"), "{}", p.text);
    h.tg.inject_callback(USER, USER, p.message_id, &button_data(&p, "Allow once"));
    h.wait_message(USER, "code requested", |m| {
        m.text.contains("Send your 6-digit")
    })
    .await;

    let good = ccgate::approval::totp::code_at(&secret, now());
    let wrong = if good == "000000" { "111111" } else { "000000" };
    h.send(wrong);
    h.wait_message(USER, "wrong code", |m| {
        m.text.contains("Wrong or reused code")
    })
    .await;
    h.send(&good);
    h.wait_message(USER, "accepted", |m| m.text.contains("Code accepted"))
        .await;
    h.wait_message(USER, "the call ran", |m| m.text.contains("FAKE: tool"))
        .await;

    // The same code cannot approve a second dangerous call.
    let mark = h.last_message_id(USER);
    h.send(&bash("sudo -n false"));
    let p2 = prompt_after(&h, USER, mark).await;
    h.tg.inject_callback(USER, USER, p2.message_id, &button_data(&p2, "Allow once"));
    h.wait_message(USER, "code requested again", |m| {
        m.message_id > mark && m.text.contains("Send your 6-digit")
    })
    .await;
    let wrongs = |h: &Harness| {
        h.tg.messages(USER)
            .iter()
            .filter(|m| m.text.contains("Wrong or reused"))
            .count()
    };
    h.send(&good);
    h.wait_message(USER, "reuse refused", |_| wrongs(&h) >= 2)
        .await;
    h.tg.inject_callback(USER, USER, p2.message_id, &button_data(&p2, "Deny"));
    h.wait_message(USER, "denied", |m| {
        m.text.contains("denied by user") && m.text.contains("FAKE: tool")
    })
    .await;

    let count = |e: &str| h.audit_count(e);
    assert_eq!(count("step_up_ok"), 1);
    assert_eq!(count("step_up_failed"), 2);
    // Codes typed into the chat are deleted.
    assert!(h.tg.calls_to("deleteMessage").len() >= 3);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fifteen_minute_grant_is_honoured_listed_revocable_and_expires() {
    let mut h = Harness::new().await;
    h.start().await;
    h.send(&bash("curl -s http://127.0.0.1:9/one"));
    let p = prompt_after(&h, USER, 0).await;
    h.tg.inject_callback(USER, USER, p.message_id, &button_data(&p, "15 min"));
    h.wait_message(USER, "first ran", |m| m.text.contains("FAKE: tool"))
        .await;

    // Same scope (curl), different arguments: allowed by the grant, no prompt.
    let mark = h.last_message_id(USER);
    h.send(&bash("curl -s http://127.0.0.1:9/two"));
    h.wait_message(USER, "second ran", |m| {
        m.message_id > mark && m.text.contains("FAKE: tool")
    })
    .await;
    assert!(
        !h.tg
            .messages(USER)
            .iter()
            .any(|m| m.message_id > mark && m.text.contains("Approval needed")),
        "no second prompt"
    );
    let rule: String = h
        .db()
        .query_row(
            "SELECT details FROM audit_log WHERE event = 'tool_decision' ORDER BY id DESC LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(rule.contains("grant #1"), "{rule}");
    // Another tool is not covered.
    let mark = h.last_message_id(USER);
    h.send(&bash("wget -q http://127.0.0.1:9/three"));
    let p3 = prompt_after(&h, USER, mark).await;
    h.tg.inject_callback(USER, USER, p3.message_id, &button_data(&p3, "Deny"));
    h.wait_message(USER, "wget denied", |m| {
        m.text.contains("denied by user") && m.text.contains("FAKE: tool")
    })
    .await;

    let list = {
        let mark = h.last_message_id(USER);
        h.send("/grants");
        h.wait_message(USER, "grants", |m| {
            m.message_id > mark && m.text.contains("Active grants")
        })
        .await
        .text
    };
    assert!(
        list.contains("Bash(curl:*)") && list.contains("#1"),
        "{list}"
    );

    // Time passes: the grant expires by itself and curl asks again.
    let db = rusqlite::Connection::open(h.db_path()).unwrap();
    db.execute(
        "UPDATE grants SET expires_at = '2000-01-01T00:00:00.000Z'",
        [],
    )
    .unwrap();
    drop(db);
    let mark = h.last_message_id(USER);
    h.send(&bash("curl -s http://127.0.0.1:9/four"));
    let p4 = prompt_after(&h, USER, mark).await;
    h.tg.inject_callback(
        USER,
        USER,
        p4.message_id,
        &button_data(&p4, "Allow for session"),
    );
    h.wait_message(USER, "fourth ran", |m| {
        m.message_id > p4.message_id && m.text.contains("FAKE: tool")
    })
    .await;

    // A session grant can be revoked; then curl asks again.
    let mark = h.last_message_id(USER);
    h.send("/revoke 2");
    h.wait_message(USER, "revoked", |m| {
        m.message_id > mark && m.text.contains("Grant #2 revoked")
    })
    .await;
    let mark = h.last_message_id(USER);
    h.send(&bash("curl -s http://127.0.0.1:9/five"));
    let p5 = prompt_after(&h, USER, mark).await;
    h.tg.inject_callback(USER, USER, p5.message_id, &button_data(&p5, "Deny"));
    h.wait_message(USER, "fifth denied", |m| {
        m.message_id > p5.message_id && m.text.contains("denied by user")
    })
    .await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_check_cli_explains_decisions() {
    let h = Harness::new().await;
    let check = |json: &'static str| {
        let h = &h;
        async move { ccgate(h, &["policy", "check", json]).await }
    };
    let (rc, out, _) = check(r#"{"tool_name":"Bash","input":{"command":"ls -la"}}"#).await;
    assert_eq!(rc, 0);
    assert!(
        out.contains("decision: allow") && out.contains("rule:     bash.read_only"),
        "{out}"
    );
    let (_, out, _) = check(r#"{"tool_name":"Read","input":{"file_path":"/etc/shadow"}}"#).await;
    assert!(
        out.contains("decision: deny") && out.contains("file.outside_project"),
        "{out}"
    );
    let (_, out, _) = check(r#"{"tool_name":"Bash","input":{"command":"sudo rm -rf /"}}"#).await;
    assert!(
        out.contains("decision: ask") && out.contains("TOTP required"),
        "{out}"
    );
    let (_, out, _) =
        check(r#"{"tool_name":"Bash","input":{"command":"touch x"},"role":"viewer"}"#).await;
    assert!(
        out.contains("decision: deny") && out.contains("role.viewer"),
        "{out}"
    );
    let (rc, _, err) = check(r#"not json"#).await;
    assert_ne!(rc, 0);
    assert!(err.contains("must be JSON"));
    let (rc, out, _) = ccgate(&h, &["policy", "defaults"]).await;
    assert_eq!(rc, 0);
    assert!(out.contains("unparseable = \"deny\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claudes_questions_and_plans_are_answered_with_buttons() {
    let mut h = Harness::new().await;
    h.start().await;
    h.send(r#"[[tool:AskUserQuestion:{"questions":[{"question":"Which color?","header":"Color","options":[{"label":"Red","description":"warm"},{"label":"Blue","description":"cool"}],"multiSelect":false}]}]]"#);
    let q = h
        .wait_message(USER, "question", |m| {
            m.text.contains("Which color?") && m.reply_markup.is_some()
        })
        .await;
    // Someone else cannot answer for the user.
    h.tg.inject_callback(USER, OTHER_USER, q.message_id, &button_data(&q, "Blue"));
    h.tg.inject_callback(USER, USER, q.message_id, &button_data(&q, "Blue"));
    let m = h
        .wait_message(USER, "answer reached Claude", |m| {
            m.text.contains("\"Which color?\"=\"Blue\"")
        })
        .await;
    assert!(m.text.contains("FAKE: tool result was"));

    // Plan mode: Claude proposes a plan; the user approves it with a button.
    h.send(r#"[[tool:EnterPlanMode:{}]]"#);
    let mark = h.last_message_id(USER);
    h.wait_message(USER, "entered plan mode", |m| {
        m.message_id > mark && m.text.contains("FAKE: tool result was")
    })
    .await;
    // In plan mode Claude writes its plan to the CLI's plan file (outside the project): allowed.
    let mark = h.last_message_id(USER);
    h.send(r#"[[tool:Write:{"file_path":"{{PLAN_FILE}}","content":"1. write tests\n2. make them pass"}]]"#);
    let wrote = h
        .wait_message(USER, "plan written", |m| {
            m.message_id > mark && m.text.contains("FAKE: tool")
        })
        .await;
    assert!(wrote.text.contains("tool result was"), "{}", wrote.text);
    let mark = h.last_message_id(USER);
    h.send(r#"[[tool:ExitPlanMode:{}]]"#);
    let plan = h
        .wait_message(USER, "plan", |m| {
            m.message_id > mark && m.text.contains("Claude's plan")
        })
        .await;
    assert!(plan.text.contains("write tests"), "{}", plan.text);
    h.tg.inject_callback(
        USER,
        USER,
        plan.message_id,
        &button_data(&plan, "Approve plan"),
    );
    h.wait_message(USER, "plan approved", |m| {
        m.message_id > plan.message_id && m.text.contains("FAKE: tool result was")
    })
    .await;
    let n: i64 = h
        .db()
        .query_row(
            "SELECT COUNT(*) FROM audit_log WHERE event = 'question_unauthorized_press'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, 1);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn step_up_without_an_authenticator_says_how_to_enrol_and_counts_no_failure() {
    let mut h = Harness::new().await;
    h.start().await;
    h.send(&bash("sudo -n true"));
    let p = prompt_after(&h, USER, 0).await;
    assert!(p.text.contains("TOTP required"), "{}", p.text);
    h.tg.inject_callback(USER, USER, p.message_id, &button_data(&p, "Allow once"));
    let m = h
        .wait_message(USER, "how to enrol", |m| {
            m.text.contains("ccgate totp enroll --user")
        })
        .await;
    assert!(!m.text.contains("Wrong"), "{}", m.text);
    h.wait_message(USER, "the denied turn", |m| m.text.contains("FAKE: tool"))
        .await;
    let db = h.db();
    let count = |e: &str| h.audit_count(e);
    assert_eq!(count("step_up_failed"), 0);
    assert_eq!(count("step_up_unavailable"), 1);
    let locked: i64 = db
        .query_row("SELECT COUNT(*) FROM lockouts", [], |r| r.get(0))
        .unwrap();
    assert_eq!(locked, 0);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_download_grant_never_covers_an_upload() {
    let mut h = Harness::new().await;
    h.start().await;
    let outside = h.tmp.path().join("outside-notes.txt");
    std::fs::write(&outside, "not for the network").unwrap();
    std::fs::write(h.approved().join("inside.txt"), "project data").unwrap();

    // A download, allowed for the session.
    h.send(&bash("curl -s http://127.0.0.1:9/download"));
    let p = prompt_after(&h, USER, 0).await;
    assert!(p.text.contains("downloads only"), "{}", p.text);
    h.tg.inject_callback(
        USER,
        USER,
        p.message_id,
        &button_data(&p, "Allow for session"),
    );
    h.wait_message(USER, "the download ran", |m| {
        m.message_id > p.message_id && m.text.contains("FAKE: tool")
    })
    .await;

    // Another download of the same kind: covered, no prompt.
    let mark = h.last_message_id(USER);
    h.send(&bash("curl -sS http://127.0.0.1:9/download-again"));
    h.wait_message(USER, "the second download ran", |m| {
        m.message_id > mark && m.text.contains("FAKE: tool")
    })
    .await;
    assert!(
        !h.tg
            .messages(USER)
            .iter()
            .any(|m| m.message_id > mark && m.text.contains("Approval needed")),
        "a covered download asked again"
    );

    // Uploads — of a file from outside the project, or of a project file — ask again.
    for upload in [
        format!("curl -s -T {} http://127.0.0.1:9/up", outside.display()),
        // (`@/outside` in a chat prompt is refused before Claude sees it: an @mention.)
        "curl -s --data-binary @inside.txt http://127.0.0.1:9/up".to_string(),
        "curl -s -F file=@inside.txt http://127.0.0.1:9/up".to_string(),
        "curl -s -X POST http://127.0.0.1:9/up".to_string(),
    ] {
        let mark = h.last_message_id(USER);
        h.send(&bash(&upload));
        let again = prompt_after(&h, USER, mark).await;
        assert!(again.text.contains("curl"), "{upload}: {}", again.text);
        assert!(
            again.text.contains("uploads included"),
            "{upload}: {}",
            again.text
        );
        h.tg.inject_callback(USER, USER, again.message_id, &button_data(&again, "Deny"));
        h.wait_message(USER, "the upload denied", |m| {
            m.message_id > again.message_id
                && m.text.contains("denied by user")
                && m.text.contains("FAKE: tool")
        })
        .await;
    }

    let db = h.db();
    let decisions: Vec<String> = db
        .prepare("SELECT details FROM audit_log WHERE event = 'tool_decision' ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let by_grant: Vec<&String> = decisions
        .iter()
        .filter(|d| d.contains("grant #1"))
        .collect();
    assert_eq!(by_grant.len(), 1, "{decisions:#?}");
    assert!(by_grant[0].contains("download-again"), "{}", by_grant[0]);
    let footprint: String = db
        .query_row("SELECT footprint FROM grants WHERE id = 1", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert!(footprint.contains("\"network\":\"fetch\""), "{footprint}");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn details_shows_the_full_input_not_the_same_summary() {
    let mut h = Harness::new().await;
    h.start().await;
    let outside = h.tmp.path().join("d.txt");
    h.send(&format!(
        r#"[[tool:Bash:{{"command":"touch {}","description":"a distinctive description","timeout":4242}}]]"#,
        outside.display()
    ));
    let p = prompt_after(&h, USER, 0).await;
    assert!(!p.text.contains("distinctive"), "{}", p.text);
    h.tg.inject_callback(USER, USER, p.message_id, &button_data(&p, "Details"));
    let d = h
        .wait_message(USER, "the details", |m| m.text.contains("Full input"))
        .await;
    assert!(
        d.text.contains("a distinctive description") && d.text.contains("4242"),
        "{}",
        d.text
    );
    h.tg.inject_callback(USER, USER, p.message_id, &button_data(&p, "Deny"));
    h.wait_message(USER, "denied", |m| m.text.contains("FAKE: tool"))
        .await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_no_grant_can_cover_offers_only_allow_once() {
    let mut h = Harness::new().await;
    h.start().await;
    std::fs::write(h.approved().join(".env"), "TOKEN=x").unwrap();
    std::fs::write(h.approved().join("notes.txt"), "TODO").unwrap();
    // A recursive search over a tree holding a secret file asks — and is never granted.
    h.send(&bash("grep -rn TODO ."));
    let p = prompt_after(&h, USER, 0).await;
    assert!(p.text.contains("this call only"), "{}", p.text);
    let markup = p.reply_markup.as_ref().unwrap().to_string();
    assert!(
        !markup.contains(":sess") && !markup.contains(":t15"),
        "{markup}"
    );
    // A forged "session" press does nothing and is audited; the prompt stays open.
    let once = button_data(&p, "Allow once");
    let forged = once.replace(":once", ":sess");
    h.tg.inject_callback(USER, USER, p.message_id, &forged);
    h.tg.wait_for(Duration::from_secs(10), "forged press answered", |tg| {
        tg.calls_to("answerCallbackQuery")
            .iter()
            .any(|c| c.params.to_string().contains("only be allowed once"))
    })
    .await;
    h.tg.inject_callback(USER, USER, p.message_id, &once);
    h.wait_message(USER, "ran once", |m| {
        m.message_id > p.message_id && m.text.contains("FAKE: tool")
    })
    .await;
    let db = h.db();
    let n = |sql: &str| -> i64 { db.query_row(sql, [], |r| r.get(0)).unwrap() };
    assert_eq!(
        n("SELECT COUNT(*) FROM audit_log WHERE event = 'approval_choice_refused'"),
        1
    );
    assert_eq!(n("SELECT COUNT(*) FROM grants"), 0);
    h.stop().await;
}
