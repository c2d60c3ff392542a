//! The one table of settings: every variable ccgate reads, its default and what it means.
//!
//! Why a table: the parser ([`super::Config::from_map`]) takes its defaults from here, and the
//! README's configuration table, `.env.example` and `ccgate check` are printed from it, so a
//! setting cannot be added, renamed or re-defaulted in one place and forgotten in another (tests
//! compare the committed README section and `.env.example` with what this module generates;
//! `ccgate config env-example` / `readme-table` regenerate them).

/// What a variable means when it is not set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IfUnset {
    /// ccgate refuses to start without it.
    Required,
    /// Unset has a meaning of its own (off, none, computed), described in Markdown.
    Means(&'static str),
    /// Unset means this value; the parser reads it exactly as if it had been written.
    Value(&'static str),
}

/// One setting.
#[derive(Debug, Clone, Copy)]
pub struct Var {
    pub name: &'static str,
    pub default: IfUnset,
    /// Markdown, one line.
    pub doc: &'static str,
    /// May also come from `NAME_FILE` (or systemd's `$CREDENTIALS_DIRECTORY`); never shown.
    pub secret: bool,
    /// Offered uncommented in `.env.example` with this placeholder (the settings a new user
    /// must fill in).
    pub example: Option<&'static str>,
    /// A file or folder: relative values are taken from the `.env` file's folder.
    pub path: bool,
    /// A program: a bare name is looked up on `PATH` instead.
    pub program: bool,
}

const fn var(name: &'static str, default: IfUnset, doc: &'static str) -> Var {
    Var {
        name,
        default,
        doc,
        secret: false,
        example: None,
        path: false,
        program: false,
    }
}

impl Var {
    const fn secret(mut self) -> Self {
        self.secret = true;
        self
    }
    const fn path(mut self) -> Self {
        self.path = true;
        self
    }
    const fn program(mut self) -> Self {
        self.path = true;
        self.program = true;
        self
    }
    const fn example(mut self, value: &'static str) -> Self {
        self.example = Some(value);
        self
    }

    /// The value to parse when the variable is unset (`IfUnset::Value` only).
    pub fn default_value(&self) -> Option<&'static str> {
        match self.default {
            IfUnset::Value(v) => Some(v),
            _ => None,
        }
    }

    /// The default as the README shows it.
    pub fn default_markdown(&self) -> String {
        match self.default {
            IfUnset::Required => "— (required)".into(),
            IfUnset::Means(text) => text.into(),
            IfUnset::Value(v) => format!("`{v}`"),
        }
    }
}

use IfUnset::{Means, Required, Value};

