//! `leafdesk consent …`: classify a message, show a number's ledger, export and import consent
//! lists, and check current consent against the ledger.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Subcommand;

use super::connect;
use crate::domain::{Country, PhoneNumber};
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
    /// A number's full consent history with evidence, oldest first, and its double opt-in
    /// requests, in its store's timezone.
    Show { phone: String },
    /// Double opt-ins still waiting for the person's YES, oldest first, with their age.
    Pending {
        /// Only this location's.
        #[arg(long)]
        location: Option<String>,
    },
    /// Write a number's consent evidence pack (a zip: evidence.html and CSVs): its ledger with
    /// evidence, opt-in requests, marketing texts with the send gate's decisions and delivery,
    /// revocations with their confirmations.
    Evidence {
        #[arg(long)]
        phone: String,
        /// The zip to write.
        #[arg(long)]
        out: PathBuf,
    },
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
    /// Import opt-ins and opt-outs from a CSV with evidence per row; all or nothing, and a row
    /// imported before is not added again.
    Import {
        file: PathBuf,
        /// Check the file and report what it would do; import nothing.
        #[arg(long)]
        dry_run: bool,
        /// The country of numbers written without + (ISO code: US, CA, MX…).
        #[arg(long, env = "LEAFDESK_DEFAULT_COUNTRY", default_value = "US")]
        country: String,
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
            let phone = PhoneNumber::parse_national(&phone, Country::US)?;
            let store = connect(settings).await?;
            let record = crate::evidence::gather(&store, &phone).await?;
            let when = |ms| crate::evidence::when(ms, &record.timezone);
            if record.events.is_empty() {
                println!("no consent events for {phone}");
            }
            for e in &record.events {
                let recorded = e.recorded_at_ms.map(|ms| format!(" (recorded {})", when(ms))).unwrap_or_default();
                println!(
                    "{}{recorded}\t{}\t{}\t{}\t{}",
                    when(e.created_at_ms),
                    e.purpose,
                    e.action,
                    e.source,
                    e.evidence
                );
            }
            for r in &record.requests {
                let state = r.confirmed_at_ms.map_or_else(
                    || pending_age(store.now_ms() - r.created_at_ms),
                    |ms| format!("confirmed {}", when(ms)),
                );
                println!(
                    "{}\tdouble opt-in requested on the {}\t{state}\tdisclosure {}",
                    when(r.created_at_ms),
                    r.source.replace('_', " "),
                    r.disclosure_version
                );
            }
        }
        ConsentCommand::Pending { location } => {
            let store = connect(settings).await?;
            let since = store.now_ms() - crate::compliance::consent::DOUBLE_OPT_IN_WINDOW_MS;
            let pending = crate::store::consent::pending_requests(&store, location.as_deref(), since, 10_000).await?;
            if pending.is_empty() {
                println!("no double opt-ins are waiting");
            }
            let stores = crate::store::locations::list(&store).await?;
            for r in pending {
                let phone = PhoneNumber::parse(&r.phone).map_or(r.phone.clone(), |p| p.masked());
                let tz = stores.iter().find(|l| l.location_id == r.location_id).map_or("UTC", |l| l.timezone.as_str());
                let at = crate::evidence::when(r.created_at_ms, tz);
                let age = pending_age(store.now_ms() - r.created_at_ms);
                println!("{phone}\t{}\t{at}\t{age}\t{}", r.purpose, r.source);
            }
        }
        ConsentCommand::Evidence { phone, out } => {
            let phone = PhoneNumber::parse_national(&phone, Country::US)?;
            let store = connect(settings).await?;
            let assets = super::load_assets(settings)?;
            let pages = crate::templates::Pages::load(&settings.templates_dir.join("pages"), &assets.templates.terms())
                .map_err(|diags| anyhow::anyhow!("page templates have errors: {}", diags[0]))?;
            let record = crate::evidence::gather(&store, &phone).await?;
            let zip = crate::evidence::build(&record, &pages)?;
            std::fs::write(&out, &zip).with_context(|| format!("writing {}", out.display()))?;
            println!(
                "wrote {} ({} consent events, {} opt-in requests, {} marketing texts, {} revocations)",
                out.display(),
                record.events.len(),
                record.requests.len(),
                record.texts.len(),
                record.revocations.len()
            );
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
        ConsentCommand::Import { file, dry_run, country } => {
            let country = Country::parse(&country)
                .with_context(|| format!("--country {country:?}: use one of {}", Country::codes()))?;
            return import(settings, &file, dry_run, country).await;
        }
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

async fn import(
    settings: &Settings,
    file: &std::path::Path,
    dry_run: bool,
    country: Country,
) -> anyhow::Result<ExitCode> {
    use crate::compliance::import;
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let Ok(text) = String::from_utf8(bytes) else {
        eprintln!("{}: nothing imported: the file is not UTF-8 text; save it as CSV UTF-8", file.display());
        return Ok(ExitCode::FAILURE);
    };
    let store = connect(settings).await?;
    let opts = import::Options { country, now_ms: store.now_ms() };
    let checked = match import::parse(&text, opts) {
        Ok(checked) => checked,
        Err(e) => {
            eprintln!("{}: nothing imported:\n{e}", file.display());
            return Ok(ExitCode::FAILURE);
        }
    };
    let report = if dry_run {
        import::plan(&store, &checked).await?
    } else {
        let source = import::Source { file: &file.display().to_string(), by: "cli", ip: "" };
        import::import(&store, &source, &checked).await?
    };
    for line in report.lines(dry_run) {
        println!("{line}");
    }
    if dry_run {
        println!("{} rows are valid; nothing imported (dry run)", checked.rows.len());
    }
    Ok(ExitCode::SUCCESS)
}

/// How long a double opt-in has waited, or that it lapsed (a YES after a day confirms nothing).
fn pending_age(age_ms: i64) -> String {
    if age_ms >= crate::compliance::consent::DOUBLE_OPT_IN_WINDOW_MS {
        return format!("expired unconfirmed ({} days ago)", age_ms / 86_400_000);
    }
    let minutes = age_ms / 60_000;
    if minutes < 60 {
        format!("pending for {minutes} min")
    } else {
        format!("pending for {} h {} min", minutes / 60, minutes % 60)
    }
}

async fn export(store: &Store, purpose: &str, status: Option<&str>) -> anyhow::Result<()> {
    use crate::store::consent_lists::{self, Filter};
    let filter = Filter { purpose: purpose.to_owned(), status: status.map(str::to_owned), ..Filter::default() };
    let stdout = std::io::stdout().lock();
    let mut out = csv::Writer::from_writer(std::io::BufWriter::with_capacity(1 << 16, stdout));
    out.write_record(crate::evidence::EXPORT_HEADER)?;
    let mut after = String::new();
    loop {
        let chunk = consent_lists::export_chunk(store, &filter, &after).await?;
        let Some(last) = chunk.last() else { break };
        after = last.phone.clone();
        for row in &chunk {
            out.write_record(crate::evidence::export_record(row))?;
        }
    }
    out.flush()?;
    Ok(())
}
