//! Test support: fake Telegram and Anthropic servers on 127.0.0.1 and a harness that runs the
//! real `ccgate` binary against them with the real `claude` CLI (or, for load tests and the
//! latency bench, a stub speaking just enough stream-json: [`Harness::use_stub_claude`]).
//!
//! Why it exists: ccgate's promises (nothing lost across restarts, Stop works, errors are
//! errors) only mean something when tested through the real boundaries — HTTP to a Bot API,
//! a real child process speaking stream-json — not against mocks of our own functions.

#![allow(dead_code)]

pub mod fake_anthropic;
pub mod fake_telegram;
pub mod fake_transcribe;
pub mod multipart;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use fake_anthropic::FakeAnthropic;
use fake_telegram::{FakeTelegram, SentMessage};
use tokio::process::{Child, Command};

/// The stand-in CLI for load tests and the bench (see the script's header).
pub fn stub_claude() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/stub_claude.sh")
}

/// The pinned Claude Code CLI, installed by `scripts/install-claude-cli.sh`.
pub fn claude_bin() -> PathBuf {
    if let Ok(p) = std::env::var("CCGATE_TEST_CLAUDE_BIN") {
        return PathBuf::from(p);
    }
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/.claude-cli/node_modules/@anthropic-ai/claude-code-linux-x64/claude");
    assert!(
        p.exists(),
        "the claude CLI is not installed at {}; run scripts/install-claude-cli.sh (or set CCGATE_TEST_CLAUDE_BIN)",
        p.display()
    );
    p
}

/// Marks a variable [`Harness::unset_env`] removed.
const UNSET: &str = "\u{0}unset";

pub const USER: i64 = 4242;
pub const OTHER_USER: i64 = 5151;
pub const STRANGER: i64 = 666;

/// A ccgate under test with its fakes and private directories.
pub struct Harness {
    pub tg: FakeTelegram,
    pub model: FakeAnthropic,
    pub tmp: tempfile::TempDir,
    pub token: String,
    child: Option<Child>,
    pub extra_env: Vec<(String, String)>,
    runs: usize,
}

fn random_token() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos(),
    );
    let n = h.finish();
    format!(
        "{}:AAtest{:016x}{:016x}",
        100000 + (n % 900000),
        n,
        n.rotate_left(17)
    )
}

