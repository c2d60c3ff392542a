//! In-process fake of an OpenAI-compatible transcription API (`POST …/audio/transcriptions`),
//! as OpenAI, Groq or a local whisper.cpp / faster-whisper server expose it.
//!
//! Why it exists: voice notes are tested through the real HTTP boundary ccgate talks to. The
//! fake parses the multipart request and records what arrived — the form fields (`model`,
//! `language`, `response_format`), the `Authorization` header, and the `file` part's name,
//! content type and length — then answers `{"text": <transcript>}` or a configured error
//! status with an OpenAI-style error body. Anything but a POST to a path ending in
//! `/audio/transcriptions` is a 404.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use axum::Router;
use serde_json::json;
use tokio::task::JoinHandle;

/// One transcription request as the fake received it.
#[derive(Debug, Clone, Default)]
pub struct TranscribeRequest {
    pub path: String,
    pub authorization: Option<String>,
    pub model: Option<String>,
    pub language: Option<String>,
    pub response_format: Option<String>,
    pub file_name: Option<String>,
    pub file_content_type: Option<String>,
    /// Length of the `file` part; `None` when there was none.
    pub file_len: Option<usize>,
}

#[derive(Debug, Clone)]
enum Answer {
    Text(String),
    Error { status: u16, message: String },
}

struct Inner {
    answer: Mutex<Answer>,
    requests: Mutex<Vec<TranscribeRequest>>,
    /// How long each answer waits after its request was recorded.
    delay: Mutex<Duration>,
}

/// A running fake on `127.0.0.1`; stopped when dropped.
pub struct FakeTranscribe {
    inner: Arc<Inner>,
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl FakeTranscribe {
    /// Serves on `127.0.0.1:0`, answering `transcript` until told otherwise.
    pub async fn start(transcript: &str) -> FakeTranscribe {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("fake_transcribe: bind");
        let addr = listener.local_addr().expect("fake_transcribe: local_addr");
        let inner = Arc::new(Inner {
            answer: Mutex::new(Answer::Text(transcript.to_string())),
            requests: Mutex::new(Vec::new()),
            delay: Mutex::new(Duration::ZERO),
        });
        let app = Router::new()
            .fallback(handle)
            .layer(DefaultBodyLimit::disable())
            .with_state(inner.clone());
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                eprintln!("[fake_transcribe] server stopped: {e}");
            }
        });
        FakeTranscribe { inner, addr, task }
    }

    /// `http://127.0.0.1:PORT/v1`, the value for `VOICE_TRANSCRIPTION_URL`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Answer later requests with `transcript`.
    pub fn set_transcript(&self, transcript: &str) {
        *self.inner.answer.lock().unwrap() = Answer::Text(transcript.to_string());
    }

    /// Answer later requests with HTTP `status` and an OpenAI-style error `message`.
    pub fn set_error(&self, status: u16, message: &str) {
        *self.inner.answer.lock().unwrap() = Answer::Error {
            status,
            message: message.to_string(),
        };
    }

    /// Make later answers wait `d` (the request is recorded at once).
    pub fn set_delay(&self, d: Duration) {
        *self.inner.delay.lock().unwrap() = d;
    }

    /// Every request received, in order.
    pub fn requests(&self) -> Vec<TranscribeRequest> {
        self.inner.requests.lock().unwrap().clone()
    }
}

impl Drop for FakeTranscribe {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn handle(
    State(inner): State<Arc<Inner>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let json_response = |status: u16, v: serde_json::Value| {
        Response::builder()
            .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(v.to_string()))
            .unwrap()
    };
    if method != Method::POST || !uri.path().ends_with("/audio/transcriptions") {
        return json_response(404, json!({"error": {"message": "not found"}}));
    }
    let mut req = TranscribeRequest {
        path: uri.path().to_string(),
        authorization: headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        ..Default::default()
    };
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    for part in super::multipart::parts(content_type, &body) {
        let text = || Some(String::from_utf8_lossy(&part.content).into_owned());
        match part.name.as_str() {
            "model" => req.model = text(),
            "language" => req.language = text(),
            "response_format" => req.response_format = text(),
            "file" => {
                req.file_name = part.file_name.clone();
                req.file_content_type = part.content_type.clone();
                req.file_len = Some(part.content.len());
            }
            _ => {}
        }
    }
    let answer = inner.answer.lock().unwrap().clone();
    let had_file = req.file_len.is_some();
    inner.requests.lock().unwrap().push(req);
    let delay = *inner.delay.lock().unwrap();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    if !had_file {
        return json_response(400, json!({"error": {"message": "no file part"}}));
    }
    match answer {
        Answer::Text(t) => json_response(200, json!({ "text": t })),
        Answer::Error { status, message } => json_response(
            status,
            json!({"error": {"message": message, "type": "server_error"}}),
        ),
    }
}
