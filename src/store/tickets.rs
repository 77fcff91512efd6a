//! Tickets: the hand-off queue. A ticket holds the conversation for a human until it is
//! resolved, which hands the conversation back to the bot.

use sqlx::FromRow;

use super::{Store, StoreError, Tx};

pub struct NewTicket<'a> {
    pub conversation_id: &'a str,
    pub queue: &'a str,
    pub priority: u8,
    pub tags: &'a [String],
    pub reason: &'a str,
    pub summary: &'a str,
}

#[derive(Debug, Clone, FromRow, serde::Serialize)]
pub struct Ticket {
    pub ticket_id: String,
    pub conversation_id: String,
    pub queue: String,
    pub priority: i64,
    pub tags: String,
    pub reason: String,
    pub summary: String,
    pub status: String,
    pub created_at_ms: i64,
    pub phone: String,
    /// Who has the conversation now: `bot` for a team's report, `queued` or an agent after a
    /// hand-off to a person.
    pub ownership: String,
}

const INSERT: &str =
    "insert into ticket (ticket_id, conversation_id, queue, priority, tags, reason, summary, status, created_at_ms)
    values ($1, $2, $3, $4, $5, $6, $7, 'open', $8)";
const LIST_OPEN: &str = "select t.ticket_id, t.conversation_id, t.queue, t.priority, t.tags, t.reason, t.summary, t.status,
        t.created_at_ms, c.phone, v.ownership
    from ticket t join conversation v on v.conversation_id = t.conversation_id join contact c on c.contact_id = v.contact_id
    where t.status = 'open' order by t.priority, t.created_at_ms";
const FIND: &str = "select t.ticket_id, t.conversation_id, t.queue, t.priority, t.tags, t.reason, t.summary, t.status,
        t.created_at_ms, c.phone, v.ownership
    from ticket t join conversation v on v.conversation_id = t.conversation_id join contact c on c.contact_id = v.contact_id
    where t.ticket_id = $1";
const RESOLVE: &str =
    "update ticket set status = 'resolved', resolved_at_ms = $2 where ticket_id = $1 and status = 'open'";
const HAND_BACK: &str = "update conversation set ownership = 'resolved', open_ticket_id = null, closed_at_ms = $2,
        version = version + 1
    where open_ticket_id = $1";

/// # Errors
/// Database failures.
#[tracing::instrument(skip_all, fields(queue = %t.queue))]
pub async fn insert(tx: &mut Tx<'_>, t: &NewTicket<'_>, now_ms: i64) -> Result<String, StoreError> {
    let id = crate::new_id();
    sqlx::query(INSERT)
        .bind(&id)
        .bind(t.conversation_id)
        .bind(t.queue)
        .bind(i64::from(t.priority))
        .bind(serde_json::to_string(t.tags).expect("tags serialize"))
        .bind(t.reason)
        .bind(t.summary)
        .bind(now_ms)
        .execute(&mut **tx)
        .await?;
    Ok(id)
}

/// Open tickets, most urgent first, then oldest first.
///
/// # Errors
/// Database failures.
pub async fn list_open(store: &Store) -> Result<Vec<Ticket>, StoreError> {
    Ok(sqlx::query_as(LIST_OPEN).fetch_all(store.pool()).await?)
}

/// # Errors
/// Database failures.
pub async fn find(store: &Store, ticket_id: &str) -> Result<Option<Ticket>, StoreError> {
    Ok(sqlx::query_as(FIND).bind(ticket_id).fetch_optional(store.pool()).await?)
}

/// Resolves an open ticket and closes its conversation, so the customer's next message
/// starts afresh with the bot. `false` when the ticket is not open.
///
/// # Errors
/// Database failures.
#[tracing::instrument(skip_all)]
pub async fn resolve(store: &Store, ticket_id: &str, note: &str) -> Result<bool, StoreError> {
    let mut tx = store.begin().await?;
    let now = store.now_ms();
    let done = sqlx::query(RESOLVE).bind(ticket_id).bind(now).execute(&mut *tx).await?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    let conversation: (String,) = sqlx::query_as("select conversation_id from ticket where ticket_id = $1")
        .bind(ticket_id)
        .fetch_one(&mut *tx)
        .await?;
    sqlx::query(HAND_BACK).bind(ticket_id).bind(now).execute(&mut *tx).await?;
    let detail = serde_json::json!({ "ticket_id": ticket_id, "note": note, "to": "bot" });
    super::conversations::record_event(&mut tx, &conversation.0, "handed_back", &detail, now).await?;
    tx.commit().await?;
    Ok(true)
}

/// Queues a CSR's reply to the customer of an open ticket, in one transaction with a record of
/// it in the conversation's events: in the outbox for the worker to text, or for a web chat
/// conversation stored for the chat widget to fetch. `None` when the ticket is not open.
///
/// # Errors
/// Database failures.
pub async fn queue_reply(
    store: &Store,
    ticket_id: &str,
    text: &str,
    staff: &str,
) -> Result<Option<Delivery>, StoreError> {
    let now = store.now_ms();
    let mut tx = store.begin().await?;
    let target: Option<(String, String, String, String)> = sqlx::query_as(
        "select v.conversation_id, v.location_id, v.channel, c.phone from ticket t
            join conversation v on v.conversation_id = t.conversation_id join contact c on c.contact_id = v.contact_id
         where t.ticket_id = $1 and t.status = 'open'",
    )
    .bind(ticket_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((conversation_id, location_id, channel, phone)) = target else { return Ok(None) };
    let (delivery, detail) = if channel == "web" {
        // The chat widget fetches it: no text message, no provider.
        let message_id = super::messages::insert_chat_reply(&mut tx, &conversation_id, ticket_id, text, now).await?;
        let detail = serde_json::json!({ "ticket_id": ticket_id, "message_id": message_id, "staff": staff });
        (Delivery::WebChat(message_id), detail)
    } else {
        let message = super::outbox::NewOutbound {
            conversation_id: Some(&conversation_id),
            location_id: &location_id,
            to_phone: &phone,
            purpose: "transactional",
            body: text,
        };
        let outbox_id = super::outbox::enqueue(&mut tx, &message, now).await?;
        let detail = serde_json::json!({ "ticket_id": ticket_id, "outbox_id": outbox_id, "staff": staff });
        (Delivery::Outbox(outbox_id), detail)
    };
    super::conversations::record_event(&mut tx, &conversation_id, "agent_reply", &detail, now).await?;
    tx.commit().await?;
    Ok(Some(delivery))
}

/// How a person's reply reaches the customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// Queued in the outbox (SMS); the id of its row.
    Outbox(String),
    /// Stored for the web chat widget to fetch; the id of the message.
    WebChat(String),
}
