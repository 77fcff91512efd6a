//! The bot's turn: one function for every trigger (a customer's message on any channel, a
//! platform event) inside the batch's transaction. The channel adapts, the turn decides:
//!
//! 1. a customer's words pass the consent check first (no flow can override it); an event is
//!    recorded on the conversation;
//! 2. a conversation a person owns is left to them (the message goes on their ticket);
//! 3. the flow engine runs on the words or the event, then on each action's outcome;
//! 4. effects are applied: texts rendered, hand-offs and reports filed;
//! 5. a message's reply goes back inline (TwiML, a chat frame); an event's texts go to the
//!    outbox, and what became of the event is kept with its receipt.

use serde_json::json;

use super::batch::Batch;
use super::{Answer, Context, EventOutcome, Handled, Job, PipelineError, PlatformEvent, Then, Trigger, TurnReport};
use crate::actions::{self, ActionContext};
use crate::compliance::{self, consent::Decision};
use crate::domain::conversation::Ownership;
use crate::domain::{Channel, Inbound};
use crate::flows::engine::{self, Effect, Input, State};
use crate::flows::model::Ticket;
use crate::flows::Assets;
use crate::store::conversations::{self, Conversation};
use crate::store::feed::QueueChange;
use crate::store::locations::Location;
use crate::store::outbox::{self, NewOutbound};
use crate::store::{contacts, integrations, messages, misreads, outcomes, tickets, StoreError, Tx};
use crate::understanding::{switch_language, Reading};

/// 10: action rounds in one turn; real flows use one or two.
const MAX_ACTION_ROUNDS: usize = 10;
/// 12: messages shown in a hand-off summary.
const SUMMARY_MESSAGES: i64 = 12;
/// What the flow engine reads for a message that is only media (an MMS photo).
pub const MEDIA_ONLY_TEXT: &str = "[media]";

