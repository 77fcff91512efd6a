//! Conversations: one open dialog per contact, location and channel, with its flow state,
//! ownership (bot, queued, agent, resolved) and version for optimistic concurrency.

use sqlx::FromRow;

use super::{corrupt, StoreError, Tx};
use crate::flows::engine::State;

/// Who speaks for us in a conversation. The bot never speaks unless it is `Bot`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ownership {
    Bot,
    Queued,
    Agent,
    Resolved,
}

impl Ownership {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Bot => "bot",
            Self::Queued => "queued",
            Self::Agent => "agent",
            Self::Resolved => "resolved",
        }
    }

    fn parse(raw: &str) -> Result<Self, StoreError> {
        match raw {
            "bot" => Ok(Self::Bot),
            "queued" => Ok(Self::Queued),
            "agent" => Ok(Self::Agent),
            "resolved" => Ok(Self::Resolved),
            other => Err(corrupt("conversation ownership", other)),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Conversation {
    pub conversation_id: String,
    pub contact_id: String,
    pub location_id: String,
    pub channel: String,
    pub ownership: Ownership,
    pub open_ticket_id: Option<String>,
    pub state: State,
    pub version: i64,
    pub last_activity_at_ms: i64,
}

#[derive(FromRow)]
struct ConversationRow {
    conversation_id: String,
    contact_id: String,
    location_id: String,
    channel: String,
    ownership: String,
    open_ticket_id: Option<String>,
    slots: String,
    engine: String,
    version: i64,
    last_activity_at_ms: i64,
}

impl TryFrom<ConversationRow> for Conversation {
    type Error = StoreError;

    fn try_from(row: ConversationRow) -> Result<Self, StoreError> {
        let mut state: State = serde_json::from_str(&row.engine)
            .map_err(|e| corrupt("conversation engine state", e))?;
        state.slots =
            serde_json::from_str(&row.slots).map_err(|e| corrupt("conversation slots", e))?;
        Ok(Self {
            conversation_id: row.conversation_id,
            contact_id: row.contact_id,
            location_id: row.location_id,
            channel: row.channel,
            ownership: Ownership::parse(&row.ownership)?,
            open_ticket_id: row.open_ticket_id,
            state,
            version: row.version,
            last_activity_at_ms: row.last_activity_at_ms,
        })
    }
}

const FIND_OPEN: &str = "select conversation_id, contact_id, location_id, channel, ownership, open_ticket_id, slots, engine,
        version, last_activity_at_ms
    from conversation where contact_id = $1 and location_id = $2 and channel = $3 and closed_at_ms is null";
const INSERT: &str = "insert into conversation (conversation_id, contact_id, location_id, channel, ownership, flow_id, step_id,
        slots, engine, version, last_activity_at_ms, created_at_ms)
    values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)";
const UPDATE: &str = "update conversation set ownership = $2, open_ticket_id = $3, flow_id = $4, step_id = $5, slots = $6,
        engine = $7, version = version + 1, last_activity_at_ms = $8
    where conversation_id = $1 and version = $9";
const INSERT_EVENT: &str =
    "insert into conversation_event (event_id, conversation_id, kind, detail, created_at_ms)
    values ($1, $2, $3, $4, $5)";

/// # Errors
/// Database failures, or a stored state that no longer parses.
#[tracing::instrument(skip_all)]
pub async fn find_open(
    tx: &mut Tx,
    contact_id: &str,
    location_id: &str,
    channel: &str,
) -> Result<Option<Conversation>, StoreError> {
    let row: Option<ConversationRow> = sqlx::query_as(FIND_OPEN)
        .bind(contact_id)
        .bind(location_id)
        .bind(channel)
        .fetch_optional(&mut **tx)
        .await?;
    row.map(Conversation::try_from).transpose()
}

fn state_json(state: &State) -> (String, String) {
    let engine = serde_json::to_string(state).expect("engine state serializes");
    let slots = serde_json::to_string(&state.slots).expect("slots serialize");
    (engine, slots)
}

/// Stores a new conversation at version 0.
///
/// # Errors
/// Database failures; a unique violation if one is already open for the same contact.
#[tracing::instrument(skip_all)]
pub async fn insert(tx: &mut Tx, c: &Conversation) -> Result<(), StoreError> {
    let (engine, slots) = state_json(&c.state);
    sqlx::query(INSERT)
        .bind(&c.conversation_id)
        .bind(&c.contact_id)
        .bind(&c.location_id)
        .bind(&c.channel)
        .bind(c.ownership.as_str())
        .bind(c.state.flow_id())
        .bind(c.state.step_id())
        .bind(slots)
        .bind(engine)
        .bind(c.version)
        .bind(c.last_activity_at_ms)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Saves `c` if nobody saved it since it was read (same version), and bumps the version.
///
/// # Errors
/// `Conflict` when the version moved; database failures.
#[tracing::instrument(skip_all)]
pub async fn save(tx: &mut Tx, c: &mut Conversation) -> Result<(), StoreError> {
    let (engine, slots) = state_json(&c.state);
    let done = sqlx::query(UPDATE)
        .bind(&c.conversation_id)
        .bind(c.ownership.as_str())
        .bind(c.open_ticket_id.as_deref())
        .bind(c.state.flow_id())
        .bind(c.state.step_id())
        .bind(slots)
        .bind(engine)
        .bind(c.last_activity_at_ms)
        .bind(c.version)
        .execute(&mut **tx)
        .await?;
    if done.rows_affected() != 1 {
        return Err(StoreError::Conflict(c.conversation_id.clone()));
    }
    c.version += 1;
    Ok(())
}

/// Deletes a conversation created in this transaction that turned out not to be needed.
///
/// # Errors
/// Database failures.
pub async fn delete_new(tx: &mut Tx, conversation_id: &str) -> Result<(), StoreError> {
    sqlx::query("delete from conversation where conversation_id = $1 and version = 0")
        .bind(conversation_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Records an ownership transition or other milestone of a conversation.
///
/// # Errors
/// Database failures.
pub async fn record_event(
    tx: &mut Tx,
    conversation_id: &str,
    kind: &str,
    detail: &serde_json::Value,
) -> Result<(), StoreError> {
    sqlx::query(INSERT_EVENT)
        .bind(crate::new_id())
        .bind(conversation_id)
        .bind(kind)
        .bind(detail.to_string())
        .bind(crate::now_ms())
        .execute(&mut **tx)
        .await?;
    Ok(())
}
