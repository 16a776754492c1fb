use clap::{Parser, Subcommand};
use lucid::config::Settings;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

/// lucid: mention the bot, get a coding-agent session in a Docker sandbox.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// A TOML settings file; environment variables override it.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start the HTTP server (webhooks, API, health, metrics).
    Serve,
    /// Check each configured part and say what to do about any failure.
    Doctor,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The one place lucid reads its environment.
    let env: BTreeMap<String, String> = std::env::vars().collect();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match cli.command {
        Command::Serve => {
            let settings = match Settings::load(&env, cli.config.as_deref()) {
                Ok(settings) => settings,
                Err(invalid) => {
                    eprintln!("error: {invalid}");
                    return ExitCode::from(2);
                }
            };
            lucid::telemetry::init(settings.log_format, &settings.log_filter);
            match runtime.block_on(lucid::serve::run(settings)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!("{e:#}");
                    eprintln!("error: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Doctor => {
            let report = runtime.block_on(lucid::doctor::run(&env, cli.config.as_deref()));
            print!("{report}");
            if report.passed() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
