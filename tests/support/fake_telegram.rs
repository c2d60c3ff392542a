//! A fake Telegram Bot API server for integration tests.
//!
//! Why it exists: the gateway's behaviour that matters most (long polling,
//! offset confirmation, streaming replies through `editMessageText`, HTML
//! formatting, inline keyboards, retries after 429/5xx/dropped connections)
//! is all about how it talks to Telegram. Testing that against the real
//! service is impossible in CI (no network, no real bot token), and mocking the
//! client library would hide exactly the bugs we care about: wrong escaping,
//! messages over the length limit, "message is not modified" loops, forgotten
//! `answerCallbackQuery`, unconfirmed updates being handled twice.
//!
//! So this module runs a real HTTP server on `127.0.0.1` (random port) that
//! speaks the Bot API wire format (`{api_url}/bot{token}/{method}`, JSON,
//! form-encoded, multipart or query parameters) and behaves like Telegram
//! where it matters:
//!
//! * `getUpdates` stores updates until they are confirmed with a higher
//!   `offset`, redelivers unconfirmed ones on every call, long-polls for
//!   `timeout` seconds, and answers `409 Conflict` to a poll that is overtaken
//!   by a newer one (two bot instances) or while a webhook is set;
//! * `sendMessage` / `editMessageText` validate `parse_mode=HTML` the way
//!   Telegram's parser does (supported tags only, proper nesting, only the
//!   `&lt; &gt; &amp; &quot;` and numeric entities), strip surrounding
//!   whitespace, enforce the 4096 UTF-16 code unit limit, and store the
//!   resulting plain text and entities;
//! * message ids are per chat and shared between the user's and the bot's
//!   messages, as in a real chat; edits/deletes of unknown messages fail with
//!   Telegram's error descriptions, and an edit that changes nothing fails
//!   with "message is not modified";
//! * with [`FakeTelegram::set_strict_limits`], Telegram's flood limits are enforced and broken
//!   ones answered with 429 and `retry_after` (see [`RateLimits`] for exactly what is counted);
//! * `getFile` and downloads at `/file/bot<token>/<file_path>` serve files a test registered
//!   ([`FakeTelegram::register_file`]; downloads are counted), documents and photos (with
//!   caption and `media_group_id`) can be sent as updates, and `sendDocument`, `sendPhoto` and
//!   `sendMediaGroup` (multipart) are recorded ([`FakeTelegram::sent_files`]) and count as
//!   messages for the flood limits;
//! * every request is recorded (`calls`), and faults (429 with `retry_after`,
//!   500, 502, delays, arbitrary API errors, dropped connections) can be
//!   queued per method with [`FakeTelegram::fail_next`].
//!
//! Error descriptions copy Telegram's wording where it is known; the HTML
//! parser follows tdlib's `parse_html`, except that by default it is stricter
//! about `&`: a `&` that does not start one of the supported entities (with
//! its `;`) is rejected instead of being shown literally, so escaping bugs
//! surface in tests (see [`FakeTelegram::set_lenient_html`]).

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt::Write as _;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::connect_info::Connected;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::serve::IncomingStream;
use axum::Router;
use serde_json::{json, Map, Value};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// First `update_id` handed out by [`FakeTelegram::inject_update`].
pub const FIRST_UPDATE_ID: i64 = 1000;

/// Longest message text Telegram accepts, in UTF-16 code units.
pub const MAX_TEXT_UTF16: usize = 4096;

const NOT_MODIFIED: &str = "Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message";

/// One HTTP request the fake received, in the order the responses were produced.
#[derive(Clone, Debug)]
pub struct Call {
    /// Method name as in the API docs (`sendMessage`), whatever case the client used.
    pub method: String,
    /// Parameters from the query string and the body (JSON, form or multipart),
    /// with JSON-serialized fields (`reply_markup`, ...) decoded.
    pub params: Value,
    /// When the request arrived.
    pub at: Instant,
    /// HTTP status returned; 0 when the connection was dropped ([`Fault::Drop`]).
    pub status: u16,
    /// The response body as JSON (`Value::Null` for non-JSON bodies and drops).
    pub response: Value,
}

impl Call {
    /// `description` of an error response, if any.
    pub fn description(&self) -> Option<&str> {
        self.response.get("description").and_then(Value::as_str)
    }

    /// Whether the response was `{"ok":true,...}`.
    pub fn ok(&self) -> bool {
        self.response.get("ok").and_then(Value::as_bool) == Some(true)
    }
}

/// A message the bot sent (or, internally, one a user sent), as it is now.
#[derive(Clone, Debug)]
pub struct SentMessage {
    pub chat_id: i64,
    pub message_id: i64,
    /// Current plain text (after entity parsing, trimmed), as Telegram shows it.
    pub text: String,
    /// Current text exactly as the bot sent it (e.g. with HTML tags).
    pub raw_text: String,
    pub parse_mode: Option<String>,
    /// Current entities (`bold`, `code`, `pre`, `text_link`, ...), UTF-16 offsets.
    pub entities: Vec<Value>,
    /// Current reply markup exactly as sent (inline keyboard, reply keyboard, ...).
    pub reply_markup: Option<Value>,
    pub message_thread_id: Option<i64>,
    /// `message_id` this message replies to, if any.
    pub reply_to_message_id: Option<i64>,
    pub deleted: bool,
    /// Number of successful `editMessageText` calls on this message.
    pub edits: u32,
}

/// A document the bot sent with `sendDocument` (uploaded as a multipart file part).
#[derive(Clone, Debug)]
pub struct SentDocument {
    pub chat_id: i64,
    pub message_id: i64,
    pub filename: String,
    pub bytes: Vec<u8>,
    pub caption: Option<String>,
    pub message_thread_id: Option<i64>,
}

/// A fault to apply to the next call of a method (see [`FakeTelegram::fail_next`]).
#[derive(Clone, Debug)]
pub enum Fault {
    /// 429 `Too Many Requests: retry after N` with `parameters.retry_after = N`.
    RetryAfter(u64),
    /// 500 with Telegram's JSON body `{"ok":false,"error_code":500,"description":"Internal Server Error"}`.
    ServerError,
    /// Handle the call normally, but only after this delay (the call is
    /// processed even if the client gives up meanwhile).
    Delay(Duration),
    /// 400 with exactly this description (e.g. `"Bad Request: chat not found"`).
    BadRequest(String),
    /// Close the connection without sending any response (recorded with status 0).
    Drop,
    /// 502 with an HTML body, as a proxy in front of the API would send.
    BadGateway,
    /// Any error status with this description (e.g. 403 "Forbidden: bot was blocked by the user").
    Api(u16, String),
    /// This status with exactly this body (JSON content type), in no shape Telegram uses:
    /// e.g. `{"error":"upstream"}` from a gateway, or `{"ok":true}` without a result.
    Raw(u16, String),
}

/// The fake server. Dropping it stops the server and breaks its open connections.
pub struct FakeTelegram {
    inner: Arc<Inner>,
    server: JoinHandle<()>,
    addr: SocketAddr,
}

struct Inner {
    token: String,
    bot_id: i64,
    started: Instant,
    state: Mutex<FakeState>,
    notify: Notify,
    shutdown: Arc<AtomicBool>,
}

struct FakeState {
    next_update_id: i64,
    updates: VecDeque<Value>,
    injected: Vec<Value>,
    confirmed_offset: i64,
    calls: Vec<Call>,
    received: HashMap<String, usize>,
    chats: HashMap<i64, ChatState>,
    faults: HashMap<String, VecDeque<Fault>>,
    stubs: HashMap<String, Value>,
    commands: HashMap<String, Value>,
    webhook: Option<Webhook>,
    callbacks: Vec<(String, bool)>,
    poll_generation: u64,
    lenient_html: bool,
    limits: Option<RateLimits>,
    flood: Flood,
    /// Documents the bot sent (`sendDocument`), in order.
    documents: Vec<SentDocument>,
    /// Photos the bot uploaded (`sendPhoto` with a file part), in order.
    photos: Vec<SentDocument>,
    /// Registered files by `file_id`.
    files: HashMap<String, FakeFile>,
    /// Downloads served (or refused) per `file_id`.
    downloads: HashMap<String, usize>,
    /// How long each download waits before its bytes are sent (a slow file server).
    download_delay: Duration,
    /// Drafts the bot streamed (`sendMessageDraft`), in order.
    drafts: Vec<SentDraft>,
    /// While set, `sendMessageDraft` answers this error (status, description).
    draft_error: Option<(u16, String)>,
}

/// One `sendMessageDraft` the bot made (see [`FakeTelegram::drafts`]).
#[derive(Clone, Debug)]
pub struct SentDraft {
    pub chat_id: i64,
    pub draft_id: i64,
    /// Plain text after entity parsing, as Telegram shows it.
    pub text: String,
    /// The text exactly as sent.
    pub raw_text: String,
    pub message_thread_id: Option<i64>,
}

/// A file the fake serves (see [`FakeTelegram::register_file`]).
struct FakeFile {
    path: String,
    bytes: Vec<u8>,
}

/// Telegram's flood limits as the fake enforces them (strict mode). Telegram documents ~30
/// messages per second overall, 1 message per second in one chat and 20 per minute in a group,
/// without saying exactly what counts; the fake counts, at the arrival of each call:
///
/// * **messages** — `sendMessage`, `editMessageText`, `editMessageReplyMarkup` (edits are
///   flood-controlled like sends): at most `per_chat` in any `chat_window` per chat, at most
///   `per_group` in any `group_window` per group (negative chat id), and in the global count;
/// * **other sending calls** — `sendChatAction`, `deleteMessage(s)`, `answerCallbackQuery`:
///   in the global count only (a typing indicator is not a message in the chat);
/// * **global** — at most `global` of all the above in any `global_window`.
///
/// `getUpdates`, `getMe`, webhook and command-menu calls are not counted. Every window is
/// shortened by `slack`, because the fake sees arrival times, which jitter by a few
/// milliseconds around the moment the client sent (a call is counted at its arrival, even when
/// its handler runs after that of a later call).
#[derive(Clone, Copy, Debug)]
pub struct RateLimits {
    pub global: usize,
    pub global_window: Duration,
    pub per_chat: usize,
    pub chat_window: Duration,
    pub per_group: usize,
    pub group_window: Duration,
    pub slack: Duration,
}

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits {
            global: 30,
            global_window: Duration::from_secs(1),
            per_chat: 1,
            chat_window: Duration::from_secs(1),
            per_group: 20,
            group_window: Duration::from_secs(60),
            slack: Duration::from_millis(100),
        }
    }
}

