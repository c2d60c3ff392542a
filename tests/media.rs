//! Documents, archives and photos sent into the chat, end to end: the real ccgate binary with the
//! real `claude` CLI (inside the jail), the fake Bot API serving `getFile` and downloads, and
//! the fake model whose request log shows what reached it.

mod support;

use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::Value;
use support::{Harness, USER};

/// A valid `w`×1 RGB PNG (so every image is real, and each `w` gives different bytes).
fn png(w: u32) -> Vec<u8> {
    fn chunk(out: &mut Vec<u8>, kind: &[u8], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut crc = flate2::Crc::new();
        crc.update(kind);
        crc.update(data);
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        out.extend_from_slice(&crc.sum().to_be_bytes());
    }
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = w.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&1u32.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    chunk(&mut out, b"IHDR", &ihdr);
    let mut raw = vec![0u8];
    raw.extend(std::iter::repeat_n([200u8, 30, 30], w as usize).flatten());
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(&raw).unwrap();
    chunk(&mut out, b"IDAT", &z.finish().unwrap());
    chunk(&mut out, b"IEND", b"");
    out
}

fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, data) in entries {
        w.start_file(*name, opts).unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

/// A tar with one regular member `name` (written into the header as is, `..` included) and,
/// if given, a symlink member `link` → `/etc/passwd`.
fn tar_of(name: &str, link: Option<&str>) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_ustar();
    h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mode(0o644);
    h.set_size(4);
    h.set_cksum();
    b.append(&h, &b"evil"[..]).unwrap();
    if let Some(l) = link {
        let mut h = tar::Header::new_ustar();
        h.set_path(l).unwrap();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_link_name("/etc/passwd").unwrap();
        h.set_size(0);
        h.set_cksum();
        b.append(&h, &b""[..]).unwrap();
    }
    b.into_inner().unwrap()
}

/// A harness in `proj`, running.
async fn started(env: &[(&str, &str)]) -> Harness {
    let mut h = Harness::new().await;
    for (k, v) in env {
        h.set_env(k, v);
    }
    h.start().await;
    h.ask("/cd proj", "Now in proj").await;
    h
}

fn proj(h: &Harness) -> PathBuf {
    h.approved().join("proj")
}

