//! The channel-agnostic inbound path: claim, consent keywords, route by ownership, run the flow
//! engine, and commit everything of one turn (messages, state, ticket, outbox) in one
//! transaction. A turn starts from a customer's message (a text, a chat message, later a
//! spoken one) or from a platform event; both run the same turn ([`turn`]).
//!
//! Turns run in *lanes*: a conversation always maps to the same lane, so its messages and
//! events are handled one at a time in arrival order. A lane takes every job waiting for it (up
//! to [`MAX_BATCH`]) and commits them in one transaction: group commit, the way past the cost of
//! one fsync-bound commit per message. If a batch fails, each job is retried alone, so one bad
//! message never fails its neighbours. Across server processes on PostgreSQL, each turn holds an
//! advisory lock on its conversation key, taken in ascending order. SQLite runs one lane: it has
//! one writer anyway. The batch state itself lives in [`batch`].

use std::sync::Arc;

use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection};
use tokio::sync::{mpsc, oneshot};

mod batch;
mod event;
mod turn;

use batch::Batch;
pub use event::{EventOutcome, PlatformEvent};

use crate::actions::ActionConfig;
use crate::commerce::Source;
use crate::domain::{Channel, ConversationId, Inbound};
use crate::flows::{Assets, Library};
use crate::metrics::Metrics;
pub use crate::queue::staffing::Answer;
use crate::queue::staffing::Staffing;
use crate::store::locations::Location;
use crate::store::{self, Backend, Store, StoreError};

/// 64: enough to amortise a commit over a full load of 64 concurrent webhooks.
pub const MAX_BATCH: usize = 64;

/// What happened to one inbound message or event.
#[derive(Debug, Clone, PartialEq)]
pub enum Handled {
    /// The bot answered a message with these texts (possibly none), and what a call does next.
    Replied { conversation_id: String, texts: Vec<String>, then: Then },
    /// A platform event ran: what became of it, and the texts queued for the customer.
    Event { outcome: EventOutcome, texts: Vec<String> },
    /// A retry of a message or event already handled: a message's stored reply, sent again
    /// (an event's first answer is kept with its receipt).
    Duplicate { texts: Vec<String> },
    /// A human owns the conversation: stored on the ticket, the bot stays silent.
    Silent { conversation_id: String },
}

/// What follows the bot's words on a call (other channels have nothing to do).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Then {
    /// Listen for the customer's next words.
    #[default]
    Listen,
    /// A person takes it from here: now (hold in `queue`), or by calling back.
    Handoff { queue: String, answer: Answer },
    /// The customer asked us to stop: end the call.
    HangUp,
}

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the pipeline is shutting down")]
    Closed,
}

/// What starts a turn.
pub enum Trigger {
    /// A customer's message, on any channel.
    Message(Inbound),
    /// A platform event about a customer (boxed: it carries the customer's records).
    Event(Box<PlatformEvent>),
}

impl Trigger {
    fn channel(&self) -> Channel {
        match self {
            Self::Message(inbound) => inbound.channel,
            Self::Event(event) => event.channel,
        }
    }

    /// The customer's number.
    fn phone(&self) -> &str {
        match self {
            Self::Message(inbound) => inbound.from.as_ref(),
            Self::Event(event) => &event.contact.phone,
        }
    }
}

struct Job {
    trigger: Trigger,
    location: Location,
    done: oneshot::Sender<Result<Handled, PipelineError>>,
}

impl Job {
    /// The conversation's key: the customer, the location that answers, the channel — never
    /// the number a message was sent to (a Messaging Service pool has many).
    fn key(&self) -> i64 {
        let location_id = &self.location.location_id;
        ConversationId { channel: self.trigger.channel(), phone: self.trigger.phone(), location_id }.key()
    }
}

/// Shared by every lane.
pub struct Context {
    pub store: Store,
    pub library: Arc<Library>,
    pub metrics: Arc<Metrics>,
    pub commerce: Arc<dyn Source>,
    pub actions: ActionConfig,
    /// When a call handed off reaches a person.
    pub staffing: Staffing,
}

#[derive(Clone)]
pub struct Pipeline {
    lanes: Arc<Vec<mpsc::Sender<Job>>>,
}

