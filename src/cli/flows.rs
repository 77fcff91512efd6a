//! `leafdesk flows …`: check flow files and templates, run the conversation tests.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;

use crate::settings::Settings;

#[derive(Subcommand)]
pub enum FlowsCommand {
    /// Check flow files and templates; prints file:line:col: reason and exits non-zero on errors.
    Check {
        /// Flows directory [default: LEAFDESK_FLOWS_DIR or flows]
        dir: Option<PathBuf>,
    },
    /// Run the conversation tests in DIR/tests against the real engine and templates.
    Test {
        /// Flows directory [default: LEAFDESK_FLOWS_DIR or flows]
        dir: Option<PathBuf>,
    },
}

pub async fn run(cmd: FlowsCommand, settings: &Settings) -> anyhow::Result<ExitCode> {
    match cmd {
        FlowsCommand::Check { dir } => Ok(check(&dir.unwrap_or(settings.flows_dir.clone()), settings)),
        FlowsCommand::Test { dir } => {
            let dir = dir.unwrap_or(settings.flows_dir.clone());
            let report = crate::flowtest::run_dir(&dir, &settings.templates_dir).await?;
            for name in &report.passed {
                println!("PASS {name}");
            }
            for (name, why) in &report.failed {
                println!("FAIL {name}\n     {why}");
            }
            println!("{}", report.summary());
            Ok(if report.failed.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
    }
}

fn check(dir: &std::path::Path, settings: &Settings) -> ExitCode {
    match crate::flows::load_assets(dir, &settings.templates_dir, crate::actions::NAMES) {
        Ok(assets) => {
            println!(
                "ok: {} flows, {} intents, {} templates",
                assets.flows.flows.len(),
                assets.flows.intents.len(),
                assets.templates.names().len()
            );
            // Warnings do not fail the check: a reviewed wording may stay.
            for w in &assets.flows.warnings {
                println!("warning: {w}");
            }
            for w in crate::compliance::content::check_dir(&settings.templates_dir.join("messages")) {
                println!("{w}");
            }
            ExitCode::SUCCESS
        }
        Err(diags) => {
            for d in &diags {
                println!("{d}");
            }
            eprintln!("{} problem(s) found", diags.len());
            ExitCode::FAILURE
        }
    }
}
