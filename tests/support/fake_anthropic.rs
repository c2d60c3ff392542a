//! In-process fake of the Anthropic Messages API, for driving the real
//! `claude` CLI offline in tests.
//!
//! # Why it exists
//!
//! ccgate's tests run the *real* Claude Code CLI (a native binary) so that the
//! gateway is exercised against the exact stream-json protocol it will meet in
//! production. The CLI talks to `ANTHROPIC_BASE_URL`; pointing that at this
//! server gives deterministic, offline, free model turns whose behaviour each
//! test chooses through its prompt text alone. It is a Rust port of the
//! project's reference Python fake (`fake_anthropic.py`, see the CLI protocol
//! notes) so that tests depend on nothing outside the repository.
//!
//! # Endpoints
//!
//! * `POST /v1/messages` (the CLI adds `?beta=true`): an SSE stream when the
//!   body has `"stream": true` (`message_start`, `content_block_start`,
//!   `ping`, `content_block_delta` with `text_delta` or `input_json_delta` in
//!   20-character chunks, `content_block_stop`, `message_delta` carrying
//!   `stop_reason` and usage, `message_stop`), a plain Message JSON otherwise.
//! * `POST /v1/messages/count_tokens`: `{"input_tokens": N}`.
//! * `GET /v1/models` and `GET /v1/models/{id}`.
//! * `HEAD` anything: 200. Anything else: 404 with an Anthropic error JSON.
//!
//! # Scripting
//!
//! Canned answers pushed with [`FakeAnthropic::push_script`] are consumed in
//! order by `POST /v1/messages`. When none is queued, the answer is decided by
//! directives in the newest user text block that is not a CLI-injected
//! `<system-reminder>` or `[Image: source: …]` note (the CLI adds one after each image block):
//!
//! * `[[tool:NAME:{json input}]]`: a `tool_use` block (several allowed). In the
//!   JSON, `{{PLAN_FILE}}` stands for the plan file the CLI named in plan mode, and
//!   `{{SAVED_PATH}}` for the path the prompt says an upload was "saved at" (relative to the
//!   working directory the CLI reports), made absolute: the model reads what it was told.
//! * `[[text:some words]]`: answer exactly this text.
//! * `[[sleep:SECONDS]]`: wait (fractional seconds) before answering.
//! * `[[slowstream:SECONDS]]`: stream the text one word per SECONDS.
//! * `[[error:STATUS:TYPE]]`: answer an HTTP error, e.g. `529:overloaded_error`.
//! * `[[meet:GROUP:N]]`: hold the answer until N different prompts of GROUP wait together,
//!   then answer `FAKE: met GROUP` (proves requests overlapped; see `meet`).
//! * none: `FAKE: you said <first 60 chars of the prompt>` (or `FAKE: ok` when
//!   the prompt only held sleep/slowstream directives).
//!
//! If the last user message carries `tool_result` blocks and no directive
//! (turn 2 of a tool loop), the answer is `FAKE: tool result was: <first 200
//! chars>` or `FAKE: tool error was: ...` when a result has `is_error`.
//!
//! The server runs on the tokio runtime that called [`FakeAnthropic::start`].
//! With a `current_thread` runtime (the `#[tokio::test]` default) it only
//! makes progress while the test is awaiting, so drive the CLI with
//! `tokio::process`, never with a blocking `std::process` wait.

// Each integration test binary uses a different subset of this helper.
#![allow(dead_code)]

use std::collections::hash_map::RandomState;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::hash::{BuildHasher, Hasher};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderValue, Method, StatusCode, Uri};
use axum::response::Response;
use axum::Router;
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// One canned answer for `POST /v1/messages`, consumed before directives.
#[derive(Clone, Debug)]
pub enum ScriptItem {
    /// Answer with this text (`stop_reason: end_turn`).
    Text(String),
    /// Answer with one `tool_use` block (`stop_reason: tool_use`).
    ToolUse { name: String, input: Value },
    /// Answer with several `tool_use` blocks.
    ToolUses(Vec<(String, Value)>),
    /// Answer with an HTTP error carrying an Anthropic error JSON.
    Error { status: u16, etype: String },
}

/// A running fake Anthropic API on `127.0.0.1`; the server is stopped when
/// this value is dropped.
pub struct FakeAnthropic {
    inner: Arc<Inner>,
    addr: SocketAddr,
    task: JoinHandle<()>,
}

