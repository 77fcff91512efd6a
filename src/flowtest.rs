//! Conversation tests for flow authors: `flows/tests/*.yaml` (but `nlu_*.yaml`), each test a scripted dialog
//! (customer says → bot reply equals / contains, silence, hand-off) with expected outcome and
//! slots. Each test runs through the real pipeline, engine and templates against its own fresh
//! SQLite database seeded with the demo data; nothing is mocked. Every test starts at the same
//! instant ([`TEST_START_MS`], a Monday noon at the demo store), so its replies are the same on
//! any day.
//!
//! Owns the test file format and the runner behind `leafdesk flows test` and `cargo test`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use serde::Deserialize;

use crate::clock::Clock;
use crate::domain::{Channel, Inbound, PhoneNumber};
use crate::flows::Library;
use crate::metrics::Metrics;
use crate::pipeline::{Context, Handled, Pipeline, PlatformEvent};
use crate::settings::SqliteSync;
use crate::store::{contacts, conversations, tickets, Store};

/// The number the demo location answers on in conversation tests.
const TEST_NUMBER: &str = "+15005550006";
/// 2026-11-30T20:00:00Z, Monday 30 November 2026 at noon in Los Angeles: where every
/// conversation test's clock starts.
pub const TEST_START_MS: i64 = 1_796_068_800_000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestFile {
    tests: Vec<TestCase>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestCase {
    name: String,
    /// The customer's number; a demo contact's number brings their locale and orders.
    #[serde(default = "default_from")]
    from: String,
    turns: Vec<TurnCase>,
    #[serde(default)]
    expect: Expectations,
}

fn default_from() -> String {
    "+15555550199".into()
}

/// One turn: the customer says `user`, or the platform sends `event` with `data`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TurnCase {
    #[serde(default)]
    user: String,
    event: Option<String>,
    #[serde(default)]
    data: serde_json::Map<String, serde_json::Value>,
    bot: Option<String>,
    #[serde(default)]
    bot_contains: Vec<String>,
    #[serde(default)]
    bot_not_contains: Vec<String>,
    #[serde(default)]
    silent: bool,
    /// The queue of a ticket this turn opens, the conversation going to a person.
    handoff: Option<String>,
    /// The queue of a team's ticket this turn files, the bot keeping the conversation.
    report: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expectations {
    /// Some flow run ended with this outcome during the test.
    outcome: Option<String>,
    #[serde(default)]
    slots: BTreeMap<String, String>,
    /// Fields of the customer's order with this number after the test (`number` picks it).
    #[serde(default)]
    order: BTreeMap<String, String>,
    /// Tags of the flow runs that ended (each must appear in some run's tags).
    #[serde(default)]
    tags: Vec<String>,
}

#[derive(Debug, Default)]
pub struct Report {
    pub passed: Vec<String>,
    pub failed: Vec<(String, String)>,
}

impl Report {
    pub fn summary(&self) -> String {
        format!("{} passed, {} failed", self.passed.len(), self.failed.len())
    }
}

/// Runs every test file in `flows_dir/tests`.
///
/// # Errors
/// When the flows do not load or a test file cannot be read (test failures are in the report).
pub async fn run_dir(flows_dir: &Path, templates_dir: &Path) -> anyhow::Result<Report> {
    let library = Library::open(flows_dir, templates_dir, crate::actions::NAMES).map_err(|diags| {
        let list: Vec<String> = diags.iter().map(ToString::to_string).collect();
        anyhow::anyhow!("flows do not load:\n{}", list.join("\n"))
    })?;
    let library = Arc::new(library);
    let mut files: Vec<PathBuf> = std::fs::read_dir(flows_dir.join("tests"))
        .with_context(|| format!("reading {}", flows_dir.join("tests").display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        // nlu_*.yaml are held-out sets for `leafdesk intents eval`, not dialogs.
        .filter(|p| !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("nlu_")))
        .collect();
    files.sort();
    let mut report = Report::default();
    for file in files {
        let text = std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
        let parsed: TestFile = serde_saphyr::from_str(&text)
            .map_err(|e| anyhow::anyhow!("{}: {}", file.display(), e.to_string().lines().next().unwrap_or("")))?;
        let stem = file.file_stem().map_or_else(String::new, |s| s.to_string_lossy().into_owned());
        for case in parsed.tests {
            let name = format!("{stem}: {}", case.name);
            match run_case(&library, &case).await {
                Ok(()) => report.passed.push(name),
                Err(why) => report.failed.push((name, format!("{why:#}"))),
            }
        }
    }
    Ok(report)
}

async fn run_case(library: &Arc<Library>, case: &TestCase) -> anyhow::Result<()> {
    let dir = tempfile_dir()?;
    let url = format!("sqlite://{}?mode=rwc", dir.join("flowtest.db").display());
    let store = Store::connect(&url, SqliteSync::Normal).await?.with_clock(Clock::starting_at(TEST_START_MS));
    let result = run_turns(library, &store, case).await;
    store.close().await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

async fn run_turns(library: &Arc<Library>, store: &Store, case: &TestCase) -> anyhow::Result<()> {
    let location = crate::demo::seed(store, TEST_NUMBER).await?;
    let metrics = Arc::new(Metrics::default());
    let pipeline = Pipeline::start(Arc::new(Context {
        store: store.clone(),
        library: library.clone(),
        metrics: metrics.clone(),
        commerce: Arc::new(crate::commerce::BuiltIn),
        actions: crate::actions::ActionConfig {
            ach_payment_url: Some(crate::demo::DEMO_ACH_URL.into()),
            uploads: Some(crate::uploads::Links {
                sealer: crate::uploads::Sealer::from_key(&[0x5a; 32]),
                base_url: "https://leafdesk.example".into(),
                ttl_ms: 24 * 3_600_000,
                max_bytes: 10 * 1024 * 1024,
            }),
        },
        staffing: crate::queue::staffing::Staffing::default(),
    }));
    let from = PhoneNumber::parse(&case.from).map_err(|e| anyhow::anyhow!("from: {e}"))?;
    for (i, turn) in case.turns.iter().enumerate() {
        if let Some(event) = &turn.event {
            let contact = contacts::find(store, from.as_ref()).await?.context("an event needs a known customer")?;
            let ev = PlatformEvent {
                event_type: event.clone(),
                data: turn.data.clone().into_iter().collect(),
                contact,
                location: location.clone(),
                channel: Channel::Sms,
                receipt: None,
            };
            let handled = pipeline.handle_event(ev).await?;
            check_turn(store, turn, &handled).await.with_context(|| format!("turn {} (event: {event})", i + 1))?;
            continue;
        }
        let inbound = Inbound {
            channel: Channel::Sms,
            provider_id: format!("SMflowtest{i:04}"),
            from: from.clone(),
            to: TEST_NUMBER.to_owned(),
            messaging_service_sid: None,
            body: turn.user.clone(),
            media: Vec::new(),
            opt_out_type: None,
        };
        let handled = pipeline.handle(inbound, location.clone()).await?;
        let at = format!("turn {} (user: {:?})", i + 1, turn.user);
        check_turn(store, turn, &handled).await.with_context(|| at)?;
    }
    if let Some(outcome) = &case.expect.outcome {
        anyhow::ensure!(
            metrics.sum("leafdesk_flow_outcomes_total", "outcome", outcome) > 0,
            "no flow ended with outcome {outcome:?}"
        );
    }
    check_records(store, &from, &case.expect).await?;
    if !case.expect.slots.is_empty() {
        let contact = contacts::find(store, from.as_ref()).await?.context("contact exists")?;
        let mut tx = store.begin_read().await?;
        let conv = conversations::find_open(&mut tx, &contact.contact_id, &location.location_id, "sms")
            .await?
            .context("an open conversation")?;
        for (slot, want) in &case.expect.slots {
            let got = conv.state.slots.get(slot).map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned));
            anyhow::ensure!(got.as_deref() == Some(want.as_str()), "slot {slot}: expected {want:?}, got {got:?}");
        }
    }
    Ok(())
}

/// The order and outcome tags a test expects, read back from the database.
async fn check_records(store: &Store, from: &PhoneNumber, expect: &Expectations) -> anyhow::Result<()> {
    if !expect.order.is_empty() {
        let contact = contacts::find(store, from.as_ref()).await?.context("contact exists")?;
        let mut conn = store.pool().acquire().await?;
        let number = expect.order.get("number").map(String::as_str);
        let order = crate::store::commerce::orders::find(&mut conn, &contact.contact_id, number)
            .await?
            .context("the order exists")?;
        let got = serde_json::to_value(&order)?;
        for (field, want) in expect.order.iter().filter(|(f, _)| *f != "number") {
            let value = got.get(field).map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned));
            anyhow::ensure!(value.as_deref() == Some(want.as_str()), "order {field}: expected {want:?}, got {value:?}");
        }
    }
    if !expect.tags.is_empty() {
        let mut tx = store.begin_read().await?;
        let counted = crate::store::outcomes::count_by_tag(&mut tx, 0).await?;
        for tag in &expect.tags {
            anyhow::ensure!(
                counted.iter().any(|(t, _, _)| t == tag),
                "no flow run ended with tag {tag:?}; tagged: {:?}",
                counted.iter().map(|(t, _, _)| t).collect::<Vec<_>>()
            );
        }
    }
    Ok(())
}

