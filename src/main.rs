//! The `ccgate` command line: argument parsing only; the work happens in the library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "ccgate",
    version,
    about = "A hardened Telegram gateway to Claude Code"
)]
struct Cli {
    /// The .env file to read (values already in the environment win).
    #[arg(long, global = true, default_value = ".env")]
    env_file: PathBuf,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the bot (the default).
    Run,
    /// Check the configuration offline and fast: settings, policy, triggers, the claude CLI,
    /// the OS boundary; print what would be used. Exit 2 on any problem.
    Check,
    /// Everything `check` does, and for real: contact the Telegram Bot API (getMe with the
    /// configured token), open the database. Each failure comes with what to fix.
    Doctor,
    /// Login tokens for ENABLE_TOKEN_AUTH.
    #[command(subcommand)]
    Token(TokenCmd),
    /// Approve users who asked for access with a pairing code.
    #[command(subcommand)]
    Pair(PairCmd),
    /// Inspect the tamper-evident audit log.
    #[command(subcommand)]
    Audit(AuditCmd),
    /// Step-up authentication for dangerous actions.
    #[command(subcommand)]
    Totp(TotpCmd),
    /// Tool-call policy.
    #[command(subcommand)]
    Policy(PolicyCmd),
    /// Scheduled jobs (the same as /schedule in chat).
    #[command(subcommand)]
    Schedule(ScheduleCmd),
    /// Print what is generated from the settings table (no configuration needed).
    #[command(subcommand)]
    Config(ConfigCmd),
    /// Lift an automatic or manual lockout.
    Unlock {
        #[arg(long)]
        user: i64,
    },
}

#[derive(Subcommand)]
enum ConfigCmd {
    /// A complete, commented .env.example (every variable, its default and meaning).
    EnvExample,
    /// The README's configuration table (Markdown).
    ReadmeTable,
}

#[derive(Subcommand)]
enum TokenCmd {
    /// Print a one-time login token for a user (shown once; stored only as a keyed hash).
    Issue {
        #[arg(long)]
        user: i64,
        /// How long the token can be redeemed: 30m, 8h, 2d…
        #[arg(long, default_value = "8h")]
        ttl: String,
    },
    /// Revoke a user's unused tokens and end their session.
    Revoke {
        #[arg(long)]
        user: i64,
    },
}

#[derive(Subcommand)]
enum TotpCmd {
    /// Create a TOTP secret for a user and show it (text and QR) for their authenticator app.
    Enroll {
        #[arg(long)]
        user: i64,
    },
}

#[derive(Subcommand)]
enum PolicyCmd {
    /// Decide one tool call: '{"tool_name":"Bash","input":{"command":"ls"}}' (optional "cwd", "role").
    Check { call: String },
    /// Print the built-in rules as TOML (a starting point for POLICY_FILE).
    Defaults,
}

#[derive(Subcommand)]
enum ScheduleCmd {
    /// List every job.
    List,
    /// Add a job: ccgate schedule add --chat 123 --user 123 --dir myproject "0 9 * * 1-5 Europe/Berlin" "summarise yesterday's commits"
    Add {
        /// The chat that receives the answers.
        #[arg(long)]
        chat: i64,
        /// Forum topic id in that chat (0 = none).
        #[arg(long, default_value_t = 0)]
        topic: i64,
        /// Whose role and budget the job runs with.
        #[arg(long)]
        user: i64,
        /// Project directory, relative to APPROVED_DIRECTORY (default: the directory itself).
        #[arg(long, default_value = ".")]
        dir: String,
        /// Five cron fields and an optional IANA time zone, quoted.
        cron: String,
        prompt: String,
    },
    Pause {
        id: i64,
    },
    Resume {
        id: i64,
    },
    Remove {
        id: i64,
    },
}

#[derive(Subcommand)]
enum PairCmd {
    /// Show pending pairing requests.
    List,
    /// Admit the user who received this code.
    Approve { code: String },
}

