//! Process-wide counters for `GET /metrics` (Prometheus text format).
//!
//! Why it exists: an operator running a bot unattended needs to see it working (updates handled,
//! Claude runs and their duration and cost) and being attacked (rejections by security layer)
//! without reading logs. Metrics are process-wide by nature, so they live in one static
//! registry (`prometheus-client`, the Prometheus project's Rust client) that any module can
//! bump without threading a handle through every constructor. Queue depths are read from the
//! database, and the process pool's load (live `claude` processes, turns waiting for one) from
//! the pool, at scrape time, so they are never stale.

use std::sync::atomic::AtomicU64;
use std::sync::LazyLock;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::audit::Event;
use crate::runner::pool::Pool;

type Labels = Vec<(String, String)>;

pub struct Metrics {
    registry: Registry,
    updates: Counter,
    runs: Family<Labels, Counter>,
    run_seconds: Family<Labels, Histogram>,
    cost_usd: Counter<f64, AtomicU64>,
    rejections: Family<Labels, Counter>,
    webhooks: Family<Labels, Counter>,
    queue_depth: Family<Labels, Gauge>,
    audit_write_failures: Counter,
    processes: Gauge,
    processes_max: Gauge,
    waiting: Gauge,
    evictions: Counter,
}

static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    let updates = Counter::default();
    let runs = Family::default();
    let run_seconds = Family::<Labels, Histogram>::new_with_constructor(|| {
        Histogram::new(exponential_buckets(0.5, 2.0, 12))
    });
    let cost_usd = Counter::<f64, AtomicU64>::default();
    let rejections = Family::default();
    let webhooks = Family::default();
    let queue_depth = Family::default();
    let audit_write_failures = Counter::default();
    let processes = Gauge::default();
    let processes_max = Gauge::default();
    let waiting = Gauge::default();
    let evictions = Counter::default();
    let mut registry = Registry::with_prefix("ccgate");
    registry.register(
        "updates_handled",
        "Telegram updates received and dispatched",
        updates.clone(),
    );
    registry.register(
        "claude_runs",
        "Claude runs finished, by kind (chat, webhook, schedule) and outcome",
        runs.clone(),
    );
    registry.register(
        "claude_run_duration_seconds",
        "Wall-clock duration of Claude runs",
        run_seconds.clone(),
    );
    registry.register(
        "claude_cost_usd",
        "Total cost reported by Claude (total_cost_usd)",
        cost_usd.clone(),
    );
    registry.register(
        "rejections",
        "Requests or actions refused, by security layer",
        rejections.clone(),
    );
    registry.register(
        "webhook_requests",
        "Webhook requests by provider and outcome",
        webhooks.clone(),
    );
    registry.register(
        "queue_depth",
        "Items waiting, by queue (outbox, inbox, webhooks)",
        queue_depth.clone(),
    );
    registry.register(
        "audit_write_failures",
        "Audit rows that could not be written",
        audit_write_failures.clone(),
    );
    registry.register(
        "claude_processes",
        "Live claude processes (pool slots in use, including ones starting or stopping)",
        processes.clone(),
    );
    registry.register(
        "claude_processes_max",
        "The bound on live claude processes (MAX_CLAUDE_PROCESSES)",
        processes_max.clone(),
    );
    registry.register(
        "claude_waiting",
        "Chat turns and unattended runs waiting for a free claude process slot",
        waiting.clone(),
    );
    registry.register(
        "claude_evictions",
        "Idle claude processes stopped to make room for another chat or run",
        evictions.clone(),
    );
    Metrics {
        registry,
        updates,
        runs,
        run_seconds,
        cost_usd,
        rejections,
        webhooks,
        queue_depth,
        audit_write_failures,
        processes,
        processes_max,
        waiting,
        evictions,
    }
});

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// One Telegram update was received.
pub fn update_handled() {
    METRICS.updates.inc();
}

/// A Claude run finished.
pub fn run_finished(kind: &str, ok: bool, seconds: f64, cost_usd: f64) {
    let outcome = if ok { "ok" } else { "error" };
    METRICS
        .runs
        .get_or_create(&labels(&[("kind", kind), ("outcome", outcome)]))
        .inc();
    METRICS
        .run_seconds
        .get_or_create(&labels(&[("kind", kind)]))
        .observe(seconds);
    if cost_usd.is_finite() && cost_usd > 0.0 {
        METRICS.cost_usd.inc_by(cost_usd);
    }
}

/// A security layer refused something.
pub fn rejected(layer: &str) {
    METRICS
        .rejections
        .get_or_create(&labels(&[("layer", layer)]))
        .inc();
}

/// A webhook request ended with `outcome` (accepted, unauthorized, replay, too_large, …).
pub fn webhook(provider: &str, outcome: &str) {
    // Provider names come from the URL: keep label cardinality bounded.
    let provider = if provider.len() <= 32
        && provider
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        provider
    } else {
        "other"
    };
    METRICS
        .webhooks
        .get_or_create(&labels(&[("provider", provider), ("outcome", outcome)]))
        .inc();
}