/// Arrival times of counted calls (strict mode), and the 429s the limits produced.
#[derive(Default)]
struct Flood {
    global: VecDeque<Instant>,
    chats: HashMap<i64, VecDeque<Instant>>,
    groups: HashMap<i64, VecDeque<Instant>>,
    rejected: Vec<(String, i64, &'static str)>,
}

/// How long until one more call at `t` fits into `log` (sorted arrival times) with at most
/// `max` in any `window`; `None` if it fits now. `t` may be older than the newest entry: calls
/// are checked when their handler runs, which is not always in the order they arrived.
fn window_wait(
    log: &VecDeque<Instant>,
    max: usize,
    window: Duration,
    t: Instant,
) -> Option<Duration> {
    let i = log.partition_point(|x| *x <= t);
    let at = |k: usize| {
        if k < i {
            log[k]
        } else if k == i {
            t
        } else {
            log[k - 1]
        }
    };
    let len = log.len() + 1;
    let mut wait = None;
    for k in i.saturating_sub(max)..=i {
        if k + max < len && at(k + max) - at(k) < window {
            let w = at(k) + window - t;
            wait = Some(wait.map_or(w, |x: Duration| x.max(w)));
        }
    }
    wait
}

fn window_insert(log: &mut VecDeque<Instant>, t: Instant, keep: Duration) {
    let i = log.partition_point(|x| *x <= t);
    log.insert(i, t);
    let newest = *log.back().expect("just inserted");
    while log
        .front()
        .is_some_and(|x| newest.saturating_duration_since(*x) > keep)
    {
        log.pop_front();
    }
}

/// Strict mode: check (and on success count) one call that arrived at `t`; `Some(429)` when
/// a limit is broken.
fn flood_check(
    st: &mut FakeState,
    method: &str,
    p: &Map<String, Value>,
    t: Instant,
) -> Option<Outcome> {
    let l = st.limits?;
    let message = matches!(
        method,
        "sendmessage"
            | "editmessagetext"
            | "editmessagereplymarkup"
            | "senddocument"
            | "sendphoto"
            | "sendmediagroup"
            | "sendmessagedraft"
    );
    let other = matches!(
        method,
        "sendchataction" | "deletemessage" | "deletemessages" | "answercallbackquery"
    );
    if !message && !other {
        return None;
    }
    let chat = get_i64(p, "chat_id").unwrap_or(0);
    let w = |d: Duration| d.saturating_sub(l.slack);
    let f = &mut st.flood;
    let mut broken: Option<(Duration, &'static str)> = None;
    let mut note = |wait: Option<Duration>, what: &'static str| {
        if let Some(d) = wait {
            if broken.is_none_or(|(b, _)| d > b) {
                broken = Some((d, what));
            }
        }
    };
    note(
        window_wait(&f.global, l.global, w(l.global_window), t),
        "global",
    );
    if message {
        let c = f.chats.entry(chat).or_default();
        note(window_wait(c, l.per_chat, w(l.chat_window), t), "chat");
        if chat < 0 {
            let g = f.groups.entry(chat).or_default();
            note(window_wait(g, l.per_group, w(l.group_window), t), "group");
        }
    }
    if let Some((wait, what)) = broken {
        f.rejected.push((canonical_method(method), chat, what));
        let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
        return Some(fault_outcome(Fault::RetryAfter(secs)));
    }
    let keep = |d: Duration| d + Duration::from_secs(5);
    window_insert(&mut f.global, t, keep(l.global_window));
    if message {
        window_insert(f.chats.entry(chat).or_default(), t, keep(l.chat_window));
        if chat < 0 {
            window_insert(f.groups.entry(chat).or_default(), t, keep(l.group_window));
        }
    }
    None
}

struct Webhook {
    url: String,
    secret_token: Option<String>,
    allowed_updates: Option<Value>,
}

struct ChatState {
    info: Value,
    next_message_id: i64,
    messages: BTreeMap<i64, Stored>,
}

struct Stored {
    from_bot: bool,
    json: Value,
    msg: SentMessage,
}

impl FakeTelegram {
    /// Starts the server on `127.0.0.1:0`. Only requests for `token` are accepted.
    pub async fn start(token: &str) -> FakeTelegram {
        let tcp = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("fake telegram: bind 127.0.0.1:0");
        let addr = tcp.local_addr().expect("fake telegram: local_addr");
        let shutdown = Arc::new(AtomicBool::new(false));
        let bot_id = token
            .split(':')
            .next()
            .and_then(|s| s.parse::<i64>().ok())
            .filter(|id| *id > 0)
            .unwrap_or(7_000_000_001);
        let inner = Arc::new(Inner {
            token: token.to_string(),
            bot_id,
            started: Instant::now(),
            state: Mutex::new(FakeState {
                next_update_id: FIRST_UPDATE_ID,
                updates: VecDeque::new(),
                injected: Vec::new(),
                confirmed_offset: 0,
                calls: Vec::new(),
                received: HashMap::new(),
                chats: HashMap::new(),
                faults: HashMap::new(),
                stubs: HashMap::new(),
                commands: HashMap::new(),
                webhook: None,
                callbacks: Vec::new(),
                poll_generation: 0,
                lenient_html: false,
                limits: None,
                flood: Flood::default(),
                documents: Vec::new(),
                photos: Vec::new(),
                files: HashMap::new(),
                downloads: HashMap::new(),
                download_delay: Duration::ZERO,
                drafts: Vec::new(),
                draft_error: None,
            }),
            notify: Notify::new(),
            shutdown: shutdown.clone(),
        });
        let listener = FakeListener { tcp, shutdown };
        let app = Router::new().fallback(handle).with_state(inner.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(
                listener,
                app.into_make_service_with_connect_info::<ConnTag>(),
            )
            .await;
        });
        FakeTelegram {
            inner,
            server,
            addr,
        }
    }

    /// `http://127.0.0.1:PORT` (without `/bot<token>`).
    pub fn api_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The bot's user id: the number before `:` in the token, else 7000000001.
    pub fn bot_user_id(&self) -> i64 {
        self.inner.bot_id
    }

    /// The bot's `User` object as it appears in `from` of its messages.
    pub fn bot_user(&self) -> Value {
        bot_user(self.inner.bot_id)
    }

    /// Queues a raw update; its `update_id` is assigned (overwritten) here.
    /// A contained `message` is remembered so the bot can reply to it.
    pub fn inject_update(&self, update: Value) -> i64 {
        let id = {
            let mut st = self.inner.lock();
            if let Some(msg) = update
                .get("message")
                .or_else(|| update.get("edited_message"))
            {
                remember_user_message(&mut st, msg);
            }
            if let Some(id) = update.pointer("/callback_query/id").and_then(Value::as_str) {
                st.callbacks.push((id.to_string(), false));
            }
            push_update(&mut st, update)
        };
        self.inner.notify.notify_waiters();
        id
    }

    /// A text message from `user_id` in `chat_id` (private chat if they are
    /// equal, otherwise a supergroup). Returns the update id.
    pub fn inject_message(&self, chat_id: i64, user_id: i64, text: &str) -> i64 {
        self.inject_user_message(chat_id, None, user_id, text)
    }

    /// Like [`Self::inject_message`], but the sender is a bot (`from.is_bot: true`) that
    /// carries the id `user_id` — an allowed user's id, if the test wants.
    pub fn inject_bot_message(&self, chat_id: i64, user_id: i64, text: &str) -> i64 {
        self.inject_message_from(chat_id, None, user_id, bot_json(user_id), text)
    }

    /// A text message in forum topic `thread_id` of supergroup `chat_id`.
    pub fn inject_topic_message(
        &self,
        chat_id: i64,
        thread_id: i64,
        user_id: i64,
        text: &str,
    ) -> i64 {
        self.inject_user_message(chat_id, Some(thread_id), user_id, text)
    }

    fn inject_user_message(
        &self,
        chat_id: i64,
        thread: Option<i64>,
        user_id: i64,
        text: &str,
    ) -> i64 {
        self.inject_message_from(chat_id, thread, user_id, user_json(user_id), text)
    }

    fn inject_message_from(
        &self,
        chat_id: i64,
        thread: Option<i64>,
        user_id: i64,
        from: Value,
        text: &str,
    ) -> i64 {
        let id = {
            let mut st = self.inner.lock();
            let chat = ensure_chat_kind(&mut st, chat_id, user_id, thread.is_some());
            let info = chat.info.clone();
            let message_id = chat.next_message_id;
            chat.next_message_id += 1;
            let mut msg = json!({
                "message_id": message_id,
                "from": from,
                "chat": info,
                "date": now_unix(),
                "text": text,
            });
            if let Some(t) = thread {
                msg["message_thread_id"] = json!(t);
                msg["is_topic_message"] = json!(true);
            }
            let entities = command_entity(text);
            if !entities.is_empty() {
                msg["entities"] = Value::Array(entities.clone());
            }
            chat.messages.insert(
                message_id,
                Stored {
                    from_bot: false,
                    json: msg.clone(),
                    msg: SentMessage {
                        chat_id,
                        message_id,
                        text: text.to_string(),
                        raw_text: text.to_string(),
                        parse_mode: None,
                        entities,
                        reply_markup: None,
                        message_thread_id: thread,
                        reply_to_message_id: None,
                        deleted: false,
                        edits: 0,
                    },
                },
            );
            push_update(&mut st, json!({ "message": msg }))
        };
        self.inner.notify.notify_waiters();
        id
    }

    /// Serve `bytes` as a file; returns its `file_id` (its `file_path` is
    /// `documents/file_<n>.<ext>`, `ext` from `name_hint`).
    pub fn register_file(&self, name_hint: &str, bytes: Vec<u8>) -> String {
        let mut st = self.inner.lock();
        let n = st.files.len();
        let ext = name_hint
            .rsplit_once('.')
            .map(|(_, e)| e.to_string())
            .filter(|e| e.chars().all(|c| c.is_ascii_alphanumeric()))
            .unwrap_or_else(|| "bin".into());
        let id = format!("FILE{n}x{:08x}", bytes.len());
        st.files.insert(
            id.clone(),
            FakeFile {
                path: format!("documents/file_{n}.{ext}"),
                bytes,
            },
        );
        id
    }

    /// Make every later download wait `d` before answering.
    pub fn set_download_delay(&self, d: Duration) {
        self.inner.lock().download_delay = d;
    }

    /// How many times the file `file_id` was downloaded.
    pub fn downloads_of(&self, file_id: &str) -> usize {
        self.inner
            .lock()
            .downloads
            .get(file_id)
            .copied()
            .unwrap_or(0)
    }

    /// Downloads of all files.
    pub fn downloads(&self) -> usize {
        self.inner.lock().downloads.values().sum()
    }

    fn file_size(&self, file_id: &str) -> u64 {
        self.inner
            .lock()
            .files
            .get(file_id)
            .map(|f| f.bytes.len() as u64)
            .unwrap_or(0)
    }

    /// A document `file_id` (registered) named `file_name` from `user_id` in `chat_id`, its
    /// `file_size` the registered size. Returns the update id.
    pub fn inject_document(
        &self,
        chat_id: i64,
        user_id: i64,
        file_id: &str,
        file_name: &str,
        caption: Option<&str>,
    ) -> i64 {
        let size = self.file_size(file_id);
        self.inject_document_claiming(chat_id, user_id, file_id, file_name, size, caption)
    }

    /// Like [`Self::inject_document`], with the `file_size` the sender's client claims.
    pub fn inject_document_claiming(
        &self,
        chat_id: i64,
        user_id: i64,
        file_id: &str,
        file_name: &str,
        file_size: u64,
        caption: Option<&str>,
    ) -> i64 {
        let mut fields = json!({"document": {
            "file_id": file_id,
            "file_unique_id": format!("u{file_id}"),
            "file_name": file_name,
            "mime_type": "application/octet-stream",
            "file_size": file_size,
        }});
        if let Some(c) = caption {
            fields["caption"] = json!(c);
        }
        self.inject_media(chat_id, user_id, fields)
    }

    /// A photo `file_id` (registered) in three sizes (the largest is `file_id`), optionally
    /// part of album `media_group_id`.
    pub fn inject_photo(
        &self,
        chat_id: i64,
        user_id: i64,
        file_id: &str,
        caption: Option<&str>,
        media_group_id: Option<&str>,
    ) -> i64 {
        let size = self.file_size(file_id);
        let mut fields = json!({"photo": [
            {"file_id": format!("{file_id}-thumb"), "file_unique_id": "t", "width": 90, "height": 60, "file_size": 100},
            {"file_id": file_id, "file_unique_id": format!("u{file_id}"), "width": 1280, "height": 853, "file_size": size},
            {"file_id": format!("{file_id}-mid"), "file_unique_id": "m", "width": 320, "height": 213, "file_size": 1000},
        ]});
        if let Some(c) = caption {
            fields["caption"] = json!(c);
        }
        if let Some(g) = media_group_id {
            fields["media_group_id"] = json!(g);
        }
        self.inject_media(chat_id, user_id, fields)
    }

    /// A voice note `file_id` (registered) of `duration` seconds (`audio/ogg`, its
    /// `file_size` the registered size). Returns the update id.
    pub fn inject_voice(
        &self,
        chat_id: i64,
        user_id: i64,
        file_id: &str,
        duration: u64,
        caption: Option<&str>,
    ) -> i64 {
        let mut fields = json!({"voice": {
            "file_id": file_id,
            "file_unique_id": format!("u{file_id}"),
            "duration": duration,
            "mime_type": "audio/ogg",
            "file_size": self.file_size(file_id),
        }});
        if let Some(c) = caption {
            fields["caption"] = json!(c);
        }
        self.inject_media(chat_id, user_id, fields)
    }

