//! Preparing one `claude` process: its private HOME, environment, egress lease and the
//! boundary command.
//!
//! Why it exists: chat turns, scheduled jobs and webhook runs all start the CLI the same way,
//! and every detail here is security-relevant — which credential the child holds (an ephemeral
//! key, never the real one, when contained), which HOME it writes (a private one per Telegram
//! user, never the operator's), which sockets it can reach. One place decides it, computed
//! from settings once ([`Launcher::new`]) and applied per process ([`Launcher::prepare`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use secrecy::ExposeSecret;

use super::{Prepared, SpawnSpec};
use crate::egress::{Egress, Lease, Owner, UpstreamCredential};
use crate::jail::{Cell, Jail, Lifeline, API_PORT, PROXY_PORT};
use crate::policy::secret_files::SecretFiles;

/// Variables ccgate sets itself; whatever the environment had under these names is dropped.
const OWN_VARS: &[&str] = &[
    "HOME",
    "CLAUDE_CONFIG_DIR",
    "TMPDIR",
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_AUTH_TOKEN",
    "ANTHROPIC_BASE_URL",
    "CLAUDE_CODE_OAUTH_TOKEN",
    "HTTPS_PROXY",
    "HTTP_PROXY",
    "https_proxy",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
];

/// Everything a launch needs, fixed at start.
pub struct Launcher {
    jail: Arc<Jail>,
    egress: Option<Egress>,
    /// Why contained launches cannot reach the model, when they cannot.
    no_credential: Option<String>,
    homes: PathBuf,
    base_env: Vec<(String, String)>,
    /// For `SANDBOX=off` only: the real endpoint and credential, as the CLI reads them.
    direct_env: Vec<(String, String)>,
    secrets: SecretFiles,
    /// The operator's MCP servers (`MCP_CONFIG_PATH`), passed to every process.
    mcp: Arc<crate::policy::mcp::OperatorMcp>,
}

/// How a launch failed, in words for the user (and the operator).
pub type LaunchError = String;

impl Launcher {
    /// `base_env` is the allowlisted environment (`runner::env::child_env`); `homes` the base
    /// of the private HOMEs; `egress` the gateway (None when no credential is configured).
    pub fn new(
        jail: Arc<Jail>,
        egress: Option<Egress>,
        credential: Option<&UpstreamCredential>,
        base_url: Option<&str>,
        homes: &Path,
        base_env: Vec<(String, String)>,
        secrets: SecretFiles,
    ) -> std::io::Result<Launcher> {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(homes)?;
        let homes = homes.canonicalize()?;
        let base_env = base_env
            .into_iter()
            .filter(|(k, _)| !OWN_VARS.contains(&k.as_str()))
            .collect();
        let mut direct_env = Vec::new();
        if let Some(u) = base_url {
            direct_env.push(("ANTHROPIC_BASE_URL".to_string(), u.to_string()));
        }
        match credential {
            Some(UpstreamCredential::ApiKey(k)) => {
                direct_env.push(("ANTHROPIC_API_KEY".into(), k.expose_secret().to_string()))
            }
            Some(UpstreamCredential::AuthToken(k)) => {
                direct_env.push(("ANTHROPIC_AUTH_TOKEN".into(), k.expose_secret().to_string()))
            }
            Some(UpstreamCredential::OAuth(k)) => direct_env.push((
                "CLAUDE_CODE_OAUTH_TOKEN".into(),
                k.expose_secret().to_string(),
            )),
            None => {}
        }
        let no_credential = (jail.is_contained() && (credential.is_none() || egress.is_none()))
            .then(|| {
                "ccgate has no Anthropic credential to give its model gateway: set ANTHROPIC_API_KEY (or ANTHROPIC_API_KEY_FILE), ANTHROPIC_AUTH_TOKEN, or CLAUDE_CODE_OAUTH_TOKEN (from `claude setup-token`) in ccgate's environment or .env".to_string()
            });
        Ok(Launcher {
            jail,
            egress,
            no_credential,
            homes,
            base_env,
            direct_env,
            secrets,
            mcp: Arc::default(),
        })
    }

    /// Give every process these MCP servers (validated at start, see `policy::mcp`).
    pub fn with_mcp(mut self, mcp: crate::policy::mcp::OperatorMcp) -> Launcher {
        self.mcp = Arc::new(mcp);
        self
    }

    /// The operator's MCP servers.
    pub fn mcp(&self) -> &crate::policy::mcp::OperatorMcp {
        &self.mcp
    }

    /// The CLI's arguments for `spec`: its own, then one `--mcp-config` with the operator's
    /// servers and, for a caller that answers it, ccgate's own (inline JSON; with
    /// `--strict-mcp-config` these are the only servers the CLI starts).
    pub fn cli_args(&self, spec: &SpawnSpec) -> Vec<String> {
        let mut args = spec.args();
        if let Some(json) = mcp_config(&self.mcp, spec.ccgate_tools) {
            args.push("--mcp-config".into());
            args.push(json);
        }
        args
    }

    pub fn jail(&self) -> &Jail {
        &self.jail
    }