#[derive(Default)]
struct Inner {
    script: Mutex<VecDeque<ScriptItem>>,
    requests: Mutex<Vec<Value>>,
    /// The credential headers of each `POST /v1/messages` (`x-api-key`, `authorization`).
    credentials: Mutex<Vec<(Option<String>, Option<String>)>>,
    prompts: Mutex<Vec<String>>,
    counter: AtomicU64,
    /// `[[meet:GROUP:N]]`: the distinct prompts of each group that have arrived.
    meets: Mutex<std::collections::HashMap<String, std::collections::HashSet<String>>>,
    met: tokio::sync::Notify,
}

impl FakeAnthropic {
    /// Binds `127.0.0.1:0` and starts serving on the current tokio runtime.
    pub async fn start() -> FakeAnthropic {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("fake_anthropic: bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("fake_anthropic: local_addr");
        let inner = Arc::new(Inner::default());
        let app = Router::new()
            .fallback(handle)
            .layer(DefaultBodyLimit::disable())
            .with_state(inner.clone());
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                eprintln!("[fake_anthropic] server stopped: {e}");
            }
        });
        FakeAnthropic { inner, addr, task }
    }

    /// `http://127.0.0.1:PORT`, the value for `ANTHROPIC_BASE_URL`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Queues a canned answer; queued answers are used in order, before any
    /// directive rule.
    pub fn push_script(&self, item: ScriptItem) {
        lock(&self.inner.script).push_back(item);
    }

    /// The parsed JSON body of every `POST /v1/messages` so far, in order
    /// (`Value::Null` for a body that was not JSON).
    pub fn requests(&self) -> Vec<Value> {
        lock(&self.inner.requests).clone()
    }

    /// The (`x-api-key`, `authorization`) headers of every `POST /v1/messages`, in order.
    pub fn credentials(&self) -> Vec<(Option<String>, Option<String>)> {
        lock(&self.inner.credentials).clone()
    }

    /// Number of `POST /v1/messages` requests so far.
    pub fn request_count(&self) -> usize {
        lock(&self.inner.requests).len()
    }

    /// For each `POST /v1/messages`, the newest real user prompt text (the
    /// block directives are read from; empty if there was none).
    pub fn last_prompt_texts(&self) -> Vec<String> {
        lock(&self.inner.prompts).clone()
    }
}