    /// A message from `user_id` in `chat_id` made of `fields` (`document`, `photo`, `caption`,
    /// `media_group_id`, …) instead of text. Returns the update id.
    pub fn inject_media(&self, chat_id: i64, user_id: i64, fields: Value) -> i64 {
        let id = {
            let mut st = self.inner.lock();
            let chat = ensure_chat_kind(&mut st, chat_id, user_id, false);
            let info = chat.info.clone();
            let message_id = chat.next_message_id;
            chat.next_message_id += 1;
            let mut msg = json!({
                "message_id": message_id,
                "from": user_json(user_id),
                "chat": info,
                "date": now_unix(),
            });
            if let (Value::Object(m), Value::Object(f)) = (&mut msg, fields) {
                m.extend(f);
            }
            remember_user_message(&mut st, &msg);
            push_update(&mut st, json!({ "message": msg }))
        };
        self.inner.notify.notify_waiters();
        id
    }

    /// Calls of `sendDocument`, `sendPhoto` and `sendMediaGroup`, in order (file parts of the
    /// multipart body appear as `{"filename", "size"}`).
    pub fn sent_files(&self) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| {
                matches!(
                    c.method.as_str(),
                    "sendDocument" | "sendPhoto" | "sendMediaGroup"
                )
            })
            .collect()
    }

    /// A press of an inline button with `data` on message `message_id` of
    /// `chat_id`. The update carries the message as currently stored (or a
    /// minimal one if unknown). Returns the update id.
    pub fn inject_callback(&self, chat_id: i64, user_id: i64, message_id: i64, data: &str) -> i64 {
        self.inject_callback_from(chat_id, user_id, user_json(user_id), message_id, data)
    }

    /// Like [`Self::inject_callback`], but the button is pressed by a bot (`from.is_bot: true`)
    /// carrying the id `user_id`.
    pub fn inject_bot_callback(
        &self,
        chat_id: i64,
        user_id: i64,
        message_id: i64,
        data: &str,
    ) -> i64 {
        self.inject_callback_from(chat_id, user_id, bot_json(user_id), message_id, data)
    }

    fn inject_callback_from(
        &self,
        chat_id: i64,
        user_id: i64,
        from: Value,
        message_id: i64,
        data: &str,
    ) -> i64 {
        let id = {
            let mut st = self.inner.lock();
            let n = st.callbacks.len() as u64 + 1;
            let query_id = (4_000_000_000_000_000_000u64 + n * 7919).to_string();
            st.callbacks.push((query_id.clone(), false));
            let chat = ensure_chat_kind(&mut st, chat_id, user_id, false);
            let message = match chat.messages.get(&message_id) {
                Some(stored) => stored.json.clone(),
                None => json!({ "message_id": message_id, "date": 0, "chat": chat.info.clone() }),
            };
            let update = json!({
                "callback_query": {
                    "id": query_id,
                    "from": from,
                    "message": message,
                    "chat_instance": chat_id.wrapping_mul(1_000_003).wrapping_abs().to_string(),
                    "data": data,
                }
            });
            push_update(&mut st, update)
        };
        self.inner.notify.notify_waiters();
        id
    }

    /// Every update ever injected (with its `update_id`), confirmed or not.
    pub fn injected_updates(&self) -> Vec<Value> {
        self.inner.lock().injected.clone()
    }

    /// All recorded calls, in the order their responses were produced.
    pub fn calls(&self) -> Vec<Call> {
        self.inner.lock().calls.clone()
    }

    /// Recorded calls of one method (name compared case-insensitively).
    pub fn calls_to(&self, method: &str) -> Vec<Call> {
        self.inner
            .lock()
            .calls
            .iter()
            .filter(|c| c.method.eq_ignore_ascii_case(method))
            .cloned()
            .collect()
    }

    /// How many requests for `method` have arrived so far, including ones
    /// still being handled (a waiting long poll is in `calls` only once it
    /// returns, but counts here as soon as it arrives).
    pub fn received(&self, method: &str) -> usize {
        self.inner
            .lock()
            .received
            .get(&method.to_ascii_lowercase())
            .copied()
            .unwrap_or(0)
    }

    /// Forgets the recorded calls and `received` counts (state such as
    /// messages and updates is kept).
    pub fn clear_calls(&self) {
        let mut st = self.inner.lock();
        st.calls.clear();
        st.received.clear();
    }

    /// Polls `pred` every 20 ms; after `timeout` panics with `what` and a dump
    /// of everything the bot did.
    pub async fn wait_for<F: Fn(&FakeTelegram) -> bool>(
        &self,
        timeout: Duration,
        what: &str,
        pred: F,
    ) {
        let deadline = Instant::now() + timeout;
        loop {
            if pred(self) {
                return;
            }
            if Instant::now() >= deadline {
                panic!(
                    "fake telegram: timed out after {timeout:?} waiting for: {what}\n{}",
                    self.dump()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Readable summary of calls, pending updates and messages, for debugging.
    pub fn dump(&self) -> String {
        let st = self.inner.lock();
        let mut out = String::new();
        let _ = writeln!(
            out,
            "--- {} call(s) to the fake Telegram ---",
            st.calls.len()
        );
        for c in &st.calls {
            let since = c.at.saturating_duration_since(self.inner.started);
            let mut line = format!(
                "  +{:>7.3}s {} -> {} {}",
                since.as_secs_f64(),
                c.method,
                c.status,
                short(&c.params, 160)
            );
            if let Some(d) = c.description() {
                let _ = write!(line, "  [{d}]");
            }
            let _ = writeln!(out, "{line}");
        }
        let _ = writeln!(
            out,
            "--- pending updates: {}, confirmed offset: {}, next update_id: {} ---",
            st.updates.len(),
            st.confirmed_offset,
            st.next_update_id
        );
        let mut chat_ids: Vec<&i64> = st.chats.keys().collect();
        chat_ids.sort();
        for id in chat_ids {
            for s in st.chats[id].messages.values() {
                let who = if s.from_bot { "bot " } else { "user" };
                let mut flags = String::new();
                if s.msg.deleted {
                    flags.push_str(" (deleted)");
                }
                if s.msg.edits > 0 {
                    let _ = write!(flags, " (edited x{})", s.msg.edits);
                }
                let _ = writeln!(
                    out,
                    "  chat {id} #{} {who}{flags}: {}",
                    s.msg.message_id,
                    short(&Value::String(s.msg.text.clone()), 120)
                );
            }
        }
        out
    }

    /// Messages the bot sent to `chat_id`, in order, as they are now
    /// (including deleted ones, flagged).
    pub fn messages(&self, chat_id: i64) -> Vec<SentMessage> {
        self.inner
            .lock()
            .chats
            .get(&chat_id)
            .map(|c| {
                c.messages
                    .values()
                    .filter(|s| s.from_bot)
                    .map(|s| s.msg.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Photos the bot uploaded to `chat_id` with `sendPhoto`, in order (`caption` as sent, HTML).
    pub fn photos(&self, chat_id: i64) -> Vec<SentDocument> {
        self.inner
            .lock()
            .photos
            .iter()
            .filter(|d| d.chat_id == chat_id)
            .cloned()
            .collect()
    }

    /// The forum topics of `chat_id` (created with `createForumTopic`): thread id, name as it
    /// is now, closed or not; in creation order.
    pub fn forum_topics(&self, chat_id: i64) -> Vec<(i64, String, bool)> {
        let st = self.inner.lock();
        st.chats
            .get(&chat_id)
            .map(|c| {
                c.messages
                    .values()
                    .filter_map(|s| {
                        let t = s.json.get("fake_topic")?;
                        Some((
                            s.msg.message_id,
                            t["name"].as_str().unwrap_or_default().to_string(),
                            t["closed"].as_bool().unwrap_or(false),
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Delete forum topic `thread` of `chat_id` as a user would by hand (calls naming it then
    /// answer `TOPIC_ID_INVALID`).
    pub fn delete_forum_topic(&self, chat_id: i64, thread: i64) {
        let mut st = self.inner.lock();
        if let Some(c) = st.chats.get_mut(&chat_id) {
            c.messages.remove(&thread);
        }
    }

    /// Documents the bot sent to `chat_id` with `sendDocument`, in order.
    pub fn documents(&self, chat_id: i64) -> Vec<SentDocument> {
        self.inner
            .lock()
            .documents
            .iter()
            .filter(|d| d.chat_id == chat_id)
            .cloned()
            .collect()
    }

    /// Drafts the bot streamed to `chat_id` with `sendMessageDraft` (accepted ones), in order.
    pub fn drafts(&self, chat_id: i64) -> Vec<SentDraft> {
        self.inner
            .lock()
            .drafts
            .iter()
            .filter(|d| d.chat_id == chat_id)
            .cloned()
            .collect()
    }

    /// Make every `sendMessageDraft` answer `Some((status, description))` (a Bot API without
    /// drafts: 404 "Not Found", or a 400), or behave again (`None`).
    pub fn set_drafts_unavailable(&self, error: Option<(u16, &str)>) {
        self.inner.lock().draft_error = error.map(|(c, d)| (c, d.to_string()));
    }

    /// The bot's last message in `chat_id` that is not deleted.
    pub fn last_message(&self, chat_id: i64) -> Option<SentMessage> {
        self.messages(chat_id)
            .into_iter()
            .rev()
            .find(|m| !m.deleted)
    }

    /// The stored `Message` object (bot's or user's) as Telegram would return it now.
    pub fn message_json(&self, chat_id: i64, message_id: i64) -> Option<Value> {
        let st = self.inner.lock();
        st.chats
            .get(&chat_id)
            .and_then(|c| c.messages.get(&message_id))
            .map(|s| s.json.clone())
    }

    /// Queues `fault` for the next call to `method` (FIFO, one per call).
    pub fn fail_next(&self, method: &str, fault: Fault) {
        self.inner
            .lock()
            .faults
            .entry(method.to_ascii_lowercase())
            .or_default()
            .push_back(fault);
    }

    /// Makes `method` (any name, known or not) answer `{"ok":true,"result":result}`.
    /// Faults still apply first.
    pub fn stub(&self, method: &str, result: Value) {
        self.inner
            .lock()
            .stubs
            .insert(method.to_ascii_lowercase(), result);
    }

    /// With `true`, a `&` that starts no supported entity is kept literally,
    /// as real Telegram does; by default (`false`) it is rejected with
    /// "can't parse entities", to catch missing escaping.
    pub fn set_lenient_html(&self, lenient: bool) {
        self.inner.lock().lenient_html = lenient;
    }

    /// Strict mode: enforce Telegram's flood limits ([`RateLimits::default`]) and answer calls
    /// that break them with 429 and `retry_after`. Off by default.
    pub fn set_strict_limits(&self, on: bool) {
        self.set_rate_limits(on.then(RateLimits::default));
    }

    /// Strict mode with these limits (`None`: off).
    pub fn set_rate_limits(&self, limits: Option<RateLimits>) {
        let mut st = self.inner.lock();
        st.limits = limits;
        st.flood = Flood::default();
    }

    /// Calls the strict limits answered with 429, as (method, chat id, limit broken: `global`,
    /// `chat` or `group`), in order.
    pub fn flood_rejections(&self) -> Vec<(String, i64, &'static str)> {
        self.inner.lock().flood.rejected.clone()
    }

    /// Highest `offset` the bot has confirmed through `getUpdates` (0 if none).
    pub fn confirmed_offset(&self) -> i64 {
        self.inner.lock().confirmed_offset
    }

    /// Updates injected but not yet confirmed.
    pub fn pending_updates(&self) -> usize {
        self.inner.lock().updates.len()
    }

    /// Ids of callback queries the bot has not answered yet.
    pub fn unanswered_callbacks(&self) -> Vec<String> {
        self.inner
            .lock()
            .callbacks
            .iter()
            .filter(|(_, answered)| !answered)
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Commands set with `setMyCommands` for the default scope and no language.
    pub fn commands(&self) -> Vec<Value> {
        let st = self.inner.lock();
        match st.commands.get(&commands_key(&Map::new())) {
            Some(Value::Array(a)) => a.clone(),
            _ => Vec::new(),
        }
    }

    /// `(url, secret_token)` of the webhook, if one is set.
    pub fn webhook(&self) -> Option<(String, Option<String>)> {
        self.inner
            .lock()
            .webhook
            .as_ref()
            .map(|w| (w.url.clone(), w.secret_token.clone()))
    }
}

impl Drop for FakeTelegram {
    fn drop(&mut self) {
        self.inner.shutdown.store(true, Ordering::SeqCst);
        self.inner.notify.notify_waiters();
        self.server.abort();
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, FakeState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

// ---------------------------------------------------------------------------
// Transport: a listener whose connections can be cut from a handler.

struct FakeListener {
    tcp: TcpListener,
    shutdown: Arc<AtomicBool>,
}

impl axum::serve::Listener for FakeListener {
    type Io = CuttableIo;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.tcp.accept().await {
                Ok((stream, addr)) => {
                    let _ = stream.set_nodelay(true);
                    let io = CuttableIo {
                        stream,
                        cut: Arc::new(AtomicBool::new(false)),
                        shutdown: self.shutdown.clone(),
                    };
                    return (io, addr);
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

/// A TCP stream that fails all further IO once cut (or once the fake is
/// dropped), so the server closes it without writing a response.
struct CuttableIo {
    stream: TcpStream,
    cut: Arc<AtomicBool>,
    shutdown: Arc<AtomicBool>,
}

impl CuttableIo {
    fn dead(&self) -> bool {
        self.cut.load(Ordering::SeqCst) || self.shutdown.load(Ordering::SeqCst)
    }
}

fn cut_error() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionAborted,
        "fake telegram: connection cut",
    )
}

impl AsyncRead for CuttableIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.dead() {
            return Poll::Ready(Err(cut_error()));
        }
        Pin::new(&mut this.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for CuttableIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.dead() {
            return Poll::Ready(Err(cut_error()));
        }
        Pin::new(&mut this.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.dead() {
            return Poll::Ready(Err(cut_error()));
        }
        Pin::new(&mut this.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.dead() {
            return Poll::Ready(Err(cut_error()));
        }
        Pin::new(&mut this.stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

#[derive(Clone)]
struct ConnTag {
    cut: Arc<AtomicBool>,
}

impl Connected<IncomingStream<'_, FakeListener>> for ConnTag {
    fn connect_info(stream: IncomingStream<'_, FakeListener>) -> Self {
        ConnTag {
            cut: stream.io().cut.clone(),
        }
    }
}

// ---------------------------------------------------------------------------
// Request handling.

struct Outcome {
    status: u16,
    body: String,
    json: Value,
    html: bool,
    cut: bool,
}

impl Outcome {
    fn ok(result: Value) -> Outcome {
        Outcome::json(200, json!({ "ok": true, "result": result }))
    }

    fn ok_described(result: Value, description: &str) -> Outcome {
        Outcome::json(
            200,
            json!({ "ok": true, "result": result, "description": description }),
        )
    }

    fn err(status: u16, description: &str) -> Outcome {
        Outcome::json(
            status,
            json!({ "ok": false, "error_code": status, "description": description }),
        )
    }

    fn bad(description: &str) -> Outcome {
        Outcome::err(400, description)
    }

    fn json(status: u16, body: Value) -> Outcome {
        Outcome {
            status,
            body: body.to_string(),
            json: body,
            html: false,
            cut: false,
        }
    }
}

async fn handle(
    State(inner): State<Arc<Inner>>,
    ConnectInfo(conn): ConnectInfo<ConnTag>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let arrived = Instant::now();
    if let Some(rest) = uri.path().strip_prefix("/file/bot") {
        let delay = inner.lock().download_delay;
        tokio::time::sleep(delay).await;
        return download(&inner, rest, arrived);
    }
    // Processed in its own task so that a call completes (and is recorded)
    // even if the client hangs up meanwhile, as on a real server.
    let task = tokio::spawn(process(inner, uri, headers, body, arrived));
    let outcome = match task.await {
        Ok(outcome) => outcome,
        Err(_) => Outcome::err(500, "Internal Server Error"),
    };
    if outcome.cut {
        conn.cut.store(true, Ordering::SeqCst);
    }
    let status = StatusCode::from_u16(outcome.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let content_type = if outcome.html {
        "text/html"
    } else {
        "application/json"
    };
    (status, [(header::CONTENT_TYPE, content_type)], outcome.body).into_response()
}

async fn process(
    inner: Arc<Inner>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
    arrived: Instant,
) -> Outcome {
    let path = uri.path().to_string();
    let parsed = parse_params(&uri, &headers, &body);
    let (params, parse_error) = match parsed {
        Ok(map) => (map, None),
        Err(e) => {
            let mut m = Map::new();
            m.insert(
                "_raw".into(),
                Value::String(String::from_utf8_lossy(&body).into_owned()),
            );
            (m, Some(e))
        }
    };

    let (method, outcome) = match path
        .strip_prefix("/bot")
        .and_then(|rest| rest.split_once('/'))
    {
        None => (path.clone(), Outcome::err(404, "Not Found")),
        Some((_, "")) => (path.clone(), Outcome::err(404, "Not Found")),
        Some((token, name)) => {
            let method = canonical_method(name);
            *inner
                .lock()
                .received
                .entry(name.to_ascii_lowercase())
                .or_default() += 1;
            if token != inner.token {
                (method, Outcome::err(401, "Unauthorized"))
            } else if let Some(e) = parse_error {
                (method, Outcome::bad(&e))
            } else {
                let lower = name.to_ascii_lowercase();
                let fault = inner
                    .lock()
                    .faults
                    .get_mut(&lower)
                    .and_then(VecDeque::pop_front);
                let flood = match fault {
                    None => flood_check(&mut inner.lock(), &lower, &params, arrived),
                    Some(_) => None,
                };
                let outcome = match fault {
                    None if flood.is_some() => flood.expect("checked"),
                    None => dispatch(&inner, &lower, &params).await,
                    Some(Fault::Delay(d)) => {
                        tokio::time::sleep(d).await;
                        dispatch(&inner, &lower, &params).await
                    }
                    Some(f) => fault_outcome(f),
                };
                (method, outcome)
            }
        }
    };

    inner.lock().calls.push(Call {
        method,
        params: Value::Object(params),
        at: arrived,
        status: if outcome.cut { 0 } else { outcome.status },
        response: if outcome.cut {
            Value::Null
        } else {
            outcome.json.clone()
        },
    });
    outcome
}

/// `GET /file/bot<token>/<file_path>`: the registered bytes (recorded as a `download` call).
fn download(inner: &Arc<Inner>, rest: &str, arrived: Instant) -> Response {
    let (token, path) = rest.split_once('/').unwrap_or((rest, ""));
    let mut st = inner.lock();
    let found = (token == inner.token)
        .then(|| {
            st.files
                .iter()
                .find(|(_, f)| f.path == path)
                .map(|(id, f)| (id.clone(), f.bytes.clone()))
        })
        .flatten();
    let status = match &found {
        Some(_) => 200,
        None if token != inner.token => 401,
        None => 404,
    };
    if let Some((id, _)) = &found {
        *st.downloads.entry(id.clone()).or_default() += 1;
    }
    st.calls.push(Call {
        method: "download".into(),
        params: json!({ "file_path": path }),
        at: arrived,
        status,
        response: Value::Null,
    });
    drop(st);
    match found {
        Some((_, bytes)) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/octet-stream")],
            bytes,
        )
            .into_response(),
        None => StatusCode::from_u16(status)
            .unwrap_or(StatusCode::NOT_FOUND)
            .into_response(),
    }
}

fn fault_outcome(fault: Fault) -> Outcome {
    match fault {
        Fault::RetryAfter(secs) => Outcome::json(
            429,
            json!({
                "ok": false,
                "error_code": 429,
                "description": format!("Too Many Requests: retry after {secs}"),
                "parameters": { "retry_after": secs },
            }),
        ),
        Fault::ServerError => Outcome::err(500, "Internal Server Error"),
        Fault::BadRequest(d) => Outcome::bad(&d),
        Fault::Api(status, d) => Outcome::err(status, &d),
        Fault::BadGateway => Outcome {
            status: 502,
            body: "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx/1.18.0</center>\r\n</body>\r\n</html>\r\n".into(),
            json: Value::Null,
            html: true,
            cut: false,
        },
        Fault::Raw(status, body) => Outcome {
            status,
            json: serde_json::from_str(&body).unwrap_or(Value::Null),
            body,
            html: false,
            cut: false,
        },
        Fault::Drop => Outcome {
            status: 0,
            body: String::new(),
            json: Value::Null,
            html: false,
            cut: true,
        },
        // Handled by the caller; harmless default.
        Fault::Delay(_) => Outcome::err(500, "Internal Server Error"),
    }
}

const METHODS: &[&str] = &[
    "getMe",
    "getUpdates",
    "sendMessage",
    "editMessageText",
    "editMessageReplyMarkup",
    "deleteMessage",
    "deleteMessages",
    "sendChatAction",
    "sendDocument",
    "answerCallbackQuery",
    "setMyCommands",
    "deleteMyCommands",
    "getMyCommands",
    "setWebhook",
    "deleteWebhook",
    "getWebhookInfo",
    "getFile",
    "sendPhoto",
    "sendMediaGroup",
    "sendMessageDraft",
];

fn canonical_method(name: &str) -> String {
    METHODS
        .iter()
        .find(|m| m.eq_ignore_ascii_case(name))
        .map(|m| m.to_string())
        .unwrap_or_else(|| name.to_string())
}

async fn dispatch(inner: &Arc<Inner>, method: &str, p: &Map<String, Value>) -> Outcome {
    if let Some(result) = inner.lock().stubs.get(method).cloned() {
        return Outcome::ok(result);
    }
    if method == "getupdates" {
        return get_updates(inner, p).await;
    }
    let bot_id = inner.bot_id;
    let mut st = inner.lock();
    let st = &mut *st;
    let result = match method {
        "getme" => Ok(Outcome::ok(json!({
            "id": bot_id,
            "is_bot": true,
            "first_name": "FakeBot",
            "username": "fake_bot",
            "can_join_groups": true,
            "can_read_all_group_messages": false,
            "supports_inline_queries": false,
        }))),
        "sendmessage" => send_message(st, bot_id, p),
        "getfile" => get_file(st, p),
        "sendphoto" => send_photo(st, bot_id, p),
        "sendmediagroup" => send_media_group(st, bot_id, p),
        "sendmessagedraft" => send_message_draft(st, p),
        "editmessagetext" => edit_message_text(st, p),
        "editmessagereplymarkup" => edit_message_reply_markup(st, p),
        "deletemessage" => delete_message(st, p),
        "deletemessages" => delete_messages(st, p),
        "senddocument" => send_document(st, bot_id, p),
        "sendchataction" => send_chat_action(p),
        "answercallbackquery" => answer_callback_query(st, p),
        "setmycommands" => set_my_commands(st, p),
        "deletemycommands" => {
            st.commands.remove(&commands_key(p));
            Ok(Outcome::ok(json!(true)))
        }
        "getmycommands" => Ok(Outcome::ok(
            st.commands
                .get(&commands_key(p))
                .cloned()
                .unwrap_or_else(|| json!([])),
        )),
        "setwebhook" => set_webhook(st, p),
        "createforumtopic" | "editforumtopic" | "closeforumtopic" | "reopenforumtopic" => {
            forum_topic(st, bot_id, method, p)
        }
        "deletewebhook" => {
            if get_bool(p, "drop_pending_updates") {
                st.updates.clear();
            }
            let was = st.webhook.take().is_some();
            Ok(Outcome::ok_described(
                json!(true),
                if was {
                    "Webhook was deleted"
                } else {
                    "Webhook is already deleted"
                },
            ))
        }
        "getwebhookinfo" => {
            let mut info = json!({
                "url": "",
                "has_custom_certificate": false,
                "pending_update_count": st.updates.len(),
            });
            if let Some(w) = &st.webhook {
                info["url"] = json!(w.url);
                info["max_connections"] = json!(40);
                info["ip_address"] = json!("127.0.0.1");
                if let Some(a) = &w.allowed_updates {
                    info["allowed_updates"] = a.clone();
                }
            }
            Ok(Outcome::ok(info))
        }
        _ => Ok(Outcome::err(404, "Not Found")),
    };
    result.unwrap_or_else(|e| Outcome::bad(&e))
}

async fn get_updates(inner: &Arc<Inner>, p: &Map<String, Value>) -> Outcome {
    let offset = get_i64(p, "offset").unwrap_or(0);
    let limit = match get_i64(p, "limit") {
        Some(l) if l > 0 => l.min(100) as usize,
        _ => 100,
    };
    let timeout = get_f64(p, "timeout").unwrap_or(0.0).clamp(0.0, 3600.0);
    let generation = {
        let mut st = inner.lock();
        if st.webhook.is_some() {
            return Outcome::err(
                409,
                "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first",
            );
        }
        if offset > 0 {
            st.updates.retain(|u| update_id(u) >= offset);
            st.confirmed_offset = st.confirmed_offset.max(offset);
        } else if offset < 0 {
            let keep = offset.unsigned_abs() as usize;
            while st.updates.len() > keep {
                st.updates.pop_front();
            }
            if let Some(first) = st.updates.front() {
                let id = update_id(first);
                st.confirmed_offset = st.confirmed_offset.max(id);
            }
        }
        st.poll_generation += 1;
        st.poll_generation
    };
    // Terminates an older long poll still waiting (like a second bot instance would).
    inner.notify.notify_waiters();
    let deadline = tokio::time::Instant::now() + Duration::from_secs_f64(timeout);
    loop {
        let notified = inner.notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        {
            let st = inner.lock();
            if st.poll_generation != generation {
                return Outcome::err(
                    409,
                    "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running",
                );
            }
            let batch: Vec<Value> = st
                .updates
                .iter()
                .filter(|u| update_id(u) >= offset)
                .take(limit)
                .cloned()
                .collect();
            if !batch.is_empty()
                || tokio::time::Instant::now() >= deadline
                || inner.shutdown.load(Ordering::SeqCst)
            {
                return Outcome::ok(Value::Array(batch));
            }
        }
        tokio::select! {
            _ = &mut notified => {}
            _ = tokio::time::sleep_until(deadline) => {}
        }
    }
}

fn send_message(
    st: &mut FakeState,
    bot_id: i64,
    p: &Map<String, Value>,
) -> Result<Outcome, String> {
    let chat_id = chat_id_param(p)?;
    let raw_text = get_str(p, "text").unwrap_or_default();
    let parse_mode = get_str(p, "parse_mode").filter(|m| !m.is_empty());
    let (text, entities) = format_text(
        &raw_text,
        parse_mode.as_deref(),
        p.get("entities"),
        st.lenient_html,
        "Bad Request: message text is empty",
    )?;
    let markup = reply_markup_param(p)?;
    let thread = get_i64(p, "message_thread_id");
    let reply_params = p.get("reply_parameters").filter(|v| v.is_object());
    let reply_to = reply_params
        .and_then(|r| get_i64_value(r.get("message_id")))
        .or_else(|| get_i64(p, "reply_to_message_id"));
    let allow_without_reply = get_bool(p, "allow_sending_without_reply")
        || reply_params
            .and_then(|r| r.get("allow_sending_without_reply"))
            .map(truthy)
            .unwrap_or(false);

    let chat = ensure_chat(st, chat_id);
    let reply_json = match reply_to {
        None => None,
        Some(id) => match chat.messages.get(&id).filter(|s| !s.msg.deleted) {
            Some(s) => Some(s.json.clone()),
            None if allow_without_reply => None,
            None => return Err("Bad Request: message to be replied not found".into()),
        },
    };
    let message_id = chat.next_message_id;
    chat.next_message_id += 1;
    let is_forum = chat.info.get("is_forum").and_then(Value::as_bool) == Some(true);

    let mut msg = json!({
        "message_id": message_id,
        "from": bot_user(bot_id),
        "chat": chat.info.clone(),
        "date": now_unix(),
        "text": text,
    });
    if let Some(t) = thread {
        msg["message_thread_id"] = json!(t);
        if is_forum {
            msg["is_topic_message"] = json!(true);
        }
    }
    if let Some(r) = &reply_json {
        msg["reply_to_message"] = r.clone();
    }
    set_entities(&mut msg, &entities);
    set_inline_markup(&mut msg, markup.as_ref());
    chat.messages.insert(
        message_id,
        Stored {
            from_bot: true,
            json: msg.clone(),
            msg: SentMessage {
                chat_id,
                message_id,
                text,
                raw_text,
                parse_mode,
                entities,
                reply_markup: markup,
                message_thread_id: thread,
                reply_to_message_id: reply_json.as_ref().and(reply_to),
                deleted: false,
                edits: 0,
            },
        },
    );
    Ok(Outcome::ok(msg))
}

/// `sendDocument` with an uploaded file: recorded with its file name and bytes (a `file_id` or
/// URL instead of an upload is refused: ccgate only uploads). Kept apart from `send_message`
/// and the file download fakes on purpose.
fn send_document(
    st: &mut FakeState,
    bot_id: i64,
    p: &Map<String, Value>,
) -> Result<Outcome, String> {
    let chat_id = chat_id_param(p)?;
    let doc = p
        .get("document")
        .filter(|d| d.is_object())
        .ok_or("Bad Request: there is no document in the request")?;
    let filename = doc["filename"].as_str().unwrap_or("").to_string();
    let bytes: Vec<u8> = doc["bytes"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|b| b.as_u64().map(|b| b as u8))
                .collect()
        })
        .unwrap_or_default();
    if bytes.is_empty() {
        return Err("Bad Request: file must be non-empty".into());
    }
    if bytes.len() > 50 * 1024 * 1024 {
        return Err("Request Entity Too Large".into());
    }
    let caption = get_str(p, "caption").filter(|c| !c.is_empty());
    let parse_mode = get_str(p, "parse_mode").filter(|m| !m.is_empty());
    let (caption_text, caption_entities) = match &caption {
        Some(c) => {
            if utf16_len(c) > 1024 {
                return Err("Bad Request: message caption is too long".into());
            }
            let (t, e) = format_text(c, parse_mode.as_deref(), None, st.lenient_html, "")?;
            (Some(t), e)
        }
        None => (None, Vec::new()),
    };
    let thread = get_i64(p, "message_thread_id");
    let chat = ensure_chat(st, chat_id);
    let message_id = chat.next_message_id;
    chat.next_message_id += 1;
    let mut msg = json!({
        "message_id": message_id,
        "from": bot_user(bot_id),
        "chat": chat.info.clone(),
        "date": now_unix(),
        "document": {
            "file_id": format!("doc-{chat_id}-{message_id}"),
            "file_unique_id": format!("u-{chat_id}-{message_id}"),
            "file_name": filename,
            "file_size": bytes.len(),
        },
    });
    if let Some(t) = &caption_text {
        msg["caption"] = json!(t);
    }
    if !caption_entities.is_empty() {
        msg["caption_entities"] = json!(caption_entities);
    }
    if let Some(t) = thread {
        msg["message_thread_id"] = json!(t);
    }
    st.documents.push(SentDocument {
        chat_id,
        message_id,
        filename,
        bytes,
        caption: caption_text.clone(),
        message_thread_id: thread,
    });
    // Like any message, it is in the chat (its caption as the text).
    let caption = caption_text.unwrap_or_default();
    store_file_message(ensure_chat(st, chat_id), &msg, caption, p);
    Ok(Outcome::ok(msg))
}

fn get_file(st: &mut FakeState, p: &Map<String, Value>) -> Result<Outcome, String> {
    let id = get_str(p, "file_id").unwrap_or_default();
    let f = st
        .files
        .get(&id)
        .ok_or_else(|| "Bad Request: invalid file_id".to_string())?;
    Ok(Outcome::ok(json!({
        "file_id": id,
        "file_unique_id": format!("u{id}"),
        "file_size": f.bytes.len(),
        "file_path": f.path,
    })))
}

/// `sendPhoto`: as [`send_file`]; an uploaded photo is also recorded with its bytes
/// ([`FakeTelegram::photos`]). Telegram refuses photos over 10 MB.
fn send_photo(st: &mut FakeState, bot_id: i64, p: &Map<String, Value>) -> Result<Outcome, String> {
    let upload = p.get("photo").filter(|f| f.is_object()).map(|f| {
        let bytes: Vec<u8> = f["bytes"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|b| b.as_u64().map(|b| b as u8))
                    .collect()
            })
            .unwrap_or_default();
        (f["filename"].as_str().unwrap_or("").to_string(), bytes)
    });
    if let Some((_, bytes)) = &upload {
        if bytes.len() > 10_000_000 {
            return Err("Bad Request: PHOTO_INVALID_DIMENSIONS".into());
        }
    }
    let out = send_file(st, bot_id, p, "photo")?;
    if let Some((filename, bytes)) = upload {
        let caption = get_str(p, "caption").filter(|c| !c.is_empty());
        st.photos.push(SentDocument {
            chat_id: chat_id_param(p)?,
            message_id: out.json["message_id"].as_i64().unwrap_or_default(),
            filename,
            bytes,
            caption,
            message_thread_id: get_i64(p, "message_thread_id"),
        });
    }
    Ok(out)
}

/// `sendDocument` / `sendPhoto`: a message with the file (`{"filename","size"}` from the
/// multipart body, or the `file_id`/URL string) and its caption.
fn send_file(
    st: &mut FakeState,
    bot_id: i64,
    p: &Map<String, Value>,
    field: &str,
) -> Result<Outcome, String> {
    let chat_id = chat_id_param(p)?;
    let file = p
        .get(field)
        .cloned()
        .ok_or_else(|| format!("Bad Request: there is no {field} in the request"))?;
    let caption = get_str(p, "caption").unwrap_or_default();
    let chat = ensure_chat(st, chat_id);
    let message_id = chat.next_message_id;
    chat.next_message_id += 1;
    let msg = json!({
        "message_id": message_id,
        "from": bot_user(bot_id),
        "chat": chat.info.clone(),
        "date": now_unix(),
        field: file,
        "caption": caption,
    });
    store_file_message(chat, &msg, caption, p);
    Ok(Outcome::ok(msg))
}

/// A file the bot sent is a message in its chat, its caption as the text.
fn store_file_message(chat: &mut ChatState, msg: &Value, caption: String, p: &Map<String, Value>) {
    let message_id = msg["message_id"].as_i64().unwrap_or_default();
    chat.messages.insert(
        message_id,
        Stored {
            from_bot: true,
            json: msg.clone(),
            msg: SentMessage {
                chat_id: msg["chat"]["id"].as_i64().unwrap_or_default(),
                message_id,
                text: caption.clone(),
                raw_text: caption,
                parse_mode: get_str(p, "parse_mode"),
                entities: Vec::new(),
                reply_markup: None,
                message_thread_id: get_i64(p, "message_thread_id"),
                reply_to_message_id: None,
                deleted: false,
                edits: 0,
            },
        },
    );
}

/// `sendMessageDraft`: a private chat's draft shown while it is being written (`True`), as the
/// Bot API documents it: a non-zero `draft_id`, text of 1–4096 characters after parsing.
fn send_message_draft(st: &mut FakeState, p: &Map<String, Value>) -> Result<Outcome, String> {
    if let Some((status, d)) = &st.draft_error {
        return Ok(Outcome::err(*status, d));
    }
    let chat_id = chat_id_param(p)?;
    if chat_id < 0 {
        return Err("Bad Request: method is available only for private chats".into());
    }
    let draft_id = get_i64(p, "draft_id").unwrap_or(0);
    if draft_id == 0 {
        return Err("Bad Request: draft_id must be non-zero".into());
    }
    let raw = get_str(p, "text").unwrap_or_default();
    let parse_mode = get_str(p, "parse_mode").filter(|m| !m.is_empty());
    let (text, _) = format_text(
        &raw,
        parse_mode.as_deref(),
        p.get("entities"),
        st.lenient_html,
        "Bad Request: message text is empty",
    )?;
    if utf16_len(&text) > MAX_TEXT_UTF16 {
        return Err("Bad Request: message is too long".into());
    }
    st.drafts.push(SentDraft {
        chat_id,
        draft_id,
        text,
        raw_text: raw,
        message_thread_id: get_i64(p, "message_thread_id"),
    });
    Ok(Outcome::ok(json!(true)))
}

/// `sendMediaGroup`: one message per item of `media` (2–10), as Telegram answers.
fn send_media_group(
    st: &mut FakeState,
    bot_id: i64,
    p: &Map<String, Value>,
) -> Result<Outcome, String> {
    let items = match p.get("media") {
        Some(Value::Array(a)) => a.clone(),
        Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
            Ok(Value::Array(a)) => a,
            _ => return Err("Bad Request: can't parse media JSON object".into()),
        },
        _ => return Err("Bad Request: parameter \"media\" is required".into()),
    };
    if !(2..=10).contains(&items.len()) {
        return Err("Bad Request: media must include 2-10 items".into());
    }
    let mut sent = Vec::new();
    for item in items {
        let kind = item
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("document")
            .to_string();
        let mut one = p.clone();
        one.insert(
            kind.clone(),
            item.get("media").cloned().unwrap_or(Value::Null),
        );
        if let Some(c) = item.get("caption") {
            one.insert("caption".into(), c.clone());
        }
        let Outcome { json, .. } = send_file(st, bot_id, &one, &kind)?;
        sent.push(json["result"].clone());
    }
    Ok(Outcome::ok(Value::Array(sent)))
}

fn edit_message_text(st: &mut FakeState, p: &Map<String, Value>) -> Result<Outcome, String> {
    if p.contains_key("inline_message_id") && !p.contains_key("chat_id") {
        return Err("Bad Request: MESSAGE_ID_INVALID".into());
    }
    let chat_id = chat_id_param(p)?;
    let message_id = get_i64(p, "message_id")
        .ok_or_else(|| "Bad Request: message identifier is not specified".to_string())?;
    let raw_text = get_str(p, "text").unwrap_or_default();
    let parse_mode = get_str(p, "parse_mode").filter(|m| !m.is_empty());
    let (text, entities) = format_text(
        &raw_text,
        parse_mode.as_deref(),
        p.get("entities"),
        st.lenient_html,
        "Bad Request: text must be non-empty",
    )?;
    let markup = reply_markup_param(p)?;
    let stored = find_message(st, chat_id, message_id)
        .ok_or_else(|| "Bad Request: message to edit not found".to_string())?;
    if !stored.from_bot {
        return Err("Bad Request: message can't be edited".into());
    }
    if stored.msg.text == text
        && stored.msg.entities == entities
        && inline_markup(stored.msg.reply_markup.as_ref()) == inline_markup(markup.as_ref())
    {
        return Err(NOT_MODIFIED.into());
    }
    stored.msg.text = text.clone();
    stored.msg.raw_text = raw_text;
    stored.msg.parse_mode = parse_mode;
    stored.msg.entities = entities.clone();
    stored.msg.reply_markup = markup.clone();
    stored.msg.edits += 1;
    stored.json["text"] = json!(text);
    stored.json["edit_date"] = json!(now_unix());
    set_entities(&mut stored.json, &entities);
    set_inline_markup(&mut stored.json, markup.as_ref());
    Ok(Outcome::ok(stored.json.clone()))
}

/// `createForumTopic` (the chat becomes a forum; the topic's thread id is the id of its
/// service message, as in Telegram), `editForumTopic` (name), `closeForumTopic`,
/// `reopenForumTopic`. A change that changes nothing fails with `TOPIC_NOT_MODIFIED`, an
/// unknown thread with `TOPIC_ID_INVALID`, as Telegram answers. The topic's state is kept in
/// its service message (`fake_topic`).
fn forum_topic(
    st: &mut FakeState,
    bot_id: i64,
    method: &str,
    p: &Map<String, Value>,
) -> Result<Outcome, String> {
    let chat_id = chat_id_param(p)?;
    if chat_id > 0 {
        return Err("Bad Request: the chat is not a forum".into());
    }
    let name = get_str(p, "name");
    if let Some(n) = &name {
        if n.is_empty() || n.chars().count() > 128 {
            return Err("Bad Request: TOPIC_NAME_INVALID".into());
        }
    }
    if method == "createforumtopic" {
        let name = name.ok_or_else(|| "Bad Request: TOPIC_NAME_INVALID".to_string())?;
        let chat = ensure_chat(st, chat_id);
        chat.info = group_chat_info(chat_id, true);
        let id = chat.next_message_id;
        chat.next_message_id += 1;
        let json = json!({
            "message_id": id,
            "from": bot_user(bot_id),
            "chat": chat.info.clone(),
            "date": now_unix(),
            "message_thread_id": id,
            "is_topic_message": true,
            "forum_topic_created": {"name": name, "icon_color": 7322096},
            "fake_topic": {"name": name, "closed": false},
        });
        chat.messages.insert(
            id,
            Stored {
                from_bot: false,
                json,
                msg: SentMessage {
                    chat_id,
                    message_id: id,
                    text: String::new(),
                    raw_text: String::new(),
                    parse_mode: None,
                    entities: Vec::new(),
                    reply_markup: None,
                    message_thread_id: Some(id),
                    reply_to_message_id: None,
                    deleted: false,
                    edits: 0,
                },
            },
        );
        return Ok(Outcome::ok(
            json!({"message_thread_id": id, "name": name, "icon_color": 7322096}),
        ));
    }
    let thread = get_i64(p, "message_thread_id")
        .ok_or_else(|| "Bad Request: message thread not found".to_string())?;
    let topic = find_message(st, chat_id, thread)
        .and_then(|s| s.json.get_mut("fake_topic"))
        .ok_or_else(|| "Bad Request: TOPIC_ID_INVALID".to_string())?;
    let (field, value) = match method {
        "editforumtopic" => match name {
            Some(n) => ("name", json!(n)),
            None => return Ok(Outcome::ok(json!(true))),
        },
        "closeforumtopic" => ("closed", json!(true)),
        _ => ("closed", json!(false)),
    };
    if topic[field] == value {
        return Err("Bad Request: TOPIC_NOT_MODIFIED".into());
    }
    topic[field] = value;
    Ok(Outcome::ok(json!(true)))
}

fn edit_message_reply_markup(
    st: &mut FakeState,
    p: &Map<String, Value>,
) -> Result<Outcome, String> {
    if p.contains_key("inline_message_id") && !p.contains_key("chat_id") {
        return Err("Bad Request: MESSAGE_ID_INVALID".into());
    }
    let chat_id = chat_id_param(p)?;
    let message_id = get_i64(p, "message_id")
        .ok_or_else(|| "Bad Request: message identifier is not specified".to_string())?;
    let markup = reply_markup_param(p)?;
    let stored = find_message(st, chat_id, message_id)
        .ok_or_else(|| "Bad Request: message to edit not found".to_string())?;
    if !stored.from_bot {
        return Err("Bad Request: message can't be edited".into());
    }
    if inline_markup(stored.msg.reply_markup.as_ref()) == inline_markup(markup.as_ref()) {
        return Err(NOT_MODIFIED.into());
    }
    stored.msg.reply_markup = markup.clone();
    stored.json["edit_date"] = json!(now_unix());
    set_inline_markup(&mut stored.json, markup.as_ref());
    Ok(Outcome::ok(stored.json.clone()))
}

fn delete_message(st: &mut FakeState, p: &Map<String, Value>) -> Result<Outcome, String> {
    let chat_id = chat_id_param(p)?;
    let message_id = get_i64(p, "message_id")
        .ok_or_else(|| "Bad Request: message identifier is not specified".to_string())?;
    let stored = find_message(st, chat_id, message_id)
        .ok_or_else(|| "Bad Request: message to delete not found".to_string())?;
    stored.msg.deleted = true;
    Ok(Outcome::ok(json!(true)))
}

fn delete_messages(st: &mut FakeState, p: &Map<String, Value>) -> Result<Outcome, String> {
    let chat_id = chat_id_param(p)?;
    let ids: Vec<i64> = match p.get("message_ids") {
        Some(Value::Array(a)) if !a.is_empty() && a.len() <= 100 => {
            a.iter().filter_map(|v| get_i64_value(Some(v))).collect()
        }
        _ => return Err("Bad Request: message identifiers are not specified".into()),
    };
    for id in ids {
        if let Some(stored) = find_message(st, chat_id, id) {
            stored.msg.deleted = true;
        }
    }
    Ok(Outcome::ok(json!(true)))
}

const CHAT_ACTIONS: &[&str] = &[
    "typing",
    "upload_photo",
    "record_video",
    "upload_video",
    "record_voice",
    "upload_voice",
    "upload_document",
    "choose_sticker",
    "find_location",
    "record_video_note",
    "upload_video_note",
];

fn send_chat_action(p: &Map<String, Value>) -> Result<Outcome, String> {
    chat_id_param(p)?;
    let action = get_str(p, "action").unwrap_or_default();
    if !CHAT_ACTIONS.contains(&action.as_str()) {
        return Err("Bad Request: wrong parameter action in request".into());
    }
    Ok(Outcome::ok(json!(true)))
}

fn answer_callback_query(st: &mut FakeState, p: &Map<String, Value>) -> Result<Outcome, String> {
    const INVALID: &str =
        "Bad Request: query is too old and response timeout expired or query ID is invalid";
    let id = get_str(p, "callback_query_id").unwrap_or_default();
    if id.is_empty() {
        return Err("Bad Request: QUERY_ID_INVALID".into());
    }
    match st.callbacks.iter_mut().find(|(q, _)| *q == id) {
        Some((_, answered)) if !*answered => {
            *answered = true;
            Ok(Outcome::ok(json!(true)))
        }
        _ => Err(INVALID.into()),
    }
}

fn set_my_commands(st: &mut FakeState, p: &Map<String, Value>) -> Result<Outcome, String> {
    let commands = match p.get("commands") {
        Some(Value::Array(a)) => a.clone(),
        _ => return Err("Bad Request: parameter \"commands\" is required".into()),
    };
    if commands.len() > 100 {
        return Err("Bad Request: too many commands specified".into());
    }
    for c in &commands {
        let name = c.get("command").and_then(Value::as_str).unwrap_or("");
        let valid_name = !name.is_empty()
            && name.len() <= 32
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !valid_name {
            return Err("Bad Request: BOT_COMMAND_INVALID".into());
        }
        let description = c.get("description").and_then(Value::as_str).unwrap_or("");
        let n = description.chars().count();
        if n == 0 || n > 256 {
            return Err("Bad Request: BOT_COMMAND_DESCRIPTION_INVALID".into());
        }
    }
    st.commands
        .insert(commands_key(p), strip_nulls(Value::Array(commands)));
    Ok(Outcome::ok(json!(true)))
}

fn set_webhook(st: &mut FakeState, p: &Map<String, Value>) -> Result<Outcome, String> {
    let url = get_str(p, "url").unwrap_or_default();
    if url.is_empty() {
        let was = st.webhook.take().is_some();
        return Ok(Outcome::ok_described(
            json!(true),
            if was {
                "Webhook was deleted"
            } else {
                "Webhook is already deleted"
            },
        ));
    }
    if !url.starts_with("https://") {
        return Err("Bad Request: bad webhook: An HTTPS URL must be provided for webhook".into());
    }
    if get_bool(p, "drop_pending_updates") {
        st.updates.clear();
    }
    st.webhook = Some(Webhook {
        url,
        secret_token: get_str(p, "secret_token"),
        allowed_updates: p.get("allowed_updates").cloned(),
    });
    Ok(Outcome::ok_described(json!(true), "Webhook was set"))
}

// ---------------------------------------------------------------------------
// State helpers.

fn update_id(u: &Value) -> i64 {
    u.get("update_id")
        .and_then(Value::as_i64)
        .unwrap_or(i64::MAX)
}

fn push_update(st: &mut FakeState, mut update: Value) -> i64 {
    let id = st.next_update_id;
    st.next_update_id += 1;
    if !update.is_object() {
        update = json!({});
    }
    update["update_id"] = json!(id);
    st.injected.push(update.clone());
    st.updates.push_back(update);
    id
}

/// Keeps message ids unique for raw injected messages and lets the bot reply to them.
fn remember_user_message(st: &mut FakeState, msg: &Value) {
    let (Some(chat_id), Some(message_id)) = (
        msg.pointer("/chat/id").and_then(Value::as_i64),
        msg.get("message_id").and_then(Value::as_i64),
    ) else {
        return;
    };
    let chat = ensure_chat(st, chat_id);
    if let Some(info) = msg.get("chat") {
        chat.info = info.clone();
    }
    chat.next_message_id = chat.next_message_id.max(message_id + 1);
    let text = msg
        .get("text")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    chat.messages.entry(message_id).or_insert_with(|| Stored {
        from_bot: false,
        json: msg.clone(),
        msg: SentMessage {
            chat_id,
            message_id,
            text: text.clone(),
            raw_text: text,
            parse_mode: None,
            entities: Vec::new(),
            reply_markup: None,
            message_thread_id: msg.get("message_thread_id").and_then(Value::as_i64),
            reply_to_message_id: None,
            deleted: false,
            edits: 0,
        },
    });
}

fn default_chat_info(chat_id: i64) -> Value {
    if chat_id > 0 {
        private_chat_info(chat_id)
    } else {
        group_chat_info(chat_id, false)
    }
}

fn private_chat_info(id: i64) -> Value {
    json!({ "id": id, "type": "private", "first_name": format!("U{id}"), "username": format!("u{id}") })
}

fn group_chat_info(id: i64, forum: bool) -> Value {
    let mut v = json!({ "id": id, "type": "supergroup", "title": format!("Group {id}") });
    if forum {
        v["is_forum"] = json!(true);
    }
    v
}

fn ensure_chat(st: &mut FakeState, chat_id: i64) -> &mut ChatState {
    st.chats.entry(chat_id).or_insert_with(|| ChatState {
        info: default_chat_info(chat_id),
        next_message_id: 1,
        messages: BTreeMap::new(),
    })
}

/// Makes the chat private (chat == user) or a supergroup (forum if `forum`).
fn ensure_chat_kind(st: &mut FakeState, chat_id: i64, user_id: i64, forum: bool) -> &mut ChatState {
    let chat = ensure_chat(st, chat_id);
    if chat_id == user_id {
        if chat.info.get("type").and_then(Value::as_str) != Some("private") {
            chat.info = private_chat_info(chat_id);
        }
    } else {
        let was_forum = chat.info.get("is_forum").and_then(Value::as_bool) == Some(true);
        if chat.info.get("type").and_then(Value::as_str) != Some("supergroup")
            || (forum && !was_forum)
        {
            chat.info = group_chat_info(chat_id, forum || was_forum);
        }
    }
    chat
}

fn find_message(st: &mut FakeState, chat_id: i64, message_id: i64) -> Option<&mut Stored> {
    st.chats
        .get_mut(&chat_id)
        .and_then(|c| c.messages.get_mut(&message_id))
        .filter(|s| !s.msg.deleted)
}

fn bot_user(bot_id: i64) -> Value {
    json!({ "id": bot_id, "is_bot": true, "first_name": "FakeBot", "username": "fake_bot" })
}

/// A bot's `User` object with an arbitrary id.
fn bot_json(user_id: i64) -> Value {
    json!({
        "id": user_id,
        "is_bot": true,
        "first_name": format!("Bot{user_id}"),
        "username": format!("b{user_id}_bot"),
    })
}

fn user_json(user_id: i64) -> Value {
    json!({
        "id": user_id,
        "is_bot": false,
        "first_name": format!("U{user_id}"),
        "username": format!("u{user_id}"),
    })
}

/// A `bot_command` entity for a leading `/command` or `/command@bot`.
fn command_entity(text: &str) -> Vec<Value> {
    let Some(rest) = text.strip_prefix('/') else {
        return Vec::new();
    };
    let word = |s: &str| {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .count()
    };
    let cmd = word(rest);
    if cmd == 0 {
        return Vec::new();
    }
    let mut len = 1 + cmd;
    if let Some(after) = rest[cmd..].strip_prefix('@') {
        let bot = word(after);
        if bot > 0 {
            len += 1 + bot;
        }
    }
    vec![json!({ "type": "bot_command", "offset": 0, "length": len })]
}

fn commands_key(p: &Map<String, Value>) -> String {
    let scope = p
        .get("scope")
        .filter(|s| s.is_object())
        .cloned()
        .map(strip_nulls)
        .unwrap_or_else(|| json!({ "type": "default" }));
    let lang = get_str(p, "language_code").unwrap_or_default();
    format!("{scope}|{lang}")
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn short(v: &Value, max: usize) -> String {
    let s = match v {
        Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    };
    if s.chars().count() <= max {
        s
    } else {
        let cut: String = s.chars().take(max).collect();
        format!("{cut}...")
    }
}

// ---------------------------------------------------------------------------
// Parameters.

fn chat_id_param(p: &Map<String, Value>) -> Result<i64, String> {
    match p.get("chat_id") {
        None | Some(Value::Null) => Err("Bad Request: chat_id is empty".into()),
        Some(v) => match get_i64_value(Some(v)) {
            Some(0) | None => Err("Bad Request: chat not found".into()),
            Some(id) => Ok(id),
        },
    }
}

fn get_i64_value(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn get_i64(p: &Map<String, Value>, key: &str) -> Option<i64> {
    get_i64_value(p.get(key))
}

fn get_f64(p: &Map<String, Value>, key: &str) -> Option<f64> {
    match p.get(key)? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn get_str(p: &Map<String, Value>, key: &str) -> Option<String> {
    match p.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::String(s) => matches!(s.as_str(), "true" | "True" | "1"),
        Value::Number(n) => n.as_i64().unwrap_or(0) != 0,
        _ => false,
    }
}

fn get_bool(p: &Map<String, Value>, key: &str) -> bool {
    p.get(key).map(truthy).unwrap_or(false)
}

fn strip_nulls(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, strip_nulls(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(strip_nulls).collect()),
        other => other,
    }
}

const INLINE_ACTIONS: &[&str] = &[
    "url",
    "callback_data",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
];

fn reply_markup_param(p: &Map<String, Value>) -> Result<Option<Value>, String> {
    let markup = match p.get("reply_markup") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Object(_)) => strip_nulls(p["reply_markup"].clone()),
        Some(_) => return Err("Bad Request: can't parse reply keyboard markup JSON object".into()),
    };
    if let Some(rows) = markup.get("inline_keyboard") {
        let Some(rows) = rows.as_array() else {
            return Err("Bad Request: field \"inline_keyboard\" of the InlineKeyboardMarkup should be an Array of Arrays".into());
        };
        for row in rows {
            let Some(buttons) = row.as_array() else {
                return Err("Bad Request: field \"inline_keyboard\" of the InlineKeyboardMarkup should be an Array of Arrays".into());
            };
            for b in buttons {
                if b.get("text").and_then(Value::as_str).is_none() {
                    return Err(
                        "Bad Request: can't parse inline keyboard button: Text must be a String"
                            .into(),
                    );
                }
                if !INLINE_ACTIONS.iter().any(|a| b.get(*a).is_some()) {
                    return Err(
                        "Bad Request: text buttons are unallowed in the inline keyboard".into(),
                    );
                }
                if let Some(data) = b.get("callback_data") {
                    let len = data.as_str().map(str::len).unwrap_or(0);
                    if !(1..=64).contains(&len) {
                        return Err("Bad Request: BUTTON_DATA_INVALID".into());
                    }
                }
                if let Some(url) = b.get("url") {
                    if url.as_str().map(str::is_empty).unwrap_or(true) {
                        return Err("Bad Request: inline keyboard button URL '' is invalid: URL host is empty".into());
                    }
                }
            }
        }
    }
    Ok(Some(markup))
}

/// The inline keyboard as Telegram keeps it on the message (`None` when absent or empty).
fn inline_markup(markup: Option<&Value>) -> Option<Value> {
    let m = markup?;
    let rows = m.get("inline_keyboard")?.as_array()?;
    if rows
        .iter()
        .all(|r| r.as_array().map(Vec::is_empty).unwrap_or(true))
    {
        return None;
    }
    Some(m.clone())
}

fn set_inline_markup(msg: &mut Value, markup: Option<&Value>) {
    let Some(obj) = msg.as_object_mut() else {
        return;
    };
    match inline_markup(markup) {
        Some(m) => {
            obj.insert("reply_markup".into(), m);
        }
        None => {
            obj.remove("reply_markup");
        }
    }
}

fn set_entities(msg: &mut Value, entities: &[Value]) {
    let Some(obj) = msg.as_object_mut() else {
        return;
    };
    if entities.is_empty() {
        obj.remove("entities");
    } else {
        obj.insert("entities".into(), Value::Array(entities.to_vec()));
    }
}

/// Keys whose values are JSON-serialized when sent as form fields.
const JSON_FIELDS: &[&str] = &[
    "reply_markup",
    "reply_parameters",
    "link_preview_options",
    "entities",
    "caption_entities",
    "commands",
    "scope",
    "allowed_updates",
    "message_ids",
    "media",
];

fn parse_params(uri: &Uri, headers: &HeaderMap, body: &[u8]) -> Result<Map<String, Value>, String> {
    let mut map = Map::new();
    if let Some(q) = uri.query() {
        for (k, v) in parse_urlencoded(q) {
            map.insert(k, Value::String(v));
        }
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let is_blank = body.iter().all(u8::is_ascii_whitespace);
    if content_type.starts_with("application/x-www-form-urlencoded") {
        for (k, v) in parse_urlencoded(&String::from_utf8_lossy(body)) {
            map.insert(k, Value::String(v));
        }
    } else if content_type.starts_with("multipart/form-data") {
        parse_multipart(&content_type, headers, body, &mut map);
    } else if !is_blank {
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(m)) => map.extend(m),
            Ok(_) => {}
            Err(_) => return Err("Bad Request: can't parse JSON object".into()),
        }
    }
    for key in JSON_FIELDS {
        if let Some(Value::String(s)) = map.get(*key) {
            if let Ok(v @ (Value::Object(_) | Value::Array(_))) = serde_json::from_str::<Value>(s) {
                map.insert(key.to_string(), v);
            }
        }
    }
    Ok(map)
}

fn parse_urlencoded(s: &str) -> Vec<(String, String)> {
    s.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(byte) => {
                        out.push(byte);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Text fields become strings; file parts become `{"filename":..,"size":..}`.
fn parse_multipart(
    content_type: &str,
    headers: &HeaderMap,
    body: &[u8],
    map: &mut Map<String, Value>,
) {
    // The boundary is case-sensitive: take it from the original header.
    let original = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or(content_type);
    for part in super::multipart::parts(original, body) {
        let value = match part.file_name {
            // The bytes are kept for `sendDocument` (see `send_document`).
            Some(filename) => {
                json!({ "filename": filename, "size": part.content.len(), "bytes": part.content })
            }
            None => Value::String(String::from_utf8_lossy(&part.content).into_owned()),
        };
        map.insert(part.name, value);
    }
}

// ---------------------------------------------------------------------------
// Text formatting.

/// Plain text and entities of a message text, or a Telegram error description.
fn format_text(
    raw: &str,
    parse_mode: Option<&str>,
    explicit_entities: Option<&Value>,
    lenient_html: bool,
    empty_error: &str,
) -> Result<(String, Vec<Value>), String> {
    let (plain, entities) = match parse_mode.map(str::to_ascii_lowercase).as_deref() {
        None => {
            let entities = match explicit_entities {
                Some(Value::Array(a)) => a.iter().cloned().map(strip_nulls).collect(),
                _ => Vec::new(),
            };
            (raw.to_string(), entities)
        }
        Some("html") => parse_html(raw, !lenient_html)
            .map_err(|e| format!("Bad Request: can't parse entities: {e}"))?,
        // Markdown modes are accepted but not parsed.
        Some("markdown") | Some("markdownv2") => (raw.to_string(), Vec::new()),
        Some(_) => return Err("Bad Request: unsupported parse_mode".into()),
    };
    let (plain, entities) = trim_text(&plain, entities);
    if plain.is_empty() {
        return Err(empty_error.to_string());
    }
    if utf16_len(&plain) > MAX_TEXT_UTF16 {
        return Err("Bad Request: message is too long".into());
    }
    Ok((plain, entities))
}

fn utf16_len(s: &str) -> usize {
    s.chars().map(char::len_utf16).sum()
}

/// Strips surrounding whitespace as Telegram does, shifting entities.
fn trim_text(text: &str, entities: Vec<Value>) -> (String, Vec<Value>) {
    let trimmed_start = text.trim_start();
    let lead = utf16_len(&text[..text.len() - trimmed_start.len()]);
    let trimmed = trimmed_start.trim_end();
    let end = lead + utf16_len(trimmed);
    let mut out = Vec::new();
    for mut e in entities {
        let (Some(off), Some(len)) = (
            e.get("offset").and_then(Value::as_u64),
            e.get("length").and_then(Value::as_u64),
        ) else {
            continue;
        };
        let start = (off as usize).clamp(lead, end);
        let stop = ((off + len) as usize).clamp(lead, end);
        if stop > start {
            e["offset"] = json!(start - lead);
            e["length"] = json!(stop - start);
            out.push(e);
        }
    }
    (trimmed.to_string(), out)
}

const HTML_TAGS: &[&str] = &[
    "a",
    "b",
    "strong",
    "i",
    "em",
    "s",
    "strike",
    "del",
    "u",
    "ins",
    "tg-spoiler",
    "tg-emoji",
    "span",
    "pre",
    "code",
    "blockquote",
    "tg-time",
];

struct OpenTag {
    name: String,
    arg: Option<String>,
    expandable: bool,
    /// `pre` language (from a nested `code`), or `tg-time` format.
    language: Option<String>,
    start: usize,
}

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n' | b'\x0b' | b'\x0c')
}

/// Decodes the HTML entity at `b[pos] == b'&'` like tdlib: returns the
/// character, the position after it and whether it ended with `;`.
fn decode_entity(b: &[u8], pos: usize) -> Option<(char, usize, bool)> {
    let at = |i: usize| b.get(i).copied().unwrap_or(0);
    let mut end = pos + 1;
    let code: u32;
    if at(end) == b'#' {
        end += 1;
        let mut value: u32 = 0;
        let digits_start;
        if at(end) == b'x' {
            end += 1;
            digits_start = end;
            while at(end).is_ascii_hexdigit() {
                value = value * 16 + (at(end) as char).to_digit(16)?;
                end += 1;
                if value >= 0x10ffff {
                    return None;
                }
            }
        } else {
            digits_start = end;
            while at(end).is_ascii_digit() {
                value = value * 10 + u32::from(at(end) - b'0');
                end += 1;
                if value >= 0x10ffff {
                    return None;
                }
            }
        }
        if end == digits_start {
            return None;
        }
        code = value;
    } else {
        while at(end).is_ascii_alphabetic() {
            end += 1;
        }
        code = match &b[pos + 1..end] {
            b"lt" => '<' as u32,
            b"gt" => '>' as u32,
            b"amp" => '&' as u32,
            b"quot" => '"' as u32,
            _ => return None,
        };
    }
    let ch = char::from_u32(code).filter(|_| code != 0)?;
    if at(end) == b';' {
        Some((ch, end + 1, true))
    } else {
        Some((ch, end, false))
    }
}

struct HtmlOut {
    bytes: Vec<u8>,
    utf16: usize,
}

impl HtmlOut {
    fn push_byte(&mut self, c: u8) {
        self.bytes.push(c);
        if c & 0xC0 != 0x80 {
            self.utf16 += if c >= 0xF0 { 2 } else { 1 };
        }
    }

    fn push_char(&mut self, ch: char) {
        let mut buf = [0u8; 4];
        for &c in ch.encode_utf8(&mut buf).as_bytes() {
            self.push_byte(c);
        }
    }
}

/// Telegram's HTML parse mode (after tdlib's `parse_html`): returns the plain
/// text and entities, or the detail for "can't parse entities".
fn parse_html(text: &str, strict_amp: bool) -> Result<(String, Vec<Value>), String> {
    let b = text.as_bytes();
    let n = b.len();
    let mut out = HtmlOut {
        bytes: Vec::with_capacity(n),
        utf16: 0,
    };
    let mut stack: Vec<OpenTag> = Vec::new();
    let mut entities: Vec<Value> = Vec::new();
    let lower = |from: usize, to: usize| text[from..to].to_ascii_lowercase();
    let unclosed = |begin: usize| format!("Unclosed start tag at byte offset {begin}");
    let mut i = 0;
    while i < n {
        let c = b[i];
        if c == b'&' {
            match decode_entity(b, i) {
                Some((ch, next, semicolon)) if semicolon || !strict_amp => {
                    out.push_char(ch);
                    i = next;
                    continue;
                }
                _ if strict_amp => {
                    return Err(format!(
                        "Unsupported HTML entity at byte offset {i}: \"&\" must be escaped as \"&amp;\""
                    ))
                }
                _ => {}
            }
        }
        if c != b'<' {
            out.push_byte(c);
            i += 1;
            continue;
        }
        let begin = i;
        i += 1;
        if i < n && b[i] == b'/' {
            // End tag.
            if stack.is_empty() {
                return Err(format!("Unexpected end tag at byte offset {begin}"));
            }
            i += 1;
            let name_start = i;
            while i < n && !is_space(b[i]) && b[i] != b'>' {
                i += 1;
            }
            let end_name = lower(name_start, i);
            while i < n && is_space(b[i]) {
                i += 1;
            }
            if i >= n || b[i] != b'>' {
                return Err(format!("Unclosed end tag at byte offset {begin}"));
            }
            i += 1;
            let open = stack.pop().expect("stack is not empty");
            if !end_name.is_empty() && end_name != open.name {
                return Err(format!(
                    "Unmatched end tag at byte offset {begin}, expected \"</{}>\", found \"</{end_name}>\"",
                    open.name
                ));
            }
            close_tag(open, out.utf16, &mut stack, &mut entities);
            continue;
        }
        // Start tag.
        let name_start = i;
        while i < n && !is_space(b[i]) && b[i] != b'>' {
            i += 1;
        }
        if i >= n {
            return Err(unclosed(begin));
        }
        let tag = lower(name_start, i);
        if !HTML_TAGS.contains(&tag.as_str()) {
            return Err(format!(
                "Unsupported start tag \"{tag}\" at byte offset {begin}"
            ));
        }
        let mut arg: Option<String> = None;
        let mut language: Option<String> = None;
        let mut expandable = false;
        loop {
            while i < n && is_space(b[i]) {
                i += 1;
            }
            if i >= n {
                return Err(unclosed(begin));
            }
            if b[i] == b'>' {
                break;
            }
            let attr_start = i;
            while i < n && !is_space(b[i]) && b[i] != b'=' && b[i] != b'>' {
                i += 1;
            }
            let attr = lower(attr_start, i);
            if attr.is_empty() {
                return Err(format!(
                    "Empty attribute name in the tag \"{tag}\" at byte offset {begin}"
                ));
            }
            while i < n && is_space(b[i]) {
                i += 1;
            }
            if i >= n {
                return Err(unclosed(begin));
            }
            if b[i] != b'=' {
                if tag == "blockquote" && attr == "expandable" {
                    expandable = true;
                    continue;
                }
                return Err(format!(
                    "Expected equal sign in declaration of an attribute of the tag \"{tag}\" at byte offset {begin}"
                ));
            }
            i += 1;
            while i < n && is_space(b[i]) {
                i += 1;
            }
            if i >= n {
                return Err(unclosed(begin));
            }
            let value = if b[i] != b'\'' && b[i] != b'"' {
                let token_start = i;
                while i < n && (b[i].is_ascii_alphanumeric() || b[i] == b'.' || b[i] == b'-') {
                    i += 1;
                }
                if i >= n {
                    return Err(unclosed(begin));
                }
                if !is_space(b[i]) && b[i] != b'>' {
                    return Err(format!(
                        "Unexpected end of name token at byte offset {token_start}"
                    ));
                }
                lower(token_start, i)
            } else {
                let quote = b[i];
                i += 1;
                let mut value = HtmlOut {
                    bytes: Vec::new(),
                    utf16: 0,
                };
                while i < n && b[i] != quote {
                    if b[i] == b'&' {
                        match decode_entity(b, i) {
                            Some((ch, next, semicolon)) if semicolon || !strict_amp => {
                                value.push_char(ch);
                                i = next;
                                continue;
                            }
                            _ if strict_amp => {
                                return Err(format!(
                                    "Unsupported HTML entity at byte offset {i}: \"&\" must be escaped as \"&amp;\""
                                ))
                            }
                            _ => {}
                        }
                    }
                    value.push_byte(b[i]);
                    i += 1;
                }
                if i >= n {
                    return Err(unclosed(begin));
                }
                i += 1;
                String::from_utf8_lossy(&value.bytes).into_owned()
            };
            match (tag.as_str(), attr.as_str()) {
                ("a", "href") | ("tg-emoji", "emoji-id") | ("tg-time", "unix") => arg = Some(value),
                ("tg-time", "format") => language = Some(value),
                ("code", "class") => arg = value.strip_prefix("language-").map(str::to_string),
                ("span", "class") => arg = value.strip_prefix("tg-").map(str::to_string),
                ("blockquote", "expandable") => expandable = true,
                _ => {}
            }
        }
        if tag == "span" && arg.as_deref() != Some("spoiler") {
            return Err(format!(
                "Tag \"span\" must have class \"tg-spoiler\" at byte offset {begin}"
            ));
        }
        i += 1; // '>'
        stack.push(OpenTag {
            name: tag,
            arg,
            expandable,
            language,
            start: out.utf16,
        });
    }
    if let Some(open) = stack.last() {
        return Err(format!(
            "Can't find end tag corresponding to start tag \"{}\"",
            open.name
        ));
    }
    // Entities inside code and pre are dropped, as Telegram does.
    let spans: Vec<(u64, u64)> = entities
        .iter()
        .filter(|e| matches!(e["type"].as_str(), Some("code" | "pre")))
        .map(|e| {
            (
                e["offset"].as_u64().unwrap_or(0),
                e["length"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    entities.retain(|e| {
        let off = e["offset"].as_u64().unwrap_or(0);
        let end = off + e["length"].as_u64().unwrap_or(0);
        let is_code = matches!(e["type"].as_str(), Some("code" | "pre"));
        !spans
            .iter()
            .any(|&(s, l)| s <= off && end <= s + l && !(is_code && s == off && end == s + l))
    });
    entities.sort_by(|a, b| {
        let key = |e: &Value| {
            (
                e["offset"].as_u64().unwrap_or(0),
                std::cmp::Reverse(e["length"].as_u64().unwrap_or(0)),
            )
        };
        key(a).cmp(&key(b))
    });
    let plain =
        String::from_utf8(out.bytes).map_err(|_| "Strings must be encoded in UTF-8".to_string())?;
    Ok((plain, entities))
}

fn close_tag(open: OpenTag, now: usize, stack: &mut [OpenTag], entities: &mut Vec<Value>) {
    let length = now - open.start;
    if open.name == "code" {
        if let Some(parent) = stack.last_mut().filter(|p| p.name == "pre") {
            // <pre><code class="language-x"> is one pre entity with a language.
            if open.arg.is_some() {
                parent.language = open.arg;
            }
            return;
        }
    }
    if length == 0 {
        return;
    }
    let mut e = json!({ "offset": open.start, "length": length });
    let kind = match open.name.as_str() {
        "b" | "strong" => "bold",
        "i" | "em" => "italic",
        "u" | "ins" => "underline",
        "s" | "strike" | "del" => "strikethrough",
        "tg-spoiler" | "span" => "spoiler",
        "code" => "code",
        "pre" => {
            if let Some(lang) = open.language {
                e["language"] = json!(lang);
            }
            "pre"
        }
        "blockquote" if open.expandable => "expandable_blockquote",
        "blockquote" => "blockquote",
        "a" => match open.arg.filter(|u| !u.is_empty()) {
            Some(url) => {
                e["url"] = json!(url);
                "text_link"
            }
            None => return,
        },
        "tg-time" => match open.arg.and_then(|t| t.parse::<u64>().ok()) {
            Some(unix) => {
                e["unix_time"] = json!(unix);
                if let Some(format) = open.language {
                    e["date_time_format"] = json!(format);
                }
                "date_time"
            }
            None => return,
        },
        "tg-emoji" => match open.arg {
            Some(id) => {
                e["custom_emoji_id"] = json!(id);
                "custom_emoji"
            }
            None => return,
        },
        _ => return,
    };
    e["type"] = json!(kind);
    entities.push(e);
}