/// What a committed turn reports for metrics.
struct TurnReport {
    handled: Handled,
    outcomes: Vec<(String, &'static str)>,
    handoff_queue: Option<String>,
    /// A consent change recorded: action and source.
    consent: Option<(&'static str, &'static str)>,
    /// Tickets this turn opened or wrote to, for live consoles (announced once committed).
    changes: Vec<crate::store::feed::QueueChange>,
}

impl TurnReport {
    fn just(handled: Handled) -> Self {
        Self { handled, outcomes: Vec::new(), handoff_queue: None, consent: None, changes: Vec::new() }
    }
}

impl Pipeline {
    /// Starts the lanes: one on SQLite, several on PostgreSQL.
    pub fn start(ctx: Arc<Context>) -> Self {
        let count = match ctx.store.backend() {
            Backend::Sqlite => 1,
            Backend::Postgres => 2,
        };
        let lanes = (0..count)
            .map(|_| {
                let (tx, rx) = mpsc::channel(MAX_BATCH * 4);
                tokio::spawn(run_lane(ctx.clone(), rx));
                tx
            })
            .collect();
        Self { lanes: Arc::new(lanes) }
    }

    /// Handles one inbound message for `location` and waits until its turn is committed.
    ///
    /// # Errors
    /// When the turn could not be committed; nothing of it was stored.
    pub async fn handle(&self, inbound: Inbound, location: Location) -> Result<Handled, PipelineError> {
        self.run(Trigger::Message(inbound), location).await
    }

    /// Runs a platform event for its customer, in the lane of the conversation it starts or
    /// continues, and waits until its turn is committed (replies in the outbox).
    ///
    /// # Errors
    /// When the turn could not be committed; nothing of it was stored.
    pub async fn handle_event(&self, event: PlatformEvent) -> Result<Handled, PipelineError> {
        let location = event.location.clone();
        self.run(Trigger::Event(Box::new(event)), location).await
    }

    async fn run(&self, trigger: Trigger, location: Location) -> Result<Handled, PipelineError> {
        let (done, result) = oneshot::channel();
        let job = Job { trigger, location, done };
        let lane = &self.lanes[usize::try_from(job.key()).unwrap_or(0) % self.lanes.len()];
        lane.send(job).await.map_err(|_| PipelineError::Closed)?;
        result.await.map_err(|_| PipelineError::Closed)?
    }
}

async fn run_lane(ctx: Arc<Context>, mut rx: mpsc::Receiver<Job>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    // The lane keeps one connection: its page cache stays warm and its statements stay
    // prepared. A failed batch drops it, and the next batch takes a fresh one.
    let mut conn: Option<PoolConnection<Any>> = None;
    while let Some(job) = rx.recv().await {
        batch.push(job);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        run_batch(&ctx, &mut conn, &mut batch).await;
    }
}

async fn connection<'c>(
    ctx: &Context,
    conn: &'c mut Option<PoolConnection<Any>>,
) -> Result<&'c mut AnyConnection, PipelineError> {
    if conn.is_none() {
        *conn = Some(ctx.store.pool().acquire().await.map_err(StoreError::from)?);
    }
    Ok(conn.as_mut().expect("connection was just set"))
}

async fn run_batch(ctx: &Context, conn: &mut Option<PoolConnection<Any>>, batch: &mut Vec<Job>) {
    let assets = ctx.library.get();
    let first = match connection(ctx, conn).await {
        Ok(c) => commit_turns(c, ctx, &assets, batch).await,
        Err(e) => Err(e),
    };
    match first {
        Ok(reports) => {
            ctx.metrics.inc("leafdesk_commits_total", &[]);
            ctx.metrics.add("leafdesk_committed_turns_total", &[], reports.len() as u64);
            for (job, report) in batch.drain(..).zip(reports) {
                finish(ctx, job, Ok(report)).await;
            }
        }
        Err(err) => {
            if batch.len() > 1 {
                tracing::warn!(error = %err, size = batch.len(), "batch failed; retrying its turns one by one");
            }
            *conn = None;
            for job in batch.drain(..) {
                let result = match connection(ctx, conn).await {
                    Ok(c) => commit_turns(c, ctx, &assets, std::slice::from_ref(&job)).await.map(|mut r| r.remove(0)),
                    Err(e) => Err(e),
                };
                if result.is_err() {
                    *conn = None;
                }
                finish(ctx, job, result).await;
            }
        }
    }
}

