//! Telegram's flood limits under load, and the cost of a quick answer: the real ccgate against
//! the fake Bot API in strict mode (429 with `retry_after` for every call over a limit; see
//! `fake_telegram::RateLimits` for what is counted), on the stub CLI
//! (`tests/support/stub_claude.sh`), which answers at once — the real CLI at 200 chats would
//! measure node, not ccgate.

mod support;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use support::fake_telegram::RateLimits;
use support::{stub_times, Harness, USER};

fn now_wall() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// The answer messages (status 200 `sendMessage`, not a progress message with its Stop button)
/// carrying the stub's reply to `tag`.
fn answers(h: &Harness, tag: &str) -> Vec<support::fake_telegram::Call> {
    let needle = format!("stub: {tag}");
    h.tg.calls_to("sendMessage")
        .into_iter()
        .filter(|c| {
            c.status == 200
                && c.params["text"].as_str().unwrap_or("").contains(&needle)
                && !c.params["reply_markup"].to_string().contains("stop:")
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_chats_at_once_are_all_answered_without_a_single_429() {
    let users: Vec<i64> = (0..200).map(|i| 20_000 + i).collect();
    let mut h = Harness::new().await;
    h.use_stub_claude();
    h.set_env("LOG_LEVEL", "warn");
    let list: Vec<String> = users.iter().map(i64::to_string).collect();
    h.set_env("ALLOWED_USERS", &list.join(","));
    // Arrival times jitter by a few hundred ms when this machine is loaded (debug build, 200
    // shells starting, other test binaries): windows 450 ms shorter, which still catches a
    // burst. (The previous limiter let ~60 calls through in its first second — the 31st some
    // 30 ms after the first — and got dozens of 429s here.)
    h.tg.set_rate_limits(Some(RateLimits {
        slack: Duration::from_millis(450),
        ..RateLimits::default()
    }));
    h.start().await;
    let t0 = Instant::now();
    for u in &users {
        h.tg.inject_message(*u, *u, &format!("u{u}z"));
    }
    // Polled slowly: every poll copies all recorded calls under the fake's lock.
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let texts: Vec<String> = h
            .tg
            .calls_to("sendMessage")
            .into_iter()
            .filter(|c| c.status == 200 && !c.params["reply_markup"].to_string().contains("stop:"))
            .filter_map(|c| c.params["text"].as_str().map(str::to_string))
            .collect();
        let missing = users
            .iter()
            .filter(|u| !texts.iter().any(|t| t.contains(&format!("stub: u{u}z"))))
            .count();
        if missing == 0 {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(180),
            "{missing} chats still without an answer; 429s so far: {:?}",
            h.tg.flood_rejections()
        );
    }
    // Progress messages of the slower turns are removed after their answers: let them go.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        h.tg.flood_rejections(),
        vec![],
        "ccgate broke Telegram's limits"
    );
    for u in &users {
        let a = answers(&h, &format!("u{u}z"));
        assert_eq!(a.len(), 1, "chat {u}: {a:#?}\n{}", h.log());
    }
    // Throughput: 200 answers (plus typing and some progress) at ~30 calls per second.
    let calls =
        h.tg.calls()
            .iter()
            .filter(|c| c.method != "getUpdates")
            .count();
    assert!(
        calls >= 200,
        "every chat got at least its answer: {calls} calls"
    );
}

#[tokio::test]
async fn a_quick_answer_is_sent_at_once_with_two_bot_api_calls() {
    let mut h = Harness::new().await;
    let log = h.use_stub_claude();
    h.tg.set_strict_limits(true);
    h.start().await;
    // The first prompt starts the process; measure the next ones, each on an idle bot.
    h.send("warmz");
    h.wait_message(USER, "the warm-up answer", |m| {
        m.text.contains("stub: warmz")
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let base = (Instant::now(), now_wall());
    for i in 0..3 {
        let tag = format!("q{i}z");
        h.tg.clear_calls();
        h.send(&tag);
        h.wait_message(USER, "the answer", |m| {
            m.text.contains(&format!("stub: {tag}"))
        })
        .await;
        // Positive marker before looking for calls that should not be there: the update is
        // done and its reply left the outbox; then a moment for a (wrong) progress removal.
        let id = h.tg.injected_updates().last().unwrap()["update_id"]
            .as_i64()
            .unwrap();
        h.wait_settled("the prompt", USER, &[id]).await;
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let methods: Vec<String> =
            h.tg.calls()
                .into_iter()
                .filter(|c| c.method != "getUpdates")
                .map(|c| c.method)
                .collect();
        // The typing indicator is best effort: a turn that ends before its first indicator
        // left skips it.
        let typing = methods.iter().filter(|m| *m == "sendChatAction").count();
        let sends = methods.iter().filter(|m| *m == "sendMessage").count();
        assert!(
            typing <= 1 && sends == 1 && methods.len() == typing + sends,
            "a quick turn: typing and the answer, no progress message: {methods:?}"
        );
        // Before: the answer waited for the chat's slot taken by "Working…" (≥ 1 s).
        let answer = answers(&h, &tag).remove(0);
        let (_, res) = stub_times(&log)[&tag];
        let at = base.1 + (answer.at - base.0).as_secs_f64();
        assert!(
            at - res < 0.5,
            "the answer reached Telegram {:.0} ms after the CLI's result",
            (at - res) * 1000.0
        );
    }
    assert_eq!(h.tg.flood_rejections(), vec![]);
}