#[derive(Subcommand)]
enum AuditCmd {
    /// Check the hash chain and every signed checkpoint; reports the first broken link, a cut
    /// or rewritten tail and forged or missing checkpoints.
    Verify {
        /// An Ed25519 public key (hex) checkpoints must be signed with (repeatable; default
        /// AUDIT_VERIFY_KEY, else the configured signing key's).
        #[arg(long = "public-key")]
        public_key: Vec<String>,
        /// A checkpoint recorded elsewhere, SEQ:DIGEST (repeatable): it must still be there.
        #[arg(long)]
        checkpoint: Vec<ccgate::audit::checkpoint::Expected>,
    },
    /// Create an Ed25519 signing key for checkpoints and print its public key.
    Keygen {
        /// Write a PKCS#8 PEM key file here (mode 0600; never overwrites).
        #[arg(long, conflicts_with = "pkcs11", required_unless_present = "pkcs11")]
        out: Option<PathBuf>,
        /// Generate the key inside the configured PKCS#11 token instead (AUDIT_PKCS11_*).
        #[arg(long)]
        pkcs11: bool,
    },
    /// Print the public key of the configured signing key (pin it as AUDIT_VERIFY_KEY).
    Pubkey,
    /// Show the newest rows.
    Tail {
        #[arg(short, default_value_t = 20)]
        n: usize,
    },
    /// Export every row.
    Export {
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
}

/// `30m`, `8h`, `2d`, `90s`, or plain seconds.
fn parse_ttl(s: &str) -> Result<std::time::Duration, String> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration like 30m, 8h or 2d"))?;
    let secs = match unit {
        "" | "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => return Err(format!("{s:?}: unknown unit {unit:?} (use s, m, h or d)")),
    };
    if secs == 0 {
        return Err("the duration must be positive".into());
    }
    Ok(std::time::Duration::from_secs(secs))
}

fn open_store(config: &ccgate::config::Config) -> anyhow::Result<ccgate::store::Store> {
    Ok(ccgate::store::Store::open(&config.database_path)?
        .with_redactor(ccgate::audit::Redactor::new(config.redacted_values())))
}

/// `audit keygen` and `audit pubkey`: they touch the key, never the database.
fn audit_keys(command: AuditCmd, config: &ccgate::config::Config) -> anyhow::Result<ExitCode> {
    use ccgate::audit::checkpoint::Sign;
    match command {
        AuditCmd::Keygen { out, pkcs11: _ } => {
            let public = match out {
                Some(path) => {
                    let key = ccgate::audit::signer::FileKey::generate();
                    key.write_new(&path)?;
                    eprintln!(
                        "wrote {} (mode 0600); use it with AUDIT_SIGNING_KEY_FILE={}",
                        path.display(),
                        path.display()
                    );
                    key.public_key()
                }
                None => match &config.audit.signing_key {
                    Some(ccgate::audit::signer::KeySource::Pkcs11(s)) => {
                        let public = ccgate::audit::signer::Pkcs11Key::generate(s)?;
                        eprintln!(
                            "created key {:?} on token {:?}",
                            s.key_label, s.token_label
                        );
                        public
                    }
                    _ => anyhow::bail!(
                        "--pkcs11 needs AUDIT_PKCS11_MODULE, AUDIT_PKCS11_TOKEN_LABEL, AUDIT_PKCS11_PIN[_FILE] and AUDIT_PKCS11_KEY_LABEL"
                    ),
                },
            };
            println!("{}", hex::encode(public.as_bytes()));
            eprintln!(
                "pin this public key where verify runs: AUDIT_VERIFY_KEY=<it> or --public-key <it>"
            );
        }
        AuditCmd::Pubkey => {
            let Some(src) = &config.audit.signing_key else {
                anyhow::bail!(
                    "no signing key configured (AUDIT_SIGNING_KEY_FILE or AUDIT_PKCS11_MODULE)"
                );
            };
            println!("{}", hex::encode(src.open()?.public_key().as_bytes()));
        }
        _ => unreachable!("handled by operator"),
    }
    Ok(ExitCode::SUCCESS)
}

