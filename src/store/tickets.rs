//! Tickets: the hand-off queue. A ticket holds the conversation for a human until it is
//! resolved, which hands the conversation back to the bot.

use sqlx::FromRow;

use super::feed::QueueChange;
use super::{Store, StoreError, Tx};

pub struct NewTicket<'a> {
    pub conversation_id: &'a str,
    pub queue: &'a str,
    pub priority: u8,
    pub tags: &'a [String],
    pub reason: &'a str,
    pub summary: &'a str,
    /// What the bot knew (its slots), shown to the person as structured details.
    pub details: &'a serde_json::Value,
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

const INSERT: &str = "insert into ticket (ticket_id, conversation_id, queue, priority, tags, reason, summary, status,
        created_at_ms, details) values ($1, $2, $3, $4, $5, $6, $7, 'open', $8, $9)";
const LIST_OPEN: &str = "select t.ticket_id, t.conversation_id, t.queue, t.priority, t.tags, t.reason, t.summary, t.status,
        t.created_at_ms, c.phone, v.ownership
    from ticket t join conversation v on v.conversation_id = t.conversation_id join contact c on c.contact_id = v.contact_id
    where t.status = 'open' order by t.priority, t.created_at_ms";
const RESOLVE: &str =
    "update ticket set status = 'resolved', resolved_at_ms = $2 where ticket_id = $1 and status = 'open'";
const HAND_BACK: &str = "update conversation set ownership = 'resolved', open_ticket_id = null, closed_at_ms = $2,
        version = version + 1
    where open_ticket_id = $1";

const OPEN_QUEUE: &str =
    "select queue from ticket where conversation_id = $1 and status = 'open' order by created_at_ms desc limit 1";

/// The queue of the conversation's open ticket, if it has one.
///
/// # Errors
/// Database failures.
pub async fn open_queue(store: &Store, conversation_id: &str) -> Result<Option<String>, StoreError> {
    let row: Option<(String,)> = sqlx::query_as(OPEN_QUEUE).bind(conversation_id).fetch_optional(store.pool()).await?;
    Ok(row.map(|(q,)| q))
}

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
        .bind(t.details.to_string())
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
    store.announce(&QueueChange::new("resolved", ticket_id, "")).await;
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
        let message_id =
            super::messages::insert_chat_reply(&mut tx, &conversation_id, ticket_id, staff, text, now).await?;
        let detail = serde_json::json!({ "ticket_id": ticket_id, "message_id": message_id, "staff": staff });
        (Delivery::WebChat(message_id), detail)
    } else {
        let message = super::outbox::NewOutbound {
            conversation_id: Some(&conversation_id),
            location_id: &location_id,
            to_phone: &phone,
            purpose: "transactional",
            body: text,
            reply: Some(super::outbox::StaffReply { ticket_id, author: staff }),
        };
        let outbox_id = super::outbox::enqueue(&mut tx, &message, now).await?;
        let detail = serde_json::json!({ "ticket_id": ticket_id, "outbox_id": outbox_id, "staff": staff });
        (Delivery::Outbox(outbox_id), detail)
    };
    super::conversations::record_event(&mut tx, &conversation_id, "agent_reply", &detail, now).await?;
    tx.commit().await?;
    store.announce(&QueueChange::new("replied", ticket_id, "").of(&conversation_id)).await;
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

// ---- the console's queue ----

/// An open ticket as the queue lists it.
#[derive(Debug, Clone, FromRow, serde::Serialize)]
pub struct QueueItem {
    pub ticket_id: String,
    pub conversation_id: String,
    pub queue: String,
    pub priority: i64,
    pub tags: String,
    pub reason: String,
    pub created_at_ms: i64,
    pub assignee_id: Option<String>,
    pub assignee_name: Option<String>,
    pub snoozed_until_ms: Option<i64>,
    pub first_reply_at_ms: Option<i64>,
    pub channel: String,
    pub location_id: String,
    pub location_name: String,
    pub first_name: Option<String>,
    pub phone: String,
}