/// One message or event, inside the batch's transaction.
#[tracing::instrument(skip_all, fields(channel = job.trigger.channel().as_str(), conversation_id))]
pub(super) async fn turn(
    tx: &mut Tx<'_>,
    ctx: &Context,
    assets: &Assets,
    batch: &mut Batch,
    index: usize,
    job: &Job,
    now: i64,
) -> Result<TurnReport, PipelineError> {
    let (contact_ix, conv_ix, message_id, claimed) = {
        let p = &batch.jobs[index];
        (p.contact, p.conversation, p.message_id.clone(), p.claimed)
    };
    tracing::Span::current().record("conversation_id", batch.conversations[conv_ix].conversation_id.as_str());
    if !claimed {
        return Ok(TurnReport::just(duplicate(tx, batch, job).await?));
    }
    let mut contact = batch.contacts[contact_ix].clone();
    let conv = &mut batch.conversations[conv_ix];
    // Idle time before this message; a conversation new in this batch starts now, so it is 0.
    let idle_ms = (now - conv.last_activity_at_ms).max(0);
    conv.last_activity_at_ms = now.max(conv.last_activity_at_ms);

    // 1. Consent first for a customer's words; an event is recorded for whoever reads along.
    let mut consent_recorded = None;
    match &job.trigger {
        Trigger::Message(inbound) => {
            let phone = inbound.from.as_ref();
            let waiting = engine::waiting(&assets.flows, &conv.state, idle_ms);
            let opted_out = batch.opted_out.contains(phone);
            let answering = compliance::consent::Answering::Yes;
            let consent =
                compliance::consent::apply(tx, inbound, &message_id, opted_out, waiting, answering, now).await?;
            if consent.opted_out {
                batch.opted_out.insert(phone.to_owned());
            } else {
                batch.opted_out.remove(phone);
            }
            consent_recorded = consent.recorded;
            if let Decision::Silent | Decision::Reply(_) = consent.decision {
                let look = Look::new(assets, &contact, &job.location, inbound.channel, now);
                let mut handled = consent_reply(batch, conv_ix, inbound, &message_id, &look, &consent.decision);
                let revoked = consent.recorded.is_some_and(|(action, _)| action == "opt_out")
                    || (consent.opted_out && consent.decision == Decision::Silent);
                if let (Handled::Replied { then, .. }, true) = (&mut handled, revoked) {
                    *then = Then::HangUp; // a call ends where the customer asked us to stop
                }
                return Ok(TurnReport { consent: consent.recorded, ..TurnReport::just(handled) });
            }
        }
        Trigger::Event(event) => {
            let detail = json!({ "event": event.event_type, "data": event.data });
            conversations::record_event(tx, &conv.conversation_id, "platform_event", &detail, now).await?;
        }
    }

    // 2. A person owns the conversation: theirs to answer.
    let mut changes = Vec::new();
    let conv = &mut batch.conversations[conv_ix];
    if conv.ownership != Ownership::Bot {
        let conversation_id = conv.conversation_id.clone();
        let handled = match &job.trigger {
            Trigger::Message(_) => {
                if let Some(ticket) = &conv.open_ticket_id {
                    batch.silent.push((ticket.clone(), message_id));
                    changes.push(QueueChange::new("customer_wrote", ticket, ""));
                }
                Handled::Silent { conversation_id }
            }
            Trigger::Event(event) => {
                let outcome = EventOutcome {
                    conversation_id,
                    flow: None,
                    channel: event.channel.as_str().to_owned(),
                    messages_queued: 0,
                    handed_off_to: None,
                    reported_to: None,
                    person_has_it: true,
                };
                keep_outcome(tx, event, &outcome).await?;
                Handled::Event { outcome, texts: Vec::new() }
            }
        };
        return Ok(TurnReport { consent: consent_recorded, changes, ..TurnReport::just(handled) });
    }

    // 3. The flow engine, on the words or the event, then on each action's outcome.
    let before = (conv.state.flow_id().map(str::to_owned), conv.state.step_id().map(str::to_owned));
    let conversation_id = conv.conversation_id.clone();
    let action_ctx = ActionContext {
        contact_id: &contact.contact_id,
        conversation_id: &conversation_id,
        locale: &contact.locale,
        customer_type: contact.customer_type,
        location: &job.location,
        commerce: ctx.commerce.as_ref(),
        config: &ctx.actions,
        now_ms: now,
    };
    let state = std::mem::take(&mut conv.state);
    let (input, idle_ms) = match &job.trigger {
        // A photo with no words still answers "send a photo": the flow sees it as this text.
        Trigger::Message(inbound) if inbound.body.trim().is_empty() && !inbound.media.is_empty() => {
            (Input::Text(MEDIA_ONLY_TEXT), idle_ms)
        }
        Trigger::Message(inbound) => (Input::Text(&inbound.body), idle_ms),
        Trigger::Event(event) => (Input::Event { name: &event.event_type, data: event.data.clone() }, 0),
    };
    let (mut state, effects, reading) = run_engine(tx, assets, state, input, idle_ms, &action_ctx).await?;

    // 3b. The customer's language, and what the bot could not read, for the review inbox.
    if let Some(reading) = &reading {
        let language = reading.language.as_ref();
        let created = batch.created[conv_ix];
        if let Some(locale) = switch_language(&contact.locale, &mut state.other_language, language, created) {
            contacts::set_locale(tx, &contact.contact_id, &locale).await?;
            batch.contacts[contact_ix].locale.clone_from(&locale);
            contact.locale = locale;
        }
        if let Trigger::Message(inbound) = &job.trigger {
            file_misreads(tx, &conversation_id, &inbound.body, &contact.locale, &effects, now).await?;
        }
    }
    batch.conversations[conv_ix].state = state;

    // 4. Effects: texts, hand-offs, reports. On a call, a hand-off asks first whether someone
    // can take it now; the bot's words say so.
    if effects.iter().any(|e| matches!(e, Effect::Handoff(_) | Effect::Report(_))) {
        batch.flush_replies(tx, now).await?; // the summary reads this batch's earlier replies too
    }
    let channel = job.trigger.channel();
    let mut look = Look::new(assets, &contact, &job.location, channel, now);
    look.opted_out = batch.opted_out.contains(&contact.phone);
    let handoff_queue = effects.iter().find_map(|e| match e {
        Effect::Handoff(ticket) => Some(ticket.queue.as_str()),
        _ => None,
    });
    let mut then = Then::Listen;
    if let Some(queue) = handoff_queue {
        let answer = if channel == Channel::Voice {
            ctx.staffing.answer(tx, &assets.flows.queues, queue, &job.location.timezone, now).await?
        } else {
            Answer::Now
        };
        look.answer = Some(answer);
        then = Then::Handoff { queue: queue.to_owned(), answer };
    }
    let applied = apply_effects(tx, &look, &mut batch.conversations[conv_ix], &before, &effects, now).await?;
    batch.outcomes.extend(applied.ended);

    // 5. The reply: inline for a message, through the outbox for an event.
    let handled = match &job.trigger {
        Trigger::Message(inbound) => {
            batch.record_replies(inbound, &conversation_id, &message_id, &applied.texts);
            Handled::Replied { conversation_id, texts: applied.texts, then }
        }
        // A call's start: the bot speaks first, in the call itself.
        Trigger::Event(event) if event.channel == Channel::Voice => {
            batch.record_greeting(&conversation_id, Channel::Voice.as_str(), &applied.texts);
            let outcome = EventOutcome {
                conversation_id,
                flow: assets.flows.flow_for_event(&event.event_type).map(|f| f.id.clone()),
                channel: event.channel.as_str().to_owned(),
                messages_queued: 0,
                handed_off_to: applied.handoff_queue.clone(),
                reported_to: applied.report_queue,
                person_has_it: false,
            };
            Handled::Event { outcome, texts: applied.texts }
        }
        Trigger::Event(event) => {
            for body in &applied.texts {
                let message = NewOutbound {
                    conversation_id: Some(&conversation_id),
                    location_id: &event.location.location_id,
                    to_phone: &event.contact.phone,
                    purpose: "transactional",
                    body,
                    reply: None,
                };
                outbox::enqueue(tx, &message, now).await?;
            }
            let outcome = EventOutcome {
                conversation_id,
                flow: assets.flows.flow_for_event(&event.event_type).map(|f| f.id.clone()),
                channel: event.channel.as_str().to_owned(),
                messages_queued: applied.texts.len(),
                handed_off_to: applied.handoff_queue.clone(),
                reported_to: applied.report_queue,
                person_has_it: false,
            };
            keep_outcome(tx, event, &outcome).await?;
            Handled::Event { outcome, texts: applied.texts }
        }
    };
    Ok(TurnReport {
        handled,
        outcomes: applied.outcomes,
        handoff_queue: applied.handoff_queue,
        consent: consent_recorded,
        changes: applied.changes,
    })
}

