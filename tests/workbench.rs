//! End to end: the `/git` panel and `/export`, through the real binary, the fake Telegram, the
//! real jail and (for export) the real claude CLI against the fake model.

mod support;

use std::path::Path;
use std::process::Command;

use support::fake_telegram::{SentDocument, SentMessage};
use support::{Harness, USER};

/// The programs a hostile repository plants, each touching its own marker when run.
const PLANTED: &[&str] = &[
    "fsmonitor",
    "include-textconv",
    "hook",
    "textconv",
    "clean",
    "external-diff",
];

fn sh(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.invalid")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.invalid")
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {out:?}");
}

fn script(path: &Path, marker: &Path, tail: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(
        path,
        format!("#!/bin/sh\ntouch '{}'\n{tail}\n", marker.display()),
    )
    .unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// A repository with a committed `.env` (changed since) and a configuration that runs a
/// program for every read-only command it can: fsmonitor, a hooks
/// path, textconv drivers (one defined through an include) and a clean filter chosen by
/// `.gitattributes`, a pager, an external diff.
fn hostile_repo(proj: &Path) -> std::path::PathBuf {
    sh(proj, &["init", "-q", "-b", "main"]);
    std::fs::write(proj.join(".env"), "PLANTED_VALUE=committed-zebra-17\n").unwrap();
    std::fs::write(proj.join("notes.txt"), "first notes\n").unwrap();
    // A secret file committed and left unchanged: inside the boundary its work-tree copy is
    // masked, which must not make it look changed.
    std::fs::write(proj.join("secrets.yml"), "api_key: unchanged-zebra-99\n").unwrap();
    std::fs::write(
        proj.join(".gitattributes"),
        "*.txt diff=evil filter=evil\n*.md diff=incl\n",
    )
    .unwrap();
    sh(proj, &["add", "-A"]);
    sh(proj, &["commit", "-q", "-m", "first <b>commit</b> & more"]);
    // An upstream one commit behind.
    sh(proj, &["update-ref", "refs/remotes/origin/main", "HEAD"]);
    std::fs::write(proj.join("LICENSE"), "MIT\n").unwrap();
    sh(proj, &["add", "LICENSE"]);
    sh(proj, &["commit", "-q", "-m", "second"]);
    let evil = proj.join(".evil");
    let markers = proj.join("markers");
    std::fs::create_dir_all(evil.join("hooks")).unwrap();
    std::fs::create_dir_all(&markers).unwrap();
    let m = |n: &str| markers.join(n);
    script(&evil.join("fsmonitor.sh"), &m("fsmonitor"), "exit 1");
    script(
        &evil.join("include-textconv.sh"),
        &m("include-textconv"),
        "cat \"$1\"",
    );
    for hook in [
        "post-index-change",
        "pre-commit",
        "reference-transaction",
        "post-checkout",
    ] {
        script(&evil.join("hooks").join(hook), &m("hook"), "exit 0");
    }
    script(&evil.join("textconv.sh"), &m("textconv"), "cat \"$1\"");
    script(&evil.join("clean.sh"), &m("clean"), "cat");
    script(&evil.join("pager.sh"), &m("pager"), "cat");
    script(&evil.join("extdiff.sh"), &m("external-diff"), "exit 0");
    std::fs::write(
        evil.join("extra.cfg"),
        format!(
            "[diff \"incl\"]\n\ttextconv = {}\n",
            evil.join("include-textconv.sh").display()
        ),
    )
    .unwrap();
    let cfg = proj.join(".git/config");
    let mut c = std::fs::read_to_string(&cfg).unwrap();
    c.push_str(&format!(
        "[core]\n\tfsmonitor = {e}/fsmonitor.sh\n\thooksPath = {e}/hooks\n\tpager = {e}/pager.sh\n\
         [diff \"evil\"]\n\ttextconv = {e}/textconv.sh\n[filter \"evil\"]\n\tclean = {e}/clean.sh\n\
         [diff]\n\texternal = {e}/extdiff.sh\n[pager]\n\tlog = {e}/pager.sh\n\tdiff = {e}/pager.sh\n\
         [include]\n\tpath = {e}/extra.cfg\n\
         [remote \"origin\"]\n\turl = https://bob:ghp_abcdefghijklmnopqrstuvwxyz0123456789@github.com/x/y\n\
         \tfetch = +refs/heads/*:refs/remotes/origin/*\n[branch \"main\"]\n\tremote = origin\n\tmerge = refs/heads/main\n",
        e = evil.display()
    ));
    std::fs::write(&cfg, c).unwrap();
    // The changes the panel shows: the secret changed, a tracked file and an untracked one.
    std::fs::write(proj.join(".env"), "PLANTED_VALUE=changed-zebra-42\n").unwrap();
    std::fs::write(
        proj.join("notes.txt"),
        "second notes, <longer> & \"quoted\"\n",
    )
    .unwrap();
    std::fs::write(proj.join("README.md"), "# proj\nchanged readme line\n").unwrap();
    markers
}

/// Press the panel's button `label` and wait for the answer containing `expect`.
async fn press(h: &Harness, panel: &SentMessage, label: &str, expect: &str) -> SentMessage {
    let data = support::button_data(panel, label);
    let before = h.last_message_id(USER);
    h.tg.inject_callback(USER, USER, panel.message_id, &data);
    h.wait_message(USER, expect, |m| {
        m.message_id > before && m.text.contains(expect)
    })
    .await
}

/// The `n`th document sent to the user, once it arrived.
async fn wait_doc(h: &Harness, n: usize) -> SentDocument {
    support::wait_for("a document", || h.tg.documents(USER).len() >= n).await;
    h.tg.documents(USER)[n - 1].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn git_panel_runs_none_of_a_hostile_repositorys_programs_and_masks_secrets() {
    let mut h = Harness::new().await;
    let proj = h.approved().join("proj");
    let markers = hostile_repo(&proj);

    // Control: each planted program really runs under a plain git (so its marker's absence
    // below means something). Then the markers are cleared.
    for args in [
        vec!["status"],
        vec!["-p", "log", "-n1"],
        vec!["diff", "HEAD"],
        vec!["hook", "run", "post-index-change"],
    ] {
        let _ = Command::new("git")
            .args(&args)
            .current_dir(&proj)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("PAGER", "cat")
            .output()
            .unwrap();
    }
    // textconv only runs without an external diff.
    let _ = Command::new("git")
        .args(["diff", "--no-ext-diff", "HEAD"])
        .current_dir(&proj)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .unwrap();
    for p in PLANTED {
        assert!(
            markers.join(p).exists(),
            "control: the planted {p} program does not run under plain git; the test would prove nothing"
        );
        std::fs::remove_file(markers.join(p)).unwrap();
    }

    h.start().await;
    h.ask("/cd proj", "Now in proj").await;
    let before = h.last_message_id(USER);
    let t0 = std::time::Instant::now();
    h.send("/git");
    let panel = h
        .wait_message(USER, "the git panel with buttons", |m| {
            m.message_id > before
                && m.reply_markup
                    .as_ref()
                    .is_some_and(|r| r.to_string().contains("git:diff"))
        })
        .await;
    eprintln!("measured: /git panel answered in {:?}", t0.elapsed());
    assert!(panel.text.contains("main"), "{}", panel.text);
    assert!(
        panel.text.contains("→ origin/main · ↑1 ↓0"),
        "upstream and ahead/behind through the disarmed config: {}",
        panel.text
    );
    assert!(panel.text.contains("README.md"), "{}", panel.text);
    assert!(panel.text.contains("notes.txt"), "{}", panel.text);
    assert!(
        panel.text.contains(" M .env"),
        "a changed secret file is listed: {}",
        panel.text
    );
    assert!(
        !panel.text.contains("secrets.yml"),
        "an unchanged secret file is not a change: {}",
        panel.text
    );

    let diff = press(&h, &panel, "Diff", "file").await;
    assert!(
        diff.text.contains("changed readme line"),
        "the diff shows tracked changes: {}",
        diff.text
    );
    assert!(
        diff.text.contains("second notes, <longer> & \"quoted\""),
        "{}",
        diff.text
    );
    assert!(
        diff.text
            .contains("diff --git a/.env b/.env\n(secret file, not shown)"),
        "the .env change is masked: {}",
        diff.text
    );
    assert!(
        !diff.text.contains("zebra"),
        "no secret content in the diff: {}",
        diff.text
    );
    let log = press(&h, &panel, "Log", "Last commits").await;
    assert!(
        log.text.contains("first <b>commit</b> & more"),
        "{}",
        log.text
    );
    let status = press(&h, &panel, "Status", "changed:").await;
    assert!(
        status.text.contains("?? "),
        "untracked listed: {}",
        status.text
    );

    // Every answer arrived; none of the planted programs ran (the pager would need a
    // terminal even under plain git, so it has no control above, but it has a marker too).
    for p in PLANTED.iter().chain(&["pager"]) {
        assert!(
            !markers.join(p).exists(),
            "the planted {p} program ran during /git"
        );
    }
    for line in h.log().lines().filter(|l| l.contains("jailed git run")) {
        eprintln!("measured: {line}");
    }
    for m in h.tg.messages(USER) {
        assert!(
            !m.text.contains("ghp_"),
            "a remote's credential leaked: {}",
            m.text
        );
    }
    assert!(h.audit_count("git_panel") >= 4);
    assert!(h.audit_count("git_secret_masked") >= 1);
    assert!(h.tg.unanswered_callbacks().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn git_outside_a_repository_says_so() {
    let mut h = Harness::new().await;
    h.start().await;
    let reply = h.ask("/git", "not in a git repository").await;
    assert!(!reply.contains("❌"), "{reply}");
    h.ask("/cd proj", "Now in proj").await;
    h.ask("/git", "not in a git repository").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn git_without_the_boundary_refuses_and_runs_nothing() {
    let mut h = Harness::new().await;
    let proj = h.approved().join("proj");
    let markers = hostile_repo(&proj);
    h.set_env("SANDBOX", "off");
    h.start().await;
    h.ask("/cd proj", "Now in proj").await;
    let reply = h.ask("/git", "only inside").await;
    assert!(reply.contains("SANDBOX=off"), "{reply}");
    assert_eq!(h.audit_count("git_refused"), 1);
    for p in PLANTED {
        assert!(!markers.join(p).exists(), "{p} ran");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_diff_comes_as_a_document_cut_at_the_cap_with_secrets_still_masked() {
    let mut h = Harness::new().await;
    let proj = h.approved().join("proj");
    sh(&proj, &["init", "-q", "-b", "main"]);
    let lines =
        |tag: &str| -> String { (0..800).map(|i| format!("{tag} line {i} <&>\n")).collect() };
    std::fs::write(proj.join("big.txt"), lines("old")).unwrap();
    std::fs::write(proj.join(".env"), "PLANTED_VALUE=old-zebra\n").unwrap();
    sh(&proj, &["add", "-A"]);
    sh(&proj, &["commit", "-q", "-m", "big"]);
    std::fs::write(proj.join("big.txt"), lines("new")).unwrap();
    std::fs::write(proj.join(".env"), "PLANTED_VALUE=new-zebra\n").unwrap();
    // Past the output cap (1 MiB): cut there, and said so.
    std::fs::write(proj.join("huge.txt"), "h".repeat(100) + "\n").unwrap();
    sh(&proj, &["add", "huge.txt"]);
    std::fs::write(
        proj.join("huge.txt"),
        format!("{}\n", "h".repeat(100)).repeat(12_000),
    )
    .unwrap();
    h.start().await;
    h.ask("/cd proj", "Now in proj").await;
    let before = h.last_message_id(USER);
    h.send("/git");
    let panel = h
        .wait_message(USER, "the panel", |m| {
            m.message_id > before && m.reply_markup.is_some()
        })
        .await;
    let data = support::button_data(&panel, "Diff");
    h.tg.inject_callback(USER, USER, panel.message_id, &data);
    let doc = wait_doc(&h, 1).await;
    assert_eq!(doc.filename, "changes.diff");
    let text = String::from_utf8(doc.bytes).unwrap();
    assert!(
        text.contains("+new line 799 <&>"),
        "the whole diff, unescaped"
    );
    assert!(text.contains("diff --git a/.env b/.env\n(secret file, not shown)"));
    assert!(!text.contains("zebra"), "{text}");
    assert!(text.contains("[ccgate: output cut at 1024 KiB]"));
    assert!(text.len() < 1024 * 1024 + 4096, "{}", text.len());
    let caption = doc.caption.unwrap_or_default();
    assert!(caption.contains("−800"), "{caption}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_sends_the_session_escaped_as_html_valid_as_json_and_as_markdown() {
    let mut h = Harness::new().await;
    h.start().await;
    h.ask("/cd proj", "Now in proj").await;
    h.ask("/export html", "No session here yet").await;

    let prompt = "<script>alert('x')</script> & \"quotes\" <b>bold</b>";
    h.send(prompt);
    h.wait_message(USER, "the answer", |m| m.text.contains("FAKE: you said"))
        .await;
    // The turn is recorded once its answer is queued; wait for the row.
    support::wait_for("the turn recorded", || {
        h.db()
            .query_row(
                "SELECT COUNT(*) FROM messages WHERE response IS NOT NULL",
                [],
                |r| r.get::<_, i64>(0),
            )
            .unwrap()
            >= 1
    })
    .await;

    h.send("/export html");
    let html = wait_doc(&h, 1).await;
    let text = String::from_utf8(html.bytes.clone()).unwrap();
    assert!(html.filename.ends_with(".html"), "{}", html.filename);
    assert!(
        !text.to_lowercase().contains("<script"),
        "no script element: {text}"
    );
    assert!(
        text.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;quotes&quot; &lt;b&gt;bold&lt;/b&gt;"),
        "the prompt is escaped: {text}"
    );
    assert!(text.contains("default-src 'none'"));
    assert!(html.caption.as_deref().unwrap_or("").contains("1 turn"));

    h.send("/export json");
    let json = wait_doc(&h, 2).await;
    assert!(json.filename.ends_with(".json"));
    let v: serde_json::Value = serde_json::from_slice(&json.bytes).expect("valid JSON");
    assert_eq!(v["turns"][0]["prompt"], prompt);
    assert!(v["turns"][0]["response"]
        .as_str()
        .unwrap()
        .contains("FAKE: you said"));

    h.send("/export md");
    let md = wait_doc(&h, 3).await;
    assert!(md.filename.ends_with(".md"));
    let md = String::from_utf8(md.bytes).unwrap();
    assert!(md.contains(&format!("> {prompt}")), "{md}");
    assert!(md.contains("**Claude:**"));

    assert_eq!(h.audit_count("session_exported"), 3);
    h.ask("/export pdf", "Usage: /export").await;
}