/// Which open tickets the queue shows; empty lists mean any.
#[derive(Debug, Clone, Default)]
pub struct QueueFilter {
    pub queues: Vec<String>,
    pub priority: Option<i64>,
    pub tag: Option<String>,
    pub location_id: Option<String>,
    pub assignee_id: Option<String>,
    /// Leave out tickets snoozed past this instant.
    pub awake_at_ms: Option<i64>,
    pub sla: Option<SlaFilter>,
    pub limit: i64,
}

/// Tickets in one SLA state at `now_ms`, given each queue's answer time per priority
/// (`queue::Sla` says what the states mean; this is the same rule in SQL, so a filter sees
/// every open ticket, not one page).
#[derive(Debug, Clone)]
pub struct SlaFilter {
    /// `answered`, `ok`, `soon`, `late` or `none`.
    pub state: &'static str,
    pub now_ms: i64,
    /// `(queue, priority, allowed ms)` for every queue and priority with a time.
    pub allowed: Vec<(String, i64, i64)>,
}

enum Bind {
    Text(String),
    Int(i64),
}

/// What a queue row reads, and the joins that give it (after `from ticket t`).
macro_rules! queue_item {
    (select) => {
        "select t.ticket_id, t.conversation_id, t.queue, t.priority, t.tags, t.reason, t.created_at_ms,
            t.assignee_id, u.display_name as assignee_name, t.snoozed_until_ms, t.first_reply_at_ms,
            v.channel, v.location_id, l.name as location_name, c.first_name, c.phone"
    };
    (joins) => {
        " join conversation v on v.conversation_id = t.conversation_id
            join contact c on c.contact_id = v.contact_id join location l on l.location_id = v.location_id
            left join staff_user u on u.user_id = t.assignee_id"
    };
}

// The page of tickets is chosen from the ticket table alone (its order has an index), then
// joined: joining every open ticket before sorting cost 130 ms at 10,000 open tickets.
const QUEUE_SELECT: &str = concat!(
    queue_item!(select),
    " from (select * from ticket t where t.status = 'open'{cond}
        order by t.priority, t.created_at_ms, t.ticket_id limit {limit}) t",
    queue_item!(joins),
    " order by t.priority, t.created_at_ms, t.ticket_id"
);
const QUEUE_COUNT: &str = "select count(*) from ticket t where t.status = 'open'";
const ONE: &str = concat!(queue_item!(select), " from ticket t", queue_item!(joins), " where t.ticket_id = $1");

