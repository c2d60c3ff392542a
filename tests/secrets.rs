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

/// `ccgate doctor --deep` in the harness's environment: (exit code, stdout).
async fn doctor_deep(h: &Harness) -> (i32, String) {
    let out = h
        .command()
        .args(["doctor", "--deep"])
        .output()
        .await
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_deep_finds_a_secret_value_in_a_projects_history_and_own_files_in_reach() {
    const HOOK_SECRET: &str = "generic-webhook-secret-committed-once";
    let mut h = Harness::new().await;
    h.set_env("WEBHOOK_API_SECRET", HOOK_SECRET);
    let proj = h.approved().join("proj");
    std::fs::create_dir_all(&proj).unwrap();
    git(&proj, &["init", "-q", "-b", "main"]);
    std::fs::write(
        proj.join("deploy.md"),
        format!("curl -H 'Bearer {HOOK_SECRET}'\n"),
    )
    .unwrap();
    git(&proj, &["add", "deploy.md"]);
    git(&proj, &["commit", "-qm", "document the deploy hook"]);
    std::fs::write(proj.join("deploy.md"), "curl -H 'Bearer $SECRET'\n").unwrap();
    git(&proj, &["commit", "-qam", "no secret in docs"]);
    // The policy file in the approved directory: a script Claude runs could rewrite it.
    let policy = h.approved().join("policy.toml");
    std::fs::write(&policy, "[tools]\n").unwrap();
    h.set_env("POLICY_FILE", &policy.display().to_string());
    // A secret file others may read.
    let token_file = h.tmp.path().join("bot-token");
    std::fs::write(&token_file, format!("{}\n", h.token)).unwrap();
    std::fs::set_permissions(
        &token_file,
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )
    .unwrap();
    h.unset_env("TELEGRAM_BOT_TOKEN");
    h.set_env("TELEGRAM_BOT_TOKEN_FILE", &token_file.display().to_string());

    let (rc, out) = doctor_deep(&h).await;
    assert_eq!(rc, 2, "{out}");
    assert!(
        out.contains("FAIL  secrets in git history")
            && out.contains("WEBHOOK_API_SECRET is in the history of")
            && out.contains("document the deploy hook"),
        "{out}"
    );
    assert!(
        out.contains("FAIL  own files")
            && out.contains("POLICY_FILE")
            && out.contains("is inside APPROVED_DIRECTORY")
            && out.contains("TELEGRAM_BOT_TOKEN_FILE")
            && out.contains("mode 644"),
        "{out}"
    );
    assert!(
        !out.contains(HOOK_SECRET),
        "the value itself is never printed"
    );
    assert!(!out.contains(&h.token), "the token is never printed");

    // Plain doctor does not search history (and says nothing about it).
    let out2 = h.command().arg("doctor").output().await.unwrap();
    let out2 = String::from_utf8_lossy(&out2.stdout).into_owned();
    assert!(!out2.contains("secrets in git history"), "{out2}");

    // Fixed: the history rewritten, the policy moved out, the token file private.
    std::fs::remove_dir_all(proj.join(".git")).unwrap();
    git(&proj, &["init", "-q", "-b", "main"]);
    git(&proj, &["add", "deploy.md"]);
    git(&proj, &["commit", "-qm", "fresh start"]);
    let moved = h.tmp.path().join("policy.toml");
    std::fs::rename(&policy, &moved).unwrap();
    h.set_env("POLICY_FILE", &moved.display().to_string());
    std::fs::set_permissions(
        &token_file,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let (rc, out) = doctor_deep(&h).await;
    assert_eq!(rc, 0, "{out}");
    assert!(
        out.contains("ok    secrets in git history") && out.contains("none in 1 repositories"),
        "{out}"
    );
    assert!(out.contains("ok    own files"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn own_files_in_reach_of_claude_are_told_to_the_admins_at_start() {
    let mut h = Harness::new().await;
    h.set_env("USER_ROLES", &format!("{USER}:admin"));
    let policy = h.approved().join("policy.toml");
    std::fs::write(&policy, "[tools]\n").unwrap();
    h.set_env("POLICY_FILE", &policy.display().to_string());
    h.start().await;
    let alert = h
        .wait_message(USER, "the start-up alert", |m| {
            m.text.contains("Check this installation")
        })
        .await;
    assert!(
        alert.text.contains("POLICY_FILE") && alert.text.contains("could rewrite it"),
        "{}",
        alert.text
    );
    assert!(h.log().contains("is inside APPROVED_DIRECTORY"));
    h.stop().await;
}
