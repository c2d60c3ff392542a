//! What each model request spent, read off the response as it streams past.
//!
//! Why it exists: the CLI's own `total_cost_usd` arrives only when a turn ends, and the child
//! could lie about it. The gateway sees every response, so it counts tokens itself — from the
//! SSE events `message_start` and `message_delta`, or from a JSON body's `usage` — without
//! holding a single byte back from the client, and reports one [`Usage`] per request when the
//! response ends (completed, failed or abandoned). [`Usage::cost_usd`] turns that into an
//! estimate for live budget checks.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use serde_json::Value;

use super::{Owner, UsageSink};

/// The tokens one request used, as the upstream reported them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Usage {
    /// The model that answered (from the response; the request's `model` if the response
    /// named none). Empty when neither did.
    pub model: String,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_creation_input_tokens: u64,
    pub cache_read_input_tokens: u64,
    /// The upstream's HTTP status.
    pub status: u16,
    /// From receiving the request to the end of the response.
    pub duration: Duration,
}

/// List prices in USD per million tokens for one model family.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Prices {
    input: f64,
    output: f64,
}

/// Cache writes cost 1.25× the input price (5-minute cache), cache reads 0.1×.
const CACHE_WRITE_FACTOR: f64 = 1.25;
const CACHE_READ_FACTOR: f64 = 0.1;

/// The first row whose needle the model id contains wins, so older generations with other
/// prices come before their family's catch-all.
const PRICES: &[(&str, Prices)] = &[
    ("opus-4-0", LEGACY_OPUS),
    ("opus-4-1", LEGACY_OPUS),
    ("opus-4-2025", LEGACY_OPUS),
    ("3-opus", LEGACY_OPUS),
    (
        "opus",
        Prices {
            input: 5.0,
            output: 25.0,
        },
    ),
    (
        "sonnet",
        Prices {
            input: 3.0,
            output: 15.0,
        },
    ),
    (
        "3-haiku",
        Prices {
            input: 0.25,
            output: 1.25,
        },
    ),
    (
        "3-5-haiku",
        Prices {
            input: 0.8,
            output: 4.0,
        },
    ),
    (
        "haiku",
        Prices {
            input: 1.0,
            output: 5.0,
        },
    ),
];

/// The most expensive row; also the price of any model not in the table (fail closed).
const LEGACY_OPUS: Prices = Prices {
    input: 15.0,
    output: 75.0,
};

impl Usage {
    /// An **estimate** of what this request cost, in USD, from list prices per model family
    /// (Opus, Sonnet, Haiku; a model id that matches no family is priced as the most expensive
    /// one, so an unknown model can never slip under a budget). It is meant for live budget
    /// checks between requests; it knows no discounts, batch or long-context pricing, and
    /// prices every cache write at the 5-minute rate.
    pub fn cost_usd(&self) -> f64 {
        let model = self.model.to_ascii_lowercase();
        let p = PRICES
            .iter()
            .find(|(needle, _)| model.contains(needle))
            .map_or(LEGACY_OPUS, |(_, p)| *p);
        let per_token = |price: f64, tokens: u64| price * tokens as f64 / 1e6;
        per_token(p.input, self.input_tokens)
            + per_token(p.output, self.output_tokens)
            + per_token(
                p.input * CACHE_WRITE_FACTOR,
                self.cache_creation_input_tokens,
            )
            + per_token(p.input * CACHE_READ_FACTOR, self.cache_read_input_tokens)
    }

    /// Take every token count present in an API `usage` object. Counts are cumulative in the
    /// API (`message_delta` repeats and raises `message_start`'s), so a later value replaces an
    /// earlier one.
    fn take(&mut self, usage: &Value) {
        let set = |field: &mut u64, key: &str| {
            if let Some(n) = usage.get(key).and_then(Value::as_u64) {
                *field = n;
            }
        };
        set(&mut self.input_tokens, "input_tokens");
        set(&mut self.output_tokens, "output_tokens");
        set(
            &mut self.cache_creation_input_tokens,
            "cache_creation_input_tokens",
        );
        set(&mut self.cache_read_input_tokens, "cache_read_input_tokens");
    }

    fn take_model(&mut self, model: Option<&Value>) {
        if let Some(m) = model.and_then(Value::as_str) {
            self.model = m.to_string();
        }
    }
}

/// The longest SSE line kept while waiting for its end; usage lines are short, so a longer line
/// (a huge text delta) is skipped, never buffered without bound.
const MAX_SSE_LINE: usize = 1 << 20;
/// The largest JSON response body kept for reading its `usage`.
const MAX_JSON_BODY: usize = 8 << 20;

