//! Conversations: one open dialog per contact, location and channel, with its flow state,
//! ownership (bot, queued, agent, resolved) and version for optimistic concurrency.
//!
//! The pipeline reads and writes conversations a batch at a time: one statement reads every
//! sender's contact and open conversations, one inserts the new conversations, one saves them
//! all with a version check.

use sqlx::FromRow;

use super::contacts::{Contact, ContactRow};
use super::{corrupt, Placeholders, StoreError, Tx};
use crate::domain::conversation::{Ownership, State};

#[derive(Debug, Clone)]
pub struct Conversation {
    pub conversation_id: String,
    pub contact_id: String,
    pub location_id: String,
    pub channel: String,
    pub ownership: Ownership,
    pub open_ticket_id: Option<String>,
    pub state: State,
    /// The version read; a save succeeds only if the stored row still has it.
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
        let mut state: State =
            serde_json::from_str(&row.engine).map_err(|e| corrupt("conversation engine state", e))?;
        state.slots = serde_json::from_str(&row.slots).map_err(|e| corrupt("conversation slots", e))?;
        Ok(Self {
            conversation_id: row.conversation_id,
            contact_id: row.contact_id,
            location_id: row.location_id,
            channel: row.channel,
            ownership: Ownership::parse(&row.ownership)
                .ok_or_else(|| corrupt("conversation ownership", &row.ownership))?,
            open_ticket_id: row.open_ticket_id,
            state,
            version: row.version,
            last_activity_at_ms: row.last_activity_at_ms,
        })
    }
}

const FIND_OPEN: &str =
    "select conversation_id, contact_id, location_id, channel, ownership, open_ticket_id, slots, engine,
        version, last_activity_at_ms
    from conversation where contact_id = $1 and location_id = $2 and channel = $3 and closed_at_ms is null";
/// Senders and all their open conversations; the `in (…)` list is appended.
const FIND_FOR_SENDERS: &str = "select c.contact_id, c.phone, c.locale, c.customer_type, c.first_name,
        v.conversation_id, v.location_id, v.channel, v.ownership, v.open_ticket_id, v.slots, v.engine, v.version,
        v.last_activity_at_ms
    from contact c left join conversation v on v.contact_id = c.contact_id and v.closed_at_ms is null
    where c.phone in ";
const INSERT_PREFIX: &str = "insert into conversation (conversation_id, contact_id, location_id, channel, ownership,
        slots, engine, version, last_activity_at_ms, created_at_ms) values ";
