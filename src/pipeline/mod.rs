//! The channel-agnostic inbound path: claim, consent keywords, route by ownership, run the flow
//! engine, and commit everything of one turn (messages, state, ticket) in one transaction.
//!
//! Turns run in *lanes*: a conversation always maps to the same lane, so its messages are
//! handled one at a time in arrival order. A lane takes every job waiting for it (up to
//! [`MAX_BATCH`]) and commits them in one transaction: group commit, the way past the cost of
//! one fsync-bound commit per message. If a batch fails, each job is retried alone, so one bad
//! message never fails its neighbours. Across server processes on PostgreSQL, each turn holds an
//! advisory lock on its conversation key, taken in ascending order. SQLite runs one lane: it has
//! one writer anyway. The batch state itself lives in [`batch`].

use std::sync::Arc;

use serde_json::json;
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection};
use tokio::sync::{mpsc, oneshot};

mod batch;
mod proactive;

use batch::Batch;
pub use proactive::PlatformEvent;

use crate::actions::{self, ActionConfig, ActionContext};
use crate::commerce::Commerce;
use crate::compliance::{self, consent::Decision};
use crate::domain::{Channel, ConversationId, Inbound};
use crate::flows::engine::{self, Effect, Input, State};
use crate::flows::model::Ticket;
use crate::flows::{Assets, Library};
use crate::metrics::Metrics;
use crate::store::conversations::{self, Conversation, Ownership};
use crate::store::locations::Location;
use crate::store::{self, contacts, messages, outcomes, tickets, Backend, Store, StoreError, Tx};

/// 64: enough to amortise a commit over a full load of 64 concurrent webhooks.
pub const MAX_BATCH: usize = 64;
/// 10: action rounds in one turn; real flows use one or two.
const MAX_ACTION_ROUNDS: usize = 10;
/// 12: messages shown in a hand-off summary.
const SUMMARY_MESSAGES: i64 = 12;
/// What the flow engine reads for a message that is only media (an MMS photo).
pub const MEDIA_ONLY_TEXT: &str = "[media]";
/// Sent when a template fails to render at run time, so the customer is never left hanging.
const LAST_RESORT_TEXT: &str = "Sorry, something went wrong on our side. A team member will follow up.";

/// What happened to one inbound message.
#[derive(Debug, Clone, PartialEq)]
pub enum Handled {
    /// The bot answered with these texts (possibly none).
    Replied { conversation_id: String, texts: Vec<String> },
    /// A retry of a message already handled: the stored reply, sent again.
    Duplicate { texts: Vec<String> },
    /// A human owns the conversation: stored on the ticket, the bot stays silent.
    Silent { conversation_id: String },
}

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the pipeline is shutting down")]
    Closed,
}

/// What a lane runs: customer messages (batched) or a platform event (alone, in order).
enum Work {
    Message(Job),
    Event(proactive::EventJob),
}

struct Job {
    inbound: Inbound,
    location: Location,
    done: oneshot::Sender<Result<Handled, PipelineError>>,
}

/// Shared by every lane.
pub struct Context {
    pub store: Store,
    pub library: Arc<Library>,
    pub metrics: Arc<Metrics>,
    pub commerce: Arc<dyn Commerce>,
    pub actions: ActionConfig,
}

#[derive(Clone)]
pub struct Pipeline {
    lanes: Arc<Vec<mpsc::Sender<Work>>>,
}

/// What a committed turn reports for metrics.
struct TurnReport {
    handled: Handled,
    outcomes: Vec<(String, &'static str)>,
    handoff_queue: Option<String>,
    /// A consent change recorded: action and source.
    consent: Option<(&'static str, &'static str)>,
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
        let key = lane_key(&inbound, &location);
        let lane = &self.lanes[usize::try_from(key).unwrap_or(0) % self.lanes.len()];
        let (done, result) = oneshot::channel();
        lane.send(Work::Message(Job { inbound, location, done })).await.map_err(|_| PipelineError::Closed)?;
        result.await.map_err(|_| PipelineError::Closed)?
    }