impl Harness {
    pub async fn new() -> Harness {
        let token = random_token();
        let tg = FakeTelegram::start(&token).await;
        let model = FakeAnthropic::start().await;
        // Not under /tmp: inside the sandbox /tmp is a private folder that would shadow it.
        let tmp = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
        for d in ["approved/proj/src", "home", "data", "lock"] {
            std::fs::create_dir_all(tmp.path().join(d)).unwrap();
        }
        std::fs::write(tmp.path().join("approved/proj/README.md"), "# proj\n").unwrap();
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(
                tmp.path().join("data"),
                std::fs::Permissions::from_mode(0o700),
            )
            .unwrap();
        }
        Harness {
            tg,
            model,
            tmp,
            token,
            child: None,
            extra_env: Vec::new(),
            runs: 0,
        }
    }

    pub fn approved(&self) -> PathBuf {
        self.tmp.path().join("approved").canonicalize().unwrap()
    }

    pub fn db_path(&self) -> PathBuf {
        self.tmp.path().join("data/ccgate.db")
    }

    pub fn log_path(&self) -> PathBuf {
        self.tmp.path().join("ccgate.log")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Leave `k` out of ccgate's environment altogether (not even empty).
    pub fn unset_env(&mut self, k: &str) {
        self.set_env(k, UNSET);
    }

    pub fn set_env(&mut self, k: &str, v: &str) {
        self.extra_env.retain(|(n, _)| n != k);
        self.extra_env.push((k.to_string(), v.to_string()));
    }

    /// The environment ccgate runs with (nothing inherited but PATH).
    pub fn env(&self) -> Vec<(String, String)> {
        let home = self.tmp.path().join("home");
        let mut env: Vec<(String, String)> = vec![
            (
                "PATH".into(),
                std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into()),
            ),
            ("HOME".into(), home.display().to_string()),
            (
                "CLAUDE_CONFIG_DIR".into(),
                home.join(".claude").display().to_string(),
            ),
            ("ANTHROPIC_BASE_URL".into(), self.model.base_url()),
            ("ANTHROPIC_API_KEY".into(), "sk-test-dummy".into()),
            (
                "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC".into(),
                "1".into(),
            ),
            ("CLAUDE_CODE_MAX_RETRIES".into(), "0".into()),
            ("TELEGRAM_BOT_TOKEN".into(), self.token.clone()),
            ("TELEGRAM_BOT_USERNAME".into(), "fake_bot".into()),
            ("TELEGRAM_API_URL".into(), self.tg.api_url()),
            ("TELEGRAM_POLL_TIMEOUT_SECONDS".into(), "1".into()),
            (
                "APPROVED_DIRECTORY".into(),
                self.approved().display().to_string(),
            ),
            ("ALLOWED_USERS".into(), format!("{USER},{OTHER_USER}")),
            (
                "DATABASE_URL".into(),
                format!("sqlite:///{}", self.db_path().display()),
            ),
            (
                "LOCK_DIR".into(),
                self.tmp.path().join("lock").display().to_string(),
            ),
            ("LOG_LEVEL".into(), "info,ccgate=debug".into()),
            // Tests send commands back to back; the rate limit has its own test.
            ("RATE_LIMIT_REQUESTS".into(), "1000".into()),
            ("RATE_LIMIT_BURST".into(), "1000".into()),
        ];
        // Looked up only when needed: a test on the stub CLI runs without the real one installed.
        if !self.extra_env.iter().any(|(k, _)| k == "CLAUDE_CLI_PATH") {
            env.push(("CLAUDE_CLI_PATH".into(), claude_bin().display().to_string()));
        }
        for (k, v) in &self.extra_env {
            env.retain(|(n, _)| n != k);
            if v != UNSET {
                env.push((k.clone(), v.clone()));
            }
        }
        env
    }

    /// Run on the stub CLI (`stub_claude.sh`) without the OS boundary, for load tests and the
    /// bench. Returns the stub's log (`in`/`res` times per prompt, see the script).
    pub fn use_stub_claude(&mut self) -> PathBuf {
        let dir = self.tmp.path().join("stub");
        std::fs::create_dir_all(&dir).unwrap();
        let stub = dir.join("claude");
        std::fs::copy(stub_claude(), &stub).unwrap();
        let log = dir.join("stub.log");
        std::fs::write(&log, "").unwrap();
        self.set_env("CLAUDE_CLI_PATH", &stub.display().to_string());
        self.set_env("SANDBOX", "off");
        log
    }

    /// A `ccgate` command with the harness environment.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ccgate"));
        cmd.env_clear()
            .envs(self.env())
            .current_dir(self.tmp.path())
            .stdin(Stdio::null())
            .kill_on_drop(true);
        cmd
    }

    /// Start ccgate and wait until it polls for updates.
    pub async fn start(&mut self) {
        self.start_until("getUpdates").await
    }

    /// Start ccgate and wait until it calls `method` on the fake Telegram (`setWebhook` in
    /// webhook mode).
    pub async fn start_until(&mut self, method: &str) {
        assert!(self.child.is_none(), "already running");
        self.runs += 1;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .unwrap();
        let child = self
            .command()
            .arg("run")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("spawn ccgate");
        self.child = Some(child);
        let polls_before = self.tg.received(method);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while self.tg.received(method) <= polls_before {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("ccgate exited early ({status}); log:\n{}", self.log());
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "ccgate never polled; log:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGKILL: a crash, no cleanup.
    pub async fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill().await;
        }
    }

    /// Wait (at most `timeout`) for ccgate to exit on its own; its exit status.
    pub async fn wait_exit(&mut self, timeout: Duration) -> std::process::ExitStatus {
        let mut c = self.child.take().expect("not running");
        match tokio::time::timeout(timeout, c.wait()).await {
            Ok(status) => status.unwrap(),
            Err(_) => panic!("ccgate did not exit on its own; log:\n{}", self.log()),
        }
    }

    /// SIGTERM and wait for a clean exit.
    pub async fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            if let Some(pid) = c.id() {
                unsafe_kill(pid as i32, 15);
            }
            match tokio::time::timeout(Duration::from_secs(15), c.wait()).await {
                Ok(status) => assert!(
                    status.unwrap().success(),
                    "unclean exit; log:\n{}",
                    self.log()
                ),
                Err(_) => panic!("ccgate did not stop on SIGTERM; log:\n{}", self.log()),
            }
        }
    }

    /// Send a command and return the text of the reply that follows it (containing `expect`).
    pub async fn ask(&self, text: &str, expect: &str) -> String {
        let before = self.last_message_id(USER);
        self.send(text);
        self.wait_message(
            USER,
            &format!("reply to {text:?} containing {expect:?}"),
            |m| m.message_id > before && m.text.contains(expect),
        )
        .await
        .text
    }

    /// The id of the newest message in `chat` (0 when there is none): a mark to wait past.
    pub fn last_message_id(&self, chat: i64) -> i64 {
        self.tg
            .messages(chat)
            .iter()
            .map(|m| m.message_id)
            .max()
            .unwrap_or(0)
    }

    /// ccgate's process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(|c| c.id())
    }

    pub fn send(&self, text: &str) -> i64 {
        self.tg.inject_message(USER, USER, text)
    }

    /// Wait for a message to `chat` whose text satisfies `pred`; returns it.
    pub async fn wait_message(
        &self,
        chat: i64,
        what: &str,
        pred: impl Fn(&SentMessage) -> bool,
    ) -> SentMessage {
        self.wait_message_for(chat, what, Duration::from_secs(45), pred)
            .await
    }

    pub async fn wait_message_for(
        &self,
        chat: i64,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&SentMessage) -> bool,
    ) -> SentMessage {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(m) = self.tg.messages(chat).into_iter().find(|m| pred(m)) {
                return m;
            }
            if tokio::time::Instant::now() > deadline {
                let msgs: Vec<String> = self
                    .tg
                    .messages(chat)
                    .iter()
                    .map(|m| format!("  #{} deleted={} {:?}", m.message_id, m.deleted, m.text))
                    .collect();
                panic!(
                    "timed out waiting for {what}\nmessages in chat {chat}:\n{}\nTelegram calls:\n{}\nccgate log:\n{}",
                    msgs.join("\n"),
                    self.tg.dump(),
                    self.log()
                );
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Final answers (messages carrying the footer) sent to `chat`, in order.
    pub fn finals(&self, chat: i64) -> Vec<SentMessage> {
        self.tg
            .messages(chat)
            .into_iter()
            .filter(|m| m.text.contains("claude --resume") || m.text.contains("💰"))
            .collect()
    }

    /// The progress message of the running turn (the one with a Stop button).
    pub async fn wait_progress(&self, chat: i64) -> SentMessage {
        self.wait_message(chat, "a progress message with a Stop button", |m| {
            !m.deleted
                && m.reply_markup
                    .as_ref()
                    .is_some_and(|r| r.to_string().contains("stop:"))
        })
        .await
    }

    /// How many audit rows of `event` ccgate wrote.
    /// The `details` of every audit row of `event`, oldest first.
    pub fn audit_details(&self, event: &str) -> Vec<serde_json::Value> {
        let db = self.db();
        let mut st = db
            .prepare("SELECT details FROM audit_log WHERE event = ?1 ORDER BY id")
            .unwrap();
        st.query_map([event], |r| r.get::<_, String>(0))
            .unwrap()
            .map(|d| serde_json::from_str(&d.unwrap()).unwrap())
            .collect()
    }

    pub fn audit_count(&self, event: &str) -> i64 {
        self.db()
            .query_row(
                "SELECT COUNT(*) FROM audit_log WHERE event = ?1",
                [event],
                |r| r.get(0),
            )
            .unwrap()
    }

    /// Wait until ccgate has finished each of `update_ids` (its inbox row is `done`) and Telegram
    /// has accepted every durable reply queued for `chat` (none is left in the outbox): the
    /// positive marker to reach before asserting that something did *not* happen. A handled
    /// update's replies are written in the same transaction that marks it done, so once both
    /// hold, whatever ccgate was going to say about these updates has been said.
    pub async fn wait_settled(&self, what: &str, chat: i64, update_ids: &[i64]) {
        let ids = update_ids
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let settled = || {
            let db = self.db();
            let done: i64 = db
                .query_row(
                    &format!(
                        "SELECT COUNT(*) FROM telegram_updates WHERE state = 'done' AND update_id IN ({ids})"
                    ),
                    [],
                    |r| r.get(0),
                )
                .unwrap();
            let queued: i64 = db
                .query_row(
                    "SELECT COUNT(*) FROM outbox WHERE chat_id = ?1",
                    [chat],
                    |r| r.get(0),
                )
                .unwrap();
            done == update_ids.len() as i64 && queued == 0
        };
        wait_for(&format!("{what} handled and its replies sent"), settled).await;
    }

    /// Open the database read-only to look at what ccgate stored.
    pub fn db(&self) -> rusqlite::Connection {
        rusqlite::Connection::open_with_flags(
            self.db_path(),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .unwrap()
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("---- ccgate log ----\n{}", self.log());
        }
    }
}

/// The callback data of the inline button whose label contains `label`.
pub fn button_data(m: &SentMessage, label: &str) -> String {
    let markup = m.reply_markup.as_ref().expect("message has buttons");
    markup["inline_keyboard"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|row| row.as_array().cloned().unwrap_or_default())
        .find(|b| b["text"].as_str().unwrap_or("").contains(label))
        .and_then(|b| b["callback_data"].as_str().map(str::to_string))
        .unwrap_or_else(|| panic!("no button {label:?} in {markup}"))
}

/// The session id from a final answer's `claude --resume <id>` line.
pub fn session_of(m: &SentMessage) -> String {
    let idx = m
        .text
        .find("claude --resume ")
        .expect("footer with resume line");
    m.text[idx + "claude --resume ".len()..]
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

fn unsafe_kill(pid: i32, sig: i32) {
    // std has no kill(2) with a signal; use the `kill` utility to stay free of unsafe code.
    let _ = std::process::Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status();
}

/// `in`/`res` wall-clock times (seconds) per prompt from the stub CLI's log.
pub fn stub_times(log: &Path) -> std::collections::HashMap<String, (f64, f64)> {
    let mut m: std::collections::HashMap<String, (f64, f64)> = Default::default();
    for line in std::fs::read_to_string(log).unwrap().lines() {
        let mut w = line.split_whitespace();
        let (Some(kind), Some(t), Some(p)) = (w.next(), w.next(), w.next()) else {
            continue;
        };
        let t: f64 = t.parse().unwrap_or(0.0);
        let e = m.entry(p.to_string()).or_default();
        match kind {
            "in" => e.0 = t,
            _ => e.1 = t,
        }
    }
    m
}

/// Poll `cond` every 20 ms until it holds; panics after 30 s naming `what`.
pub async fn wait_for(what: &str, cond: impl Fn() -> bool) {
    let t0 = std::time::Instant::now();
    while !cond() {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A free TCP port on 127.0.0.1 (for ccgate's HTTP server).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Hex HMAC-SHA256 of the concatenated `parts` under `secret` (how webhooks are signed).
pub fn hmac_hex(secret: &str, parts: &[&[u8]]) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    for p in parts {
        mac.update(p);
    }
    hex::encode(mac.finalize().into_bytes())
}

/// Poll the async `cond` every 50 ms until it holds; panics after 30 s naming `what`.
pub async fn wait_for_async<F: std::future::Future<Output = bool>>(
    what: &str,
    cond: impl Fn() -> F,
) {
    let t0 = std::time::Instant::now();
    while !cond().await {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