/// The filter as SQL conditions (appended to a `where`) and their parameters, in order.
fn conditions(f: &QueueFilter) -> (String, Vec<Bind>) {
    let mut sql = String::new();
    let mut binds = Vec::new();
    let param = |binds: &mut Vec<Bind>, b: Bind| {
        binds.push(b);
        format!("${}", binds.len())
    };
    if !f.queues.is_empty() {
        let list: Vec<String> = f.queues.iter().map(|q| param(&mut binds, Bind::Text(q.clone()))).collect();
        sql.push_str(&format!(" and t.queue in ({})", list.join(", ")));
    }
    if let Some(p) = f.priority {
        sql.push_str(&format!(" and t.priority = {}", param(&mut binds, Bind::Int(p))));
    }
    if let Some(tag) = &f.tag {
        // Tags are stored as a JSON array of strings: match the quoted tag.
        let quoted = format!("%{}%", serde_json::to_string(tag).expect("a string serializes"));
        sql.push_str(&format!(" and t.tags like {}", param(&mut binds, Bind::Text(quoted))));
    }
    if let Some(l) = &f.location_id {
        let at = param(&mut binds, Bind::Text(l.clone()));
        sql.push_str(&format!(
            " and t.conversation_id in (select conversation_id from conversation where location_id = {at})"
        ));
    }
    if let Some(a) = &f.assignee_id {
        sql.push_str(&format!(" and t.assignee_id = {}", param(&mut binds, Bind::Text(a.clone()))));
    }
    if let Some(at) = f.awake_at_ms {
        let at = param(&mut binds, Bind::Int(at));
        sql.push_str(&format!(" and (t.snoozed_until_ms is null or t.snoozed_until_ms <= {at})"));
    }
    if let Some(sla) = &f.sla {
        // The time each ticket has, as one nested CASE (queue, then priority); null where its
        // queue sets none. One pass per row, whatever the number of queues.
        let mut by_queue: Vec<(&str, Vec<(i64, i64)>)> = Vec::new();
        for (queue, priority, allowed) in &sla.allowed {
            if !f.queues.is_empty() && !f.queues.contains(queue) {
                continue;
            }
            match by_queue.iter_mut().find(|(q, _)| q == queue) {
                Some((_, times)) => times.push((*priority, *allowed)),
                None => by_queue.push((queue, vec![(*priority, *allowed)])),
            }
        }
        let mut allowed = String::from(if by_queue.is_empty() { "null" } else { "case t.queue" });
        let timed = !by_queue.is_empty();
        for (queue, times) in by_queue {
            let q = param(&mut binds, Bind::Text(queue.to_owned()));
            let inner: Vec<String> = times.iter().map(|(p, ms)| format!("when {p} then {ms}")).collect();
            allowed.push_str(&format!(" when {q} then case t.priority {} end", inner.join(" ")));
        }
        if timed {
            allowed.push_str(" end");
        }
        let now = param(&mut binds, Bind::Int(sla.now_ms));
        let left = format!("(t.created_at_ms + {allowed} - {now})");
        sql.push_str(&match sla.state {
            "answered" => " and t.first_reply_at_ms is not null".to_owned(),
            "none" => format!(" and t.first_reply_at_ms is null and ({allowed}) is null"),
            // Less than a quarter of the time left: 4 × left < allowed.
            "late" => format!(" and t.first_reply_at_ms is null and {left} <= 0"),
            "soon" => format!(" and t.first_reply_at_ms is null and {left} > 0 and 4 * {left} < ({allowed})"),
            _ => format!(" and t.first_reply_at_ms is null and 4 * {left} >= ({allowed})"),
        });
    }
    (sql, binds)
}

fn bound<'q, O>(
    mut query: sqlx::query::QueryAs<'q, sqlx::Any, O, sqlx::any::AnyArguments<'q>>,
    binds: Vec<Bind>,
) -> sqlx::query::QueryAs<'q, sqlx::Any, O, sqlx::any::AnyArguments<'q>> {
    for b in binds {
        query = match b {
            Bind::Text(t) => query.bind(t),
            Bind::Int(i) => query.bind(i),
        };
    }
    query
}

/// Open tickets matching the filter, most urgent first, then oldest first, at most `limit`.
///
/// # Errors
/// Database failures.
pub async fn queue(store: &Store, f: &QueueFilter) -> Result<Vec<QueueItem>, StoreError> {
    let (cond, binds) = conditions(f);
    let sql = QUEUE_SELECT.replace("{cond}", &cond).replace("{limit}", &f.limit.clamp(0, 100_000).to_string());
    Ok(bound(sqlx::query_as::<_, QueueItem>(&sql), binds).fetch_all(store.pool()).await?)
}

/// How many open tickets match the filter (all of them, not one page).
///
/// # Errors
/// Database failures.
pub async fn queue_count(store: &Store, f: &QueueFilter) -> Result<i64, StoreError> {
    let (cond, binds) = conditions(f);
    let sql = format!("{QUEUE_COUNT}{cond}");
    Ok(bound(sqlx::query_as::<_, (i64,)>(&sql), binds).fetch_one(store.pool()).await?.0)
}

/// Ticket ids that start with `prefix` (at most two: one is a match, two mean the prefix is
/// ambiguous). The prefix must be lowercase hex digits and dashes, as ids are.
///
/// # Errors
/// Database failures.
pub async fn ids_starting_with(store: &Store, prefix: &str) -> Result<Vec<String>, StoreError> {
    if prefix.is_empty() || !prefix.chars().all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c) || c == '-') {
        return Ok(Vec::new());
    }
    let rows: Vec<(String,)> = sqlx::query_as("select ticket_id from ticket where ticket_id like $1 limit 2")
        .bind(format!("{prefix}%"))
        .fetch_all(store.pool())
        .await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