    /// Runs a platform event for its customer on `channel`, in the lane of the conversation it
    /// starts or continues, and waits until its turn is committed (replies in the outbox).
    ///
    /// # Errors
    /// When the turn could not be committed; nothing of it was stored.
    pub async fn handle_event(&self, event: PlatformEvent) -> Result<Handled, PipelineError> {
        let key = event.conversation_key();
        let lane = &self.lanes[usize::try_from(key).unwrap_or(0) % self.lanes.len()];
        let (done, result) = oneshot::channel();
        lane.send(Work::Event(proactive::EventJob { event, done })).await.map_err(|_| PipelineError::Closed)?;
        result.await.map_err(|_| PipelineError::Closed)?
    }
}

/// A message's conversation key: the customer, the location that answers, the channel — never
/// the number it was sent to (a Messaging Service pool has many).
fn lane_key(inbound: &Inbound, location: &Location) -> i64 {
    ConversationId { channel: inbound.channel, phone: inbound.from.as_ref(), location_id: &location.location_id }.key()
}

async fn run_lane(ctx: Arc<Context>, mut rx: mpsc::Receiver<Work>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    // The lane keeps one connection: its page cache stays warm and its statements stay
    // prepared. A failed batch drops it, and the next batch takes a fresh one.
    let mut conn: Option<PoolConnection<Any>> = None;
    while let Some(work) = rx.recv().await {
        // Messages queue up into one batch; an event ends the batch and runs after it, so
        // every conversation sees its messages and events in arrival order.
        let mut event = None;
        match work {
            Work::Message(job) => batch.push(job),
            Work::Event(job) => event = Some(job),
        }
        while event.is_none() && batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(Work::Message(job)) => batch.push(job),
                Ok(Work::Event(job)) => event = Some(job),
                Err(_) => break,
            }
        }
        if !batch.is_empty() {
            run_batch(&ctx, &mut conn, &mut batch).await;
        }
        if let Some(job) = event {
            proactive::run(&ctx, &mut conn, job).await;
        }
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
                finish(ctx, job, Ok(report));
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
                finish(ctx, job, result);
            }
        }
    }
}

