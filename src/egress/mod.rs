//! The sandbox's only ways out: a model gateway and an allowlisted HTTP proxy, one pair of Unix
//! sockets per `claude` process.
//!
//! Why it exists: a `claude` child runs arbitrary tools, so it must hold nothing worth stealing
//! and reach nothing it was not meant to. Inside its jail it has no network; a forwarder there
//! relays two loopback ports to the two sockets of its [`Lease`]:
//!
//! - **`api.sock`**, the model gateway ([`gateway`]): the child knows only an ephemeral key that
//!   is valid on this one socket for the life of the lease. The gateway checks it, asks the
//!   [`UsageSink`] whether the owner may still spend, swaps in the real credential and streams
//!   the upstream's answer back while counting its tokens. The real credential never enters
//!   the jail.
//! - **`proxy.sock`**, the egress proxy ([`proxy`]): `CONNECT` (and plain `http://`) only to
//!   hosts on the operator's `EGRESS_ALLOW`; every refusal is reported for the audit log.
//!
//! Dropping the lease closes both listeners and every connection made through them, removes
//! the sockets and so kills the key.

mod allow;
mod gateway;
mod proxy;
mod usage;

pub use allow::{AllowEntry, AllowEntryError};
pub use usage::Usage;

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::io;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use tokio::net::UnixListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

/// The Anthropic API, when `ANTHROPIC_BASE_URL`-style configuration says nothing else.
pub const DEFAULT_UPSTREAM: &str = "https://api.anthropic.com";

/// The beta flag the API requires on requests authenticated with a claude.ai OAuth token.
pub const OAUTH_BETA: &str = "oauth-2025-04-20";

/// Who a lease's traffic is accounted to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Owner {
    pub user_id: i64,
    pub chat_id: i64,
    /// A human-readable name for logs and audit rows (e.g. the project or job).
    pub label: String,
}

/// Where the gateway reports, and whom it asks before spending.
///
/// All three are called on the request path: `admit` is awaited before the request is
/// forwarded; `record` and `denied` must return at once (queue any database writes).
pub trait UsageSink: Send + Sync {
    /// May `owner` start another model request? `Err(message)` refuses it; the message is
    /// shown to the CLI (and so to the user) as the API error.
    fn admit<'a>(&'a self, owner: &'a Owner) -> Admission<'a>;
    /// One forwarded request's response has ended (completely, with an error, or because the
    /// client went away).
    fn record(&self, owner: &Owner, usage: &Usage);
    /// The egress proxy refused `target` (`host:port`) for `reason`.
    fn denied(&self, owner: &Owner, target: &str, reason: &str);
}

/// The answer of [`UsageSink::admit`], awaited by the gateway.
pub type Admission<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>> + Send + 'a>>;

/// The real credential the gateway puts on forwarded requests.
#[derive(Clone)]
pub enum UpstreamCredential {
    /// An API key, sent as `x-api-key`.
    ApiKey(SecretString),
    /// A bearer token for a gateway in front of the API (`ANTHROPIC_AUTH_TOKEN`), sent as
    /// `Authorization: Bearer`.
    AuthToken(SecretString),
    /// A claude.ai OAuth access token: `Authorization: Bearer` plus the [`OAUTH_BETA`] flag.
    OAuth(SecretString),
}

impl fmt::Debug for UpstreamCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            UpstreamCredential::ApiKey(_) => "ApiKey(..)",
            UpstreamCredential::AuthToken(_) => "AuthToken(..)",
            UpstreamCredential::OAuth(_) => "OAuth(..)",
        })
    }
}

/// Everything [`Egress`] needs, fixed at start-up.
#[derive(Debug, Clone)]
pub struct EgressConfig {
    /// Where model requests go; the request's path and query are appended to it.
    pub upstream_base: reqwest::Url,
    pub credential: UpstreamCredential,
    /// `EGRESS_ALLOW`; empty denies every proxy request.
    pub allow: Vec<AllowEntry>,
    /// Bound on name resolution plus TCP connect, for the proxy and for the upstream.
    pub connect_timeout: Duration,
    /// Tunnels (and plain-HTTP requests) one lease may have open at once.
    pub max_tunnels: usize,
    /// Largest request body the gateway accepts (413 above it).
    pub max_request_bytes: usize,
}

