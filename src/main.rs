//! The `leafdesk` command: serve, migrate, manage locations and tickets, check and test flows.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

use leafdesk::domain::{MessagingServiceSid, PhoneNumber};
use leafdesk::settings::Settings;
use leafdesk::store::{locations, messages, tickets, Store};
use leafdesk::{demo, flows, flowtest, startup, telemetry};

#[derive(Parser)]
#[command(name = "leafdesk", version, about = "Customer-service bot server for cannabis e-commerce")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
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
    Location(LocationCommand),
    /// Check or test flow files.
    #[command(subcommand)]
    Flows(FlowsCommand),
    /// Work the hand-off queue until the console exists.
    #[command(subcommand)]
    Ticket(TicketCommand),
    /// TCPA consent: classify messages, show a number's ledger.
    #[command(subcommand)]
    Consent(ConsentCommand),
    /// Integrations that send signed events (the e-commerce platform, a POS).
    #[command(subcommand)]
    Integration(IntegrationCommand),
    /// Medical re-verification: review uploaded documents.
    #[command(subcommand)]
    Verification(VerificationCommand),
    /// Reports for staff.
    #[command(subcommand)]
    Report(ReportCommand),
    /// State purchase limits.
    #[command(subcommand)]
    Limits(LimitsCommand),
    /// Outbound messages: waiting, sent, held, blocked or failed (newest first).
    Outbox {
        #[arg(long, default_value_t = 20)]
        limit: i64,
    },
}

