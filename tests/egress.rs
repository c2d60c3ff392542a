//! The egress gateway and proxy, end to end over their Unix sockets: a fake upstream on
//! loopback records what reaches it, clients speak HTTP/1.1 over `UnixStream` as the jail's
//! forwarder would.

use std::convert::Infallible;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use ccgate::egress::{
    AllowEntry, Egress, EgressConfig, Lease, Owner, UpstreamCredential, Usage, UsageSink,
};
use http_body::Frame;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::{HeaderMap, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use secrecy::ExposeSecret;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, UnixStream};
use tokio::sync::{mpsc, Notify};
use tokio::time::timeout;

const REAL_KEY: &str = "sk-ant-api03-the-real-one";
const WAIT: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------------------------
// The sink: records everything, refuses on demand.

struct Sink {
    refuse: Mutex<Option<String>>,
    usage: mpsc::UnboundedSender<(Owner, Usage)>,
    denied: mpsc::UnboundedSender<(Owner, String, String)>,
}

struct SinkRx {
    usage: mpsc::UnboundedReceiver<(Owner, Usage)>,
    denied: mpsc::UnboundedReceiver<(Owner, String, String)>,
}

impl UsageSink for Sink {
    fn admit<'a>(&'a self, _: &'a Owner) -> ccgate::egress::Admission<'a> {
        let answer = match &*self.refuse.lock().unwrap() {
            Some(why) => Err(why.clone()),
            None => Ok(()),
        };
        Box::pin(async move { answer })
    }
    fn record(&self, owner: &Owner, usage: &Usage) {
        let _ = self.usage.send((owner.clone(), usage.clone()));
    }
    fn denied(&self, owner: &Owner, target: &str, reason: &str) {
        let _ = self
            .denied
            .send((owner.clone(), target.to_string(), reason.to_string()));
    }
}

fn sink() -> (Arc<Sink>, SinkRx) {
    let (usage, usage_rx) = mpsc::unbounded_channel();
    let (denied, denied_rx) = mpsc::unbounded_channel();
    let sink = Arc::new(Sink {
        refuse: Mutex::new(None),
        usage,
        denied,
    });
    (
        sink,
        SinkRx {
            usage: usage_rx,
            denied: denied_rx,
        },
    )
}

fn owner() -> Owner {
    Owner {
        user_id: 7,
        chat_id: -100,
        label: "test project".into(),
    }
}

// ---------------------------------------------------------------------------------------------
// The fake upstream: records each request; `stream: true` gets SSE paced by the test.

#[derive(Debug, Clone)]
struct Seen {
    method: String,
    uri: String,
    headers: HeaderMap,
    body: Bytes,
}

#[derive(Clone, Default)]
struct Upstream {
    seen: Arc<Mutex<Vec<Seen>>>,
    /// The SSE response sends `message_start`, then waits for this before the rest.
    release: Arc<Notify>,
}

impl Upstream {
    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

/// A response body fed by a channel, so the fake decides when each event leaves.
struct ChannelBody(mpsc::Receiver<Bytes>);

impl http_body::Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0.poll_recv(cx).map(|b| b.map(|b| Ok(Frame::data(b))))
    }
}

fn sse(event: &str, data: Value) -> Bytes {
    Bytes::from(format!("event: {event}\ndata: {data}\n\n"))
}

