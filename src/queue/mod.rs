//! The hand-off queue as people work it: who may see and work which queue, ordering (priority,
//! then age), first-answer times (SLA), and the transitions of a ticket — claim (exclusive),
//! release, transfer, snooze, notes, replies on the customer's channel and wrap-up with CRM
//! tags. Each transition is a conversation event with who made it.
//!
//! Owns these rules; the SQL is `store::tickets`, the pages `console`.

pub mod staffing;

use crate::compliance::gate::{self, Recipient, Verdict};
use crate::domain::staff::{Role, Roles};
use crate::domain::MAX_MESSAGE_CHARS;
use crate::flows::model::Queue;
use crate::store::tickets::{self, Change, Claim, Delivery, QueueFilter, QueueItem, SlaFilter};
use crate::store::{consent, Store, StoreError};

/// Roles that see every queue and may transfer any ticket.
const SUPERVISORS: &[Role] = &[Role::Lead, Role::Admin];

/// The queues `roles` work, in configuration order: leads and admins see them all.
pub fn visible<'q>(roles: &Roles, queues: &'q [Queue]) -> Vec<&'q Queue> {
    queues.iter().filter(|q| roles.any(SUPERVISORS) || q.roles.iter().any(|r| roles.has(*r))).collect()
}

/// Whether `roles` may work tickets of queue `id` (a queue not configured: supervisors only).
pub fn works(roles: &Roles, queues: &[Queue], id: &str) -> bool {
    visible(roles, queues).iter().any(|q| q.id == id) || roles.any(SUPERVISORS)
}

/// Where a ticket stands against its queue's first-answer time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Sla {
    /// Answered (the first answer is in).
    Answered,
    /// Within the time, with more than a quarter of it left.
    Ok,
    /// Less than a quarter of the time left.
    Soon,
    /// Past the time without an answer.
    Late,
    /// The queue sets no time for this priority.
    None,
}

impl Sla {
    pub fn of(item: &QueueItem, queues: &[Queue], now_ms: i64) -> (Self, Option<i64>) {
        if item.first_reply_at_ms.is_some() {
            return (Self::Answered, None);
        }
        let Some(allowed) = queues.iter().find(|q| q.id == item.queue).and_then(|q| q.sla_ms(item.priority)) else {
            return (Self::None, None);
        };
        let due = item.created_at_ms + allowed;
        let state = if now_ms >= due {
            Self::Late
        } else if due - now_ms < allowed / 4 {
            Self::Soon
        } else {
            Self::Ok
        };
        (state, Some(due))
    }

    pub fn code(self) -> &'static str {
        match self {
            Self::Answered => "answered",
            Self::Ok => "ok",
            Self::Soon => "soon",
            Self::Late => "late",
            Self::None => "none",
        }
    }

    /// The store's filter for tickets in the state `code` names (`answered`, `ok`, `soon`,
    /// `late`, `none`) at `now_ms`; none for an unknown code.
    pub fn filter(code: &str, queues: &[Queue], now_ms: i64) -> Option<SlaFilter> {
        let state = [Self::Answered, Self::Ok, Self::Soon, Self::Late, Self::None]
            .into_iter()
            .map(Self::code)
            .find(|c| *c == code)?;
        let allowed = queues
            .iter()
            .flat_map(|q| {
                q.sla_minutes.keys().filter_map(|p| Some((q.id.clone(), i64::from(*p), q.sla_ms(i64::from(*p))?)))
            })
            .collect();
        Some(SlaFilter { state, now_ms, allowed })
    }
}

/// The open tickets `roles` may see, filtered, in queue order (one page of them), and how many
/// match in all; snoozed tickets wait until their time unless `include_snoozed`.
///
/// # Errors
/// Database failures.
pub async fn board(
    store: &Store,
    roles: &Roles,
    queues: &[Queue],
    mut filter: QueueFilter,
    include_snoozed: bool,
) -> Result<(Vec<QueueItem>, i64), StoreError> {
    let mine: Vec<String> = visible(roles, queues).iter().map(|q| q.id.clone()).collect();
    filter.queues = if filter.queues.is_empty() {
        if roles.any(SUPERVISORS) {
            Vec::new()
        } else {
            mine
        }
    } else {
        filter.queues.into_iter().filter(|q| works(roles, queues, q)).collect()
    };
    if filter.queues.is_empty() && !roles.any(SUPERVISORS) {
        return Ok((Vec::new(), 0));
    }
    if !include_snoozed {
        filter.awake_at_ms = Some(store.now_ms());
    }
    Ok((tickets::queue(store, &filter).await?, tickets::queue_count(store, &filter).await?))
}

