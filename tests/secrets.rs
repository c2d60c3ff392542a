//! End to end: secret folders and secrets in git's history, through the real binary, the fake
//! Telegram and Anthropic APIs and the real `claude` CLI (issue 10, "Policy precision").

mod support;

use std::path::Path;

use support::{Harness, USER};

fn audit_count(h: &Harness, event: &str, needle: &str) -> i64 {
    h.db()
        .query_row(
            "SELECT COUNT(*) FROM audit_log WHERE event = ?1 AND details LIKE ?2",
            rusqlite::params![event, format!("%{needle}%")],
            |r| r.get(0),
        )
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cd_into_a_secret_folder_is_refused_and_audited() {
    let mut h = Harness::new().await;
    let proj = h.approved().join("proj");
    std::fs::create_dir_all(proj.join(".ssh")).unwrap();
    std::fs::write(proj.join(".ssh/id_ed25519"), "PRIVATE-KEY-MATERIAL").unwrap();
    std::fs::create_dir_all(proj.join(".aws")).unwrap();
    std::os::unix::fs::symlink(proj.join(".ssh"), proj.join("src/keys")).unwrap();
    h.start().await;
    h.ask("/cd proj", "Now in proj").await;

    for attack in [
        "/cd .ssh",
        "/cd ./.SSH",
        "/cd src/../.ssh",
        "/cd src/keys",
        "/cd .aws",
    ] {
        let reply = h.ask(attack, "Cannot change directory").await;
        assert!(reply.contains("secret folder"), "{attack}: {reply}");
    }
    let abs = format!("/cd {}", proj.join(".ssh").display());
    h.ask(&abs, "secret folder").await;
    // Still where it was, and /ls neither lists the folder nor anything in it.
    h.ask("/pwd", "proj").await;
    let ls = h.ask("/ls", "README.md").await;
    assert!(!ls.contains(".ssh") && !ls.contains("id_ed25519"), "{ls}");
    // Ordinary folders still work.
    h.ask("/cd src", "Now in proj/src").await;
    h.ask("/cd ..", "Now in proj").await;
    // Every refusal is audited as a secret-file block, naming the command.
    assert_eq!(
        audit_count(&h, "secret_file_blocked", "\"command\":\"cd\""),
        6
    );

    // Claude listing the folder is refused by the policy too.
    h.send(r#"[[tool:Bash:{"command":"ls -la .ssh","description":"x"}]]"#);
    let m = h
        .wait_message(USER, "ls .ssh refused", |m| {
            m.text.contains("FAKE: tool error was")
        })
        .await;
    assert!(m.text.contains("secret"), "{}", m.text);
    assert!(!h
        .model
        .requests()
        .iter()
        .any(|r| r.to_string().contains("id_ed25519")));
    h.stop().await;
}

fn git(dir: &Path, args: &[&str]) {
    let out = std::process::Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {out:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_committed_env_is_not_read_back_through_git() {
    let mut h = Harness::new().await;
    let proj = h.approved().join("proj");
    git(&proj, &["init", "-q", "-b", "main"]);
    std::fs::write(proj.join(".env"), "API_KEY=history-secret-4711\n").unwrap();
    git(&proj, &["add", "-A"]);
    git(&proj, &["commit", "-qm", "add config"]);
    git(&proj, &["rm", "-q", ".env"]);
    git(
        &proj,
        &["commit", "-qm", "remove the env file by mistake committed"],
    );
    h.start().await;
    h.ask("/cd proj", "Now in proj").await;

    for cmd in [
        "git show HEAD~1:.env",
        "git show HEAD~1 -- .env",
        "git log -p",
        "git cat-file -p HEAD~1:.env",
    ] {
        h.send(&format!(
            r#"[[tool:Bash:{{"command":"{cmd}","description":"x"}}]]"#
        ));
        let m = h
            .wait_message(USER, cmd, |m| m.text.contains("FAKE: tool error was"))
            .await;
        assert!(m.text.contains("secret"), "{cmd}: {}", m.text);
        assert!(!m.text.contains("history-secret"), "{cmd}: {}", m.text);
    }
    // Ordinary history work still runs (inside the OS boundary, with the real git).
    h.send(r#"[[tool:Bash:{"command":"git log --oneline -1","description":"x"}]]"#);
    h.wait_message(USER, "git log --oneline", |m| {
        m.text.contains("FAKE: tool result was") && m.text.contains("remove the env file")
    })
    .await;
    h.send(r#"[[tool:Bash:{"command":"git show HEAD:README.md","description":"x"}]]"#);
    h.wait_message(USER, "git show of an ordinary file", |m| {
        m.text.contains("FAKE: tool result was: # proj")
    })
    .await;

    // Every refusal is recorded with the rule that made it; nothing reached the model.
    let denied: Vec<String> = h
        .db()
        .prepare("SELECT input FROM tool_usage WHERE decision = 'deny' ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(denied.len(), 4, "{denied:?}");
    assert_eq!(
        audit_count(&h, "tool_decision", "secret_files.git_history"),
        3
    );
    assert!(!h
        .model
        .requests()
        .iter()
        .any(|r| r.to_string().contains("history-secret")));
    h.stop().await;
}