async fn upstream_handler(
    axum::extract::State(up): axum::extract::State<Upstream>,
    req: Request<Body>,
) -> Response<Body> {
    let (parts, body) = req.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    up.seen.lock().unwrap().push(Seen {
        method: parts.method.to_string(),
        uri: parts.uri.to_string(),
        headers: parts.headers.clone(),
        body: body.clone(),
    });
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if request["stream"] == true {
        let (tx, rx) = mpsc::channel(16);
        let release = up.release.clone();
        tokio::spawn(async move {
            let start = json!({"type": "message_start", "message": {"id": "msg_1",
                "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
                "content": [], "usage": {"input_tokens": 2558, "output_tokens": 1,
                "cache_creation_input_tokens": 11, "cache_read_input_tokens": 22}}});
            tx.send(sse("message_start", start)).await.unwrap();
            release.notified().await;
            for text in ["Hello", " world"] {
                let delta = json!({"type": "content_block_delta", "index": 0,
                    "delta": {"type": "text_delta", "text": text}});
                tx.send(sse("content_block_delta", delta)).await.unwrap();
            }
            let end = json!({"type": "message_delta", "delta": {"stop_reason": "end_turn"},
                "usage": {"output_tokens": 42}});
            tx.send(sse("message_delta", end)).await.unwrap();
            tx.send(sse("message_stop", json!({"type": "message_stop"})))
                .await
                .unwrap();
        });
        return Response::builder()
            .header("content-type", "text/event-stream")
            .body(Body::new(ChannelBody(rx)))
            .unwrap();
    }
    let answer = json!({"id": "msg_2", "type": "message", "model": "claude-haiku-4-5",
        "content": [{"type": "text", "text": "hi"}],
        "usage": {"input_tokens": 100, "output_tokens": 20,
                  "cache_creation_input_tokens": 3, "cache_read_input_tokens": 4}});
    Response::builder()
        .header("content-type", "application/json")
        .header("x-upstream", "yes")
        .body(Body::from(answer.to_string()))
        .unwrap()
}

async fn start_upstream() -> (Upstream, String) {
    let up = Upstream::default();
    let app = axum::Router::new()
        .fallback(upstream_handler)
        .with_state(up.clone());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (up, format!("http://{addr}"))
}

// ---------------------------------------------------------------------------------------------
// Setup and clients.

struct World {
    _dir: tempfile::TempDir,
    lease: Lease,
    upstream: Upstream,
    sink: Arc<Sink>,
    rx: SinkRx,
}

impl World {
    fn key(&self) -> String {
        self.lease.key().expose_secret().to_string()
    }
}