impl Drop for FakeAnthropic {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl std::fmt::Debug for FakeAnthropic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeAnthropic")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

// ---------------------------------------------------------------------------
// HTTP layer

async fn handle(
    State(inner): State<Arc<Inner>>,
    method: Method,
    uri: Uri,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Response {
    let n = inner.counter.fetch_add(1, Ordering::Relaxed) + 1;
    let path = uri.path();
    if method == Method::HEAD {
        return Response::builder()
            .status(StatusCode::OK)
            .header(header::CONTENT_LENGTH, "0")
            .body(Body::empty())
            .unwrap_or_default();
    }
    if method == Method::GET {
        if path.starts_with("/v1/models") {
            return models(path);
        }
        return not_found(&format!("fake: no GET {path}"));
    }
    if method == Method::POST {
        let parsed: Option<Value> = serde_json::from_slice(&body).ok();
        if path == "/v1/messages/count_tokens" {
            let obj = match parsed {
                Some(v) if truthy(&v) => v,
                _ => json!({}),
            };
            let chars = py_dumps(&obj).len();
            return json_response(200, &json!({"input_tokens": (chars / 4).max(1)}));
        }
        if path == "/v1/messages" {
            lock(&inner.requests).push(parsed.clone().unwrap_or(Value::Null));
            let h = |n: &str| {
                headers
                    .get(n)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string)
            };
            lock(&inner.credentials).push((h("x-api-key"), h("authorization")));
            let body = match parsed {
                Some(v) if truthy(&v) => v,
                _ => json!({}),
            };
            return messages(&inner, body, n).await;
        }
        return not_found(&format!("fake: no POST {path}"));
    }
    not_found(&format!("fake: no {method} {path}"))
}

fn models(path: &str) -> Response {
    const CREATED: &str = "2025-01-01T00:00:00Z";
    let ids = ["claude-sonnet-4-5", "claude-opus-4-1", "claude-haiku-4-5"];
    if path.trim_end_matches('/') == "/v1/models" {
        let data: Vec<Value> = ids
            .iter()
            .map(|m| json!({"type": "model", "id": m, "display_name": m, "created_at": CREATED}))
            .collect();
        return json_response(
            200,
            &json!({"data": data, "has_more": false, "first_id": ids[0], "last_id": ids[2]}),
        );
    }
    let mid = path.rsplit('/').next().unwrap_or("");
    json_response(
        200,
        &json!({"type": "model", "id": mid, "display_name": mid, "created_at": CREATED}),
    )
}

fn not_found(message: &str) -> Response {
    error_response(404, "not_found_error", message)
}

fn error_response(status: u16, etype: &str, message: &str) -> Response {
    json_response(
        status,
        &json!({"type": "error", "error": {"type": etype, "message": message}}),
    )
}

fn json_response(status: u16, obj: &Value) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let data = serde_json::to_vec(obj).unwrap_or_default();
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .header("request-id", format!("req_fake_{}", rand_hex(16)))
        .body(Body::from(data))
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------
// Deciding the answer

enum Plan {
    Error {
        status: u16,
        etype: String,
    },
    Reply {
        text: Option<String>,
        tools: Vec<(String, Value)>,
        sleep: f64,
        slow: f64,
    },
}

/// Python-like truthiness, used where the reference fake writes `x or {}`.
fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// Content blocks of the last message with role "user" (a string content is
/// one text block).
fn last_user_blocks(body: &Value) -> Vec<Value> {
    let Some(msgs) = body.get("messages").and_then(Value::as_array) else {
        return Vec::new();
    };
    for m in msgs.iter().rev() {
        if m.get("role").and_then(Value::as_str) == Some("user") {
            return match m.get("content") {
                Some(Value::String(s)) => vec![json!({"type": "text", "text": s})],
                Some(Value::Array(a)) => a.iter().filter(|b| b.is_object()).cloned().collect(),
                _ => Vec::new(),
            };
        }
    }
    Vec::new()
}

fn block_type(b: &Value) -> &str {
    b.get("type").and_then(Value::as_str).unwrap_or("")
}

fn block_text(b: &Value) -> String {
    match block_type(b) {
        "text" => b
            .get("text")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        "tool_result" => match b.get("content") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(|x| x.get("text").and_then(Value::as_str))
                .collect(),
            _ => String::new(),
        },
        _ => String::new(),
    }
}

/// The newest real prompt text and the joined text of the last user message.
fn prompt_source(blocks: &[Value]) -> (String, String) {
    let texts: Vec<String> = blocks
        .iter()
        .filter(|b| block_type(b) == "text")
        .map(block_text)
        .collect();
    let newest = texts
        .iter()
        .rfind(|t| {
            let t = t.trim_start();
            !t.starts_with("<system-reminder>") && !t.starts_with("[Image: source:")
        })
        .cloned()
        .unwrap_or_default();
    (newest, texts.join("\n"))
}

/// `re.findall(r"\[\[(tool|text|sleep|slowstream|error):(.*?)\]\]", s, re.S)`.
fn find_directives(s: &str) -> Vec<(&'static str, &str)> {
    const KINDS: [&str; 5] = ["tool", "text", "sleep", "slowstream", "error"];
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(off) = s[i..].find("[[") {
        let start = i + off;
        let after = &s[start + 2..];
        let hit = KINDS.iter().find_map(|k| {
            let rest = after.strip_prefix(k)?.strip_prefix(':')?;
            let end = rest.find("]]")?;
            Some((*k, &rest[..end], start + 2 + k.len() + 1 + end + 2))
        });
        match hit {
            Some((kind, arg, next)) => {
                out.push((kind, arg));
                i = next;
            }
            None => i = start + 1,
        }
    }
    out
}

fn parse_secs(arg: &str) -> f64 {
    match arg.trim().parse::<f64>() {
        Ok(x) if x.is_finite() && x > 0.0 => x.min(86_400.0),
        _ => 0.0,
    }
}

/// The plan file the CLI told the model to use in plan mode (from its system reminders).
fn plan_file(body: &Value) -> Option<String> {
    let all = body.to_string();
    ["create your plan at ", "plan file already exists at "]
        .iter()
        .filter_map(|cue| {
            let start = all.rfind(cue)? + cue.len();
            let end = all[start..].find(".md")? + start + 3;
            Some(all[start..end].to_string())
        })
        .next()
}