async fn check_turn(store: &Store, turn: &TurnCase, handled: &Handled) -> anyhow::Result<()> {
    let reply = match handled {
        Handled::Replied { texts, .. } | Handled::Duplicate { texts } | Handled::Event { texts, .. } => {
            texts.join("\n\n")
        }
        Handled::Silent { .. } => String::new(),
    };
    if turn.silent {
        anyhow::ensure!(reply.is_empty(), "expected silence, bot said {reply:?}");
    }
    if let Some(want) = &turn.bot {
        anyhow::ensure!(reply.trim() == want.trim(), "expected bot to say {want:?}, it said {reply:?}");
    }
    let lower = reply.to_lowercase();
    for part in &turn.bot_contains {
        anyhow::ensure!(
            lower.contains(&part.to_lowercase()),
            "expected the reply to contain {part:?}, it was {reply:?}"
        );
    }
    for part in &turn.bot_not_contains {
        anyhow::ensure!(
            !lower.contains(&part.to_lowercase()),
            "expected the reply not to contain {part:?}, it was {reply:?}"
        );
    }
    for (queue, person) in [(&turn.handoff, true), (&turn.report, false)] {
        let Some(queue) = queue else { continue };
        let open = tickets::list_open(store).await?;
        let ticket = open.iter().find(|t| &t.queue == queue);
        let what = if person { "a hand-off" } else { "a report" };
        let Some(ticket) = ticket else {
            let queues: Vec<&String> = open.iter().map(|t| &t.queue).collect();
            anyhow::bail!("expected {what} ticket in queue {queue:?}, open: {queues:?}");
        };
        anyhow::ensure!(
            (ticket.ownership != "bot") == person,
            "expected {what} to queue {queue:?}, but the conversation is now {:?}'s",
            ticket.ownership
        );
    }
    Ok(())
}

fn tempfile_dir() -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("leafdesk-flowtest-{}", crate::new_id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
