//! End to end: `STREAM_DRAFTS` — a turn's progress in a private chat streams as
//! `sendMessageDraft` and the answer arrives as a normal message; groups never get drafts; a
//! Bot API that refuses drafts gets edits instead, for good.

mod support;

use support::{Harness, USER};

fn has_stop(m: &support::fake_telegram::SentMessage) -> bool {
    m.reply_markup
        .as_ref()
        .is_some_and(|r| r.to_string().contains("stop:"))
}

/// The `n`th final answer in `chat` (a slow prompt's answer is the fake's "FAKE: ok").
async fn final_in(h: &Harness, chat: i64, n: usize) -> String {
    support::wait_for("the final answer", || h.finals(chat).len() > n).await;
    let text = h.finals(chat)[n].text.clone();
    assert!(text.contains("FAKE: ok"), "{text}");
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drafts_stream_progress_in_private_chats_and_never_in_groups() {
    let mut h = Harness::new().await;
    let group = -100_555;
    h.set_env("STREAM_DRAFTS", "1");
    h.set_env("ALLOWED_GROUPS", &group.to_string());
    h.start().await;

    h.send("[[sleep:3]] slow one");
    final_in(&h, USER, 0).await;
    let drafts = h.tg.drafts(USER);
    assert!(!drafts.is_empty(), "progress as drafts:\n{}", h.tg.dump());
    assert!(
        drafts
            .iter()
            .all(|d| d.text.contains("Working…") && d.text.contains("/stop to stop")),
        "{drafts:?}"
    );
    assert!(drafts
        .iter()
        .all(|d| d.draft_id == drafts[0].draft_id && d.draft_id != 0));
    assert!(
        h.tg.messages(USER).iter().all(|m| !has_stop(m)),
        "no progress message to edit:\n{}",
        h.tg.dump()
    );
    // Drafts share the chat's one-per-second slot with the other messages.
    let at: Vec<_> =
        h.tg.calls()
            .into_iter()
            .filter(|c| {
                matches!(
                    c.method.as_str(),
                    "sendMessageDraft" | "sendMessage" | "editMessageText"
                ) && c.params["chat_id"].as_i64() == Some(USER)
            })
            .map(|c| c.at)
            .collect();
    for w in at.windows(2) {
        assert!(
            w[1] - w[0] >= std::time::Duration::from_millis(900),
            "{:?} apart",
            w[1] - w[0]
        );
    }

    // A group: the progress message with its Stop button, edited; no draft.
    h.tg.inject_message(group, USER, "[[sleep:3]] in group");
    let p = h.wait_progress(group).await;
    final_in(&h, group, 0).await;
    assert!(p.message_id > 0);
    assert!(h.tg.drafts(group).is_empty());
    assert!(
        h.tg.calls_to("sendMessageDraft")
            .iter()
            .all(|c| c.params["chat_id"].as_i64() == Some(USER)),
        "{}",
        h.tg.dump()
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drafts_not_found_fall_back_to_edits_for_the_rest_of_the_run() {
    falls_back_to_edits(404, "Not Found").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drafts_refused_with_400_fall_back_to_edits() {
    falls_back_to_edits(
        400,
        "Bad Request: method is available only for bots with forum topic mode enabled",
    )
    .await;
}

/// With `sendMessageDraft` answering `status`/`description`, the first progress tries one draft,
/// then shows (and edits) a progress message; later turns do not try drafts again.
async fn falls_back_to_edits(status: u16, description: &str) {
    let mut h = Harness::new().await;
    h.set_env("STREAM_DRAFTS", "1");
    h.tg.set_drafts_unavailable(Some((status, description)));
    h.start().await;

    h.send("[[sleep:3]] first");
    let first = h.wait_progress(USER).await;
    assert!(first.text.contains("Working…"), "{}", first.text);
    final_in(&h, USER, 0).await;
    let tried = h.tg.calls_to("sendMessageDraft").len();
    assert_eq!(tried, 1, "one refused draft, then edits:\n{}", h.tg.dump());
    assert!(h.tg.drafts(USER).is_empty());

    h.send("[[sleep:3]] second");
    support::wait_for("the second progress message", || {
        h.tg.messages(USER)
            .iter()
            .any(|m| m.message_id > first.message_id && has_stop(m))
    })
    .await;
    final_in(&h, USER, 1).await;
    assert_eq!(
        h.tg.calls_to("sendMessageDraft").len(),
        tried,
        "no draft tried again in this chat"
    );
    assert_eq!(
        h.log().matches("sendMessageDraft refused").count(),
        1,
        "logged once"
    );
    h.stop().await;
}
