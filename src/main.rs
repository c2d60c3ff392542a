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

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match ccgate::config::Config::load(Some(&cli.env_file)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("ccgate: {e}");
            return ExitCode::from(2);
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&config.log_level)
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
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
