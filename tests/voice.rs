//! Voice notes end to end: the real ccgate binary with the real `claude` CLI (inside the jail),
//! the fake Bot API serving the voice file, a fake OpenAI-compatible transcription server
//! (`tests/support/fake_transcribe.rs`) and the fake model whose request log shows the prompt.

mod support;

use serde_json::Value;
use support::fake_transcribe::FakeTranscribe;
use support::{Harness, USER};

/// Stand-in Opus-in-Ogg bytes (the fakes never decode them), distinct per `n`.
fn ogg(n: usize) -> Vec<u8> {
    let mut b = b"OggS\0\x02".to_vec();
    b.extend((0..n).map(|i| (i % 251) as u8));
    b
}

/// A harness with `env`, running, in `proj`.
async fn started(env: &[(&str, &str)]) -> Harness {
    let mut h = Harness::new().await;
    for (k, v) in env {
        h.set_env(k, v);
    }
    h.start().await;
    h.ask("/cd proj", "Now in proj").await;
    h
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_voice_note_is_transcribed_shown_and_run_with_its_caption_first() {
    let stt = FakeTranscribe::start("list the files in src please").await;
    let url = stt.base_url();
    let h = started(&[
        ("VOICE_TRANSCRIPTION_URL", &url),
        ("VOICE_TRANSCRIPTION_MODEL", "whisper-large-v3"),
        ("VOICE_TRANSCRIPTION_LANGUAGE", "en"),
    ])
    .await;
    let audio = ogg(3000);
    let file = h.tg.register_file("voice.ogg", audio.clone());
    let update =
        h.tg.inject_voice(USER, USER, &file, 7, Some("in the proj folder"));
    let voice_msg = h.tg.injected_updates().last().unwrap()["message"]["message_id"]
        .as_i64()
        .unwrap();
    // The user sees what Claude heard, as a reply to the voice note …
    let shown = h
        .wait_message(USER, "the transcript", |m| m.text.starts_with("🎙"))
        .await;
    assert_eq!(shown.text, "🎙 list the files in src please");
    assert!(shown.raw_text.contains("<i>"), "{}", shown.raw_text);
    assert_eq!(shown.reply_to_message_id, Some(voice_msg));
    // … then the answer to the caption and the transcript.
    let answer = h
        .wait_message(USER, "the answer", |m| {
            m.text.starts_with("FAKE: you said in the proj folder")
        })
        .await;
    assert!(answer.message_id > shown.message_id);
    let prompts = h.model.last_prompt_texts();
    assert!(
        prompts
            .iter()
            .any(|p| p == "in the proj folder\n\nlist the files in src please"),
        "{prompts:?}"
    );
    h.wait_settled("the voice note", USER, &[update]).await;
    // The server got the audio, the model, the language hint and no key (none configured).
    let reqs = stt.requests();
    assert_eq!(reqs.len(), 1, "{reqs:?}");
    let r = &reqs[0];
    assert_eq!(r.path, "/v1/audio/transcriptions");
    assert_eq!(r.model.as_deref(), Some("whisper-large-v3"));
    assert_eq!(r.language.as_deref(), Some("en"));
    assert_eq!(r.response_format.as_deref(), Some("json"));
    assert_eq!(r.file_len, Some(audio.len()));
    assert_eq!(r.file_content_type.as_deref(), Some("audio/ogg"));
    assert_eq!(
        r.file_name.as_deref(),
        Some(format!("voice-{voice_msg}.ogg").as_str())
    );
    assert_eq!(r.authorization, None);
    assert_eq!(h.tg.downloads_of(&file), 1);
    // Audited, and the audio itself was not saved into the project.
    let audited = h.audit_details("voice_transcribed");
    assert_eq!(audited.len(), 1, "{audited:?}");
    assert_eq!(audited[0]["ok"], true);
    assert_eq!(audited[0]["seconds"], 7);
    assert_eq!(audited[0]["bytes"], audio.len());
    assert!(!h.approved().join("proj/uploads").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn voice_notes_are_off_by_default_with_a_clear_reply_and_nothing_downloaded() {
    let h = started(&[]).await;
    let file = h.tg.register_file("voice.ogg", ogg(500));
    let update = h.tg.inject_voice(USER, USER, &file, 3, None);
    let reply = h
        .wait_message(USER, "the voice-off reply", |m| {
            m.text.contains("Voice notes are off")
        })
        .await;
    assert!(
        reply.text.contains("VOICE_TRANSCRIPTION_URL"),
        "{}",
        reply.text
    );
    h.wait_settled("the voice note", USER, &[update]).await;
    assert_eq!(h.tg.received("getFile"), 0);
    assert_eq!(h.tg.downloads(), 0);
    assert!(h.model.last_prompt_texts().is_empty());
    let refused = h.audit_details("upload_refused");
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0]["rule"], "voice.off");
    assert_eq!(refused[0]["via"], "voice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notes_over_the_limits_are_refused_before_transcription() {
    let stt = FakeTranscribe::start("never heard").await;
    let url = stt.base_url();
    let h = started(&[
        ("VOICE_TRANSCRIPTION_URL", &url),
        ("MAX_VOICE_SECONDS", "30"),
        ("MAX_VOICE_BYTES", "2000"),
    ])
    .await;
    // Longer than MAX_VOICE_SECONDS by Telegram's duration: refused before any download.
    let long = h.tg.register_file("voice.ogg", ogg(100));
    let first = h.tg.inject_voice(USER, USER, &long, 31, None);
    let reply = h
        .wait_message(USER, "the duration refusal", |m| {
            m.text.contains("MAX_VOICE_SECONDS")
        })
        .await;
    assert!(reply.text.contains("31 s"), "{}", reply.text);
    h.wait_settled("the long voice note", USER, &[first]).await;
    assert_eq!(h.tg.received("getFile"), 0);
    assert_eq!(h.tg.downloads(), 0);
    // A note whose sender understates its size: caught on getFile's size or the bytes.
    let big = h.tg.register_file("voice.ogg", ogg(5000));
    let second = h.tg.inject_media(
        USER,
        USER,
        serde_json::json!({"voice": {"file_id": big, "file_unique_id": "ubig",
            "duration": 5, "mime_type": "audio/ogg", "file_size": 100}}),
    );
    h.wait_message(USER, "the size refusal", |m| {
        m.text.contains("MAX_VOICE_BYTES")
    })
    .await;
    h.wait_settled("the big voice note", USER, &[second]).await;
    assert!(stt.requests().is_empty(), "{:?}", stt.requests());
    assert!(h.model.last_prompt_texts().is_empty());
    let rules: Vec<Value> = h
        .audit_details("upload_refused")
        .into_iter()
        .map(|d| d["rule"].clone())
        .collect();
    assert_eq!(rules, vec!["voice.duration", "voice.size"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transcription_error_is_reported_and_no_turn_runs() {
    let stt = FakeTranscribe::start("unused").await;
    stt.set_error(500, "model overloaded");
    let url = stt.base_url();
    let h = started(&[("VOICE_TRANSCRIPTION_URL", &url)]).await;
    let file = h.tg.register_file("voice.ogg", ogg(800));
    let update = h.tg.inject_voice(USER, USER, &file, 4, Some("caption"));
    let reply = h
        .wait_message(USER, "the transcription error", |m| {
            m.text.starts_with("❌")
        })
        .await;
    assert!(
        reply.text.contains("Could not transcribe the voice note")
            && reply.text.contains("500")
            && reply.text.contains("model overloaded"),
        "{}",
        reply.text
    );
    h.wait_settled("the voice note", USER, &[update]).await;
    assert_eq!(stt.requests().len(), 1);
    assert!(h.model.last_prompt_texts().is_empty());
    assert!(h.tg.messages(USER).iter().all(|m| !m.text.starts_with("🎙")));
    let audited = h.audit_details("voice_transcribed");
    assert_eq!(audited.len(), 1, "{audited:?}");
    assert_eq!(audited[0]["ok"], false);
    assert_eq!(audited[0]["error"], "status");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_key_is_sent_as_bearer_and_never_shown() {
    // Shaped like no known credential: only the configured secret can mask it.
    const KEY: &str = "voicekey.9f8e7d6c5b4a3210ffee";
    let stt = FakeTranscribe::start("unused").await;
    // A server that echoes the key in its error (as some do for a wrong key).
    stt.set_error(401, &format!("Incorrect API key provided: {KEY}"));
    let url = stt.base_url();
    let mut h = Harness::new().await;
    let key_file = h.tmp.path().join("voice.key");
    std::fs::write(&key_file, format!("{KEY}\n")).unwrap();
    h.set_env("VOICE_TRANSCRIPTION_URL", &url);
    h.set_env(
        "VOICE_TRANSCRIPTION_API_KEY_FILE",
        &key_file.display().to_string(),
    );
    h.start().await;
    let file = h.tg.register_file("voice.ogg", ogg(600));
    let first = h.tg.inject_voice(USER, USER, &file, 2, None);
    let reply = h
        .wait_message(USER, "the 401 reply", |m| m.text.starts_with("❌"))
        .await;
    assert!(
        reply.text.contains("401")
            && reply
                .text
                .contains("Incorrect API key provided: [REDACTED]"),
        "{}",
        reply.text
    );
    h.wait_settled("the refused voice note", USER, &[first])
        .await;
    // With a working server the note runs.
    stt.set_transcript("hello from the voice note");
    let second = h.tg.inject_voice(USER, USER, &file, 2, None);
    h.wait_message(USER, "the answer", |m| {
        m.text.contains("FAKE: you said hello from the voice note")
    })
    .await;
    h.wait_settled("the voice note", USER, &[second]).await;
    let reqs = stt.requests();
    assert_eq!(reqs.len(), 2, "{reqs:?}");
    for r in &reqs {
        assert_eq!(
            r.authorization.as_deref(),
            Some(format!("Bearer {KEY}").as_str())
        );
    }
    // Nothing sent to Telegram, nothing in the model's log, nothing in ccgate's log has it.
    let sent = format!("{:?}", h.tg.calls());
    assert!(!sent.contains(KEY), "the key reached Telegram");
    assert!(!format!("{:?}", h.model.requests()).contains(KEY));
    assert!(!h.log().contains(KEY), "the key is in ccgate's log");
    let audit: String = h
        .db()
        .query_row(
            "SELECT group_concat(details, ' ') FROM audit_log",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(!audit.contains(KEY), "the key is in the audit log");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_voice_note_cut_off_by_a_crash_is_transcribed_and_run_once_after_restart() {
    let stt = FakeTranscribe::start("after the crash").await;
    stt.set_delay(std::time::Duration::from_secs(60));
    let url = stt.base_url();
    let mut h = started(&[("VOICE_TRANSCRIPTION_URL", &url)]).await;
    let file = h.tg.register_file("voice.ogg", ogg(700));
    let update = h.tg.inject_voice(USER, USER, &file, 3, None);
    support::wait_for("the transcription under way", || stt.requests().len() == 1).await;
    h.kill().await;
    assert_eq!(h.tg.pending_updates(), 0, "confirmed before the crash");
    assert!(h.model.last_prompt_texts().is_empty());
    stt.set_delay(std::time::Duration::ZERO);
    h.start().await;
    h.wait_message(USER, "the answer after the restart", |m| {
        m.text.contains("FAKE: you said after the crash")
    })
    .await;
    h.wait_settled("the voice note", USER, &[update]).await;
    assert_eq!(
        stt.requests().len(),
        2,
        "transcribed again after the restart"
    );
    let runs = h
        .model
        .last_prompt_texts()
        .iter()
        .filter(|p| p.contains("after the crash"))
        .count();
    assert_eq!(runs, 1, "run exactly once");
    assert_eq!(h.finals(USER).len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_sent_during_a_slow_transcription_runs_after_the_voice_note() {
    let stt = FakeTranscribe::start("first the voice").await;
    stt.set_delay(std::time::Duration::from_secs(2));
    let url = stt.base_url();
    let h = started(&[("VOICE_TRANSCRIPTION_URL", &url)]).await;
    let file = h.tg.register_file("voice.ogg", ogg(700));
    let voice = h.tg.inject_voice(USER, USER, &file, 3, None);
    support::wait_for("the transcription under way", || stt.requests().len() == 1).await;
    let text = h.send("then the text");
    h.wait_settled("both messages", USER, &[voice, text]).await;
    let prompts: Vec<String> = h
        .model
        .last_prompt_texts()
        .into_iter()
        .filter(|p| p == "first the voice" || p == "then the text")
        .collect();
    assert_eq!(prompts, vec!["first the voice", "then the text"]);
    let finals = h.finals(USER);
    assert_eq!(finals.len(), 2, "{finals:?}");
    assert!(finals[0].text.contains("FAKE: you said first the voice"));
    assert!(finals[1].text.contains("FAKE: you said then the text"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_http_url_to_another_host_is_refused_at_start_and_check_shows_the_endpoint() {
    let mut h = Harness::new().await;
    h.set_env("VOICE_TRANSCRIPTION_URL", "http://192.0.2.10:8080/v1");
    let out = h.command().arg("check").output().await.unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("VOICE_TRANSCRIPTION_URL") && err.contains("https://"),
        "{err}"
    );
    // The bot itself does not start with it either.
    let out = tokio::time::timeout(std::time::Duration::from_secs(30), h.command().output())
        .await
        .expect("ccgate started with a plain-http transcription URL")
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("VOICE_TRANSCRIPTION_URL"));
    // Loopback is fine; check names the endpoint and whether a key is set (never the key).
    let key_file = h.tmp.path().join("voice.key");
    std::fs::write(&key_file, "voicekey.0123456789abcdef\n").unwrap();
    h.set_env("VOICE_TRANSCRIPTION_URL", "http://127.0.0.1:8080/v1");
    h.set_env(
        "VOICE_TRANSCRIPTION_API_KEY_FILE",
        &key_file.display().to_string(),
    );
    let out = h.command().arg("check").output().await.unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("voice notes")
            && text.contains("on: http://127.0.0.1:8080/v1/audio/transcriptions")
            && text.contains("key set"),
        "{text}"
    );
    assert!(!text.contains("voicekey.0123456789abcdef"), "{text}");
}
