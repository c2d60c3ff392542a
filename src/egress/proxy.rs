//! The egress proxy: the HTTP proxy (`HTTPS_PROXY`/`HTTP_PROXY`) tools inside the jail use,
//! on one lease's `proxy.sock`.
//!
//! Why it exists: package managers, `git` and `curl` inside the sandbox need some of the
//! internet and none of the rest. `CONNECT host:port` is spliced only when `EGRESS_ALLOW` has
//! a matching entry; plain `http://` requests in absolute form are forwarded under the same
//! rule (port 80 for a port-less entry) on a fresh connection each, so every request is
//! checked. A name's DNS answer is screened ([`allow::forbidden_for_names`]) and the proxy
//! connects to exactly the addresses it screened, so a later DNS answer cannot redirect it.
//! Every refusal answers `403` with a one-line reason and goes to
//! [`UsageSink::denied`](super::UsageSink::denied) for the audit log. Resolution plus connect
//! is bounded by `connect_timeout`, open tunnels per lease by `max_tunnels`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};

use super::allow::{self, Target};
use super::{strip_hop_by_hop, Owner, Shared};

/// One lease's proxy.
pub(crate) struct Proxy {
    shared: Arc<Shared>,
    owner: Owner,
    stopped: watch::Receiver<()>,
    tunnels: Arc<Semaphore>,
}

/// Why a target could not be reached.
enum Failure {
    /// Policy said no: 403 (or 503 for the tunnel limit), reported to the sink.
    Refused(StatusCode, String),
    /// The network said no: 502/504, not a policy matter.
    Unreachable(StatusCode, String),
}

/// An open upstream connection, counted against the lease's tunnel limit while it lives.
struct Opened {
    stream: TcpStream,
    permit: OwnedSemaphorePermit,
}

/// An error answer: one line of text, and the connection closes after it (a client whose
/// `CONNECT` failed has nothing more to say on it).
fn plain(status: StatusCode, line: &str) -> Response<Body> {
    let mut r = Response::new(Body::from(format!("ccgate egress: {line}\n")));
    *r.status_mut() = status;
    let headers = r.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    r
}

impl Proxy {
    pub(crate) fn new(shared: Arc<Shared>, owner: Owner, stopped: watch::Receiver<()>) -> Self {
        let tunnels = Arc::new(Semaphore::new(shared.config.max_tunnels));
        Proxy {
            shared,
            owner,
            stopped,
            tunnels,
        }
    }

    pub(crate) async fn handle(
        self: Arc<Self>,
        req: Request<Incoming>,
    ) -> Result<Response<Body>, Infallible> {
        let response = if self.stopped.has_changed().is_err() {
            plain(StatusCode::SERVICE_UNAVAILABLE, "this session has ended")
        } else if req.method() == Method::CONNECT {
            self.connect(req).await
        } else if req.uri().scheme_str() == Some("http") {
            self.forward(req).await
        } else {
            plain(
                StatusCode::BAD_REQUEST,
                "this is a proxy: use CONNECT for https, an absolute http:// URL otherwise",
            )
        };
        Ok(response)
    }

    /// `CONNECT host:port`: answer 200 and splice the upgraded connection with the target.
    async fn connect(&self, req: Request<Incoming>) -> Response<Body> {
        let Some((host, port)) = req
            .uri()
            .authority()
            .and_then(|a| Some((a.host().to_string(), a.port_u16()?)))
        else {
            return plain(StatusCode::BAD_REQUEST, "CONNECT needs host:port");
        };
        let opened = match self.open(&host, port, 443).await {
            Ok(o) => o,
            Err(r) => return r,
        };
        let mut stopped = self.stopped.clone();
        tokio::spawn(async move {
            let Opened { mut stream, permit } = opened;
            let splice = async {
                let upgraded = hyper::upgrade::on(req).await?;
                let mut client = TokioIo::new(upgraded);
                tokio::io::copy_bidirectional(&mut client, &mut stream).await?;
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
            };
            tokio::select! {
                _ = stopped.changed() => {}
                done = splice => {
                    if let Err(e) = done {
                        tracing::debug!(error = %e, "egress: tunnel ended");
                    }
                }
            }
            drop(permit);
        });
        Response::new(Body::empty())
    }

