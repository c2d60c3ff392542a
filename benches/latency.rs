//! What a turn costs on the Telegram side: the real `ccgate` binary against the fake Bot API
//! (strict flood limits on) with the stub CLI (`tests/support/stub_claude.sh`), which answers
//! every prompt at once and logs when it read the prompt and when it printed the result.
//!
//! Why it exists: the issue notes need measured figures, before and after changes to the
//! outbox, the progress message and the process pool. Measured:
//!
//! - **idle bot**, one chat, one prompt at a time (each after the previous answer plus 1.1 s, so
//!   no rate limit is in play): update injected → prompt on the CLI's stdin, and CLI `result`
//!   → answer at the fake Telegram (median, p95); Bot API calls per turn;
//! - **N chats at once** (1, 10, 50, 200 private chats, one prompt each, a fresh ccgate for
//!   each N and pool setting): time until every answer arrived, the peak RSS of ccgate plus its
//!   live CLI processes (the sum of `VmRSS` over ccgate and its descendants, sampled from
//!   `/proc` every 100 ms) and the most live CLI processes seen, ccgate's own peak (`VmHWM`),
//!   Bot API calls per turn, update → stdin and result → answer (median, p95), and how many
//!   calls the fake refused with 429;
//! - **one real CLI** (`tests/.claude-cli`, inside the jail, against the fake Anthropic API):
//!   the RSS of ccgate's descendants, by program, idle after one turn (skipped when the CLI
//!   is not installed).
//!
//! `cargo bench --bench latency` (release build; `--profile dev` works too).
//! `LATENCY_BENCH_TURNS=10` sets the idle sample size (default 30), `LATENCY_BENCH_CHATS=1,10`
//! the N list, `LATENCY_BENCH_POOL=default,200` the `MAX_CLAUDE_PROCESSES` settings to run
//! each N with (default: `default`, ccgate's own default for this machine),
//! `LATENCY_BENCH_REAL=0` skips the real CLI.

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

/// A harness on the stub CLI, logging to `stub.log`, strict limits on, `users` allowed, at
/// most `pool` live CLI processes (`None`: ccgate's default).
async fn harness(users: &[i64], pool: Option<usize>) -> (Harness, PathBuf) {
    let mut h = Harness::new().await;
    let log = h.use_stub_claude();
    h.set_env("LOG_LEVEL", "warn");
    if let Some(n) = pool {
        h.set_env("MAX_CLAUDE_PROCESSES", &n.to_string());
    }
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

fn status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Every live descendant of `root` (children, grandchildren, …): pid, parent pid, program name.
fn descendants(root: u32) -> Vec<(u32, u32, String)> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let procs: Vec<(u32, u32, String)> = dir
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let pid = e.file_name().to_string_lossy().parse::<u32>().ok()?;
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            let (head, tail) = stat.rsplit_once(')')?;
            let comm = head.split_once('(')?.1.to_string();
            let ppid = tail.split_whitespace().nth(1)?.parse().ok()?;
            Some((pid, ppid, comm))
        })
        .collect();
    let mut out = Vec::new();
    let mut frontier = vec![root];
    while let Some(p) = frontier.pop() {
        for (pid, ppid, comm) in &procs {
            if *ppid == p {
                out.push((*pid, *ppid, comm.clone()));
                frontier.push(*pid);
            }
        }
    }
    out
}

/// Peak of ccgate's RSS plus its descendants', sampled every 100 ms on a thread of its own
/// (the CLI processes stay warm, so a peak lasts) until finished.
struct RssSampler {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<(u64, usize)>>,
}

impl RssSampler {
    /// `cli`: a text in the command line of every CLI process (its path).
    fn start(root: u32, cli: String) -> RssSampler {
        use std::sync::atomic::{AtomicBool, Ordering};
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let thread = std::thread::spawn({
            let stop = stop.clone();
            move || {
                let (mut peak, mut most) = (0u64, 0usize);
                while !stop.load(Ordering::Relaxed) {
                    let kids = descendants(root);
                    let sum = status_kib(root, "VmRSS:")
                        + kids
                            .iter()
                            .map(|(p, _, _)| status_kib(*p, "VmRSS:"))
                            .sum::<u64>();
                    peak = peak.max(sum);
                    // The CLI's processes by command line; the stub's `$(…)` subshells share
                    // it, so only those whose parent is not one too count.
                    let clis: Vec<(u32, u32)> = kids
                        .iter()
                        .filter(|(p, _, _)| {
                            std::fs::read(format!("/proc/{p}/cmdline"))
                                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(&cli))
                        })
                        .map(|(p, pp, _)| (*p, *pp))
                        .collect();
                    let live = clis
                        .iter()
                        .filter(|(_, pp)| !clis.iter().any(|(p, _)| p == pp))
                        .count();
                    most = most.max(live);
                    std::thread::sleep(Duration::from_millis(100));
                }
                (peak, most)
            }
        });
        RssSampler {
            stop,
            thread: Some(thread),
        }
    }

    /// (peak KiB, most live CLI processes).
    fn finish(mut self) -> (u64, usize) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.thread.take().unwrap().join().unwrap_or((0, 0))
    }
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
    let (h, log) = harness(&[support::USER], None).await;
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