/// A retry of something already handled: a message gets its stored reply again (its first
/// answer may be in this very batch); an event's first answer is kept with its receipt.
async fn duplicate(tx: &mut Tx<'_>, batch: &Batch, job: &Job) -> Result<Handled, StoreError> {
    let texts = match &job.trigger {
        Trigger::Message(inbound) => match batch.given.get(&inbound.provider_id) {
            Some(texts) => texts.clone(),
            None => messages::replies_to(tx, &inbound.provider_id).await?,
        },
        Trigger::Event(_) => Vec::new(),
    };
    tracing::debug!("a retry answered with the first answer");
    Ok(Handled::Duplicate { texts })
}

/// What the consent check answers instead of the flow (or its silence).
fn consent_reply(
    batch: &mut Batch,
    conv_ix: usize,
    inbound: &Inbound,
    message_id: &str,
    look: &Look<'_>,
    decision: &Decision,
) -> Handled {
    let conv = &batch.conversations[conv_ix];
    let texts = match decision {
        Decision::Reply(template) => {
            let data = render_data(look, &conv.state);
            vec![render(look.assets, template, &look.contact.locale, look.channel, &data)]
        }
        _ => Vec::new(),
    };
    if let (Some(ticket), true) = (&conv.open_ticket_id, texts.is_empty()) {
        batch.silent.push((ticket.clone(), message_id.to_owned()));
    }
    let conversation_id = conv.conversation_id.clone();
    batch.record_replies(inbound, &conversation_id, message_id, &texts);
    Handled::Replied { conversation_id, texts, then: Then::Listen }
}

/// Keeps what became of an event with its receipt, for the platform's retries.
async fn keep_outcome(tx: &mut Tx<'_>, event: &PlatformEvent, outcome: &EventOutcome) -> Result<(), StoreError> {
    if let Some(receipt) = &event.receipt {
        let record = serde_json::to_value(outcome).expect("an outcome serializes");
        integrations::set_result(tx, receipt, &record).await?;
    }
    Ok(())
}

/// What a turn's texts are rendered with.
struct Look<'a> {
    assets: &'a Assets,
    contact: &'a contacts::Contact,
    location: &'a Location,
    channel: Channel,
    /// "Today" for times the templates say.
    now_ms: i64,
    /// The customer opted out of texts: a link cannot be texted during a call.
    opted_out: bool,
    /// A hand-off in this turn: whether a person takes it now (calls: else a callback).
    answer: Option<Answer>,
}

