//! The `leafdesk` command: settings and logging, then `leafdesk::cli` runs the command.

use std::process::ExitCode;

use clap::Parser;

use leafdesk::cli::{self, Cli};
use leafdesk::settings::Settings;
use leafdesk::telemetry;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::load() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(&settings.log_filter, std::io::stderr, std::io::IsTerminal::is_terminal(&std::io::stderr()));
    match cli::run(cli.command, settings).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