async fn world_with(configure: impl FnOnce(&mut EgressConfig)) -> World {
    let (upstream, base) = start_upstream().await;
    let mut config = EgressConfig::new(UpstreamCredential::ApiKey(REAL_KEY.into()));
    config.upstream_base = base.parse().unwrap();
    configure(&mut config);
    let (sink, rx) = sink();
    let egress = Egress::new(config, sink.clone()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let lease = egress
        .open(owner(), &dir.path().join("lease"))
        .await
        .unwrap();
    World {
        _dir: dir,
        lease,
        upstream,
        sink,
        rx,
    }
}

async fn world() -> World {
    world_with(|_| {}).await
}

async fn connect(path: &Path) -> SendRequest<Full<Bytes>> {
    let stream = UnixStream::connect(path).await.unwrap();
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    sender
}

fn messages(key: &str, body: Value) -> Request<Full<Bytes>> {
    Request::post("/v1/messages?beta=true")
        .header("host", "127.0.0.1:4000")
        .header("x-api-key", key)
        .header("anthropic-version", "2023-06-01")
        .header("anthropic-beta", "claude-code-20250219")
        .header("content-type", "application/json")
        .header("accept-encoding", "gzip, br")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap()
}

fn prompt(stream: bool) -> Value {
    json!({"model": "claude-sonnet-4-5", "max_tokens": 100, "stream": stream,
           "messages": [{"role": "user", "content": "hi"}]})
}

async fn send(path: &Path, req: Request<Full<Bytes>>) -> (StatusCode, HeaderMap, Bytes) {
    let mut client = connect(path).await;
    let response = timeout(WAIT, client.send_request(req))
        .await
        .unwrap()
        .unwrap();
    let (parts, body) = response.into_parts();
    let body = timeout(WAIT, body.collect())
        .await
        .unwrap()
        .unwrap()
        .to_bytes();
    (parts.status, parts.headers, body)
}

async fn next_usage(rx: &mut SinkRx) -> (Owner, Usage) {
    timeout(WAIT, rx.usage.recv()).await.unwrap().unwrap()
}

fn error_type(body: &[u8]) -> (String, String) {
    let v: Value = serde_json::from_slice(body).unwrap();
    assert_eq!(v["type"], "error", "{v}");
    (
        v["error"]["type"].as_str().unwrap().to_string(),
        v["error"]["message"].as_str().unwrap().to_string(),
    )
}

// ---------------------------------------------------------------------------------------------
// Model gateway.

#[tokio::test]
async fn egress_gateway_forwards_with_the_real_key_and_never_the_ephemeral_one() {
    let mut w = world().await;
    let key = w.key();
    let mut req = messages(&key, prompt(false));
    req.headers_mut()
        .insert("x-custom", format!("copy of {key}").parse().unwrap());
    req.headers_mut()
        .insert("connection", "keep-alive, x-hop".parse().unwrap());
    req.headers_mut().insert("x-hop", "1".parse().unwrap());
    let (status, headers, body) = send(w.lease.api_socket(), req).await;
    assert_eq!(status, StatusCode::OK, "{body:?}");
    assert_eq!(headers["x-upstream"], "yes");
    let answer: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(answer["content"][0]["text"], "hi");

    let seen = w.upstream.seen();
    assert_eq!(seen.len(), 1);
    let s = &seen[0];
    assert_eq!(
        (s.method.as_str(), s.uri.as_str()),
        ("POST", "/v1/messages?beta=true")
    );
    assert_eq!(s.headers["x-api-key"], REAL_KEY);
    assert_eq!(s.headers["anthropic-version"], "2023-06-01");
    assert_eq!(s.headers["anthropic-beta"], "claude-code-20250219");
    assert_eq!(s.headers["accept-encoding"], "identity");
    assert!(!s.headers.contains_key("authorization"));
    assert!(!s.headers.contains_key("x-hop"));
    assert!(!s.headers.contains_key("x-custom"));
    for (name, value) in &s.headers {
        let value = String::from_utf8_lossy(value.as_bytes());
        assert!(!value.contains(&key), "{name} carries the ephemeral key");
    }
    let sent: Value = serde_json::from_slice(&s.body).unwrap();
    assert_eq!(sent, prompt(false));

    let (who, usage) = next_usage(&mut w.rx).await;
    assert_eq!(who, owner());
    assert_eq!(usage.model, "claude-haiku-4-5");
    assert_eq!(
        (
            usage.input_tokens,
            usage.output_tokens,
            usage.cache_creation_input_tokens,
            usage.cache_read_input_tokens,
            usage.status
        ),
        (100, 20, 3, 4, 200)
    );
    assert!(usage.cost_usd() > 0.0);
}

#[tokio::test]
async fn egress_gateway_accepts_a_bearer_key_and_sends_oauth_with_its_beta() {
    let w = world_with(|c| c.credential = UpstreamCredential::OAuth("oauth-token".into())).await;
    let mut req = messages("unused", prompt(false));
    req.headers_mut().remove("x-api-key");
    req.headers_mut().insert(
        "authorization",
        format!("Bearer {}", w.key()).parse().unwrap(),
    );
    let (status, _, _) = send(w.lease.api_socket(), req).await;
    assert_eq!(status, StatusCode::OK);
    let s = &w.upstream.seen()[0];
    assert_eq!(s.headers["authorization"], "Bearer oauth-token");
    assert!(!s.headers.contains_key("x-api-key"));
    assert_eq!(
        s.headers["anthropic-beta"],
        "claude-code-20250219,oauth-2025-04-20"
    );
}

#[tokio::test]
async fn egress_gateway_refuses_a_wrong_or_missing_key_and_forwards_nothing() {
    let mut w = world().await;
    let mut other = w.key();
    other.pop();
    other.push('x');
    let mut no_key = messages("", prompt(false));
    no_key.headers_mut().remove("x-api-key");
    let mut wrong_bearer = messages("", prompt(false));
    wrong_bearer.headers_mut().remove("x-api-key");
    wrong_bearer
        .headers_mut()
        .insert("authorization", format!("Bearer {other}").parse().unwrap());
    for req in [
        messages(&other, prompt(false)),
        messages(REAL_KEY, prompt(false)),
        no_key,
        wrong_bearer,
    ] {
        let (status, _, body) = send(w.lease.api_socket(), req).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(error_type(&body).0, "authentication_error");
    }
    assert!(w.upstream.seen().is_empty());
    assert!(w.rx.usage.try_recv().is_err());
}

#[tokio::test]
async fn egress_gateway_streams_sse_event_by_event_and_records_its_usage() {
    let mut w = world().await;
    let mut client = connect(w.lease.api_socket()).await;
    let response = timeout(WAIT, client.send_request(messages(&w.key(), prompt(true))))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut body = response.into_body();
    let mut received = Vec::new();
    // The upstream holds everything after message_start until the client has seen it, so a
    // gateway that buffered would time out here.
    while !String::from_utf8_lossy(&received).contains("\n\n") {
        let frame = timeout(WAIT, body.frame())
            .await
            .expect("first event did not arrive while the upstream held the rest")
            .unwrap()
            .unwrap();
        received.extend_from_slice(frame.data_ref().unwrap());
    }
    assert!(String::from_utf8_lossy(&received).starts_with("event: message_start\n"));
    assert!(!String::from_utf8_lossy(&received).contains("message_stop"));
    w.upstream.release.notify_one();
    let rest = timeout(WAIT, body.collect())
        .await
        .unwrap()
        .unwrap()
        .to_bytes();
    received.extend_from_slice(&rest);
    let text = String::from_utf8(received).unwrap();
    assert_eq!(text.matches("event: ").count(), 5, "{text}");
    assert!(text.ends_with("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"));

    let (_, usage) = next_usage(&mut w.rx).await;
    assert_eq!(usage.model, "claude-sonnet-4-5");
    assert_eq!(
        (
            usage.input_tokens,
            usage.output_tokens,
            usage.cache_creation_input_tokens,
            usage.cache_read_input_tokens,
            usage.status
        ),
        (2558, 42, 11, 22, 200)
    );
    assert!(w.rx.usage.try_recv().is_err(), "one record per request");
}

#[tokio::test]
async fn egress_gateway_refused_admission_answers_an_api_error_and_forwards_nothing() {
    let mut w = world().await;
    *w.sink.refuse.lock().unwrap() = Some("daily budget of $5.00 reached".into());
    let (status, headers, body) =
        send(w.lease.api_socket(), messages(&w.key(), prompt(true))).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(headers["x-should-retry"], "false");
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(
        error_type(&body),
        (
            "rate_limit_error".into(),
            "daily budget of $5.00 reached".into()
        )
    );
    assert!(w.upstream.seen().is_empty());
    assert!(w.rx.usage.try_recv().is_err());
}

#[tokio::test]
async fn egress_gateway_serves_only_the_cli_paths_and_caps_the_body() {
    let w = world_with(|c| c.max_request_bytes = 1024).await;
    let key = w.key();
    for (method, path) in [
        ("GET", "/v1/files"),
        ("POST", "/v1/messages/batches"),
        ("DELETE", "/v1/models"),
    ] {
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header("x-api-key", &key)
            .body(Full::new(Bytes::new()))
            .unwrap();
        let (status, _, body) = send(w.lease.api_socket(), req).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}");
        assert_eq!(error_type(&body).0, "not_found_error");
    }
    let head = Request::head("/").body(Full::new(Bytes::new())).unwrap();
    assert_eq!(send(w.lease.api_socket(), head).await.0, StatusCode::OK);
    assert!(w.upstream.seen().is_empty(), "nothing forwarded so far");

    let big = json!({"model": "m", "messages": "x".repeat(2000)});
    let (status, _, body) = send(w.lease.api_socket(), messages(&key, big)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(error_type(&body).0, "request_too_large");
    assert!(w.upstream.seen().is_empty());

    let models = Request::get("/v1/models/claude-sonnet-4-5")
        .header("x-api-key", &key)
        .body(Full::new(Bytes::new()))
        .unwrap();
    assert_eq!(send(w.lease.api_socket(), models).await.0, StatusCode::OK);
    assert_eq!(w.upstream.seen()[0].uri, "/v1/models/claude-sonnet-4-5");
}

#[tokio::test]
async fn egress_lease_sockets_are_private_and_gone_with_the_lease() {
    let w = world().await;
    let api = w.lease.api_socket().to_path_buf();
    let proxy = w.lease.proxy_socket().to_path_buf();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&api), 0o600);
    assert_eq!(mode(&proxy), 0o600);
    assert_eq!(mode(api.parent().unwrap()), 0o700);

    let key = w.key();
    let mut open = connect(&api).await;
    let ok = open
        .send_request(messages(&key, prompt(false)))
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    ok.into_body().collect().await.unwrap();
    let World {
        lease, upstream, ..
    } = w;
    drop(lease);

    assert!(!api.exists() && !proxy.exists());
    assert!(UnixStream::connect(&api).await.is_err());
    assert!(UnixStream::connect(&proxy).await.is_err());
    // A connection opened before the drop forwards nothing more with the dead key.
    let after = timeout(WAIT, async {
        open.ready().await?;
        open.send_request(messages(&key, prompt(false))).await
    })
    .await
    .unwrap();
    if let Ok(r) = after {
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(upstream.seen().len(), 1);
}

