//! Messages in and out. Inserting an inbound message's provider id is the webhook claim:
//! the unique index, not a prior lookup, decides which copy of a retried webhook runs.

use std::collections::HashSet;

use sqlx::FromRow;

use super::{Placeholders, Store, StoreError, Tx};
use crate::domain::Media;

pub struct NewInbound<'a> {
    /// Chosen by the caller, so it can tell which copy of a duplicated message won the claim.
    pub message_id: &'a str,
    pub conversation_id: &'a str,
    pub channel: &'a str,
    pub provider_id: &'a str,
    pub body: &'a str,
    pub media: &'a [Media],
}

/// A reply sent inline (TwiML) to an inbound message.
pub struct NewReply {
    pub conversation_id: String,
    pub channel: &'static str,
    /// The inbound message answered; none for what the bot says first (a call's greeting).
    pub reply_to: Option<String>,
    pub body: String,
}

#[derive(Debug, Clone, FromRow, serde::Serialize)]
pub struct MessageLine {
    pub direction: String,
    pub body: String,
    pub created_at_ms: i64,
}

/// Claims, many rows at once: a row that conflicts on provider_id is a retry and is skipped.
const CLAIM_PREFIX: &str = "insert into message (message_id, conversation_id, channel, provider_id, body, media,
        created_at_ms, updated_at_ms, direction, status) values ";
const CLAIM_SUFFIX: &str = " on conflict (provider_id) do nothing returning message_id";
const REPLY_PREFIX: &str = "insert into message (message_id, conversation_id, channel, reply_to, body,
        created_at_ms, updated_at_ms, direction, status) values ";
const ASSIGN_TICKET_PREFIX: &str = "update message set ticket_id = ";
const REPLIES: &str = "select o.body from message o join message i on o.reply_to = i.message_id
    where i.provider_id = $1 order by o.created_at_ms, o.message_id";
const RECENT: &str = "select direction, body, created_at_ms from message where conversation_id = $1
    order by created_at_ms desc, message_id desc limit $2";
const OF_TICKET: &str = "select direction, body, created_at_ms from message where ticket_id = $1
    order by created_at_ms, message_id";

/// Claims inbound messages in one statement and returns the ids of the rows inserted. A
/// message whose provider id is already stored, or appears earlier in `messages`, is a retry:
/// its `message_id` is not in the result.
///
/// # Errors
/// Database failures.
#[tracing::instrument(skip_all, fields(count = messages.len()))]
pub async fn claim_many(
    tx: &mut Tx<'_>,
    messages: &[NewInbound<'_>],
    now_ms: i64,
) -> Result<HashSet<String>, StoreError> {
    if messages.is_empty() {
        return Ok(HashSet::new());
    }
    let now = now_ms;
    // Multi-row statements format placeholders (never values) into the SQL.
    let mut p = Placeholders::for_tx(tx);
    let rows: Vec<String> = (0..messages.len()).map(|_| format!("({}, 'inbound', 'received')", p.list(8))).collect();
    let sql = format!("{CLAIM_PREFIX}{}{CLAIM_SUFFIX}", rows.join(", "));
    let mut query = sqlx::query_as::<_, (String,)>(&sql);
    for m in messages {
        let media = serde_json::to_string(m.media).expect("media serializes");
        query = query
            .bind(m.message_id)
            .bind(m.conversation_id)
            .bind(m.channel)
            .bind(m.provider_id)
            .bind(m.body)
            .bind(media)
            .bind(now)
            .bind(now);
    }
    let rows = query.fetch_all(&mut **tx).await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

/// One segment of a call's transcript, as stored: the customer's words inbound, a person's or
/// the bot's outbound, at the instant it was said.
pub struct Spoken<'a> {
    pub message_id: &'a str,
    pub conversation_id: &'a str,
    /// Unique per segment: a segment sent twice is stored once.
    pub provider_id: &'a str,
    pub inbound: bool,
    pub body: &'a str,
    pub confidence: Option<f64>,
    pub at_ms: i64,
}

const SPOKEN: &str = "insert into message (message_id, conversation_id, direction, channel, provider_id, body,
    status, confidence, created_at_ms, updated_at_ms) values ($1, $2, $3, 'voice', $4, $5, $6, $7, $8, $8)
    on conflict (provider_id) do nothing";

