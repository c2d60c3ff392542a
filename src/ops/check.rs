//! `ccgate check` and `ccgate doctor`: everything about a configuration that can be verified
//! without starting the bot.
//!
//! Why a file of its own: a misconfiguration should be found before the bot runs, each with
//! what to fix — the settings and where they came from, the policy and triggers files, the
//! `claude` CLI, the OS boundary, the model credential, checkpoint keys; `doctor` also contacts
//! Telegram and opens the database. Findings come out one [`Item`] at a time, as they are
//! made (a `getMe` may take seconds), and the caller prints them.

use std::fmt;

use super::open_store;
use crate::config::Config;

/// How far to go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Offline and fast: nothing is contacted, the database is not opened.
    Check,
    /// Everything `Check` does, and for real: Telegram's getMe, opening the database.
    Doctor,
    /// Everything `Doctor` does, and a search of every project's git history for ccgate's
    /// secret values (slow on big repositories).
    Deep,
}

/// One finding, shown as one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// A section title.
    Heading(String),
    /// Something verified: what it will be (ok) or what is wrong and how to fix it.
    Check {
        what: &'static str,
        result: Result<String, String>,
    },
    /// One layer of the OS boundary, under its check.
    Layer { layer: &'static str, what: String },
    /// A setting that is set, and where it came from (`None`: a secret, never shown).
    Setting {
        name: &'static str,
        value: Option<String>,
        origin: &'static str,
    },
    /// Something this mode does not verify.
    Skipped {
        what: &'static str,
        why: &'static str,
    },
}

impl Item {
    /// A problem to fix.
    pub fn failed(&self) -> bool {
        matches!(self, Item::Check { result: Err(_), .. })
    }
}

impl fmt::Display for Item {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Item::Heading(h) => write!(f, "{h}"),
            Item::Check {
                what,
                result: Ok(v),
            } => write!(f, "  ok    {what:<22} {v}"),
            Item::Check {
                what,
                result: Err(e),
            } => write!(f, "  FAIL  {what:<22} {e}"),
            Item::Layer { layer, what } => {
                write!(f, "        {:<22} {what}", format!("· {layer}"))
            }
            Item::Setting {
                name,
                value,
                origin,
            } => {
                let shown = value.as_deref().unwrap_or("set (hidden)");
                write!(f, "  {name:<30} {shown}  [{origin}]")
            }
            Item::Skipped { what, why } => write!(f, "  --    {what:<22} {why}"),
        }
    }
}

/// Hands findings on and remembers whether any failed.
struct Findings<F: FnMut(Item)> {
    emit: F,
    ok: bool,
}

impl<F: FnMut(Item)> Findings<F> {
    fn item(&mut self, item: Item) {
        self.ok &= !item.failed();
        (self.emit)(item);
    }

    fn check(&mut self, what: &'static str, result: Result<String, String>) {
        self.item(Item::Check { what, result });
    }
}

