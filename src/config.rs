//! Settings, read once at start-up from the process environment and a `.env` file.
//!
//! Why a module of its own: every other module receives an already-validated [`Config`], so a
//! typo in an operator's `.env` fails loudly at start (naming the variable, exit code 2) instead
//! of surfacing as odd behaviour mid-conversation. Variable names follow the reference bot
//! (`claude-code-telegram`) so an existing `.env` keeps working. Precedence is simple and
//! explicit: a variable set in the real environment always wins over the same name in `.env`;
//! nothing else (no "profile") ever overrides what the user set.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use crate::policy::roles::Role;

pub mod projects;
pub mod vars;

/// A variable that was set.
#[derive(Debug, Clone)]
pub struct Setting {
    pub name: &'static str,
    pub origin: Origin,
    /// `None` for secrets, which are never shown.
    pub value: Option<String>,
}

/// Where a setting's value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Environment,
    EnvFile,
    /// Computed by ccgate (e.g. the database under `$STATE_DIRECTORY`).
    Derived,
}

impl Origin {
    pub fn label(self) -> &'static str {
        match self {
            Origin::Environment => "environment",
            Origin::EnvFile => ".env",
            Origin::Derived => "derived",
        }
    }
}

/// The stand-in bot token of [`Config::load_offline`]: well-formed, and no real bot's.
const OFFLINE_TOKEN: &str = "0:offline-operator-command-no-bot-token";

/// A configuration problem, always naming the variable at fault.
#[derive(Debug, thiserror::Error)]
#[error("configuration error in {var}: {message}")]
pub struct ConfigError {
    pub var: &'static str,
    pub message: String,
}

impl ConfigError {
    fn new(var: &'static str, message: impl Into<String>) -> Self {
        Self {
            var,
            message: message.into(),
        }
    }
}

/// The validated settings of one ccgate instance.
#[derive(Debug, Clone)]
pub struct Config {
    pub telegram_bot_token: SecretString,
    pub telegram_bot_username: Option<String>,
    /// Base URL of the Bot API without the `/bot<token>` part.
    pub telegram_api_url: String,
    /// Long-poll timeout passed to `getUpdates`.
    pub telegram_poll_timeout: Duration,
    /// Root every chat is confined to; canonical (symlinks resolved).
    pub approved_directory: PathBuf,
    /// Telegram user ids allowed to use the bot. Empty means nobody (fail closed).
    pub allowed_users: Vec<i64>,
    pub claude_cli_path: PathBuf,
    pub claude_model: Option<String>,
    pub claude_max_turns: u32,
    /// Upper bound for one turn; past it the turn is interrupted and reported as an error.
    pub claude_timeout: Duration,
    /// A `claude` process idle this long is stopped; the next message resumes the session.
    pub claude_idle_timeout: Duration,
    /// Most live `claude` processes over all chats and unattended runs (see [`crate::runner::pool`]).
    pub max_claude_processes: usize,
    /// Extra environment variable names passed through to `claude` (beyond the built-in allowlist).
    pub claude_env_passthrough: Vec<String>,
    pub verbose_level: u8,
    /// `STREAM_DRAFTS`: progress in private chats as `sendMessageDraft` (see the outbox).
    pub stream_drafts: bool,
    /// Path of the SQLite database file.
    pub database_path: PathBuf,
    pub log_level: String,
    /// Directory for the single-poller lock file.
    pub lock_dir: PathBuf,

    // ----- limits -----
    /// Per-user token bucket: `rate_limit_requests` messages per `rate_limit_window`,
    /// with bursts of up to `rate_limit_burst`.
    pub rate_limit_requests: u32,
    pub rate_limit_window: Duration,
    pub rate_limit_burst: u32,
    /// Daily real-cost budget per user (USD, UTC day). `None` = unlimited.
    pub max_cost_per_user: Option<f64>,
    /// Passed to `claude` as `--max-budget-usd`.
    pub max_cost_per_request: Option<f64>,
    /// Daily real-cost budget over all users.
    pub max_cost_global: Option<f64>,

    // ----- access -----
    /// Group and supergroup chat ids where the bot works; groups are off unless listed.
    pub allowed_groups: Vec<i64>,
    /// Explicit roles; allowed users without one get `default_role`.
    pub user_roles: HashMap<i64, Role>,
    pub default_role: Role,
    /// Top-level project folder → users who may work in it. Unlisted projects are open to all
    /// allowed users.
    pub project_access: HashMap<String, Vec<i64>>,
    /// Project topics (`PROJECTS_PATH` + `PROJECTS_CHAT_ID`); `None` = off.
    pub projects: Option<ProjectsConfig>,
    /// Require `/login <token>` in addition to the allowlist.
    pub enable_token_auth: bool,
    /// Key for hashing login tokens (HMAC-SHA256). Required with token auth.
    pub auth_token_secret: Option<SecretString>,
    /// An auth session ends after this much inactivity.
    pub session_timeout: Duration,
    /// Unknown users who DM the bot get a pairing code for the operator to approve.
    pub pairing: bool,
    /// Extra secret-file globs on top of the built-in ones (which cannot be removed).
    pub secret_file_patterns: Vec<String>,
    /// Extra secret values (from `*_FILE` or env) that must be redacted everywhere.
    pub extra_secrets: Vec<SecretString>,
    /// The `.env` file that was read, if any (its permissions are checked at start).
    pub env_file: Option<PathBuf>,
    /// The variables that were set, where from and (secrets excepted) their value after path
    /// resolution, in table order; for `ccgate check` (filled by `load`).
    pub settings: Vec<Setting>,
    /// The files secrets were read from (`NAME_FILE`), by setting: their permissions matter.
    pub secret_sources: Vec<(&'static str, PathBuf)>,
    /// How long a human has to answer an approval before it is denied.
    pub approval_timeout: Duration,
    /// Tool-call rules (TOML); built-in secure defaults when unset.
    pub policy_file: Option<PathBuf>,
    /// `MCP_CONFIG_PATH`: the operator's MCP servers, validated by [`Config::mcp_servers`].
    pub mcp_config_path: Option<PathBuf>,
    /// The HTTP side: webhook API, Telegram webhook mode, health and metrics.
    pub server: ServerConfig,
    /// Scheduled jobs.
    pub scheduler: SchedulerConfig,
    /// Documents, photos and archives sent into the chat.
    pub media: MediaConfig,
    /// The OS boundary around `claude` and its egress.
    pub sandbox: SandboxConfig,
    /// How ccgate itself reaches the model API (the child never gets these).
    pub anthropic: AnthropicConfig,
    /// Signed audit checkpoints.
    pub audit: AuditConfig,
}

/// Settings of signed audit checkpoints (`audit::checkpoint`, `audit::signer`).
#[derive(Debug, Clone)]
pub struct AuditConfig {
    /// `AUDIT_SIGNING_KEY_FILE` or `AUDIT_PKCS11_*`: the key checkpoints are signed with; none
    /// means no checkpoints (a cut tail stays undetectable, said at start).
    pub signing_key: Option<crate::audit::signer::KeySource>,
    /// `AUDIT_VERIFY_KEY`: the public keys `audit verify` accepts (pinned; see the trust model).
    pub verify_keys: Vec<ed25519_dalek::VerifyingKey>,
    /// `AUDIT_CHECKPOINT_ROWS`: sign after this many new rows.
    pub checkpoint_rows: u64,
    /// `AUDIT_CHECKPOINT_MINUTES`: sign this often while new rows come.
    pub checkpoint_interval: Duration,
    /// `AUDIT_CHECKPOINT_NOTIFY`: send each checkpoint's seq and digest to the admins.
    pub checkpoint_notify: bool,
}

/// Settings of the OS boundary (`jail`) and the egress gateway (`egress`).
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// `SANDBOX`: `on` (default; fail closed when the kernel cannot provide it) or `off`.
    pub enabled: bool,
    /// `BWRAP_PATH`, default `bwrap` from `PATH`.
    pub bwrap: PathBuf,
    /// `SANDBOX_READ_ONLY_PATHS`: extra trees visible read-only inside (toolchains, `/opt`).
    pub read_only: Vec<PathBuf>,
    /// `SANDBOX_SCAN_LIMIT`: most entries walked in a project to find secret files.
    pub scan_limit: usize,
    /// `CLAUDE_HOME_DIR`: base of the private per-user HOMEs (default `<data dir>/claude-home`).
    pub home_dir: PathBuf,
    /// `EGRESS_ALLOW`: hosts tools inside may reach through the proxy (empty: none).
    pub egress_allow: Vec<crate::egress::AllowEntry>,
}

/// The real model-API endpoint and credential, used only by ccgate's gateway.
#[derive(Clone)]
pub struct AnthropicConfig {
    /// `ANTHROPIC_BASE_URL` (default the public API).
    pub base_url: Option<String>,
    /// `ANTHROPIC_API_KEY[_FILE]`, `ANTHROPIC_AUTH_TOKEN[_FILE]` or
    /// `CLAUDE_CODE_OAUTH_TOKEN[_FILE]` (from `claude setup-token`), first match wins.
    pub credential: Option<crate::egress::UpstreamCredential>,
}

impl std::fmt::Debug for AnthropicConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AnthropicConfig")
            .field("base_url", &self.base_url)
            .field("credential", &self.credential)
            .finish()
    }
}