/// The shortest start of `ticket_id` (8 characters at least) that no other ticket shares, as
/// `git` abbreviates commits: ids are time-ordered, so tickets filed in the same minute share
/// their first eight characters.
///
/// # Errors
/// Database failures.
pub async fn short_id(store: &Store, ticket_id: &str) -> Result<String, StoreError> {
    let (before, after): (Option<String>, Option<String>) = sqlx::query_as(
        "select (select max(ticket_id) from ticket where ticket_id < $1), (select min(ticket_id) from ticket where ticket_id > $1)",
    )
    .bind(ticket_id)
    .fetch_one(store.pool())
    .await?;
    let shared = |other: &Option<String>| {
        other.as_deref().map_or(0, |o| o.bytes().zip(ticket_id.bytes()).take_while(|(a, b)| a == b).count())
    };
    let len = (shared(&before).max(shared(&after)) + 1).clamp(8, ticket_id.len());
    Ok(ticket_id[..len].to_owned())
}

/// Messages the customer sent on this ticket that nobody has answered yet: those after the
/// last reply a person sent (or queued) from it.
///
/// # Errors
/// Database failures.
pub async fn unanswered(store: &Store, ticket_id: &str) -> Result<i64, StoreError> {
    let (n,): (i64,) = sqlx::query_as(
        "select count(*) from message where ticket_id = $1 and direction = 'inbound' and created_at_ms > coalesce(
            (select max(at) from (
                select max(created_at_ms) as at from message where ticket_id = $1 and direction = 'outbound'
                union all select max(created_at_ms) as at from outbox where ticket_id = $1) replies), 0)",
    )
    .bind(ticket_id)
    .fetch_one(store.pool())
    .await?;
    Ok(n)
}

/// One ticket as the console shows it (any status).
///
/// # Errors
/// Database failures.
pub async fn item(store: &Store, ticket_id: &str) -> Result<Option<(QueueItem, TicketState)>, StoreError> {
    let Some(item) = sqlx::query_as::<_, QueueItem>(ONE).bind(ticket_id).fetch_optional(store.pool()).await? else {
        return Ok(None);
    };
    let state: TicketState = sqlx::query_as(
        "select t.status, t.summary, t.details, t.claimed_at_ms, t.resolved_at_ms, t.resolved_by, t.disposition,
            v.ownership, v.contact_id
         from ticket t join conversation v on v.conversation_id = t.conversation_id where t.ticket_id = $1",
    )
    .bind(ticket_id)
    .fetch_one(store.pool())
    .await?;
    Ok(Some((item, state)))
}

/// What the queue list leaves out of a ticket.
#[derive(Debug, Clone, FromRow, serde::Serialize)]
pub struct TicketState {
    pub status: String,
    pub summary: String,
    /// JSON: what the bot knew when it filed the ticket.
    pub details: String,
    pub claimed_at_ms: Option<i64>,
    pub resolved_at_ms: Option<i64>,
    pub resolved_by: Option<String>,
    pub disposition: Option<String>,
    pub ownership: String,
    pub contact_id: String,
}

/// What a claim came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// This person has it now.
    Claimed,
    /// Someone else has it (their name).
    Taken(String),
    /// The ticket is not open.
    NotOpen,
}

const CLAIM: &str = "update ticket set assignee_id = $2, claimed_at_ms = $3
    where ticket_id = $1 and status = 'open' and assignee_id is null";
const TO_AGENT: &str = "update conversation set ownership = 'agent', version = version + 1
    where open_ticket_id = $1 and ownership = 'queued'";
const HOLDER: &str = "select t.status, u.display_name from ticket t left join staff_user u on u.user_id = t.assignee_id
    where t.ticket_id = $1";