#[derive(Subcommand)]
enum ConsentCommand {
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

#[derive(Subcommand)]
enum IntegrationCommand {
    /// Create one and print its secret (shown once: store it in the platform's settings).
    Add {
        #[arg(long)]
        name: String,
    },
    /// Active integrations (names only; secrets are never shown again).
    List,
    /// Stop accepting an integration's events.
    Revoke {
        #[arg(long)]
        name: String,
    },
    /// Print a web chat link for a customer, signed with the integration's secret now (good
    /// for 12 hours): what the store's site does for a signed-in customer, for trying the chat.
    /// It starts with LEAFDESK_PUBLIC_URL (else this machine's LEAFDESK_BIND), as upload links do.
    ChatLink {
        #[arg(long)]
        name: String,
        #[arg(long)]
        customer: String,
    },
}

#[derive(Subcommand)]
enum VerificationCommand {
    /// Documents waiting for review, oldest first.
    List,
    /// Decrypt a document to a file for review (owner-only permissions; delete it after).
    Show {
        upload_id: String,
        #[arg(long)]
        out: PathBuf,
    },
    /// Accept the customer's new document: unlock checkout, resume held orders, text them.
    Approve {
        #[arg(long)]
        customer: String,
        /// The new recommendation's last day, YYYY-MM-DD.
        #[arg(long)]
        expires: Option<String>,
        #[arg(long, default_value = "cli")]
        staff: String,
    },
    /// Refuse the document: text the customer why, with a fresh upload link.
    Reject {
        #[arg(long)]
        customer: String,
        /// Shown to the customer: plain and kind ("the photo is too blurry to read").
        #[arg(long)]
        reason: String,
        #[arg(long, default_value = "cli")]
        staff: String,
    },
}

#[derive(Subcommand)]
enum ReportCommand {
    /// Conversation outcomes and tickets per CRM tag (the taxonomy is flows/tags.yaml).
    Tags {
        /// How many days back.
        #[arg(long, default_value_t = 7)]
        days: i64,
    },
}

#[derive(Subcommand)]
enum LimitsCommand {
    /// Check a cart against a state's limits; prints JSON (allowed, violations, explanation,
    /// rule_source, and the smallest changes that make the cart compliant).
    Check {
        /// Two-letter state code, e.g. CA.
        #[arg(long)]
        state: String,
        /// adult-use or medical
        #[arg(long, default_value = "adult-use")]
        customer: String,
        /// The customer lives in another state.
        #[arg(long)]
        non_resident: bool,
        /// category=amount, repeatable: flower=28g, concentrate=2g, edible=200mg (mg is THC).
        #[arg(long = "item")]
        items: Vec<String>,
    },
}

#[derive(Subcommand)]
enum LocationCommand {
    /// Add a location answering on a Twilio number (or Messaging Service).
    Add {
        #[arg(long)]
        name: String,
        /// Two-letter US state code, e.g. CA.
        #[arg(long)]
        state: String,
        /// IANA timezone, e.g. America/Los_Angeles.
        #[arg(long)]
        timezone: String,
        /// The number customers text, in E.164 form (+15005550006).
        #[arg(long)]
        number: Option<String>,
        /// A Twilio Messaging Service SID (MG…) instead of, or beside, a number.
        #[arg(long)]
        messaging_service_sid: Option<String>,
    },
    /// List locations.
    List,
    /// Change where a location is reached (give the number, the Messaging Service, or both).
    Update {
        /// The location's id (`location list`).
        #[arg(long)]
        id: String,
        /// The number customers text, in E.164 form.
        #[arg(long)]
        number: Option<String>,
        /// A Twilio Messaging Service SID (MG…).
        #[arg(long)]
        messaging_service_sid: Option<String>,
    },
}

#[derive(Subcommand)]
enum FlowsCommand {
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

#[derive(Subcommand)]
enum TicketCommand {
    /// Open tickets, most urgent and oldest first.
    List,
    /// A ticket's summary and the messages the customer sent since.
    Show { id: String },
    /// Reply to the customer (queued; the running server's outbox sends it).
    Reply {
        id: String,
        text: String,
        /// Who is replying, for the record.
        #[arg(long, default_value = "cli")]
        staff: String,
    },
    /// Resolve a ticket and hand the conversation back to the bot.
    Resolve {
        id: String,
        #[arg(long, default_value = "")]
        note: String,
    },
}

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
    match run(cli.command, settings).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, mut settings: Settings) -> anyhow::Result<ExitCode> {
    match command {
        Command::Serve { bind, demo } => {
            if let Some(bind) = bind {
                settings.bind = leafdesk::settings::parse_bind("--bind", &bind)?;
            }
            settings.check_serving()?;
            if demo && settings.ach_payment_url.is_none() {
                settings.ach_payment_url = Some(demo::DEMO_ACH_URL.to_owned());
            }
            let number = settings.demo_number.clone();
            let app = startup::build(settings).await?;
            if demo {
                let location = demo::seed(&app.state().store, &number).await?;
                tracing::info!(location = %location.name, number = %number, "demo data ready");
            }
            app.run(startup::shutdown_signal()).await?;
        }
        Command::Migrate => {
            connect(&settings).await?;
            println!("database is up to date");
        }
        Command::Location(cmd) => location(cmd, &settings).await?,
        Command::Flows(FlowsCommand::Check { dir }) => {
            let dir = dir.unwrap_or(settings.flows_dir.clone());
            return Ok(match flows::load_assets(&dir, &settings.templates_dir, leafdesk::actions::NAMES) {
                Ok(assets) => {
                    println!(
                        "ok: {} flows, {} intents, {} templates",
                        assets.flows.flows.len(),
                        assets.flows.intents.len(),
                        assets.templates.names().len()
                    );
                    // Warnings do not fail the check: a reviewed wording may stay.
                    for w in leafdesk::compliance::content::check_dir(&settings.templates_dir.join("messages")) {
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
            });
        }
        Command::Flows(FlowsCommand::Test { dir }) => {
            let dir = dir.unwrap_or(settings.flows_dir.clone());
            let report = flowtest::run_dir(&dir, &settings.templates_dir).await?;
            for name in &report.passed {
                println!("PASS {name}");
            }
            for (name, why) in &report.failed {
                println!("FAIL {name}\n     {why}");
            }
            println!("{}", report.summary());
            return Ok(if report.failed.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE });
        }
        Command::Ticket(cmd) => ticket(cmd, &settings).await?,
        Command::Consent(ConsentCommand::Classify { text, explain }) => {
            let verdict = leafdesk::compliance::keywords::classify(&text);
            println!("{}", verdict.keyword.as_str());
            if explain {
                println!("because {}", verdict.reason);
            }
        }
        Command::Consent(ConsentCommand::Export { purpose, status }) => {
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
            let store = connect(&settings).await?;
            export_consent(&store, &purpose, status.as_deref()).await?;
        }
        Command::Consent(ConsentCommand::Verify { repair }) => {
            let store = connect(&settings).await?;
            let mismatches = leafdesk::store::consent::verify(&store).await?;
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
                let n = leafdesk::store::consent::repair(&store, &mismatches).await?;
                println!("repaired {n} row(s) from the ledger");
            } else {
                eprintln!("{} row(s) differ from the ledger; the send gate reads the ledger. Run with --repair to rewrite them.", mismatches.len());
                return Ok(ExitCode::FAILURE);
            }
        }
        Command::Consent(ConsentCommand::Import { file, dry_run }) => {
            let text = std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
            let rows = match leafdesk::compliance::import::parse(&text) {
                Ok(rows) => rows,
                Err(e) => {
                    eprintln!("{}: nothing imported:\n{e}", file.display());
                    return Ok(ExitCode::FAILURE);
                }
            };
            if dry_run {
                println!("{} rows are valid; nothing imported (dry run)", rows.len());
            } else {
                let store = connect(&settings).await?;
                let n = leafdesk::compliance::import::import(&store, &file.display().to_string(), &rows).await?;
                println!("imported {n} consent records");
            }
        }
        Command::Integration(cmd) => integration(cmd, &settings).await?,
        Command::Verification(cmd) => verification(cmd, &settings).await?,
        Command::Report(ReportCommand::Tags { days }) => {
            let store = connect(&settings).await?;
            let since = store.now_ms() - days.max(0) * 86_400_000;
            let mut tx = store.begin_read().await?;
            println!("conversation outcomes in the last {days} days (tag, outcome, count):");
            for (tag, outcome, n) in leafdesk::store::outcomes::count_by_tag(&mut tx, since).await? {
                println!("  {tag}\t{outcome}\t{n}");
            }
            println!("tickets opened in the last {days} days (tag, status, count):");
            for (tag, status, n) in leafdesk::store::outcomes::tickets_by_tag(&mut tx, since).await? {
                println!("  {tag}\t{status}\t{n}");
            }
            drop(tx);
            store.close().await;
        }
        Command::Limits(LimitsCommand::Check { state, customer, non_resident, items }) => {
            return Ok(limits_check(&state, &customer, non_resident, &items));
        }
        Command::Outbox { limit } => {
            let store = connect(&settings).await?;
            for r in leafdesk::store::outbox::list(&store, limit).await? {
                let to = PhoneNumber::parse(&r.to_phone).map_or(r.to_phone.clone(), |p| p.masked());
                let reason = r.reason.unwrap_or_default();
                println!("{}\t{}\t{}\t{}\tattempts {}\t{}", r.outbox_id, r.status, r.purpose, to, r.attempts, reason);
            }
        }
        Command::Consent(ConsentCommand::Show { phone }) => {
            let phone = PhoneNumber::parse(&phone)?;
            let store = connect(&settings).await?;
            let history = leafdesk::store::consent::history(&store, phone.as_ref()).await?;
            if history.is_empty() {
                println!("no consent events for {phone}");
            }
            for e in history {
                println!("{}	{}	{}	{}	{}", e.created_at_ms, e.purpose, e.action, e.source, e.evidence);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The database, migrated, on this process's clock.
async fn connect(settings: &Settings) -> anyhow::Result<Store> {
    let store = Store::connect(&settings.database_url, settings.sqlite_sync).await?;
    Ok(store.with_clock(settings.clock()))
}

async fn export_consent(store: &Store, purpose: &str, status: Option<&str>) -> anyhow::Result<()> {
    let stdout = std::io::stdout().lock();
    let mut out = csv::Writer::from_writer(std::io::BufWriter::with_capacity(1 << 16, stdout));
    out.write_record(["phone", "purpose", "status", "since", "source", "evidence"])?;
    leafdesk::store::consent::export(store, purpose, status, |row| -> anyhow::Result<()> {
        let since = jiff::Timestamp::from_millisecond(row.updated_at_ms).map(|t| t.to_string()).unwrap_or_default();
        out.write_record([&row.phone, &row.purpose, &row.status, &since, &row.source, &row.evidence])?;
        Ok(())
    })
    .await?;
    out.flush()?;
    Ok(())
}

async fn location(cmd: LocationCommand, settings: &Settings) -> anyhow::Result<()> {
    let store = connect(settings).await?;
    match cmd {
        LocationCommand::Add { name, state, timezone, number, messaging_service_sid } => {
            anyhow::ensure!(
                number.is_some() || messaging_service_sid.is_some(),
                "give --number or --messaging-service-sid: customers need a way to reach the location"
            );
            let number = number.map(|n| PhoneNumber::parse(&n)).transpose()?;
            let service = messaging_service_sid.map(|s| MessagingServiceSid::parse(&s)).transpose()?;
            let state = state.trim().to_ascii_uppercase();
            anyhow::ensure!(
                state.len() == 2 && state.chars().all(|c| c.is_ascii_alphabetic()),
                "--state must be a two-letter US state code such as CA"
            );
            anyhow::ensure!(timezone.contains('/'), "--timezone must be an IANA name such as America/Los_Angeles");
            let new = locations::NewLocation {
                name: &name,
                state: &state,
                timezone: &timezone,
                phone_number: number.as_ref().map(AsRef::as_ref),
                messaging_service_sid: service.as_ref().map(AsRef::as_ref),
            };
            let location = locations::insert(&store, &new)
                .await
                .context("that number or Messaging Service may already belong to a location")?;
            println!("added location {} ({})", location.name, location.location_id);
        }
        LocationCommand::List => {
            for l in locations::list(&store).await? {
                let endpoint = l.phone_number.or(l.messaging_service_sid).unwrap_or_default();
                println!("{}\t{}\t{}\t{}\t{}", l.location_id, l.name, l.state, l.timezone, endpoint);
            }
        }
        LocationCommand::Update { id, number, messaging_service_sid } => {
            anyhow::ensure!(
                number.is_some() || messaging_service_sid.is_some(),
                "give --number, --messaging-service-sid or both: what customers reach the location at"
            );
            let number = number.map(|n| PhoneNumber::parse(&n)).transpose()?;
            let service = messaging_service_sid.map(|s| MessagingServiceSid::parse(&s)).transpose()?;
            let number = number.as_ref().map(AsRef::as_ref);
            let updated = locations::set_endpoints(&store, &id, number, service.as_ref().map(AsRef::as_ref))
                .await
                .context("that number or Messaging Service may already belong to another location")?;
            anyhow::ensure!(updated, "no location {id:?}; `leafdesk location list` shows the ids");
            println!("updated location {id}");
        }
    }
    Ok(())
}

async fn ticket(cmd: TicketCommand, settings: &Settings) -> anyhow::Result<()> {
    let store = connect(settings).await?;
    match cmd {
        TicketCommand::List => {
            let open = tickets::list_open(&store).await?;
            if open.is_empty() {
                println!("no open tickets");
            }
            for t in open {
                let waiting = messages::of_ticket(&store, &t.ticket_id).await?.len();
                println!(
                    "{}\tP{}\t{}\t{}\t{} new message(s)\t{}",
                    t.ticket_id,
                    t.priority,
                    t.queue,
                    PhoneNumber::parse(&t.phone).map_or(t.phone.clone(), |p| p.masked()),
                    waiting,
                    t.reason
                );
            }
        }
        TicketCommand::Show { id } => {
            let t = tickets::find(&store, &id).await?.with_context(|| format!("no ticket {id}"))?;
            println!(
                "ticket {} [{}] queue {} priority {} tags {}\ncustomer {}\n\n{}",
                t.ticket_id, t.status, t.queue, t.priority, t.tags, t.phone, t.summary
            );
            let since = messages::of_ticket(&store, &id).await?;
            if !since.is_empty() {
                println!("Since hand-off:");
                for m in since {
                    println!("  customer: {}", m.body);
                }
            }
        }
        TicketCommand::Reply { id, text, staff } => {
            anyhow::ensure!(!text.trim().is_empty(), "the reply is empty");
            anyhow::ensure!(text.chars().count() <= 1600, "the reply is longer than 1600 characters");
            let queued = tickets::queue_reply(&store, &id, &text, &staff).await?;
            match queued.with_context(|| format!("ticket {id} is not open"))? {
                tickets::Delivery::Outbox(outbox_id) => println!("queued {outbox_id}; the server's outbox sends it"),
                tickets::Delivery::WebChat(message_id) => {
                    println!("stored {message_id}; the customer's chat window shows it");
                }
            }
        }
        TicketCommand::Resolve { id, note } => {
            anyhow::ensure!(tickets::resolve(&store, &id, &note).await?, "ticket {id} is not open");
            println!("resolved {id}; the customer's next message goes to the bot");
        }
    }
    Ok(())
}

fn limits_check(state: &str, customer: &str, non_resident: bool, items: &[String]) -> ExitCode {
    use leafdesk::compliance::limits::{self, CustomerType, Line, Request};
    let Some(customer) = CustomerType::parse(customer) else {
        eprintln!("--customer {customer:?}: use adult-use or medical");
        return ExitCode::from(2);
    };
    let cart: Result<Vec<Line>, String> = items.iter().map(|i| Line::parse_item(i)).collect();
    let cart = match cart {
        Ok(cart) => cart,
        Err(e) => {
            eprintln!("--item {e}");
            return ExitCode::from(2);
        }
    };
    let verdict = limits::check(&Request { state, customer, non_resident, cart: &cart, earlier_today: &[] });
    println!("{}", serde_json::to_string_pretty(&verdict).expect("a verdict serializes"));
    ExitCode::SUCCESS
}

async fn integration(cmd: IntegrationCommand, settings: &Settings) -> anyhow::Result<()> {
    use leafdesk::channels::integrations as keys;
    use leafdesk::store::integrations;
    let store = connect(settings).await?;
    let sealer = startup::upload_links(settings)?.sealer;
    keys::seal_legacy(&store, &sealer).await?;
    match cmd {
        IntegrationCommand::Add { name } => {
            let secret = keys::create(&store, &sealer, name.trim()).await.with_context(|| {
                format!("creating integration {name:?} (is the name taken? see `integration list`)")
            })?;
            println!("integration {name} created. Its secret, shown only this once:\n{secret}");
            println!("Sign each request to POST /api/v1/events with it (see GET /api/v1/openapi.json).");
        }
        IntegrationCommand::List => {
            for i in integrations::active(&store).await? {
                println!("{}\t{}", i.integration_id, i.name);
            }
        }
        IntegrationCommand::Revoke { name } => {
            anyhow::ensure!(integrations::revoke(&store, &name).await?, "no active integration named {name:?}");
            println!("integration {name} revoked: its events are refused from now on");
        }
        IntegrationCommand::ChatLink { name, customer } => {
            let active = keys::open_all(&store, &sealer).await?;
            let integration = active
                .iter()
                .find(|i| i.name == name)
                .with_context(|| format!("no active integration named {name:?}"))?;
            let path =
                leafdesk::channels::webchat::signed_path(&integration.secret, &customer, store.clock().now_secs());
            if settings.public_url.is_none() {
                eprintln!("LEAFDESK_PUBLIC_URL is not set: this link works on this machine only. Set it to the address customers reach the server at.");
            }
            println!("{}{path}", settings.public_base());
        }
    }
    store.close().await;
    Ok(())
}

async fn verification(cmd: VerificationCommand, settings: &Settings) -> anyhow::Result<()> {
    use leafdesk::store::uploads;
    use leafdesk::verification::{review, Decision};
    let store = connect(settings).await?;
    let links = startup::upload_links(settings)?;
    match cmd {
        VerificationCommand::List => {
            for u in uploads::pending(&store).await? {
                let at = jiff::Timestamp::from_millisecond(u.created_at_ms).map(|t| t.to_string()).unwrap_or_default();
                println!(
                    "{}\t{}\t{}\t{} bytes\tby {}\t{at}",
                    u.upload_id, u.customer_id, u.content_type, u.size_bytes, u.source
                );
            }
        }
        VerificationCommand::Show { upload_id, out } => {
            let upload = uploads::find(&store, &upload_id).await?.with_context(|| format!("no upload {upload_id}"))?;
            let plain = links.sealer.open(&upload.upload_id, &upload.sealed)?;
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            std::io::Write::write_all(
                &mut options.open(&out).with_context(|| format!("creating {}", out.display()))?,
                &plain,
            )?;
            println!(
                "{} ({}, customer {}) written to {}",
                upload.upload_id,
                upload.content_type,
                upload.customer_id,
                out.display()
            );
        }
        VerificationCommand::Approve { customer, expires, staff } => {
            let assets = load_assets(settings)?;
            let text = review(
                &store,
                &assets,
                &links,
                &customer,
                Decision::Approve { expires_on: expires.as_deref() },
                &staff,
            )
            .await?;
            println!("approved; queued for the customer: {text}");
        }
        VerificationCommand::Reject { customer, reason, staff } => {
            let assets = load_assets(settings)?;
            let text = review(&store, &assets, &links, &customer, Decision::Reject { reason: &reason }, &staff).await?;
            println!("rejected; queued for the customer: {text}");
        }
    }
    store.close().await;
    Ok(())
}

fn load_assets(settings: &Settings) -> anyhow::Result<flows::Assets> {
    flows::load_assets(&settings.flows_dir, &settings.templates_dir, leafdesk::actions::NAMES).map_err(|diags| {
        let list: Vec<String> = diags.iter().map(ToString::to_string).collect();
        anyhow::anyhow!("flows or templates have errors:\n{}", list.join("\n"))
    })
}