/// Saves many conversations with a version check each. `cast` types the values for
/// PostgreSQL and is plain SQL for SQLite.
const SAVE_PREFIX: &str = "with v (conversation_id, ownership, open_ticket_id, flow_id, step_id, slots, engine,
        last_activity_at_ms, version) as (values ";
const SAVE_SUFFIX: &str = ")
    update conversation set ownership = v.ownership, open_ticket_id = v.open_ticket_id, flow_id = v.flow_id,
        step_id = v.step_id, slots = v.slots, engine = v.engine, last_activity_at_ms = v.last_activity_at_ms,
        version = conversation.version + 1
    from v where conversation.conversation_id = v.conversation_id and conversation.version = v.version";
const INSERT_EVENT: &str = "insert into conversation_event (event_id, conversation_id, kind, detail, created_at_ms)
    values ($1, $2, $3, $4, $5)";

#[derive(FromRow)]
struct SenderRow {
    contact_id: String,
    phone: String,
    locale: String,
    customer_type: String,
    first_name: Option<String>,
    conversation_id: Option<String>,
    location_id: Option<String>,
    channel: Option<String>,
    ownership: Option<String>,
    open_ticket_id: Option<String>,
    slots: Option<String>,
    engine: Option<String>,
    version: Option<i64>,
    last_activity_at_ms: Option<i64>,
}

/// The contacts with these phone numbers, each with their open conversations (any location
/// or channel). A phone with no contact yet is absent.
///
/// # Errors
/// Database failures, or a stored state that no longer parses.
#[tracing::instrument(skip_all, fields(count = phones.len()))]
pub async fn find_for_senders(
    tx: &mut Tx<'_>,
    phones: &[&str],
) -> Result<Vec<(Contact, Vec<Conversation>)>, StoreError> {
    if phones.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!("{FIND_FOR_SENDERS}({}) order by c.contact_id", Placeholders::for_tx(tx).list(phones.len()));
    let mut query = sqlx::query_as::<_, SenderRow>(&sql);
    for phone in phones {
        query = query.bind(*phone);
    }
    let mut out: Vec<(Contact, Vec<Conversation>)> = Vec::new();
    for r in query.fetch_all(&mut **tx).await? {
        if out.last().is_none_or(|(c, _)| c.contact_id != r.contact_id) {
            let contact = Contact::try_from(ContactRow {
                contact_id: r.contact_id.clone(),
                phone: r.phone.clone(),
                locale: r.locale.clone(),
                customer_type: r.customer_type.clone(),
                first_name: r.first_name.clone(),
            })?;
            out.push((contact, Vec::new()));
        }
        if let Some(conversation) = conversation_of(r)? {
            out.last_mut().expect("contact pushed above").1.push(conversation);
        }
    }
    Ok(out)
}

fn conversation_of(r: SenderRow) -> Result<Option<Conversation>, StoreError> {
    let (
        Some(conversation_id),
        Some(location_id),
        Some(channel),
        Some(ownership),
        Some(slots),
        Some(engine),
        Some(version),
        Some(last),
    ) = (r.conversation_id, r.location_id, r.channel, r.ownership, r.slots, r.engine, r.version, r.last_activity_at_ms)
    else {
        return Ok(None);
    };
    let row = ConversationRow {
        conversation_id,
        contact_id: r.contact_id,
        location_id,
        channel,
        ownership,
        open_ticket_id: r.open_ticket_id,
        slots,
        engine,
        version,
        last_activity_at_ms: last,
    };
    Conversation::try_from(row).map(Some)
}

impl Conversation {
    /// A new conversation, owned by the bot, idle, not yet stored.
    pub fn new(contact_id: &str, location_id: &str, channel: &str, now_ms: i64) -> Self {
        Self {
            conversation_id: crate::new_id(),
            contact_id: contact_id.to_owned(),
            location_id: location_id.to_owned(),
            channel: channel.to_owned(),
            ownership: Ownership::Bot,
            open_ticket_id: None,
            state: State::default(),
            version: 0,
            last_activity_at_ms: now_ms,
        }
    }
}

const PARTIES: &str = "select c.phone, v.location_id from conversation v join contact c on c.contact_id = v.contact_id
    where v.conversation_id = $1";

/// The customer's number and the location of a conversation.
///
/// # Errors
/// Database failures.
pub async fn parties(store: &super::Store, conversation_id: &str) -> Result<Option<(String, String)>, StoreError> {
    Ok(sqlx::query_as(PARTIES).bind(conversation_id).fetch_optional(store.pool()).await?)
}

/// The customer's conversation takes the visitor's open ticket (and who owns it) when it has
/// none of its own.
const TAKE_TICKET: &str = "update conversation set
        open_ticket_id = (select open_ticket_id from conversation where conversation_id = $1),
        ownership = (select ownership from conversation where conversation_id = $1),
        version = version + 1
    where conversation_id = $2 and open_ticket_id is null
        and (select open_ticket_id from conversation where conversation_id = $1) is not null";

const OPEN_WEB: &str = "select conversation_id from conversation
    where contact_id = $1 and location_id = $2 and channel = 'web' and closed_at_ms is null";

/// Gives a web visitor's open conversation at a location to the customer they turned out to be
/// (signed in on the store's site): it becomes theirs, or, when they already have one open
/// there, its messages move into it and the visitor's closes. The caller holds both
/// conversations' locks. The customer's open conversation afterwards, if any.
///
/// # Errors
/// Database failures.
pub async fn adopt_web_visitor(
    tx: &mut Tx<'_>,
    visitor_contact_id: &str,
    contact_id: &str,
    location_id: &str,
    now_ms: i64,
) -> Result<Option<String>, StoreError> {
    let open = |contact: &str| sqlx::query_as::<_, (String,)>(OPEN_WEB).bind(contact.to_owned()).bind(location_id);
    let visitor: Option<(String,)> = open(visitor_contact_id).fetch_optional(&mut **tx).await?;
    let theirs: Option<(String,)> = open(contact_id).fetch_optional(&mut **tx).await?;
    match (visitor, theirs) {
        (None, theirs) => Ok(theirs.map(|(id,)| id)),
        (Some((visitor,)), None) => {
            sqlx::query("update conversation set contact_id = $2, version = version + 1 where conversation_id = $1")
                .bind(&visitor)
                .bind(contact_id)
                .execute(&mut **tx)
                .await?;
            Ok(Some(visitor))
        }
        (Some((visitor,)), Some((theirs,))) => {
            sqlx::query("update message set conversation_id = $2 where conversation_id = $1")
                .bind(&visitor)
                .bind(&theirs)
                .execute(&mut **tx)
                .await?;
            // A person working the visitor's ticket goes on with it on the customer's chat.
            sqlx::query(TAKE_TICKET).bind(&visitor).bind(&theirs).execute(&mut **tx).await?;
            sqlx::query("update ticket set conversation_id = $2 where conversation_id = $1 and status = 'open'")
                .bind(&visitor)
                .bind(&theirs)
                .execute(&mut **tx)
                .await?;
            sqlx::query("update conversation set closed_at_ms = $2, version = version + 1 where conversation_id = $1")
                .bind(&visitor)
                .bind(now_ms)
                .execute(&mut **tx)
                .await?;
            Ok(Some(theirs))
        }
    }
}

const CLOSE_IDLE: &str = "update conversation set closed_at_ms = $2, version = version + 1
    where conversation_id = $1 and ownership = 'bot' and closed_at_ms is null";

/// Closes a conversation the bot has (a call that ended): the next one starts afresh. One a
/// person owns stays open for them. `true` when it was closed now.
///
/// # Errors
/// Database failures.
pub async fn close_if_bot(tx: &mut Tx<'_>, conversation_id: &str, now_ms: i64) -> Result<bool, StoreError> {
    let done = sqlx::query(CLOSE_IDLE).bind(conversation_id).bind(now_ms).execute(&mut **tx).await?;
    Ok(done.rows_affected() == 1)
}

const BY_ID: &str =
    "select conversation_id, contact_id, location_id, channel, ownership, open_ticket_id, slots, engine,
    version, last_activity_at_ms from conversation where conversation_id = $1";

/// A conversation by its id, open or not.
///
/// # Errors
/// Database failures, or a stored state that no longer parses.
pub async fn by_id(tx: &mut Tx<'_>, conversation_id: &str) -> Result<Option<Conversation>, StoreError> {
    let row: Option<ConversationRow> = sqlx::query_as(BY_ID).bind(conversation_id).fetch_optional(&mut **tx).await?;
    row.map(Conversation::try_from).transpose()
}

/// # Errors
/// Database failures, or a stored state that no longer parses.
#[tracing::instrument(skip_all)]
pub async fn find_open(
    tx: &mut Tx<'_>,
    contact_id: &str,
    location_id: &str,
    channel: &str,
) -> Result<Option<Conversation>, StoreError> {
    let row: Option<ConversationRow> =
        sqlx::query_as(FIND_OPEN).bind(contact_id).bind(location_id).bind(channel).fetch_optional(&mut **tx).await?;
    row.map(Conversation::try_from).transpose()
}

fn state_json(state: &State) -> (String, String) {
    let engine = serde_json::to_string(state).expect("engine state serializes");
    let slots = serde_json::to_string(&state.slots).expect("slots serialize");
    (engine, slots)
}

/// Stores new conversations (at version 0, idle) in one statement.
///
/// # Errors
/// Database failures; a unique violation if one is already open for the same contact.
#[tracing::instrument(skip_all, fields(count = conversations.len()))]
pub async fn insert_many(tx: &mut Tx<'_>, conversations: &[&Conversation]) -> Result<(), StoreError> {
    if conversations.is_empty() {
        return Ok(());
    }
    let sql = format!("{INSERT_PREFIX}{}", Placeholders::for_tx(tx).rows(conversations.len(), 10));
    let mut query = sqlx::query(&sql);
    for c in conversations {
        let (engine, slots) = state_json(&c.state);
        query = query
            .bind(c.conversation_id.as_str())
            .bind(c.contact_id.as_str())
            .bind(c.location_id.as_str())
            .bind(c.channel.as_str())
            .bind(c.ownership.as_str())
            .bind(slots)
            .bind(engine)
            .bind(c.version)
            .bind(c.last_activity_at_ms)
            .bind(c.last_activity_at_ms);
    }
    query.execute(&mut **tx).await?;
    Ok(())
}

/// Saves conversations in one statement, each only if its stored version is still the one it
/// was read at; bumps each version.
///
/// # Errors
/// `Conflict` when any version moved (someone else saved first); database failures.
#[tracing::instrument(skip_all, fields(count = conversations.len()))]
pub async fn save_many(tx: &mut Tx<'_>, conversations: &mut [&mut Conversation]) -> Result<(), StoreError> {
    if conversations.is_empty() {
        return Ok(());
    }
    let mut p = Placeholders::for_tx(tx);
    let rows: Vec<String> = (0..conversations.len())
        .map(|_| format!("({}, cast({} as bigint), cast({} as bigint))", p.list(7), p.next(), p.next()))
        .collect();
    let sql = format!("{SAVE_PREFIX}{}{SAVE_SUFFIX}", rows.join(", "));
    let mut query = sqlx::query(&sql);
    for c in conversations.iter() {
        let (engine, slots) = state_json(&c.state);
        query = query
            .bind(c.conversation_id.as_str())
            .bind(c.ownership.as_str())
            .bind(c.open_ticket_id.as_deref())
            .bind(c.state.flow_id())
            .bind(c.state.step_id())
            .bind(slots)
            .bind(engine)
            .bind(c.last_activity_at_ms)
            .bind(c.version);
    }
    let done = query.execute(&mut **tx).await?;
    if done.rows_affected() != conversations.len() as u64 {
        let ids: Vec<&str> = conversations.iter().map(|c| c.conversation_id.as_str()).collect();
        return Err(StoreError::Conflict(ids.join(", ")));
    }
    for c in conversations.iter_mut() {
        c.version += 1;
    }
    Ok(())
}

/// Deletes a conversation created in this transaction that no message ended up using (every
/// message for it was a retry of one already handled).
///
/// # Errors
/// Database failures.
pub async fn delete_unused(tx: &mut Tx<'_>, conversation_id: &str) -> Result<(), StoreError> {
    sqlx::query("delete from conversation where conversation_id = $1").bind(conversation_id).execute(&mut **tx).await?;
    Ok(())
}

/// Records an ownership transition or other milestone of a conversation.
///
/// # Errors
/// Database failures.
pub async fn record_event(
    tx: &mut Tx<'_>,
    conversation_id: &str,
    kind: &str,
    detail: &serde_json::Value,
    now_ms: i64,
) -> Result<(), StoreError> {
    sqlx::query(INSERT_EVENT)
        .bind(crate::new_id())
        .bind(conversation_id)
        .bind(kind)
        .bind(detail.to_string())
        .bind(now_ms)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// A milestone of a conversation, as recorded.
#[derive(Debug, Clone, FromRow, serde::Serialize)]
pub struct Event {
    pub kind: String,
    pub detail: String,
    pub created_at_ms: i64,
}

/// The conversation's milestones, oldest first.
///
/// # Errors
/// Database failures.
pub async fn events(store: &super::Store, conversation_id: &str) -> Result<Vec<Event>, StoreError> {
    Ok(sqlx::query_as(
        "select kind, detail, created_at_ms from conversation_event where conversation_id = $1
         order by created_at_ms, event_id",
    )
    .bind(conversation_id)
    .fetch_all(store.pool())
    .await?)
}

/// What the bot knew when it handed over: the flow, the step and the slots it had.
#[derive(Debug, Clone, FromRow, serde::Serialize)]
pub struct BotState {
    pub flow_id: Option<String>,
    pub step_id: Option<String>,
    pub slots: String,
}

/// # Errors
/// Database failures.
pub async fn bot_state(store: &super::Store, conversation_id: &str) -> Result<Option<BotState>, StoreError> {
    Ok(sqlx::query_as("select flow_id, step_id, slots from conversation where conversation_id = $1")
        .bind(conversation_id)
        .fetch_optional(store.pool())
        .await?)
}