/// Names of everything under `dir` (recursively, relative), sorted; empty if it is missing.
fn tree(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(base: &Path, d: &Path, out: &mut Vec<String>) {
        let Ok(rd) = std::fs::read_dir(d) else {
            return;
        };
        for e in rd.flatten() {
            let p = e.path();
            out.push(p.strip_prefix(base).unwrap().display().to_string());
            if e.file_type().unwrap().is_dir() {
                walk(base, &p, out);
            }
        }
    }
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// Every content block of the user messages the model received, over all requests.
fn user_blocks(h: &Harness) -> Vec<Vec<Value>> {
    h.model
        .requests()
        .iter()
        .map(|r| {
            r["messages"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|m| m["role"] == "user")
                .flat_map(|m| m["content"].as_array().cloned().unwrap_or_default())
                .collect()
        })
        .collect()
}

fn images_in(blocks: &[Value]) -> Vec<(String, String)> {
    blocks
        .iter()
        .filter(|b| b["type"] == "image")
        .map(|b| {
            (
                b["source"]["media_type"].as_str().unwrap_or("").to_string(),
                b["source"]["data"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

/// The reply (to `chat`) containing `needle`, after the upload `update` was handled.
async fn refusal(h: &Harness, update: i64, needle: &str) -> String {
    let m = h
        .wait_message(USER, &format!("a refusal containing {needle:?}"), |m| {
            m.text.contains(needle)
        })
        .await;
    h.wait_settled("the upload", USER, &[update]).await;
    m.text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_text_file_is_saved_and_claude_reads_it_from_the_path_it_was_told() {
    let h = started(&[]).await;
    let file =
        h.tg.register_file("notes.txt", b"hello from the upload\n".to_vec());
    let saved = proj(&h).join("uploads/notes.txt");
    // The fake model reads the path the prompt told it ({{SAVED_PATH}}, see fake_anthropic).
    let caption = r#"summarise it [[tool:Read:{"file_path":"{{SAVED_PATH}}"}]]"#;
    h.tg.inject_document(USER, USER, &file, "notes.txt", Some(caption));
    let fin = h
        .wait_message(USER, "the answer after the Read", |m| {
            m.text.contains("FAKE: tool result was")
        })
        .await;
    assert!(fin.text.contains("hello from the upload"), "{}", fin.text);
    assert_eq!(
        std::fs::read_to_string(&saved).unwrap(),
        "hello from the upload\n"
    );
    // Claude was told the path (relative to its working directory) in the prompt …
    let told = h.model.last_prompt_texts();
    assert!(
        told.iter()
            .any(|p| p.starts_with("summarise it") && p.contains("saved at uploads/notes.txt")),
        "{told:?}"
    );
    // … it read that path (made absolute from its working directory) …
    let read = h.model.requests().iter().any(|r| {
        r["messages"].as_array().into_iter().flatten().any(|m| {
            m["role"] == "assistant"
                && m["content"].as_array().into_iter().flatten().any(|b| {
                    b["type"] == "tool_use"
                        && b["name"] == "Read"
                        && b["input"]["file_path"] == saved.display().to_string().as_str()
                })
        })
    });
    assert!(read, "no Read of {}", saved.display());
    // … and the Read returned the file (the tool result in the model's log).
    let read_back = user_blocks(&h)
        .iter()
        .flatten()
        .any(|b| b["type"] == "tool_result" && b.to_string().contains("hello from the upload"));
    assert!(read_back, "no tool_result with the file's text");
    assert_eq!(h.audit_count("upload_saved"), 1);

    // A second file of the same name (other bytes, no caption) never replaces the first.
    let other =
        h.tg.register_file("notes.txt", b"second version\n".to_vec());
    h.tg.inject_document(USER, USER, &other, "notes.txt", None);
    h.wait_message(USER, "the default prompt's answer", |m| {
        m.text
            .contains("FAKE: you said Please look at the file I sent.")
    })
    .await;
    assert_eq!(
        std::fs::read_to_string(proj(&h).join("uploads/notes-1.txt")).unwrap(),
        "second version\n"
    );
    assert_eq!(
        std::fs::read_to_string(&saved).unwrap(),
        "hello from the upload\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zip_extracts_next_to_the_upload_and_claude_is_told_where() {
    let h = started(&[]).await;
    let zip = zip_of(&[
        ("src/main.rs", b"fn main() {}\n"),
        ("README.md", b"# zipped\n"),
    ]);
    let file = h.tg.register_file("p.zip", zip);
    h.tg.inject_document(USER, USER, &file, "p.zip", Some("[[text:unpacked]]"));
    h.wait_message(USER, "the answer", |m| m.text.contains("unpacked"))
        .await;
    let up = proj(&h).join("uploads");
    assert_eq!(
        tree(&up),
        vec!["p", "p.zip", "p/README.md", "p/src", "p/src/main.rs"]
    );
    assert_eq!(
        std::fs::read_to_string(up.join("p/src/main.rs")).unwrap(),
        "fn main() {}\n"
    );
    let told = h.model.last_prompt_texts();
    assert!(
        told.iter()
            .any(|p| p.contains("extracted into uploads/p/ (2 files")),
        "{told:?}"
    );
    assert_eq!(h.audit_count("archive_extracted"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zip_bomb_is_refused_and_nothing_is_kept() {
    let h = started(&[]).await;
    let zeros = vec![0u8; 16 << 20];
    let bomb = zip_of(&[("zeros.txt", &zeros)]);
    assert!(bomb.len() < 100 << 10);
    let file = h.tg.register_file("bomb.zip", bomb);
    let u =
        h.tg.inject_document(USER, USER, &file, "bomb.zip", Some("unpack"));
    let text = refusal(&h, u, "refused").await;
    assert!(
        text.contains("archive.ratio") && text.contains("zeros.txt"),
        "{text}"
    );
    assert_eq!(tree(&proj(&h).join("uploads")), Vec::<String>::new());
    assert_eq!(h.model.request_count(), 0, "nothing was sent to Claude");
    assert_eq!(h.audit_count("archive_refused"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tars_with_dotdot_or_a_symlink_member_are_refused_and_leave_nothing() {
    let h = started(&[]).await;
    let up = proj(&h).join("uploads");

    let dotdot = h.tg.register_file("a.tar", tar_of("../escape.txt", None));
    let u = h.tg.inject_document(USER, USER, &dotdot, "a.tar", None);
    let text = refusal(&h, u, "archive.traversal").await;
    assert!(text.contains("../escape.txt"), "{text}");

    let linked =
        h.tg.register_file("b.tar", tar_of("ok.txt", Some("passwd-link")));
    let u = h.tg.inject_document(USER, USER, &linked, "b.tar", None);
    let text = refusal(&h, u, "archive.link").await;
    assert!(text.contains("passwd-link"), "{text}");

    assert_eq!(tree(&up), Vec::<String>::new(), "nothing left in uploads");
    for p in [
        up.join("escape.txt"),
        proj(&h).join("escape.txt"),
        h.approved().join("escape.txt"),
    ] {
        assert!(!p.exists(), "{} exists", p.display());
    }
    assert_eq!(h.model.request_count(), 0);
    assert_eq!(h.audit_count("archive_refused"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_named_env_is_refused_without_download_and_a_credential_carrier_after_it() {
    let h = started(&[]).await;
    let file =
        h.tg.register_file(".env", b"API_KEY=sk-live-123\n".to_vec());
    let u =
        h.tg.inject_document(USER, USER, &file, ".env", Some("store this"));
    let text = refusal(&h, u, "secret file").await;
    assert!(text.contains("Not saved"), "{text}");
    assert_eq!(h.tg.downloads_of(&file), 0);
    assert!(h.tg.calls_to("getFile").is_empty());
    assert!(!proj(&h).join("uploads/.env").exists());
    assert_eq!(h.audit_count("secret_file_blocked"), 1);

    // A credential carrier is judged on its bytes: saved, found to hold a password, removed.
    let props = h.tg.register_file(
        "gradle.properties",
        b"org.gradle.jvmargs=-Xmx2g\nsigning.password=hunter2\n".to_vec(),
    );
    let u =
        h.tg.inject_document(USER, USER, &props, "gradle.properties", None);
    let text = refusal(&h, u, "gradle.properties").await;
    assert!(text.contains("secret file"), "{text}");
    assert_eq!(tree(&proj(&h).join("uploads")), Vec::<String>::new());
    assert_eq!(h.audit_count("secret_file_blocked"), 2);
    assert_eq!(h.model.request_count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversize_file_is_refused_before_download_and_a_lying_size_during_it() {
    let h = started(&[("MAX_UPLOAD_BYTES", "1000")]).await;
    let big = h.tg.register_file("big.txt", vec![b'x'; 2000]);
    let u = h.tg.inject_document(USER, USER, &big, "big.txt", None);
    let text = refusal(&h, u, "at most 1000 bytes").await;
    assert!(text.contains("Not saved"), "{text}");
    assert_eq!(h.tg.downloads(), 0, "refused on Telegram's size alone");
    assert!(h.tg.calls_to("getFile").is_empty());

    // A client that claims 10 bytes: the download stops at the cap, nothing is saved.
    let liar = h.tg.register_file("liar.txt", vec![b'y'; 2000]);
    let u =
        h.tg.inject_document_claiming(USER, USER, &liar, "liar.txt", 10, None);
    refusal(&h, u, "at most 1000 bytes").await;
    assert_eq!(tree(&proj(&h).join("uploads")), Vec::<String>::new());
    assert_eq!(h.audit_count("upload_refused"), 2);
    assert_eq!(h.model.request_count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_photo_reaches_the_model_as_an_image_block() {
    let h = started(&[]).await;
    let img = png(3);
    let file = h.tg.register_file("p.jpg", img.clone());
    let u =
        h.tg.inject_photo(USER, USER, &file, Some("what colour is this?"), None);
    h.wait_message(USER, "the answer", |m| {
        m.text.contains("FAKE: you said what colour is this?")
    })
    .await;
    h.wait_settled("the photo", USER, &[u]).await;
    let want = ("image/png".to_string(), data_encoding::BASE64.encode(&img));
    let blocks = user_blocks(&h);
    assert!(
        blocks.iter().any(|b| images_in(b) == vec![want.clone()]),
        "no request carried the image block"
    );
    // Saved too, named after its sniffed type (not the `.jpg` of Telegram's file path).
    let files = tree(&proj(&h).join("uploads"));
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(
        files[0].starts_with("photo-") && files[0].ends_with(".png"),
        "{files:?}"
    );

    // An image sent as a document is attached too; a `.png` that is no image only saved.
    let doc_img = png(7);
    let d = h.tg.register_file("diagram.png", doc_img.clone());
    h.tg.inject_document(USER, USER, &d, "diagram.png", Some("[[text:seen diagram]]"));
    h.wait_message(USER, "the diagram's answer", |m| {
        m.text.contains("seen diagram")
    })
    .await;
    let fake =
        h.tg.register_file("fake.png", b"<svg>not a png</svg>".to_vec());
    let u =
        h.tg.inject_document(USER, USER, &fake, "fake.png", Some("[[text:seen fake]]"));
    h.wait_message(USER, "the fake's answer", |m| m.text.contains("seen fake"))
        .await;
    h.wait_settled("the documents", USER, &[u]).await;
    let with_images: Vec<Vec<(String, String)>> =
        user_blocks(&h).iter().map(|b| images_in(b)).collect();
    let diagram = (
        "image/png".to_string(),
        data_encoding::BASE64.encode(&doc_img),
    );
    assert!(with_images.iter().any(|i| i.contains(&diagram)));
    let last = with_images.last().unwrap();
    assert!(
        !last
            .iter()
            .any(|(_, d)| d == &data_encoding::BASE64.encode(b"<svg>not a png</svg>")),
        "the fake image was attached"
    );
    assert!(proj(&h).join("uploads/fake.png").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_album_of_two_photos_is_one_turn_with_two_image_blocks() {
    let h = started(&[]).await;
    let (a, b) = (png(2), png(5));
    let fa = h.tg.register_file("a.jpg", a.clone());
    let fb = h.tg.register_file("b.jpg", b.clone());
    let u1 =
        h.tg.inject_photo(USER, USER, &fa, Some("compare these"), Some("album-1"));
    let u2 = h.tg.inject_photo(USER, USER, &fb, None, Some("album-1"));
    h.wait_message(USER, "the answer", |m| {
        m.text.contains("FAKE: you said compare these")
    })
    .await;
    h.wait_settled("both parts", USER, &[u1, u2]).await;
    assert_eq!(h.finals(USER).len(), 1, "one turn for the album");
    let enc = |x: &[u8]| ("image/png".to_string(), data_encoding::BASE64.encode(x));
    let blocks = user_blocks(&h);
    assert!(
        blocks
            .iter()
            .any(|bl| images_in(bl) == vec![enc(&a), enc(&b)]),
        "no request carried both image blocks in order"
    );
    let prompts = h.model.last_prompt_texts();
    assert_eq!(
        prompts
            .iter()
            .filter(|p| p.contains("compare these"))
            .count(),
        1,
        "{prompts:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_albums_images_beyond_the_per_request_budget_are_saved_but_not_attached() {
    let (a, b, c) = (png(2), png(3), png(4));
    let budget = (a.len() + b.len() + 4).to_string();
    let h = started(&[("MAX_TURN_IMAGE_BYTES", &budget)]).await;
    let ids: Vec<i64> = [
        ("a.jpg", &a, Some("three views")),
        ("b.jpg", &b, None),
        ("c.jpg", &c, None),
    ]
    .into_iter()
    .map(|(name, bytes, caption)| {
        let f = h.tg.register_file(name, bytes.clone());
        h.tg.inject_photo(USER, USER, &f, caption, Some("album-budget"))
    })
    .collect();
    h.wait_message(USER, "the answer", |m| {
        m.text.contains("FAKE: you said three views")
    })
    .await;
    h.wait_settled("the album", USER, &ids).await;
    let enc = |x: &[u8]| ("image/png".to_string(), data_encoding::BASE64.encode(x));
    let blocks = user_blocks(&h);
    let with_images: Vec<_> = blocks
        .iter()
        .map(|bl| images_in(bl))
        .filter(|i| !i.is_empty())
        .collect();
    assert!(
        with_images.iter().any(|i| i == &vec![enc(&a), enc(&b)]),
        "the first two attached, in order: {with_images:?}"
    );
    assert!(
        with_images.iter().all(|i| !i.contains(&enc(&c))),
        "the third image passed the budget"
    );
    let prompts = h.model.last_prompt_texts();
    assert!(
        prompts.iter().any(|p| p.contains("saved but not attached")),
        "{prompts:?}"
    );
    let saved = std::fs::read_dir(proj(&h).join("uploads")).unwrap().count();
    assert_eq!(saved, 3, "all three are saved");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_document_stored_before_a_crash_is_processed_after_it_once() {
    let mut h = started(&[]).await;
    let file = h.tg.register_file("crash.txt", b"survives\n".to_vec());
    h.tg.inject_document(
        USER,
        USER,
        &file,
        "crash.txt",
        Some("[[sleep:3]] crash doc"),
    );
    support::wait_for("the first run's model request", || {
        h.model
            .last_prompt_texts()
            .iter()
            .any(|p| p.contains("crash doc"))
    })
    .await;
    h.kill().await;
    assert_eq!(h.tg.pending_updates(), 0, "confirmed before the crash");
    h.start().await;
    h.wait_message(USER, "the answer after the restart", |m| {
        m.text.contains("FAKE: ok")
    })
    .await;
    let runs = h
        .model
        .last_prompt_texts()
        .iter()
        .filter(|p| p.contains("crash doc"))
        .count();
    assert_eq!(runs, 2, "the crashed run and one re-run");
    assert_eq!(h.finals(USER).len(), 1);
    // Downloaded again after the restart, and kept once (the same bytes are not copied).
    assert_eq!(h.tg.downloads_of(&file), 2);
    assert_eq!(tree(&proj(&h).join("uploads")), vec!["crash.txt"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_pass_the_gate_like_text_strangers_and_the_rate_limit() {
    let h = started(&[("RATE_LIMIT_REQUESTS", "1"), ("RATE_LIMIT_BURST", "2")]).await;
    // A stranger's document: dropped by the allowlist, never fetched.
    let theirs = h.tg.register_file("x.txt", b"from a stranger".to_vec());
    let _stranger =
        h.tg.inject_document(support::STRANGER, support::STRANGER, &theirs, "x.txt", None);
    // The allowed user's first upload (the burst allows it; `/cd` took the other token).
    let ok = h.tg.register_file("a.txt", b"first".to_vec());
    let u1 =
        h.tg.inject_document(USER, USER, &ok, "a.txt", Some("[[text:got it]]"));
    h.wait_message(USER, "the first answer", |m| m.text.contains("got it"))
        .await;
    // The next one is over the rate limit: told so, and not downloaded.
    let over = h.tg.register_file("b.txt", b"second".to_vec());
    let u2 = h.tg.inject_document(USER, USER, &over, "b.txt", None);
    h.wait_message(USER, "the rate-limit notice", |m| {
        m.text.contains("Too many messages")
    })
    .await;
    h.wait_settled("the uploads", USER, &[u1, u2]).await;
    support::wait_for("the stranger's update handled", || {
        h.audit_count("auth_rejected") >= 1
    })
    .await;
    assert_eq!(h.tg.downloads_of(&theirs), 0);
    assert_eq!(h.tg.downloads_of(&over), 0);
    assert_eq!(h.tg.downloads_of(&ok), 1);
    assert!(h.tg.messages(support::STRANGER).is_empty());
    assert_eq!(tree(&proj(&h).join("uploads")), vec!["a.txt"]);
    assert_eq!(h.audit_count("rate_limited"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_album_cut_by_a_crash_is_collected_again_after_the_restart() {
    // A window so long the album cannot complete before the crash.
    let mut h = started(&[("ALBUM_WINDOW_MS", "60000")]).await;
    let (a, b) = (png(4), png(6));
    let fa = h.tg.register_file("a.jpg", a.clone());
    let fb = h.tg.register_file("b.jpg", b.clone());
    let u1 =
        h.tg.inject_photo(USER, USER, &fa, Some("two views"), Some("album-9"));
    let u2 = h.tg.inject_photo(USER, USER, &fb, None, Some("album-9"));
    support::wait_for("both parts downloaded", || h.tg.downloads() == 2).await;
    h.kill().await;
    assert_eq!(
        h.model.request_count(),
        0,
        "the album had not become a turn"
    );
    h.set_env("ALBUM_WINDOW_MS", "500");
    h.start().await;
    h.wait_message(USER, "the album's answer", |m| {
        m.text.contains("FAKE: you said two views")
    })
    .await;
    h.wait_settled("both parts", USER, &[u1, u2]).await;
    assert_eq!(h.finals(USER).len(), 1);
    let enc = |x: &[u8]| ("image/png".to_string(), data_encoding::BASE64.encode(x));
    assert!(user_blocks(&h)
        .iter()
        .any(|bl| images_in(bl) == vec![enc(&a), enc(&b)]));
    assert_eq!(tree(&proj(&h).join("uploads")).len(), 2, "kept once each");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_at_exactly_the_limit_is_saved_intact() {
    let h = started(&[]).await;
    let limit: u32 = 20 << 20; // the default MAX_UPLOAD_BYTES
    let bytes: Vec<u8> = (0..limit).map(|i| (i % 251) as u8).collect();
    let file = h.tg.register_file("big.log", bytes.clone());
    let t0 = std::time::Instant::now();
    h.tg.inject_document(USER, USER, &file, "big.log", Some("[[text:stored]]"));
    h.wait_message(USER, "the answer", |m| m.text.contains("stored"))
        .await;
    eprintln!("20 MiB upload answered in {:?}", t0.elapsed());
    let saved = std::fs::read(proj(&h).join("uploads/big.log")).unwrap();
    assert!(saved == bytes, "the saved file differs");
}

/// The fake's side of files going out (for `/get` and friends later): multipart
/// `sendDocument`, `sendPhoto` and `sendMediaGroup` are answered like Telegram and recorded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fake_records_files_sent_to_the_chat() {
    let h = Harness::new().await;
    let url = |m: &str| format!("{}/bot{}/{m}", h.tg.api_url(), h.token);
    let multipart = |field: &str, file: &str, data: &[u8], extra: &[(&str, &str)]| {
        let mut body = Vec::new();
        for (k, v) in extra {
            body.extend_from_slice(
                format!("--XB\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n")
                    .as_bytes(),
            );
        }
        body.extend_from_slice(
            format!(
                "--XB\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{file}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(data);
        body.extend_from_slice(b"\r\n--XB--\r\n");
        body
    };
    let http = reqwest::Client::new();
    let send = |method: &'static str, body: Vec<u8>| {
        http.post(url(method))
            .header("content-type", "multipart/form-data; boundary=XB")
            .body(body)
            .send()
    };
    let chat = USER.to_string();
    let r = send(
        "sendDocument",
        multipart(
            "document",
            "report.txt",
            b"12345",
            &[("chat_id", &chat), ("caption", "the report")],
        ),
    )
    .await
    .unwrap();
    assert!(r.status().is_success());
    let r = send(
        "sendPhoto",
        multipart("photo", "p.png", &png(1), &[("chat_id", &chat)]),
    )
    .await
    .unwrap();
    assert!(r.status().is_success());
    let media = r#"[{"type":"photo","media":"attach://a"},{"type":"photo","media":"attach://b"}]"#;
    let r = send(
        "sendMediaGroup",
        multipart(
            "a",
            "a.png",
            &png(2),
            &[("chat_id", &chat), ("media", media)],
        ),
    )
    .await
    .unwrap();
    let v: Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
    assert_eq!(v["result"].as_array().map(Vec::len), Some(2), "{v}");
    let sent = h.tg.sent_files();
    let methods: Vec<&str> = sent.iter().map(|c| c.method.as_str()).collect();
    assert_eq!(methods, ["sendDocument", "sendPhoto", "sendMediaGroup"]);
    assert_eq!(
        sent[0].params["document"],
        serde_json::json!({"filename": "report.txt", "size": 5, "bytes": b"12345"})
    );
    assert_eq!(sent[0].params["caption"], "the report");
    assert!(h.tg.messages(USER).iter().any(|m| m.text == "the report"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_download_holds_up_neither_stop_nor_the_order_of_messages() {
    let h = started(&[]).await;
    h.send("[[sleep:20]] long job");
    let progress = h.wait_progress(USER).await;
    h.tg.set_download_delay(std::time::Duration::from_secs(5));
    let file = h.tg.register_file("late.txt", b"late\n".to_vec());
    let doc =
        h.tg.inject_document(USER, USER, &file, "late.txt", Some("[[text:doc done]]"));
    h.send("[[text:text after the doc]]");
    support::wait_for("the download to begin", || {
        !h.tg.calls_to("getFile").is_empty()
    })
    .await;
    // Stop is answered while the file is still on its way.
    let t0 = std::time::Instant::now();
    h.tg.inject_callback(
        USER,
        USER,
        progress.message_id,
        &support::button_data(&progress, "Stop"),
    );
    support::wait_for("the Stop press answered", || {
        h.tg.calls_to("answerCallbackQuery")
            .iter()
            .any(|c| c.params.to_string().contains("Stopping"))
    })
    .await;
    assert!(t0.elapsed() < std::time::Duration::from_secs(3));
    assert!(
        !proj(&h).join("uploads/late.txt").exists(),
        "not yet downloaded"
    );
    // The document runs before the text sent after it.
    let d = h
        .wait_message(USER, "the document's answer", |m| {
            m.text.contains("doc done")
        })
        .await;
    let t = h
        .wait_message(USER, "the text's answer", |m| {
            m.text.contains("text after the doc")
        })
        .await;
    assert!(d.message_id < t.message_id);
    h.wait_settled("the document", USER, &[doc]).await;
}
