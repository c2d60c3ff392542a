//! The model gateway: a reverse proxy for the Messages API on one lease's `api.sock`.
//!
//! Why it exists: the real API credential must never be inside the jail, and every model
//! request must be admitted against the budget and counted. The child gets an ephemeral key
//! that only this socket accepts; the gateway checks it in constant time, refuses paths the
//! CLI never uses, asks the [`UsageSink`](super::UsageSink) for admission, replaces the key
//! with the real credential and streams the answer back frame by frame while
//! [`MeteredBody`](super::usage::MeteredBody) counts its tokens.
//!
//! Errors it makes itself are shaped like the API's (`{"type":"error","error":{…}}`) so the
//! CLI shows their message. A refused admission is a `429 rate_limit_error` carrying
//! `x-should-retry: false`, the Anthropic SDKs' signal not to retry it.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

use super::usage::{Meter, MeteredBody, Report};
use super::{key_matches, strip_hop_by_hop, Owner, Shared, UpstreamCredential, OAUTH_BETA};

/// One lease's gateway.
pub(crate) struct Gateway {
    pub shared: Arc<Shared>,
    pub owner: Owner,
    pub key: SecretString,
    /// Closed when the lease is dropped: from then on the key is refused even on a connection
    /// that is still open.
    pub stopped: tokio::sync::watch::Receiver<()>,
}

/// What a request is, by method and path.
#[derive(Debug, PartialEq, Eq)]
enum Route {
    /// `HEAD /` or `GET /`: the CLI's connection warm-up, answered here.
    Root,
    /// A Messages API call the CLI makes: forwarded.
    Api,
    /// Anything else: 404, nothing forwarded.
    Unknown,
}

fn route(method: &Method, path: &str) -> Route {
    let model_id = |id: &str| {
        (1..=200).contains(&id.len())
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._@:".contains(&b))
    };
    match (method, path) {
        (&Method::HEAD | &Method::GET, "/") => Route::Root,
        (&Method::POST, "/v1/messages" | "/v1/messages/count_tokens") => Route::Api,
        (&Method::GET, "/v1/models") => Route::Api,
        (&Method::GET, p) if p.strip_prefix("/v1/models/").is_some_and(model_id) => Route::Api,
        _ => Route::Unknown,
    }
}

/// An error response shaped like the API's own.
pub(crate) fn api_error(status: StatusCode, kind: &str, message: &str) -> Response<Body> {
    let body = json!({"type": "error", "error": {"type": kind, "message": message}});
    let mut r = Response::new(Body::from(body.to_string()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

impl Gateway {
    pub(crate) async fn handle(
        self: Arc<Self>,
        req: Request<Incoming>,
    ) -> Result<Response<Body>, Infallible> {
        Ok(self.respond(req).await)
    }

    async fn respond(&self, req: Request<Incoming>) -> Response<Body> {
        let started = Instant::now();
        let route = route(req.method(), req.uri().path());
        let authorized = self.stopped.has_changed().is_ok() && self.authorized(req.headers());
        let limit = self.shared.config.max_request_bytes;
        let too_large = || {
            api_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "request_too_large",
                &format!("request body larger than {limit} bytes"),
            )
        };
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        if declared.is_some_and(|n| n > limit as u64) {
            return too_large();
        }
        // The whole body is read before any answer: answering a half-sent request makes the
        // server close with unread data, which the client sees as a connection reset and
        // retries. A refusal must reach the CLI as itself.
        let (parts, body) = req.into_parts();
        let body = match Limited::new(body, limit).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(e) if e.is::<http_body_util::LengthLimitError>() => return too_large(),
            Err(e) => {
                tracing::debug!(error = %e, "egress: request body unreadable");
                return api_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request_error",
                    "request body could not be read",
                );
            }
        };
        match route {
            Route::Root => return Response::new(Body::empty()),
            Route::Unknown => {
                return api_error(
                    StatusCode::NOT_FOUND,
                    "not_found_error",
                    "ccgate's model gateway serves only the Messages API",
                )
            }
            Route::Api => {}
        }
        if !authorized {
            return api_error(
                StatusCode::UNAUTHORIZED,
                "authentication_error",
                "invalid x-api-key for this ccgate session",
            );
        }
        if let Err(message) = self.shared.sink.admit(&self.owner).await {
            let mut r = api_error(StatusCode::TOO_MANY_REQUESTS, "rate_limit_error", &message);
            r.headers_mut()
                .insert("x-should-retry", HeaderValue::from_static("false"));
            return r;
        }

        let path_and_query = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
        let base = self
            .shared
            .config
            .upstream_base
            .as_str()
            .trim_end_matches('/');
        let url = format!("{base}{path_and_query}");
        let headers = self.upstream_headers(parts.headers);
        let mut request = self
            .shared
            .client
            .request(parts.method, url)
            .headers(headers);
        if !body.is_empty() {
            request = request.body(body.clone());
        }
        let sent = request.send().await;
        let upstream = match sent {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, owner = %self.owner.label, "egress: upstream request failed");
                return api_error(
                    StatusCode::BAD_GATEWAY,
                    "api_error",
                    "ccgate could not reach the model API",
                );
            }
        };

        let status = upstream.status();
        let mut response: Response<reqwest::Body> = upstream.into();
        strip_hop_by_hop(response.headers_mut());
        let meter = Meter::for_content_type(
            response
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok()),
        );
        if response
            .headers()
            .get(header::CONTENT_ENCODING)
            .is_some_and(|v| v != "identity")
        {
            tracing::warn!("egress: upstream sent an encoded body; its usage cannot be read");
        }
        let report = Report {
            owner: self.owner.clone(),
            sink: self.shared.sink.clone(),
            started,
            request_body: body,
        };
        response.map(|b| Body::new(MeteredBody::new(b, meter, status.as_u16(), report)))
    }

    /// Is the request's `x-api-key` (or, failing that, its bearer token) this lease's key?
    fn authorized(&self, headers: &HeaderMap) -> bool {
        let presented = match headers.get("x-api-key") {
            Some(v) => Some(v.as_bytes()),
            None => headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.as_bytes().strip_prefix(b"Bearer ")),
        };
        presented.is_some_and(|p| key_matches(p, &self.key))
    }

    /// The client's headers as the upstream gets them: no hop-by-hop or auth headers, nothing
    /// that carries the ephemeral key, no compression (the body must stay readable for usage),
    /// and the real credential.
    fn upstream_headers(&self, mut headers: HeaderMap) -> HeaderMap {
        strip_hop_by_hop(&mut headers);
        for name in [
            header::HOST,
            header::CONTENT_LENGTH,
            header::AUTHORIZATION,
            header::ACCEPT_ENCODING,
            HeaderName::from_static("x-api-key"),
        ] {
            headers.remove(name);
        }
        let key = self.key.expose_secret().as_bytes();
        let carries_key: Vec<HeaderName> = headers
            .iter()
            .filter(|(_, v)| v.as_bytes().windows(key.len()).any(|w| w == key))
            .map(|(n, _)| n.clone())
            .collect();
        for name in carries_key {
            headers.remove(name);
        }
        headers.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("identity"),
        );

        let secret = |s: &SecretString| {
            let mut v = HeaderValue::from_str(s.expose_secret()).ok();
            if let Some(v) = &mut v {
                v.set_sensitive(true);
            }
            v
        };
        let bearer =
            |s: &SecretString| secret(&SecretString::from(format!("Bearer {}", s.expose_secret())));
        match &self.shared.config.credential {
            UpstreamCredential::ApiKey(k) => {
                if let Some(v) = secret(k) {
                    headers.insert("x-api-key", v);
                }
            }
            UpstreamCredential::AuthToken(t) => {
                if let Some(v) = bearer(t) {
                    headers.insert(header::AUTHORIZATION, v);
                }
            }
            UpstreamCredential::OAuth(t) => {
                if let Some(v) = bearer(t) {
                    headers.insert(header::AUTHORIZATION, v);
                }
                add_beta(&mut headers, OAUTH_BETA);
            }
        }
        headers
    }
}

