//! What a turn costs on the Telegram side: the real `ccgate` binary against the fake Bot API
//! (strict flood limits on) with the stub CLI (`tests/support/stub_claude.sh`), which answers
//! every prompt at once and logs when it read the prompt and when it printed the result.
//!
//! Why it exists: the issue notes need measured figures, before and after changes to the
//! outbox and the progress message. Measured:
//!
//! - **idle bot**, one chat, one prompt at a time (each after the previous answer plus 1.1 s, so
//!   no rate limit is in play): update injected → prompt on the CLI's stdin, and CLI `result`
//!   → answer at the fake Telegram (median, p95); Bot API calls per turn;
//! - **N chats at once** (1, 10, 50, 200 private chats, one prompt each, a fresh ccgate for
//!   each N): time until every answer arrived, ccgate's peak RSS (`VmHWM`), Bot API calls per
//!   turn, and how many calls the fake refused with 429.
//!
//! `cargo bench --bench latency` (release build; `--profile dev` works too).
//! `LATENCY_BENCH_TURNS=10` sets the idle sample size (default 30), `LATENCY_BENCH_CHATS=1,10`
//! the N list.

#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use support::{stub_times, Harness};

/// Bot API calls that belong to start-up or polling, not to turns.
const NOT_PER_TURN: &[&str] = &[
    "getUpdates",
    "getMe",
    "setMyCommands",
    "deleteWebhook",
    "setWebhook",
];

/// Wall clock of an `Instant` (the fake records `Instant`s, the stub wall-clock times).
struct Clock {
    at: Instant,
    wall: f64,
}

impl Clock {
    fn new() -> Clock {
        Clock {
            at: Instant::now(),
            wall: now_wall(),
        }
    }
    fn wall(&self, i: Instant) -> f64 {
        if i >= self.at {
            self.wall + (i - self.at).as_secs_f64()
        } else {
            self.wall - (self.at - i).as_secs_f64()
        }
    }
}

fn now_wall() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// A harness on the stub CLI, logging to `stub.log`, strict limits on, `users` allowed.
async fn harness(users: &[i64]) -> (Harness, PathBuf) {
    let mut h = Harness::new().await;
    let log = h.use_stub_claude();
    h.set_env("LOG_LEVEL", "warn");
    let list: Vec<String> = users.iter().map(i64::to_string).collect();
    h.set_env("ALLOWED_USERS", &list.join(","));
    h.tg.set_strict_limits(true);
    h.start().await;
    (h, log)
}

/// When the answer carrying `tag` arrived at the fake Telegram.
fn answer_at(h: &Harness, tag: &str) -> Option<Instant> {
    let needle = format!("stub: {tag}");
    h.tg.calls()
        .into_iter()
        .filter(|c| {
            // The answer, not a progress message showing the same text.
            c.status == 200
                && c.method == "sendMessage"
                && !c.params["reply_markup"].to_string().contains("stop:")
        })
        .find(|c| c.params["text"].as_str().unwrap_or("").contains(&needle))
        .map(|c| c.at)
}

fn turn_calls(h: &Harness) -> usize {
    h.tg.calls()
        .iter()
        .filter(|c| !NOT_PER_TURN.contains(&c.method.as_str()))
        .count()
}

fn stats(mut v: Vec<f64>) -> String {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let q = |p: f64| v[((v.len() - 1) as f64 * p).round() as usize] * 1000.0;
    format!(
        "median {:7.1} ms  p95 {:7.1} ms  max {:7.1} ms  (n={})",
        q(0.5),
        q(0.95),
        q(1.0),
        v.len()
    )
}

fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Wait until every tag's answer arrived; returns when the last one did. Polls slowly: a
/// poll copies every recorded call under the fake's lock, which would slow the fake down.
async fn wait_answers(h: &Harness, tags: &[String], timeout: Duration) -> Instant {
    let deadline = Instant::now() + timeout;
    loop {
        tokio::time::sleep(Duration::from_millis(if tags.len() > 1 { 250 } else { 20 })).await;
        let calls = h.tg.calls();
        let texts: Vec<&str> = calls
            .iter()
            .filter(|c| c.status == 200 && c.method == "sendMessage")
            .filter(|c| !c.params["reply_markup"].to_string().contains("stop:"))
            .filter_map(|c| c.params["text"].as_str())
            .collect();
        if tags
            .iter()
            .all(|t| texts.iter().any(|x| x.contains(&format!("stub: {t}"))))
        {
            return tags
                .iter()
                .map(|t| answer_at(h, t).expect("answered"))
                .max()
                .expect("tags");
        }
        assert!(
            Instant::now() < deadline,
            "answers missing after {timeout:?}"
        );
    }
}

async fn idle(turns: usize) {
    let (h, log) = harness(&[support::USER]).await;
    let clock = Clock::new();
    let mut injected = HashMap::new();
    // One warm-up turn starts the process; it is not counted.
    for i in 0..=turns {
        let tag = format!("q{i}z");
        injected.insert(tag.clone(), now_wall());
        h.send(&tag);
        wait_answers(&h, std::slice::from_ref(&tag), Duration::from_secs(30)).await;
        if i == 0 {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            h.tg.clear_calls();
            continue;
        }
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let times = stub_times(&log);
    let (mut to_stdin, mut to_answer) = (Vec::new(), Vec::new());
    for i in 1..=turns {
        let tag = format!("q{i}z");
        let (t_in, t_res) = times[&tag];
        to_stdin.push(t_in - injected[&tag]);
        let at = answer_at(&h, &tag).expect("answer recorded");
        to_answer.push(clock.wall(at) - t_res);
    }
    println!("idle bot, one chat, {turns} turns (process warm):");
    println!("  update -> stdin : {}", stats(to_stdin));
    println!("  result -> answer: {}", stats(to_answer));
    println!(
        "  Bot API calls per turn: {:.2}; 429s: {}",
        turn_calls(&h) as f64 / turns as f64,
        h.tg.flood_rejections().len()
    );
}

async fn chats(n: usize) {
    let users: Vec<i64> = (0..n as i64).map(|i| 10_000 + i).collect();
    let (h, log) = harness(&users).await;
    let clock = Clock::new();
    let tags: Vec<String> = users.iter().map(|u| format!("u{u}z")).collect();
    let t0 = Instant::now();
    let wall0 = now_wall();
    for (u, tag) in users.iter().zip(&tags) {
        h.tg.inject_message(*u, *u, tag);
    }
    let done = wait_answers(&h, &tags, Duration::from_secs(600)).await;
    tokio::time::sleep(Duration::from_millis(2000)).await;
    let times = stub_times(&log);
    let to_stdin: Vec<f64> = tags.iter().map(|t| times[t].0 - wall0).collect();
    let to_answer: Vec<f64> = tags
        .iter()
        .map(|t| clock.wall(answer_at(&h, t).unwrap()) - times[t].1)
        .collect();
    let rss = h.pid().map(peak_rss_kib).unwrap_or(0);
    println!(
        "{n:>3} chats at once: all answered in {:6.2} s; peak RSS {:6.1} MiB; calls/turn {:.2}; 429s {}",
        (done - t0).as_secs_f64(),
        rss as f64 / 1024.0,
        turn_calls(&h) as f64 / n as f64,
        h.tg.flood_rejections().len()
    );
    println!("      update -> stdin : {}", stats(to_stdin));
    println!("      result -> answer: {}", stats(to_answer));
    let mut refused: HashMap<String, usize> = HashMap::new();
    for (m, _, limit) in h.tg.flood_rejections() {
        *refused.entry(format!("{m} ({limit})")).or_default() += 1;
    }
    if !refused.is_empty() {
        println!("      429s by method: {refused:?}");
    }
}

fn main() {
    let turns: usize = std::env::var("LATENCY_BENCH_TURNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    let ns: Vec<usize> = std::env::var("LATENCY_BENCH_CHATS")
        .ok()
        .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1, 10, 50, 200]);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        if turns > 0 {
            idle(turns).await;
        }
        for n in ns {
            chats(n).await;
        }
    });
}
