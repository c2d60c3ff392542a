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
    /// Check the configuration and print what would be used, without starting.
    Check,
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
    let cli = Cli::parse();
    let config = match ccgate::config::Config::load(Some(&cli.env_file)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("ccgate: {e}");
            return ExitCode::from(2);
        }
    };
    let redactor = std::sync::Arc::new(ccgate::audit::Redactor::new(config.redacted_values()));
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&config.log_level)
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(move || RedactingStderr(redactor.clone()))
        .init();
    match cli.command.unwrap_or(Command::Run) {
        Command::Check => {
            println!(
                "approved directory: {}",
                config.approved_directory.display()
            );
            println!("allowed users:      {:?}", config.allowed_users);
            println!("database:           {}", config.database_path.display());
            println!("claude cli:         {}", config.claude_cli_path.display());
            println!("telegram api:       {}", config.telegram_api_url);
            ExitCode::SUCCESS
        }
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
                    eprintln!("ccgate: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