#[tokio::test]
async fn egress_open_refuses_a_socket_that_is_still_in_use() {
    let w = world().await;
    let (sink, _rx) = sink();
    let egress = Egress::new(
        EgressConfig::new(UpstreamCredential::ApiKey(REAL_KEY.into())),
        sink,
    )
    .unwrap();
    let dir = w.lease.api_socket().parent().unwrap();
    let err = egress.open(owner(), dir).await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);
    assert!(w.lease.api_socket().exists());
}

// ---------------------------------------------------------------------------------------------
// Egress proxy.

/// A TCP server that answers each line with `echo: <line>`.
async fn start_echo() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (r, mut w) = stream.into_split();
                let mut lines = BufReader::new(r).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    if w.write_all(format!("echo: {line}\n").as_bytes())
                        .await
                        .is_err()
                    {
                        break;
                    }
                }
            });
        }
    });
    port
}

/// Send `CONNECT target` over the proxy socket; the response head and the stream after it.
async fn connect_via(proxy: &Path, target: &str) -> (String, BufReader<UnixStream>) {
    let mut stream = UnixStream::connect(proxy).await.unwrap();
    stream
        .write_all(format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut reader = BufReader::new(stream);
    let mut head = String::new();
    while !head.ends_with("\r\n\r\n") {
        let n = timeout(WAIT, reader.read_line(&mut head))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "proxy closed during the head: {head:?}");
    }
    (head, reader)
}

