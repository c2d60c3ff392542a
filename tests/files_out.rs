//! Files out, end to end: Claude's `mcp__ccgate__send_file` (ccgate's in-process MCP server,
//! carried over the CLI's control protocol) and `/get <path>`, with the real ccgate binary, the
//! real `claude` CLI inside the jail, the fake model scripting the tool calls and the fake Bot
//! API recording `sendDocument` / `sendPhoto`.

mod support;

use std::path::PathBuf;

use serde_json::Value;
use support::{wait_for, Harness, USER};

/// Bytes that start like a PNG: ccgate decides "photo" by the magic bytes alone, and the rest
/// makes the bytes recognisable when they come back from the fake.
fn png() -> Vec<u8> {
    let mut b = b"\x89PNG\r\n\x1a\n".to_vec();
    b.extend_from_slice(b"\x00\x00\x00\x0dIHDR chart bytes for the test");
    b
}

const SECRET: &str = "API_KEY=sk-live-4f9a8b7c6d5e4f3a2b1c";

async fn started(env: &[(&str, &str)]) -> Harness {
    let mut h = Harness::new().await;
    for (k, v) in env {
        h.set_env(k, v);
    }
    let proj = h.approved().join("proj");
    std::fs::write(proj.join("chart.png"), png()).unwrap();
    std::fs::write(proj.join(".env"), format!("{SECRET}\n")).unwrap();
    let outside = outside_file(&h);
    std::fs::write(&outside, "outside the approved directory\n").unwrap();
    std::os::unix::fs::symlink(&outside, proj.join("link.txt")).unwrap();
    h.start().await;
    h.ask("/cd proj", "Now in proj").await;
    h
}

/// A file next to the approved directory (outside it).
fn outside_file(h: &Harness) -> PathBuf {
    h.approved().parent().unwrap().join("outside.txt")
}