/// `{{SAVED_PATH}}`: the CLI's working directory ("Primary working directory: …" in what it
/// sends) joined with the path after "saved at " in `prompt`.
fn saved_path(body: &Value, prompt: &str) -> Option<String> {
    let cue = "saved at ";
    let start = prompt.find(cue)? + cue.len();
    let rel: String = prompt[start..]
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect();
    let all = body.to_string();
    let wd = "Primary working directory: ";
    let at = all.find(wd)? + wd.len();
    let cwd: String = all[at..]
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != '\\' && *c != '"')
        .collect();
    Some(format!("{}/{rel}", cwd.trim_end_matches('/')))
}

fn decide(inner: &Inner, body: &Value) -> Plan {
    let blocks = last_user_blocks(body);
    let (directive_src, joined) = prompt_source(&blocks);
    lock(&inner.prompts).push(directive_src.clone());

    if let Some(item) = lock(&inner.script).pop_front() {
        let reply = |text: Option<String>, tools| Plan::Reply {
            text,
            tools,
            sleep: 0.0,
            slow: 0.0,
        };
        return match item {
            ScriptItem::Text(t) => reply(Some(t), Vec::new()),
            ScriptItem::ToolUse { name, input } => reply(None, vec![(name, input)]),
            ScriptItem::ToolUses(tools) => reply(None, tools),
            ScriptItem::Error { status, etype } => Plan::Error { status, etype },
        };
    }

    let mut text: Option<String> = None;
    let mut tools: Vec<(String, Value)> = Vec::new();
    let mut sleep = 0.0;
    let mut slow = 0.0;
    let mut found = false;
    for (kind, arg) in find_directives(&directive_src) {
        found = true;
        match kind {
            "tool" => {
                let (name, js) = arg.split_once(':').unwrap_or((arg, ""));
                let js = match plan_file(body) {
                    Some(path) if js.contains("{{PLAN_FILE}}") => {
                        js.replace("{{PLAN_FILE}}", &path)
                    }
                    _ => js.to_string(),
                };
                let js = match saved_path(body, &directive_src) {
                    Some(path) if js.contains("{{SAVED_PATH}}") => {
                        js.replace("{{SAVED_PATH}}", &path)
                    }
                    _ => js,
                };
                let js = js.as_str();
                let input = if js.trim().is_empty() {
                    json!({})
                } else {
                    // A directive quoted inside JSON text (e.g. a webhook payload) arrives with
                    // escaped quotes; read it as the model would.
                    serde_json::from_str(js)
                        .or_else(|_| serde_json::from_str(&js.replace("\\\"", "\"")))
                        .unwrap_or_else(|_| json!({"raw": js}))
                };
                tools.push((name.to_string(), input));
            }
            "text" => text = Some(arg.to_string()),
            "sleep" => sleep = parse_secs(arg),
            "slowstream" => slow = parse_secs(arg),
            _ => {
                let (st, et) = arg.split_once(':').unwrap_or((arg, ""));
                return Plan::Error {
                    status: st.trim().parse().unwrap_or(500),
                    etype: if et.is_empty() { "api_error" } else { et }.to_string(),
                };
            }
        }
    }

    let results: Vec<&Value> = blocks
        .iter()
        .filter(|b| block_type(b) == "tool_result")
        .collect();
    if !results.is_empty() && tools.is_empty() && text.is_none() {
        // Turn 2 of a tool loop: acknowledge the tool result(s).
        let r = results
            .iter()
            .map(|b| block_text(b))
            .collect::<Vec<_>>()
            .join(" | ");
        let err = results
            .iter()
            .any(|b| b.get("is_error").is_some_and(truthy));
        let prefix = if err {
            "FAKE: tool error was: "
        } else {
            "FAKE: tool result was: "
        };
        text = Some(format!("{prefix}{}", take_chars(&r, 200)));
    } else if tools.is_empty() && text.is_none() {
        text = Some(if found {
            "FAKE: ok".to_string()
        } else {
            let src = if directive_src.is_empty() {
                &joined
            } else {
                &directive_src
            };
            format!("FAKE: you said {}", take_chars(src.trim(), 60))
        });
    }
    Plan::Reply {
        text,
        tools,
        sleep,
        slow,
    }
}

