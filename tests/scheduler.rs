//! Scheduled jobs on a controllable clock: the real scheduler, event bus, unattended runner,
//! real `claude` CLI (fake model) and outbox to the fake Telegram — only the clock is ours.
//! A second test runs a job on the stub CLI with one process slot to show it waits in line.

mod support;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use ccgate::audit::Redactor;
use ccgate::automation::{self, triggers::Triggers};
use ccgate::config::Config;
use ccgate::events::Bus;
use ccgate::scheduler::{commands, Clock, ManualClock, Scheduler};
use ccgate::services::Ctx;
use ccgate::store::Store;
use ccgate::telegram::api::TelegramApi;
use ccgate::telegram::outbox::{Limits, Outbox};
use ccgate::telegram::update::ChatRef;
use chrono::{TimeZone, Utc};
use support::{Harness, USER};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_fire_on_time_once_and_missed_runs_are_reported_not_replayed() {
    let h = Harness::new().await;
    let vars: HashMap<String, String> = h.env().into_iter().collect();
    let config = Arc::new(Config::from_map(&vars).unwrap());
    let store = Store::open(&h.db_path()).unwrap();
    let api = TelegramApi::new(
        &config.telegram_api_url,
        &config.telegram_bot_token,
        config.telegram_poll_timeout,
    )
    .unwrap();
    let outbox = Outbox::start(
        api,
        store.clone(),
        Limits::default(),
        Redactor::new(config.redacted_values()),
    );
    let launcher = ccgate::app::build_launcher(
        &config,
        &store,
        &config.secret_files().unwrap(),
        Some(env!("CARGO_BIN_EXE_ccgate").into()),
    )
    .unwrap();
    let (bus, events) = Bus::new();
    let ctx = Arc::new(Ctx::new(
        config.clone(),
        store.clone(),
        outbox.clone(),
        launcher,
        config.secret_files().unwrap(),
        config.rules().unwrap(),
        bus.clone(),
    ));
    automation::start(ctx.clone(), events, Arc::new(Triggers::default()));

    // Monday 2026-11-23, 07:00 UTC. Berlin is UTC+1 in November: 08:30 there is 07:30 UTC.
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 23, 7, 0, 0).unwrap());
    let scheduler = Scheduler::new(store.clone(), bus, Arc::new(clock.clone()));
    let chat = ChatRef {
        chat_id: USER,
        thread_id: 0,
    };
    let proj = h.approved().join("proj");
    let readme = proj.join("README.md");
    let prompt = format!("[[tool:Read:{{\"file_path\":\"{}\"}}]]", readme.display());
    let (id, sched, next) = commands::add(
        &store,
        &config,
        USER,
        chat,
        &proj,
        "30 8 * * * Europe/Berlin",
        &prompt,
        clock.now(),
    )
    .await
    .unwrap();
    assert_eq!(sched.describe(), "30 8 * * * (Europe/Berlin)");
    assert_eq!(next, Utc.with_ymd_and_hms(2026, 11, 23, 7, 30, 0).unwrap());
    // A job may not point outside the approved directory.
    let outside = h.tmp.path().join("home");
    let err = commands::add(
        &store,
        &config,
        USER,
        chat,
        &outside,
        "* * * * *",
        "x",
        clock.now(),
    )
    .await
    .unwrap_err();
    assert!(err.contains("not allowed"), "{err}");

    clock.set(Utc.with_ymd_and_hms(2026, 11, 23, 7, 29, 59).unwrap());
    assert_eq!(scheduler.tick().await.unwrap(), 0, "not due yet");
    clock.set(Utc.with_ymd_and_hms(2026, 11, 23, 7, 30, 5).unwrap());
    assert_eq!(scheduler.tick().await.unwrap(), 1);
    assert_eq!(
        scheduler.tick().await.unwrap(),
        0,
        "one due time fires once"
    );
    let answer = h
        .wait_message(USER, "the job's answer", |m| {
            m.text.contains(&format!("Job #{id}")) && m.text.contains("FAKE: tool result was")
        })
        .await;
    assert!(answer.text.contains("# proj"), "{}", answer.text);
    assert!(answer.text.contains("💰"), "{}", answer.text);
    let runs: i64 = h
        .db()
        .query_row(
            "SELECT runs FROM cost_ledger WHERE user_id = ?1",
            [USER],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(runs, 1, "the job ran on its creator's budget");

    // ccgate "down" from Monday's run until Thursday noon: Tue, Wed, Thu 08:30 were missed.
    let requests = h.model.request_count();
    clock.set(Utc.with_ymd_and_hms(2026, 11, 26, 12, 0, 0).unwrap());
    assert_eq!(
        scheduler.tick().await.unwrap(),
        0,
        "missed runs are not run"
    );
    h.wait_message(USER, "the missed-runs report", |m| {
        m.text.contains(&format!("Job #{id} missed 3 runs"))
    })
    .await;
    assert_eq!(scheduler.tick().await.unwrap(), 0);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(h.model.request_count(), requests, "no catch-up burst");
    // How often the first job's prompt reached Claude; checked again once a later job has run.
    let readme_path = readme.display().to_string();
    let first_job_runs = |h: &Harness| {
        h.model
            .last_prompt_texts()
            .iter()
            .filter(|p| p.contains(&readme_path))
            .count()
    };
    let first_job_runs_after_missed = first_job_runs(&h);
    assert_eq!(
        store.job(id).await.unwrap().unwrap().next_due_at,
        "2026-11-27T07:30:00.000Z"
    );

    // Paused jobs do not fire; a resumed one continues from the next due time.
    commands::change(
        &store,
        USER,
        ccgate::policy::roles::Role::Developer,
        Some(chat),
        "pause",
        id,
        clock.now(),
    )
    .await
    .unwrap();
    clock.set(Utc.with_ymd_and_hms(2026, 11, 27, 7, 31, 0).unwrap());
    assert_eq!(scheduler.tick().await.unwrap(), 0);
    // Someone else's job cannot be changed by a non-admin.
    assert!(commands::change(
        &store,
        999,
        ccgate::policy::roles::Role::Developer,
        Some(chat),
        "resume",
        id,
        clock.now()
    )
    .await
    .is_err());

    // A job whose creator lost access does not run.
    let (stray, ..) = commands::add(
        &store,
        &config,
        777,
        chat,
        &proj,
        "* * * * *",
        "hi",
        clock.now(),
    )
    .await
    .unwrap();
    clock.set(Utc.with_ymd_and_hms(2026, 11, 27, 7, 32, 0).unwrap());
    assert_eq!(scheduler.tick().await.unwrap(), 1);
    h.wait_message(USER, "refusal for a creator without access", |m| {
        m.text.contains(&format!("Job #{stray} did not run"))
    })
    .await;
    assert_eq!(h.model.request_count(), requests);

    // An ask in a job goes to its creator, with the usual buttons; approved, the call runs.
    let prompt = r#"[[tool:Bash:{"command":"curl -s http://127.0.0.1:9/","description":"probe"}]]"#;
    let (net, ..) = commands::add(
        &store,
        &config,
        USER,
        chat,
        &proj,
        "* * * * *",
        prompt,
        clock.now(),
    )
    .await
    .unwrap();
    let mark =
        h.tg.messages(USER)
            .iter()
            .map(|m| m.message_id)
            .max()
            .unwrap_or(0);
    clock.set(Utc.with_ymd_and_hms(2026, 11, 27, 7, 33, 0).unwrap());
    assert_eq!(
        scheduler.tick().await.unwrap(),
        2,
        "the stray job and the network job"
    );
    let prompt_msg = h
        .wait_message(USER, "an approval prompt for the job", |m| {
            m.message_id > mark
                && m.text.contains("Approval needed")
                && m.text.contains(&format!("Job #{net}"))
        })
        .await;
    let data = support::button_data(&prompt_msg, "Allow once");
    // Someone else's press does nothing.
    ctx.prompts.on_button(999, &data).await;
    ctx.prompts.on_button(USER, &data).await;
    let answer = h
        .wait_message(USER, "the approved job's answer", |m| {
            m.text.contains(&format!("Job #{net}")) && m.text.contains("FAKE: tool")
        })
        .await;
    assert!(!answer.text.contains("unattended"), "{}", answer.text);
    let approved: i64 = h
        .db()
        .query_row(
            "SELECT COUNT(*) FROM audit_log WHERE event = 'tool_decision' AND details LIKE '%approved by%'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(approved, 1);
    // The marker for the catch-up check above: a later job ran to its answer, and the missed
    // runs still never reached Claude.
    assert_eq!(
        first_job_runs(&h),
        first_job_runs_after_missed,
        "no catch-up run of the missed job, even late"
    );
}

/// A scheduled run takes one of the `MAX_CLAUDE_PROCESSES` slots, in the same line as the
/// chats: with the only slot held by a busy holder (a chat's turn) it waits and is not started;
/// once the holder is idle it is asked for the slot, and the job runs when it is given back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_run_waits_for_a_process_slot_and_asks_an_idle_holder_for_it() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let mut h = Harness::new().await;
    let log = h.use_stub_claude();
    let args_log = log.with_file_name("stub.args");
    h.set_env("MAX_CLAUDE_PROCESSES", "1");
    let vars: HashMap<String, String> = h.env().into_iter().collect();
    let config = Arc::new(Config::from_map(&vars).unwrap());
    let store = Store::open(&h.db_path()).unwrap();
    let api = TelegramApi::new(
        &config.telegram_api_url,
        &config.telegram_bot_token,
        config.telegram_poll_timeout,
    )
    .unwrap();
    let outbox = Outbox::start(
        api,
        store.clone(),
        Limits::default(),
        Redactor::new(config.redacted_values()),
    );
    let launcher = ccgate::app::build_launcher(
        &config,
        &store,
        &config.secret_files().unwrap(),
        Some(env!("CARGO_BIN_EXE_ccgate").into()),
    )
    .unwrap();
    let (bus, events) = Bus::new();
    let ctx = Arc::new(Ctx::new(
        config.clone(),
        store.clone(),
        outbox,
        launcher,
        config.secret_files().unwrap(),
        config.rules().unwrap(),
        bus.clone(),
    ));
    automation::start(ctx.clone(), events, Arc::new(Triggers::default()));
    assert_eq!(ctx.pool.max(), 1);

    // A chat's turn holds the only slot.
    let asked = Arc::new(AtomicUsize::new(0));
    let holder = match ctx.pool.acquire(
        {
            let asked = asked.clone();
            move |_| {
                asked.fetch_add(1, Ordering::SeqCst);
            }
        },
        |_| {},
    ) {
        ccgate::runner::pool::Acquire::Now(slot) => slot,
        ccgate::runner::pool::Acquire::Queued { .. } => panic!("the pool is empty"),
    };

    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 23, 7, 0, 0).unwrap());
    let scheduler = Scheduler::new(store.clone(), bus, Arc::new(clock.clone()));
    let chat = ChatRef {
        chat_id: USER,
        thread_id: 0,
    };
    let (id, ..) = commands::add(
        &store,
        &config,
        USER,
        chat,
        &h.approved().join("proj"),
        "* * * * *",
        "sched1z",
        clock.now(),
    )
    .await
    .unwrap();
    clock.set(Utc.with_ymd_and_hms(2026, 11, 23, 7, 1, 0).unwrap());
    assert_eq!(scheduler.tick().await.unwrap(), 1);

    // The run reached the pool and waits; a busy holder is not asked, nothing was started.
    support::wait_for("the run waiting for the slot", || ctx.pool.waiting() == 1).await;
    assert_eq!(
        asked.load(Ordering::SeqCst),
        0,
        "a busy holder is never asked"
    );
    assert!(
        std::fs::read_to_string(&args_log)
            .unwrap_or_default()
            .is_empty(),
        "no process started while the slot was held"
    );
    // The turn ends: the idle holder is asked for the slot and gives it back.
    holder.set_idle(true);
    support::wait_for("the idle holder asked", || {
        asked.load(Ordering::SeqCst) == 1
    })
    .await;
    drop(holder);
    h.wait_message(USER, "the job's answer", |m| {
        m.text.contains(&format!("Job #{id}")) && m.text.contains("stub: sched1z")
    })
    .await;
    let starts = std::fs::read_to_string(&args_log).unwrap();
    assert_eq!(starts.lines().count(), 1, "{starts}");
    support::wait_for("the run's slot given back", || ctx.pool.in_use() == 0).await;
}