/// Stores a transcript segment unless one with its provider id is stored; `true` if stored now.
///
/// # Errors
/// Database failures.
pub async fn insert_spoken(tx: &mut Tx<'_>, s: &Spoken<'_>) -> Result<bool, StoreError> {
    let (direction, status) = if s.inbound { ("inbound", "received") } else { ("outbound", "spoken") };
    let done = sqlx::query(SPOKEN)
        .bind(s.message_id)
        .bind(s.conversation_id)
        .bind(direction)
        .bind(s.provider_id)
        .bind(s.body)
        .bind(status)
        .bind(s.confidence)
        .bind(s.at_ms)
        .execute(&mut **tx)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Stores replies sent inline (TwiML), in order, in one statement.
///
/// # Errors
/// Database failures.
#[tracing::instrument(skip_all, fields(count = replies.len()))]
pub async fn insert_replies(tx: &mut Tx<'_>, replies: &[NewReply], now_ms: i64) -> Result<(), StoreError> {
    if replies.is_empty() {
        return Ok(());
    }
    let now = now_ms;
    let mut p = Placeholders::for_tx(tx);
    let rows: Vec<String> = (0..replies.len()).map(|_| format!("({}, 'outbound', 'replied')", p.list(7))).collect();
    let sql = format!("{REPLY_PREFIX}{}", rows.join(", "));
    let mut query = sqlx::query(&sql);
    for r in replies {
        query = query
            .bind(crate::new_id())
            .bind(r.conversation_id.as_str())
            .bind(r.channel)
            .bind(r.reply_to.as_deref())
            .bind(r.body.as_str())
            .bind(now)
            .bind(now);
    }
    query.execute(&mut **tx).await?;
    Ok(())
}

/// Files messages that arrived while a human owns the conversation under its ticket.
///
/// # Errors
/// Database failures.
pub async fn assign_ticket(tx: &mut Tx<'_>, ticket_id: &str, message_ids: &[String]) -> Result<(), StoreError> {
    if message_ids.is_empty() {
        return Ok(());
    }
    let mut p = Placeholders::for_tx(tx);
    let ticket = p.next();
    let sql = format!("{ASSIGN_TICKET_PREFIX}{ticket} where message_id in ({})", p.list(message_ids.len()));
    let mut query = sqlx::query(&sql).bind(ticket_id);
    for id in message_ids {
        query = query.bind(id.as_str());
    }
    query.execute(&mut **tx).await?;
    Ok(())
}

/// The replies stored for the inbound message with this provider id (for a retried webhook).
///
/// # Errors
/// Database failures.
#[tracing::instrument(skip_all)]
pub async fn replies_to(tx: &mut Tx<'_>, provider_id: &str) -> Result<Vec<String>, StoreError> {
    let rows: Vec<(String,)> = sqlx::query_as(REPLIES).bind(provider_id).fetch_all(&mut **tx).await?;
    Ok(rows.into_iter().map(|(b,)| b).collect())
}

/// The last `limit` messages of a conversation, oldest first.
///
/// # Errors
/// Database failures.
pub async fn recent(tx: &mut Tx<'_>, conversation_id: &str, limit: i64) -> Result<Vec<MessageLine>, StoreError> {
    let mut rows: Vec<MessageLine> =
        sqlx::query_as(RECENT).bind(conversation_id).bind(limit).fetch_all(&mut **tx).await?;
    rows.reverse();
    Ok(rows)
}

/// Messages the customer sent while a ticket was open, oldest first.
///
/// # Errors
/// Database failures.
pub async fn of_ticket(store: &Store, ticket_id: &str) -> Result<Vec<MessageLine>, StoreError> {
    Ok(sqlx::query_as(OF_TICKET).bind(ticket_id).fetch_all(store.pool()).await?)
}

/// Delivery statuses in the order they can happen; a callback never moves a message back.
/// Terminal failures rank below `delivered` and `read` so a late failure cannot undo them.
pub fn status_rank(status: &str) -> Option<i64> {
    Some(match status {
        "accepted" | "scheduled" | "queued" => 0,
        "sending" => 1,
        "sent" => 2,
        "canceled" | "failed" | "undelivered" => 3,
        "partially_delivered" => 4,
        "delivered" => 5,
        "read" => 6,
        "receiving" | "received" | "replied" => return None,
        _ => return None,
    })
}

const UPDATE_STATUS: &str = "update message set status = $2, error_code = coalesce($3, error_code), updated_at_ms = $4
    where provider_id = $1 and direction = 'outbound' and
        (case status when 'accepted' then 0 when 'scheduled' then 0 when 'queued' then 0 when 'sending' then 1
            when 'sent' then 2 when 'canceled' then 3 when 'failed' then 3 when 'undelivered' then 3
            when 'partially_delivered' then 4 when 'delivered' then 5 when 'read' then 6 else -1 end) < $5";

/// Moves an outbound message forward to `status`; a late or repeated callback changes nothing.
/// Returns whether the message changed.
///
/// # Errors
/// Database failures.
#[tracing::instrument(skip_all, fields(%status))]
pub async fn advance_status(
    tx: &mut Tx<'_>,
    provider_id: &str,
    status: &str,
    error_code: Option<&str>,
    now_ms: i64,
) -> Result<bool, StoreError> {
    let Some(rank) = status_rank(status) else {
        return Ok(false);
    };
    let done = sqlx::query(UPDATE_STATUS)
        .bind(provider_id)
        .bind(status)
        .bind(error_code)
        .bind(now_ms)
        .bind(rank)
        .execute(&mut **tx)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// A person's reply in a web chat conversation, for the chat to show: stored as `sent` until a
/// chat window shows it (`read`), or it goes by text instead (`texted`). Returns its id.
///
/// # Errors
/// Database failures.
pub async fn insert_chat_reply(
    tx: &mut Tx<'_>,
    conversation_id: &str,
    ticket_id: &str,
    author: &str,
    body: &str,
    now_ms: i64,
) -> Result<String, StoreError> {
    let id = crate::new_id();
    sqlx::query(
        "insert into message (message_id, conversation_id, direction, channel, ticket_id, body, status, created_at_ms,
            updated_at_ms, author) values ($1, $2, 'outbound', 'web', $3, $4, 'sent', $5, $5, $6)",
    )
    .bind(&id)
    .bind(conversation_id)
    .bind(ticket_id)
    .bind(body)
    .bind(now_ms)
    .bind(author)
    .execute(&mut **tx)
    .await?;
    Ok(id)
}

/// Outbound messages of a conversation that answer no inbound message (a person's replies),
/// after the message id `after` (ids grow with time), oldest first: `(id, body)`.
///
/// # Errors
/// Database failures.
pub async fn chat_replies_after(
    store: &Store,
    conversation_id: &str,
    after: &str,
) -> Result<Vec<(String, String)>, StoreError> {
    Ok(sqlx::query_as(
        "select message_id, body from message
         where conversation_id = $1 and direction = 'outbound' and reply_to is null and message_id > $2
         order by message_id limit 50",
    )
    .bind(conversation_id)
    .bind(after)
    .fetch_all(store.pool())
    .await?)
}

/// A message of a web chat as the widget shows it.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct ChatLine {
    pub message_id: String,
    /// inbound, outbound
    pub direction: String,
    pub body: String,
    /// A person's reply: who wrote it (`Cam Lee`); none for the customer's and the bot's.
    pub author: Option<String>,
    pub at_ms: i64,
}