fn finish(ctx: &Context, job: Job, result: Result<TurnReport, PipelineError>) {
    let channel = job.inbound.channel.as_str();
    let result = result.map(|report| {
        let m = &ctx.metrics;
        m.inc("leafdesk_messages_total", &[("channel", channel), ("direction", "inbound")]);
        if let Handled::Replied { texts, .. } | Handled::Duplicate { texts } = &report.handled {
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
    let mut keys: Vec<i64> = jobs.iter().map(|j| lane_key(&j.inbound, &j.location)).collect();
    keys.sort_unstable();
    keys.dedup();
    store::lock_conversations(&mut tx, ctx.store.backend(), &keys).await?;
    let now = ctx.store.now_ms();
    let mut batch = Batch::load(&mut tx, jobs, now).await?;
    let mut reports = Vec::with_capacity(jobs.len());
    for (i, job) in jobs.iter().enumerate() {
        reports.push(turn(&mut tx, ctx, assets, &mut batch, i, job, now).await?);
    }
    batch.write(&mut tx, now).await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(reports)
}

/// One inbound message, inside the batch's transaction.
#[tracing::instrument(skip_all, fields(channel = job.inbound.channel.as_str(), conversation_id))]
async fn turn(
    tx: &mut Tx<'_>,
    ctx: &Context,
    assets: &Assets,
    batch: &mut Batch,
    index: usize,
    job: &Job,
    now: i64,
) -> Result<TurnReport, PipelineError> {
    let inbound = &job.inbound;
    let channel = inbound.channel.as_str();
    let (contact_ix, conv_ix, message_id, claimed) = {
        let p = &batch.jobs[index];
        (p.contact, p.conversation, p.message_id.clone(), p.claimed)
    };
    tracing::Span::current().record("conversation_id", batch.conversations[conv_ix].conversation_id.as_str());
    if !claimed {
        let texts = match batch.given.get(&inbound.provider_id) {
            Some(texts) => texts.clone(),
            None => messages::replies_to(tx, &inbound.provider_id).await?,
        };
        tracing::debug!("duplicate webhook answered with the stored reply");
        return Ok(TurnReport {
            handled: Handled::Duplicate { texts },
            outcomes: Vec::new(),
            handoff_queue: None,
            consent: None,
        });
    }
    let contact = batch.contacts[contact_ix].clone();
    let conv = &mut batch.conversations[conv_ix];
    // Idle time before this message; a conversation new in this batch starts now, so it is 0.
    let idle_ms = (now - conv.last_activity_at_ms).max(0);
    conv.last_activity_at_ms = now.max(conv.last_activity_at_ms);
    let phone = inbound.from.as_ref();
    let waiting = engine::waiting(&assets.flows, &conv.state, idle_ms);
    let consent =
        compliance::consent::apply(tx, inbound, &message_id, batch.opted_out.contains(phone), waiting, now).await?;
    if consent.opted_out {
        batch.opted_out.insert(phone.to_owned());
    } else {
        batch.opted_out.remove(phone);
    }
    let conv = &mut batch.conversations[conv_ix];
    match consent.decision {
        Decision::Continue => {}
        Decision::Silent | Decision::Reply(_) => {
            let texts = match consent.decision {
                Decision::Reply(template) => {
                    let data = render_data(&contact, &job.location, &conv.state, channel);
                    vec![render(assets, template, &contact.locale, inbound.channel, &data)]
                }
                _ => Vec::new(),
            };
            if let (Some(ticket), true) = (&conv.open_ticket_id, texts.is_empty()) {
                batch.silent.push((ticket.clone(), message_id.clone()));
            }
            let conversation_id = conv.conversation_id.clone();
            batch.record_replies(inbound, &conversation_id, &message_id, &texts);
            let handled = Handled::Replied { conversation_id, texts };
            return Ok(TurnReport { handled, outcomes: Vec::new(), handoff_queue: None, consent: consent.recorded });
        }
    }
    if conv.ownership != Ownership::Bot {
        if let Some(ticket) = &conv.open_ticket_id {
            batch.silent.push((ticket.clone(), message_id));
        }
        let handled = Handled::Silent { conversation_id: conv.conversation_id.clone() };
        return Ok(TurnReport { handled, outcomes: Vec::new(), handoff_queue: None, consent: None });
    }
    let before = (conv.state.flow_id().map(str::to_owned), conv.state.step_id().map(str::to_owned));
    let conversation_id = conv.conversation_id.clone();
    let action_ctx = ActionContext {
        contact_id: &contact.contact_id,
        conversation_id: &conversation_id,
        locale: &contact.locale,
        customer_type: &contact.customer_type,
        location: &job.location,
        commerce: ctx.commerce.as_ref(),
        config: &ctx.actions,
        now_ms: now,
    };
    let state = std::mem::take(&mut conv.state);
    // A photo with no words still answers "send a photo": the flow sees it as this text.
    let text =
        if inbound.body.trim().is_empty() && !inbound.media.is_empty() { MEDIA_ONLY_TEXT } else { &inbound.body };
    let input = Input::Text(text);
    let (state, effects) = run_engine(tx, assets, state, input, idle_ms, &action_ctx).await?;
    batch.conversations[conv_ix].state = state;

    if effects.iter().any(|e| matches!(e, Effect::Handoff(_) | Effect::Report(_))) {
        batch.flush_replies(tx, now).await?; // the summary reads this batch's earlier replies too
    }
    let look = Look { assets, contact: &contact, location: &job.location, channel: inbound.channel };
    let applied = apply_effects(tx, &look, &mut batch.conversations[conv_ix], &before, &effects, now).await?;
    batch.outcomes.extend(applied.ended);
    let (texts, outcomes, handoff_queue) = (applied.texts, applied.outcomes, applied.handoff_queue);
    let conversation_id = batch.conversations[conv_ix].conversation_id.clone();
    batch.record_replies(inbound, &conversation_id, &message_id, &texts);
    Ok(TurnReport { handled: Handled::Replied { conversation_id, texts }, outcomes, handoff_queue, consent: None })
}

/// What a turn's texts are rendered with.
struct Look<'a> {
    assets: &'a Assets,
    contact: &'a contacts::Contact,
    location: &'a Location,
    channel: Channel,
}

/// What the effects of one turn came to.
struct Applied {
    /// The bot's reply, joined into one message.
    texts: Vec<String>,
    outcomes: Vec<(String, &'static str)>,
    /// Flow runs that ended, for the outcome report with their CRM tags.
    ended: Vec<outcomes::NewOutcome>,
    handoff_queue: Option<String>,
    /// The team a report went to (the bot kept the conversation).
    report_queue: Option<String>,
}

/// Renders what the bot says and opens a ticket on hand-off (the conversation becomes queued).
async fn apply_effects(
    tx: &mut Tx<'_>,
    look: &Look<'_>,
    conv: &mut Conversation,
    before: &(Option<String>, Option<String>),
    effects: &[Effect],
    now: i64,
) -> Result<Applied, StoreError> {
    let data = render_data(look.contact, look.location, &conv.state, look.channel.as_str());
    let mut applied =
        Applied { texts: Vec::new(), outcomes: Vec::new(), ended: Vec::new(), handoff_queue: None, report_queue: None };
    let mut guards = Vec::new();
    for effect in effects {
        match effect {
            Effect::Say { template } => {
                applied.texts.push(render(look.assets, template, &look.contact.locale, look.channel, &data));
            }
            Effect::FlowEnded { flow, outcome } => {
                applied.outcomes.push((flow.clone(), outcome.as_str()));
                let tags = look.assets.flows.flows.get(flow).map(|f| f.tags.clone()).unwrap_or_default();
                applied.ended.push(outcomes::NewOutcome { flow_id: flow.clone(), outcome: outcome.as_str(), tags });
            }
            Effect::Guard { reason } => {
                tracing::warn!(%reason, "flow guard stopped a runaway flow");
                guards.push(reason.clone());
            }
            Effect::Handoff(ticket) => {
                let reason = guards.iter().fold(ticket.reason.clone(), |r, g| format!("{r} (guard: {g})"));
                let ticket = Ticket { reason, ..ticket.clone() };
                let ticket_id = open_ticket(tx, conv, before, &ticket, now).await?;
                conv.ownership = Ownership::Queued;
                conv.open_ticket_id = Some(ticket_id.clone());
                let detail = json!({ "from": "bot", "to": "queued", "queue": ticket.queue, "ticket_id": ticket_id });
                conversations::record_event(tx, &conv.conversation_id, "handed_off", &detail, now).await?;
                applied.handoff_queue = Some(ticket.queue);
            }
            Effect::Report(ticket) => {
                // A team's ticket with the same context a person would get; the bot keeps the
                // conversation, so the customer's next question is answered as usual.
                let ticket_id = open_ticket(tx, conv, before, ticket, now).await?;
                let detail = json!({ "queue": ticket.queue, "ticket_id": ticket_id });
                conversations::record_event(tx, &conv.conversation_id, "reported", &detail, now).await?;
                applied.report_queue = Some(ticket.queue.clone());
            }
            Effect::RunAction { .. } => {}
        }
    }
    applied.texts.retain(|t| !t.is_empty());
    applied.texts = join_for_channel(std::mem::take(&mut applied.texts));
    Ok(applied)
}

/// Files `ticket` for the conversation with the summary a person reads first; its id.
async fn open_ticket(
    tx: &mut Tx<'_>,
    conv: &Conversation,
    before: &(Option<String>, Option<String>),
    ticket: &Ticket,
    now: i64,
) -> Result<String, StoreError> {
    let summary = summary(tx, conv, before, &ticket.reason).await?;
    let new = tickets::NewTicket {
        conversation_id: &conv.conversation_id,
        queue: &ticket.queue,
        priority: ticket.priority,
        tags: &ticket.tags,
        reason: &ticket.reason,
        summary: &summary,
    };
    tickets::insert(tx, &new, now).await
}

/// Runs the engine on the message, then on each action outcome, until the flow waits.
async fn run_engine(
    tx: &mut Tx<'_>,
    assets: &Assets,
    state: State,
    input: Input<'_>,
    idle_ms: i64,
    ctx: &ActionContext<'_>,
) -> Result<(State, Vec<Effect>), StoreError> {
    let mut turn = engine::step(&assets.flows, state, input, idle_ms);
    let mut effects = Vec::new();
    for _ in 0..MAX_ACTION_ROUNDS {
        let action = match turn.effects.last() {
            Some(Effect::RunAction { name, args }) => Some((name.clone(), args.clone())),
            _ => None,
        };
        effects.append(&mut turn.effects);
        let Some((name, args)) = action else {
            return Ok((turn.state, effects));
        };
        let result = actions::run(tx, ctx, &name, &args).await?;
        turn = engine::step(
            &assets.flows,
            turn.state,
            Input::ActionDone { outcome: &result.outcome, slots: result.slots },
            0,
        );
    }
    tracing::warn!("action rounds exceeded; the flow stops here");
    effects.append(&mut turn.effects);
    Ok((turn.state, effects))
}

fn render_data(contact: &contacts::Contact, location: &Location, state: &State, channel: &str) -> serde_json::Value {
    let mut c = json!({ "locale": contact.locale, "customer_type": contact.customer_type });
    if let Some(name) = &contact.first_name {
        c["first_name"] = json!(name);
    }
    json!({
        "contact": c,
        "location": { "name": location.name, "state": location.state },
        "slots": state.slots,
        "channel": channel,
    })
}

fn render(assets: &Assets, template: &str, locale: &str, channel: Channel, data: &serde_json::Value) -> String {
    match assets.templates.render(template, locale, channel, data) {
        Ok(text) => text,
        Err(err) => {
            tracing::error!(error = %err, "template failed to render; sending the technical-problem text");
            assets
                .templates
                .render("common/technical_problem", locale, channel, data)
                .unwrap_or_else(|_| LAST_RESORT_TEXT.to_owned())
        }
    }
}

/// One reply per turn: the texts of one turn joined, so the customer gets one message.
fn join_for_channel(texts: Vec<String>) -> Vec<String> {
    if texts.len() <= 1 {
        texts
    } else {
        vec![texts.join("\n\n")]
    }
}

/// What the CSR reads first: why, where the bot was, what it knew, and the last messages.
async fn summary(
    tx: &mut Tx<'_>,
    conv: &Conversation,
    before: &(Option<String>, Option<String>),
    reason: &str,
) -> Result<String, StoreError> {
    let mut out = format!("Reason: {reason}\n");
    match before {
        (Some(flow), Some(step)) => out.push_str(&format!("Bot was in: flow {flow}, step {step}\n")),
        _ => out.push_str("Bot was in: no flow (idle)\n"),
    }
    if !conv.state.slots.is_empty() {
        let slots: Vec<String> = conv
            .state
            .slots
            .iter()
            .map(|(k, v)| format!("{k}={}", v.as_str().map_or_else(|| v.to_string(), str::to_owned)))
            .collect();
        out.push_str(&format!("Known: {}\n", slots.join(", ")));
    }
    out.push_str("Last messages:\n");
    for line in messages::recent(tx, &conv.conversation_id, SUMMARY_MESSAGES).await? {
        let who = if line.direction == "inbound" { "customer" } else { "bot" };
        out.push_str(&format!("  {who}: {}\n", line.body));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::PhoneNumber;

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
        let text = |to: &str| Inbound {
            channel: Channel::Sms,
            provider_id: "SM0".into(),
            from: PhoneNumber::parse("+14155550100").unwrap(),
            to: to.into(),
            messaging_service_sid: location.messaging_service_sid.clone(),
            body: "hi".into(),
            media: Vec::new(),
            opt_out_type: None,
        };
        let contact = contacts::Contact {
            contact_id: "c1".into(),
            phone: "+14155550100".into(),
            locale: "en".into(),
            customer_type: "adult_use".into(),
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
        assert_eq!(lane_key(&text("+15005550006"), &location), key);
        assert_eq!(lane_key(&text("+15005550007"), &location), key, "another number of the pool");
    }
}
