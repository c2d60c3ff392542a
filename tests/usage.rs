//! End to end: `/usage` through the running bot with the real CLI — the text's totals match the
//! answers' footers, the chart arrives as a PNG of the promised size, and who sees whose spend
//! (an admin everyone's, anyone else their own).

mod support;

use support::{Harness, OTHER_USER, USER};

/// The `💰 $X` of a final answer.
fn footer_cost(text: &str) -> f64 {
    dollars_after(text, "💰 $")
}

/// The number after `marker` (`$0.0123` style).
fn dollars_after(text: &str, marker: &str) -> f64 {
    let rest = text
        .split(marker)
        .nth(1)
        .unwrap_or_else(|| panic!("no {marker:?} in: {text}"));
    let num: String = rest
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    num.parse()
        .unwrap_or_else(|_| panic!("no number after {marker:?} in: {text}"))
}

/// Run one prompt in `chat` (as its own user) and return the cost its footer shows.
async fn turn(h: &Harness, chat: i64, prompt: &str) -> f64 {
    let before = h.finals(chat).len();
    h.tg.inject_message(chat, chat, prompt);
    support::wait_for("the final answer", || h.finals(chat).len() > before).await;
    let text = h.finals(chat)[before].text.clone();
    assert!(text.contains("FAKE: you said"), "{text}");
    footer_cost(&text)
}

/// Send `/usage` as `chat`'s user; return its text and the chart (bytes, caption).
async fn usage(h: &Harness, chat: i64) -> (String, (Vec<u8>, String)) {
    let photos = h.tg.photos(chat).len();
    let before = h.last_message_id(chat);
    let id = h.tg.inject_message(chat, chat, "/usage");
    let text = h
        .wait_message(chat, "the /usage text", |m| {
            m.message_id > before && m.text.contains("Usage, last 30 days")
        })
        .await
        .text;
    support::wait_for("the usage chart", || h.tg.photos(chat).len() > photos).await;
    h.wait_settled("/usage", chat, &[id]).await;
    let chart = h.tg.photos(chat)[photos].clone();
    (text, (chart.bytes, chart.caption.unwrap_or_default()))
}

fn assert_png(bytes: &[u8], width: u32, height: u32) {
    assert!(bytes.len() < 200 * 1024, "{} bytes", bytes.len());
    let dec = png::Decoder::new(std::io::Cursor::new(bytes));
    let mut r = dec.read_info().expect("a PNG header");
    let mut buf = vec![0; r.output_buffer_size().unwrap()];
    let info = r.next_frame(&mut buf).expect("PNG pixels");
    assert_eq!((info.width, info.height), (width, height));
    let px = &buf[..info.buffer_size()];
    let distinct: std::collections::HashSet<&[u8]> = px.chunks(3).collect();
    assert!(distinct.len() > 5, "a drawn chart, not a blank image");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_totals_match_the_footers_and_admins_see_everyone() {
    let mut h = Harness::new().await;
    h.set_env("USER_ROLES", &format!("{USER}:admin"));
    h.start().await;

    // Nothing spent yet: a text, no chart.
    let id = h.send("/usage");
    h.wait_message(USER, "the empty /usage", |m| {
        m.text.contains("No usage in the last 30 days.")
    })
    .await;
    h.wait_settled("/usage", USER, &[id]).await;
    assert!(h.tg.photos(USER).is_empty(), "no chart without cost");

    // The admin works in `proj`, the other user at the root.
    h.ask("/cd proj", "proj").await;
    let mine = turn(&h, USER, "first turn").await + turn(&h, USER, "second turn").await;
    let theirs = turn(&h, OTHER_USER, "their turn").await;
    assert!(
        mine > 0.0 && theirs > 0.0,
        "the fake model's usage costs money"
    );

    // The admin: everyone's spend, per project and per user.
    let (text, (png, caption)) = usage(&h, USER).await;
    let total = dollars_after(&text, "Total: $");
    assert!(
        (total - (mine + theirs)).abs() < 0.0003,
        "total {total} vs footers {mine} + {theirs}: {text}"
    );
    assert!(
        (dollars_after(&text, "today: $") - total).abs() < 1e-9,
        "{text}"
    );
    assert!(
        (dollars_after(&text, "proj $") - mine).abs() < 0.0003,
        "{text}"
    );
    assert!(
        (dollars_after(&text, "\n. $") - theirs).abs() < 0.0003,
        "{text}"
    );
    assert!(text.contains("Per user"), "{text}");
    assert!((dollars_after(&text, &format!("{OTHER_USER} $")) - theirs).abs() < 0.0003);
    assert!((dollars_after(&text, &format!("{USER} $")) - mine).abs() < 0.0003);
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    assert!(text.contains(&today), "a line for today: {text}");
    assert_png(&png, 800, 400);
    assert!(
        (dollars_after(&caption, "📊 $") - total).abs() < 1e-9,
        "{caption}"
    );

    // The other user (a developer): their own only.
    let (text, (png, _)) = usage(&h, OTHER_USER).await;
    let total = dollars_after(&text, "Total: $");
    assert!(
        (total - theirs).abs() < 0.0003,
        "{total} vs {theirs}: {text}"
    );
    assert!(!text.contains("Per user"), "{text}");
    assert!(!text.contains(&USER.to_string()), "{text}");
    assert!(
        !text.contains("\nproj $"),
        "not the admin's project: {text}"
    );
    assert_png(&png, 800, 400);
    h.stop().await;
}