fn take_chars(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

// ---------------------------------------------------------------------------
// Answering /v1/messages

/// `[[meet:GROUP:N]]` in the prompt: hold the answer until N different prompts of GROUP are
/// being answered at once (at most 60 s). The answer is then `FAKE: met GROUP` — a positive
/// marker that the requests overlapped — or `FAKE: meet GROUP timed out`.
async fn meet(inner: &Inner, body: &Value) -> Option<String> {
    let (src, _) = prompt_source(&last_user_blocks(body));
    let start = src.find("[[meet:")? + "[[meet:".len();
    let end = src[start..].find("]]")? + start;
    let (group, n) = src[start..end].split_once(':')?;
    let n: usize = n.trim().parse().ok()?;
    let group = group.to_string();
    lock(&inner.meets)
        .entry(group.clone())
        .or_default()
        .insert(src.clone());
    inner.met.notify_waiters();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let notified = inner.met.notified();
        if lock(&inner.meets).get(&group).map_or(0, |s| s.len()) >= n {
            return Some(format!("FAKE: met {group}"));
        }
        if tokio::time::timeout_at(deadline, notified).await.is_err() {
            return Some(format!("FAKE: meet {group} timed out"));
        }
    }
}

async fn messages(inner: &Inner, body: Value, n: u64) -> Response {
    let met = meet(inner, &body).await;
    let mut plan = decide(inner, &body);
    if let (Some(m), Plan::Reply { text, .. }) = (met, &mut plan) {
        *text = Some(m);
    }
    let (text, tools, sleep, slow) = match plan {
        Plan::Error { status, etype } => return error_response(status, &etype, "fake error"),
        Plan::Reply {
            text,
            tools,
            sleep,
            slow,
        } => (text, tools, sleep, slow),
    };
    if sleep > 0.0 {
        // If the client goes away meanwhile, hyper drops this future.
        tokio::time::sleep(Duration::from_secs_f64(sleep)).await;
    }
    let model = body
        .get("model")
        .cloned()
        .unwrap_or_else(|| json!("claude-fake"));
    let msg_id = format!("msg_fake_{n:04}_{}", rand_hex(8));
    let msgs = body.get("messages").cloned().unwrap_or_else(|| json!([]));
    let in_tok = (py_dumps(&msgs).len() / 4).max(1);

    let mut blocks: Vec<Value> = Vec::new();
    let stop = if tools.is_empty() {
        blocks.push(json!({"type": "text", "text": text.unwrap_or_default()}));
        "end_turn"
    } else {
        if let Some(t) = text.filter(|t| !t.is_empty()) {
            blocks.push(json!({"type": "text", "text": t}));
        }
        for (name, input) in tools {
            blocks.push(json!({
                "type": "tool_use",
                "id": format!("toolu_fake_{}", rand_hex(20)),
                "name": name,
                "input": input,
            }));
        }
        "tool_use"
    };
    let out_tok: usize = blocks.iter().map(|b| py_dumps(b).len() / 4 + 1).sum();
    let usage = json!({
        "input_tokens": in_tok,
        "output_tokens": out_tok,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    });

    if !body.get("stream").is_some_and(truthy) {
        return json_response(
            200,
            &json!({
                "id": msg_id, "type": "message", "role": "assistant", "model": model,
                "content": blocks, "stop_reason": stop, "stop_sequence": null, "usage": usage,
            }),
        );
    }

    let mut start_usage = usage;
    start_usage["output_tokens"] = json!(1);
    let message_start = json!({"type": "message_start", "message": {
        "id": msg_id, "type": "message", "role": "assistant", "model": model,
        "content": [], "stop_reason": null, "stop_sequence": null, "usage": start_usage,
    }});
    let (tx, rx) = mpsc::channel::<Bytes>(16);
    tokio::spawn(async move {
        // A failed send means the client went away: just stop.
        let _ = stream_events(&tx, message_start, &blocks, stop, out_tok, slow).await;
    });
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/event-stream; charset=utf-8")
        .header(header::CACHE_CONTROL, "no-cache")
        .header("request-id", format!("req_fake_{}", rand_hex(16)))
        .header(header::CONNECTION, HeaderValue::from_static("close"))
        .body(Body::from_stream(ChannelStream(rx)))
        .unwrap_or_default()
}

struct Gone;

async fn sse(tx: &mpsc::Sender<Bytes>, event: &str, data: Value) -> Result<(), Gone> {
    let payload = format!("event: {event}\ndata: {data}\n\n");
    tx.send(Bytes::from(payload)).await.map_err(|_| Gone)
}