/// An audit row could not be written (counted once, in `audit::try_record`).
pub fn audit_write_failed() {
    METRICS.audit_write_failures.inc();
}

/// An idle `claude` process was stopped because others waited for its slot.
pub fn process_evicted() {
    METRICS.evictions.inc();
}

/// Audit rows that could not be written since start.
pub fn audit_write_failures() -> u64 {
    METRICS.audit_write_failures.get()
}

/// The security layer an audit event belongs to, if it is a rejection. Every event says
/// (no catch-all): a new event is a compile error here until it is placed.
pub fn rejection_layer(event: Event, details: &serde_json::Value) -> Option<&'static str> {
    use Event::*;
    Some(match event {
        AccessDenied
        | AuthRequired
        | CallbackUnknown
        | QuestionUnauthorizedPress
        | ApprovalUnauthorizedPress => "auth",
        TokenInvalid | TokenReplay | TokenExpired => "token",
        RateLimited => "rate_limit",
        BudgetExceeded => "budget",
        PathRejected => "sandbox",
        SecretFileBlocked => "secret_files",
        UploadRefused | ArchiveRefused => "upload",
        FileSendRefused => "send_out",
        StepUpFailed => "step_up",
        WebhookRejected => "webhook",
        EgressDenied => "egress",
        GitRefused => "git",
        ToolDecision => match details.get("decision").and_then(|d| d.as_str()) {
            Some("deny") => "policy",
            _ => return None,
        },
        Anomaly
        | ApprovalChoiceRefused
        | ApprovalDecided
        | ApprovalRequested
        | ApprovalStalePress
        | AuthRejected
        | BotSenderDropped
        | Command
        | ConfigChange
        | GitPanel
        // Content left out of the user's own diff: not a refusal of anything they asked.
        | GitSecretMasked
        | GrantAdded
        | GrantRevoked
        | GroupNotEnabled
        | JobFired
        | JobMissed
        | Lockout
        | LockoutBlocked
        | Login
        | Logout
        | OutboxRefused
        | PairingApproved
        | PairingRefused
        | PairingRequested
        | QuestionStalePress
        | RunFinished
        | SessionExported
        | StepUpOk
        | StepUpUnavailable
        | TokenIssued
        | TokenRevoked
        | SecretRotated
        | UploadSaved
        | FileSent
        | ArchiveExtracted
        | VoiceTranscribed
        | TotpEnrolled
        | Unlock
        | UpdateUnparsed
        | WebhookReceived
        | WebhookReplay => return None,
    })
}

/// The exposition text, with queue depths as given and the process pool's load read now.
pub fn render(queue_depths: &[(&str, i64)], pool: Option<&Pool>) -> String {
    if let Some(pool) = pool {
        METRICS.processes.set(pool.in_use() as i64);
        METRICS.processes_max.set(pool.max() as i64);
        METRICS.waiting.set(pool.waiting() as i64);
    }
    for (queue, depth) in queue_depths {
        METRICS
            .queue_depth
            .get_or_create(&labels(&[("queue", queue)]))
            .set(*depth);
    }
    let mut out = String::new();
    if encode(&mut out, &METRICS.registry).is_err() {
        out = "# metrics could not be encoded\n".into();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_has_the_promised_series() {
        update_handled();
        run_finished("chat", true, 1.5, 0.25);
        rejected("rate_limit");
        webhook("github", "accepted");
        webhook("../../evil name", "unauthorized");
        process_evicted();
        let pool = Pool::new(3);
        let _busy = pool.acquire(|_| {}, |_| {});
        let text = render(&[("outbox", 3)], Some(&pool));
        for needle in [
            "ccgate_updates_handled_total",
            "ccgate_claude_runs_total{kind=\"chat\",outcome=\"ok\"}",
            "ccgate_claude_run_duration_seconds_bucket",
            "ccgate_claude_cost_usd_total",
            "ccgate_rejections_total{layer=\"rate_limit\"}",
            "ccgate_webhook_requests_total{provider=\"other\",outcome=\"unauthorized\"}",
            "ccgate_queue_depth{queue=\"outbox\"} 3",
            "ccgate_claude_processes 1",
            "ccgate_claude_processes_max 3",
            "ccgate_claude_waiting 0",
            "ccgate_claude_evictions_total",
        ] {
            assert!(text.contains(needle), "{needle} missing in:\n{text}");
        }
        assert_eq!(
            rejection_layer(
                Event::ToolDecision,
                &serde_json::json!({"decision": "deny"})
            ),
            Some("policy")
        );
        assert_eq!(
            rejection_layer(
                Event::ToolDecision,
                &serde_json::json!({"decision": "allow"})
            ),
            None
        );
    }
}
