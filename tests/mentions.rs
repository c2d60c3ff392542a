//! End to end: `@path` mentions, which the real Claude CLI expands by itself (it reads the file
//! and sends it to the model without asking ccgate), are checked before a chat prompt is sent,
//! and neutralised text is not expanded by the real CLI.

mod support;

use std::time::Duration;

use ccgate::runner::{ClaudeEvent, ClaudeProcess, ProcessEvent, SpawnSpec};
use support::fake_anthropic::FakeAnthropic;
use support::{claude_bin, Harness, USER};

const SECRET_MARKER: &str = "KEY=sk-secret-marker-7f3a9c";
const NOTES_MARKER: &str = "notes-marker-41d2e8";

/// Whether any request the fake model received carries `marker`.
fn model_saw(model: &FakeAnthropic, marker: &str) -> bool {
    model
        .requests()
        .iter()
        .any(|r| r.to_string().contains(marker))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_mention_is_refused_and_audited_an_ordinary_one_works() {
    let mut h = Harness::new().await;
    // Chats start at the root of the approved directory.
    let root = h.approved();
    std::fs::write(root.join(".env"), format!("{SECRET_MARKER}\n")).unwrap();
    std::fs::write(root.join("notes.md"), format!("{NOTES_MARKER}\n")).unwrap();
    h.start().await;

    h.send("what is in @.env ?");
    let m = h
        .wait_message(USER, "the refusal", |m| m.text.contains("Not sent"))
        .await;
    assert!(
        m.text
            .contains("@.env is a secret file: ccgate never sends it to Claude"),
        "{}",
        m.text
    );
    // Also when the mention hides behind punctuation, quotes or a path.
    for (prompt, shown) in [
        ("compare @\"./.env\" with the docs", "@\"./.env\""),
        ("(@proj/../.env)", "@proj/../.env)"),
    ] {
        h.send(prompt);
        h.wait_message(USER, "another refusal", |m| {
            m.text.contains("Not sent") && m.text.contains(&shown.replace('"', "&quot;"))
                || m.text.contains("Not sent") && m.text.contains(shown)
        })
        .await;
    }
    h.send("and @/etc/hostname ?");
    let m = h
        .wait_message(USER, "outside refused", |m| {
            m.text.contains("Not sent") && m.text.contains("/etc/hostname")
        })
        .await;
    assert!(
        m.text.contains("not a file inside the project"),
        "{}",
        m.text
    );

    // An ordinary project file: the CLI expands it and the model gets its content.
    h.send("summarise @notes.md please");
    h.wait_message(USER, "the answer", |m| {
        m.text.contains("FAKE: you said summarise @notes.md")
    })
    .await;
    assert!(
        model_saw(&h.model, NOTES_MARKER),
        "the CLI expanded @notes.md"
    );
    assert!(
        !model_saw(&h.model, SECRET_MARKER),
        "the secret never reached the model"
    );
    h.stop().await;

    // Audited with the events other layers use for such refusals.
    let out = h
        .command()
        .args(["audit", "export", "--json"])
        .output()
        .await
        .unwrap();
    let rows: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let via_mention = |event: &str| {
        rows.iter()
            .filter(|r| r["event"] == event)
            .filter_map(|r| {
                let d = &r["details"];
                let d: serde_json::Value = match d {
                    serde_json::Value::String(s) => serde_json::from_str(s).unwrap(),
                    v => v.clone(),
                };
                (d["via"] == "mention").then_some(d)
            })
            .collect::<Vec<_>>()
    };
    let secret = via_mention("secret_file_blocked");
    assert_eq!(secret.len(), 3, "{rows:?}");
    assert_eq!(secret[0]["mention"], "@.env");
    assert_eq!(secret[0]["rule"], "secret_files");
    let outside = via_mention("path_rejected");
    assert_eq!(outside.len(), 1, "{rows:?}");
    assert!(rows
        .iter()
        .filter(|r| r["event"] == "secret_file_blocked")
        .all(|r| r["risk"] == "high"));
}

/// Runs one prompt through the real CLI with ccgate's runner; returns when the turn ended.
async fn run_cli(
    model: &FakeAnthropic,
    dir: &std::path::Path,
    home: &std::path::Path,
    prompt: &str,
) {
    let spec = SpawnSpec {
        cli_path: claude_bin(),
        cwd: dir.to_path_buf(),
        resume: None,
        model: None,
        max_turns: 2,
        max_budget_usd: None,
        disallowed_tools: Vec::new(),
        ccgate_tools: false,
    };
    // Uncontained on purpose: this measures what the CLI itself expands.
    let mut command = std::process::Command::new(claude_bin());
    command
        .args(spec.args())
        .current_dir(dir)
        .env_clear()
        .envs([
            (
                "PATH".into(),
                std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into()),
            ),
            ("HOME".into(), home.display().to_string()),
            (
                "CLAUDE_CONFIG_DIR".into(),
                home.join(".claude").display().to_string(),
            ),
            ("ANTHROPIC_BASE_URL".into(), model.base_url()),
            ("ANTHROPIC_API_KEY".into(), "sk-test-dummy".into()),
            (
                "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC".into(),
                "1".into(),
            ),
            ("CLAUDE_CODE_MAX_RETRIES".into(), "0".into()),
        ] as [(String, String); 7]);
    let (lifeline, _reader) = ccgate::jail::Lifeline::new().unwrap();
    let prepared = ccgate::runner::Prepared {
        command,
        lifeline,
        guard: Box::new(()),
    };
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut p = ClaudeProcess::spawn(prepared, move |ev| {
        let _ = tx.send(ev);
    })
    .expect("spawn claude");
    p.send_user(prompt).await.unwrap();
    let done = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(ev) = rx.recv().await {
            match ev {
                ProcessEvent::Claude(ClaudeEvent::Result(_)) => return true,
                // No tool may run in this test: deny anything the model asks for.
                ProcessEvent::Claude(ClaudeEvent::PermissionRequest(req)) => {
                    let answer = ccgate::runner::PermissionAnswer::Deny {
                        message: "no".into(),
                        interrupt: false,
                    };
                    p.answer_permission(&req.request_id, &answer).await.unwrap();
                }
                ProcessEvent::Exited { stderr_tail } => panic!("claude exited: {stderr_tail}"),
                _ => {}
            }
        }
        false
    })
    .await;
    assert_eq!(done, Ok(true), "the turn finished");
    p.shutdown(Duration::from_secs(3)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_cli_expands_no_neutralised_mention() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("proj");
    let home = tmp.path().join("home");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::create_dir_all(home.join(".claude")).unwrap();
    std::fs::write(dir.join("secret.txt"), "marker-plain-93ab\n").unwrap();
    std::fs::write(dir.join("my notes.txt"), "marker-quoted-5c1e\n").unwrap();
    std::fs::write(home.join("h.txt"), "marker-home-77f0\n").unwrap();
    let text = "read @secret.txt\n@\"my notes.txt\" and x\u{3002}@~/h.txt";
    let markers = [
        "marker-plain-93ab",
        "marker-quoted-5c1e",
        "marker-home-77f0",
    ];

    // As written, the CLI reads all three files by itself (this test could fail).
    let model = FakeAnthropic::start().await;
    run_cli(&model, &dir, &home, &format!("{text} [[text:ok]]")).await;
    for m in markers {
        assert!(model_saw(&model, m), "raw text: {m} expanded");
    }

    // Neutralised, it reads none of them.
    let model = FakeAnthropic::start().await;
    let neutral = ccgate::policy::mentions::neutralise(text);
    run_cli(&model, &dir, &home, &format!("{neutral} [[text:ok]]")).await;
    assert!(model.request_count() > 0);
    for m in markers {
        assert!(!model_saw(&model, m), "neutralised text: {m} not expanded");
    }
    // The model still sees the words (the joiner is invisible).
    assert!(model
        .requests()
        .iter()
        .any(|r| r.to_string().contains("read \u{2060}@secret.txt")));
}
