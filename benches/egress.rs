//! What the model gateway costs: the same requests against a loopback fake upstream, direct
//! and through a lease's `api.sock`.
//!
//! Why it exists: every model request and every SSE event of every `claude` process passes the
//! gateway, so its overhead must be measured, not assumed. Three numbers, each direct vs
//! gateway:
//!
//! - **request**: round-trip of a non-streaming `POST /v1/messages` with a CLI-sized (49 KB)
//!   body on a kept-alive connection;
//! - **event latency**: the upstream sends one SSE event, waits until the client has it, sends
//!   the next; time from the upstream's send to the client's receipt;
//! - **event burst**: the upstream sends many events back to back; client time per event.
//!
//! `cargo bench --bench egress` (release build). `EGRESS_BENCH_SCALE=0.1` runs a tenth.

use std::convert::Infallible;
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use ccgate::egress::{Egress, EgressConfig, Owner, UpstreamCredential, Usage, UsageSink};
use http_body::Frame;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use secrecy::ExposeSecret;
use tokio::net::{TcpListener, TcpStream, UnixStream};
use tokio::sync::mpsc;

struct Quiet;
impl UsageSink for Quiet {
    fn admit<'a>(&'a self, _: &'a Owner) -> ccgate::egress::Admission<'a> {
        Box::pin(async { Ok(()) })
    }
    fn record(&self, _: &Owner, usage: &Usage) {
        std::hint::black_box(usage);
    }
    fn denied(&self, _: &Owner, _: &str, _: &str) {}
}

/// A body fed by a channel.
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

/// How the fake upstream answers streaming requests.
#[derive(Clone)]
enum Pace {
    /// Send `n` events as fast as the connection takes them.
    Burst(usize),
    /// Send `n` events, each after the client acknowledged the previous; record send times.
    Lockstep {
        n: usize,
        acks: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<()>>>,
        sent: Arc<Mutex<Vec<Instant>>>,
    },
}

const DELTA: &str = "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"a few words of text\"}}\n\n";
const START: &str = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"model\":\"claude-sonnet-4-5\",\"usage\":{\"input_tokens\":10,\"output_tokens\":1}}}\n\n";
const END: &str = "event: message_delta\ndata: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":99}}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
const JSON_ANSWER: &str = r#"{"id":"m","type":"message","model":"claude-sonnet-4-5","content":[{"type":"text","text":"ok"}],"usage":{"input_tokens":10,"output_tokens":2}}"#;

