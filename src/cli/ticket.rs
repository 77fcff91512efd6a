//! `leafdesk ticket …`: the hand-off queue from a terminal, for scripts and quick looks (list,
//! show, reply, resolve). People work tickets in the console; both read the same store.
//!
//! Tickets are named by any unique start of their id; lists show the shortest such start.

use anyhow::Context as _;
use clap::Subcommand;

use super::connect;
use crate::clock::{age, ago};
use crate::domain::mask_phone;
use crate::settings::Settings;
use crate::store::tickets::{self, QueueFilter};
use crate::store::{messages, Store};

#[derive(Subcommand)]
pub enum TicketCommand {
    /// Open tickets, most urgent and oldest first.
    List {
        /// Only this queue (general, payments, verification, compliance, inventory, it); repeat
        /// for several.
        #[arg(long = "queue")]
        queues: Vec<String>,
    },
    /// A ticket's summary and its whole transcript: the customer, the bot and people's replies
    /// (with delivery status, and replies still waiting in the outbox).
    Show { id: String },
    /// Reply to the customer (queued; the running server's outbox sends it).
    Reply {
        id: String,
        text: String,
        /// Who is replying, as the transcript shows it.
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

/// How many open tickets `list` prints.
const LIST_LIMIT: i64 = 500;
/// How many transcript lines `show` prints.
const SHOW_LINES: i64 = 200;

pub async fn run(cmd: TicketCommand, settings: &Settings) -> anyhow::Result<()> {
    let store = connect(settings).await?;
    match cmd {
        TicketCommand::List { queues } => {
            if !queues.is_empty() {
                let known = &super::load_assets(settings)?.flows.queues;
                if let Some(bad) = queues.iter().find(|q| !known.iter().any(|k| &k.id == *q)) {
                    let names: Vec<&str> = known.iter().map(|k| k.id.as_str()).collect();
                    anyhow::bail!("no queue {bad:?}; the queues are {}", names.join(", "));
                }
            }
            list(&store, QueueFilter { queues, limit: LIST_LIMIT, ..QueueFilter::default() }).await?;
        }
        TicketCommand::Show { id } => show(&store, &full_id(&store, &id).await?).await?,
        TicketCommand::Reply { id, text, staff } => {
            anyhow::ensure!(!text.trim().is_empty(), "the reply is empty");
            let max = crate::domain::MAX_MESSAGE_CHARS;
            anyhow::ensure!(text.chars().count() <= max, "the reply is longer than {max} characters");
            let id = full_id(&store, &id).await?;
            let queued = tickets::queue_reply(&store, &id, &text, &staff).await?;
            match queued.with_context(|| format!("ticket {id} is not open"))? {
                tickets::Delivery::Outbox(outbox_id) => println!("queued {outbox_id}; the server's outbox sends it"),
                tickets::Delivery::WebChat(message_id) => {
                    println!("stored {message_id}; the customer's chat window shows it");
                }
            }
        }
        TicketCommand::Resolve { id, note } => {
            let id = full_id(&store, &id).await?;
            anyhow::ensure!(tickets::resolve(&store, &id, &note).await?, "ticket {id} is not open");
            println!("resolved {id}; the customer's next message goes to the bot");
        }
    }
    Ok(())
}

/// The ticket a unique start of its id names.
async fn full_id(store: &Store, prefix: &str) -> anyhow::Result<String> {
    let prefix = prefix.trim().to_ascii_lowercase();
    let mut found = tickets::ids_starting_with(store, &prefix).await?;
    match found.len() {
        0 => anyhow::bail!("no ticket {prefix} (ids are shown by `leafdesk ticket list`)"),
        1 => Ok(found.remove(0)),
        _ => anyhow::bail!("{prefix} starts more than one ticket's id; give more of it"),
    }
}

async fn list(store: &Store, filter: QueueFilter) -> anyhow::Result<()> {
    let open = tickets::queue(store, &filter).await?;
    if open.is_empty() {
        println!("no open tickets");
        return Ok(());
    }
    let now = store.now_ms();
    let mut ids = Vec::with_capacity(open.len());
    for t in &open {
        ids.push(tickets::short_id(store, &t.ticket_id).await?);
    }
    let w = ids.iter().map(String::len).max().unwrap_or(2);
    println!(
        "{:<w$} {:<3} {:<12} {:<12} {:<5} {:<24} {:<14} {:>4}  WHY",
        "ID", "P", "QUEUE", "WAITING", "CHAN", "CUSTOMER", "HELD BY", "NEW"
    );
    for (t, id) in open.iter().zip(ids) {
        let customer = format!("{} {}", t.first_name.as_deref().unwrap_or("—"), mask_phone(&t.phone));
        println!(
            "{id:<w$} {:<3} {:<12} {:<12} {:<5} {:<24} {:<14} {:>4}  {}",
            format!("P{}", t.priority),
            t.queue,
            age(now - t.created_at_ms),
            t.channel,
            customer,
            t.assignee_name.as_deref().unwrap_or("—"),
            tickets::unanswered(store, &t.ticket_id).await?,
            t.reason
        );
    }
    Ok(())
}

async fn show(store: &Store, id: &str) -> anyhow::Result<()> {
    let (t, state) = tickets::item(store, id).await?.with_context(|| format!("no ticket {id}"))?;
    let now = store.now_ms();
    println!("ticket {} [{}] queue {} priority P{} tags {}", t.ticket_id, state.status, t.queue, t.priority, t.tags);
    println!(
        "customer {} {} · {} · {} · waiting {} · held by {}",
        t.first_name.as_deref().unwrap_or("(no name)"),
        mask_phone(&t.phone),
        t.channel,
        t.location_name,
        age(now - t.created_at_ms),
        t.assignee_name.as_deref().unwrap_or("nobody")
    );
    println!("\n{}\n\nTranscript (oldest first):", state.summary);
    for line in messages::transcript(store, &state.contact_id, SHOW_LINES).await? {
        let status = if line.direction == "inbound" { String::new() } else { format!(" [{}]", line.status) };
        let mark = if line.ticket_id.as_deref() == Some(id) { "*" } else { " " };
        println!("{mark} {:>10} {}: {}{status}", ago(now - line.at_ms), line.speaker(), line.body);
    }
    println!("\n* on this ticket · {} unanswered", tickets::unanswered(store, id).await?);
    Ok(())
}
