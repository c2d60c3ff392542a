//! End to end: the chat commands, through the real binary and the fake Telegram.

mod support;

use support::{session_of, Harness, USER};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn directory_commands_stay_inside_the_approved_directory() {
    let mut h = Harness::new().await;
    let root = h.approved();
    std::os::unix::fs::symlink("/etc", root.join("escape")).unwrap();
    std::fs::write(root.join("proj/.env"), "SECRET=1").unwrap();
    std::fs::create_dir_all(root.join("other")).unwrap();
    h.start().await;

    h.ask("/start", "ccgate").await;
    assert!(h.ask("/help", "Commands").await.contains("/resume"));
    h.ask("/pwd", ".").await;
    let projects = h.ask("/projects", "Projects").await;
    assert!(
        projects.contains("proj/") && projects.contains("other/"),
        "{projects}"
    );
    assert!(
        !projects.contains("escape"),
        "a symlink out is not a project: {projects}"
    );

    h.ask("/cd ..", "Now in .").await; // at the root, `..` stays at the root
    h.ask("/cd proj", "Now in proj").await;
    let ls = h.ask("/ls", "README.md").await;
    assert!(ls.contains("src/"), "{ls}");
    assert!(!ls.contains(".env"), "secret files are not listed: {ls}");

    for attack in [
        "/cd /etc",
        "/cd ../..",
        "/cd ../escape",
        "/cd %2e%2e/%2e%2e",
        "/cd ~",
        "/cd src/../../../",
        "/cd README.md",
    ] {
        let reply = h.ask(attack, "Cannot change directory").await;
        assert!(!reply.contains("Now in"), "{attack}: {reply}");
    }
    h.ask("/pwd", "proj").await;

    // Claude runs in the chat's directory.
    h.send("where am I");
    h.wait_message(USER, "answer", |m| {
        m.text.contains("FAKE: you said where am I")
    })
    .await;
    let req = h.model.requests().last().unwrap().to_string();
    assert!(
        req.contains(&root.join("proj").display().to_string()),
        "cwd is proj"
    );

    // Every rejection is audited.
    let rejected: i64 = h
        .db()
        .query_row(
            "SELECT COUNT(*) FROM audit_log WHERE event = 'path_rejected'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(rejected, 7);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_new_resume_status_and_verbose() {
    let mut h = Harness::new().await;
    h.start().await;

    let s = h.ask("/status", "Session: none").await;
    assert!(s.contains("$0.0000 over 0 requests"), "{s}");

    h.send("first conversation");
    let a = h
        .wait_message(USER, "first", |m| m.text.contains("FAKE: you said first"))
        .await;
    let sid_a = session_of(&a);
    let cost_a = a
        .text
        .split("💰 $")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();

    let status = h.ask("/status", "Today").await;
    assert!(status.contains(&sid_a), "{status}");
    assert!(
        status.contains(&format!("${cost_a} over 1 request")),
        "real cost in status: {status}"
    );

    h.ask("/new", "New session").await;
    h.send("second conversation");
    let b = h
        .wait_message(USER, "second", |m| m.text.contains("FAKE: you said second"))
        .await;
    let sid_b = session_of(&b);
    assert_ne!(sid_a, sid_b);
    assert!(!h
        .model
        .requests()
        .last()
        .unwrap()
        .to_string()
        .contains("first conversation"));

    let list = h.ask("/sessions", "Sessions").await;
    assert!(list.contains(&sid_a) && list.contains(&sid_b), "{list}");

    h.ask("/resume zzzz", "No session").await;
    h.ask(&format!("/resume {}", &sid_a[..8]), "Resumed").await;
    h.send("back to the first");
    let c = h
        .wait_message(USER, "third", |m| m.text.contains("FAKE: you said back to"))
        .await;
    assert_eq!(session_of(&c), sid_a);
    assert!(h
        .model
        .requests()
        .last()
        .unwrap()
        .to_string()
        .contains("first conversation"));

    h.ask("/verbose 7", "Use /verbose 0, 1 or 2").await;
    h.ask("/verbose 0", "set to 0").await;
    h.ask("/verbose", "level is 0").await;
    h.ask("/nonsense", "Unknown command").await;
    // A command for another bot in a group-style mention is not ours: no reply.
    let before = h.tg.messages(USER).len();
    h.send("/status@someone_else_bot");
    h.ask("/pwd", ".").await;
    assert_eq!(h.tg.messages(USER).len(), before + 1, "only the /pwd reply");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claude_codes_own_commands_pass_through_and_the_rest_are_refused_clearly() {
    let mut h = Harness::new().await;
    h.start().await;
    h.send("hello first");
    h.wait_message(USER, "first answer", |m| {
        m.text.contains("FAKE: you said hello first")
    })
    .await;
    h.send("/cost");
    h.wait_message(USER, "the CLI's cost report", |m| {
        m.text.contains("Total duration")
    })
    .await;
    h.send("/context");
    h.wait_message(USER, "the CLI's context report", |m| {
        m.text.contains("Context Usage")
    })
    .await;
    h.send("/config");
    let refused = h
        .wait_message(USER, "the refusal", |m| {
            m.text.contains("Unknown command /config: neither")
        })
        .await;
    assert!(refused.text.contains("/compact"), "{}", refused.text);
    h.send("/help");
    let help = h
        .wait_message(USER, "help", |m| {
            m.text.contains("Claude Code's own commands")
        })
        .await;
    assert!(
        help.text.contains("/compact") && help.text.contains("/new"),
        "{}",
        help.text
    );
    // /config never reached the CLI or the model.
    assert!(!h
        .model
        .last_prompt_texts()
        .iter()
        .any(|p| p.contains("/config")));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_verifies_for_real_and_check_stays_offline() {
    let mut h = Harness::new().await;
    let run = |h: &Harness, what: &'static str| {
        let mut cmd = h.command();
        cmd.arg(what);
        async move {
            let out = cmd.output().await.unwrap();
            (
                out.status.code().unwrap_or(-1),
                String::from_utf8_lossy(&out.stdout).into_owned(),
            )
        }
    };
    let (rc, out) = run(&h, "doctor").await;
    assert_eq!(rc, 0, "{out}");
    assert!(
        out.contains("ok    telegram") && out.contains("@fake_bot"),
        "{out}"
    );
    assert!(out.contains("ok    database"), "{out}");

    // A CLI that is not Claude Code.
    h.set_env("CLAUDE_CLI_PATH", "/bin/true");
    let (rc, out) = run(&h, "check").await;
    assert_eq!(rc, 2, "{out}");
    assert!(out.contains("is not the Claude Code CLI"), "{out}");
    h.set_env(
        "CLAUDE_CLI_PATH",
        &support::claude_bin().display().to_string(),
    );

    // A token Telegram refuses: check (offline) cannot know, doctor does.
    h.set_env("TELEGRAM_BOT_TOKEN", "999999:AAwrongwrongwrongwrongwrong");
    let (rc, out) = run(&h, "check").await;
    assert_eq!(rc, 0, "{out}");
    assert!(out.contains("not contacted"), "{out}");
    let (rc, out) = run(&h, "doctor").await;
    assert_eq!(rc, 2, "{out}");
    assert!(
        out.contains("FAIL  telegram") && out.contains("refused the token"),
        "{out}"
    );

    // An unreachable Bot API.
    h.set_env("TELEGRAM_BOT_TOKEN", &h.token.clone());
    h.set_env("TELEGRAM_API_URL", "http://127.0.0.1:9");
    let (rc, out) = run(&h, "doctor").await;
    assert_eq!(rc, 2, "{out}");
    assert!(
        out.contains("FAIL  telegram") && out.contains("cannot reach"),
        "{out}"
    );

    // The placeholder token of .env.example is a configuration error.
    h.set_env(
        "TELEGRAM_BOT_TOKEN",
        "123456789:replace-with-your-token-from-botfather",
    );
    let out = h.command().arg("check").output().await.unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("placeholder"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_commands_that_never_talk_to_telegram_need_no_bot_token() {
    let mut h = Harness::new().await;
    h.unset_env("TELEGRAM_BOT_TOKEN");
    for args in [
        &[
            "policy",
            "check",
            r#"{"tool_name":"Bash","input":{"command":"ls"}}"#,
        ][..],
        &["audit", "verify"][..],
        &["pair", "list"][..],
        &["schedule", "list"][..],
    ] {
        let out = h.command().args(args).output().await.unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // The bot itself and its checks still need it, and say so.
    let out = h.command().arg("check").output().await.unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("TELEGRAM_BOT_TOKEN"));
}

/// State goes next to the `.env` file used, wherever ccgate is started from, and `check` lists
/// where each setting came from (never a secret's value).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_lives_next_to_the_env_file_and_check_says_where_settings_come_from() {
    let h = Harness::new().await;
    let conf = h.tmp.path().join("etc-ccgate");
    std::fs::create_dir_all(conf.join("policy")).unwrap();
    std::fs::write(conf.join("policy/rules.toml"), "").unwrap();
    let env_file = conf.join("bot.env");
    std::fs::write(
        &env_file,
        format!(
            "TELEGRAM_BOT_TOKEN={}\nAPPROVED_DIRECTORY={}\nPOLICY_FILE=policy/rules.toml\n",
            h.token,
            h.approved().display()
        ),
    )
    .unwrap();
    // Private, as the README says (a readable .env fails `check`: see tests/secrets.rs).
    std::fs::set_permissions(
        &env_file,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let elsewhere = h.tmp.path().join("somewhere-else");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let mut cmd = h.command();
    cmd.env_remove("DATABASE_URL")
        .env_remove("TELEGRAM_BOT_TOKEN")
        .env_remove("APPROVED_DIRECTORY")
        .current_dir(&elsewhere)
        .arg("--env-file")
        .arg(&env_file)
        .arg("check");
    let out = cmd.output().await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let db = conf.join("data/ccgate.db");
    assert!(
        stdout.contains(&format!("database               {}", db.display())),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("{}", conf.join("policy/rules.toml").display())),
        "{stdout}"
    );
    assert!(
        stdout.contains("TELEGRAM_BOT_TOKEN") && stdout.contains("set (hidden)"),
        "{stdout}"
    );
    assert!(!stdout.contains(&h.token), "{stdout}");
    assert!(
        stdout.contains("POLICY_FILE") && stdout.contains("[.env]"),
        "{stdout}"
    );
    assert!(
        stdout.contains("LOCK_DIR") && stdout.contains("[environment]"),
        "{stdout}"
    );
    assert!(!elsewhere.join("data").exists());

    // Under systemd's StateDirectory= (no DATABASE_URL) the database goes there.
    let state = h.tmp.path().join("var-lib-ccgate");
    std::fs::create_dir_all(&state).unwrap();
    let mut cmd = h.command();
    cmd.env_remove("DATABASE_URL")
        .env("STATE_DIRECTORY", &state)
        .current_dir(&elsewhere)
        .arg("check");
    let out = cmd.output().await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!(
            "database               {}",
            state.join("ccgate.db").display()
        )),
        "{stdout}"
    );
}

/// `ccgate service` prints a unit that systemd accepts, whose exposure systemd-analyze rates
/// "OK" (≤ 2.0), with exactly ccgate's folders writable and the boundary's namespaces allowed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_unit_is_valid_and_rated_ok_by_systemd_analyze() {
    let h = Harness::new().await;
    let out = h.command().arg("service").output().await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let unit = String::from_utf8(out.stdout).unwrap();
    for needle in [
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "PrivateTmp=yes",
        "CapabilityBoundingSet=\n",
        "SystemCallFilter=@system-service",
        "RestrictNamespaces=user mnt pid net ipc uts",
        "#LoadCredentialEncrypted=TELEGRAM_BOT_TOKEN:",
        &format!(
            "ReadWritePaths={}",
            h.approved().canonicalize().unwrap().display()
        ),
    ] {
        assert!(unit.contains(needle), "{needle} missing:\n{unit}");
    }
    let dir = h.tmp.path().join("unit");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("ccgate.service");
    std::fs::write(&path, &unit).unwrap();
    let verify = std::process::Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .expect("systemd-analyze (Debian package systemd) is needed for this test");
    assert!(
        verify.status.success(),
        "systemd-analyze verify: {}{}",
        String::from_utf8_lossy(&verify.stdout),
        String::from_utf8_lossy(&verify.stderr)
    );
    let security = std::process::Command::new("systemd-analyze")
        .args(["security", "--offline=yes"])
        .arg(&path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&security.stdout).into_owned();
    let line = text
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .unwrap_or_else(|| panic!("no score in:\n{text}"));
    let score: f64 = line
        .split(':')
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("unreadable score: {line}"));
    eprintln!("systemd-analyze security: {line}");
    assert!(score <= 2.0, "exposure {score} above OK:\n{text}");
}