impl<'a> Look<'a> {
    fn new(
        assets: &'a Assets,
        contact: &'a contacts::Contact,
        location: &'a Location,
        channel: Channel,
        now_ms: i64,
    ) -> Self {
        Self { assets, contact, location, channel, now_ms, opted_out: false, answer: None }
    }
}

/// What the effects of one turn came to.
struct Applied {
    /// The bot's reply, joined into one message.
    texts: Vec<String>,
    outcomes: Vec<(String, &'static str)>,
    /// Flow runs that ended, for the outcome report with their CRM tags.
    ended: Vec<outcomes::NewOutcome>,
    handoff_queue: Option<String>,
    /// Tickets opened, for live consoles.
    changes: Vec<QueueChange>,
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
    let mut data = render_data(look, &conv.state);
    let mut applied = Applied {
        texts: Vec::new(),
        outcomes: Vec::new(),
        ended: Vec::new(),
        handoff_queue: None,
        report_queue: None,
        changes: Vec::new(),
    };
    let mut guards = Vec::new();
    for effect in effects {
        match effect {
            Effect::Say { template } if look.channel == Channel::Voice => {
                let spoken = say_on_a_call(tx, look, &conv.conversation_id, template, &mut data, now).await?;
                applied.texts.push(spoken);
            }
            Effect::Say { template } => {
                applied.texts.push(render(look.assets, template, &look.contact.locale, look.channel, &data));
            }
            Effect::FlowEnded { flow, outcome } => {
                applied.outcomes.push((flow.clone(), outcome.as_str()));
                let tags = look.assets.flows.flows.get(flow).map(|f| f.tags.clone()).unwrap_or_default();
                applied.ended.push(outcomes::NewOutcome {
                    flow_id: flow.clone(),
                    location_id: conv.location_id.clone(),
                    outcome: outcome.as_str(),
                    tags,
                });
            }
            Effect::Guard { reason } => {
                tracing::warn!(%reason, "flow guard stopped a runaway flow");
                guards.push(reason.clone());
            }
            Effect::Handoff(ticket) => {
                let mut reason = guards.iter().fold(ticket.reason.clone(), |r, g| format!("{r} (guard: {g})"));
                if let Some(Answer::CallbackAt(_) | Answer::CallbackSoon) = look.answer {
                    reason.push_str(" — CALL BACK: the caller could not be put through to a person");
                }
                let ticket = Ticket { reason, ..ticket.clone() };
                let ticket_id = open_ticket(tx, conv, before, &ticket, now).await?;
                conv.ownership = Ownership::Queued;
                conv.open_ticket_id = Some(ticket_id.clone());
                let detail = json!({ "from": "bot", "to": "queued", "queue": ticket.queue, "ticket_id": ticket_id });
                conversations::record_event(tx, &conv.conversation_id, "handed_off", &detail, now).await?;
                applied.changes.push(QueueChange::new("opened", &ticket_id, &ticket.queue).of(&conv.conversation_id));
                applied.handoff_queue = Some(ticket.queue);
            }
            Effect::Report(ticket) => {
                // A team's ticket with the same context a person would get; the bot keeps the
                // conversation, so the customer's next question is answered as usual.
                let ticket_id = open_ticket(tx, conv, before, ticket, now).await?;
                let detail = json!({ "queue": ticket.queue, "ticket_id": ticket_id });
                conversations::record_event(tx, &conv.conversation_id, "reported", &detail, now).await?;
                applied.changes.push(QueueChange::new("opened", &ticket_id, &ticket.queue).of(&conv.conversation_id));
                applied.report_queue = Some(ticket.queue.clone());
            }
            Effect::RunAction { .. } | Effect::Unsure { .. } | Effect::NotUnderstood { .. } => {}
        }
    }
    applied.texts.retain(|t| !t.is_empty());
    applied.texts = join_for_channel(std::mem::take(&mut applied.texts));
    Ok(applied)
}

/// What the bot says on a call for `template`. A text that carries a link (the ACH checkout, an
/// upload link) cannot be spoken usefully: its text version goes by SMS when the customer has
/// not opted out, and the spoken words say it was texted (`link_texted` for a template's voice
/// variant; otherwise the link is cut and `voice/link_texted` or `voice/link_not_texted` added).
async fn say_on_a_call(
    tx: &mut Tx<'_>,
    look: &Look<'_>,
    conversation_id: &str,
    template: &str,
    data: &mut serde_json::Value,
    now: i64,
) -> Result<String, StoreError> {
    let locale = &look.contact.locale;
    let written = render(look.assets, template, locale, Channel::Sms, data);
    let has_link = URL.is_match(&written);
    let texted = has_link && !look.opted_out;
    if texted {
        let message = NewOutbound {
            conversation_id: Some(conversation_id),
            location_id: &look.location.location_id,
            to_phone: &look.contact.phone,
            purpose: "transactional",
            body: &written,
            reply: None,
        };
        outbox::enqueue(tx, &message, now).await?;
    }
    data["link_texted"] = json!(texted);
    let voice_variant =
        look.assets.templates.resolve(template, locale, Channel::Voice).is_some_and(|name| name.ends_with(".voice"));
    let spoken = render(look.assets, template, locale, Channel::Voice, data);
    if !has_link || voice_variant {
        return Ok(spoken);
    }
    let note = if texted { "voice/link_texted" } else { "voice/link_not_texted" };
    let cut = URL.replace_all(&spoken, "").to_string();
    Ok(format!("{} {}", cut.trim_end(), render(look.assets, note, locale, Channel::Voice, data)))
}

/// A web link in a text.
static URL: std::sync::LazyLock<regex::Regex> =
    std::sync::LazyLock::new(|| regex::Regex::new(r"https?://\S+").expect("URL pattern compiles"));

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
        details: &json!(conv.state.slots),
    };
    tickets::insert(tx, &new, now).await
}