/// Claims an open ticket for `user_id`: a conditional update, so of two people who claim at
/// once exactly one gets it. The conversation becomes the agent's.
///
/// # Errors
/// Database failures.
pub async fn claim(store: &Store, ticket_id: &str, user_id: &str, by: &str) -> Result<Claim, StoreError> {
    let now = store.now_ms();
    let mut tx = store.begin().await?;
    let done = sqlx::query(CLAIM).bind(ticket_id).bind(user_id).bind(now).execute(&mut *tx).await?;
    if done.rows_affected() == 1 {
        sqlx::query(TO_AGENT).bind(ticket_id).execute(&mut *tx).await?;
        let conversation = conversation_of(&mut tx, ticket_id).await?;
        let detail = serde_json::json!({ "ticket_id": ticket_id, "by": by });
        super::conversations::record_event(&mut tx, &conversation, "claimed", &detail, now).await?;
        tx.commit().await?;
        store.announce(&QueueChange::new("claimed", ticket_id, "")).await;
        return Ok(Claim::Claimed);
    }
    let holder: Option<(String, Option<String>)> =
        sqlx::query_as(HOLDER).bind(ticket_id).fetch_optional(&mut *tx).await?;
    Ok(match holder {
        Some((status, Some(name))) if status == "open" => Claim::Taken(name),
        Some((status, None)) if status == "open" => Claim::Taken("someone".into()),
        _ => Claim::NotOpen,
    })
}

async fn conversation_of(tx: &mut Tx<'_>, ticket_id: &str) -> Result<String, StoreError> {
    let (id,): (String,) = sqlx::query_as("select conversation_id from ticket where ticket_id = $1")
        .bind(ticket_id)
        .fetch_one(&mut **tx)
        .await?;
    Ok(id)
}

/// A change to a claimed ticket by its holder (or a lead): release, transfer, snooze, note.
pub enum Change<'a> {
    /// Back to the queue, unclaimed.
    Release,
    /// To another queue (unclaimed) or to a person (claimed by them).
    Transfer { queue: Option<&'a str>, to_user: Option<&'a str> },
    /// Out of the queue view until then.
    Snooze { until_ms: i64 },
    /// Just the note.
    Note,
}