const CHAT_LINES: &str = "select message_id, direction, body, author, created_at_ms as at_ms from (
        select message_id, direction, body, author, created_at_ms from message
        where conversation_id = $1 order by message_id desc limit $2
    ) recent order by message_id";
const CHAT_REPLIES_AFTER: &str = "select message_id, direction, body, author, created_at_ms as at_ms from message
    where conversation_id = $1 and direction = 'outbound' and reply_to is null and message_id > $2
    order by message_id limit 50";

/// A web chat's last `limit` messages, oldest first: what the widget shows after a reload.
///
/// # Errors
/// Database failures.
pub async fn chat_lines(store: &Store, conversation_id: &str, limit: i64) -> Result<Vec<ChatLine>, StoreError> {
    Ok(sqlx::query_as(CHAT_LINES).bind(conversation_id).bind(limit).fetch_all(store.pool()).await?)
}

/// What the bot did not say in answer to a message — a person's replies, proactive messages —
/// after message `after` (ids grow with time), oldest first: what a live widget is sent.
///
/// # Errors
/// Database failures.
pub async fn chat_pushed_after(store: &Store, conversation_id: &str, after: &str) -> Result<Vec<ChatLine>, StoreError> {
    Ok(sqlx::query_as(CHAT_REPLIES_AFTER).bind(conversation_id).bind(after).fetch_all(store.pool()).await?)
}

const MARK_SEEN: &str = "update message set status = 'read', updated_at_ms = $3
    where conversation_id = $1 and channel = 'web' and direction = 'outbound' and status = 'sent'
        and message_id <= $2";

/// A chat window showed a person's replies up to message `up_to`: they are read, and will not
/// be texted.
///
/// # Errors
/// Database failures.
pub async fn mark_seen(store: &Store, conversation_id: &str, up_to: &str, now_ms: i64) -> Result<(), StoreError> {
    sqlx::query(MARK_SEEN).bind(conversation_id).bind(up_to).bind(now_ms).execute(store.pool()).await?;
    Ok(())
}

