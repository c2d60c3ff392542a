//! Webhook throughput: signed GitHub deliveries per second, accepted (each one stored with its
//! audit row in one write) and forged (401; audited once per kind and minute, then counted).
//!
//! Why it exists: the HTTP server is ccgate's only surface open to anyone; how many real
//! deliveries it takes, and how little a flood of forged ones costs, are figures to measure.
//! The real server (axum on loopback, the real SQLite store in WAL mode) with 32 requests in
//! flight over kept-alive connections.
//!
//! `cargo bench --bench webhooks` (release build). `WEBHOOK_BENCH_N=2000` for a shorter run.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use sha2::Sha256;

const SECRET: &str = "bench-webhook-secret-0123456789";
const IN_FLIGHT: usize = 32;

fn sign(body: &[u8], secret: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

async fn run(base: &str, n: usize, secret: &str, tag: &str) -> (f64, HashMap<u16, usize>) {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(IN_FLIGHT)
        .build()
        .unwrap();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..IN_FLIGHT {
        let (client, next, base, secret, tag) = (
            client.clone(),
            next.clone(),
            base.to_string(),
            secret.to_string(),
            tag.to_string(),
        );
        tasks.push(tokio::spawn(async move {
            let mut statuses: HashMap<u16, usize> = HashMap::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= n {
                    return statuses;
                }
                let body = format!(r#"{{"action":"opened","n":"{tag}{i}"}}"#).into_bytes();
                let r = client
                    .post(format!("{base}/webhooks/github"))
                    .header("x-github-event", "issues")
                    .header("x-github-delivery", format!("{tag}{i}"))
                    .header("x-hub-signature-256", sign(&body, &secret))
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                *statuses.entry(r.status().as_u16()).or_default() += 1;
            }
        }));
    }
    let mut all: HashMap<u16, usize> = HashMap::new();
    for t in tasks {
        for (k, v) in t.await.unwrap() {
            *all.entry(k).or_default() += v;
        }
    }
    (n as f64 / t0.elapsed().as_secs_f64(), all)
}

fn main() {
    let n: usize = std::env::var("WEBHOOK_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let dir = tempfile::tempdir().unwrap();
    let approved = dir.path().join("approved");
    std::fs::create_dir_all(&approved).unwrap();
    let vars: HashMap<String, String> = [
        (
            "TELEGRAM_BOT_TOKEN",
            "123456:ABCdefGHIjklMNOpqrsTUVwxyz_-12345".to_string(),
        ),
        ("APPROVED_DIRECTORY", approved.display().to_string()),
        ("ENABLE_API_SERVER", "true".into()),
        ("GITHUB_WEBHOOK_SECRET", SECRET.into()),
        ("WEBHOOK_RATE_LIMIT", "100000".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let config = Arc::new(ccgate::config::Config::from_map(&vars).unwrap());
    let store = ccgate::store::Store::open(&dir.path().join("bench.db")).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let (bus, mut events) = ccgate::events::Bus::new();
        // Drain the bus like the automation dispatcher would (no triggers: nothing runs).
        tokio::spawn(async move { while events.recv().await.is_some() {} });
        let telegram = ccgate::telegram::api::TelegramApi::new(
            "http://127.0.0.1:9",
            &config.telegram_bot_token,
            Duration::from_secs(1),
        )
        .unwrap();
        let state = ccgate::api::ApiState::new(config.clone(), store.clone(), bus, telegram, None);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (_stop, stop_rx) = tokio::sync::watch::channel(false);
        tokio::spawn(ccgate::api::serve(state, listener, stop_rx));
        tokio::time::sleep(Duration::from_millis(100)).await;

        let (valid, st) = run(&base, n, SECRET, "v").await;
        println!("valid signed deliveries: {valid:>8.0}/s  statuses {st:?}");
        let (forged, st) = run(&base, n, "wrong-secret-wrong-secret", "f").await;
        println!("forged deliveries:       {forged:>8.0}/s  statuses {st:?}");
        let rows = store.audit_count("webhook_rejected").await.unwrap();
        println!("audit rows for {n} forged: {rows}");
    });
}