/// The operator commands: each prints its result and returns the exit code.
fn operator(command: Command, config: &ccgate::config::Config) -> anyhow::Result<ExitCode> {
    use ccgate::auth;
    if let Command::Audit(cmd @ (AuditCmd::Keygen { .. } | AuditCmd::Pubkey)) = command {
        return audit_keys(cmd, config);
    }
    let store = open_store(config)?;
    match command {
        Command::Token(TokenCmd::Issue { user, ttl }) => {
            let ttl = parse_ttl(&ttl).map_err(anyhow::Error::msg)?;
            let Some(secret) = config.auth_token_secret.clone() else {
                anyhow::bail!("AUTH_TOKEN_SECRET is not set; token auth needs it");
            };
            if !config.enable_token_auth {
                eprintln!("note: ENABLE_TOKEN_AUTH is off; the token works once it is turned on");
            }
            let token =
                auth::Auth::new(store.clone(), secret, config.session_timeout).issue(user, ttl)?;
            ccgate::audit::try_record(
                &store,
                None,
                None,
                ccgate::audit::Event::TokenIssued,
                &serde_json::json!({"for_user": user, "ttl_secs": ttl.as_secs()}),
            )?;
            println!("{token}");
            eprintln!(
                "Send it to the bot as: /login {token}  (valid {}s, single use)",
                ttl.as_secs()
            );
        }
        Command::Token(TokenCmd::Revoke { user }) => {
            let Some(secret) = config.auth_token_secret.clone() else {
                anyhow::bail!("AUTH_TOKEN_SECRET is not set");
            };
            let n =
                auth::Auth::new(store.clone(), secret, config.session_timeout).revoke_user(user)?;
            ccgate::audit::try_record(
                &store,
                None,
                None,
                ccgate::audit::Event::TokenRevoked,
                &serde_json::json!({"for_user": user, "count": n}),
            )?;
            println!("revoked {n} token(s) of user {user}; any session ended");
        }
        Command::Pair(PairCmd::List) => {
            let pending = auth::pending_pairings(&store)?;
            if pending.is_empty() {
                println!("no pending pairing requests");
            }
            for p in pending {
                println!(
                    "{}  user {}  {}  expires {}",
                    p.code,
                    p.user_id,
                    p.username.map(|u| format!("@{u}")).unwrap_or_default(),
                    p.expires_at
                );
            }
        }
        Command::Pair(PairCmd::Approve { code }) => match auth::approve_pairing(&store, &code)? {
            Ok(user) => {
                ccgate::audit::try_record(
                    &store,
                    Some(user),
                    None,
                    ccgate::audit::Event::PairingApproved,
                    &serde_json::json!({"code": code}),
                )?;
                // Tell them: a durable outbox row, delivered by the running bot.
                store.complete_updates(
                    &[],
                    &[ccgate::store::NewOutbox {
                        chat_id: user,
                        thread_id: 0,
                        html: "✅ You're in: the operator approved your pairing request. Send a message to start, or /help.".into(),
                        reply_to: None,
                    }],
                )?;
                println!(
                    "user {user} may now use the bot (role: {}); they are told so by the running bot",
                    config.role_of(user)
                );
            }
            Err(why) => {
                eprintln!("ccgate: {why}");
                return Ok(ExitCode::FAILURE);
            }
        },
        Command::Audit(AuditCmd::Verify {
            public_key,
            checkpoint,
        }) => {
            use ccgate::audit::checkpointer;
            let (keys, source) = if !public_key.is_empty() {
                let keys = public_key
                    .iter()
                    .map(|k| ccgate::audit::checkpoint::parse_public_key(k))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(anyhow::Error::msg)?;
                (keys, "the key(s) given by --public-key".to_string())
            } else if !config.audit.verify_keys.is_empty() {
                (config.audit.verify_keys.clone(), "AUDIT_VERIFY_KEY".into())
            } else if let Some(src) = &config.audit.signing_key {
                (
                    vec![src.open()?.public_key()],
                    format!("the configured {} (pin AUDIT_VERIFY_KEY for a check that does not trust this machine)", src.describe()),
                )
            } else {
                (Vec::new(), String::new())
            };
            let report = checkpointer::verify_store(&store, &keys, &checkpoint)?;
            for line in checkpointer::report_lines(&report, &source) {
                println!("{line}");
            }
            if !report.ok() {
                return Ok(ExitCode::FAILURE);
            }
        }
        Command::Audit(AuditCmd::Tail { n }) => {
            for r in store.audit_tail(n)? {
                println!(
                    "{} #{:<6} {:<8} {:<20} user={} chat={} {}",
                    r.at,
                    r.id,
                    r.risk,
                    r.event,
                    r.user_id.map(|u| u.to_string()).unwrap_or("-".into()),
                    r.chat_id.map(|c| c.to_string()).unwrap_or("-".into()),
                    r.details
                );
            }
        }
        Command::Audit(AuditCmd::Export { json }) => {
            if !json {
                anyhow::bail!("only --json export is supported");
            }
            let mut after = 0;
            loop {
                let rows = store.audit_rows(after, 10_000)?;
                let Some(last) = rows.last() else { break };
                after = last.id;
                for r in rows {
                    println!("{}", serde_json::to_string(&r)?);
                }
            }
        }
        Command::Totp(TotpCmd::Enroll { user }) => {
            use ccgate::approval::totp;
            let secret = totp::TotpSecret::generate();
            store.set_totp_secret(user, &secret.to_base32())?;
            ccgate::audit::try_record(
                &store,
                Some(user),
                None,
                ccgate::audit::Event::TotpEnrolled,
                &serde_json::json!({}),
            )?;
            let uri = secret.otpauth_uri(&format!("user-{user}"));
            println!("{}", totp::qr_for_terminal(&uri));
            println!("secret: {}", secret.to_base32());
            println!("uri:    {uri}");
            eprintln!("Scan the QR code (or type the secret) into an authenticator app. Any earlier secret of this user no longer works.");
        }
        Command::Policy(PolicyCmd::Defaults) => {
            print!("{}", ccgate::policy::engine::DEFAULT_RULES_TOML);
        }
        Command::Policy(PolicyCmd::Check { call }) => {
            let v: serde_json::Value = serde_json::from_str(&call)
                .map_err(|e| anyhow::anyhow!("the tool call must be JSON: {e}"))?;
            let tool = v["tool_name"].as_str().or(v["tool"].as_str()).unwrap_or("");
            if tool.is_empty() {
                anyhow::bail!("the JSON needs a \"tool_name\"");
            }
            let root = &config.approved_directory;
            let cwd = match v["cwd"].as_str() {
                Some(c) => ccgate::policy::sandbox::resolve_dir_within(root, root, c)
                    .map_err(|e| anyhow::anyhow!("cwd {c:?}: {e}"))?,
                None => root.clone(),
            };
            let role = match v["role"].as_str() {
                Some(r) => ccgate::policy::roles::Role::parse(r)
                    .ok_or_else(|| anyhow::anyhow!("unknown role {r:?}"))?,
                None => config.default_role,
            };
            let secrets = config.secret_files()?;
            let rules = config.rules()?;
            let ctx = ccgate::policy::ToolContext {
                root,
                cwd: &cwd,
                role,
                secrets: &secrets,
                plans_dir: None,
                // As configured (SANDBOX); `"contained": false` shows the decision without an
                // OS boundary.
                contained: v["contained"].as_bool().unwrap_or(config.sandbox.enabled),
            };
            let d = ccgate::policy::engine::decide(&rules, &ctx, tool, &v["input"]);
            println!("decision: {}", d.label());
            println!("rule:     {}", d.rule());
            match &d {
                ccgate::policy::engine::Decision::Deny { reason, .. } => {
                    println!("reason:   {reason}")
                }
                ccgate::policy::engine::Decision::Ask {
                    reason,
                    step_up,
                    grant_scope,
                    ..
                } => {
                    println!("reason:   {reason}");
                    println!(
                        "step-up:  {}",
                        if *step_up { "TOTP required" } else { "no" }
                    );
                    println!("grant:    {grant_scope}");
                    let covers = ccgate::policy::engine::grants::footprint(&ctx, tool, &v["input"]);
                    println!("covers:   {}", covers.describe());
                }
                ccgate::policy::engine::Decision::Allow { .. } => {}
            }
        }
        Command::Schedule(cmd) => {
            use ccgate::scheduler::commands as sc;
            let now = chrono::Utc::now();
            let root = &config.approved_directory;
            match cmd {
                ScheduleCmd::List => {
                    // A prompt may quote a URL with credentials: masked like every text ccgate
                    // shows (the job keeps its prompt as written).
                    let redactor = ccgate::audit::redact::process();
                    for j in store.list_jobs(None)? {
                        let line = format!(
                            "#{} {} chat {} topic {} user {} {} ({}) in {} next {}: {}",
                            j.id,
                            if j.paused { "paused " } else { "" },
                            j.chat_id,
                            j.thread_id,
                            j.creator,
                            j.cron,
                            j.tz,
                            j.directory,
                            j.next_due_at,
                            j.prompt
                        );
                        println!("{}", redactor.redact(&line));
                    }
                }
                ScheduleCmd::Add {
                    chat,
                    topic,
                    user,
                    dir,
                    cron,
                    prompt,
                } => {
                    let chat = ccgate::telegram::update::ChatRef {
                        chat_id: chat,
                        thread_id: topic,
                    };
                    let dir = root.join(&dir);
                    let (id, sched, next) =
                        sc::add(&store, config, user, chat, &dir, &cron, &prompt, now)
                            .map_err(|e| anyhow::anyhow!(e))?;
                    println!("job #{id}: {} first run {}", sched.describe(), next);
                }
                ScheduleCmd::Pause { id }
                | ScheduleCmd::Resume { id }
                | ScheduleCmd::Remove { id } => {
                    let verb = match cmd {
                        ScheduleCmd::Pause { .. } => "pause",
                        ScheduleCmd::Resume { .. } => "resume",
                        _ => "remove",
                    };
                    // The machine's operator acts as an admin, for any chat.
                    let msg = sc::change(
                        &store,
                        0,
                        ccgate::policy::roles::Role::Admin,
                        None,
                        verb,
                        id,
                        now,
                    )
                    .map_err(|e| anyhow::anyhow!(e))?;
                    println!("{msg}");
                }
            }
        }
        Command::Unlock { user } => {
            let lifted = store.unlock(user)?;
            ccgate::audit::try_record(
                &store,
                Some(user),
                None,
                ccgate::audit::Event::Unlock,
                &serde_json::json!({"was_locked": lifted}),
            )?;
            println!(
                "{}",
                if lifted {
                    "lockout lifted"
                } else {
                    "that user was not locked out"
                }
            );
        }
        Command::Run | Command::Check | Command::Doctor | Command::Config(_) => {
            unreachable!("handled by main")
        }
        Command::Audit(AuditCmd::Keygen { .. } | AuditCmd::Pubkey) => {
            unreachable!("handled by audit_keys")
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `ccgate check` / `ccgate doctor`: everything that can be verified without starting.
fn check(config: &ccgate::config::Config, online: bool) -> ExitCode {
    let mut ok = true;
    let mut line = |what: &str, result: Result<String, String>| match result {
        Ok(v) => println!("  ok    {what:<22} {v}"),
        Err(e) => {
            ok = false;
            println!("  FAIL  {what:<22} {e}");
        }
    };
    println!("ccgate configuration");
    line(
        "approved directory",
        Ok(config.approved_directory.display().to_string()),
    );
    line(
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
    line("database", Ok(config.database_path.display().to_string()));
    line("telegram api", Ok(config.telegram_api_url.clone()));
    line(
        "claude cli",
        std::process::Command::new(&config.claude_cli_path)
            .arg("--version")
            .output()
            .map_err(|e| format!("{}: {e} — install it (npm install -g @anthropic-ai/claude-code) or set CLAUDE_CLI_PATH", config.claude_cli_path.display()))
            .and_then(|o| {
                let version = String::from_utf8_lossy(&o.stdout).trim().to_string();
                if o.status.success() && version.contains("Claude Code") {
                    Ok(format!("{} ({version})", config.claude_cli_path.display()))
                } else {
                    Err(format!(
                        "{} is not the Claude Code CLI (`--version` said {version:?}); set CLAUDE_CLI_PATH to the claude binary",
                        config.claude_cli_path.display()
                    ))
                }
            }),
    );
    line(
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
    line(
        "triggers",
        match &config.server.triggers_file {
            None => Ok("none".into()),
            Some(p) => ccgate::automation::triggers::Triggers::load(p, &config.approved_directory)
                .map(|t| format!("{} trigger(s) from {}", t.triggers.len(), p.display())),
        },
    );
    let s = &config.server;
    let on = |b: bool| if b { "on" } else { "off" };
    line(
        "api server",
        Ok(format!(
            "{} on {} (github webhook {}, generic webhooks {})",
            on(s.enabled),
            s.bind,
            on(s.github_webhook_secret.is_some()),
            on(s.webhook_api_secret.is_some())
        )),
    );
    line(
        "telegram updates",
        Ok(match &s.telegram_webhook_url {
            Some(u) => format!("webhook {u}"),
            None => "long polling".into(),
        }),
    );
    line(
        "scheduler",
        Ok(format!(
            "{} (default zone {})",
            on(config.scheduler.enabled),
            config.scheduler.default_tz.name()
        )),
    );
    match ccgate::app::build_jail(config, None) {
        Err(e) => line("os boundary", Err(format!("cannot set up: {e:#}"))),
        Ok(jail) => {
            let summary = jail.summary();
            line(
                "os boundary",
                if jail.unavailable().is_some() {
                    Err(summary)
                } else {
                    Ok(summary)
                },
            );
            for (layer, what) in jail.layers() {
                println!("        {:<22} {what}", format!("· {layer}"));
            }
            ccgate::jail::remove_runtime(jail.runtime());
        }
    }
    line(
        "model credential",
        match &config.anthropic.credential {
            Some(c) => Ok(format!(
                "{c:?} for {} (held by ccgate; {})",
                config
                    .anthropic
                    .base_url
                    .as_deref()
                    .unwrap_or(ccgate::egress::DEFAULT_UPSTREAM),
                if config.sandbox.enabled {
                    "Claude gets an ephemeral key valid for one process"
                } else {
                    "SANDBOX=off: Claude gets the real credential"
                }
            )),
            None => Err("none: set ANTHROPIC_API_KEY (or ANTHROPIC_API_KEY_FILE), ANTHROPIC_AUTH_TOKEN, or CLAUDE_CODE_OAUTH_TOKEN (from `claude setup-token`); without one Claude answers \"Not logged in\"".into()),
        },
    );
    line(
        "audit checkpoints",
        match &config.audit.signing_key {
            None => Ok("off: no AUDIT_SIGNING_KEY_FILE or AUDIT_PKCS11_MODULE (a cut tail stays undetectable)".into()),
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
        },
    );
    line(
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
    println!("settings (set ones; every other takes its default, see `ccgate config env-example`)");
    for set in &config.settings {
        let shown = set.value.as_deref().unwrap_or("set (hidden)");
        println!("  {:<30} {shown}  [{}]", set.name, set.origin.label());
    }
    if online {
        line("telegram", telegram_check(config));
        line(
            "database",
            open_store(config)
                .and_then(|st| st.cost_today_all().map(|_| ()))
                .map(|()| config.database_path.display().to_string())
                .map_err(|e| {
                    format!(
                        "{}: {e:#} — check DATABASE_URL and that the folder is writable",
                        config.database_path.display()
                    )
                }),
        );
    } else {
        println!(
            "  --    telegram               not contacted (offline check; `ccgate doctor` does)"
        );
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    }
}

/// getMe with the configured token against the configured Bot API.
fn telegram_check(config: &ccgate::config::Config) -> Result<String, String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async {
        let api = ccgate::telegram::api::TelegramApi::new(
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
            Ok(Err(ccgate::telegram::api::ApiError::Rejected { code, description })) => Err(format!(
                "Telegram refused the token ({code}: {description}) — get a valid one from @BotFather and set TELEGRAM_BOT_TOKEN"
            )),
            Ok(Err(e)) => Err(format!(
                "cannot reach {} ({e}) — check the network or TELEGRAM_API_URL",
                config.telegram_api_url
            )),
        }
    })
}

/// Log output with every secret masked: a log line quoting a URL or an error body must not
/// leak the bot token or a key.
struct RedactingStderr(std::sync::Arc<ccgate::audit::Redactor>);

impl std::io::Write for RedactingStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        std::io::stderr().write_all(self.0.redact(&text).as_bytes())?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

fn main() -> ExitCode {
    // Inside the sandbox: ccgate's own binary is the sandbox's init (see ccgate::jail::init).
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    match args.get(1).and_then(|a| a.to_str()) {
        Some(ccgate::jail::init::INIT_ARG) => ccgate::jail::init::main(&args[2..]),
        Some(ccgate::jail::PROBE_ARG) => return ccgate::jail::probe_main(),
        _ => {}
    }
    let cli = Cli::parse();
    if let Some(Command::Config(what)) = &cli.command {
        print!(
            "{}",
            match what {
                ConfigCmd::EnvExample => ccgate::config::vars::env_example(),
                ConfigCmd::ReadmeTable => ccgate::config::vars::readme_table(),
            }
        );
        return ExitCode::SUCCESS;
    }
    // Operator commands that never talk to Telegram work without the bot token.
    let offline = matches!(
        cli.command,
        Some(
            Command::Token(_)
                | Command::Pair(_)
                | Command::Audit(_)
                | Command::Totp(_)
                | Command::Policy(_)
                | Command::Schedule(_)
                | Command::Unlock { .. }
        )
    );
    let loaded = if offline {
        ccgate::config::Config::load_offline(Some(&cli.env_file))
    } else {
        ccgate::config::Config::load(Some(&cli.env_file))
    };
    let config = match loaded {
        Ok(c) => c,
        Err(e) => {
            // No configured secrets are known yet; the credential shapes still apply.
            let shapes = ccgate::audit::Redactor::default();
            eprintln!("ccgate: {}", shapes.redact(&e.to_string()));
            return ExitCode::from(2);
        }
    };
    let redactor = std::sync::Arc::new(ccgate::audit::Redactor::new(config.redacted_values()));
    // Text cut before it goes out (`render::truncate`) is masked with the same secrets.
    ccgate::audit::redact::install((*redactor).clone());
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&config.log_level)
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer({
            let redactor = redactor.clone();
            move || RedactingStderr(redactor.clone())
        })
        .init();
    // A panic message can quote data (a command, a response): mask it like any log line.
    std::panic::set_hook(Box::new(move |info| {
        eprintln!("{}", redactor.redact(&info.to_string()));
    }));
    match cli.command.unwrap_or(Command::Run) {
        Command::Check => check(&config, false),
        Command::Doctor => check(&config, true),
        Command::Run => {
            let rt = match tokio::runtime::Runtime::new() {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("ccgate: cannot start the async runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            match rt.block_on(ccgate::app::run(config)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    let e = format!("{e:#}");
                    eprintln!("ccgate: {}", ccgate::audit::redact::process().redact(&e));
                    ExitCode::FAILURE
                }
            }
        }
        other => match operator(other, &config) {
            Ok(code) => code,
            Err(e) => {
                let e = format!("{e:#}");
                eprintln!("ccgate: {}", ccgate::audit::redact::process().redact(&e));
                ExitCode::FAILURE
            }
        },
    }
}