/// Settings of the HTTP server (`api` module).
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// `ENABLE_API_SERVER`: webhooks, `/healthz`, `/readyz`, `/metrics`.
    pub enabled: bool,
    /// `API_SERVER_BIND`, default `127.0.0.1:8080` (loopback: put a TLS proxy in front).
    pub bind: std::net::SocketAddr,
    /// `GITHUB_WEBHOOK_SECRET`: unset disables `/webhooks/github` (404).
    pub github_webhook_secret: Option<SecretString>,
    /// `WEBHOOK_API_SECRET`: unset disables `/webhooks/{provider}` (404).
    pub webhook_api_secret: Option<SecretString>,
    /// `WEBHOOK_MAX_BODY_BYTES`, default 1 MiB; larger bodies get 413.
    pub max_body_bytes: usize,
    /// `WEBHOOK_RATE_LIMIT`: requests per minute per source address (429 beyond).
    pub rate_limit_per_minute: u32,
    /// `WEBHOOK_TIMESTAMP_TOLERANCE` (seconds): how old a signed generic request may be.
    pub timestamp_tolerance: Duration,
    /// `TRIGGERS_FILE`: which events run what (TOML); no triggers when unset.
    pub triggers_file: Option<PathBuf>,
    /// `TELEGRAM_WEBHOOK_URL`: receive updates by webhook instead of polling.
    pub telegram_webhook_url: Option<String>,
}

/// Settings of the scheduler.
#[derive(Debug, Clone)]
pub struct MediaConfig {
    /// Largest accepted upload, in bytes (checked on Telegram's size and on the bytes).
    pub max_upload_bytes: u64,
    /// Largest file sent to a chat (`send_file`, `/get`), in bytes.
    pub max_send_bytes: u64,
    /// Where uploads go, relative to the chat's project (a plain relative path).
    pub upload_dir: PathBuf,
    /// Largest image attached to a prompt as an image block.
    pub max_image_bytes: u64,
    /// `MAX_TURN_IMAGE_BYTES`: the images of one prompt (an album) together.
    pub max_turn_image_bytes: u64,
    pub archive: crate::media::archive::Limits,
    /// Album parts arriving within this long of each other become one turn.
    pub album_window: Duration,
    /// Voice notes and audio files (transcribed into prompts).
    pub voice: VoiceConfig,
}

/// Where voice notes are transcribed (`VOICE_*`, `MAX_VOICE_*`); off without a URL.
#[derive(Debug, Clone)]
pub struct VoiceConfig {
    /// `VOICE_TRANSCRIPTION_URL`: the API base (`…/v1`); `None` = voice notes off.
    pub url: Option<reqwest::Url>,
    pub model: String,
    /// Sent as a Bearer token; redacted everywhere, never given to Claude.
    pub api_key: Option<SecretString>,
    /// ISO-639-1 hint.
    pub language: Option<String>,
    pub max_seconds: u64,
    pub max_bytes: u64,
}

#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    /// `ENABLE_SCHEDULER`, default on.
    pub enabled: bool,
    /// `SCHEDULER_TIMEZONE`: the zone of crons given without one (default UTC).
    pub default_tz: chrono_tz::Tz,
}

impl Config {
    /// Load from the process environment, then `env_file` for names the environment lacks.
    ///
    /// A missing `env_file` is fine (the environment alone may configure everything); an
    /// unreadable or malformed one is an error.
    pub fn load(env_file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_inner(env_file, false)
    }

    /// Like [`Config::load`], for operator commands that never talk to Telegram (`policy`,
    /// `audit`, `totp`, `pair`, `token`, `schedule`, `unlock`): a missing bot token is fine.
    /// A stand-in takes its place, which nothing sends anywhere.
    pub fn load_offline(env_file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_inner(env_file, true)
    }

    fn load_inner(env_file: Option<&Path>, token_optional: bool) -> Result<Self, ConfigError> {
        let mut vars: HashMap<String, String> = HashMap::new();
        if let Some(path) = env_file {
            if path.exists() {
                let iter = dotenvy::from_path_iter(path).map_err(|e| {
                    ConfigError::new("ENV_FILE", format!("cannot read {}: {e}", path.display()))
                })?;
                for item in iter {
                    let (k, v) = item.map_err(|e| {
                        ConfigError::new("ENV_FILE", format!("malformed {}: {e}", path.display()))
                    })?;
                    vars.insert(k, v);
                }
            }
        }
        let from_file: std::collections::HashSet<String> = vars.keys().cloned().collect();
        // The real environment wins over the file.
        let mut from_env = std::collections::HashSet::new();
        for (k, v) in std::env::vars_os() {
            if let (Ok(k), Ok(v)) = (k.into_string(), v.into_string()) {
                from_env.insert(k.clone());
                vars.insert(k, v);
            }
        }
        let base = env_file
            .filter(|p| p.is_file())
            .and_then(|p| std::path::absolute(p).ok())
            .and_then(|p| p.parent().map(Path::to_path_buf));
        resolve_paths(&mut vars, base.as_deref());
        let has = |k: &str| vars.get(k).is_some_and(|v| !v.trim().is_empty());
        if token_optional && !has("TELEGRAM_BOT_TOKEN") && !has("TELEGRAM_BOT_TOKEN_FILE") {
            vars.insert("TELEGRAM_BOT_TOKEN".into(), OFFLINE_TOKEN.into());
        }
        let mut config = Self::from_map(&vars)?;
        config.env_file = env_file.filter(|p| p.exists()).map(Path::to_path_buf);
        for v in vars::VARS {
            let set = |k: &str| vars.get(k).is_some_and(|x| !x.trim().is_empty());
            let file_var = format!("{}_FILE", v.name);
            let named = if set(v.name) {
                v.name.to_string()
            } else if v.secret && set(&file_var) {
                if let Some(path) = vars.get(&file_var) {
                    config
                        .secret_sources
                        .push((v.name, PathBuf::from(path.trim())));
                }
                file_var
            } else {
                continue;
            };
            let origin = if from_env.contains(&named) {
                Origin::Environment
            } else if from_file.contains(&named) {
                Origin::EnvFile
            } else {
                Origin::Derived
            };
            config.settings.push(Setting {
                name: v.name,
                origin,
                value: (!v.secret).then(|| vars.get(&named).cloned().unwrap_or_default()),
            });
        }
        Ok(config)
    }

