//! `leafdesk ticket …`: the hand-off queue from a terminal (list, show, reply, resolve).

use anyhow::Context as _;
use clap::Subcommand;

use super::connect;
use crate::domain::PhoneNumber;
use crate::settings::Settings;
use crate::store::{messages, tickets};

#[derive(Subcommand)]
pub enum TicketCommand {
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

pub async fn run(cmd: TicketCommand, settings: &Settings) -> anyhow::Result<()> {
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
            let max = crate::domain::MAX_MESSAGE_CHARS;
            anyhow::ensure!(text.chars().count() <= max, "the reply is longer than {max} characters");
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