/// Every tool_result block the model received, as (is_error, text).
fn tool_results(h: &Harness) -> Vec<(bool, String)> {
    h.model
        .requests()
        .iter()
        .flat_map(|r| r["messages"].as_array().cloned().unwrap_or_default())
        .filter(|m| m["role"] == "user")
        .flat_map(|m| m["content"].as_array().cloned().unwrap_or_default())
        .filter(|b| b["type"] == "tool_result")
        .map(|b| {
            let text = match &b["content"] {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (b["is_error"] == true, text)
        })
        .collect()
}

fn send_file(path: &str, caption: Option<&str>) -> String {
    let mut input = serde_json::json!({ "path": path });
    if let Some(c) = caption {
        input["caption"] = c.into();
    }
    format!("[[tool:mcp__ccgate__send_file:{input}]]")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claude_sends_a_generated_file_and_an_image_but_never_a_secret() {
    let h = started(&[]).await;

    // (1) Claude writes a file, then sends it: the same bytes arrive as a document.
    h.send(&format!(
        r#"make a report [[tool:Write:{{"file_path":"report.txt","content":"generated report\n"}}]] {}"#,
        send_file("report.txt", Some("the <report> & more"))
    ));
    wait_for("report.txt sent as a document", || {
        h.tg.documents(USER)
            .iter()
            .any(|d| d.filename == "report.txt")
    })
    .await;
    let doc =
        h.tg.documents(USER)
            .into_iter()
            .find(|d| d.filename == "report.txt")
            .unwrap();
    assert_eq!(doc.bytes, b"generated report\n");
    // Escaped by ccgate, parsed back by Telegram: the caption reads as written.
    assert_eq!(doc.caption.as_deref(), Some("the <report> & more"));
    h.wait_message(USER, "the answer after the send", |m| {
        m.text.contains("FAKE: tool result was")
    })
    .await;
    let results = tool_results(&h);
    assert!(
        results
            .iter()
            .any(|(err, t)| !err && t.contains("sent document report.txt (17 B)")),
        "{results:?}"
    );
    let sent = h.audit_details("file_sent");
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["command"], "send_file");
    assert_eq!(sent[0]["path"], "proj/report.txt");
    assert_eq!(sent[0]["kind"], "document");

    // (2) An image goes as a photo, bytes unchanged.
    let before = h.last_message_id(USER);
    h.send(&format!("show the chart {}", send_file("chart.png", None)));
    wait_for("chart.png sent as a photo", || {
        h.tg.photos(USER).iter().any(|p| p.filename == "chart.png")
    })
    .await;
    let photo = h.tg.photos(USER).pop().unwrap();
    assert_eq!(photo.bytes, png());
    assert_eq!(photo.caption, None);
    h.wait_message(USER, "the answer after the photo", |m| {
        m.message_id > before
            && m.text
                .contains("FAKE: tool result was: sent photo chart.png")
    })
    .await;

    // (3) A secret file is refused: nothing sent, the model sees the refusal, audited.
    let before = h.last_message_id(USER);
    h.send(&format!("send the env {}", send_file(".env", None)));
    let m = h
        .wait_message(USER, "the answer after the refusal", |m| {
            m.message_id > before && m.text.contains("FAKE: tool error was")
        })
        .await;
    assert!(m.text.contains("refused: secret file"), "{}", m.text);
    assert!(!m.text.contains("sk-live"), "{}", m.text);
    let results = tool_results(&h);
    assert!(
        results
            .iter()
            .any(|(err, t)| *err && t.contains("refused: secret file (proj/.env)")),
        "{results:?}"
    );
    let blocked = h.audit_details("secret_file_blocked");
    assert!(
        blocked
            .iter()
            .any(|d| d["command"] == "send_file" && d["input"] == ".env"),
        "{blocked:?}"
    );

    // (4) A symlink inside the project pointing outside it is refused.
    let before = h.last_message_id(USER);
    h.send(&format!("send the link {}", send_file("link.txt", None)));
    let m = h
        .wait_message(USER, "the answer after the link refusal", |m| {
            m.message_id > before && m.text.contains("FAKE: tool error was")
        })
        .await;
    assert!(
        m.text.contains("refused: outside the project"),
        "{}",
        m.text
    );
    let rejected = h.audit_details("path_rejected");
    assert!(
        rejected
            .iter()
            .any(|d| d["command"] == "send_file" && d["input"] == "link.txt"),
        "{rejected:?}"
    );

    // Only the two allowed files ever reached Telegram.
    let files: Vec<String> = h.tg.sent_files().iter().map(|c| c.method.clone()).collect();
    assert_eq!(files, ["sendDocument", "sendPhoto"], "{files:?}");
    assert_eq!(h.audit_details("file_sent").len(), 2);
    // The CLI asked permission for ccgate's tool and the policy allowed it by default.
    let decisions = h.audit_details("tool_decision");
    assert!(
        decisions
            .iter()
            .any(|d| d["tool"] == "mcp__ccgate__send_file"
                && d["decision"] == "allow"
                && d["rule"] == "tools.ccgate_send_file"),
        "{decisions:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_sends_project_files_and_refuses_the_rest() {
    let h = started(&[("MAX_SEND_BYTES", "1000")]).await;
    std::fs::write(h.approved().join("proj/big.bin"), vec![7u8; 2000]).unwrap();

    h.ask("/get", "Usage: /get").await;

    let id = h.send("/get README.md");
    wait_for("README.md sent", || {
        h.tg.documents(USER)
            .iter()
            .any(|d| d.filename == "README.md")
    })
    .await;
    h.wait_settled("/get README.md", USER, &[id]).await;
    let doc = h.tg.documents(USER).pop().unwrap();
    assert_eq!(doc.bytes, b"# proj\n");
    assert_eq!(doc.caption.as_deref(), Some("README.md"));

    let id = h.send("/get chart.png");
    wait_for("chart.png sent as a photo", || {
        !h.tg.photos(USER).is_empty()
    })
    .await;
    h.wait_settled("/get chart.png", USER, &[id]).await;
    assert_eq!(h.tg.photos(USER)[0].bytes, png());

    let outside = h.ask("/get ../../outside.txt", "Cannot send").await;
    assert!(outside.contains("outside the project"), "{outside}");
    let link = h.ask("/get link.txt", "Cannot send").await;
    assert!(link.contains("outside the project"), "{link}");
    let secret = h.ask("/get .env", "Cannot send").await;
    assert!(secret.contains("secret file"), "{secret}");
    let big = h.ask("/get big.bin", "Cannot send").await;
    assert!(big.contains("too large (2.0 KiB > 1000 B)"), "{big}");
    let missing = h.ask("/get nope.txt", "Cannot send").await;
    assert!(missing.contains("no such file"), "{missing}");

    // Nothing else was sent; every refusal is audited with its rule.
    assert_eq!(h.tg.sent_files().len(), 2);
    let mut rules: Vec<String> = ["path_rejected", "secret_file_blocked", "file_send_refused"]
        .iter()
        .flat_map(|e| h.audit_details(e))
        .filter(|d| d["command"] == "/get")
        .map(|d| d["rule"].as_str().unwrap_or("").to_string())
        .collect();
    rules.sort();
    assert_eq!(
        rules,
        [
            "file.outside_project",
            "file.outside_project",
            "secret_files",
            "send.not_found",
            "send.too_large"
        ]
    );
    assert_eq!(h.audit_details("file_sent").len(), 2);
}