    /// Build from an explicit name → value map (what `load` gathers); used directly by tests.
    pub fn from_map(vars: &HashMap<String, String>) -> Result<Self, ConfigError> {
        // A set value, else the table's default (`vars::VARS` is the one source of defaults).
        let get = |name: &str| {
            let var = vars::lookup(name);
            debug_assert!(var.is_some(), "{name} is not in config::vars::VARS");
            vars.get(name)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
                .or_else(|| var.and_then(|v| v.default_value()).map(str::to_string))
        };

        let token = get_secret(vars, "TELEGRAM_BOT_TOKEN", "TELEGRAM_BOT_TOKEN_FILE")?
            .ok_or_else(|| ConfigError::new("TELEGRAM_BOT_TOKEN", "is required"))?;
        validate_bot_token(&token)?;

        let telegram_api_url = get("TELEGRAM_API_URL")
            .unwrap_or_default()
            .trim_end_matches('/')
            .to_string();
        if !(telegram_api_url.starts_with("https://") || telegram_api_url.starts_with("http://")) {
            return Err(ConfigError::new(
                "TELEGRAM_API_URL",
                "must start with https:// (or http:// for a local test server)",
            ));
        }

        let approved = get("APPROVED_DIRECTORY")
            .ok_or_else(|| ConfigError::new("APPROVED_DIRECTORY", "is required"))?;
        // Refuse `/`, `/etc`, `$HOME` and other trees that would expose the whole machine.
        let home = vars.get("HOME").map(PathBuf::from);
        let approved_directory = crate::policy::approved_dir::validate_approved_dir(
            Path::new(&approved),
            home.as_deref(),
        )
        .map_err(|e| ConfigError::new("APPROVED_DIRECTORY", e.to_string()))?;

        let allowed_users = match get("ALLOWED_USERS") {
            None => Vec::new(),
            Some(s) => parse_id_list(&s).map_err(|m| ConfigError::new("ALLOWED_USERS", m))?,
        };

        let claude_max_turns = parse_num(get("CLAUDE_MAX_TURNS"), "CLAUDE_MAX_TURNS", 1, 1000)?;
        let timeout_secs = parse_num(
            get("CLAUDE_TIMEOUT_SECONDS"),
            "CLAUDE_TIMEOUT_SECONDS",
            1,
            86_400,
        )?;
        let idle_secs = parse_num(
            get("CLAUDE_IDLE_TIMEOUT_SECONDS"),
            "CLAUDE_IDLE_TIMEOUT_SECONDS",
            1,
            86_400 * 7,
        )?;
        // Unset: derived from the memory available at start (one read of /proc/meminfo).
        let max_claude_processes = match get("MAX_CLAUDE_PROCESSES") {
            Some(raw) => parse_num(Some(raw), "MAX_CLAUDE_PROCESSES", 1, 10_000)? as usize,
            None => crate::runner::pool::default_max(
                &std::fs::read_to_string("/proc/meminfo").unwrap_or_default(),
            ),
        };
        let poll_secs = parse_num(
            get("TELEGRAM_POLL_TIMEOUT_SECONDS"),
            "TELEGRAM_POLL_TIMEOUT_SECONDS",
            0,
            50,
        )?;
        let verbose_level = parse_num(get("VERBOSE_LEVEL"), "VERBOSE_LEVEL", 0, 2)? as u8;

        let database_url = get("DATABASE_URL").unwrap_or_default();
        let database_path = parse_database_url(&database_url)?;

        let log_level = get("LOG_LEVEL").unwrap_or_default();
        validate_log_filter(&log_level).map_err(|why| {
            ConfigError::new(
                "LOG_LEVEL",
                format!("{log_level:?} is not a valid level or filter: {why} (try info, or info,ccgate=debug)"),
            )
        })?;

        let rate_limit_requests = parse_num(
            get("RATE_LIMIT_REQUESTS"),
            "RATE_LIMIT_REQUESTS",
            1,
            100_000,
        )? as u32;
        let rate_limit_window = Duration::from_secs(parse_num(
            get("RATE_LIMIT_WINDOW"),
            "RATE_LIMIT_WINDOW",
            1,
            86_400,
        )?);
        let rate_limit_burst =
            parse_num(get("RATE_LIMIT_BURST"), "RATE_LIMIT_BURST", 1, 100_000)? as u32;
        let max_cost_per_user =
            parse_money(get("CLAUDE_MAX_COST_PER_USER"), "CLAUDE_MAX_COST_PER_USER")?;
        let max_cost_per_request = parse_money(
            get("CLAUDE_MAX_COST_PER_REQUEST"),
            "CLAUDE_MAX_COST_PER_REQUEST",
        )?;
        let max_cost_global = parse_money(get("CLAUDE_MAX_COST_GLOBAL"), "CLAUDE_MAX_COST_GLOBAL")?;

        let allowed_groups = match get("ALLOWED_GROUPS") {
            None => Vec::new(),
            Some(s) => {
                let ids =
                    parse_signed_id_list(&s).map_err(|m| ConfigError::new("ALLOWED_GROUPS", m))?;
                if let Some(bad) = ids.iter().find(|id| **id > 0) {
                    return Err(ConfigError::new(
                        "ALLOWED_GROUPS",
                        format!("{bad} is a user id; group chat ids are negative"),
                    ));
                }
                ids
            }
        };
        let default_role = match get("DEFAULT_ROLE") {
            None => return Err(ConfigError::new("DEFAULT_ROLE", "has no default")),
            Some(r) => Role::parse(&r).ok_or_else(|| {
                ConfigError::new(
                    "DEFAULT_ROLE",
                    format!("{r:?} is not one of viewer, developer, admin"),
                )
            })?,
        };
        let user_roles = match get("USER_ROLES") {
            None => HashMap::new(),
            Some(s) => parse_roles(&s).map_err(|m| ConfigError::new("USER_ROLES", m))?,
        };
        let project_access = match get("PROJECT_ACCESS") {
            None => HashMap::new(),
            Some(s) => {
                parse_project_access(&s).map_err(|m| ConfigError::new("PROJECT_ACCESS", m))?
            }
        };
        let projects = parse_projects(&get, &allowed_groups)?;
        let enable_token_auth = parse_bool(get("ENABLE_TOKEN_AUTH"), "ENABLE_TOKEN_AUTH")?;
        let auth_token_secret = get_secret(vars, "AUTH_TOKEN_SECRET", "AUTH_TOKEN_SECRET_FILE")?;
        if let Some(s) = &auth_token_secret {
            if s.len() < 32 {
                return Err(ConfigError::new(
                    "AUTH_TOKEN_SECRET",
                    "must be at least 32 characters (try: openssl rand -hex 32)",
                ));
            }
        }
        if enable_token_auth && auth_token_secret.is_none() {
            return Err(ConfigError::new(
                "AUTH_TOKEN_SECRET",
                "is required when ENABLE_TOKEN_AUTH is on",
            ));
        }
        let session_timeout = Duration::from_secs(
            parse_num(
                get("SESSION_TIMEOUT_HOURS"),
                "SESSION_TIMEOUT_HOURS",
                1,
                24 * 365,
            )? * 3600,
        );
        let pairing = match get("PAIRING")
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("on") | Some("true") | Some("1") | Some("yes") => true,
            Some("off") | Some("false") | Some("0") | Some("no") => false,
            Some(other) => {
                return Err(ConfigError::new(
                    "PAIRING",
                    format!("{other:?} is not on or off"),
                ))
            }
        };
        let secret_file_patterns: Vec<String> = get("SECRET_FILE_PATTERNS")
            .map(|s| split_list(&s).map(str::to_string).collect())
            .unwrap_or_default();
        // Refuse bad globs and attempts to lift built-in protections at start-up.
        crate::policy::secret_files::SecretFiles::new(&secret_file_patterns)
            .map_err(|e| ConfigError::new("SECRET_FILE_PATTERNS", e.to_string()))?;
        let mut extra_secrets: Vec<SecretString> = Vec::new();
        let api_key = get_secret(vars, "ANTHROPIC_API_KEY", "ANTHROPIC_API_KEY_FILE")?;
        let auth_token = get_secret(vars, "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_AUTH_TOKEN_FILE")?;
        let oauth = get_secret(
            vars,
            "CLAUDE_CODE_OAUTH_TOKEN",
            "CLAUDE_CODE_OAUTH_TOKEN_FILE",
        )?;
        for v in [&api_key, &auth_token, &oauth].into_iter().flatten() {
            extra_secrets.push(SecretString::from(v.clone()));
        }
        use crate::egress::UpstreamCredential as Cred;
        let credential = if let Some(k) = api_key {
            Some(Cred::ApiKey(SecretString::from(k)))
        } else if let Some(t) = auth_token {
            Some(Cred::AuthToken(SecretString::from(t)))
        } else {
            oauth.map(|t| Cred::OAuth(SecretString::from(t)))
        };
        let anthropic_base = get("ANTHROPIC_BASE_URL");
        if let Some(u) = &anthropic_base {
            match reqwest::Url::parse(u) {
                Ok(url) if matches!(url.scheme(), "http" | "https") => {}
                _ => {
                    return Err(ConfigError::new(
                        "ANTHROPIC_BASE_URL",
                        "must be an http(s) URL",
                    ))
                }
            }
        }
        let sandbox = SandboxConfig {
            enabled: match get("SANDBOX")
                .as_deref()
                .map(str::to_ascii_lowercase)
                .as_deref()
            {
                None | Some("on") | Some("true") | Some("1") | Some("bwrap") => true,
                Some("off") | Some("false") | Some("0") => false,
                Some(other) => {
                    return Err(ConfigError::new(
                        "SANDBOX",
                        format!("{other:?}: use on (default) or off"),
                    ))
                }
            },
            bwrap: PathBuf::from(get("BWRAP_PATH").unwrap_or_default()),
            read_only: get("SANDBOX_READ_ONLY_PATHS")
                .map(|s| split_list(&s).map(PathBuf::from).collect())
                .unwrap_or_default(),
            scan_limit: parse_num(
                get("SANDBOX_SCAN_LIMIT"),
                "SANDBOX_SCAN_LIMIT",
                100,
                10_000_000,
            )? as usize,
            home_dir: get("CLAUDE_HOME_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| {
                    database_path
                        .parent()
                        .map(|d| d.join("claude-home"))
                        .unwrap_or_else(|| PathBuf::from("claude-home"))
                }),
            egress_allow: match get("EGRESS_ALLOW") {
                None => Vec::new(),
                Some(s) => crate::egress::AllowEntry::parse_list(&s)
                    .map_err(|e| ConfigError::new("EGRESS_ALLOW", e.to_string()))?,
            },
        };
        for p in &sandbox.read_only {
            if !p.is_absolute() {
                return Err(ConfigError::new(
                    "SANDBOX_READ_ONLY_PATHS",
                    format!("{} is not an absolute path", p.display()),
                ));
            }
        }

        let audit = parse_audit(vars, &get, &mut extra_secrets)?;

        let claude_env_passthrough = get("CLAUDE_ENV_PASSTHROUGH")
            .map(|s| split_list(&s).map(str::to_string).collect())
            .unwrap_or_default();

        Ok(Config {
            telegram_bot_token: SecretString::from(token),
            telegram_bot_username: get("TELEGRAM_BOT_USERNAME")
                .map(|u| u.trim_start_matches('@').to_string()),
            telegram_api_url,
            telegram_poll_timeout: Duration::from_secs(poll_secs),
            approved_directory,
            allowed_users,
            claude_cli_path: PathBuf::from(get("CLAUDE_CLI_PATH").unwrap_or_default()),
            claude_model: get("CLAUDE_MODEL"),
            claude_max_turns: claude_max_turns as u32,
            claude_timeout: Duration::from_secs(timeout_secs),
            claude_idle_timeout: Duration::from_secs(idle_secs),
            max_claude_processes,
            claude_env_passthrough,
            verbose_level,
            stream_drafts: parse_bool(get("STREAM_DRAFTS"), "STREAM_DRAFTS")?,
            database_path,
            log_level,
            lock_dir: get("LOCK_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(std::env::temp_dir),
            rate_limit_requests,
            rate_limit_window,
            rate_limit_burst,
            max_cost_per_user,
            max_cost_per_request,
            max_cost_global,
            allowed_groups,
            user_roles,
            default_role,
            project_access,
            projects,
            enable_token_auth,
            auth_token_secret: auth_token_secret.map(SecretString::from),
            session_timeout,
            pairing,
            secret_file_patterns,
            extra_secrets,
            env_file: None,
            settings: Vec::new(),
            secret_sources: Vec::new(),
            approval_timeout: Duration::from_secs(parse_num(
                get("APPROVAL_TIMEOUT"),
                "APPROVAL_TIMEOUT",
                5,
                86_400,
            )?),
            policy_file: get("POLICY_FILE").map(PathBuf::from),
            mcp_config_path: get("MCP_CONFIG_PATH").map(PathBuf::from),
            sandbox,
            anthropic: AnthropicConfig {
                base_url: anthropic_base,
                credential,
            },
            audit,
            server: parse_server(vars, &get)?,
            media: parse_media(vars, &get)?,
            scheduler: SchedulerConfig {
                enabled: parse_bool(get("ENABLE_SCHEDULER"), "ENABLE_SCHEDULER")?,
                default_tz: match get("SCHEDULER_TIMEZONE") {
                    None => return Err(ConfigError::new("SCHEDULER_TIMEZONE", "has no default")),
                    Some(z) => z.parse().map_err(|_| {
                        ConfigError::new(
                            "SCHEDULER_TIMEZONE",
                            format!("{z:?} is not an IANA time zone (e.g. Europe/Berlin, UTC)"),
                        )
                    })?,
                },
            },
        })
    }

    /// The values that must never leave ccgate: not to Claude's environment, not to logs.
    pub fn secret_values(&self) -> Vec<String> {
        let mut v = vec![self.telegram_bot_token.expose_secret().to_string()];
        for s in [
            &self.auth_token_secret,
            &self.server.github_webhook_secret,
            &self.server.webhook_api_secret,
            &self.media.voice.api_key,
        ]
        .into_iter()
        .flatten()
        {
            v.push(s.expose_secret().to_string());
        }
        v
    }

    /// Every value that must be masked in logs, audit rows and chat (includes the API key,
    /// which Claude itself legitimately receives).
    pub fn redacted_values(&self) -> Vec<String> {
        let mut v = self.secret_values();
        v.extend(
            self.extra_secrets
                .iter()
                .map(|s| s.expose_secret().to_string()),
        );
        v
    }

    /// The secret-file matcher: built-ins, `SECRET_FILE_PATTERNS`, and ccgate's own database
    /// and `.env`, which Claude must never read.
    pub fn secret_files(&self) -> Result<crate::policy::secret_files::SecretFiles, ConfigError> {
        let mut own = vec![self.database_path.clone(), PathBuf::from(".env")];
        own = own
            .into_iter()
            .map(|p| std::path::absolute(&p).unwrap_or(p))
            .collect();
        Ok(
            crate::policy::secret_files::SecretFiles::new(&self.secret_file_patterns)
                .map_err(|e| ConfigError::new("SECRET_FILE_PATTERNS", e.to_string()))?
                .with_exact_paths(own),
        )
    }

    /// Users with the admin role (they approve others' actions and receive alerts).
    pub fn admins(&self) -> Vec<i64> {
        let mut a: Vec<i64> = self
            .user_roles
            .iter()
            .filter(|(_, r)| r.is_admin())
            .map(|(u, _)| *u)
            .collect();
        a.sort_unstable();
        a
    }

    /// The tool-call rules: `POLICY_FILE` if set (refused when invalid or unsafe), else defaults.
    pub fn rules(&self) -> Result<crate::policy::engine::Rules, ConfigError> {
        match &self.policy_file {
            None => Ok(crate::policy::engine::Rules::default()),
            Some(p) => crate::policy::engine::Rules::load(p)
                .map_err(|e| ConfigError::new("POLICY_FILE", e.to_string())),
        }
    }

    /// The operator's MCP servers (`MCP_CONFIG_PATH`), validated against the boundary and
    /// ccgate's own files (see `policy::mcp`); none when unset. Read once at start.
    pub fn mcp_servers(&self) -> Result<crate::policy::mcp::OperatorMcp, ConfigError> {
        let Some(path) = &self.mcp_config_path else {
            return Ok(Default::default());
        };
        let canonical = |p: &Path| {
            let abs = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
            abs.canonicalize().unwrap_or(abs)
        };
        let mut forbidden: Vec<PathBuf> = vec![
            canonical(self.database_path.parent().unwrap_or(Path::new("."))),
            canonical(&self.sandbox.home_dir),
            canonical(&self.lock_dir),
            canonical(&self.approved_directory),
            // Hidden inside the boundary (see `jail::ETC_HIDDEN`).
            PathBuf::from("/etc/ccgate"),
        ];
        if let Some(f) = &self.env_file {
            forbidden.push(canonical(f));
        }
        let visible = crate::jail::shown_read_only(&self.sandbox.read_only);
        let secrets = self.secret_files()?;
        let jail_path = std::env::var("PATH").ok();
        let limits = crate::policy::mcp::Limits {
            visible: &visible,
            forbidden: &forbidden,
            secrets: &secrets,
            path: jail_path.as_deref(),
            secret_values: &self.redacted_values(),
        };
        crate::policy::mcp::load(path, &limits).map_err(|e| ConfigError::new("MCP_CONFIG_PATH", e))
    }

    /// The role of an allowed user.
    pub fn role_of(&self, user_id: i64) -> Role {
        self.user_roles
            .get(&user_id)
            .copied()
            .unwrap_or(self.default_role)
    }
}