impl EgressConfig {
    /// The defaults: [`DEFAULT_UPSTREAM`], an empty allowlist, 10 s connect timeout, 32 tunnels
    /// per lease, 32 MiB request bodies.
    pub fn new(credential: UpstreamCredential) -> Self {
        EgressConfig {
            upstream_base: reqwest::Url::parse(DEFAULT_UPSTREAM).expect("constant URL"),
            credential,
            allow: Vec::new(),
            connect_timeout: Duration::from_secs(10),
            max_tunnels: 32,
            max_request_bytes: 32 << 20,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EgressError {
    #[error("upstream base URL {0}: must be http(s) without query or fragment")]
    BadUpstream(String),
    #[error("building the upstream HTTP client: {0}")]
    Client(#[from] reqwest::Error),
}

/// The egress service: built once, cheap to clone, opens one [`Lease`] per `claude` process.
#[derive(Clone)]
pub struct Egress {
    inner: Arc<Shared>,
}

/// What every lease's servers share.
struct Shared {
    config: EgressConfig,
    client: reqwest::Client,
    sink: Arc<dyn UsageSink>,
}

impl Egress {
    pub fn new(config: EgressConfig, sink: Arc<dyn UsageSink>) -> Result<Egress, EgressError> {
        let base = &config.upstream_base;
        if !matches!(base.scheme(), "http" | "https")
            || base.query().is_some()
            || base.fragment().is_some()
            || base.cannot_be_a_base()
        {
            return Err(EgressError::BadUpstream(base.to_string()));
        }
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(config.connect_timeout)
            // Long enough for a slow non-streaming answer, short enough to reap a dead peer.
            .read_timeout(Duration::from_secs(15 * 60))
            .tcp_nodelay(true)
            .build()?;
        Ok(Egress {
            inner: Arc::new(Shared {
                config,
                client,
                sink,
            }),
        })
    }

    /// Start the gateway and the proxy for one `claude` process on `dir/api.sock` and
    /// `dir/proxy.sock` (`dir` is created 0700 if missing; the sockets are 0600). A stale socket
    /// left by a crash is replaced; one that still answers is an error.
    pub async fn open(&self, owner: Owner, dir: &Path) -> io::Result<Lease> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
        let api_socket = dir.join("api.sock");
        let proxy_socket = dir.join("proxy.sock");
        let api_listener = bind(&api_socket)?;
        let proxy_listener = match bind(&proxy_socket) {
            Ok(l) => l,
            Err(e) => {
                let _ = std::fs::remove_file(&api_socket);
                return Err(e);
            }
        };
        let key = SecretString::from(ephemeral_key());
        let (shutdown, stopped) = watch::channel(());

        let gateway = Arc::new(gateway::Gateway {
            shared: self.inner.clone(),
            owner: owner.clone(),
            key: key.clone(),
            stopped: stopped.clone(),
        });
        spawn_server(api_listener, stopped.clone(), move |req| {
            gateway.clone().handle(req)
        });
        let proxy = Arc::new(proxy::Proxy::new(
            self.inner.clone(),
            owner.clone(),
            stopped.clone(),
        ));
        spawn_server(proxy_listener, stopped, move |req| {
            proxy.clone().handle(req)
        });

        Ok(Lease {
            key,
            api_socket,
            proxy_socket,
            owner,
            _shutdown: shutdown,
        })
    }
}

/// One `claude` process's gateway and proxy. Dropping it stops both listeners, ends every
/// connection and tunnel made through them and removes the sockets.
pub struct Lease {
    key: SecretString,
    api_socket: PathBuf,
    proxy_socket: PathBuf,
    owner: Owner,
    /// Dropped with the lease; every server task and tunnel watches it.
    _shutdown: watch::Sender<()>,
}

impl Lease {
    /// The ephemeral key to give the child as `ANTHROPIC_API_KEY`.
    pub fn key(&self) -> &SecretString {
        &self.key
    }
    /// The model gateway's socket (forward the child's `ANTHROPIC_BASE_URL` port here).
    pub fn api_socket(&self) -> &Path {
        &self.api_socket
    }
    /// The egress proxy's socket (forward the child's `HTTPS_PROXY`/`HTTP_PROXY` port here).
    pub fn proxy_socket(&self) -> &Path {
        &self.proxy_socket
    }
    pub fn owner(&self) -> &Owner {
        &self.owner
    }
}

impl fmt::Debug for Lease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lease")
            .field("api_socket", &self.api_socket)
            .field("proxy_socket", &self.proxy_socket)
            .field("owner", &self.owner)
            .finish_non_exhaustive()
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        // Removed now, so no new connection can reach the listeners while they stop.
        let _ = std::fs::remove_file(&self.api_socket);
        let _ = std::fs::remove_file(&self.proxy_socket);
    }
}

/// `sk-ant-ccgate-` and 32 random bytes, base64url: shaped like an API key so the CLI takes it,
/// recognisable so redaction and humans can tell it from a real one.
fn ephemeral_key() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!(
        "sk-ant-ccgate-{}",
        data_encoding::BASE64URL_NOPAD.encode(&bytes)
    )
}