    /// Why no launch can succeed, if so (for `/status` and `doctor`).
    pub fn blocker(&self) -> Option<String> {
        self.jail
            .unavailable()
            .map(|w| crate::jail::JailError::Unavailable(w.to_string()).to_string())
            .or_else(|| self.no_credential.clone())
    }

    /// The private HOME of a Telegram user (or of an automation owner id).
    pub fn home_of(&self, user_id: i64) -> PathBuf {
        self.homes.join(user_id.to_string())
    }

    /// Claude Code's plan folder for that user's processes.
    pub fn plans_dir_of(&self, user_id: i64) -> PathBuf {
        self.home_of(user_id).join(".claude").join("plans")
    }

    /// Prepare `spec` for `owner`: boundary command, environment, lease, private dirs.
    pub async fn prepare(&self, spec: &SpawnSpec, owner: Owner) -> Result<Prepared, LaunchError> {
        if let Some(b) = self.blocker() {
            return Err(b);
        }
        let home = self.home_of(owner.user_id);
        prepare_home(&home).map_err(|e| format!("cannot prepare {}: {e}", home.display()))?;
        let cli = resolve_cli(&spec.cli_path)?;
        let run = crate::jail::tempdir_in(self.jail.runtime())
            .map_err(|e| format!("cannot create a private temp dir: {e}"))?;
        let mut guard = RunDir {
            path: run.clone(),
            lease: None,
        };
        let tmp = run.join("tmp");
        std::fs::create_dir(&tmp).map_err(|e| e.to_string())?;

        let mut env = self.base_env.clone();
        env.push(("HOME".into(), home.display().to_string()));
        env.push((
            "CLAUDE_CONFIG_DIR".into(),
            home.join(".claude").display().to_string(),
        ));
        // The project's CLAUDE.md, via `--add-dir` (see `SpawnSpec::args`).
        env.push((
            "CLAUDE_CODE_ADDITIONAL_DIRECTORIES_CLAUDE_MD".into(),
            "1".into(),
        ));
        let contained = self.jail.is_contained();
        let sockets = if contained {
            let egress = self.egress.as_ref().ok_or("no model gateway")?;
            let dir = run.join("egress");
            let lease = egress
                .open(owner, &dir)
                .await
                .map_err(|e| format!("cannot open the model gateway: {e}"))?;
            env.push((
                "ANTHROPIC_API_KEY".into(),
                lease.key().expose_secret().to_string(),
            ));
            env.push((
                "ANTHROPIC_BASE_URL".into(),
                format!("http://127.0.0.1:{API_PORT}"),
            ));
            let proxy = format!("http://127.0.0.1:{PROXY_PORT}");
            for k in ["HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"] {
                env.push((k.into(), proxy.clone()));
            }
            for k in ["NO_PROXY", "no_proxy"] {
                env.push((k.into(), "127.0.0.1,localhost".into()));
            }
            env.push(("TMPDIR".into(), "/tmp".into()));
            if !env
                .iter()
                .any(|(k, _)| k == "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC")
            {
                // Nothing but the gateway is reachable anyway; don't let the CLI try.
                env.push((
                    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC".into(),
                    "1".into(),
                ));
            }
            guard.lease = Some(lease);
            Some(dir)
        } else {
            env.extend(self.direct_env.iter().cloned());
            env.push(("TMPDIR".into(), tmp.display().to_string()));
            None
        };

        let cell = Cell {
            project: &spec.cwd,
            home: &home,
            tmp: &tmp,
            sockets: sockets.as_deref(),
            cli: &cli,
            secrets: &self.secrets,
        };
        // The servers' files, read-only at their own paths (only a boundary has mounts; without
        // one the servers see the host as Claude does).
        let overlays: Vec<(PathBuf, PathBuf)> = if contained {
            self.mcp
                .mounts()
                .into_iter()
                .map(|p| (p.clone(), p))
                .collect()
        } else {
            Vec::new()
        };
        let mut command = self
            .jail
            .command_with(&cell, &self.cli_args(spec), &overlays)
            .map_err(|e| e.to_string())?;
        command.env_clear().envs(env);
        let (lifeline, reader) = Lifeline::new().map_err(|e| e.to_string())?;
        crate::jail::lifeline::attach(&mut command, reader);
        Ok(Prepared {
            command,
            lifeline,
            guard: Box::new(guard),
        })
    }
}

/// The private temp dir and the lease of one process; both end with it.
struct RunDir {
    path: PathBuf,
    lease: Option<Lease>,
}