async fn read_rest(reader: &mut BufReader<UnixStream>) -> String {
    let mut rest = String::new();
    timeout(WAIT, reader.read_to_string(&mut rest))
        .await
        .unwrap()
        .unwrap();
    rest
}

async fn next_denied(rx: &mut SinkRx) -> (Owner, String, String) {
    timeout(WAIT, rx.denied.recv()).await.unwrap().unwrap()
}

#[tokio::test]
async fn egress_proxy_splices_an_allowlisted_ip_both_ways() {
    let port = start_echo().await;
    let w = world_with(|c| c.allow = AllowEntry::parse_list(&format!("127.0.0.1:{port}")).unwrap())
        .await;
    let (head, mut tunnel) =
        connect_via(w.lease.proxy_socket(), &format!("127.0.0.1:{port}")).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    for word in ["one", "two"] {
        tunnel
            .write_all(format!("{word}\n").as_bytes())
            .await
            .unwrap();
        let mut line = String::new();
        timeout(WAIT, tunnel.read_line(&mut line))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(line, format!("echo: {word}\n"));
    }
}

#[tokio::test]
async fn egress_proxy_refuses_targets_not_on_the_allowlist_and_reports_them() {
    let port = start_echo().await;
    let mut w =
        world_with(|c| c.allow = AllowEntry::parse_list("127.0.0.1:1, github.com").unwrap()).await;
    for target in [
        format!("127.0.0.1:{port}"),
        "github.com:22".into(),
        "example.org:443".into(),
    ] {
        let (head, mut rest) = connect_via(w.lease.proxy_socket(), &target).await;
        assert!(head.starts_with("HTTP/1.1 403"), "{target}: {head}");
        let reason = read_rest(&mut rest).await;
        assert!(reason.contains("not in EGRESS_ALLOW"), "{reason}");
        assert_eq!(reason.lines().count(), 1, "{reason}");
        let (who, t, why) = next_denied(&mut w.rx).await;
        assert_eq!(
            (who, t.as_str(), why.as_str()),
            (owner(), target.as_str(), "not in EGRESS_ALLOW")
        );
    }
}