/// Files a message the bot was unsure about or did not understand in the review inbox.
async fn file_misreads(
    tx: &mut Tx<'_>,
    conversation_id: &str,
    body: &str,
    locale: &str,
    effects: &[Effect],
    now: i64,
) -> Result<(), StoreError> {
    for effect in effects {
        let (decision, guesses) = match effect {
            Effect::Unsure { guesses } => ("unsure", guesses),
            Effect::NotUnderstood { guesses } => ("not_understood", guesses),
            _ => continue,
        };
        let normalized = crate::understanding::features::normalize(body);
        let misread = misreads::NewMisread {
            conversation_id,
            body,
            normalized: &normalized,
            locale,
            decision,
            guesses: &json!(guesses),
        };
        misreads::insert(tx, &misread, now).await?;
    }
    Ok(())
}

/// Runs the engine on the message, then on each action outcome, until the flow waits; with
/// what the model read in the message.
async fn run_engine(
    tx: &mut Tx<'_>,
    assets: &Assets,
    state: State,
    input: Input<'_>,
    idle_ms: i64,
    ctx: &ActionContext<'_>,
) -> Result<(State, Vec<Effect>, Option<Reading>), StoreError> {
    let mut turn = engine::step(&assets.flows, state, input, idle_ms);
    let reading = turn.reading.take();
    let mut effects = Vec::new();
    for _ in 0..MAX_ACTION_ROUNDS {
        let action = match turn.effects.last() {
            Some(Effect::RunAction { name, args }) => Some((name.clone(), args.clone())),
            _ => None,
        };
        effects.append(&mut turn.effects);
        let Some((name, args)) = action else {
            return Ok((turn.state, effects, reading));
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
    Ok((turn.state, effects, reading))
}

/// What templates see: the contact, the location (with its timezone, for times), the slots,
/// the misses in a row, the channel, and now (for "today" and "tomorrow").
fn render_data(look: &Look<'_>, state: &State) -> serde_json::Value {
    let (contact, location) = (look.contact, look.location);
    let mut c = json!({ "locale": contact.locale, "customer_type": contact.customer_type });
    if let Some(name) = &contact.first_name {
        c["first_name"] = json!(name);
    }
    json!({
        "contact": c,
        "location": { "name": location.name, "state": location.state, "timezone": location.timezone },
        "slots": state.slots,
        // Misunderstood messages in a row: the menu says sorry first when it is not 0.
        "misses": state.misses,
        // Calls: whether a link was texted, and when someone calls back after a hand-off
        // (`at_ms` 0: as soon as someone is free); false when a person takes the call now.
        "link_texted": false,
        "callback": look.answer.map_or(json!(false), Answer::callback),
        "channel": look.channel.as_str(),
        "now_ms": look.now_ms,
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
                // It has no values to miss; if even it fails, nothing is sent rather than words
                // that live outside the templates.
                .unwrap_or_default()
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