/// Split a comma (or whitespace) separated list, skipping empty items.
fn split_list(s: &str) -> impl Iterator<Item = &str> {
    s.split(|c: char| c == ',' || c.is_whitespace())
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

fn parse_id_list(s: &str) -> Result<Vec<i64>, String> {
    // Accept the reference's bracketed JSON-ish form too: "[123, 456]".
    let s = s.trim().trim_start_matches('[').trim_end_matches(']');
    let mut out = Vec::new();
    for item in split_list(s) {
        let id: i64 = item
            .trim_matches('"')
            .parse()
            .map_err(|_| format!("{item:?} is not a numeric Telegram user id"))?;
        if id <= 0 {
            return Err(format!("{id} is not a valid user id (must be positive)"));
        }
        if !out.contains(&id) {
            out.push(id);
        }
    }
    Ok(out)
}

fn parse_signed_id_list(s: &str) -> Result<Vec<i64>, String> {
    let s = s.trim().trim_start_matches('[').trim_end_matches(']');
    let mut out = Vec::new();
    for item in split_list(s) {
        let id: i64 = item
            .trim_matches('"')
            .parse()
            .map_err(|_| format!("{item:?} is not a numeric chat id"))?;
        if !out.contains(&id) {
            out.push(id);
        }
    }
    Ok(out)
}

/// `123:admin,456:viewer`
fn parse_roles(s: &str) -> Result<HashMap<i64, Role>, String> {
    let mut out = HashMap::new();
    for item in split_list(s) {
        let (id, role) = item
            .split_once(':')
            .ok_or_else(|| format!("{item:?} should look like <user id>:<role>"))?;
        let id: i64 = id
            .trim()
            .parse()
            .map_err(|_| format!("{id:?} is not a user id"))?;
        let role = Role::parse(role)
            .ok_or_else(|| format!("{role:?} is not one of viewer, developer, admin"))?;
        out.insert(id, role);
    }
    Ok(out)
}

/// `webapp:123 456;infra:789` — project folder, then the users allowed in it.
fn parse_project_access(s: &str) -> Result<HashMap<String, Vec<i64>>, String> {
    let mut out = HashMap::new();
    for item in s.split(';').map(str::trim).filter(|i| !i.is_empty()) {
        let (project, users) = item
            .split_once(':')
            .ok_or_else(|| format!("{item:?} should look like <project>:<user id> <user id>…"))?;
        let project = project.trim();
        if project.is_empty() || project.contains('/') || project == ".." || project == "." {
            return Err(format!(
                "{project:?} is not a top-level project folder name"
            ));
        }
        out.insert(project.to_string(), parse_id_list(users)?);
    }
    Ok(out)
}

fn parse_audit(
    vars: &HashMap<String, String>,
    get: &dyn Fn(&str) -> Option<String>,
    extra_secrets: &mut Vec<SecretString>,
) -> Result<AuditConfig, ConfigError> {
    use crate::audit::signer::{KeySource, Pkcs11Settings};
    let key_file = get("AUDIT_SIGNING_KEY_FILE").map(PathBuf::from);
    let module = get("AUDIT_PKCS11_MODULE").map(PathBuf::from);
    let token_label = get("AUDIT_PKCS11_TOKEN_LABEL");
    let key_label = get("AUDIT_PKCS11_KEY_LABEL");
    let pin = get_secret(vars, "AUDIT_PKCS11_PIN", "AUDIT_PKCS11_PIN_FILE")?;
    if let Some(p) = &pin {
        extra_secrets.push(SecretString::from(p.clone()));
    }
    let signing_key = match (key_file, module) {
        (Some(_), Some(_)) => {
            return Err(ConfigError::new(
                "AUDIT_PKCS11_MODULE",
                "set either AUDIT_SIGNING_KEY_FILE or AUDIT_PKCS11_MODULE, not both",
            ))
        }
        (Some(f), None) => Some(KeySource::File(f)),
        (None, Some(module)) => {
            let need = |v: Option<String>, var: &'static str| {
                v.ok_or_else(|| ConfigError::new(var, "is required with AUDIT_PKCS11_MODULE"))
            };
            Some(KeySource::Pkcs11(Pkcs11Settings {
                module,
                token_label: need(token_label, "AUDIT_PKCS11_TOKEN_LABEL")?,
                pin: SecretString::from(need(pin, "AUDIT_PKCS11_PIN")?),
                key_label: need(key_label, "AUDIT_PKCS11_KEY_LABEL")?,
            }))
        }
        (None, None) => None,
    };
    let verify_keys = match get("AUDIT_VERIFY_KEY") {
        None => Vec::new(),
        Some(s) => split_list(&s)
            .map(crate::audit::checkpoint::parse_public_key)
            .collect::<Result<_, _>>()
            .map_err(|m| ConfigError::new("AUDIT_VERIFY_KEY", m))?,
    };
    Ok(AuditConfig {
        signing_key,
        verify_keys,
        checkpoint_notify: parse_bool(get("AUDIT_CHECKPOINT_NOTIFY"), "AUDIT_CHECKPOINT_NOTIFY")?,
        checkpoint_rows: parse_num(
            get("AUDIT_CHECKPOINT_ROWS"),
            "AUDIT_CHECKPOINT_ROWS",
            1,
            1_000_000,
        )?,
        checkpoint_interval: Duration::from_secs(
            60 * parse_num(
                get("AUDIT_CHECKPOINT_MINUTES"),
                "AUDIT_CHECKPOINT_MINUTES",
                1,
                24 * 60,
            )?,
        ),
    })
}

