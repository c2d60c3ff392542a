//! The `ccgate` command line: argument parsing and printing only; the work happens in the
//! library (`ccgate::ops` for the operator verbs, `ccgate::app` for the bot).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use ccgate::config::Config;
use ccgate::ops;
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
    Doctor {
        /// Also search the git history of every project for ccgate's secret values.
        #[arg(long)]
        deep: bool,
    },
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
    /// Print a hardened systemd unit for this installation (or write it with --install).
    Service {
        /// Write it to /etc/systemd/system/ccgate.service (never overwrites).
        #[arg(long)]
        install: bool,
    },
    /// Rotate a shared secret: webhook-secret, github-secret or auth-secret. The new value is
    /// accepted at once, the old one for the overlap window.
    Rotate {
        /// webhook-secret | github-secret | auth-secret
        secret: String,
        /// How long the previous value stays accepted: 30m, 24h, 7d…
        #[arg(long, default_value = "24h")]
        overlap: String,
    },
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

/// Run an operator verb; its report, or an error, is printed by `main`.
async fn operator(command: Command, config: &Config) -> anyhow::Result<ops::Report> {
    // Verbs that touch only a key or the configuration, never the database.
    match command {
        Command::Audit(AuditCmd::Keygen {
            out: Some(path), ..
        }) => return ops::audit::keygen_file(&path),
        Command::Audit(AuditCmd::Keygen { out: None, .. }) => {
            return ops::audit::keygen_pkcs11(config)
        }
        Command::Audit(AuditCmd::Pubkey) => return ops::audit::pubkey(config),
        Command::Service { install } => return ops::service::service(config, install),
        Command::Policy(PolicyCmd::Defaults) => return Ok(ops::policy::defaults()),
        Command::Policy(PolicyCmd::Check { call }) => return ops::policy::check(config, &call),
        _ => {}
    }
    let store = ops::open_store(config)?;
    let now = chrono::Utc::now();
    match command {
        Command::Token(TokenCmd::Issue { user, ttl }) => {
            let ttl = ops::parse_ttl(&ttl).map_err(anyhow::Error::msg)?;
            ops::access::token_issue(&store, config, user, ttl).await
        }
        Command::Token(TokenCmd::Revoke { user }) => {
            ops::access::token_revoke(&store, config, user).await
        }
        Command::Pair(PairCmd::List) => ops::access::pair_list(&store).await,
        Command::Pair(PairCmd::Approve { code }) => {
            ops::access::pair_approve(&store, config, &code).await
        }
        Command::Totp(TotpCmd::Enroll { user }) => ops::access::totp_enroll(&store, user).await,
        Command::Unlock { user } => ops::access::unlock(&store, user).await,
        Command::Rotate { secret, overlap } => {
            let Some(which) = ccgate::secrets::Rotatable::from_cli(&secret) else {
                anyhow::bail!(
                    "unknown secret {secret:?}: use webhook-secret, github-secret or auth-secret"
                );
            };
            let overlap = ops::parse_ttl(&overlap).map_err(anyhow::Error::msg)?;
            ops::rotate::rotate(&store, config, which, overlap).await
        }
        Command::Audit(AuditCmd::Verify {
            public_key,
            checkpoint,
        }) => ops::audit::verify(&store, config, &public_key, &checkpoint).await,
        Command::Audit(AuditCmd::Tail { n }) => ops::audit::tail(&store, n).await,
        Command::Audit(AuditCmd::Export { json }) => {
            if !json {
                anyhow::bail!("only --json export is supported");
            }
            let mut stdout = std::io::stdout().lock();
            let mut export = ops::audit::export_json(&store);
            while let Some(line) = export.next_line().await {
                writeln!(stdout, "{}", line?)?;
            }
            Ok(ops::Report::default())
        }
        Command::Schedule(ScheduleCmd::List) => ops::schedule::list(&store).await,
        Command::Schedule(ScheduleCmd::Add {
            chat,
            topic,
            user,
            dir,
            cron,
            prompt,
        }) => {
            let job = ops::schedule::NewJob {
                chat: ccgate::telegram::update::ChatRef {
                    chat_id: chat,
                    thread_id: topic,
                },
                user,
                dir: &dir,
                cron: &cron,
                prompt: &prompt,
            };
            ops::schedule::add(&store, config, &job, now).await
        }
        Command::Schedule(ScheduleCmd::Pause { id }) => {
            ops::schedule::change(&store, ops::schedule::Change::Pause, id, now).await
        }
        Command::Schedule(ScheduleCmd::Resume { id }) => {
            ops::schedule::change(&store, ops::schedule::Change::Resume, id, now).await
        }
        Command::Schedule(ScheduleCmd::Remove { id }) => {
            ops::schedule::change(&store, ops::schedule::Change::Remove, id, now).await
        }
        Command::Run
        | Command::Check
        | Command::Doctor { .. }
        | Command::Config(_)
        | Command::Audit(AuditCmd::Keygen { .. } | AuditCmd::Pubkey)
        | Command::Service { .. }
        | Command::Policy(_) => unreachable!("handled before"),
    }
}

/// Write a report: results to stdout, notes to stderr, in the order they were made.
fn print_report(report: &ops::Report) -> std::io::Result<()> {
    let (mut out, mut err) = (std::io::stdout().lock(), std::io::stderr().lock());
    for chunk in &report.chunks {
        match chunk {
            ops::Chunk::Out(text) => {
                out.write_all(text.as_bytes())?;
                out.flush()?;
            }
            ops::Chunk::Note(text) => err.write_all(text.as_bytes())?,
        }
    }
    out.flush()
}

/// An error, masked like every log line (it may quote a path, a command or a response).
fn fail(e: &anyhow::Error) -> ExitCode {
    let e = format!("{e:#}");
    eprintln!("ccgate: {}", ccgate::audit::redact::process().redact(&e));
    ExitCode::FAILURE
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
                | Command::Service { .. }
                | Command::Unlock { .. }
                | Command::Rotate { .. }
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
    // One runtime for every verb: the store's calls are async (they run on its own threads).
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ccgate: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match cli.command.unwrap_or(Command::Run) {
        cmd @ (Command::Check | Command::Doctor { .. }) => {
            let mode = match cmd {
                Command::Doctor { deep: true } => ops::check::Mode::Deep,
                Command::Doctor { deep: false } => ops::check::Mode::Doctor,
                _ => ops::check::Mode::Check,
            };
            if rt.block_on(ops::check::run(&config, mode, |item| println!("{item}"))) {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            }
        }
        Command::Run => match rt.block_on(ccgate::app::run(config)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(&e),
        },
        other => match rt.block_on(operator(other, &config)) {
            Ok(report) => match print_report(&report) {
                Ok(()) if report.ok => ExitCode::SUCCESS,
                Ok(()) => ExitCode::FAILURE,
                Err(e) => fail(&e.into()),
            },
            Err(e) => fail(&e),
        },
    }
}