/// Applies a change to an open ticket, with an internal note (never sent to the customer) and a
/// conversation event. `false` when the ticket is not open.
///
/// # Errors
/// Database failures.
pub async fn change(
    store: &Store,
    ticket_id: &str,
    author_id: &str,
    by: &str,
    change: &Change<'_>,
    note: &str,
) -> Result<bool, StoreError> {
    let now = store.now_ms();
    let mut tx = store.begin().await?;
    let open: Option<(String,)> = sqlx::query_as("select status from ticket where ticket_id = $1 and status = 'open'")
        .bind(ticket_id)
        .fetch_optional(&mut *tx)
        .await?;
    if open.is_none() {
        return Ok(false);
    }
    let (kind, detail) = match change {
        Change::Release => {
            sqlx::query("update ticket set assignee_id = null, claimed_at_ms = null where ticket_id = $1")
                .bind(ticket_id)
                .execute(&mut *tx)
                .await?;
            sqlx::query("update conversation set ownership = 'queued', version = version + 1 where open_ticket_id = $1 and ownership = 'agent'")
                .bind(ticket_id)
                .execute(&mut *tx)
                .await?;
            ("released", serde_json::json!({ "ticket_id": ticket_id, "by": by }))
        }
        Change::Transfer { queue, to_user } => {
            if let Some(queue) = queue {
                sqlx::query(
                    "update ticket set queue = $2, assignee_id = null, claimed_at_ms = null where ticket_id = $1",
                )
                .bind(ticket_id)
                .bind(queue)
                .execute(&mut *tx)
                .await?;
                sqlx::query("update conversation set ownership = 'queued', version = version + 1 where open_ticket_id = $1 and ownership = 'agent'")
                    .bind(ticket_id)
                    .execute(&mut *tx)
                    .await?;
            }
            if let Some(user) = to_user {
                sqlx::query("update ticket set assignee_id = $2, claimed_at_ms = $3 where ticket_id = $1")
                    .bind(ticket_id)
                    .bind(user)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(TO_AGENT).bind(ticket_id).execute(&mut *tx).await?;
            }
            ("transferred", serde_json::json!({ "ticket_id": ticket_id, "by": by, "queue": queue, "to_user": to_user }))
        }
        Change::Snooze { until_ms } => {
            sqlx::query("update ticket set snoozed_until_ms = $2 where ticket_id = $1")
                .bind(ticket_id)
                .bind(until_ms)
                .execute(&mut *tx)
                .await?;
            ("snoozed", serde_json::json!({ "ticket_id": ticket_id, "by": by, "until_ms": until_ms }))
        }
        Change::Note => ("noted", serde_json::json!({ "ticket_id": ticket_id, "by": by })),
    };
    if !note.is_empty() || matches!(change, Change::Note) {
        sqlx::query(
            "insert into ticket_note (note_id, ticket_id, author_id, kind, body, created_at_ms) values ($1, $2, $3, $4, $5, $6)",
        )
        .bind(crate::new_id())
        .bind(ticket_id)
        .bind(author_id)
        .bind(kind)
        .bind(note)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    let conversation = conversation_of(&mut tx, ticket_id).await?;
    super::conversations::record_event(&mut tx, &conversation, kind, &detail, now).await?;
    tx.commit().await?;
    store.announce(&QueueChange::new(kind, ticket_id, "")).await;
    Ok(true)
}

/// A note on a ticket, with its author's name.
#[derive(Debug, Clone, FromRow, serde::Serialize)]
pub struct Note {
    pub kind: String,
    pub body: String,
    pub created_at_ms: i64,
    pub author: Option<String>,
}

/// # Errors
/// Database failures.
pub async fn notes(store: &Store, ticket_id: &str) -> Result<Vec<Note>, StoreError> {
    Ok(sqlx::query_as(
        "select n.kind, n.body, n.created_at_ms, u.display_name as author from ticket_note n
            left join staff_user u on u.user_id = n.author_id where n.ticket_id = $1 order by n.created_at_ms, n.note_id",
    )
    .bind(ticket_id)
    .fetch_all(store.pool())
    .await?)
}

/// Wraps up an open ticket: its tags (the flow's and the person's), who resolved it and how
/// (`resolved`: back to the bot; `closed`), and the conversation closes so that the customer's
/// next message starts afresh with the bot. `false` when the ticket is not open.
///
/// # Errors
/// Database failures.
pub async fn wrap_up(
    store: &Store,
    ticket_id: &str,
    by: &str,
    tags: &[String],
    disposition: &str,
    note: &str,
) -> Result<bool, StoreError> {
    let now = store.now_ms();
    let mut tx = store.begin().await?;
    let done = sqlx::query(
        "update ticket set status = 'resolved', resolved_at_ms = $2, resolved_by = $3, disposition = $4, tags = $5
         where ticket_id = $1 and status = 'open'",
    )
    .bind(ticket_id)
    .bind(now)
    .bind(by)
    .bind(disposition)
    .bind(serde_json::to_string(tags).expect("tags serialize"))
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    let conversation = conversation_of(&mut tx, ticket_id).await?;
    sqlx::query(HAND_BACK).bind(ticket_id).bind(now).execute(&mut *tx).await?;
    let detail = serde_json::json!({ "ticket_id": ticket_id, "note": note, "to": "bot", "by": by, "disposition": disposition, "tags": tags });
    super::conversations::record_event(&mut tx, &conversation, "handed_back", &detail, now).await?;
    tx.commit().await?;
    store.announce(&QueueChange::new("resolved", ticket_id, "")).await;
    Ok(true)
}

/// Marks the ticket's first answer, if it has none yet (for the SLA).
///
/// # Errors
/// Database failures.
pub async fn mark_replied(store: &Store, ticket_id: &str) -> Result<(), StoreError> {
    sqlx::query("update ticket set first_reply_at_ms = $2 where ticket_id = $1 and first_reply_at_ms is null")
        .bind(ticket_id)
        .bind(store.now_ms())
        .execute(store.pool())
        .await?;
    Ok(())
}
