//! The `leafdesk` command: parsing the command line, then one file per command group (serve and
//! migrate, location, flows, intents, ticket, consent, integration, user, verification, report, limits).
//! `main.rs` only loads the settings and calls [`run`].

mod consent;
mod flows;
mod integration;
mod intents;
mod limits;
mod location;
mod report;
mod serve;
mod ticket;
mod user;
mod verification;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::settings::Settings;
use crate::store::Store;

#[derive(Parser)]
#[command(name = "leafdesk", version, about = "Customer-service bot server for cannabis e-commerce")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the server (migrates the database first).
    Serve {
        /// Address to listen on [env: LEAFDESK_BIND] [default: 127.0.0.1:8080]
        #[arg(long)]
        bind: Option<String>,
        /// Seed the demo dispensary, customers and orders (idempotent).
        #[arg(long)]
        demo: bool,
    },
    /// Create or upgrade the database schema, then exit.
    Migrate,
    /// Manage the locations (stores) that answer customers.
    #[command(subcommand)]
    Location(location::LocationCommand),
    /// Check or test flow files.
    #[command(subcommand)]
    Flows(flows::FlowsCommand),
    /// Work the hand-off queue until the console exists.
    #[command(subcommand)]
    Ticket(ticket::TicketCommand),
    /// TCPA consent: classify messages, show a number's ledger.
    #[command(subcommand)]
    Consent(consent::ConsentCommand),
    /// Intents: classify a message, evaluate the model, review what it misread.
    #[command(subcommand)]
    Intents(intents::IntentsCommand),
    /// Integrations that send signed events (the e-commerce platform, a POS).
    #[command(subcommand)]
    Integration(integration::IntegrationCommand),
    /// Staff accounts for the console.
    #[command(subcommand)]
    User(user::UserCommand),
    /// Medical re-verification: review uploaded documents.
    #[command(subcommand)]
    Verification(verification::VerificationCommand),
    /// Reports for staff.
    #[command(subcommand)]
    Report(report::ReportCommand),
    /// State purchase limits.
    #[command(subcommand)]
    Limits(limits::LimitsCommand),
    /// Outbound messages: waiting, sent, held, blocked or failed (newest first).
    Outbox {
        #[arg(long, default_value_t = 20)]
        limit: i64,
    },
}

/// Runs one command; its exit code.
///
/// # Errors
/// Anything that stops the command, with what to fix.
pub async fn run(command: Command, settings: Settings) -> anyhow::Result<ExitCode> {
    match command {
        Command::Serve { bind, demo } => serve::serve(settings, bind, demo).await?,
        Command::Migrate => serve::migrate(&settings).await?,
        Command::Outbox { limit } => serve::outbox(&settings, limit).await?,
        Command::Location(cmd) => location::run(cmd, &settings).await?,
        Command::Flows(cmd) => return flows::run(cmd, &settings).await,
        Command::Ticket(cmd) => ticket::run(cmd, &settings).await?,
        Command::Consent(cmd) => return consent::run(cmd, &settings).await,
        Command::Intents(cmd) => return intents::run(cmd, &settings).await,
        Command::Integration(cmd) => integration::run(cmd, &settings).await?,
        Command::User(cmd) => user::run(cmd, &settings).await?,
        Command::Verification(cmd) => verification::run(cmd, &settings).await?,
        Command::Report(cmd) => report::run(cmd, &settings).await?,
        Command::Limits(cmd) => return Ok(limits::run(cmd)),
    }
    Ok(ExitCode::SUCCESS)
}

/// The database, migrated, on this process's clock.
pub async fn connect(settings: &Settings) -> anyhow::Result<Store> {
    let store = Store::connect(&settings.database_url, settings.sqlite_sync).await?;
    Ok(store.with_clock(settings.clock()))
}

pub fn load_assets(settings: &Settings) -> anyhow::Result<crate::flows::Assets> {
    crate::flows::load_assets(&settings.flows_dir, &settings.templates_dir, crate::actions::NAMES).map_err(|diags| {
        let list: Vec<String> = diags.iter().map(ToString::to_string).collect();
        anyhow::anyhow!("flows or templates have errors:\n{}", list.join("\n"))
    })
}