/// The pool setting as ccgate resolves it (its default is computed the same way, at start).
fn pool_setting(pool: Option<usize>) -> String {
    match pool {
        Some(n) => format!("MAX_CLAUDE_PROCESSES={n}"),
        None => {
            let info = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
            format!(
                "MAX_CLAUDE_PROCESSES default={}",
                ccgate::runner::pool::default_max(&info)
            )
        }
    }
}

async fn chats(n: usize, pool: Option<usize>) {
    let users: Vec<i64> = (0..n as i64).map(|i| 10_000 + i).collect();
    let (h, log) = harness(&users, pool).await;
    let stub = log.with_file_name("claude").display().to_string();
    let sampler = RssSampler::start(h.pid().expect("running"), stub);
    let clock = Clock::new();
    let tags: Vec<String> = users.iter().map(|u| format!("u{u}z")).collect();
    let t0 = Instant::now();
    let wall0 = now_wall();
    for (u, tag) in users.iter().zip(&tags) {
        h.tg.inject_message(*u, *u, tag);
    }
    let done = wait_answers(&h, &tags, Duration::from_secs(600)).await;
    tokio::time::sleep(Duration::from_millis(2000)).await;
    let (peak_kib, most) = sampler.finish();
    let times = stub_times(&log);
    let to_stdin: Vec<f64> = tags.iter().map(|t| times[t].0 - wall0).collect();
    let to_answer: Vec<f64> = tags
        .iter()
        .map(|t| clock.wall(answer_at(&h, t).unwrap()) - times[t].1)
        .collect();
    let own = h.pid().map(|p| status_kib(p, "VmHWM:")).unwrap_or(0);
    println!(
        "{n:>3} chats at once ({}): all answered in {:6.2} s; peak RSS ccgate+CLIs {:6.1} MiB \
         (ccgate alone {:5.1} MiB, at most {most} live CLIs); calls/turn {:.2}; 429s {}",
        pool_setting(pool),
        (done - t0).as_secs_f64(),
        peak_kib as f64 / 1024.0,
        own as f64 / 1024.0,
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

/// One real CLI in the jail: the RSS of ccgate's descendants, by program, idle after a turn.
/// Returns their sum in KiB (`None` when the CLI is not installed).
async fn real_cli() -> Option<u64> {
    let cli = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/.claude-cli/node_modules/@anthropic-ai/claude-code-linux-x64/claude");
    if std::env::var_os("CCGATE_TEST_CLAUDE_BIN").is_none() && !cli.exists() {
        println!("real CLI: not installed (scripts/install-claude-cli.sh), skipped");
        return None;
    }
    let mut h = Harness::new().await;
    h.set_env("LOG_LEVEL", "warn");
    h.start().await;
    h.send("hello");
    h.wait_message(support::USER, "the real CLI's answer", |m| {
        m.text.contains("💰")
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let root = h.pid().expect("running");
    let kids = descendants(root);
    let mut by_name: Vec<(String, u64, u64)> = Vec::new();
    for (pid, _, comm) in &kids {
        let (rss, hwm) = (status_kib(*pid, "VmRSS:"), status_kib(*pid, "VmHWM:"));
        match by_name.iter_mut().find(|(n, _, _)| n == comm) {
            Some(e) => {
                e.1 += rss;
                e.2 += hwm;
            }
            None => by_name.push((comm.clone(), rss, hwm)),
        }
    }
    let total: u64 = by_name.iter().map(|e| e.1).sum();
    let list: Vec<String> = by_name
        .iter()
        .map(|(n, rss, hwm)| {
            format!(
                "{n} {:.1} MiB (peak {:.1})",
                *rss as f64 / 1024.0,
                *hwm as f64 / 1024.0
            )
        })
        .collect();
    println!(
        "real CLI idle after one turn: {:.1} MiB over {} processes [{}]; ccgate {:.1} MiB",
        total as f64 / 1024.0,
        kids.len(),
        list.join(", "),
        status_kib(root, "VmRSS:") as f64 / 1024.0
    );
    h.stop().await;
    Some(total)
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
    let pools: Vec<Option<usize>> = std::env::var("LATENCY_BENCH_POOL")
        .unwrap_or_else(|_| "default".into())
        .split(',')
        .map(|p| p.trim().parse().ok())
        .collect();
    let real = std::env::var("LATENCY_BENCH_REAL").map_or(true, |v| v != "0");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        if turns > 0 {
            idle(turns).await;
        }
        for pool in &pools {
            for n in &ns {
                chats(*n, *pool).await;
            }
        }
        if !real {
            return;
        }
        if let Some(kib) = real_cli().await {
            // What the stub runs above would have needed with the real CLI at their bound.
            for pool in &pools {
                let max = match pool {
                    Some(n) => *n,
                    None => ccgate::runner::pool::default_max(
                        &std::fs::read_to_string("/proc/meminfo").unwrap_or_default(),
                    ),
                };
                println!(
                    "  so {} live real CLIs ({}) would hold about {:.1} GiB",
                    max,
                    pool_setting(*pool),
                    (max as u64 * kib) as f64 / (1024.0 * 1024.0)
                );
            }
        }
    });
}
