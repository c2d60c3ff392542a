//! End to end: Claude is contained by the OS, not by the policy's reading of text.
//!
//! Through the running bot, with the real `claude` CLI and the fake model: Claude writes and
//! runs a script that tries every escape of issue 9, plants a project hook and mentions
//! secret files — and every attempt fails at the OS level, even when the user presses Allow.
//! Ordinary work (edit, create, run a test script, `git commit`, reach the model, resume after
//! a restart) still succeeds. And `kill -9` of ccgate leaves no `claude` behind.
//!
//! These tests need bubblewrap and unprivileged user namespaces; without them they fail.

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use support::{button_data, claude_bin, Harness, USER};

fn tool(name: &str, input: serde_json::Value) -> String {
    format!("[[tool:{name}:{input}]]")
}

fn bash(cmd: &str) -> String {
    tool(
        "Bash",
        serde_json::json!({"command": cmd, "description": "x"}),
    )
}

/// Send `text` and wait for the final answer of that turn; press Allow on any approval
/// prompt that comes first (the boundary must hold even then).
async fn turn(h: &Harness, text: &str) -> String {
    turn_allowing(h, text).await.0
}

/// [`turn`], also telling how many approval prompts were answered with Allow.
async fn turn_allowing(h: &Harness, text: &str) -> (String, usize) {
    let before = h.finals(USER).len();
    let mut pressed: Vec<i64> = Vec::new();
    h.send(text);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let finals = h.finals(USER);
        if finals.len() > before {
            return (finals.last().unwrap().text.clone(), pressed.len());
        }
        for m in h.tg.messages(USER) {
            if m.text.contains("Approval needed")
                && m.reply_markup.is_some()
                && !pressed.contains(&m.message_id)
            {
                pressed.push(m.message_id);
                h.tg.inject_callback(USER, USER, m.message_id, &button_data(&m, "Allow once"));
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no answer to {text:?}; log:\n{}",
            h.log()
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// The probe Claude writes and runs: each escape is tried, the outcome written into the
/// project (the only place it can write), one line per attempt.
fn probe_script(h: &Harness, ccgate_pid: u32, port: u16) -> String {
    let home = h.tmp.path().join("home").display().to_string();
    format!(
        r#"import os, socket, json
results = []
def attempt(name, fn):
    try:
        out = fn()
        results.append(("ESCAPED " if out else "blocked ") + name)
    except Exception as e:
        results.append("blocked " + name + " (" + type(e).__name__ + ")")
def read(p):
    with open(p, "rb") as f:
        return len(f.read()) > 0
def write(p):
    with open(p, "w") as f:
        f.write("escaped")
    return os.path.exists(p)
def connect():
    s = socket.create_connection(("127.0.0.1", {port}), timeout=2)
    s.sendall(b"exfiltrated")
    return True
def signal_ccgate():
    os.kill({ccgate_pid}, 0)
    return True
attempt("operator_ssh_key", lambda: read("{home}/.ssh/id_rsa"))
attempt("ccgate_dotenv", lambda: read("{tmp}/.env"))
attempt("ccgate_database", lambda: read("{db}"))
attempt("ccgate_environ", lambda: read("/proc/{ccgate_pid}/environ"))
attempt("project_dotenv", lambda: read(".env"))
attempt("other_project", lambda: read("{approved}/other/notes.txt"))
attempt("write_outside_project", lambda: write("{approved}/escaped.txt"))
attempt("write_operator_home", lambda: write("{home}/escaped.txt"))
attempt("tcp_to_local_listener", connect)
attempt("signal_ccgate", signal_ccgate)
attempt("real_api_key_in_env", lambda: os.environ.get("ANTHROPIC_API_KEY") == "sk-test-dummy")
attempt("bot_token_in_env", lambda: any("AAtest" in v for v in os.environ.values()))
attempt("see_other_processes", lambda: len([p for p in os.listdir("/proc") if p.isdigit()]) > 6)
with open("probe-result.txt", "w") as f:
    f.write("\n".join(results) + "\n")
print("probe done")
"#,
        tmp = h.tmp.path().display(),
        db = h.db_path().display(),
        approved = h.approved().display(),
    )
}

fn all_model_traffic(h: &Harness) -> String {
    h.model
        .requests()
        .iter()
        .map(|r| r.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_escape_fails_at_the_os_level_and_real_work_succeeds() {
    let mut h = Harness::new().await;
    let home = h.tmp.path().join("home");
    std::fs::create_dir_all(home.join(".ssh")).unwrap();
    std::fs::write(home.join(".ssh/id_rsa"), "OPERATOR-KEY-MATERIAL").unwrap();
    std::fs::write(
        h.tmp.path().join(".env"),
        "CCGATE_TEST_CANARY=DOTENV-CANARY\n",
    )
    .unwrap();
    let proj = h.approved().join("proj");
    std::fs::write(proj.join(".env"), "PROJECT_SECRET=PROJECT-ENV-CANARY\n").unwrap();
    // A checked-out repository's CLAUDE.md imports secret files: the CLI expands these at
    // session start without asking ccgate, so only the OS boundary stands in the way.
    std::fs::write(
        proj.join("CLAUDE.md"),
        format!(
            "CLAUDE-MD-MARKER\n@.env\n@{}/.ssh/id_rsa\n@../other/notes.txt\n",
            home.display()
        ),
    )
    .unwrap();
    std::fs::create_dir_all(h.approved().join("other")).unwrap();
    std::fs::write(h.approved().join("other/notes.txt"), "OTHER-PROJECT").unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let connections = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    {
        let connections = connections.clone();
        tokio::spawn(async move {
            while let Ok(_conn) = listener.accept().await {
                connections.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        });
    }

    h.start().await;
    let ccgate_pid = h.pid().expect("ccgate runs");
    h.send("/cd proj");
    h.wait_message(USER, "cd answer", |m| m.text.contains("proj"))
        .await;

    // 1. A script inside the project tries every escape; the user's policy allows running it.
    let script = probe_script(&h, ccgate_pid, port);
    let a = turn(
        &h,
        &tool(
            "Write",
            serde_json::json!({"file_path": proj.join("probe.py"), "content": script}),
        ),
    )
    .await;
    assert!(a.contains("FAKE: tool result was"), "{a}");
    let a = turn(&h, &bash("python3 probe.py")).await;
    assert!(a.contains("probe done"), "the probe ran: {a}");
    let results = std::fs::read_to_string(proj.join("probe-result.txt")).unwrap();
    assert!(
        !results.contains("ESCAPED"),
        "escapes succeeded:\n{results}"
    );
    for name in [
        "operator_ssh_key",
        "ccgate_dotenv",
        "ccgate_database",
        "ccgate_environ",
        "project_dotenv",
        "other_project",
        "write_outside_project",
        "write_operator_home",
        "tcp_to_local_listener",
        "signal_ccgate",
        "real_api_key_in_env",
        "bot_token_in_env",
        "see_other_processes",
    ] {
        assert!(
            results.contains(&format!("blocked {name}")),
            "{name} missing:\n{results}"
        );
    }
    assert!(!h.approved().join("escaped.txt").exists());
    assert!(!home.join("escaped.txt").exists());
    assert_eq!(
        connections.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "the local listener was reached"
    );

    // 2. A planted project hook never runs: not before the next tool call, not at the next
    //    session's start or prompt — even though the user allowed writing it.
    let hook = |name: &str| serde_json::json!([{"hooks": [{"type": "command", "command": format!("touch {}/HOOK_{name}", proj.display())}]}]);
    let settings = serde_json::json!({"hooks": {
        "PreToolUse": hook("PreToolUse"),
        "UserPromptSubmit": hook("UserPromptSubmit"),
        "SessionStart": hook("SessionStart"),
    }});
    std::fs::create_dir_all(proj.join(".claude")).unwrap();
    let (_, allowed) = turn_allowing(
        &h,
        &tool(
            "Write",
            serde_json::json!({"file_path": proj.join(".claude/settings.json"), "content": settings.to_string()}),
        ),
    )
    .await;
    assert_eq!(
        allowed, 1,
        "writing CLI settings asks, and the user pressed Allow"
    );
    assert!(
        proj.join(".claude/settings.json").exists(),
        "the write was allowed"
    );
    let a = turn(&h, &bash("echo after-hook")).await;
    assert!(a.contains("after-hook"), "{a}");
    let mark = h.last_message_id(USER);
    h.send("/new");
    h.wait_message(USER, "the /new answer", |m| m.message_id > mark)
        .await;
    let a = turn(&h, "hello again").await;
    assert!(a.contains("FAKE: you said hello again"), "{a}");
    for name in ["PreToolUse", "UserPromptSubmit", "SessionStart"] {
        assert!(
            !proj.join(format!("HOOK_{name}")).exists(),
            "the {name} hook ran"
        );
    }

    // 3. @mentions of secret files: refused by the policy, and unreadable anyway.
    for prompt in [
        "please look at @.env".to_string(),
        "and at @~/.ssh/id_rsa".to_string(),
        format!("and at @{}/.ssh/id_rsa", home.display()),
    ] {
        let mark = h.last_message_id(USER);
        h.send(&prompt);
        let m = h
            .wait_message(USER, "the refusal", |m| {
                m.message_id > mark && m.text.contains("Not sent")
            })
            .await;
        assert!(!m.text.contains("CANARY"), "{}", m.text);
    }
    let traffic = all_model_traffic(&h);
    assert!(
        traffic.contains("CLAUDE-MD-MARKER"),
        "the project's CLAUDE.md was not loaded, so its imports were not tried"
    );
    for canary in [
        "OPERATOR-KEY-MATERIAL",
        "PROJECT-ENV-CANARY",
        "DOTENV-CANARY",
        "OTHER-PROJECT",
        &h.token,
    ] {
        assert!(!traffic.contains(canary), "{canary} reached the model");
    }

    // 4. Real work still works: edit, create, run a test script, commit.
    turn(
        &h,
        &tool(
            "Read",
            serde_json::json!({"file_path": proj.join("README.md")}),
        ),
    )
    .await;
    let a = turn(
        &h,
        &tool(
            "Edit",
            serde_json::json!({"file_path": proj.join("README.md"), "old_string": "# proj", "new_string": "# proj, edited inside"}),
        ),
    )
    .await;
    assert!(a.contains("FAKE: tool result was"), "{a}");
    assert!(std::fs::read_to_string(proj.join("README.md"))
        .unwrap()
        .contains("edited inside"));
    turn(
        &h,
        &tool(
            "Write",
            serde_json::json!({"file_path": proj.join("run_tests.sh"), "content": "echo TESTS-PASSED > test-output.txt\n"}),
        ),
    )
    .await;
    turn(&h, &bash("sh run_tests.sh")).await;
    assert_eq!(
        std::fs::read_to_string(proj.join("test-output.txt")).unwrap(),
        "TESTS-PASSED\n"
    );
    turn(
        &h,
        &bash("git init -q && git add README.md && git commit -q -m contained-commit"),
    )
    .await;
    let log = std::process::Command::new("git")
        .args(["-C", &proj.display().to_string(), "log", "--oneline"])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&log.stdout).contains("contained-commit"),
        "git commit inside the project failed: {}",
        String::from_utf8_lossy(&log.stderr)
    );

    // 5. The model was reached through the gateway with the real key; the child had another.
    let keys = h.model.credentials();
    assert!(!keys.is_empty());
    assert!(
        keys.iter()
            .all(|(k, auth)| k.as_deref() == Some("sk-test-dummy") && auth.is_none()),
        "{keys:?}"
    );
    let rows: i64 = h
        .db()
        .query_row(
            "SELECT COUNT(*) FROM model_requests WHERE user_id = ?1",
            [USER],
            |r| r.get(0),
        )
        .unwrap();
    assert!(rows > 0, "the gateway recorded no model request");

    // 6. Resume after a restart: the session's history lives in the private HOME.
    h.stop().await;
    h.start().await;
    let a = turn(&h, "do you remember").await;
    assert!(a.contains("FAKE: you said do you remember"), "{a}");
    let last = h.model.last_prompt_texts().join("\n");
    assert!(
        h.model
            .requests()
            .last()
            .unwrap()
            .to_string()
            .contains("hello again"),
        "the resumed session lost its history: {last}"
    );
    h.stop().await;
}

/// Processes whose command line names `needle` and whose environment names `scope` (this
/// test's temp dir: other tests run their own `claude` processes at the same time).
fn processes_with(needle: &str, scope: &Path) -> Vec<String> {
    let scope = scope.display().to_string();
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        if !e
            .file_name()
            .to_string_lossy()
            .chars()
            .all(|c| c.is_ascii_digit())
        {
            continue;
        }
        if let Ok(cmd) = std::fs::read(e.path().join("cmdline")) {
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            let env = std::fs::read(e.path().join("environ")).unwrap_or_default();
            if cmd.contains(needle) && String::from_utf8_lossy(&env).contains(&scope) {
                out.push(format!("{}: {cmd}", e.file_name().to_string_lossy()));
            }
        }
    }
    out
}

fn line_count(p: &Path) -> usize {
    std::fs::read_to_string(p)
        .map(|s| s.lines().count())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_leaves_no_claude_and_the_turn_runs_once_after_restart() {
    let mut h = Harness::new().await;
    let proj: PathBuf = h.approved().join("proj");
    // The first run records itself and then takes long; the re-run records itself and ends.
    std::fs::write(
        proj.join("once.sh"),
        "echo run >> runs.log\nif [ \"$(wc -l < runs.log)\" -lt 2 ]; then sleep 120; fi\necho finished\n",
    )
    .unwrap();
    h.start().await;
    h.send("/cd proj");
    h.wait_message(USER, "cd answer", |m| m.text.contains("proj"))
        .await;
    h.send(&bash("sh once.sh"));
    let runs = proj.join("runs.log");
    support::wait_for("the first run to start its side effect", || {
        line_count(&runs) == 1
    })
    .await;
    // The launcher runs the CLI by its resolved path.
    let cli = claude_bin().canonicalize().unwrap().display().to_string();
    assert!(
        !processes_with(&cli, h.tmp.path()).is_empty(),
        "claude runs before the kill"
    );
    h.kill().await;
    // Positive marker first (ccgate is gone), then: no claude, no tool it started.
    support::wait_for("every contained process to end", || {
        processes_with(&cli, h.tmp.path()).is_empty()
            && processes_with("once.sh", h.tmp.path()).is_empty()
    })
    .await;
    assert_eq!(line_count(&runs), 1, "nothing ran while ccgate was down");

    h.start().await;
    h.wait_message(USER, "the re-run's answer", |m| {
        m.text.contains("FAKE: tool result was") && m.text.contains("finished")
    })
    .await;
    assert_eq!(
        line_count(&runs),
        2,
        "the crashed run and exactly one re-run"
    );
    h.stop().await;
    assert!(
        processes_with(&cli, h.tmp.path()).is_empty(),
        "claude outlived a clean stop"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_boundary_claude_is_not_started_and_the_user_is_told() {
    let mut h = Harness::new().await;
    h.set_env("BWRAP_PATH", "/nonexistent/bwrap");
    h.start().await;
    h.send("hello");
    let m = h
        .wait_message(USER, "the refusal", |m| {
            m.text.contains("OS boundary is not available")
        })
        .await;
    assert!(m.text.contains("SANDBOX=off"), "{}", m.text);
    assert_eq!(h.model.request_count(), 0, "the model was reached");
    let mark = h.last_message_id(USER);
    h.send("/status");
    let s = h
        .wait_message(USER, "status", |m| m.message_id > mark)
        .await;
    assert!(s.text.contains("unavailable"), "{}", s.text);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandbox_off_is_loud_and_still_works() {
    let mut h = Harness::new().await;
    h.set_env("SANDBOX", "off");
    h.start().await;
    let a = turn(&h, "hello uncontained").await;
    assert!(a.contains("FAKE: you said hello uncontained"), "{a}");
    let mark = h.last_message_id(USER);
    h.send("/status");
    let s = h
        .wait_message(USER, "status", |m| m.message_id > mark)
        .await;
    assert!(s.text.contains("OFF (SANDBOX=off)"), "{}", s.text);
    assert!(
        h.log().contains("WITHOUT an OS boundary"),
        "no start-up warning"
    );
    h.stop().await;
}

/// A one-shot HTTP server on loopback answering `body`; counts its connections.
async fn http_server(body: &'static str) -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = hits.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf).await;
                let reply = format!(
                    "HTTP/1.0 200 OK\r\ncontent-length: {}\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(reply.as_bytes()).await;
            });
        }
    });
    (port, hits)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tools_reach_only_allowlisted_hosts_through_the_egress_proxy() {
    let mut h = Harness::new().await;
    let (allowed, allowed_hits) = http_server("ALLOWED-BODY").await;
    let (other, other_hits) = http_server("OTHER-BODY").await;
    h.set_env("EGRESS_ALLOW", &format!("127.0.0.1:{allowed}"));
    let proj = h.approved().join("proj");
    // Speaks CONNECT to the proxy named in HTTPS_PROXY, then HTTP through the tunnel.
    std::fs::write(
        proj.join("fetch.py"),
        format!(
            r#"import os, socket
proxy = os.environ["HTTPS_PROXY"].rsplit(":", 1)
out = []
for port in ({allowed}, {other}):
    s = socket.create_connection(("127.0.0.1", int(proxy[1])), timeout=5)
    s.sendall(("CONNECT 127.0.0.1:%d HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % (port, port)).encode())
    head = s.recv(4096).decode(errors="replace")
    status = head.split(" ", 2)[1] if " " in head else "?"
    body = ""
    if status == "200":
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        body = data.decode(errors="replace").split("\r\n\r\n", 1)[-1]
    out.append("%d %s %s" % (port, status, body))
with open("fetch-result.txt", "w") as f:
    f.write("\n".join(out) + "\n")
"#
        ),
    )
    .unwrap();
    h.start().await;
    h.send("/cd proj");
    h.wait_message(USER, "cd answer", |m| m.text.contains("proj"))
        .await;
    turn(&h, &bash("python3 fetch.py")).await;
    let result = std::fs::read_to_string(proj.join("fetch-result.txt")).unwrap();
    assert!(
        result.contains(&format!("{allowed} 200 ALLOWED-BODY")),
        "the allowlisted host was not reachable:\n{result}"
    );
    assert!(
        result.contains(&format!("{other} 403")),
        "a host off the list was reachable:\n{result}"
    );
    assert_eq!(allowed_hits.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(other_hits.load(std::sync::atomic::Ordering::SeqCst), 0);
    let denied: i64 = h
        .db()
        .query_row(
            "SELECT COUNT(*) FROM audit_log WHERE event = 'egress_denied' AND details LIKE ?1",
            [format!("%{other}%")],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(denied, 1, "the refusal was not audited");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_shows_the_mechanism_and_every_layer() {
    let mut h = Harness::new().await;
    let run = |h: &Harness, args: &'static [&'static str]| {
        let mut cmd = h.command();
        cmd.args(args);
        async move {
            let out = cmd.output().await.unwrap();
            (
                out.status.code().unwrap_or(-1),
                String::from_utf8_lossy(&out.stdout).into_owned(),
            )
        }
    };
    let (rc, out) = run(&h, &["doctor"]).await;
    assert_eq!(rc, 0, "{out}");
    assert!(
        out.contains("ok    os boundary") && out.contains("bubblewrap"),
        "{out}"
    );
    for layer in [
        "files",
        "secret files",
        "processes",
        "network",
        "privileges",
        "lifetime",
    ] {
        assert!(
            out.contains(&format!("· {layer}")),
            "{layer} missing:\n{out}"
        );
    }
    assert!(
        out.contains("ok    model credential") && out.contains("ephemeral key"),
        "{out}"
    );

    // Without the mechanism doctor fails and says what to do.
    h.set_env("BWRAP_PATH", "/nonexistent/bwrap");
    let (rc, out) = run(&h, &["doctor"]).await;
    assert_eq!(rc, 2, "{out}");
    assert!(out.contains("FAIL  os boundary"), "{out}");
    assert!(out.contains("not enforced"), "{out}");

    // SANDBOX=off is shown as such; no credential is a failure with the names to set.
    h.set_env("BWRAP_PATH", "bwrap");
    h.set_env("SANDBOX", "off");
    h.set_env("ANTHROPIC_API_KEY", "");
    let (rc, out) = run(&h, &["doctor"]).await;
    assert_eq!(rc, 2, "{out}");
    assert!(out.contains("OFF (SANDBOX=off)"), "{out}");
    assert!(
        out.contains("FAIL  model credential") && out.contains("CLAUDE_CODE_OAUTH_TOKEN"),
        "{out}"
    );
    h.stop().await;
}
