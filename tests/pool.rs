//! The bound on live `claude` processes (`MAX_CLAUDE_PROCESSES`, `src/runner/pool.rs`), end to
//! end on the stub CLI (`tests/support/stub_claude.sh`, which logs its arguments — `--resume` —
//! to `stub.args`): with one slot and two chats, a chat's message evicts the other's idle
//! process, the evicted chat resumes its session on its next message, and a chat whose turn
//! would need the busy slot waits, is told its position, and runs after. Webhook runs take
//! their slot from the same pool: they evict an idle chat process and wait while a chat's turn
//! holds the only slot; `/metrics` shows the pool's load.

mod support;

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use support::{stub_times, Harness, USER};

const OTHER: i64 = 5151;

/// Live processes running the stub at `path` (its bash, by command line; the subshells it forks
/// for `$(…)` share the command line and are not counted).
fn live_stubs(path: &Path) -> usize {
    let needle = path.to_string_lossy().into_owned();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0;
    };
    let stubs: Vec<(u32, u32)> = dir
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let pid = e.file_name().to_string_lossy().parse::<u32>().ok()?;
            let cmd = std::fs::read(e.path().join("cmdline")).ok()?;
            String::from_utf8_lossy(&cmd)
                .contains(&needle)
                .then_some(())?;
            // The parent id is the second field after the command in parentheses.
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            let ppid = stat
                .rsplit_once(')')?
                .1
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()?;
            Some((pid, ppid))
        })
        .collect();
    stubs
        .iter()
        .filter(|(_, ppid)| !stubs.iter().any(|(p, _)| p == ppid))
        .count()
}

/// The `start <pid> <session> <args>` lines of the stub: (session, args).
fn starts(args_log: &Path) -> Vec<(String, String)> {
    std::fs::read_to_string(args_log)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut w = l.splitn(4, ' ');
            (w.next()? == "start").then_some(())?;
            let _pid = w.next()?;
            Some((w.next()?.to_string(), w.next().unwrap_or("").to_string()))
        })
        .collect()
}