/// Add `flag` to the `anthropic-beta` list (merging repeated headers into one) unless present.
fn add_beta(headers: &mut HeaderMap, flag: &str) {
    let mut flags: Vec<String> = headers
        .get_all("anthropic-beta")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    if !flags.iter().any(|f| f == flag) {
        flags.push(flag.to_string());
    }
    if let Ok(v) = HeaderValue::from_str(&flags.join(",")) {
        headers.insert("anthropic-beta", v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn egress_gateway_routes_only_what_the_cli_uses() {
        use Route::*;
        let cases = [
            (Method::POST, "/v1/messages", Api),
            (Method::POST, "/v1/messages/count_tokens", Api),
            (Method::GET, "/v1/models", Api),
            (Method::GET, "/v1/models/claude-sonnet-4-5", Api),
            (Method::HEAD, "/", Root),
            (Method::GET, "/", Root),
            (Method::GET, "/v1/messages", Unknown),
            (Method::POST, "/v1/messages/batches", Unknown),
            (Method::POST, "/v1/complete", Unknown),
            (Method::GET, "/v1/models/a/b", Unknown),
            (Method::GET, "/v1/models/", Unknown),
            (Method::GET, "/v1/models/..%2f", Unknown),
            (Method::POST, "/v1/messages/../files", Unknown),
            (Method::GET, "/v1/files", Unknown),
            (Method::HEAD, "/api/hello", Unknown),
        ];
        for (m, p, want) in cases {
            assert_eq!(route(&m, p), want, "{m} {p}");
        }
    }

    #[test]
    fn egress_oauth_beta_is_appended_once() {
        let mut h = HeaderMap::new();
        h.append("anthropic-beta", "a,b".parse().unwrap());
        h.append("anthropic-beta", "c".parse().unwrap());
        add_beta(&mut h, OAUTH_BETA);
        assert_eq!(h.get("anthropic-beta").unwrap(), "a,b,c,oauth-2025-04-20");
        add_beta(&mut h, OAUTH_BETA);
        assert_eq!(h.get_all("anthropic-beta").iter().count(), 1);
        assert_eq!(h.get("anthropic-beta").unwrap(), "a,b,c,oauth-2025-04-20");
        let mut empty = HeaderMap::new();
        add_beta(&mut empty, OAUTH_BETA);
        assert_eq!(empty.get("anthropic-beta").unwrap(), OAUTH_BETA);
    }
}