#[tokio::test]
async fn egress_proxy_refuses_an_allowlisted_name_that_resolves_to_loopback() {
    let port = start_echo().await;
    let mut w =
        world_with(|c| c.allow = AllowEntry::parse_list(&format!("localhost:{port}")).unwrap())
            .await;
    let target = format!("localhost:{port}");
    let (head, mut rest) = connect_via(w.lease.proxy_socket(), &target).await;
    assert!(head.starts_with("HTTP/1.1 403"), "{head}");
    let reason = read_rest(&mut rest).await;
    assert!(reason.contains("resolves to"), "{reason}");
    let (_, t, why) = next_denied(&mut w.rx).await;
    assert_eq!(t, target);
    assert!(why.contains("only an IP entry"), "{why}");
}

#[tokio::test]
async fn egress_proxy_forwards_plain_http_in_origin_form() {
    let (upstream, base) = start_upstream().await;
    let hostport = base.trim_start_matches("http://").to_string();
    let w = world_with(|c| c.allow = AllowEntry::parse_list(&hostport).unwrap()).await;
    let req = Request::get(format!("{base}/simple/pkg/?q=1"))
        .header("host", &hostport)
        .header("proxy-authorization", "Basic c2VjcmV0")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let (status, headers, _) = send(w.lease.proxy_socket(), req).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["x-upstream"], "yes");
    let seen = upstream.seen();
    assert_eq!(seen[0].uri, "/simple/pkg/?q=1");
    assert_eq!(seen[0].headers["host"], hostport.as_str());
    assert!(!seen[0].headers.contains_key("proxy-authorization"));

    // Any host not on the list is refused, plain HTTP or not.
    let other = Request::get("http://example.org/")
        .body(Full::new(Bytes::new()))
        .unwrap();
    assert_eq!(
        send(w.lease.proxy_socket(), other).await.0,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn egress_proxy_bounds_open_tunnels_and_ends_them_with_the_lease() {
    let port = start_echo().await;
    let mut w = world_with(|c| {
        c.allow = AllowEntry::parse_list(&format!("127.0.0.1:{port}")).unwrap();
        c.max_tunnels = 1;
    })
    .await;
    let target = format!("127.0.0.1:{port}");
    let (head, mut first) = connect_via(w.lease.proxy_socket(), &target).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let (head, _) = connect_via(w.lease.proxy_socket(), &target).await;
    assert!(head.starts_with("HTTP/1.1 503"), "{head}");
    let (_, t, why) = next_denied(&mut w.rx).await;
    assert_eq!(t, target);
    assert!(why.contains("too many"), "{why}");

    let World { lease, .. } = w;
    drop(lease);
    let mut rest = Vec::new();
    let closed = timeout(WAIT, first.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "the tunnel outlived its lease");
}

// ---------------------------------------------------------------------------------------------
// The real `claude` CLI through the gateway, with a TCP → Unix forwarder standing in for the
// jail's.

mod support;

/// Relay connections on a fresh loopback port to `socket`, byte for byte. Returns the port.
async fn forward_to(socket: &Path) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let socket = socket.to_path_buf();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            let socket = socket.clone();
            tokio::spawn(async move {
                if let Ok(mut unix) = UnixStream::connect(&socket).await {
                    let _ = tokio::io::copy_bidirectional(&mut tcp, &mut unix).await;
                }
            });
        }
    });
    port
}

