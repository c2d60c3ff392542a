//! The HTTP server: webhooks in, Telegram webhook mode, health and metrics out.
//!
//! Why it exists: external systems (GitHub, CI, anything that can POST) start Claude runs, and
//! an operator needs liveness, readiness and metrics. Every webhook passes, in this order:
//! endpoint enabled (no secret → 404) → per-source rate limit (429) → body size (413) →
//! authentication over the raw bytes, before any parsing (401) → replay guard, atomic in the
//! database (a replay is acknowledged but never runs twice) → JSON parse (400). Only then is the
//! delivery stored — with its audit row, in one write — and put on the event bus. Every
//! rejection is counted; it is audited once per kind and minute, repeats in a summary row
//! ([`rejections`]), so a flood of forged requests can neither fill the disk nor starve real
//! deliveries of the write lock.
//!
//! axum serves it (tokio's HTTP framework); the verification itself is in [`verify`].

pub mod rejections;
pub mod verify;

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use secrecy::ExposeSecret;
use serde_json::{json, Value};

use crate::config::Config;
use crate::events::{Bus, Event};
use crate::secrets::{Rotatable, Secrets};
use crate::store::{Delivery, Store};
use crate::telegram::api::TelegramApi;
use crate::telegram::intake::UpdateSink;
use verify::AuthFailure;

/// Telegram webhook mode: the path updates arrive on and the secret header they must carry.
#[derive(Clone)]
pub struct TelegramHook {
    pub path: String,
    pub secret: String,
    pub sink: Arc<dyn UpdateSink>,
}

/// Everything the handlers need.
#[derive(Clone)]
pub struct ApiState {
    pub config: Arc<Config>,
    pub store: Store,
    pub bus: Bus,
    pub telegram: TelegramApi,
    pub telegram_hook: Option<TelegramHook>,
    limiter: Arc<DefaultKeyedRateLimiter<IpAddr>>,
    /// Refusals, audited once per kind and window (see [`rejections`]).
    rejections: Arc<rejections::Rejections>,
    /// The bound on live `claude` processes, whose load `/metrics` shows (see [`Self::with_pool`]).
    pool: Option<Arc<crate::runner::pool::Pool>>,
    /// The webhook secrets' accepted values (a rotation's overlap window included).
    secrets: Arc<Secrets>,
}

/// How long refusals of one kind are counted before their summary row is written.
const REJECTION_WINDOW: Duration = Duration::from_secs(60);

impl ApiState {
    pub fn new(
        config: Arc<Config>,
        store: Store,
        bus: Bus,
        telegram: TelegramApi,
        telegram_hook: Option<TelegramHook>,
    ) -> Self {
        let per_minute =
            NonZeroU32::new(config.server.rate_limit_per_minute).unwrap_or(NonZeroU32::MIN);
        let limiter = Arc::new(RateLimiter::keyed(Quota::per_minute(per_minute)));
        ApiState {
            store,
            bus,
            telegram,
            telegram_hook,
            limiter,
            rejections: Arc::new(rejections::Rejections::new(REJECTION_WINDOW)),
            pool: None,
            secrets: Arc::new(Secrets::configured(&config)),
            config,
        }
    }

    /// Verify webhooks with the live secrets (`crate::secrets`), rotations included.
    pub fn with_secrets(mut self, secrets: Arc<Secrets>) -> Self {
        self.secrets = secrets;
        self
    }

    /// Show `pool`'s load (live processes, waiting turns) in `/metrics`.
    pub fn with_pool(mut self, pool: Arc<crate::runner::pool::Pool>) -> Self {
        self.pool = Some(pool);
        self
    }
}

/// The router. Webhook routes exist only when the API server is enabled; the Telegram route
/// only in webhook mode.
pub fn router(state: ApiState) -> Router {
    let mut r = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics));
    if state.config.server.enabled {
        r = r
            .route("/webhooks/github", post(github))
            .route("/webhooks/{provider}", post(generic));
    }
    if let Some(hook) = &state.telegram_hook {
        r = r.route(&hook.path, post(telegram_update));
    }
    r.layer(DefaultBodyLimit::max(state.config.server.max_body_bytes))
        .with_state(state)
}

