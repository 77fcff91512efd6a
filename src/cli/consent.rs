//! `leafdesk consent …`: classify a message, show a number's ledger, export and import consent
//! lists, and check current consent against the ledger.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Subcommand;

use super::connect;
use crate::domain::PhoneNumber;
use crate::settings::Settings;
use crate::store::Store;

#[derive(Subcommand)]
pub enum ConsentCommand {
    /// Print how leafdesk reads a message: opt_out, opt_in, help or none.
    Classify {
        text: String,
        /// Also print the rule that decided.
        #[arg(long)]
        explain: bool,
    },
    /// A number's full consent history with evidence, oldest first.
    Show { phone: String },
    /// Current consent as CSV on standard output (streamed: flat memory at any size).
    Export {
        /// transactional or marketing
        #[arg(long)]
        purpose: String,
        /// Only this status: opted_in or opted_out.
        #[arg(long)]
        status: Option<String>,
    },
    /// Recompute current consent from the ledger and report every number whose stored current
    /// consent differs (exit 1 if any); --repair rewrites those rows from the ledger.
    Verify {
        #[arg(long)]
        repair: bool,
    },
    /// Import opt-ins and opt-outs from a CSV with evidence per row; all or nothing.
    Import {
        file: PathBuf,
        /// Check the file and report, import nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

pub async fn run(cmd: ConsentCommand, settings: &Settings) -> anyhow::Result<ExitCode> {
    match cmd {
        ConsentCommand::Classify { text, explain } => {
            let verdict = crate::compliance::keywords::classify(&text);
            println!("{}", verdict.keyword.as_str());
            if explain {
                println!("because {}", verdict.reason);
            }
        }
        ConsentCommand::Show { phone } => {
            let phone = PhoneNumber::parse(&phone)?;
            let store = connect(settings).await?;
            let history = crate::store::consent::history(&store, phone.as_ref()).await?;
            if history.is_empty() {
                println!("no consent events for {phone}");
            }
            for e in history {
                println!("{}\t{}\t{}\t{}\t{}", e.created_at_ms, e.purpose, e.action, e.source, e.evidence);
            }
        }
        ConsentCommand::Export { purpose, status } => {
            anyhow::ensure!(
                matches!(purpose.as_str(), "transactional" | "marketing"),
                "--purpose must be transactional or marketing"
            );
            if let Some(s) = &status {
                anyhow::ensure!(
                    matches!(s.as_str(), "opted_in" | "opted_out"),
                    "--status must be opted_in or opted_out"
                );
            }
            let store = connect(settings).await?;
            export(&store, &purpose, status.as_deref()).await?;
        }
        ConsentCommand::Verify { repair } => return verify(settings, repair).await,
        ConsentCommand::Import { file, dry_run } => return import(settings, &file, dry_run).await,
    }
    Ok(ExitCode::SUCCESS)
}

async fn verify(settings: &Settings, repair: bool) -> anyhow::Result<ExitCode> {
    let store = connect(settings).await?;
    let mismatches = crate::store::consent::verify(&store).await?;
    for m in &mismatches {
        let phone = PhoneNumber::parse(&m.phone).map_or(m.phone.clone(), |p| p.masked());
        let or_none = |v: &Option<String>| v.clone().unwrap_or_else(|| "(none)".into());
        println!(
            "{phone}\t{}\tledger {} ({})\tcurrent {} ({})",
            m.purpose,
            or_none(&m.ledger_status),
            or_none(&m.ledger_event_id),
            or_none(&m.current_status),
            or_none(&m.current_event_id)
        );
    }
    if mismatches.is_empty() {
        println!("consent_current matches the ledger");
    } else if repair {
        let n = crate::store::consent::repair(&store, &mismatches).await?;
        println!("repaired {n} row(s) from the ledger");
    } else {
        eprintln!(
            "{} row(s) differ from the ledger; the send gate reads the ledger. Run with --repair to rewrite them.",
            mismatches.len()
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

async fn import(settings: &Settings, file: &std::path::Path, dry_run: bool) -> anyhow::Result<ExitCode> {
    let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let rows = match crate::compliance::import::parse(&text) {
        Ok(rows) => rows,
        Err(e) => {
            eprintln!("{}: nothing imported:\n{e}", file.display());
            return Ok(ExitCode::FAILURE);
        }
    };
    if dry_run {
        println!("{} rows are valid; nothing imported (dry run)", rows.len());
    } else {
        let store = connect(settings).await?;
        let n = crate::compliance::import::import(&store, &file.display().to_string(), &rows).await?;
        println!("imported {n} consent records");
    }
    Ok(ExitCode::SUCCESS)
}

async fn export(store: &Store, purpose: &str, status: Option<&str>) -> anyhow::Result<()> {
    let stdout = std::io::stdout().lock();
    let mut out = csv::Writer::from_writer(std::io::BufWriter::with_capacity(1 << 16, stdout));
    out.write_record(["phone", "purpose", "status", "since", "source", "evidence"])?;
    crate::store::consent::export(store, purpose, status, |row| -> anyhow::Result<()> {
        let since = jiff::Timestamp::from_millisecond(row.updated_at_ms).map(|t| t.to_string()).unwrap_or_default();
        out.write_record([&row.phone, &row.purpose, &row.status, &since, &row.source, &row.evidence])?;
        Ok(())
    })
    .await?;
    out.flush()?;
    Ok(())
}