/// A person's chat reply no chat window has shown.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Unseen {
    pub message_id: String,
    pub conversation_id: String,
    pub ticket_id: Option<String>,
    pub location_id: String,
    pub phone: String,
    pub locale: String,
    pub author: Option<String>,
    pub body: String,
}

const UNSEEN: &str = "select m.message_id, m.conversation_id, m.ticket_id, v.location_id, c.phone, c.locale, m.author,
        m.body
    from message m join conversation v on v.conversation_id = m.conversation_id
        join contact c on c.contact_id = v.contact_id
    where m.channel = 'web' and m.status = 'sent' and m.direction = 'outbound' and m.created_at_ms <= $1
        and c.phone not like 'web:%'
    order by m.created_at_ms limit 200";
const TEXTED: &str =
    "update message set status = 'texted', updated_at_ms = $2 where message_id = $1 and status = 'sent'";

/// People's chat replies written before `before_ms` that no chat window has shown, oldest first,
/// to customers with a number (a visitor's wait in the chat, and never block the sweep).
///
/// # Errors
/// Database failures.
pub async fn unseen_chat_replies(store: &Store, before_ms: i64) -> Result<Vec<Unseen>, StoreError> {
    Ok(sqlx::query_as(UNSEEN).bind(before_ms).fetch_all(store.pool()).await?)
}

/// Claims an unseen reply for texting; `false` when another process (or a chat window) got it first.
///
/// # Errors
/// Database failures.
pub async fn claim_for_text(tx: &mut Tx<'_>, message_id: &str, now_ms: i64) -> Result<bool, StoreError> {
    let done = sqlx::query(TEXTED).bind(message_id).bind(now_ms).execute(&mut **tx).await?;
    Ok(done.rows_affected() == 1)
}

/// A line of a customer's transcript: a message in or out on any channel, or a text still in
/// the outbox (not sent yet, held, blocked or failed), with its delivery status.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct TranscriptLine {
    pub at_ms: i64,
    /// inbound, outbound
    pub direction: String,
    pub channel: String,
    pub body: String,
    /// The message's delivery status, or the outbox row's (pending, held, blocked, failed…).
    pub status: String,
    /// Why an outbox row is held, blocked or failed.
    pub reason: Option<String>,
    pub ticket_id: Option<String>,
    /// For a person's reply, who wrote it; none for the customer's and the bot's lines.
    pub author: Option<String>,
}

impl TranscriptLine {
    /// Who spoke: `customer`, `bot`, or the staff member's name.
    pub fn speaker(&self) -> &str {
        match (&self.author, self.direction.as_str()) {
            (_, "inbound") => "customer",
            (Some(name), _) => name,
            (None, _) => "bot",
        }
    }
}

const TRANSCRIPT: &str = "select at_ms, direction, channel, body, status, reason, ticket_id, author from (
        select m.created_at_ms as at_ms, m.direction, m.channel, m.body, m.status, m.error_code as reason, m.ticket_id,
            m.author
        from message m join conversation v on v.conversation_id = m.conversation_id where v.contact_id = $1
        union all
        select o.created_at_ms as at_ms, 'outbound' as direction, 'sms' as channel, o.body, o.status, o.reason,
            o.ticket_id, o.author
        from outbox o join conversation v on v.conversation_id = o.conversation_id
        where v.contact_id = $1 and o.status <> 'sent'
    ) lines order by at_ms desc, direction desc limit $2";

/// The contact's last `limit` lines across every conversation and channel, oldest first.
///
/// # Errors
/// Database failures.
pub async fn transcript(store: &Store, contact_id: &str, limit: i64) -> Result<Vec<TranscriptLine>, StoreError> {
    let mut lines: Vec<TranscriptLine> =
        sqlx::query_as(TRANSCRIPT).bind(contact_id).bind(limit).fetch_all(store.pool()).await?;
    lines.reverse();
    Ok(lines)
}

/// The bot's answer to one inbound message (a revocation's confirmation): its text, when, and
/// its delivery status.
///
/// # Errors
/// Database failures.
pub async fn reply_to(store: &Store, message_id: &str) -> Result<Option<(String, i64, String)>, StoreError> {
    Ok(sqlx::query_as(
        "select body, created_at_ms, status from message where reply_to = $1 and direction = 'outbound'
        order by created_at_ms limit 1",
    )
    .bind(message_id)
    .fetch_optional(store.pool())
    .await?)
}