/// Run the checks of `mode`, handing each finding to `emit` as it is made; true if none failed.
pub async fn run(config: &Config, mode: Mode, emit: impl FnMut(Item)) -> bool {
    let mut f = Findings { emit, ok: true };
    f.item(Item::Heading("ccgate configuration".into()));
    f.check(
        "approved directory",
        Ok(config.approved_directory.display().to_string()),
    );
    f.check(
        "allowed users",
        if config.allowed_users.is_empty() {
            Ok(
                "none (nobody can use the bot until ALLOWED_USERS is set or a pairing is approved)"
                    .into(),
            )
        } else {
            Ok(format!("{:?}", config.allowed_users))
        },
    );
    f.check("database", Ok(config.database_path.display().to_string()));
    f.check("own files", own_files(config));
    f.check("telegram api", Ok(config.telegram_api_url.clone()));
    f.check("claude cli", claude_cli(config));
    f.check(
        "tool-call policy",
        config
            .rules()
            .map(|_| {
                config
                    .policy_file
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|| "built-in rules".into())
            })
            .map_err(|e| e.to_string()),
    );
    match config.mcp_servers() {
        Ok(m) if m.servers.is_empty() => f.check("mcp servers", Ok("none".into())),
        Ok(m) => {
            f.check(
                "mcp servers",
                Ok(format!(
                    "{} from {} (stdio, inside the boundary; each tool decided by [tools] rules, default ask)",
                    m.servers.len(),
                    m.source.as_deref().unwrap_or(std::path::Path::new("?")).display()
                )),
            );
            for s in &m.servers {
                f.item(Item::Layer {
                    layer: "mcp",
                    what: s.describe(),
                });
            }
        }
        Err(e) => f.check("mcp servers", Err(e.to_string())),
    }
    f.check(
        "triggers",
        match &config.server.triggers_file {
            None => Ok("none".into()),
            Some(p) => crate::automation::triggers::Triggers::load(p, &config.approved_directory)
                .map(|t| format!("{} trigger(s) from {}", t.triggers.len(), p.display())),
        },
    );
    let s = &config.server;
    let on = |b: bool| if b { "on" } else { "off" };
    f.check(
        "api server",
        Ok(format!(
            "{} on {} (github webhook {}, generic webhooks {})",
            on(s.enabled),
            s.bind,
            on(s.github_webhook_secret.is_some()),
            on(s.webhook_api_secret.is_some())
        )),
    );
    f.check(
        "telegram updates",
        Ok(match &s.telegram_webhook_url {
            Some(u) => format!("webhook {u}"),
            None => "long polling".into(),
        }),
    );
    f.check(
        "scheduler",
        Ok(format!(
            "{} (default zone {})",
            on(config.scheduler.enabled),
            config.scheduler.default_tz.name()
        )),
    );
    let voice = &config.media.voice;
    f.check(
        "voice notes",
        Ok(match &voice.url {
            None => "off (VOICE_TRANSCRIPTION_URL unset)".into(),
            Some(u) => format!(
                "on: {} (model {}, key {})",
                crate::media::transcribe::endpoint(u),
                voice.model,
                if voice.api_key.is_some() {
                    "set"
                } else {
                    "none"
                }
            ),
        }),
    );
    match crate::app::build_jail(config, None) {
        Err(e) => f.check("os boundary", Err(format!("cannot set up: {e:#}"))),
        Ok(jail) => {
            let summary = jail.summary();
            f.check(
                "os boundary",
                if jail.unavailable().is_some() {
                    Err(summary)
                } else {
                    Ok(summary)
                },
            );
            for (layer, what) in jail.layers() {
                f.item(Item::Layer { layer, what });
            }
            crate::jail::remove_runtime(jail.runtime());
        }
    }
    f.check("model credential", model_credential(config));
    f.check("audit checkpoints", audit_checkpoints(config));
    f.check(
        "egress allowlist",
        Ok(if config.sandbox.egress_allow.is_empty() {
            "none (tools inside reach no host; EGRESS_ALLOW adds some)".into()
        } else {
            config
                .sandbox
                .egress_allow
                .iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        }),
    );
    f.item(Item::Heading(
        "settings (set ones; every other takes its default, see `ccgate config env-example`)"
            .into(),
    ));
    for set in &config.settings {
        f.item(Item::Setting {
            name: set.name,
            value: set.value.clone(),
            origin: set.origin.label(),
        });
    }
    match mode {
        Mode::Doctor | Mode::Deep => {
            f.check("telegram", telegram(config).await);
            let store = open_store(config);
            let database = match &store {
                Ok(st) => st.cost_today_all().await.map_err(anyhow::Error::from),
                Err(e) => Err(anyhow::anyhow!("{e:#}")),
            };
            f.check(
                "database",
                database
                    .map(|_| config.database_path.display().to_string())
                    .map_err(|e| {
                        format!(
                            "{}: {e:#} — check DATABASE_URL and that the folder is writable",
                            config.database_path.display()
                        )
                    }),
            );
            if mode == Mode::Deep {
                f.check(
                    "secrets in git history",
                    secrets_in_history(config, store.as_ref().ok()).await,
                );
            }
        }
        Mode::Check => f.item(Item::Skipped {
            what: "telegram",
            why: "not contacted (offline check; `ccgate doctor` does)",
        }),
    }
    f.ok
}

/// The configured `claude` answers `--version` as Claude Code.
/// ccgate's own files exposed to other users or to Claude (`policy::exposure`).
fn own_files(config: &Config) -> Result<String, String> {
    let found = crate::policy::exposure::of_config(config);
    if found.is_empty() {
        Ok("private, and outside the approved directory".into())
    } else {
        Err(found
            .iter()
            .map(|e| e.describe())
            .collect::<Vec<_>>()
            .join("; "))
    }
}

