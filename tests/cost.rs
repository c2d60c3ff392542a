//! End to end: each turn is charged its own cost — several turns, a stop, an error and a
//! resume after a restart — never the session's running total the CLI reports.

mod support;

use support::{Harness, USER};

/// The `💰 $X` of a final answer.
fn footer_cost(text: &str) -> f64 {
    let rest = text
        .split("💰 $")
        .nth(1)
        .unwrap_or_else(|| panic!("no cost in the footer: {text}"));
    let num: String = rest
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    num.parse()
        .unwrap_or_else(|_| panic!("no cost in the footer: {text}"))
}

async fn final_after(h: &Harness, n: usize) -> String {
    support::wait_for("the next final answer", || h.finals(USER).len() > n).await;
    h.finals(USER)[n].text.clone()
}

fn ledger(h: &Harness) -> f64 {
    h.db()
        .query_row(
            "SELECT COALESCE(SUM(cost_usd), 0) FROM cost_ledger WHERE user_id = ?1",
            [USER],
            |r| r.get(0),
        )
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_turn_costs_what_it_cost_across_stop_error_and_resume() {
    let mut h = Harness::new().await;
    h.start().await;
    let mut charged = Vec::new();

    h.send("first turn");
    let a = final_after(&h, 0).await;
    charged.push(footer_cost(&a));
    h.send("second turn");
    let a = final_after(&h, 1).await;
    charged.push(footer_cost(&a));
    assert!(a.contains("(today $"), "today's total in the footer: {a}");

    // A stopped turn.
    h.send("[[sleep:30]] slow");
    let progress = h.wait_progress(USER).await;
    let data = progress.reply_markup.as_ref().unwrap()["inline_keyboard"][0][0]["callback_data"]
        .as_str()
        .unwrap()
        .to_string();
    h.tg.inject_callback(USER, USER, progress.message_id, &data);
    let a = final_after(&h, 2).await;
    assert!(a.contains("Stopped"), "{a}");
    charged.push(footer_cost(&a));

    // An API error.
    h.send("[[error:500:api_error]]");
    let a = final_after(&h, 3).await;
    assert!(a.contains("❌"), "{a}");
    charged.push(footer_cost(&a));
    assert_eq!(charged[3], 0.0, "an API error costs nothing");

    // Resume in a new process after a restart: the CLI's running total carries on.
    h.stop().await;
    h.start().await;
    h.send("after restart");
    let a = final_after(&h, 4).await;
    assert!(a.contains("FAKE: you said after restart"), "{a}");
    charged.push(footer_cost(&a));

    // Ordinary turns cost about the same here; a charged running total would double them.
    let first = charged[0];
    assert!(first > 0.0);
    for (i, c) in charged.iter().enumerate() {
        assert!(
            *c < first * 1.6,
            "turn {i} charged {c} vs the first's {first}: {charged:?}"
        );
    }
    let sum: f64 = charged.iter().sum();
    let l = ledger(&h);
    assert!(
        (l - sum).abs() < 0.0005,
        "the ledger ({l}) is the sum of the turns' costs ({sum}): {charged:?}"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_key_and_base_url_in_dotenv_reach_the_model() {
    let mut h = Harness::new().await;
    // Only in .env, as a new user writes them.
    h.unset_env("ANTHROPIC_API_KEY");
    h.unset_env("ANTHROPIC_BASE_URL");
    std::fs::write(
        h.tmp.path().join(".env"),
        format!(
            "ANTHROPIC_API_KEY=sk-from-dotenv\nANTHROPIC_BASE_URL={}\n",
            h.model.base_url()
        ),
    )
    .unwrap();
    h.start().await;
    h.send("hello from dotenv");
    let a = final_after(&h, 0).await;
    assert!(a.contains("FAKE: you said hello from dotenv"), "{a}");
    let creds = h.model.credentials();
    assert!(
        creds
            .iter()
            .all(|(k, _)| k.as_deref() == Some("sk-from-dotenv")),
        "{creds:?}"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_credential_the_user_is_told_what_to_set() {
    let mut h = Harness::new().await;
    h.unset_env("ANTHROPIC_API_KEY");
    h.start().await;
    h.send("hello");
    let m = h
        .wait_message(USER, "the explanation", |m| {
            m.text.contains("ANTHROPIC_API_KEY")
        })
        .await;
    assert!(m.text.contains("CLAUDE_CODE_OAUTH_TOKEN"), "{}", m.text);
    assert_eq!(h.model.request_count(), 0);
    h.stop().await;
}