/// Who is acting, for rules and records.
pub struct Worker<'a> {
    pub user_id: &'a str,
    pub name: &'a str,
    pub roles: &'a Roles,
}

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("this ticket is not open any more")]
    NotOpen,
    #[error("{0} has this ticket")]
    Taken(String),
    #[error("claim this ticket first")]
    NotYours,
    #[error("your roles do not work this queue")]
    NotYourQueue,
    #[error("the reply is empty")]
    Empty,
    #[error("the reply is longer than {MAX_MESSAGE_CHARS} characters")]
    TooLong,
    #[error("this customer cannot be texted: {0}")]
    Blocked(String),
    #[error("choose at least one tag for the wrap-up")]
    NoTags,
    #[error("{0:?} is not a tag (tags are defined in flows/tags.yaml)")]
    UnknownTag(String),
    #[error("{0:?} is not a queue")]
    UnknownQueue(String),
    #[error("no such person to transfer to")]
    UnknownPerson,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The ticket, if it exists, checked to be open and in a queue `who` works.
async fn open_ticket(
    store: &Store,
    queues: &[Queue],
    who: &Worker<'_>,
    ticket_id: &str,
) -> Result<QueueItem, QueueError> {
    let (item, state) = tickets::item(store, ticket_id).await?.ok_or(QueueError::NotOpen)?;
    if state.status != "open" {
        return Err(QueueError::NotOpen);
    }
    if !works(who.roles, queues, &item.queue) {
        return Err(QueueError::NotYourQueue);
    }
    Ok(item)
}

/// The ticket, open and held by `who` (supervisors may act on any).
async fn held_ticket(
    store: &Store,
    queues: &[Queue],
    who: &Worker<'_>,
    ticket_id: &str,
) -> Result<QueueItem, QueueError> {
    let item = open_ticket(store, queues, who, ticket_id).await?;
    match &item.assignee_id {
        Some(holder) if holder == who.user_id => Ok(item),
        Some(_) if who.roles.any(SUPERVISORS) => Ok(item),
        Some(_) => Err(QueueError::Taken(item.assignee_name.clone().unwrap_or_else(|| "someone".into()))),
        None => Err(QueueError::NotYours),
    }
}

/// Claims a ticket: exactly one of several people who claim at once gets it; the others are
/// told who has it.
///
/// # Errors
/// Not open, not the person's queue, taken.
pub async fn claim(store: &Store, queues: &[Queue], who: &Worker<'_>, ticket_id: &str) -> Result<(), QueueError> {
    open_ticket(store, queues, who, ticket_id).await?;
    match tickets::claim(store, ticket_id, who.user_id, who.name).await? {
        Claim::Claimed => Ok(()),
        Claim::Taken(name) => Err(QueueError::Taken(name)),
        Claim::NotOpen => Err(QueueError::NotOpen),
    }
}

/// Sends a reply on the conversation's channel: SMS through the outbox (the send gate applies,
/// and a customer who opted out is refused here, with the reason), web chat stored for the
/// widget. Only the ticket's holder replies.
///
/// # Errors
/// Not held by `who`, empty or too long, the customer cannot be texted.
pub async fn reply(
    store: &Store,
    queues: &[Queue],
    who: &Worker<'_>,
    ticket_id: &str,
    text: &str,
) -> Result<Delivery, QueueError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(QueueError::Empty);
    }
    if text.chars().count() > MAX_MESSAGE_CHARS {
        return Err(QueueError::TooLong);
    }
    let item = held_ticket(store, queues, who, ticket_id).await?;
    if item.channel != "web" {
        let consent = consent::current(store, &item.phone).await?;
        let nowhere = Recipient { zones: Vec::new(), states: Vec::new() };
        if let Verdict::Block { reason } = gate::decide("transactional", consent, store.now_ms(), &nowhere, &[]) {
            return Err(QueueError::Blocked(reason));
        }
    }
    let delivery = tickets::queue_reply(store, ticket_id, text, who.name).await?.ok_or(QueueError::NotOpen)?;
    tickets::mark_replied(store, ticket_id).await?;
    Ok(delivery)
}