/// Every secret value ccgate knows (configured, and rotated in when the database could be
/// opened), by setting.
async fn needles(
    config: &Config,
    store: Option<&crate::store::Store>,
) -> Vec<super::history::Needle> {
    use secrecy::ExposeSecret;
    let needle = |setting: &str, value: &str| super::history::Needle {
        setting: setting.to_string(),
        value: value.to_string(),
    };
    let mut v = vec![needle(
        "TELEGRAM_BOT_TOKEN",
        config.telegram_bot_token.expose_secret(),
    )];
    for (setting, s) in [
        ("AUTH_TOKEN_SECRET", &config.auth_token_secret),
        (
            "GITHUB_WEBHOOK_SECRET",
            &config.server.github_webhook_secret,
        ),
        ("WEBHOOK_API_SECRET", &config.server.webhook_api_secret),
    ] {
        if let Some(s) = s {
            v.push(needle(setting, s.expose_secret()));
        }
    }
    for s in &config.extra_secrets {
        v.push(needle(
            "a model credential or PIN (ANTHROPIC_*, CLAUDE_CODE_OAUTH_TOKEN, AUDIT_PKCS11_PIN)",
            s.expose_secret(),
        ));
    }
    if let Some(store) = store {
        if let Ok(live) = crate::secrets::Secrets::load(config, store).await {
            for r in crate::secrets::Rotatable::ALL {
                for value in live.ring(r).map(|k| k.accepted).unwrap_or_default() {
                    v.push(needle(
                        &format!("{} (rotated)", r.setting()),
                        value.expose_secret(),
                    ));
                }
            }
        }
    }
    // A value counted once, under its first name.
    let mut seen = std::collections::HashSet::new();
    v.retain(|n| seen.insert(n.value.clone()));
    v
}

async fn secrets_in_history(
    config: &Config,
    store: Option<&crate::store::Store>,
) -> Result<String, String> {
    let needles = needles(config, store).await;
    let approved = config.approved_directory.clone();
    let secrets = config.secret_files().map_err(|e| e.to_string())?;
    let scan =
        tokio::task::spawn_blocking(move || super::history::scan(&approved, &secrets, &needles))
            .await
            .map_err(|e| format!("the scan failed: {e}"))?;
    let mut problems: Vec<String> = scan
        .findings
        .iter()
        .map(|f| {
            format!(
                "{} is in the history of {} ({} {}{}) — rotate it, then rewrite the history \
                 (git filter-repo) or treat every clone as leaked",
                f.setting,
                f.repository.display(),
                f.kind,
                &f.object[..f.object.len().min(12)],
                f.commit
                    .as_deref()
                    .map(|c| format!(", added by {c}"))
                    .unwrap_or_else(|| ", in no commit: run git gc --prune=now".into())
            )
        })
        .collect();
    problems.extend(
        scan.errors
            .iter()
            .map(|(repo, e)| format!("{} could not be searched: {e}", repo.display())),
    );
    if problems.is_empty() {
        Ok(format!(
            "none in {} repositories ({} objects{})",
            scan.repositories,
            scan.objects,
            if scan.skipped_large > 0 {
                format!(", {} over 256 MiB skipped", scan.skipped_large)
            } else {
                String::new()
            }
        ))
    } else {
        Err(problems.join("; "))
    }
}

fn claude_cli(config: &Config) -> Result<String, String> {
    let path = &config.claude_cli_path;
    std::process::Command::new(path)
        .arg("--version")
        .output()
        .map_err(|e| format!("{}: {e} — install it (npm install -g @anthropic-ai/claude-code) or set CLAUDE_CLI_PATH", path.display()))
        .and_then(|o| {
            let version = String::from_utf8_lossy(&o.stdout).trim().to_string();
            if o.status.success() && version.contains("Claude Code") {
                Ok(format!("{} ({version})", path.display()))
            } else {
                Err(format!(
                    "{} is not the Claude Code CLI (`--version` said {version:?}); set CLAUDE_CLI_PATH to the claude binary",
                    path.display()
                ))
            }
        })
}