    /// `GET http://host/path`: forward on a fresh connection, origin-form, hop-by-hop headers
    /// (including `Proxy-Authorization`) dropped.
    async fn forward(&self, req: Request<Incoming>) -> Response<Body> {
        let Some(authority) = req.uri().authority().cloned() else {
            return plain(StatusCode::BAD_REQUEST, "absolute URL without a host");
        };
        let host = authority.host().to_string();
        let port = authority.port_u16().unwrap_or(80);
        let Opened { stream, permit } = match self.open(&host, port, 80).await {
            Ok(o) => o,
            Err(r) => return r,
        };
        let (mut sender, conn) = match hyper::client::conn::http1::handshake::<_, Incoming>(
            TokioIo::new(stream),
        )
        .await
        {
            Ok(pair) => pair,
            Err(e) => return plain(StatusCode::BAD_GATEWAY, &format!("{host}:{port}: {e}")),
        };
        let mut stopped = self.stopped.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = stopped.changed() => {}
                _ = conn => {}
            }
            drop(permit);
        });

        let (mut parts, body) = req.into_parts();
        strip_hop_by_hop(&mut parts.headers);
        let host_header = match authority.port() {
            Some(p) => format!("{}:{p}", authority.host()),
            None => authority.host().to_string(),
        };
        if let Ok(v) = HeaderValue::from_str(&host_header) {
            parts.headers.insert(header::HOST, v);
        }
        parts.uri = match parts.uri.path_and_query() {
            Some(pq) => pq.as_str().parse().unwrap_or_default(),
            None => "/".parse().expect("constant URI"),
        };
        match sender.send_request(Request::from_parts(parts, body)).await {
            Ok(mut response) => {
                strip_hop_by_hop(response.headers_mut());
                response.map(Body::new)
            }
            Err(e) => plain(StatusCode::BAD_GATEWAY, &format!("{host}:{port}: {e}")),
        }
    }

    /// Check `host:port` against the allowlist, resolve and screen it, connect. A refusal is
    /// reported and returned as the response to send.
    async fn open(
        &self,
        host: &str,
        port: u16,
        default_port: u16,
    ) -> Result<Opened, Response<Body>> {
        let target = format!("{host}:{port}");
        let attempt = async {
            let permit = self.tunnels.clone().try_acquire_owned().map_err(|_| {
                Failure::Refused(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!(
                        "too many open connections for this session (limit {})",
                        self.shared.config.max_tunnels
                    ),
                )
            })?;
            let stream = self.reach(host, port, default_port).await?;
            Ok(Opened { stream, permit })
        };
        let outcome = match tokio::time::timeout(self.shared.config.connect_timeout, attempt).await
        {
            Ok(outcome) => outcome,
            Err(_) => Err(Failure::Unreachable(
                StatusCode::GATEWAY_TIMEOUT,
                format!(
                    "{target}: no connection within {:?}",
                    self.shared.config.connect_timeout
                ),
            )),
        };
        outcome.map_err(|failure| match failure {
            Failure::Refused(status, reason) => {
                tracing::info!(owner = %self.owner.label, %target, %reason, "egress: refused");
                self.shared.sink.denied(&self.owner, &target, &reason);
                plain(status, &format!("{target} refused: {reason}"))
            }
            Failure::Unreachable(status, reason) => plain(status, &reason),
        })
    }

    async fn reach(&self, host: &str, port: u16, default_port: u16) -> Result<TcpStream, Failure> {
        let refused = |reason: String| Failure::Refused(StatusCode::FORBIDDEN, reason);
        let target =
            Target::parse(host).ok_or_else(|| refused("not a valid host name".to_string()))?;
        let allowed = self
            .shared
            .config
            .allow
            .iter()
            .any(|e| e.matches(&target, port, default_port));
        if !allowed {
            return Err(refused("not in EGRESS_ALLOW".to_string()));
        }
        let addrs: Vec<SocketAddr> = match &target {
            // Only an entry naming this very address matched: the operator meant it.
            Target::Ip(ip) => vec![SocketAddr::new(*ip, port)],
            Target::Name(name) => {
                let addrs: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), port))
                    .await
                    .map_err(|e| {
                        Failure::Unreachable(
                            StatusCode::BAD_GATEWAY,
                            format!("{host}: cannot resolve: {e}"),
                        )
                    })?
                    .collect();
                if let Some(bad) = addrs.iter().find(|a| allow::forbidden_for_names(a.ip())) {
                    return Err(refused(format!(
                        "resolves to {}, which only an IP entry in EGRESS_ALLOW can allow",
                        bad.ip()
                    )));
                }
                addrs
            }
        };
        let mut last = None;
        for addr in &addrs {
            match TcpStream::connect(addr).await {
                Ok(s) => {
                    let _ = s.set_nodelay(true);
                    return Ok(s);
                }
                Err(e) => last = Some(e),
            }
        }
        Err(Failure::Unreachable(
            StatusCode::BAD_GATEWAY,
            match last {
                Some(e) => format!("{host}:{port}: {e}"),
                None => format!("{host}: no addresses"),
            },
        ))
    }
}