async fn stream_events(
    tx: &mpsc::Sender<Bytes>,
    message_start: Value,
    blocks: &[Value],
    stop: &str,
    out_tok: usize,
    slow: f64,
) -> Result<(), Gone> {
    sse(tx, "message_start", message_start).await?;
    for (i, b) in blocks.iter().enumerate() {
        if block_type(b) == "text" {
            sse(
                tx,
                "content_block_start",
                json!({"type": "content_block_start", "index": i,
                       "content_block": {"type": "text", "text": ""}}),
            )
            .await?;
            sse(tx, "ping", json!({"type": "ping"})).await?;
            let text = b.get("text").and_then(Value::as_str).unwrap_or("");
            for w in words(text) {
                if slow > 0.0 {
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs_f64(slow)) => {}
                        _ = tx.closed() => return Err(Gone),
                    }
                }
                sse(
                    tx,
                    "content_block_delta",
                    json!({"type": "content_block_delta", "index": i,
                           "delta": {"type": "text_delta", "text": w}}),
                )
                .await?;
            }
        } else {
            sse(
                tx,
                "content_block_start",
                json!({"type": "content_block_start", "index": i, "content_block": {
                    "type": "tool_use", "id": b["id"], "name": b["name"], "input": {}}}),
            )
            .await?;
            // py_dumps output is ASCII-only, so byte chunks are char chunks.
            let js = py_dumps(&b["input"]);
            for chunk in js.as_bytes().chunks(20) {
                let part = String::from_utf8_lossy(chunk);
                sse(
                    tx,
                    "content_block_delta",
                    json!({"type": "content_block_delta", "index": i,
                           "delta": {"type": "input_json_delta", "partial_json": part}}),
                )
                .await?;
            }
        }
        sse(
            tx,
            "content_block_stop",
            json!({"type": "content_block_stop", "index": i}),
        )
        .await?;
    }
    sse(
        tx,
        "message_delta",
        json!({"type": "message_delta",
               "delta": {"stop_reason": stop, "stop_sequence": null},
               "usage": {"output_tokens": out_tok}}),
    )
    .await?;
    sse(tx, "message_stop", json!({"type": "message_stop"})).await
}

/// `re.findall(r"\S+\s*", text) or [text]`.
fn words(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text.trim_start();
    while !rest.is_empty() {
        let word_end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let tail = &rest[word_end..];
        let end = word_end + (tail.len() - tail.trim_start().len());
        out.push(&rest[..end]);
        rest = &rest[end..];
    }
    if out.is_empty() {
        out.push(text);
    }
    out
}

/// SSE body fed from a channel; ends when the producer drops its sender.
struct ChannelStream(mpsc::Receiver<Bytes>);

impl futures_core::Stream for ChannelStream {
    type Item = Result<Bytes, Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0.poll_recv(cx).map(|o| o.map(Ok))
    }
}

// ---------------------------------------------------------------------------
// Helpers

/// `n` pseudo-random lowercase hex digits (std only: `RandomState` is seeded
/// randomly per process and mixed with a counter and the clock).
fn rand_hex(n: usize) -> String {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let mut out = String::with_capacity(n + 16);
    while out.len() < n {
        let mut h = RandomState::new().build_hasher();
        h.write_u64(SEQ.fetch_add(1, Ordering::Relaxed));
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        h.write_u128(nanos);
        out.push_str(&format!("{:016x}", h.finish()));
    }
    out.truncate(n);
    out
}

/// Serialises like Python's `json.dumps` with default arguments (`", "` and
/// `": "` separators, non-ASCII escaped as `\uXXXX`), so that the token
/// estimates match the reference fake.
fn py_dumps(v: &Value) -> String {
    let mut buf = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, PyFormatter);
    if serde::Serialize::serialize(v, &mut ser).is_err() {
        return String::new();
    }
    String::from_utf8(buf).unwrap_or_default()
}

struct PyFormatter;

impl serde_json::ser::Formatter for PyFormatter {
    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if first {
            Ok(())
        } else {
            w.write_all(b", ")
        }
    }

    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if first {
            Ok(())
        } else {
            w.write_all(b", ")
        }
    }

    fn begin_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b": ")
    }

    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        for c in fragment.chars() {
            if (' '..='~').contains(&c) {
                w.write_all(&[c as u8])?;
            } else {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    write!(w, "\\u{u:04x}")?;
                }
            }
        }
        Ok(())
    }
}