/// Which credential ccgate holds for the model, and what Claude gets instead.
fn model_credential(config: &Config) -> Result<String, String> {
    match &config.anthropic.credential {
        Some(c) => Ok(format!(
            "{c:?} for {} (held by ccgate; {})",
            config
                .anthropic
                .base_url
                .as_deref()
                .unwrap_or(crate::egress::DEFAULT_UPSTREAM),
            if config.sandbox.enabled {
                "Claude gets an ephemeral key valid for one process"
            } else {
                "SANDBOX=off: Claude gets the real credential"
            }
        )),
        None => Err("none: set ANTHROPIC_API_KEY (or ANTHROPIC_API_KEY_FILE), ANTHROPIC_AUTH_TOKEN, or CLAUDE_CODE_OAUTH_TOKEN (from `claude setup-token`); without one Claude answers \"Not logged in\"".into()),
    }
}

/// The checkpoint signing key opens, and how often it signs.
fn audit_checkpoints(config: &Config) -> Result<String, String> {
    match &config.audit.signing_key {
        None => Ok(
            "off: no AUDIT_SIGNING_KEY_FILE or AUDIT_PKCS11_MODULE (a cut tail stays undetectable)"
                .into(),
        ),
        Some(src) => src
            .open()
            .map(|k| {
                format!(
                    "{} (public key {}), every {} rows or {} min",
                    src.describe(),
                    hex::encode(k.public_key().as_bytes()),
                    config.audit.checkpoint_rows,
                    config.audit.checkpoint_interval.as_secs() / 60
                )
            })
            .map_err(|e| format!("{}: {e:#}", src.describe())),
    }
}

/// getMe with the configured token against the configured Bot API.
async fn telegram(config: &Config) -> Result<String, String> {
    use crate::telegram::api::{ApiError, TelegramApi};
    async {
        let api = TelegramApi::new(
            &config.telegram_api_url,
            &config.telegram_bot_token,
            std::time::Duration::from_secs(5),
        )
        .map_err(|e| e.to_string())?;
        match tokio::time::timeout(std::time::Duration::from_secs(15), api.get_me()).await {
            Err(_) => Err(format!(
                "{} did not answer within 15 s — check the network or TELEGRAM_API_URL",
                config.telegram_api_url
            )),
            Ok(Ok(me)) => Ok(format!(
                "@{} via {}",
                me.get("username").and_then(|u| u.as_str()).unwrap_or("?"),
                config.telegram_api_url
            )),
            Ok(Err(ApiError::Rejected { code, description })) => Err(format!(
                "Telegram refused the token ({code}: {description}) — get a valid one from @BotFather and set TELEGRAM_BOT_TOKEN"
            )),
            Ok(Err(e)) => Err(format!(
                "cannot reach {} ({e}) — check the network or TELEGRAM_API_URL",
                config.telegram_api_url
            )),
        }
    }
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn findings_read_as_aligned_lines() {
        let ok = Item::Check {
            what: "database",
            result: Ok("/d/ccgate.db".into()),
        };
        let bad = Item::Check {
            what: "claude cli",
            result: Err("missing".into()),
        };
        assert_eq!(
            ok.to_string(),
            "  ok    database               /d/ccgate.db"
        );
        assert_eq!(bad.to_string(), "  FAIL  claude cli             missing");
        assert!(bad.failed() && !ok.failed());
        let layer = Item::Layer {
            layer: "network",
            what: "none".into(),
        };
        assert_eq!(layer.to_string(), "        · network              none");
        let secret = Item::Setting {
            name: "TELEGRAM_BOT_TOKEN",
            value: None,
            origin: ".env",
        };
        assert_eq!(
            secret.to_string(),
            format!("  {:<30} set (hidden)  [.env]", "TELEGRAM_BOT_TOKEN")
        );
    }

    #[tokio::test]
    async fn an_offline_check_fails_on_a_cli_that_is_not_claude_and_contacts_nobody() {
        let (_dir, config) = crate::ops::test_config(&[("CLAUDE_CLI_PATH", "/bin/true")]);
        let mut items = Vec::new();
        let ok = run(&config, Mode::Check, |i| items.push(i)).await;
        assert!(!ok);
        let failed: Vec<&Item> = items.iter().filter(|i| i.failed()).collect();
        assert!(
            failed
                .iter()
                .any(|i| i.to_string().contains("is not the Claude Code CLI")),
            "{failed:?}"
        );
        assert_eq!(
            items.last().map(|i| i.to_string()),
            Some(
                "  --    telegram               not contacted (offline check; `ccgate doctor` does)"
                    .to_string()
            )
        );
        assert_eq!(items[0], Item::Heading("ccgate configuration".into()));
    }
}