/// How the response body is read for usage.
#[derive(Debug)]
pub(crate) enum Meter {
    /// `text/event-stream`: split into lines, parse the `data:` lines that mention usage.
    Sse { partial: Vec<u8>, skipping: bool },
    /// `application/json`: keep the body (up to [`MAX_JSON_BODY`]) and parse it at the end.
    Json { body: Vec<u8>, overflow: bool },
    /// Anything else (errors in HTML from a proxy, say): nothing to count.
    None,
}

impl Meter {
    pub(crate) fn for_content_type(content_type: Option<&str>) -> Meter {
        let ct = content_type.unwrap_or("").to_ascii_lowercase();
        if ct.starts_with("text/event-stream") {
            Meter::Sse {
                partial: Vec::new(),
                skipping: false,
            }
        } else if ct.starts_with("application/json") {
            Meter::Json {
                body: Vec::new(),
                overflow: false,
            }
        } else {
            Meter::None
        }
    }

    /// Look at the next chunk of the body as it passes.
    pub(crate) fn observe(&mut self, chunk: &[u8], usage: &mut Usage) {
        match self {
            Meter::Sse { partial, skipping } => {
                let mut rest = chunk;
                while let Some(nl) = rest.iter().position(|&b| b == b'\n') {
                    let (line, tail) = rest.split_at(nl);
                    rest = &tail[1..];
                    if *skipping {
                        *skipping = false;
                    } else if partial.is_empty() {
                        sse_line(line, usage);
                    } else {
                        partial.extend_from_slice(line);
                        sse_line(partial, usage);
                    }
                    partial.clear();
                }
                if !*skipping {
                    if partial.len() + rest.len() > MAX_SSE_LINE {
                        partial.clear();
                        *skipping = true;
                    } else {
                        partial.extend_from_slice(rest);
                    }
                }
            }
            Meter::Json { body, overflow } => {
                if *overflow || body.len() + chunk.len() > MAX_JSON_BODY {
                    *overflow = true;
                    body.clear();
                } else {
                    body.extend_from_slice(chunk);
                }
            }
            Meter::None => {}
        }
    }

    /// The body ended: read what was kept.
    pub(crate) fn finish(&mut self, usage: &mut Usage) {
        match self {
            Meter::Sse { partial, skipping } => {
                if !*skipping && !partial.is_empty() {
                    sse_line(partial, usage);
                }
            }
            Meter::Json { body, overflow } => {
                if *overflow {
                    tracing::warn!("egress: JSON response too large to read its usage");
                } else if let Ok(v) = serde_json::from_slice::<Value>(body) {
                    usage.take_model(v.get("model"));
                    if let Some(u) = v.get("usage") {
                        usage.take(u);
                    }
                }
            }
            Meter::None => {}
        }
        *self = Meter::None;
    }
}