/// Reports a committed (or failed) turn: metrics, the queue feed, and the waiting caller.
async fn finish(ctx: &Context, job: Job, result: Result<TurnReport, PipelineError>) {
    if let Ok(report) = &result {
        for change in &report.changes {
            ctx.store.announce(change).await;
        }
    }
    let channel = job.trigger.channel().as_str();
    let result = result.map(|report| {
        let m = &ctx.metrics;
        match &job.trigger {
            Trigger::Message(_) => m.inc("leafdesk_messages_total", &[("channel", channel), ("direction", "inbound")]),
            Trigger::Event(event) => m.inc("leafdesk_platform_events_total", &[("type", &event.event_type)]),
        }
        if let Handled::Replied { texts, .. } | Handled::Duplicate { texts } | Handled::Event { texts, .. } =
            &report.handled
        {
            m.add("leafdesk_messages_total", &[("channel", channel), ("direction", "outbound")], texts.len() as u64);
        }
        for (flow, outcome) in &report.outcomes {
            m.inc("leafdesk_flow_outcomes_total", &[("flow", flow), ("outcome", outcome)]);
        }
        if let Some(queue) = &report.handoff_queue {
            m.inc("leafdesk_handoffs_total", &[("queue", queue)]);
        }
        if let Some((action, source)) = report.consent {
            m.inc("leafdesk_consent_changes_total", &[("action", action), ("source", source)]);
        }
        report.handled
    });
    if let Err(err) = &result {
        tracing::error!(error = %err, "turn failed and was rolled back");
    }
    let _ = job.done.send(result);
}

async fn commit_turns(
    conn: &mut AnyConnection,
    ctx: &Context,
    assets: &Assets,
    jobs: &[Job],
) -> Result<Vec<TurnReport>, PipelineError> {
    let mut tx = store::begin_on(conn, ctx.store.backend()).await?;
    let mut keys: Vec<i64> = jobs.iter().map(Job::key).collect();
    keys.sort_unstable();
    keys.dedup();
    store::lock_conversations(&mut tx, ctx.store.backend(), &keys).await?;
    let now = ctx.store.now_ms();
    let mut batch = Batch::load(&mut tx, jobs, now).await?;
    let mut reports = Vec::with_capacity(jobs.len());
    for (i, job) in jobs.iter().enumerate() {
        reports.push(turn::turn(&mut tx, ctx, assets, &mut batch, i, job, now).await?);
    }
    batch.write(&mut tx, now).await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(reports)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::PhoneNumber;
    use crate::store::contacts;

    #[test]
    fn a_text_through_a_pool_number_and_a_platform_event_share_one_lock() {
        // A location reached through a Messaging Service: no number of its own, a pool of many.
        let location = Location {
            location_id: "loc-pool".into(),
            name: "Pool".into(),
            state: "CA".into(),
            timezone: "America/Los_Angeles".into(),
            phone_number: None,
            messaging_service_sid: Some("MG0123456789abcdef0123456789abcdef".into()),
        };
        let text = |to: &str| Job {
            trigger: Trigger::Message(Inbound {
                channel: Channel::Sms,
                provider_id: "SM0".into(),
                from: PhoneNumber::parse("+14155550100").unwrap(),
                to: to.into(),
                messaging_service_sid: location.messaging_service_sid.clone(),
                body: "hi".into(),
                media: Vec::new(),
                opt_out_type: None,
            }),
            location: location.clone(),
            done: oneshot::channel().0,
        };
        let contact = contacts::Contact {
            contact_id: "c1".into(),
            phone: "+14155550100".into(),
            locale: "en".into(),
            customer_type: crate::domain::commerce::CustomerType::AdultUse,
            first_name: None,
        };
        let event = PlatformEvent {
            event_type: "payment.declined".into(),
            data: crate::flows::engine::Slots::default(),
            contact,
            location: location.clone(),
            channel: Channel::Sms,
            receipt: None,
        };
        let key = event.conversation_key();
        assert_eq!(text("+15005550006").key(), key);
        assert_eq!(text("+15005550007").key(), key, "another number of the pool");
    }
}