#[tokio::test]
async fn one_slot_two_chats_evict_the_idle_one_resume_it_and_queue_behind_a_busy_one() {
    let mut h = Harness::new().await;
    let log = h.use_stub_claude();
    let stub = log.parent().unwrap().join("claude");
    let args_log = log.parent().unwrap().join("stub.args");
    h.set_env("MAX_CLAUDE_PROCESSES", "1");
    h.set_env("ALLOWED_USERS", &format!("{USER},{OTHER}"));
    h.start().await;

    // Count live stub processes all along.
    let most = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (most, done, stub) = (most.clone(), done.clone(), stub.clone());
        tokio::spawn(async move {
            while !done.load(Ordering::SeqCst) {
                most.fetch_max(live_stubs(&stub), Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };

    // A answers; B's message evicts A's idle process, and B answers.
    h.tg.inject_message(USER, USER, "a1z");
    h.wait_message(USER, "A's first answer", |m| m.text.contains("stub: a1z"))
        .await;
    h.tg.inject_message(OTHER, OTHER, "b1z");
    h.wait_message(OTHER, "B's first answer", |m| m.text.contains("stub: b1z"))
        .await;
    assert!(
        h.log()
            .contains("pool full: stopping the idle claude process"),
        "{}",
        h.log()
    );

    // A's next message resumes A's session (evicting B) and takes its time; B's message
    // meanwhile waits for the slot and is told so.
    h.tg.inject_message(USER, USER, "slow4a2z");
    support::wait_for("A's second process", || starts(&args_log).len() == 3).await;
    h.tg.inject_message(OTHER, OTHER, "b2z");
    let notice = h
        .wait_message(OTHER, "B's waiting notice", |m| {
            m.text.contains("Waiting for a free Claude slot")
        })
        .await;
    assert!(notice.text.contains("position 1"), "{}", notice.text);
    h.tg.inject_message(OTHER, OTHER, "/status");
    h.wait_message(OTHER, "B's status while waiting", |m| {
        m.text.contains("waiting for a free slot (position 1)")
    })
    .await;
    h.wait_message(USER, "A's second answer", |m| {
        m.text.contains("stub: slow4a2z")
    })
    .await;
    h.wait_message(OTHER, "B's second answer", |m| m.text.contains("stub: b2z"))
        .await;
    done.store(true, Ordering::SeqCst);
    watcher.await.unwrap();

    let s = starts(&args_log);
    assert_eq!(s.len(), 4, "{s:#?}");
    assert!(
        !s[0].1.contains("--resume") && !s[1].1.contains("--resume"),
        "{s:#?}"
    );
    assert!(
        s[2].1.contains(&format!("--resume {}", s[0].0)),
        "A resumes its session: {s:#?}"
    );
    assert!(
        s[3].1.contains(&format!("--resume {}", s[1].0)),
        "B resumes its session: {s:#?}"
    );
    // B's turn ran after A's result, each prompt exactly once.
    let times = stub_times(&log);
    let (_, a2_res) = times["slow4a2z"];
    let (b2_in, _) = times["b2z"];
    assert!(b2_in > a2_res, "B ran while A's turn held the slot");
    let text = std::fs::read_to_string(&log).unwrap();
    for p in ["a1z", "b1z", "slow4a2z", "b2z"] {
        let n = text
            .lines()
            .filter(|l| l.starts_with("in ") && l.ends_with(&format!(" {p}")))
            .count();
        assert_eq!(n, 1, "{p} ran {n} times:\n{text}");
    }
    let most = most.load(Ordering::SeqCst);
    assert!(most >= 1, "the watcher saw the processes");
    assert_eq!(most, 1, "never more than one live claude process");
}

#[tokio::test]
async fn a_chat_with_a_queue_gives_the_slot_to_a_chat_that_waited_before_its_next_turn() {
    let mut h = Harness::new().await;
    let log = h.use_stub_claude();
    let args_log = log.parent().unwrap().join("stub.args");
    h.set_env("MAX_CLAUDE_PROCESSES", "1");
    h.set_env("ALLOWED_USERS", &format!("{USER},{OTHER}"));
    h.start().await;
    // A's long turn runs; A queues a second prompt behind it, then B asks for the slot.
    h.tg.inject_message(USER, USER, "slow3a1z");
    support::wait_for("A's process", || starts(&args_log).len() == 1).await;
    h.tg.inject_message(USER, USER, "a2z");
    h.wait_message(USER, "A's queue notice", |m| m.text.contains("Queued"))
        .await;
    h.tg.inject_message(OTHER, OTHER, "b1z");
    h.wait_message(OTHER, "B's waiting notice", |m| {
        m.text
            .contains("Waiting for a free Claude slot (position 1)")
    })
    .await;
    for (chat, p) in [(USER, "slow3a1z"), (OTHER, "b1z"), (USER, "a2z")] {
        h.wait_message(chat, p, |m| m.text.contains(&format!("stub: {p}")))
            .await;
    }
    // B waited first, so it runs before A's next turn (A gives the slot back and resumes after).
    let t = stub_times(&log);
    assert!(t["slow3a1z"].1 < t["b1z"].0, "{t:?}");
    assert!(t["b1z"].1 < t["a2z"].0, "{t:?}");
    let s = starts(&args_log);
    assert_eq!(s.len(), 3, "{s:#?}");
    assert!(s[2].1.contains(&format!("--resume {}", s[0].0)), "{s:#?}");
}

const API_SECRET: &str = "generic-webhook-secret-for-tests";

/// POST a signed generic webhook (`/webhooks/ci`) whose body names `event`.
async fn post_webhook(port: u16, event: &str) -> u16 {
    use hmac::{Hmac, Mac};
    let body = format!(r#"{{"event":"{event}"}}"#);
    let ts = chrono::Utc::now().timestamp().to_string();
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(API_SECRET.as_bytes()).unwrap();
    mac.update(ts.as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    let sig = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/webhooks/ci"))
        .header("authorization", format!("Bearer {API_SECRET}"))
        .header("x-ccgate-timestamp", ts)
        .header("x-ccgate-signature", sig)
        .body(body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn metrics(port: u16) -> String {
    match reqwest::get(format!("http://127.0.0.1:{port}/metrics")).await {
        Ok(r) => r.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

/// The value of the metric line starting with `name ` (`None` when absent).
fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_runs_take_a_slot_evicting_an_idle_chat_and_waiting_behind_a_busy_one() {
    let mut h = Harness::new().await;
    let log = h.use_stub_claude();
    let stub = log.parent().unwrap().join("claude");
    let args_log = log.parent().unwrap().join("stub.args");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let triggers = h.tmp.path().join("triggers.toml");
    std::fs::write(
        &triggers,
        format!(
            r#"
[[trigger]]
name = "first"
provider = "ci"
event = "one"
project = "proj"
chats = [{USER}]
prompt = "hook1z"

[[trigger]]
name = "second"
provider = "ci"
event = "two"
project = "proj"
chats = [{USER}]
prompt = "hook2z"
"#
        ),
    )
    .unwrap();
    h.set_env("TRIGGERS_FILE", &triggers.display().to_string());
    h.set_env("ENABLE_API_SERVER", "true");
    h.set_env("API_SERVER_BIND", &format!("127.0.0.1:{port}"));
    h.set_env("WEBHOOK_API_SECRET", API_SECRET);
    h.set_env("MAX_CLAUDE_PROCESSES", "1");
    h.start().await;
    support::wait_for_async("the HTTP server", || async {
        metric(&metrics(port).await, "ccgate_claude_processes_max") == Some(1.0)
    })
    .await;

    let most = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (most, done, stub) = (most.clone(), done.clone(), stub.clone());
        tokio::spawn(async move {
            while !done.load(Ordering::SeqCst) {
                most.fetch_max(live_stubs(&stub), Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };

    // The chat answers and keeps its process warm; the webhook run stops it to take the slot.
    h.tg.inject_message(USER, USER, "a1z");
    h.wait_message(USER, "the chat's first answer", |m| {
        m.text.contains("stub: a1z")
    })
    .await;
    assert_eq!(
        metric(&metrics(port).await, "ccgate_claude_processes"),
        Some(1.0),
        "the warm process holds the slot"
    );
    assert_eq!(post_webhook(port, "one").await, 202);
    h.wait_message(USER, "the first webhook run's answer", |m| {
        m.text.contains("ci one → first") && m.text.contains("stub: hook1z")
    })
    .await;
    assert!(
        h.log()
            .contains("pool full: stopping the idle claude process"),
        "{}",
        h.log()
    );
    let text = metrics(port).await;
    assert!(
        metric(&text, "ccgate_claude_evictions_total").unwrap_or(0.0) >= 1.0,
        "{text}"
    );

    // The chat's next turn resumes its session and holds the slot: the second run waits
    // (seen waiting in /metrics) and starts only after the chat's result.
    h.tg.inject_message(USER, USER, "slow3a2z");
    support::wait_for("the chat's second process", || starts(&args_log).len() == 3).await;
    assert_eq!(post_webhook(port, "two").await, 202);
    support::wait_for_async("the run waiting in /metrics", || async {
        metric(&metrics(port).await, "ccgate_claude_waiting") == Some(1.0)
    })
    .await;
    h.wait_message(USER, "the chat's second answer", |m| {
        m.text.contains("stub: slow3a2z")
    })
    .await;
    h.wait_message(USER, "the second webhook run's answer", |m| {
        m.text.contains("ci two → second") && m.text.contains("stub: hook2z")
    })
    .await;
    done.store(true, Ordering::SeqCst);
    watcher.await.unwrap();

    let s = starts(&args_log);
    assert_eq!(s.len(), 4, "chat, run, chat resumed, run: {s:#?}");
    assert!(s[2].1.contains(&format!("--resume {}", s[0].0)), "{s:#?}");
    let t = stub_times(&log);
    assert!(t["a1z"].1 < t["hook1z"].0, "{t:?}");
    assert!(t["slow3a2z"].1 < t["hook2z"].0, "the run waited: {t:?}");
    assert!(h.log().contains("waiting for a claude slot"), "{}", h.log());
    let most = most.load(Ordering::SeqCst);
    assert!(most >= 1, "the watcher saw the processes");
    assert_eq!(most, 1, "never more than one live claude process");
    // The run's slot came back after it: the pool is empty again.
    support::wait_for_async("the run's slot given back", || async {
        metric(&metrics(port).await, "ccgate_claude_processes") == Some(0.0)
    })
    .await;
}