/// An internal note (never sent to the customer).
///
/// # Errors
/// Not open or not the person's queue; an empty note.
pub async fn note(
    store: &Store,
    queues: &[Queue],
    who: &Worker<'_>,
    ticket_id: &str,
    text: &str,
) -> Result<(), QueueError> {
    open_ticket(store, queues, who, ticket_id).await?;
    if text.trim().is_empty() {
        return Err(QueueError::Empty);
    }
    change(store, who, ticket_id, &Change::Note, text.trim()).await
}

/// Gives a held ticket back to its queue.
///
/// # Errors
/// Not held by `who`.
pub async fn release(
    store: &Store,
    queues: &[Queue],
    who: &Worker<'_>,
    ticket_id: &str,
    note: &str,
) -> Result<(), QueueError> {
    held_ticket(store, queues, who, ticket_id).await?;
    change(store, who, ticket_id, &Change::Release, note).await
}

/// Hides a held ticket from the queue until `until_ms`.
///
/// # Errors
/// Not held by `who`.
pub async fn snooze(
    store: &Store,
    queues: &[Queue],
    who: &Worker<'_>,
    ticket_id: &str,
    until_ms: i64,
    note: &str,
) -> Result<(), QueueError> {
    held_ticket(store, queues, who, ticket_id).await?;
    change(store, who, ticket_id, &Change::Snooze { until_ms }, note).await
}

/// Moves a ticket to another queue (unclaimed) or to a person (claimed by them), with a note.
/// The holder or a supervisor may.
///
/// # Errors
/// Not held by `who`, an unknown queue or person.
pub async fn transfer(
    store: &Store,
    queues: &[Queue],
    who: &Worker<'_>,
    ticket_id: &str,
    to_queue: Option<&str>,
    to_user: Option<&str>,
    note: &str,
) -> Result<(), QueueError> {
    held_ticket(store, queues, who, ticket_id).await?;
    if let Some(q) = to_queue.filter(|q| !queues.iter().any(|known| known.id == *q)) {
        return Err(QueueError::UnknownQueue(q.to_owned()));
    }
    if let Some(user) = to_user {
        let person = crate::store::staff::find(store, user).await?;
        if person.is_none_or(|p| p.disabled) {
            return Err(QueueError::UnknownPerson);
        }
    }
    change(store, who, ticket_id, &Change::Transfer { queue: to_queue, to_user }, note).await
}

/// How a ticket ends: the tags a person chose, closed rather than resolved, a note.
pub struct WrapUp<'a> {
    pub tags: &'a [String],
    pub closed: bool,
    pub note: &'a str,
}

/// Wraps up a held ticket with at least one CRM tag (from `tags.yaml`): `resolved` hands the
/// conversation back to the bot, `closed` ends it without a resolution; either way the
/// customer's next message starts afresh with the bot.
///
/// # Errors
/// Not held by `who`, no tags or an unknown tag.
pub async fn wrap_up(
    store: &Store,
    queues: &[Queue],
    known_tags: &[String],
    who: &Worker<'_>,
    ticket_id: &str,
    done: &WrapUp<'_>,
) -> Result<(), QueueError> {
    let WrapUp { tags, closed, note } = *done;
    let item = held_ticket(store, queues, who, ticket_id).await?;
    if tags.is_empty() {
        return Err(QueueError::NoTags);
    }
    if let Some(unknown) = tags.iter().find(|t| !known_tags.is_empty() && !known_tags.contains(t)) {
        return Err(QueueError::UnknownTag(unknown.clone()));
    }
    let mut all: Vec<String> = serde_json::from_str(&item.tags).unwrap_or_default();
    for tag in tags {
        if !all.contains(tag) {
            all.push(tag.clone());
        }
    }
    let disposition = if closed { "closed" } else { "resolved" };
    if tickets::wrap_up(store, ticket_id, who.name, &all, disposition, note).await? {
        Ok(())
    } else {
        Err(QueueError::NotOpen)
    }
}

async fn change(
    store: &Store,
    who: &Worker<'_>,
    ticket_id: &str,
    change: &Change<'_>,
    note: &str,
) -> Result<(), QueueError> {
    if tickets::change(store, ticket_id, who.user_id, who.name, change, note).await? {
        Ok(())
    } else {
        Err(QueueError::NotOpen)
    }
}