/// Serve on `listener` until `shutdown` turns true.
pub async fn serve(
    state: ApiState,
    listener: tokio::net::TcpListener,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) -> std::io::Result<()> {
    let (store, rejections) = (state.store.clone(), state.rejections.clone());
    let flusher = tokio::spawn({
        let (store, rejections) = (store.clone(), rejections.clone());
        async move {
            let mut tick = tokio::time::interval(REJECTION_WINDOW);
            tick.tick().await;
            loop {
                tick.tick().await;
                rejections.flush(&store).await;
            }
        }
    });
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = shutdown.changed().await;
        })
        .await;
    flusher.abort();
    rejections.flush(&store).await;
    served
}

async fn reject(
    state: &ApiState,
    provider: &str,
    status: StatusCode,
    outcome: &str,
    source: IpAddr,
    detail: Value,
) -> Response {
    crate::metrics::webhook(provider, outcome);
    state
        .rejections
        .note(&state.store, provider, outcome, &source.to_string(), detail)
        .await;
    (status, Json(json!({"error": outcome}))).into_response()
}

/// What every webhook passes before authentication: the per-source rate limit (429), then the
/// body size limit (413). Both refusals are audited.
async fn admit(
    state: &ApiState,
    provider: &str,
    peer: SocketAddr,
    body: Body,
) -> Result<Bytes, Response> {
    if state.limiter.check_key(&peer.ip()).is_err() {
        return Err(reject(
            state,
            provider,
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            peer.ip(),
            json!({"source": peer.ip().to_string()}),
        )
        .await);
    }
    let limit = state.config.server.max_body_bytes;
    match axum::body::to_bytes(body, limit).await {
        Ok(bytes) => Ok(bytes),
        Err(_) => Err(reject(
            state,
            provider,
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            peer.ip(),
            json!({"limit": limit}),
        )
        .await),
    }
}

async fn github(
    State(state): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some(keys) = state.secrets.ring(Rotatable::GithubSecret) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let body = match admit(&state, "github", peer, body).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let header = |name: &str| headers.get(name).map(|v| v.as_bytes());
    // Any accepted value (two during a rotation's overlap window) may have signed it.
    let verdict = verify::any_key(&keys.accepted, |k| {
        verify::github_signature(k, &body, header("x-hub-signature-256"))
    });
    if let Err(f) = verdict {
        return unauthorized(&state, "github", f, peer).await;
    }
    let event = header_str(&headers, "x-github-event").unwrap_or_default();
    let delivery = header_str(&headers, "x-github-delivery").unwrap_or_default();
    // The replay key is the signed body's hash: a captured request replayed with a different
    // (unsigned) delivery id is still the same body and is still refused.
    let key = format!("github:{}", verify::body_hash(&body));
    accept(
        &state,
        peer,
        "github",
        &event,
        key,
        &body,
        json!({"delivery": delivery}),
    )
    .await
}

async fn generic(
    State(state): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(provider): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some(keys) = state.secrets.ring(Rotatable::WebhookSecret) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let valid_name = !provider.is_empty()
        && provider.len() <= 64
        && provider
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !valid_name {
        return StatusCode::NOT_FOUND.into_response();
    }
    let body = match admit(&state, &provider, peer, body).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let header = |name: &str| headers.get(name).map(|v| v.as_bytes());
    // The value the sender holds (two are accepted during a rotation's overlap window) both
    // authenticates and signs: the signature is checked with the value the Bearer matched.
    let secret = match verify::matching_key(&keys.accepted, |k| {
        verify::bearer(k, header("authorization"))
    }) {
        Ok(k) => k,
        Err(f) => return unauthorized(&state, &provider, f, peer).await,
    };
    let secret = secret.expose_secret().as_bytes();
    let now = chrono::Utc::now().timestamp();
    let ts = match verify::timestamped_signature(
        secret,
        &body,
        header("x-ccgate-timestamp"),
        header("x-ccgate-signature"),
        now,
        state.config.server.timestamp_tolerance.as_secs() as i64,
    ) {
        Ok(ts) => ts,
        Err(f) => return unauthorized(&state, &provider, f, peer).await,
    };
    let mut signed = ts.to_string().into_bytes();
    signed.push(b'.');
    signed.extend_from_slice(&body);
    let key = format!("{provider}:{}", verify::body_hash(&signed));
    let event = header_str(&headers, "x-ccgate-event").unwrap_or_default();
    accept(
        &state,
        peer,
        &provider,
        &event,
        key,
        &body,
        json!({"timestamp": ts}),
    )
    .await
}