impl Drop for RunDir {
    fn drop(&mut self) {
        self.lease.take();
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Create the private HOME with what the CLI and git need, and nothing of the operator's.
fn prepare_home(home: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(home.join(".claude"))?;
    let gitconfig = home.join(".gitconfig");
    if !gitconfig.exists() {
        // `git commit` inside the project needs an identity; the operator's is not ours to lend.
        std::fs::write(
            &gitconfig,
            "[user]\n\tname = Claude (via ccgate)\n\temail = claude@ccgate.invalid\n[init]\n\tdefaultBranch = main\n",
        )?;
    }
    Ok(())
}

/// The CLI's real path: a bare name is looked up in `PATH`, links are resolved (the file is
/// mounted read-only into the sandbox at that path).
fn resolve_cli(cli: &Path) -> Result<PathBuf, LaunchError> {
    crate::jail::which(cli)
        .and_then(|p| p.canonicalize().ok())
        .filter(|p| p.is_file())
        .ok_or_else(|| {
            format!(
                "the claude CLI ({}) was not found; install it (npm install -g @anthropic-ai/claude-code) or set CLAUDE_CLI_PATH",
                cli.display()
            )
        })
}

/// The project's path below the approved directory (`.` for the root), for logs and usage rows.
pub fn dir_label(root: &Path, dir: &Path) -> String {
    match dir.strip_prefix(root) {
        Ok(rel) if rel.as_os_str().is_empty() => ".".into(),
        Ok(rel) => rel.display().to_string(),
        Err(_) => dir.display().to_string(),
    }
}

/// The gateway's accounts: budgets before each model request, a row after it, an audit row
/// for every refused egress.
pub struct StoreSink {
    store: crate::store::Store,
    budgets: crate::policy::budget::Budgets,
}

impl StoreSink {
    pub fn new(config: &crate::config::Config, store: &crate::store::Store) -> StoreSink {
        StoreSink {
            store: store.clone(),
            budgets: crate::policy::budget::Budgets {
                per_user: config.max_cost_per_user,
                global: config.max_cost_global,
            },
        }
    }
}

impl crate::egress::UsageSink for StoreSink {
    fn admit<'a>(&'a self, owner: &'a Owner) -> crate::egress::Admission<'a> {
        Box::pin(self.admit_now(owner))
    }

    fn record(&self, owner: &Owner, usage: &crate::egress::Usage) {
        let row = crate::store::ModelRequestRow {
            user_id: owner.user_id,
            chat_id: owner.chat_id,
            label: owner.label.clone(),
            model: usage.model.clone(),
            status: usage.status,
            input_tokens: usage.input_tokens,
            output_tokens: usage.output_tokens,
            cache_creation_tokens: usage.cache_creation_input_tokens,
            cache_read_tokens: usage.cache_read_input_tokens,
            cost_usd: usage.cost_usd(),
            duration_ms: usage.duration.as_millis() as u64,
        };
        // Called when a response body ends (a drop): the write is queued on its own task.
        let store = self.store.clone();
        queue(async move {
            if let Err(e) = store.record_model_request(&row).await {
                tracing::error!(error = %e, "could not record a model request");
            }
        });
    }

    fn denied(&self, owner: &Owner, target: &str, reason: &str) {
        tracing::warn!(user = owner.user_id, %target, %reason, "egress refused");
        let (store, user, chat) = (self.store.clone(), owner.user_id, owner.chat_id);
        let details =
            serde_json::json!({"target": target, "reason": reason, "project": owner.label});
        queue(async move {
            crate::audit::record(
                &store,
                Some(user),
                Some(chat),
                crate::audit::Event::EgressDenied,
                &details,
            )
            .await;
        });
    }
}

/// Run a sink's database write on its own task (the gateway's callbacks must not wait).
fn queue(work: impl std::future::Future<Output = ()> + Send + 'static) {
    match tokio::runtime::Handle::try_current() {
        Ok(rt) => drop(rt.spawn(work)),
        Err(_) => tracing::error!("no runtime to record the gateway's usage on"),
    }
}

impl StoreSink {
    async fn admit_now(&self, owner: &Owner) -> Result<(), String> {
        // Live: the gateway's own tally grows with every request of a running turn, while the
        // ledger learns a turn's cost only when it ends. Both measure the same spend, so the
        // larger one counts (never their sum).
        let Ok(s) = self.store.spend_today(owner.user_id).await else {
            return Err(
                "ccgate cannot read its cost ledger; refusing to spend (fail closed)".into(),
            );
        };
        let (user_spent, global_spent) =
            (s.ledger_user.max(s.seen_user), s.ledger_all.max(s.seen_all));
        match crate::policy::budget::check(
            &self.budgets,
            user_spent,
            global_spent,
            chrono::Utc::now(),
        ) {
            crate::policy::budget::BudgetVerdict::Ok => Ok(()),
            crate::policy::budget::BudgetVerdict::Exceeded {
                scope, limit, spent, ..
            } => Err(format!(
                "ccgate: {scope} daily budget is used up (${spent:.2} of ${limit:.2}); no more model requests today"
            )),
        }
    }
}

/// The one `--mcp-config` value: the operator's servers and, for a caller that answers it,
/// ccgate's own ([`crate::mcp`]); `None` when there are none.
pub fn mcp_config(
    operator: &crate::policy::mcp::OperatorMcp,
    ccgate_tools: bool,
) -> Option<String> {
    let own: Vec<(String, serde_json::Value)> = if ccgate_tools {
        vec![(crate::mcp::SERVER_NAME.into(), crate::mcp::config_entry())]
    } else {
        Vec::new()
    };
    crate::policy::mcp::mcp_config_json(operator, &own)
}