/// One SSE line. Only `data:` lines that mention `"usage"` are parsed, so the many
/// `content_block_delta` events cost a byte scan and nothing more.
fn sse_line(line: &[u8], usage: &mut Usage) {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let Some(data) = line.strip_prefix(b"data:") else {
        return;
    };
    if !contains(data, b"\"usage\"") {
        return;
    }
    let Ok(event) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    match event.get("type").and_then(Value::as_str) {
        Some("message_start") => {
            if let Some(message) = event.get("message") {
                usage.take_model(message.get("model"));
                if let Some(u) = message.get("usage") {
                    usage.take(u);
                }
            }
        }
        Some("message_delta") => {
            if let Some(u) = event.get("usage") {
                usage.take(u);
            }
        }
        _ => {}
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Where a finished request's usage goes, and what to fall back on for its model.
pub(crate) struct Report {
    pub owner: Owner,
    pub sink: Arc<dyn UsageSink>,
    pub started: Instant,
    /// The request body, parsed for `model` only if the response named none.
    pub request_body: Bytes,
}

/// A response body that passes every frame through untouched while metering it, and reports
/// the usage exactly once: at its end, on an error, or when dropped (the client went away or
/// the lease ended).
pub(crate) struct MeteredBody<B> {
    inner: B,
    meter: Meter,
    usage: Usage,
    report: Option<Report>,
}

impl<B> MeteredBody<B> {
    pub(crate) fn new(inner: B, meter: Meter, status: u16, report: Report) -> Self {
        MeteredBody {
            inner,
            meter,
            usage: Usage {
                status,
                ..Usage::default()
            },
            report: Some(report),
        }
    }

    fn finish(&mut self) {
        let Some(report) = self.report.take() else {
            return;
        };
        self.meter.finish(&mut self.usage);
        if self.usage.model.is_empty() {
            #[derive(serde::Deserialize)]
            struct Model {
                model: Option<String>,
            }
            if let Ok(Model { model: Some(m) }) = serde_json::from_slice(&report.request_body) {
                self.usage.model = m;
            }
        }
        self.usage.duration = report.started.elapsed();
        report.sink.record(&report.owner, &self.usage);
    }
}

impl<B> HttpBody for MeteredBody<B>
where
    B: HttpBody<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = &mut *self;
        let next = ready!(Pin::new(&mut this.inner).poll_frame(cx));
        match &next {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    this.meter.observe(data, &mut this.usage);
                }
            }
            Some(Err(_)) | None => this.finish(),
        }
        Poll::Ready(next)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl<B> Drop for MeteredBody<B> {
    fn drop(&mut self) {
        self.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SSE: &str = concat!(
        "event: message_start\n",
        r#"data: {"type":"message_start","message":{"id":"m","model":"claude-sonnet-4-5","usage":{"input_tokens":2558,"output_tokens":1,"cache_creation_input_tokens":7,"cache_read_input_tokens":9}}}"#,
        "\n\n",
        "event: content_block_delta\n",
        r#"data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"the word \"usage\" in text"}}"#,
        "\r\n\r\n",
        "event: message_delta\n",
        r#"data: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":42}}"#,
        "\n\n",
        "event: message_stop\n",
        r#"data: {"type":"message_stop"}"#,
        "\n\n",
    );

    fn meter_in_chunks(meter: &mut Meter, body: &[u8], chunk: usize) -> Usage {
        let mut usage = Usage::default();
        for c in body.chunks(chunk) {
            meter.observe(c, &mut usage);
        }
        meter.finish(&mut usage);
        usage
    }

    #[test]
    fn egress_sse_usage_is_read_however_the_stream_is_split() {
        for chunk in [1, 2, 3, 7, 64, SSE.len()] {
            let mut m = Meter::for_content_type(Some("text/event-stream; charset=utf-8"));
            let u = meter_in_chunks(&mut m, SSE.as_bytes(), chunk);
            assert_eq!(u.model, "claude-sonnet-4-5", "chunk {chunk}");
            assert_eq!(
                (
                    u.input_tokens,
                    u.output_tokens,
                    u.cache_creation_input_tokens,
                    u.cache_read_input_tokens
                ),
                (2558, 42, 7, 9),
                "chunk {chunk}"
            );
        }
    }

    #[test]
    fn egress_sse_overlong_line_is_skipped_not_buffered() {
        let mut m = Meter::for_content_type(Some("text/event-stream"));
        let mut usage = Usage::default();
        let long = format!("data: {}\n", "x".repeat(MAX_SSE_LINE + 10));
        m.observe(long.as_bytes(), &mut usage);
        // A line cut right after the overlong one still parses.
        let tail = r#"data: {"type":"message_delta","usage":{"output_tokens":5}}"#;
        let big = vec![b'y'; MAX_SSE_LINE + 1];
        m.observe(&big, &mut usage);
        if let Meter::Sse { partial, .. } = &m {
            assert!(partial.is_empty());
        }
        m.observe(b"\n", &mut usage);
        m.observe(tail.as_bytes(), &mut usage);
        m.finish(&mut usage);
        assert_eq!(usage.output_tokens, 5);
    }

    #[test]
    fn egress_json_usage_and_model_are_read_at_the_end() {
        let body = br#"{"id":"m","model":"claude-haiku-4-5","usage":{"input_tokens":10,"output_tokens":20}}"#;
        let mut m = Meter::for_content_type(Some("application/json"));
        let u = meter_in_chunks(&mut m, body, 5);
        assert_eq!(
            (u.model.as_str(), u.input_tokens, u.output_tokens),
            ("claude-haiku-4-5", 10, 20)
        );
    }

    #[test]
    fn egress_cost_uses_family_prices_and_fails_closed() {
        let usage = |model: &str| Usage {
            model: model.into(),
            input_tokens: 1_000_000,
            output_tokens: 1_000_000,
            cache_creation_input_tokens: 1_000_000,
            cache_read_input_tokens: 1_000_000,
            ..Usage::default()
        };
        let close = |a: f64, b: f64| (a - b).abs() < 1e-9;
        // 3 + 15 + 3.75 + 0.3
        assert!(close(usage("claude-sonnet-4-5").cost_usd(), 22.05));
        // 5 + 25 + 6.25 + 0.5
        assert!(close(usage("claude-opus-4-5").cost_usd(), 36.75));
        assert!(close(usage("claude-opus-4-1-20250805").cost_usd(), 110.25));
        assert!(close(usage("claude-haiku-4-5").cost_usd(), 7.35));
        assert!(close(usage("claude-3-5-haiku-latest").cost_usd(), 5.88));
        // Unknown or missing model: the most expensive row.
        assert!(close(usage("gpt-9").cost_usd(), 110.25));
        assert!(close(usage("").cost_usd(), 110.25));
        assert_eq!(Usage::default().cost_usd(), 0.0);
    }
}