async fn unauthorized(
    state: &ApiState,
    provider: &str,
    f: AuthFailure,
    peer: SocketAddr,
) -> Response {
    reject(
        state,
        provider,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        peer.ip(),
        json!({"why": f.as_str(), "source": peer.ip().to_string()}),
    )
    .await
}

fn header_str(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.chars().take(100).collect())
}

/// Authenticated: deduplicate, parse, store, publish.
async fn accept(
    state: &ApiState,
    peer: SocketAddr,
    provider: &str,
    event_header: &str,
    key: String,
    body: &[u8],
    extra: Value,
) -> Response {
    let payload: Value = match serde_json::from_slice(body) {
        Ok(v @ Value::Object(_)) => v,
        _ => {
            return reject(
                state,
                provider,
                StatusCode::BAD_REQUEST,
                "bad_json",
                peer.ip(),
                extra,
            )
            .await;
        }
    };
    let event = if event_header.is_empty() {
        payload
            .get("event")
            .and_then(Value::as_str)
            .unwrap_or("unknown")
            .chars()
            .take(100)
            .collect()
    } else {
        event_header.to_string()
    };
    let action = payload
        .get("action")
        .and_then(Value::as_str)
        .map(|a| a.chars().take(100).collect());
    let delivery = Delivery {
        key,
        provider: provider.to_string(),
        event: event.clone(),
        action,
        payload: String::from_utf8_lossy(body).into_owned(),
    };
    // Accepted: the delivery and its audit row in one write.
    let details =
        json!({"provider": provider, "event": event, "action": delivery.action, "detail": extra});
    let row = crate::audit::row(None, None, crate::audit::Event::WebhookReceived, &details);
    match state.store.claim_delivery_audited(&delivery, &row).await {
        Ok(true) => {}
        Ok(false) => {
            crate::metrics::webhook(provider, "replay");
            crate::audit::record(
                &state.store,
                None,
                None,
                crate::audit::Event::WebhookReplay,
                &json!({"provider": provider, "event": event, "key": delivery.key, "detail": extra}),
            ).await;
            // Acknowledged (a legitimate redelivery must not be retried forever), never re-run.
            return (StatusCode::OK, Json(json!({"status": "duplicate"}))).into_response();
        }
        Err(e) => {
            tracing::error!(error = %e, "could not store a webhook delivery");
            // Not stored → not acknowledged: the sender retries.
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
    }
    crate::metrics::webhook(provider, "accepted");
    state.bus.publish(Event::Webhook(delivery));
    (StatusCode::ACCEPTED, Json(json!({"status": "accepted"}))).into_response()
}

async fn readyz(State(state): State<ApiState>) -> Response {
    let db = state.store.ping().await.is_ok();
    let telegram = tokio::time::timeout(Duration::from_secs(5), state.telegram.get_me())
        .await
        .map(|r| r.is_ok())
        .unwrap_or(false);
    let status = if db && telegram {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(json!({"database": db, "telegram": telegram}))).into_response()
}

async fn metrics(State(state): State<ApiState>) -> Response {
    let depths = state.store.queue_depths().await.unwrap_or_default();
    let depths: Vec<(&str, i64)> = depths.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        crate::metrics::render(&depths, state.pool.as_deref()),
    )
        .into_response()
}

/// Telegram webhook mode: check the secret header, persist the update, then answer 200.
async fn telegram_update(
    State(state): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(hook) = &state.telegram_hook else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let given = headers
        .get("x-telegram-bot-api-secret-token")
        .map(|v| v.as_bytes());
    let ok = given.is_some_and(|g| verify::same_secret(g, hook.secret.as_bytes()));
    if !ok {
        crate::metrics::rejected("telegram_webhook");
        state
            .rejections
            .note(
                &state.store,
                "telegram",
                "unauthorized",
                &peer.ip().to_string(),
                json!({}),
            )
            .await;
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let Ok(update) = serde_json::from_slice::<Value>(&body) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    match crate::telegram::intake::store_and_dispatch(&state.store, hook.sink.as_ref(), &update)
        .await
    {
        // Stored (or a known duplicate, or a button press): Telegram may forget it.
        Ok(_) => StatusCode::OK.into_response(),
        // Not stored: a non-2xx makes Telegram deliver it again.
        Err(e) => {
            tracing::error!(error = %e, "could not store a webhook update");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}