/// Every variable, in the order the README and `.env.example` list them.
pub const VARS: &[Var] = &[
    var("TELEGRAM_BOT_TOKEN", Required, "the bot token from @BotFather; never logged, never passed to Claude").secret().example("123456789:replace-with-your-token-from-botfather"),
    var("TELEGRAM_BOT_USERNAME", Means("—"), "the bot's username (for `/cmd@bot` in groups)"),
    var("APPROVED_DIRECTORY", Required, "the only tree Claude may work in; chats start at its root").path().example("/home/me/projects"),
    var("ALLOWED_USERS", Means("empty = **nobody**"), "Telegram user ids allowed to use the bot").example("123456789"),
    var("CLAUDE_CLI_PATH", Value("claude"), "path to the Claude Code CLI").program(),
    var("CLAUDE_MODEL", Means("CLI default"), "model passed with `--model`"),
    var("CLAUDE_MAX_TURNS", Value("10"), "`--max-turns` per request"),
    var("CLAUDE_TIMEOUT_SECONDS", Value("300"), "a request running longer is interrupted and reported"),
    var("CLAUDE_IDLE_TIMEOUT_SECONDS", Value("900"), "an idle `claude` process is stopped; the next message resumes"),
    var("MAX_CLAUDE_PROCESSES", Means("`MemAvailable` / 256 MiB, clamped to 2–64 (read once at start)"), "most live `claude` processes over all chats and webhook/scheduled runs; when all are taken the least recently used idle one is stopped (its chat resumes on its next message) and new requests wait in one line, chats told their position"),
    var("CLAUDE_ENV_PASSTHROUGH", Means("—"), "extra environment variable names to pass to `claude`"),
    var("VERBOSE_LEVEL", Value("1"), "progress detail: 0 answer only, 1 tool names, 2 tool inputs and notes"),
    var("STREAM_DRAFTS", Value("false"), "in private chats, stream a turn's progress as a message draft (`sendMessageDraft`) instead of editing a progress message; falls back to edits where the Bot API refuses drafts"),
    var("DATABASE_URL", Value("sqlite:///data/ccgate.db"), "`sqlite:///relative.db` (from the `.env` file's folder) or `sqlite:////absolute.db`; unset under systemd's `StateDirectory=`: `$STATE_DIRECTORY/ccgate.db`"),
    var("LOG_LEVEL", Value("info"), "a level or `tracing` filter, e.g. `info,ccgate=debug` (each directive a level or `target=level`; anything else is a configuration error)"),
    var("TELEGRAM_API_URL", Value("https://api.telegram.org"), "Bot API base (tests point it at a fake)"),
    var("TELEGRAM_POLL_TIMEOUT_SECONDS", Value("30"), "long-poll timeout"),
    var("LOCK_DIR", Means("system temp dir"), "where the single-instance lock file lives").path(),
    var("ALLOWED_GROUPS", Means("none"), "group chat ids (negative) where the bot works"),
    var("USER_ROLES", Means("—"), "`123:admin,456:viewer`; admins receive security alerts"),
    var("DEFAULT_ROLE", Value("developer"), "role of allowed users not in `USER_ROLES`"),
    var("PROJECT_ACCESS", Means("open"), "`webapp:123 456;infra:789` — top-level project → users allowed"),
    var("PROJECTS_PATH", Means("— (project topics off)"), "TOML registry of projects (`[[project]] slug, name, path, enabled`), each mapped to a forum topic of `PROJECTS_CHAT_ID` (see Project topics)").path(),
    var("PROJECTS_CHAT_ID", Means("— (required with `PROJECTS_PATH`)"), "the forum supergroup (negative id, also in `ALLOWED_GROUPS`) whose topics are the projects"),
    var("PAIRING", Value("on"), "`off` disables pairing codes for unknown users"),
    var("ENABLE_TOKEN_AUTH", Value("false"), "require `/login <token>` in addition to the allowlist"),
    var("AUTH_TOKEN_SECRET", Means("—"), "≥ 32 chars; key for hashing login tokens (required with token auth)").secret(),
    var("SESSION_TIMEOUT_HOURS", Value("24"), "auth session ends after this much inactivity"),
    var("RATE_LIMIT_REQUESTS", Value("10"), "per-user rate limit: messages allowed per `RATE_LIMIT_WINDOW` (token bucket)"),
    var("RATE_LIMIT_WINDOW", Value("60"), "length of the rate-limit window in seconds"),
    var("RATE_LIMIT_BURST", Value("20"), "most messages a user may send at once before the rate applies"),
    var("CLAUDE_MAX_COST_PER_USER", Value("10"), "USD per user per UTC day (`off` = unlimited)"),
    var("CLAUDE_MAX_COST_PER_REQUEST", Means("—"), "USD per request, passed as `--max-budget-usd`"),
    var("CLAUDE_MAX_COST_GLOBAL", Means("—"), "USD per UTC day over all users"),
    var("SECRET_FILE_PATTERNS", Means("—"), "extra secret-file globs (`**/*.secret,vault/`)"),
    var("ANTHROPIC_API_KEY", Means("—"), "the model API key; held by ccgate's gateway, never given to Claude").secret().example("sk-ant-replace-me"),
    var("ANTHROPIC_AUTH_TOKEN", Means("—"), "instead of an API key: a bearer token for `ANTHROPIC_BASE_URL` (held by the gateway like the key)").secret(),
    var("CLAUDE_CODE_OAUTH_TOKEN", Means("—"), "instead of an API key: a claude.ai subscription token from `claude setup-token` (held by the gateway)").secret(),
    var("ANTHROPIC_BASE_URL", Means("`https://api.anthropic.com`"), "where the gateway forwards model requests"),
    var("MAX_UPLOAD_BYTES", Value("20971520"), "largest document or photo accepted (checked before and during download; 20 MiB is the Bot API's own download limit)"),
    var("MAX_SEND_BYTES", Value("20971520"), "largest file Claude's `send_file` or `/get` sends to the chat (at most 50000000: the Bot API's upload limit)"),
    var("UPLOAD_DIR", Value("uploads"), "where uploads are saved, relative to the chat's project (never overwritten: `-1`, `-2`… suffixes)"),
    var("MAX_IMAGE_BYTES", Value("5242880"), "largest image sent to Claude as an image block (larger ones are only saved)"),
    var("MAX_TURN_IMAGE_BYTES", Value("20971520"), "most image bytes in one request to Claude (an album's images beyond it are only saved; the model API takes 32 MB per request)"),
    var("ARCHIVE_MAX_TOTAL_BYTES", Value("209715200"), "most bytes an uploaded archive may extract to"),
    var("ARCHIVE_MAX_FILES", Value("2000"), "most entries (files and folders) in an uploaded archive"),
    var("ARCHIVE_MAX_FILE_BYTES", Value("52428800"), "largest single file in an uploaded archive"),
    var("ARCHIVE_MAX_RATIO", Value("100"), "most extracted bytes per archive byte (zip bombs); checked once over 1 MiB"),
    var("ALBUM_WINDOW_MS", Value("1500"), "photos of one album arriving within this long of each other become one request"),
    var("VOICE_TRANSCRIPTION_URL", Means("— (voice notes off)"), "base URL of an OpenAI-compatible transcription API (`{URL}/audio/transcriptions`), e.g. `http://127.0.0.1:8080/v1` (whisper.cpp, faster-whisper) or `https://api.openai.com/v1`; `https://` unless the host is loopback"),
    var("VOICE_TRANSCRIPTION_MODEL", Value("whisper-1"), "transcription model sent as `model` (e.g. `whisper-large-v3` on Groq)"),
    var("VOICE_TRANSCRIPTION_API_KEY", Means("— (none; local servers need none)"), "sent as `Authorization: Bearer` to the transcription API; never logged, never passed to Claude").secret(),
    var("VOICE_TRANSCRIPTION_LANGUAGE", Means("— (detected)"), "ISO-639-1 language hint sent as `language` (`en`, `de`, …)"),
    var("MAX_VOICE_SECONDS", Value("600"), "longest voice note or audio file transcribed (Telegram's duration, checked before download)"),
    var("MAX_VOICE_BYTES", Value("20971520"), "largest voice note or audio file transcribed (checked before and during download)"),
    var("SANDBOX", Value("on"), "`off` runs Claude without an OS boundary (loud warnings; not recommended)"),
    var("BWRAP_PATH", Value("bwrap"), "the bubblewrap binary").program(),
    var("SANDBOX_READ_ONLY_PATHS", Means("—"), "extra absolute paths visible read-only inside (`/opt,/root/.cargo,/root/.rustup`)"),
    var("SANDBOX_SCAN_LIMIT", Value("200000"), "most files and folders walked in a project to mask secret files; larger projects are refused"),
    var("CLAUDE_HOME_DIR", Means("`<database dir>/claude-home`"), "base of the private per-user HOMEs").path(),
    var("EGRESS_ALLOW", Means("— (none)"), "hosts tools inside may reach through the proxy: `registry.npmjs.org,*.crates.io,10.0.0.5:8443`"),
    var("APPROVAL_TIMEOUT", Value("300"), "seconds an approval may wait before it is denied"),
    var("POLICY_FILE", Means("built-in rules"), "TOML tool-call rules (`ccgate policy defaults` prints a start)").path(),
    var("MCP_CONFIG_PATH", Means("— (no MCP servers)"), "the operator's MCP servers (Claude's `{\"mcpServers\": …}` format, stdio only), started inside the boundary; see [MCP servers](#mcp-servers)").path(),
    var("ENABLE_API_SERVER", Value("false"), "webhooks, `/healthz`, `/readyz`, `/metrics`"),
    var("API_SERVER_BIND", Value("127.0.0.1:8080"), "where the HTTP server listens (put TLS in front)"),
    var("GITHUB_WEBHOOK_SECRET", Means("— (endpoint off)"), "secret of the GitHub webhook, ≥ 16 chars").secret(),
    var("WEBHOOK_API_SECRET", Means("— (endpoint off)"), "Bearer token and signing key of `/webhooks/{provider}`, ≥ 16 chars").secret(),
    var("WEBHOOK_MAX_BODY_BYTES", Value("1048576"), "larger bodies get 413"),
    var(
        "WEBHOOK_RATE_LIMIT",
        Value("600"),
        "requests per minute per source address (burst the same); GitHub sends all hooks from a few addresses, so a burst of pushes comes from one source. Refusals beyond 10 per kind and minute are counted and audited as one summary row",
    ),
    var("WEBHOOK_TIMESTAMP_TOLERANCE", Value("300"), "seconds a signed generic request may be old (or early)"),
    var("TRIGGERS_FILE", Means("— (no triggers)"), "TOML: which webhook events run what (see `src/automation/triggers.rs`)").path(),
    var("TELEGRAM_WEBHOOK_URL", Means("— (polling)"), "public `https://` URL Telegram posts updates to"),
    var("ENABLE_SCHEDULER", Value("true"), "run scheduled jobs"),
    var("SCHEDULER_TIMEZONE", Value("UTC"), "zone of a cron given without one"),
    var("AUDIT_SIGNING_KEY_FILE", Means("— (no checkpoints)"), "Ed25519 key (PKCS#8 PEM, mode 0600; `ccgate audit keygen --out PATH`) that signs audit checkpoints; keep it outside the data directory").path(),
    var("AUDIT_PKCS11_MODULE", Means("—"), "instead of a key file: the PKCS#11 module (`.so`) of an HSM, TPM (tpm2-pkcs11), YubiKey or SoftHSM2 holding the Ed25519 key").path(),
    var("AUDIT_PKCS11_TOKEN_LABEL", Means("—"), "label of the token with the key (required with `AUDIT_PKCS11_MODULE`)"),
    var("AUDIT_PKCS11_KEY_LABEL", Means("—"), "`CKA_LABEL` of the key pair (`ccgate audit keygen --pkcs11` creates one)"),
    var("AUDIT_PKCS11_PIN", Means("—"), "the token's user PIN").secret(),
    var("AUDIT_VERIFY_KEY", Means("the signing key's"), "hex Ed25519 public key(s) `audit verify` accepts checkpoints from; pin it from outside the machine (see Audit trail)"),
    var("AUDIT_CHECKPOINT_ROWS", Value("100"), "sign a checkpoint after this many new audit rows"),
    var("AUDIT_CHECKPOINT_MINUTES", Value("10"), "sign a checkpoint this often while new rows come"),
    var("AUDIT_CHECKPOINT_NOTIFY", Value("false"), "send each checkpoint's `SEQ:DIGEST` to the admins' private chats (a copy off the machine)"),
];