fn parse_server(
    vars: &HashMap<String, String>,
    get: &dyn Fn(&str) -> Option<String>,
) -> Result<ServerConfig, ConfigError> {
    let bind = match get("API_SERVER_BIND") {
        None => return Err(ConfigError::new("API_SERVER_BIND", "has no default")),
        Some(b) => b.parse().map_err(|_| {
            ConfigError::new(
                "API_SERVER_BIND",
                format!("{b:?} is not an address:port (e.g. 127.0.0.1:8080)"),
            )
        })?,
    };
    let telegram_webhook_url = get("TELEGRAM_WEBHOOK_URL");
    if let Some(u) = &telegram_webhook_url {
        if !u.starts_with("https://") || u.len() <= 8 || u.contains(char::is_whitespace) {
            return Err(ConfigError::new(
                "TELEGRAM_WEBHOOK_URL",
                format!("{u:?} must be an https:// URL (Telegram only calls HTTPS webhooks)"),
            ));
        }
    }
    let secret = |name: &'static str, file: &'static str| -> Result<_, ConfigError> {
        let v = get_secret(vars, name, file)?;
        if let Some(s) = &v {
            if s.len() < 16 {
                return Err(ConfigError::new(name, "must be at least 16 characters"));
            }
        }
        Ok(v.map(SecretString::from))
    };
    Ok(ServerConfig {
        enabled: parse_bool(get("ENABLE_API_SERVER"), "ENABLE_API_SERVER")?,
        bind,
        github_webhook_secret: secret("GITHUB_WEBHOOK_SECRET", "GITHUB_WEBHOOK_SECRET_FILE")?,
        webhook_api_secret: secret("WEBHOOK_API_SECRET", "WEBHOOK_API_SECRET_FILE")?,
        max_body_bytes: parse_num(
            get("WEBHOOK_MAX_BODY_BYTES"),
            "WEBHOOK_MAX_BODY_BYTES",
            1024,
            64 << 20,
        )? as usize,
        rate_limit_per_minute: parse_num(
            get("WEBHOOK_RATE_LIMIT"),
            "WEBHOOK_RATE_LIMIT",
            1,
            100_000,
        )? as u32,
        timestamp_tolerance: Duration::from_secs(parse_num(
            get("WEBHOOK_TIMESTAMP_TOLERANCE"),
            "WEBHOOK_TIMESTAMP_TOLERANCE",
            5,
            86_400,
        )?),
        triggers_file: get("TRIGGERS_FILE").map(PathBuf::from),
        telegram_webhook_url,
    })
}

/// Where project topics live: the registry file and the forum supergroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectsConfig {
    pub path: PathBuf,
    pub chat_id: i64,
}

/// `PROJECTS_PATH` / `PROJECTS_CHAT_ID`. Topics need a forum supergroup: private-chat topics
/// are not supported, so a registry without a group id is refused rather than half working.
fn parse_projects(
    get: &dyn Fn(&str) -> Option<String>,
    allowed_groups: &[i64],
) -> Result<Option<ProjectsConfig>, ConfigError> {
    let chat = get("PROJECTS_CHAT_ID");
    let Some(path) = get("PROJECTS_PATH") else {
        if chat.is_some() {
            return Err(ConfigError::new(
                "PROJECTS_CHAT_ID",
                "is set but PROJECTS_PATH is not; set both (or neither)",
            ));
        }
        return Ok(None);
    };
    let Some(chat) = chat else {
        return Err(ConfigError::new(
            "PROJECTS_CHAT_ID",
            "is required with PROJECTS_PATH: project topics live in a forum supergroup \
             (topics in private chats are not supported)",
        ));
    };
    let chat_id: i64 = chat
        .trim()
        .parse()
        .map_err(|_| ConfigError::new("PROJECTS_CHAT_ID", format!("{chat:?} is not a chat id")))?;
    if chat_id >= 0 {
        return Err(ConfigError::new(
            "PROJECTS_CHAT_ID",
            format!("{chat_id} is not a supergroup id (those are negative, -100…)"),
        ));
    }
    if !allowed_groups.contains(&chat_id) {
        return Err(ConfigError::new(
            "PROJECTS_CHAT_ID",
            format!("{chat_id} must also be listed in ALLOWED_GROUPS (the bot ignores groups not listed there)"),
        ));
    }
    Ok(Some(ProjectsConfig {
        path: PathBuf::from(path),
        chat_id,
    }))
}

/// A flag; `raw` is `None` only for a variable without a table default (a table bug).
fn parse_bool(raw: Option<String>, var: &'static str) -> Result<bool, ConfigError> {
    match raw.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None => Err(ConfigError::new(var, "has no value and no default")),
        Some("1" | "true" | "yes" | "on") => Ok(true),
        Some("0" | "false" | "no" | "off") => Ok(false),
        Some(other) => Err(ConfigError::new(
            var,
            format!("{other:?} is not true or false"),
        )),
    }
}

/// A USD amount; `0`, `none` or `off` mean unlimited.
fn parse_money(raw: Option<String>, var: &'static str) -> Result<Option<f64>, ConfigError> {
    let Some(raw) = raw else { return Ok(None) };
    if matches!(
        raw.to_ascii_lowercase().as_str(),
        "none" | "off" | "unlimited"
    ) {
        return Ok(None);
    }
    let v: f64 = raw
        .trim_start_matches('$')
        .parse()
        .map_err(|_| ConfigError::new(var, format!("{raw:?} is not an amount in USD")))?;
    if !v.is_finite() || v < 0.0 {
        return Err(ConfigError::new(
            var,
            format!("{raw:?} must be a positive amount"),
        ));
    }
    Ok((v > 0.0).then_some(v))
}

/// A secret from `NAME` or from the file named by `NAME_FILE` (systemd credentials, Docker
/// secrets). Both set is ambiguous and refused.
fn get_secret(
    vars: &HashMap<String, String>,
    name: &'static str,
    file_var: &'static str,
) -> Result<Option<String>, ConfigError> {
    let direct = vars
        .get(name)
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty());
    let mut file = vars
        .get(file_var)
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty());
    // systemd's LoadCredential=/LoadCredentialEncrypted= (e.g. sealed to the TPM2): a credential
    // named like the variable, read like NAME_FILE when neither NAME nor NAME_FILE is set.
    if direct.is_none() && file.is_none() {
        if let Some(dir) = vars
            .get("CREDENTIALS_DIRECTORY")
            .filter(|d| !d.trim().is_empty())
        {
            let candidate = Path::new(dir.trim()).join(name);
            if candidate.exists() {
                file = Some(candidate.display().to_string());
            }
        }
    }
    match (direct, file) {
        (Some(_), Some(_)) => Err(ConfigError::new(
            file_var,
            format!("set either {name} or {file_var}, not both"),
        )),
        (Some(v), None) => Ok(Some(v)),
        (None, Some(path)) => {
            let content = std::fs::read_to_string(&path)
                .map_err(|e| ConfigError::new(file_var, format!("cannot read {path}: {e}")))?;
            let v = content.trim_end_matches(['\n', '\r']).to_string();
            if v.is_empty() {
                return Err(ConfigError::new(file_var, format!("{path} is empty")));
            }
            Ok(Some(v))
        }
        (None, None) => Ok(None),
    }
}