/// Does `presented` equal the lease's key? Constant time in the key's contents.
fn key_matches(presented: &[u8], key: &SecretString) -> bool {
    use subtle::ConstantTimeEq;
    presented.ct_eq(key.expose_secret().as_bytes()).into()
}

/// Bind a Unix socket at `path`, 0600. A socket file already there is removed if nothing
/// listens on it any more; anything else at the path is an error.
fn bind(path: &Path) -> io::Result<UnixListener> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => {
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!("{} is in use by another lease", path.display()),
                ));
            }
            std::fs::remove_file(path)?;
        }
        Ok(_) => {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} exists and is not a socket", path.display()),
            ))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

/// How long a client may take to send a request's headers, and so also how long an idle
/// kept-alive connection stays open (hyper starts the clock when it waits for the next request).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Serve HTTP/1.1 on `listener` with `handle` until `stopped` fires (its sender dropped). Every
/// connection runs in the server's own task set, so stopping ends them all.
fn spawn_server<F, Fut>(listener: UnixListener, mut stopped: watch::Receiver<()>, handle: F)
where
    F: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<Response<Body>, Infallible>> + Send + 'static,
{
    tokio::spawn(async move {
        let mut connections = JoinSet::new();
        loop {
            tokio::select! {
                _ = stopped.changed() => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => {
                        let handle = handle.clone();
                        connections.spawn(async move {
                            let served = hyper::server::conn::http1::Builder::new()
                                .timer(TokioTimer::new())
                                .header_read_timeout(HEADER_READ_TIMEOUT)
                                .serve_connection(
                                    TokioIo::new(stream),
                                    hyper::service::service_fn(handle),
                                )
                                .with_upgrades()
                                .await;
                            if let Err(e) = served {
                                tracing::debug!(error = %e, "egress: connection ended");
                            }
                        });
                    }
                    Err(e) => {
                        // Out of descriptors, most likely: back off instead of spinning.
                        tracing::warn!(error = %e, "egress: accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
        // Dropping the set aborts every connection still open.
    });
}

/// Hop-by-hop headers (RFC 9110 §7.6.1), never forwarded in either direction.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Remove hop-by-hop headers, including those the `Connection` header names.
fn strip_hop_by_hop(headers: &mut hyper::HeaderMap) {
    let named: Vec<String> = headers
        .get_all(hyper::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .collect();
    for name in HOP_BY_HOP
        .iter()
        .copied()
        .chain(named.iter().map(String::as_str))
    {
        headers.remove(name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn egress_ephemeral_keys_are_fresh_and_compare_exactly() {
        let a = SecretString::from(ephemeral_key());
        let b = ephemeral_key();
        assert!(a.expose_secret().starts_with("sk-ant-ccgate-"));
        assert_eq!(a.expose_secret().len(), "sk-ant-ccgate-".len() + 43);
        assert_ne!(a.expose_secret(), b);
        assert!(key_matches(a.expose_secret().as_bytes(), &a));
        assert!(!key_matches(b.as_bytes(), &a));
        let prefix = &a.expose_secret()[..a.expose_secret().len() - 1];
        assert!(!key_matches(prefix.as_bytes(), &a));
        assert!(!key_matches(b"", &a));
    }

    #[test]
    fn egress_hop_by_hop_headers_are_stripped_with_those_connection_names() {
        let mut h = hyper::HeaderMap::new();
        h.insert("connection", "keep-alive, X-Secret".parse().unwrap());
        h.insert("x-secret", "1".parse().unwrap());
        h.insert("transfer-encoding", "chunked".parse().unwrap());
        h.insert("anthropic-version", "2023-06-01".parse().unwrap());
        strip_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key("anthropic-version"));
    }

    #[test]
    fn egress_rejects_an_upstream_that_is_not_a_plain_http_base() {
        struct Nobody;
        impl UsageSink for Nobody {
            fn admit<'a>(&'a self, _: &'a Owner) -> Admission<'a> {
                Box::pin(async { Ok(()) })
            }
            fn record(&self, _: &Owner, _: &Usage) {}
            fn denied(&self, _: &Owner, _: &str, _: &str) {}
        }
        for bad in ["ftp://x", "https://x/?q=1", "https://x/#f", "mailto:a@b"] {
            let mut c = EgressConfig::new(UpstreamCredential::ApiKey("k".into()));
            c.upstream_base = reqwest::Url::parse(bad).unwrap();
            assert!(
                matches!(
                    Egress::new(c, Arc::new(Nobody)),
                    Err(EgressError::BadUpstream(_))
                ),
                "{bad}"
            );
        }
    }
}