/// `claude -p <prompt> --output-format json` against `port` with `key`; the result object.
async fn run_cli(home: &Path, port: u16, key: &str, prompt: &str, max_retries: u32) -> Value {
    let out = tokio::process::Command::new(support::claude_bin())
        .args(["-p", prompt, "--output-format", "json"])
        .current_dir(home)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("CLAUDE_CONFIG_DIR", home.join(".claude"))
        .env("ANTHROPIC_BASE_URL", format!("http://127.0.0.1:{port}"))
        .env("ANTHROPIC_API_KEY", key)
        .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
        .env("DISABLE_TELEMETRY", "1")
        .env("DISABLE_AUTOUPDATER", "1")
        .env("DISABLE_ERROR_REPORTING", "1")
        .env("CLAUDE_CODE_MAX_RETRIES", max_retries.to_string())
        .kill_on_drop(true)
        .output();
    let out = timeout(Duration::from_secs(120), out)
        .await
        .unwrap()
        .unwrap();
    serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
        panic!(
            "no JSON result: stdout {:?} stderr {:?}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// Counts admissions, so the test sees how often the CLI tried.
struct CountingSink {
    inner: Arc<Sink>,
    admits: std::sync::atomic::AtomicUsize,
}

impl UsageSink for CountingSink {
    fn admit<'a>(&'a self, owner: &'a Owner) -> ccgate::egress::Admission<'a> {
        self.admits
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.inner.admit(owner)
    }
    fn record(&self, owner: &Owner, usage: &Usage) {
        self.inner.record(owner, usage)
    }
    fn denied(&self, owner: &Owner, target: &str, reason: &str) {
        self.inner.denied(owner, target, reason)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn egress_gateway_serves_the_real_claude_cli_and_its_refusals_are_final() {
    let model = support::fake_anthropic::FakeAnthropic::start().await;
    let mut config = EgressConfig::new(UpstreamCredential::ApiKey(REAL_KEY.into()));
    config.upstream_base = model.base_url().parse().unwrap();
    let (inner, mut rx) = sink();
    let sink = Arc::new(CountingSink {
        inner: inner.clone(),
        admits: Default::default(),
    });
    let egress = Egress::new(config, sink.clone()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let lease = egress
        .open(owner(), &dir.path().join("lease"))
        .await
        .unwrap();
    let port = forward_to(lease.api_socket()).await;
    let key = lease.key().expose_secret().to_string();
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();

    let result = run_cli(&home, port, &key, "hello", 0).await;
    assert_eq!(result["is_error"], false, "{result}");
    assert_eq!(result["result"], "FAKE: you said hello");
    let (_, usage) = next_usage(&mut rx).await;
    assert_eq!(usage.status, 200);
    assert!(usage.model.starts_with("claude-"), "{usage:?}");
    assert_eq!(
        Some(usage.input_tokens),
        result["usage"]["input_tokens"].as_u64(),
        "the gateway counted what the CLI was told"
    );
    assert_eq!(model.request_count(), 1);

    *inner.refuse.lock().unwrap() = Some("ccgate: daily budget reached".into());
    let admits_before = sink.admits.load(std::sync::atomic::Ordering::SeqCst);
    let result = run_cli(&home, port, &key, "again", 4).await;
    assert_eq!(result["is_error"], true, "{result}");
    assert!(
        result.to_string().contains("daily budget reached"),
        "the CLI shows the refusal: {result}"
    );
    // With 4 retries allowed, a CLI that ignored `x-should-retry: false` would ask 5 times;
    // one that met a reset connection (a refusal sent before the body was read) twice.
    let asked = sink.admits.load(std::sync::atomic::Ordering::SeqCst) - admits_before;
    assert_eq!(
        asked, 1,
        "x-should-retry: false stops the CLI retrying a refusal"
    );
    assert_eq!(
        model.request_count(),
        1,
        "a refused request never reaches the model"
    );
}