/// The upload, image, archive, album and voice settings.
fn parse_media(
    vars: &HashMap<String, String>,
    get: &dyn Fn(&str) -> Option<String>,
) -> Result<MediaConfig, ConfigError> {
    const GIB: u64 = 1 << 30;
    let upload_dir = get("UPLOAD_DIR").unwrap_or_default();
    let dir = Path::new(&upload_dir);
    let plain = !upload_dir.is_empty()
        && dir
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)));
    if !plain {
        return Err(ConfigError::new(
            "UPLOAD_DIR",
            format!("{upload_dir:?} must be a relative path inside the project, without `..`"),
        ));
    }
    Ok(MediaConfig {
        max_upload_bytes: parse_num(get("MAX_UPLOAD_BYTES"), "MAX_UPLOAD_BYTES", 1, 2 * GIB)?,
        max_send_bytes: parse_num(get("MAX_SEND_BYTES"), "MAX_SEND_BYTES", 1, 50_000_000)?,
        upload_dir: dir.to_path_buf(),
        max_image_bytes: parse_num(get("MAX_IMAGE_BYTES"), "MAX_IMAGE_BYTES", 1, 100 << 20)?,
        max_turn_image_bytes: parse_num(
            get("MAX_TURN_IMAGE_BYTES"),
            "MAX_TURN_IMAGE_BYTES",
            1,
            100 << 20,
        )?,
        archive: crate::media::archive::Limits {
            total_bytes: parse_num(
                get("ARCHIVE_MAX_TOTAL_BYTES"),
                "ARCHIVE_MAX_TOTAL_BYTES",
                1,
                64 * GIB,
            )?,
            files: parse_num(get("ARCHIVE_MAX_FILES"), "ARCHIVE_MAX_FILES", 1, 1_000_000)?,
            file_bytes: parse_num(
                get("ARCHIVE_MAX_FILE_BYTES"),
                "ARCHIVE_MAX_FILE_BYTES",
                1,
                64 * GIB,
            )?,
            ratio: parse_num(get("ARCHIVE_MAX_RATIO"), "ARCHIVE_MAX_RATIO", 1, 100_000)?,
        },
        album_window: Duration::from_millis(parse_num(
            get("ALBUM_WINDOW_MS"),
            "ALBUM_WINDOW_MS",
            100,
            60_000,
        )?),
        voice: parse_voice(vars, get)?,
    })
}

/// The voice settings. The URL must be `https://`, or `http://` to a loopback host (a local
/// whisper server): audio and the key never cross a network in the clear. No credentials,
/// query or fragment in it (they would be logged and could not be redacted).
fn parse_voice(
    vars: &HashMap<String, String>,
    get: &dyn Fn(&str) -> Option<String>,
) -> Result<VoiceConfig, ConfigError> {
    let url = match get("VOICE_TRANSCRIPTION_URL")
        .map(|u| u.trim().to_string())
        .filter(|u| !u.is_empty())
    {
        None => None,
        Some(raw) => {
            Some(voice_url(&raw).map_err(|e| ConfigError::new("VOICE_TRANSCRIPTION_URL", e))?)
        }
    };
    let model = get("VOICE_TRANSCRIPTION_MODEL")
        .map(|m| m.trim().to_string())
        .unwrap_or_default();
    if model.is_empty() || model.len() > 128 || model.chars().any(|c| c.is_control()) {
        return Err(ConfigError::new(
            "VOICE_TRANSCRIPTION_MODEL",
            "must be a model name (1–128 printable characters)",
        ));
    }
    let language = get("VOICE_TRANSCRIPTION_LANGUAGE")
        .map(|l| l.trim().to_ascii_lowercase())
        .filter(|l| !l.is_empty());
    if let Some(l) = &language {
        if !(2..=3).contains(&l.len()) || !l.bytes().all(|b| b.is_ascii_lowercase()) {
            return Err(ConfigError::new(
                "VOICE_TRANSCRIPTION_LANGUAGE",
                format!("{l:?} must be an ISO-639-1 code such as en or de"),
            ));
        }
    }
    let api_key = get_secret(
        vars,
        "VOICE_TRANSCRIPTION_API_KEY",
        "VOICE_TRANSCRIPTION_API_KEY_FILE",
    )?;
    if let Some(k) = &api_key {
        if k.chars().any(|c| c.is_control() || c == ' ') {
            return Err(ConfigError::new(
                "VOICE_TRANSCRIPTION_API_KEY",
                "must not contain spaces or control characters",
            ));
        }
    }
    Ok(VoiceConfig {
        url,
        model,
        api_key: api_key.map(SecretString::from),
        language,
        max_seconds: parse_num(get("MAX_VOICE_SECONDS"), "MAX_VOICE_SECONDS", 1, 86_400)?,
        max_bytes: parse_num(get("MAX_VOICE_BYTES"), "MAX_VOICE_BYTES", 1, 1 << 30)?,
    })
}

/// A transcription base URL, or why it is refused.
fn voice_url(raw: &str) -> Result<reqwest::Url, String> {
    let url = reqwest::Url::parse(raw).map_err(|e| format!("{raw:?} is not a URL: {e}"))?;
    let Some(host) = url.host_str().filter(|h| !h.is_empty()) else {
        return Err(format!("{raw:?} has no host"));
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        "http" => {
            return Err(format!(
            "{raw:?} must use https:// (plain http:// only to a loopback host such as 127.0.0.1)"
        ))
        }
        _ => return Err(format!("{raw:?} must be an https:// URL")),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry credentials (use VOICE_TRANSCRIPTION_API_KEY_FILE)".into());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!("{raw:?} must not have a query or fragment"));
    }
    Ok(url)
}

/// A whole number in `min..=max`; `raw` is `None` only for a variable without a table default.
fn parse_num(
    raw: Option<String>,
    var: &'static str,
    min: u64,
    max: u64,
) -> Result<u64, ConfigError> {
    let Some(raw) = raw else {
        return Err(ConfigError::new(var, "has no value and no default"));
    };
    let n: u64 = raw
        .parse()
        .map_err(|_| ConfigError::new(var, format!("{raw:?} is not a whole number")))?;
    if n < min || n > max {
        return Err(ConfigError::new(
            var,
            format!("{n} is out of range ({min}..={max})"),
        ));
    }
    Ok(n)
}

/// Check a `LOG_LEVEL` with tracing's own filter parser (`EnvFilter`), and more strictly than
/// it: every comma-separated directive must be a level (`info`) or name its level
/// (`ccgate=debug`, `ccgate::api[request]=trace`). `EnvFilter` reads a bare word such as
/// `verbose` or `inof` as "the target `verbose`, every level" — which silently turns all other
/// logging off; here that is an error. Empty directives (`info,,debug`) and whitespace
/// (`info ccgate=debug` would be the target `info ccgate`) are errors too.
pub fn validate_log_filter(filter: &str) -> Result<(), String> {
    use std::str::FromStr;
    use tracing_subscriber::filter::{Directive, LevelFilter};
    for directive in filter.split(',') {
        let d = directive;
        if d.is_empty() {
            return Err("an empty directive".into());
        }
        if d.contains(char::is_whitespace) {
            return Err(format!("{d:?} contains whitespace"));
        }
        Directive::from_str(d).map_err(|e| format!("{d:?}: {e}"))?;
        // The level follows the last `=` outside a span's `[…]` (field values may hold `=`).
        let level = match d.rsplit_once('=') {
            Some((_, l)) if !l.contains([']', '}']) => l,
            _ => d,
        };
        if LevelFilter::from_str(level).is_err() {
            return Err(format!(
                "{d:?} names no level (trace, debug, info, warn, error or off)"
            ));
        }
    }
    tracing_subscriber::EnvFilter::try_new(filter).map_err(|e| e.to_string())?;
    Ok(())
}