async fn upstream(pace: Arc<Mutex<Pace>>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let _ = stream.set_nodelay(true);
            let pace = pace.clone();
            tokio::spawn(async move {
                let service =
                    hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                        let pace = pace.lock().unwrap().clone();
                        async move {
                            let body = req.into_body().collect().await.unwrap().to_bytes();
                            if !body.starts_with(b"{\"stream\":true") {
                                return Ok::<_, Infallible>(
                                    Response::builder()
                                        .header("content-type", "application/json")
                                        .body(Body::from(JSON_ANSWER))
                                        .unwrap(),
                                );
                            }
                            let (tx, rx) = mpsc::channel(64);
                            tokio::spawn(async move {
                                let _ = tx.send(Bytes::from_static(START.as_bytes())).await;
                                match pace {
                                    Pace::Burst(n) => {
                                        for _ in 0..n {
                                            let _ =
                                                tx.send(Bytes::from_static(DELTA.as_bytes())).await;
                                        }
                                    }
                                    Pace::Lockstep { n, acks, sent } => {
                                        let mut acks = acks.lock().await;
                                        acks.recv().await; // START arrived
                                        for _ in 0..n {
                                            sent.lock().unwrap().push(Instant::now());
                                            let _ =
                                                tx.send(Bytes::from_static(DELTA.as_bytes())).await;
                                            acks.recv().await;
                                        }
                                    }
                                }
                                let _ = tx.send(Bytes::from_static(END.as_bytes())).await;
                            });
                            Ok(Response::builder()
                                .header("content-type", "text/event-stream")
                                .body(Body::new(ChannelBody(rx)))
                                .unwrap())
                        }
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    format!("http://{addr}")
}

enum Via<'a> {
    Direct(&'a str),
    Gateway(&'a Path),
}

async fn client(via: &Via<'_>) -> SendRequest<Full<Bytes>> {
    macro_rules! handshake {
        ($io:expr) => {{
            let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new($io))
                .await
                .unwrap();
            tokio::spawn(conn);
            sender
        }};
    }
    match via {
        Via::Direct(base) => {
            let s = TcpStream::connect(base.trim_start_matches("http://"))
                .await
                .unwrap();
            s.set_nodelay(true).unwrap();
            handshake!(s)
        }
        Via::Gateway(path) => handshake!(UnixStream::connect(path).await.unwrap()),
    }
}

fn request(key: &str, body: Bytes) -> Request<Full<Bytes>> {
    Request::post("/v1/messages?beta=true")
        .header("host", "127.0.0.1")
        .header("x-api-key", key)
        .header("anthropic-version", "2023-06-01")
        .header("content-type", "application/json")
        .body(Full::new(body))
        .unwrap()
}

/// Mean and median of `samples`, in microseconds.
fn stats(mut samples: Vec<Duration>) -> (f64, f64) {
    samples.sort();
    let mean = samples.iter().sum::<Duration>().as_secs_f64() / samples.len() as f64;
    let median = samples[samples.len() / 2].as_secs_f64();
    (mean * 1e6, median * 1e6)
}

async fn requests(via: &Via<'_>, key: &str, n: usize) -> (f64, f64) {
    let mut c = client(via).await;
    let body = Bytes::from(format!(
        "{{\"model\":\"claude-sonnet-4-5\",\"pad\":\"{}\"}}",
        "x".repeat(49_000)
    ));
    let mut samples = Vec::with_capacity(n);
    for i in 0..n + n / 10 {
        c.ready().await.unwrap();
        let t = Instant::now();
        let r = c.send_request(request(key, body.clone())).await.unwrap();
        r.into_body().collect().await.unwrap();
        if i >= n / 10 {
            samples.push(t.elapsed()); // after a warm-up tenth
        }
    }
    stats(samples)
}

/// Read a streaming response; call `on_event` at each complete event.
async fn read_events(via: &Via<'_>, key: &str, mut on_event: impl FnMut()) -> usize {
    let mut c = client(via).await;
    let r = c
        .send_request(request(key, Bytes::from_static(b"{\"stream\":true}")))
        .await
        .unwrap();
    let mut body = r.into_body();
    let mut events = 0;
    let mut tail = 0usize; // bytes of a "\n\n" split across frames
    while let Some(frame) = body.frame().await {
        let frame = frame.unwrap();
        let Some(data) = frame.data_ref() else {
            continue;
        };
        for &b in data.iter() {
            if b == b'\n' {
                tail += 1;
                if tail == 2 {
                    events += 1;
                    on_event();
                    tail = 0;
                }
            } else {
                tail = 0;
            }
        }
    }
    events
}

async fn lockstep(via: &Via<'_>, key: &str, pace: &Mutex<Pace>, n: usize) -> (f64, f64) {
    let (ack_tx, ack_rx) = mpsc::unbounded_channel();
    let sent = Arc::new(Mutex::new(Vec::with_capacity(n)));
    *pace.lock().unwrap() = Pace::Lockstep {
        n,
        acks: Arc::new(tokio::sync::Mutex::new(ack_rx)),
        sent: sent.clone(),
    };
    let mut received = Vec::with_capacity(n + 3);
    read_events(via, key, || {
        received.push(Instant::now());
        let _ = ack_tx.send(());
    })
    .await;
    let sent = sent.lock().unwrap();
    // received[0] is START; received[1..=n] are the deltas.
    let samples: Vec<Duration> = sent
        .iter()
        .zip(&received[1..=n])
        .skip(n / 10)
        .map(|(s, r)| *r - *s)
        .collect();
    stats(samples)
}

async fn burst(via: &Via<'_>, key: &str, pace: &Mutex<Pace>, n: usize) -> f64 {
    *pace.lock().unwrap() = Pace::Burst(n);
    let t = Instant::now();
    let events = read_events(via, key, || {}).await;
    assert_eq!(events, n + 3);
    t.elapsed().as_secs_f64() * 1e9 / events as f64
}

fn main() {
    let scale: f64 = std::env::var("EGRESS_BENCH_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0);
    let scaled = |n: f64| ((n * scale) as usize).max(20);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let pace = Arc::new(Mutex::new(Pace::Burst(0)));
        let base = upstream(pace.clone()).await;
        let mut config = EgressConfig::new(UpstreamCredential::ApiKey("real".into()));
        config.upstream_base = base.parse().unwrap();
        let egress = Egress::new(config, Arc::new(Quiet)).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let lease = egress
            .open(
                Owner {
                    user_id: 1,
                    chat_id: 1,
                    label: "bench".into(),
                },
                dir.path(),
            )
            .await
            .unwrap();
        let key = lease.key().expose_secret().to_string();
        let direct = Via::Direct(&base);
        let gateway = Via::Gateway(lease.api_socket());

        let n = scaled(2000.0);
        let (dm, dmed) = requests(&direct, &key, n).await;
        let (gm, gmed) = requests(&gateway, &key, n).await;
        println!("request round-trip (49 KB body, {n} requests):");
        println!("  direct   mean {dm:8.1} µs  median {dmed:8.1} µs");
        println!("  gateway  mean {gm:8.1} µs  median {gmed:8.1} µs");
        println!(
            "  overhead mean {:8.1} µs  median {:8.1} µs",
            gm - dm,
            gmed - dmed
        );

        let n = scaled(5000.0);
        let (dm, dmed) = lockstep(&direct, &key, &pace, n).await;
        let (gm, gmed) = lockstep(&gateway, &key, &pace, n).await;
        println!("SSE event latency, one event in flight ({n} events):");
        println!("  direct   mean {dm:8.1} µs  median {dmed:8.1} µs");
        println!("  gateway  mean {gm:8.1} µs  median {gmed:8.1} µs");
        println!(
            "  overhead mean {:8.1} µs  median {:8.1} µs",
            gm - dm,
            gmed - dmed
        );

        let n = scaled(200_000.0);
        let d = burst(&direct, &key, &pace, n).await;
        let g = burst(&gateway, &key, &pace, n).await;
        println!("SSE burst ({n} events back to back):");
        println!("  direct   {d:8.0} ns/event");
        println!("  gateway  {g:8.0} ns/event");
        println!("  overhead {:8.0} ns/event", g - d);
    });
}
