//! Platform events as conversation turns: an event (a declined payment, a cart over the limit)
//! starts or continues the customer's conversation on their channel, runs the flow that the
//! event triggers, and queues the bot's words in the outbox (transactional; the send gate still
//! applies), all in one transaction. A conversation a person owns is not interrupted: the event
//! is recorded on it for the CSR.

use serde_json::json;
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection};
use tokio::sync::oneshot;

use super::{apply_effects, run_engine, Context, Handled, Look, PipelineError};
use crate::actions::ActionContext;
use crate::domain::{Channel, ConversationId};
use crate::flows::engine::{Input, Slots};
use crate::flows::Assets;
use crate::store::conversations::{self, Conversation, Ownership};
use crate::store::locations::Location;
use crate::store::outbox::{self, NewOutbound};
use crate::store::{self, contacts, integrations, outcomes, StoreError};

/// An event the platform sent, resolved to its customer and location.
#[derive(Debug, Clone)]
pub struct PlatformEvent {
    /// `payment.declined`, `limit.exceeded`, …
    pub event_type: String,
    /// The event's data, given to the flow as slots.
    pub data: Slots,
    pub contact: contacts::Contact,
    pub location: Location,
    pub channel: Channel,
    /// The integration's event id to claim in the turn's transaction (none in conversation
    /// tests): a retried event does nothing twice.
    pub receipt: Option<integrations::Receipt>,
}

impl PlatformEvent {
    /// The same key the customer's own messages to this location use.
    pub fn conversation_key(&self) -> i64 {
        let location_id = &self.location.location_id;
        ConversationId { channel: self.channel, phone: &self.contact.phone, location_id }.key()
    }
}

pub(super) struct EventJob {
    pub(super) event: PlatformEvent,
    pub(super) done: oneshot::Sender<Result<Handled, PipelineError>>,
}

pub(super) async fn run(ctx: &Context, conn: &mut Option<PoolConnection<Any>>, job: EventJob) {
    let assets = ctx.library.get();
    let result = match super::connection(ctx, conn).await {
        Ok(c) => commit(c, ctx, &assets, &job.event).await,
        Err(e) => Err(e),
    };
    match &result {
        Ok(_) => ctx.metrics.inc("leafdesk_platform_events_total", &[("type", &job.event.event_type)]),
        Err(err) => {
            *conn = None;
            tracing::error!(error = %err, event = %job.event.event_type, "event turn failed and was rolled back");
        }
    }
    let _ = job.done.send(result);
}

async fn open_conversation(tx: &mut store::Tx<'_>, ev: &PlatformEvent, now: i64) -> Result<Conversation, StoreError> {
    let channel = ev.channel.as_str();
    if let Some(c) = conversations::find_open(tx, &ev.contact.contact_id, &ev.location.location_id, channel).await? {
        return Ok(c);
    }
    let fresh = Conversation::new(&ev.contact.contact_id, &ev.location.location_id, channel, now);
    conversations::insert_many(tx, &[&fresh]).await?;
    Ok(fresh)
}

async fn commit(
    conn: &mut AnyConnection,
    ctx: &Context,
    assets: &Assets,
    ev: &PlatformEvent,
) -> Result<Handled, PipelineError> {
    let now = ctx.store.now_ms();
    let mut tx = store::begin_on(conn, ctx.store.backend()).await?;
    store::lock_conversations(&mut tx, ctx.store.backend(), &[ev.conversation_key()]).await?;
    if let Some(receipt) = &ev.receipt {
        if !integrations::claim(&mut tx, receipt, now).await? {
            return Ok(Handled::Duplicate { texts: Vec::new() }); // dropping `tx` rolls back
        }
    }
    let mut conv = open_conversation(&mut tx, ev, now).await?;
    let detail = json!({ "event": ev.event_type, "data": ev.data });
    conversations::record_event(&mut tx, &conv.conversation_id, "platform_event", &detail, now).await?;
    if conv.ownership != Ownership::Bot {
        let result = json!({
            "status": "accepted",
            "conversation_id": conv.conversation_id,
            "flow": null,
            "messages_queued": 0,
            "note": "a person is handling this customer's conversation; the event was added to it for them",
        });
        if let Some(receipt) = &ev.receipt {
            integrations::set_result(&mut tx, receipt, &result).await?;
        }
        tx.commit().await.map_err(StoreError::from)?;
        return Ok(Handled::Silent { conversation_id: conv.conversation_id });
    }
    conv.last_activity_at_ms = now;
    let before = (conv.state.flow_id().map(str::to_owned), conv.state.step_id().map(str::to_owned));
    let conversation_id = conv.conversation_id.clone();
    let action_ctx = ActionContext {
        contact_id: &ev.contact.contact_id,
        conversation_id: &conversation_id,
        locale: &ev.contact.locale,
        customer_type: &ev.contact.customer_type,
        location: &ev.location,
        commerce: ctx.commerce.as_ref(),
        config: &ctx.actions,
        now_ms: now,
    };
    let state = std::mem::take(&mut conv.state);
    let input = Input::Event { name: &ev.event_type, data: ev.data.clone() };
    let (state, effects) = run_engine(&mut tx, assets, state, input, 0, &action_ctx).await?;
    conv.state = state;
    let look = Look { assets, contact: &ev.contact, location: &ev.location, channel: ev.channel };
    let applied = apply_effects(&mut tx, &look, &mut conv, &before, &effects, now).await?;
    outcomes::insert_many(&mut tx, &applied.ended, now).await?;
    for body in &applied.texts {
        let message = NewOutbound {
            conversation_id: Some(&conv.conversation_id),
            location_id: &ev.location.location_id,
            to_phone: &ev.contact.phone,
            purpose: "transactional",
            body,
        };
        outbox::enqueue(&mut tx, &message, now).await?;
    }
    conversations::save_many(&mut tx, &mut [&mut conv]).await?;
    if let Some(receipt) = &ev.receipt {
        let result = json!({
            "status": "accepted",
            "conversation_id": conv.conversation_id,
            "flow": assets.flows.flow_for_event(&ev.event_type).map(|f| f.id.clone()),
            "channel": ev.channel.as_str(),
            "messages_queued": applied.texts.len(),
            "handed_off_to": applied.handoff_queue,
            "reported_to": applied.report_queue,
        });
        integrations::set_result(&mut tx, receipt, &result).await?;
    }
    tx.commit().await.map_err(StoreError::from)?;
    for (flow, outcome) in &applied.outcomes {
        ctx.metrics.inc("leafdesk_flow_outcomes_total", &[("flow", flow), ("outcome", outcome)]);
    }
    if let Some(queue) = &applied.handoff_queue {
        ctx.metrics.inc("leafdesk_handoffs_total", &[("queue", queue)]);
    }
    Ok(Handled::Replied { conversation_id: conv.conversation_id, texts: applied.texts })
}
