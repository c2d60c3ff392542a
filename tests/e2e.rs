//! End to end: the real ccgate binary, the real `claude` CLI, fake Telegram and fake model.

mod support;

use std::time::Duration;

use support::{session_of, Harness, OTHER_USER, USER};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_streams_progress_then_final_answer_with_footer() {
    let mut h = Harness::new().await;
    h.start().await;
    // A tool call that takes a moment, so the progress message has something to show.
    h.send(r#"please run [[tool:Bash:{"command":"sleep 1.5","description":"nap"}]]"#);
    let fin = h
        .wait_message(USER, "final answer", |m| {
            m.text.contains("FAKE: tool result was")
        })
        .await;
    assert!(fin.text.contains("💰 $"), "{}", fin.text);
    assert!(fin.text.contains("2 turns"), "{}", fin.text);
    let sid = session_of(&fin);
    assert_eq!(sid.len(), 36, "a session uuid: {sid}");
    assert_eq!(fin.parse_mode.as_deref(), Some("HTML"));

    // Progress was created with a Stop button, edited to show the tool, then removed.
    let sends = h.tg.calls_to("sendMessage");
    let progress_send = sends
        .iter()
        .find(|c| c.params["text"].as_str().unwrap_or("").contains("Working"))
        .expect("progress message sent");
    assert!(progress_send.params["reply_markup"]
        .to_string()
        .contains("stop:"));
    let edits = h.tg.calls_to("editMessageText");
    assert!(
        edits.iter().any(|c| c.params["text"]
            .as_str()
            .unwrap_or("")
            .contains("Bash: sleep 1.5")),
        "no progress edit showed the tool: {edits:?}"
    );
    h.tg.wait_for(Duration::from_secs(10), "progress message deleted", |tg| {
        !tg.calls_to("deleteMessage").is_empty()
    })
    .await;
    // The typing indicator was shown and the command menu registered.
    assert!(!h.tg.calls_to("sendChatAction").is_empty());
    let cmds = h.tg.calls_to("setMyCommands");
    assert!(cmds[0].params.to_string().contains("\"stop\""));

    // No chat got more than one message or edit per second.
    let mut times: Vec<_> =
        h.tg.calls()
            .into_iter()
            .filter(|c| {
                matches!(c.method.as_str(), "sendMessage" | "editMessageText") && c.status == 200
            })
            .map(|c| c.at)
            .collect();
    times.sort();
    for w in times.windows(2) {
        assert!(
            w[1] - w[0] >= Duration::from_millis(900),
            "two sends within {:?}",
            w[1] - w[0]
        );
    }

    // The turn is in the database with its real cost.
    let db = h.db();
    let (cost, turns, is_error): (f64, i64, bool) = db
        .query_row(
            "SELECT cost_usd, num_turns, is_error FROM messages",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert!(cost > 0.0);
    assert_eq!(turns, 2);
    assert!(!is_error);
    let pending: i64 = db
        .query_row(
            "SELECT COUNT(*) FROM telegram_updates WHERE state = 'pending'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(pending, 0);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_resumes_across_messages_and_restarts() {
    let mut h = Harness::new().await;
    h.start().await;
    h.send("remember the word pineapple");
    let first = h
        .wait_message(USER, "first answer", |m| {
            m.text.contains("FAKE: you said remember")
        })
        .await;
    let sid = session_of(&first);

    h.send("second message");
    let second = h
        .wait_message(USER, "second answer", |m| {
            m.text.contains("FAKE: you said second")
        })
        .await;
    assert_eq!(session_of(&second), sid, "same session continues");
    let last = h.model.requests().last().unwrap().to_string();
    assert!(last.contains("pineapple"), "history was sent again");

    // Restart ccgate: the stored session is resumed by a brand-new claude process.
    h.stop().await;
    h.start().await;
    h.send("third after restart");
    let third = h
        .wait_message(USER, "third answer", |m| {
            m.text.contains("FAKE: you said third")
        })
        .await;
    assert_eq!(session_of(&third), sid, "resumed after restart");
    let last = h.model.requests().last().unwrap().to_string();
    assert!(last.contains("pineapple") && last.contains("second message"));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_button_and_stop_command_interrupt_a_running_turn() {
    let mut h = Harness::new().await;
    h.start().await;

    h.send("[[sleep:30]] slow one");
    let progress = h.wait_progress(USER).await;
    let data = progress.reply_markup.as_ref().unwrap()["inline_keyboard"][0][0]["callback_data"]
        .as_str()
        .unwrap()
        .to_string();
    let t0 = std::time::Instant::now();
    h.tg.inject_callback(USER, USER, progress.message_id, &data);
    let stopped = h
        .wait_message(USER, "stopped answer", |m| m.text.contains("Stopped"))
        .await;
    assert!(
        t0.elapsed() < Duration::from_secs(10),
        "stop took {:?}",
        t0.elapsed()
    );
    assert!(stopped.text.contains("claude --resume"));
    assert!(!h.tg.calls_to("answerCallbackQuery").is_empty());

    // The process survives an interrupt: the next prompt works, then /stop stops it too.
    h.send("[[sleep:30]] slow two");
    h.wait_message(USER, "second progress", |m| {
        !m.deleted && m.message_id > stopped.message_id && m.text.contains("Working")
    })
    .await;
    h.send("/stop");
    h.wait_message(USER, "second stop", |m| {
        m.text.contains("Stopped") && m.message_id > stopped.message_id
    })
    .await;
    h.send("are you there");
    h.wait_message(USER, "answer after stops", |m| {
        m.text.contains("FAKE: you said are you there")
    })
    .await;
    let kinds: Vec<String> = h
        .db()
        .prepare("SELECT COALESCE(error_kind, '') FROM messages ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(kinds, vec!["stopped", "stopped", ""]);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_result_is_reported_as_an_error() {
    let mut h = Harness::new().await;
    h.start().await;
    h.send("[[error:500:api_error]] break please");
    let m = h
        .wait_message(USER, "error answer", |m| m.text.contains("❌"))
        .await;
    assert!(m.text.contains("API error 500"), "{}", m.text);
    assert!(!m.text.contains("FAKE: you said"));
    let is_error: bool = h
        .db()
        .query_row("SELECT is_error FROM messages", [], |r| r.get(0))
        .unwrap();
    assert!(is_error);

    // Max turns: the tool runs but the turn limit ends it with an error, not "done".
    h.set_env("CLAUDE_MAX_TURNS", "1");
    h.stop().await;
    h.start().await;
    h.send(r#"[[tool:Bash:{"command":"echo hi","description":"x"}]] one tool"#);
    let m = h
        .wait_message(USER, "max turns error", |m| {
            m.text.contains("maximum number of turns")
        })
        .await;
    assert!(m.text.contains("❌"));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_sent_during_a_turn_are_queued_and_run_in_order() {
    let mut h = Harness::new().await;
    h.start().await;
    h.send("[[sleep:3]] first");
    h.wait_progress(USER).await;
    h.send("second");
    h.send("third");
    h.wait_message(USER, "queued notice", |m| {
        m.text.contains("Queued (2 waiting)")
    })
    .await;
    h.wait_message(USER, "third answer", |m| {
        m.text.contains("FAKE: you said third")
    })
    .await;
    let finals: Vec<String> = h.finals(USER).into_iter().map(|m| m.text).collect();
    assert_eq!(finals.len(), 3, "{finals:?}");
    assert!(finals[0].contains("FAKE: ok"), "{finals:?}");
    assert!(finals[1].contains("FAKE: you said second"));
    assert!(finals[2].contains("FAKE: you said third"));
    // Each ran as its own turn of the same session.
    assert_eq!(h.model.request_count(), 3);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_chats_run_in_parallel() {
    let mut h = Harness::new().await;
    h.start().await;
    h.tg.inject_message(USER, USER, "[[sleep:4]] chat one");
    h.tg.inject_message(OTHER_USER, OTHER_USER, "[[sleep:4]] chat two");
    // Both progress messages exist before either answer: the turns overlap.
    h.wait_progress(USER).await;
    h.wait_progress(OTHER_USER).await;
    assert!(h.finals(USER).is_empty() && h.finals(OTHER_USER).is_empty());
    let a = h
        .wait_message(USER, "answer one", |m| m.text.contains("FAKE: ok"))
        .await;
    let b = h
        .wait_message(OTHER_USER, "answer two", |m| m.text.contains("FAKE: ok"))
        .await;
    assert_ne!(session_of(&a), session_of(&b), "separate sessions");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_between_receive_and_reply_reprocesses_exactly_once() {
    let mut h = Harness::new().await;
    h.start().await;
    h.send("[[sleep:3]] crash test");
    h.wait_progress(USER).await;
    // Wait until the turn has really reached the model, then crash mid-turn: stored,
    // confirmed to Telegram, not answered.
    support::wait_for("the first run's model request", || {
        h.model
            .last_prompt_texts()
            .iter()
            .any(|p| p.contains("crash test"))
    })
    .await;
    h.kill().await;
    assert_eq!(
        h.tg.pending_updates(),
        0,
        "offset was confirmed before the crash"
    );
    h.start().await;
    h.wait_message(USER, "answer after restart", |m| {
        m.text.contains("FAKE: ok")
    })
    .await;
    // The marker: a later message in the same chat gets its answer. Turns in a chat run one
    // after another and the re-run was dispatched at start-up, so a duplicate would be first.
    h.send("after the crash");
    h.wait_message(USER, "the later answer", |m| {
        m.text.contains("FAKE: you said after the crash")
    })
    .await;
    let answers = h.finals(USER);
    assert_eq!(answers.len(), 2, "exactly one answer each: {answers:?}");
    assert!(answers[0].text.contains("FAKE: ok"), "{answers:?}");
    assert!(
        answers[1].text.contains("FAKE: you said after the crash"),
        "{answers:?}"
    );
    let runs = h
        .model
        .last_prompt_texts()
        .iter()
        .filter(|p| p.contains("crash test"))
        .count();
    assert_eq!(runs, 2, "the crashed run and exactly one re-run");
    let pending: i64 = h
        .db()
        .query_row(
            "SELECT COUNT(*) FROM telegram_updates WHERE state = 'pending'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(pending, 0);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_poll_neither_loses_nor_repeats_an_update() {
    let mut h = Harness::new().await;
    // The poll that would confirm the update fails; the update must still run exactly once.
    h.start().await;
    h.tg.fail_next("getUpdates", support::fake_telegram::Fault::ServerError);
    let id = h.send("only once please");
    h.wait_message(USER, "answer", |m| {
        m.text.contains("FAKE: you said only once")
    })
    .await;
    // The marker: the next message gets its answer. The failed poll's update would be
    // delivered again before it, and turns in a chat run one after another.
    let next = h.send("and then the next one");
    h.wait_message(USER, "the next answer", |m| {
        m.text.contains("FAKE: you said and then the next one")
    })
    .await;
    let finals = h.finals(USER);
    assert_eq!(finals.len(), 2, "one answer each: {finals:?}");
    assert_eq!(
        finals
            .iter()
            .filter(|m| m.text.contains("FAKE: you said only once"))
            .count(),
        1,
        "{finals:?}"
    );
    assert!(h.tg.confirmed_offset() > id);
    assert!(h.tg.confirmed_offset() > next);
    assert_eq!(
        h.model
            .last_prompt_texts()
            .iter()
            .filter(|p| p.contains("only once"))
            .count(),
        1
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_interrupts_and_reports() {
    let mut h = Harness::new().await;
    h.set_env("CLAUDE_TIMEOUT_SECONDS", "2");
    h.start().await;
    h.send("[[sleep:30]] too slow");
    let m = h
        .wait_message(USER, "timeout answer", |m| m.text.contains("Timed out"))
        .await;
    assert!(m.text.contains("claude --resume"));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_process_is_reaped_and_session_resumed() {
    let mut h = Harness::new().await;
    h.set_env("CLAUDE_IDLE_TIMEOUT_SECONDS", "1");
    h.start().await;
    h.send("hello idle");
    let a = h
        .wait_message(USER, "first", |m| {
            m.text.contains("FAKE: you said hello idle")
        })
        .await;
    h.tg.wait_for(Duration::from_secs(10), "idle reap", |_| {
        h.log().contains("reaping idle claude process")
    })
    .await;
    h.send("after idle");
    let b = h
        .wait_message(USER, "second", |m| {
            m.text.contains("FAKE: you said after idle")
        })
        .await;
    assert_eq!(session_of(&a), session_of(&b));
    assert!(
        h.log().matches("claude started").count() >= 2,
        "a new process resumed the session"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forum_topics_are_separate_conversations() {
    let mut h = Harness::new().await;
    let group = -100_777;
    h.set_env("ALLOWED_GROUPS", &group.to_string());
    h.start().await;
    h.tg.inject_topic_message(group, 10, USER, "/cd proj");
    h.wait_message(group, "cd in topic 10", |m| m.text.contains("Now in proj"))
        .await;
    h.tg.inject_topic_message(group, 10, USER, "topic ten here");
    h.tg.inject_topic_message(group, 20, USER, "topic twenty here");
    let ten = h
        .wait_message(group, "answer in 10", |m| {
            m.text.contains("FAKE: you said topic ten")
        })
        .await;
    let twenty = h
        .wait_message(group, "answer in 20", |m| {
            m.text.contains("FAKE: you said topic twenty")
        })
        .await;
    assert_eq!(ten.message_thread_id, Some(10), "answered in its own topic");
    assert_eq!(twenty.message_thread_id, Some(20));
    assert_ne!(session_of(&ten), session_of(&twenty));
    // Each topic keeps its own directory.
    h.tg.inject_topic_message(group, 20, USER, "/pwd");
    h.wait_message(group, "pwd in 20", |m| {
        m.message_thread_id == Some(20) && m.text.trim() == "📂 ."
    })
    .await;
    let dirs: Vec<(i64, String)> = h
        .db()
        .prepare("SELECT thread_id, directory FROM sessions ORDER BY thread_id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(dirs.len(), 2);
    assert!(dirs[0].1.ends_with("/proj") && dirs[0].0 == 10, "{dirs:?}");
    assert!(!dirs[1].1.ends_with("/proj") && dirs[1].0 == 20, "{dirs:?}");
    h.stop().await;
}