/// The table entry of `name`.
pub fn lookup(name: &str) -> Option<&'static Var> {
    VARS.iter().find(|v| v.name == name)
}

/// Markdown without its marks, for a shell comment.
fn plain(markdown: &str) -> String {
    markdown.replace(['`', '*'], "")
}

/// The README's configuration table (between its `config-table` markers).
pub fn readme_table() -> String {
    let mut out = String::from("| variable | default | meaning |\n|---|---|---|\n");
    for v in VARS {
        let mut doc = v.doc.to_string();
        if v.secret {
            doc.push_str(&format!(
                " (or `{0}_FILE`, or the systemd credential `{0}`)",
                v.name
            ));
        }
        out.push_str(&format!(
            "| `{}` | {} | {doc} |\n",
            v.name,
            v.default_markdown()
        ));
    }
    out
}

/// The complete, commented `.env.example`.
pub fn env_example() -> String {
    let mut out = String::from(
        "# ccgate settings. Copy to .env and fill in; values already set in the environment win.\n\
         # Generated by `ccgate config env-example` from the table in src/config/vars.rs (the\n\
         # README's table comes from the same place). Relative paths are taken from the folder\n\
         # this file is in. Secrets may also come from files: NAME_FILE=/path.\n",
    );
    for v in VARS {
        out.push('\n');
        let default = match v.default {
            Required => "required".to_string(),
            Means(text) => {
                let text = plain(text);
                let text = text.trim_start_matches('—').trim();
                let text = text.trim_start_matches('(').trim_end_matches(')');
                if text.is_empty() {
                    "optional".to_string()
                } else {
                    format!("unset: {text}")
                }
            }
            Value(value) => format!("default: {value}"),
        };
        out.push_str(&format!("# {} ({default})\n", plain(v.doc)));
        if v.secret {
            out.push_str(&format!(
                "# or {0}_FILE=/path/to/a/file/holding/it, or a systemd credential named {0}\n",
                v.name
            ));
        }
        match v.example {
            Some(example) => out.push_str(&format!("{}={example}\n", v.name)),
            None => out.push_str(&format!(
                "# {}={}\n",
                v.name,
                v.default_value().unwrap_or("")
            )),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const START: &str = "<!-- config-table:start (generated: ccgate config readme-table) -->\n";
    const END: &str = "<!-- config-table:end -->";

    fn root() -> &'static std::path::Path {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
    }

    #[test]
    fn names_are_unique_and_shaped() {
        let mut seen = std::collections::HashSet::new();
        for v in VARS {
            assert!(seen.insert(v.name), "{} is listed twice", v.name);
            assert!(
                v.name
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'),
                "{}",
                v.name
            );
            assert!(!v.doc.is_empty() && !v.doc.contains('\n'), "{}", v.name);
        }
    }

    /// The README section is exactly what `readme_table` prints (regenerate with
    /// `cargo run -- config readme-table`).
    #[test]
    fn readme_table_is_generated() {
        let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
        let start = readme
            .find(START)
            .expect("README lacks the config-table start marker")
            + START.len();
        let end = readme[start..]
            .find(END)
            .expect("README lacks the end marker")
            + start;
        assert_eq!(
            &readme[start..end],
            readme_table(),
            "README's configuration table differs from src/config/vars.rs; run `cargo run -- config readme-table` and paste it"
        );
    }

    /// `.env.example` is exactly what `env_example` prints (regenerate with
    /// `cargo run -- config env-example > .env.example`).
    #[test]
    fn env_example_is_generated() {
        let example = std::fs::read_to_string(root().join(".env.example")).unwrap();
        assert_eq!(
            example,
            env_example(),
            ".env.example differs from src/config/vars.rs; run `cargo run -- config env-example > .env.example`"
        );
    }

    /// The example parses (with its placeholders) into a configuration, so the file a new user
    /// copies is valid apart from the values they must fill in.
    #[test]
    fn env_example_parses_after_filling_in_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        let mut vars = std::collections::HashMap::new();
        for item in dotenvy::from_read_iter(env_example().as_bytes()) {
            let (k, v) = item.unwrap();
            vars.insert(k, v);
        }
        // The token placeholder is refused on purpose (it must be replaced).
        assert!(super::super::Config::from_map(&vars).is_err());
        vars.insert(
            "TELEGRAM_BOT_TOKEN".into(),
            "123456:ABCdefGHIjklMNOpqrsTUVwxyz_-12345".into(),
        );
        vars.insert(
            "APPROVED_DIRECTORY".into(),
            dir.path().display().to_string(),
        );
        let c = super::super::Config::from_map(&vars).unwrap();
        assert_eq!(c.allowed_users, vec![123456789]);
    }
}