/// Where state and relative paths go. Relative paths in settings (the database, files, folders)
/// are taken from the folder of the `.env` file read, so a service started from anywhere finds
/// the same state; without a `.env` file they stay relative to the working directory. An unset
/// `DATABASE_URL` under systemd's `StateDirectory=` (`$STATE_DIRECTORY`) puts the database
/// there.
fn resolve_paths(vars: &mut HashMap<String, String>, base: Option<&Path>) {
    let set = |vars: &HashMap<String, String>, k: &str| {
        vars.get(k)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    if set(vars, "DATABASE_URL").is_none() {
        if let Some(state) = set(vars, "STATE_DIRECTORY") {
            // systemd may list several folders; the first is ours.
            let first = state.split(':').next().unwrap_or_default();
            vars.insert("DATABASE_URL".into(), format!("{first}/ccgate.db"));
        }
    }
    let Some(base) = base else { return };
    let join = |value: &str| -> Option<String> {
        let p = Path::new(value);
        (!p.is_absolute()).then(|| base.join(p).display().to_string())
    };
    if let Some(url) = set(vars, "DATABASE_URL").or_else(|| {
        vars::lookup("DATABASE_URL")
            .and_then(|v| v.default_value())
            .map(str::to_string)
    }) {
        if let Ok(path) = parse_database_url(&url) {
            if let Some(abs) = join(&path.to_string_lossy()) {
                vars.insert("DATABASE_URL".into(), abs);
            }
        }
    }
    for v in vars::VARS {
        let mut names = Vec::new();
        if v.path {
            names.push(v.name.to_string());
        }
        if v.secret {
            names.push(format!("{}_FILE", v.name));
        }
        for name in names {
            let Some(value) = set(vars, &name) else {
                continue;
            };
            // A bare program name (`claude`) is looked up on PATH, not taken from the folder.
            if v.path && v.program && !value.contains('/') {
                continue;
            }
            if let Some(abs) = join(&value) {
                vars.insert(name, abs);
            }
        }
    }
}

/// `sqlite:///rel/path.db` (relative, as in the reference), `sqlite:////abs/path.db`
/// (absolute), or a bare filesystem path.
fn parse_database_url(url: &str) -> Result<PathBuf, ConfigError> {
    let path = if let Some(rest) = url.strip_prefix("sqlite:///") {
        rest.to_string()
    } else if let Some(rest) = url.strip_prefix("sqlite://") {
        rest.to_string()
    } else if let Some(rest) = url.strip_prefix("sqlite:") {
        rest.to_string()
    } else if url.contains("://") {
        return Err(ConfigError::new(
            "DATABASE_URL",
            format!("only sqlite URLs are supported, got {url:?}"),
        ));
    } else {
        url.to_string()
    };
    if path.is_empty() || path.contains('\0') {
        return Err(ConfigError::new("DATABASE_URL", "has no file path"));
    }
    if path == ":memory:" {
        return Err(ConfigError::new(
            "DATABASE_URL",
            "an in-memory database would lose every message on restart; give a file path",
        ));
    }
    Ok(PathBuf::from(path))
}

/// `<digits>:<35ish url-safe chars>`; checked so a pasted-wrong token fails at start, not at
/// the first poll.
fn validate_bot_token(token: &str) -> Result<(), ConfigError> {
    let ok = match token.split_once(':') {
        Some((id, secret)) => {
            !id.is_empty()
                && id.bytes().all(|b| b.is_ascii_digit())
                && secret.len() >= 20
                && secret
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        }
        None => false,
    };
    if token.contains("replace-with") {
        return Err(ConfigError::new(
            "TELEGRAM_BOT_TOKEN",
            "is still the placeholder from .env.example; get a token from @BotFather",
        ));
    }
    if ok {
        Ok(())
    } else {
        // Never echo the token itself.
        Err(ConfigError::new(
            "TELEGRAM_BOT_TOKEN",
            "does not look like a bot token (expected <digits>:<secret> from @BotFather)",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base(dir: &Path) -> HashMap<String, String> {
        HashMap::from([
            (
                "TELEGRAM_BOT_TOKEN".to_string(),
                "123456:ABCdefGHIjklMNOpqrsTUVwxyz_-12345".to_string(),
            ),
            (
                "APPROVED_DIRECTORY".to_string(),
                dir.to_string_lossy().into_owned(),
            ),
        ])
    }

    #[test]
    fn defaults_are_applied_and_allowlist_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        let c = Config::from_map(&base(dir.path())).unwrap();
        assert!(c.allowed_users.is_empty());
        assert_eq!(c.telegram_api_url, "https://api.telegram.org");
        assert_eq!(c.database_path, PathBuf::from("data/ccgate.db"));
        assert_eq!(c.verbose_level, 1);
        assert_eq!(c.claude_max_turns, 10);
        assert_eq!(c.approved_directory, dir.path().canonicalize().unwrap());
    }

    #[test]
    fn project_topics_need_an_allowed_supergroup() {
        let dir = tempfile::tempdir().unwrap();
        let with = |pairs: &[(&str, &str)]| {
            let mut m = base(dir.path());
            for (k, v) in pairs {
                m.insert(k.to_string(), v.to_string());
            }
            Config::from_map(&m)
        };
        assert_eq!(with(&[]).unwrap().projects, None);
        let e = with(&[("PROJECTS_PATH", "p.toml")]).unwrap_err();
        assert_eq!(e.var, "PROJECTS_CHAT_ID");
        assert!(e.message.contains("forum supergroup"), "{}", e.message);
        let e = with(&[("PROJECTS_PATH", "p.toml"), ("PROJECTS_CHAT_ID", "-100")]).unwrap_err();
        assert!(e.message.contains("ALLOWED_GROUPS"), "{}", e.message);
        let e = with(&[("PROJECTS_PATH", "p.toml"), ("PROJECTS_CHAT_ID", "42")]).unwrap_err();
        assert!(e.message.contains("not a supergroup"), "{}", e.message);
        let e = with(&[("PROJECTS_CHAT_ID", "-100"), ("ALLOWED_GROUPS", "-100")]).unwrap_err();
        assert!(e.message.contains("PROJECTS_PATH is not"), "{}", e.message);
        let c = with(&[
            ("PROJECTS_PATH", "p.toml"),
            ("PROJECTS_CHAT_ID", "-100"),
            ("ALLOWED_GROUPS", "-5,-100"),
        ])
        .unwrap();
        assert_eq!(
            c.projects,
            Some(ProjectsConfig {
                path: "p.toml".into(),
                chat_id: -100
            })
        );
    }

    #[test]
    fn comma_and_bracket_lists_parse() {
        assert_eq!(parse_id_list("1, 2,3").unwrap(), vec![1, 2, 3]);
        assert_eq!(parse_id_list("[10, 20]").unwrap(), vec![10, 20]);
        assert_eq!(parse_id_list("5 5 6").unwrap(), vec![5, 6]);
        assert!(parse_id_list("1,abc").unwrap_err().contains("abc"));
        assert!(parse_id_list("-4").is_err());
    }

    #[test]
    fn errors_name_the_variable() {
        let dir = tempfile::tempdir().unwrap();
        for (var, val) in [
            ("CLAUDE_MAX_TURNS", "ten"),
            ("CLAUDE_MAX_TURNS", "0"),
            ("VERBOSE_LEVEL", "3"),
            ("ALLOWED_USERS", "12,x"),
            ("DATABASE_URL", "postgres://x"),
            ("TELEGRAM_API_URL", "ftp://x"),
            ("TELEGRAM_BOT_TOKEN", "nonsense"),
            ("LOG_LEVEL", "=="),
            ("LOG_LEVEL", "verbose"),
            ("LOG_LEVEL", "inof"),
            ("LOG_LEVEL", "info,ccgate=loud"),
            ("LOG_LEVEL", "info,,debug"),
            ("LOG_LEVEL", "info,"),
            ("LOG_LEVEL", "ccgate"),
            ("LOG_LEVEL", "info ccgate=debug"),
            ("LOG_LEVEL", "ccgate=debug=info"),
            ("LOG_LEVEL", "[span{x=1}]"),
            ("LOG_LEVEL", "debug5"),
            ("LOG_LEVEL", "warn, ccgate=trace"),
        ] {
            let mut m = base(dir.path());
            m.insert(var.to_string(), val.to_string());
            let err = Config::from_map(&m).unwrap_err();
            assert_eq!(err.var, var, "{val}");
            assert!(err.to_string().contains(var));
        }
        let mut m = base(dir.path());
        m.insert("APPROVED_DIRECTORY".into(), "/definitely/not/here".into());
        assert_eq!(Config::from_map(&m).unwrap_err().var, "APPROVED_DIRECTORY");
        m.remove("APPROVED_DIRECTORY");
        assert_eq!(Config::from_map(&m).unwrap_err().var, "APPROVED_DIRECTORY");
    }

    #[test]
    fn voice_transcription_is_off_by_default_and_its_url_must_be_https_unless_loopback() {
        let dir = tempfile::tempdir().unwrap();
        let c = Config::from_map(&base(dir.path())).unwrap();
        let v = &c.media.voice;
        assert!(v.url.is_none());
        assert_eq!((v.model.as_str(), v.max_seconds), ("whisper-1", 600));
        assert_eq!(v.max_bytes, 20 << 20);
        for ok in [
            "https://api.openai.com/v1",
            "http://127.0.0.1:8080/v1",
            "http://localhost:9000/v1",
            "http://[::1]:8080/v1",
        ] {
            let mut m = base(dir.path());
            m.insert("VOICE_TRANSCRIPTION_URL".into(), ok.into());
            let c = Config::from_map(&m).unwrap_or_else(|e| panic!("{ok}: {e}"));
            assert_eq!(c.media.voice.url.unwrap().as_str(), ok);
        }
        for (var, bad) in [
            ("VOICE_TRANSCRIPTION_URL", "http://api.openai.com/v1"),
            ("VOICE_TRANSCRIPTION_URL", "http://10.0.0.5:8080/v1"),
            ("VOICE_TRANSCRIPTION_URL", "http://127.0.0.1.evil.com/v1"),
            ("VOICE_TRANSCRIPTION_URL", "ftp://127.0.0.1/v1"),
            (
                "VOICE_TRANSCRIPTION_URL",
                "https://user:pw@api.openai.com/v1",
            ),
            ("VOICE_TRANSCRIPTION_URL", "https://api.openai.com/v1?key=x"),
            ("VOICE_TRANSCRIPTION_URL", "not a url"),
            ("VOICE_TRANSCRIPTION_LANGUAGE", "english"),
            ("VOICE_TRANSCRIPTION_MODEL", "whisper\u{1}"),
            ("VOICE_TRANSCRIPTION_API_KEY", "a b"),
            ("MAX_VOICE_SECONDS", "0"),
            ("MAX_VOICE_BYTES", "lots"),
        ] {
            let mut m = base(dir.path());
            m.insert(var.into(), bad.into());
            let err = Config::from_map(&m).unwrap_err();
            assert_eq!(err.var, var, "{bad}");
        }
        // The key comes from its file, and is a secret: redacted, never given to Claude.
        let key = dir.path().join("voice.key");
        std::fs::write(&key, "sk-voice-test-0123456789\n").unwrap();
        let mut m = base(dir.path());
        m.insert(
            "VOICE_TRANSCRIPTION_URL".into(),
            "https://api.groq.com/openai/v1".into(),
        );
        m.insert("VOICE_TRANSCRIPTION_LANGUAGE".into(), "DE".into());
        m.insert(
            "VOICE_TRANSCRIPTION_API_KEY_FILE".into(),
            key.display().to_string(),
        );
        let c = Config::from_map(&m).unwrap();
        let v = &c.media.voice;
        assert_eq!(v.language.as_deref(), Some("de"));
        assert_eq!(
            v.api_key.as_ref().map(|k| k.expose_secret().to_string()),
            Some("sk-voice-test-0123456789".into())
        );
        assert!(c
            .secret_values()
            .contains(&"sk-voice-test-0123456789".into()));
        assert!(c
            .redacted_values()
            .contains(&"sk-voice-test-0123456789".into()));
    }

    #[test]
    fn log_filters_tracing_accepts_stay_valid() {
        let dir = tempfile::tempdir().unwrap();
        for ok in [
            "info",
            "INFO",
            "debug",
            "off",
            "warn",
            "trace",
            "error",
            "info,ccgate=debug",
            "ccgate::api=debug",
            "info,ccgate[request]=debug",
            "info,[span{field=value}]=trace",
            "hyper=off,info",
        ] {
            let mut m = base(dir.path());
            m.insert("LOG_LEVEL".into(), ok.into());
            let c = Config::from_map(&m).unwrap_or_else(|e| panic!("{ok}: {e}"));
            assert_eq!(c.log_level, ok);
        }
    }

    #[test]
    fn token_error_never_echoes_the_token() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = base(dir.path());
        m.insert("TELEGRAM_BOT_TOKEN".into(), "123:shortsecret".into());
        let err = Config::from_map(&m).unwrap_err().to_string();
        assert!(!err.contains("shortsecret"));
    }

    #[test]
    fn database_urls() {
        assert_eq!(
            parse_database_url("sqlite:///data/x.db").unwrap(),
            PathBuf::from("data/x.db")
        );
        assert_eq!(
            parse_database_url("sqlite:////var/x.db").unwrap(),
            PathBuf::from("/var/x.db")
        );
        assert_eq!(
            parse_database_url("/a/b.db").unwrap(),
            PathBuf::from("/a/b.db")
        );
        assert!(parse_database_url("sqlite:///:memory:").is_err());
    }

    #[test]
    fn env_file_is_read_but_environment_wins() {
        let dir = tempfile::tempdir().unwrap();
        let env_path = dir.path().join(".env");
        std::fs::write(
            &env_path,
            format!(
                "TELEGRAM_BOT_TOKEN=123456:ABCdefGHIjklMNOpqrsTUVwxyz_-12345\nAPPROVED_DIRECTORY={}\nCCGATE_TEST_ONLY_VAR_FROM_FILE=file\n",
                dir.path().display()
            ),
        )
        .unwrap();
        // `load` reads the real environment; only check that the file alone suffices.
        let c = Config::load(Some(&env_path)).unwrap();
        assert_eq!(c.approved_directory, dir.path().canonicalize().unwrap());
        // And the precedence rule itself, on the map level: a later (environment) insert wins.
        let mut m = base(dir.path());
        m.insert("VERBOSE_LEVEL".into(), "2".into());
        assert_eq!(Config::from_map(&m).unwrap().verbose_level, 2);
    }

    #[test]
    fn audit_signing_settings() {
        use crate::audit::signer::KeySource;
        let dir = tempfile::tempdir().unwrap();
        let c = Config::from_map(&base(dir.path())).unwrap();
        assert!(c.audit.signing_key.is_none() && c.audit.verify_keys.is_empty());
        assert_eq!(c.audit.checkpoint_rows, 100);
        assert_eq!(c.audit.checkpoint_interval, Duration::from_secs(600));

        let mut m = base(dir.path());
        m.insert(
            "AUDIT_SIGNING_KEY_FILE".into(),
            "/etc/ccgate/audit.key".into(),
        );
        let public = |seed: u8| {
            hex::encode(
                ed25519_dalek::SigningKey::from_bytes(&[seed; 32])
                    .verifying_key()
                    .as_bytes(),
            )
        };
        let (key, key2) = (public(1), public(2));
        m.insert("AUDIT_VERIFY_KEY".into(), format!("{key}, {key2}"));
        m.insert("AUDIT_CHECKPOINT_ROWS".into(), "5".into());
        m.insert("AUDIT_CHECKPOINT_MINUTES".into(), "2".into());
        let c = Config::from_map(&m).unwrap();
        assert!(
            matches!(&c.audit.signing_key, Some(KeySource::File(p)) if p == Path::new("/etc/ccgate/audit.key"))
        );
        assert_eq!(c.audit.verify_keys.len(), 2);
        assert_eq!(c.audit.checkpoint_rows, 5);
        assert_eq!(c.audit.checkpoint_interval, Duration::from_secs(120));

        // PKCS#11: every part required, the PIN redacted like any secret.
        let pin_file = dir.path().join("pin");
        std::fs::write(&pin_file, "4711-secret-pin\n").unwrap();
        let mut m = base(dir.path());
        m.insert(
            "AUDIT_PKCS11_MODULE".into(),
            "/usr/lib/softhsm/libsofthsm2.so".into(),
        );
        m.insert("AUDIT_PKCS11_TOKEN_LABEL".into(), "ccgate".into());
        assert_eq!(Config::from_map(&m).unwrap_err().var, "AUDIT_PKCS11_PIN");
        m.insert(
            "AUDIT_PKCS11_PIN_FILE".into(),
            pin_file.display().to_string(),
        );
        assert_eq!(
            Config::from_map(&m).unwrap_err().var,
            "AUDIT_PKCS11_KEY_LABEL"
        );
        m.insert("AUDIT_PKCS11_KEY_LABEL".into(), "audit".into());
        let c = Config::from_map(&m).unwrap();
        match &c.audit.signing_key {
            Some(KeySource::Pkcs11(s)) => {
                assert_eq!(s.pin.expose_secret(), "4711-secret-pin");
                assert!(!format!("{s:?}").contains("4711"));
            }
            other => panic!("{other:?}"),
        }
        assert!(c.redacted_values().iter().any(|v| v == "4711-secret-pin"));

        for (var, val, at) in [
            ("AUDIT_VERIFY_KEY", "xyz", "AUDIT_VERIFY_KEY"),
            ("AUDIT_VERIFY_KEY", "abcd", "AUDIT_VERIFY_KEY"),
            ("AUDIT_CHECKPOINT_ROWS", "0", "AUDIT_CHECKPOINT_ROWS"),
            ("AUDIT_CHECKPOINT_MINUTES", "0", "AUDIT_CHECKPOINT_MINUTES"),
            ("AUDIT_SIGNING_KEY_FILE", "/k", "AUDIT_PKCS11_MODULE"),
        ] {
            let mut m2 = m.clone();
            m2.insert(var.into(), val.into());
            assert_eq!(Config::from_map(&m2).unwrap_err().var, at, "{var}={val}");
        }
    }

    /// Secrets come from systemd's `$CREDENTIALS_DIRECTORY` by their variable's name, validated
    /// like `NAME_FILE`; an explicit value or `NAME_FILE` wins.
    #[test]
    fn secrets_come_from_the_credentials_directory_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let creds = dir.path().join("creds");
        std::fs::create_dir(&creds).unwrap();
        std::fs::write(
            creds.join("TELEGRAM_BOT_TOKEN"),
            "777777:CREDdirCREDdirCREDdirCREDdirCREDdir1\n",
        )
        .unwrap();
        std::fs::write(creds.join("ANTHROPIC_API_KEY"), "sk-ant-from-creds\n").unwrap();
        std::fs::write(creds.join("WEBHOOK_API_SECRET"), "short").unwrap();
        let mut m = base(dir.path());
        m.remove("TELEGRAM_BOT_TOKEN");
        m.insert("CREDENTIALS_DIRECTORY".into(), creds.display().to_string());
        // Validated like any secret: a too-short webhook secret is refused by name.
        assert_eq!(Config::from_map(&m).unwrap_err().var, "WEBHOOK_API_SECRET");
        std::fs::write(
            creds.join("WEBHOOK_API_SECRET"),
            "long-enough-webhook-secret",
        )
        .unwrap();
        let c = Config::from_map(&m).unwrap();
        assert_eq!(
            c.telegram_bot_token.expose_secret(),
            "777777:CREDdirCREDdirCREDdirCREDdirCREDdir1"
        );
        assert!(c.redacted_values().iter().any(|v| v == "sk-ant-from-creds"));
        // The environment still wins over the credential.
        m.insert(
            "TELEGRAM_BOT_TOKEN".into(),
            "123456:ABCdefGHIjklMNOpqrsTUVwxyz_-12345".into(),
        );
        let c = Config::from_map(&m).unwrap();
        assert!(c.telegram_bot_token.expose_secret().starts_with("123456:"));
        // An empty credential is an error, as with NAME_FILE.
        std::fs::write(creds.join("ANTHROPIC_API_KEY"), "").unwrap();
        assert_eq!(
            Config::from_map(&m).unwrap_err().var,
            "ANTHROPIC_API_KEY_FILE"
        );
    }

    /// Every variable this module reads is in the table (and so in the README and
    /// `.env.example`, which are generated from it), and every table entry is read.
    #[test]
    fn the_table_and_the_parser_name_the_same_variables() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let src = std::fs::read_to_string(root.join("src/config.rs")).unwrap();
        let re = regex::Regex::new(
            r#"(?:get\(|get_secret\(\s*vars,\s*|set\(vars, |secret\()"([A-Z][A-Z0-9_]+)""#,
        )
        .unwrap();
        let mut read: Vec<String> = re
            .captures_iter(&src)
            .map(|c| c[1].to_string())
            .filter(|n| {
                !matches!(
                    n.as_str(),
                    "HOME" | "STATE_DIRECTORY" | "CREDENTIALS_DIRECTORY"
                )
            })
            .collect();
        read.sort();
        read.dedup();
        assert!(read.len() > 40, "the scan found too few names: {read:?}");
        let mut table: Vec<String> = vars::VARS.iter().map(|v| v.name.to_string()).collect();
        table.sort();
        assert_eq!(read, table, "config.rs and config/vars.rs disagree");
    }
}
