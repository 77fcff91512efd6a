//! Call transcripts on the customer's conversation: live segments from Twilio's Real-Time
//! Transcription and whole calls from any other platform (`POST /api/v1/transcripts`) are
//! stored as voice messages with their confidence, in the order they were said and never twice;
//! every customer segment passes the consent check (a "stop calling me" said to a person is a
//! revocation, source `voice`); and a finished call lands on the conversation's open ticket, or
//! opens a follow-up ticket when the customer asked for something a flow handles.
//!
//! Owns what a transcript does; the wire formats are `channels::transcripts`.

use serde_json::json;

use crate::compliance;
use crate::domain::{Channel, ConversationId, Inbound, PhoneNumber};
use crate::flows::model::{Decision, Flow, Ticket};
use crate::flows::Assets;
use crate::store::conversations::{self, Conversation};
use crate::store::feed::QueueChange;
use crate::store::locations::Location;
use crate::store::{self, consent, contacts, messages, receipts, tickets, Store, StoreError};

/// Who spoke a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Speaker {
    Customer,
    /// A person of the store's team.
    Agent,
    Bot,
}

impl Speaker {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Customer => "customer",
            Self::Agent => "agent",
            Self::Bot => "bot",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    pub speaker: Speaker,
    pub text: String,
    /// When it was said (Unix ms) and when it ended.
    pub start_ms: i64,
    pub end_ms: i64,
    pub confidence: Option<f64>,
    /// The source's own id for the segment, if it has one (Twilio's sequence number).
    pub id: Option<String>,
}

/// A transcript, or a part of one, for one call.
pub struct Transcript<'a> {
    /// `twilio` or `api`: with the call id, names every segment.
    pub source: &'static str,
    pub call_id: &'a str,
    pub customer: &'a PhoneNumber,
    /// Our number the call reached (for the consent record).
    pub our_number: &'a str,
    pub location: &'a Location,
    pub segments: Vec<Segment>,
    /// The call is over: file it on a ticket (a live call's segments arrive while it goes on).
    pub finished: bool,
}

/// What became of a transcript.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Recorded {
    pub conversation_id: String,
    /// Segments stored now; the rest were already stored.
    pub stored: usize,
    pub duplicates: usize,
    /// A customer segment revoked consent.
    pub revoked: bool,
    /// The ticket the call is on (existing or opened now), if any.
    pub ticket_id: Option<String>,
    pub ticket_opened: bool,
}

/// Segments in the order they were said (start, then end), exact repeats dropped.
pub fn in_order(mut segments: Vec<Segment>) -> Vec<Segment> {
    segments.sort_by_key(|s| (s.start_ms, s.end_ms));
    segments.dedup_by(|b, a| a.speaker == b.speaker && a.start_ms == b.start_ms && a.text == b.text);
    segments
}

/// The stored id of a segment: the source's id when it has one, else when and what was said.
fn provider_id(t: &Transcript<'_>, s: &Segment) -> String {
    match &s.id {
        Some(id) => format!("{}:{}:{id}", t.source, t.call_id),
        None => format!("{}:{}:{}:{}:{:016x}", t.source, t.call_id, s.start_ms, s.speaker.as_str(), fnv(&s.text)),
    }
}

fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// Stores a transcript on the customer's voice conversation (the open one, else a new one), in
/// one transaction holding the conversation's lock, as a turn does.
///
/// # Errors
/// Database failures; nothing of the transcript is stored then.
pub async fn record(store: &Store, assets: &Assets, t: Transcript<'_>) -> Result<Recorded, StoreError> {
    let now = store.now_ms();
    let phone = t.customer.as_ref();
    let location_id = &t.location.location_id;
    let mut tx = store.begin().await?;
    let key = ConversationId { channel: Channel::Voice, phone, location_id }.key();
    store::lock_conversations(&mut tx, store.backend(), &[key]).await?;
    let contact = match contacts::find(store, phone).await? {
        Some(contact) => contact,
        None => contacts::create(&mut tx, phone, now).await?,
    };
    // The call's own conversation when part of it was stored before (even if it has ended),
    // else the customer's open voice conversation, else a new one.
    let this_call = format!("transcript:{}:{}", t.source, t.call_id);
    let earlier = receipts::detail(store, &this_call).await?;
    let earlier = earlier.and_then(|d| d["conversation_id"].as_str().map(str::to_owned));
    let (conversation, created) = match &earlier {
        Some(id) => (conversations::by_id(&mut tx, id).await?.ok_or_else(|| store::corrupt("receipt", id))?, false),
        None => match conversations::find_open(&mut tx, &contact.contact_id, location_id, "voice").await? {
            Some(c) => (c, false),
            None => {
                let c = Conversation::new(&contact.contact_id, location_id, "voice", now);
                conversations::insert_many(&mut tx, &[&c]).await?;
                (c, true)
            }
        },
    };
    if earlier.is_none() {
        let detail = json!({ "conversation_id": conversation.conversation_id });
        receipts::record(&mut tx, &this_call, "call_transcript", &detail, now).await?;
    }
    let mut opted_out = consent::opted_out_among(&mut tx, &[phone]).await?.contains(&phone.to_owned());
    let mut recorded = Recorded {
        conversation_id: conversation.conversation_id.clone(),
        stored: 0,
        duplicates: 0,
        revoked: false,
        ticket_id: conversation.open_ticket_id.clone(),
        ticket_opened: false,
    };
    let mut new_ids = Vec::new();
    let segments = in_order(t.segments.clone());
    // What the customer said in this post (stored before or now): what a finished call is about.
    let customer_words: Vec<String> =
        segments.iter().filter(|s| s.speaker == Speaker::Customer).map(|s| s.text.clone()).collect();
    for segment in segments {
        let message_id = crate::new_id();
        let provider_id = provider_id(&t, &segment);
        let spoken = messages::Spoken {
            message_id: &message_id,
            conversation_id: &conversation.conversation_id,
            provider_id: &provider_id,
            inbound: segment.speaker == Speaker::Customer,
            body: &segment.text,
            confidence: segment.confidence,
            at_ms: segment.start_ms,
        };
        if !messages::insert_spoken(&mut tx, &spoken).await? {
            recorded.duplicates += 1;
            continue;
        }
        recorded.stored += 1;
        new_ids.push(message_id.clone());
        if segment.speaker != Speaker::Customer {
            continue;
        }
        let inbound = Inbound {
            channel: Channel::Voice,
            provider_id,
            from: t.customer.clone(),
            to: t.our_number.to_owned(),
            messaging_service_sid: None,
            body: segment.text.clone(),
            media: Vec::new(),
            opt_out_type: None,
        };
        // The consent check a typed message gets; its reply is for a live chat, not a call
        // already spoken, so only the ledger entry counts here.
        let answering = compliance::consent::Answering::No;
        let outcome =
            compliance::consent::apply(&mut tx, &inbound, &message_id, opted_out, true, answering, now).await?;
        recorded.revoked |= outcome.recorded.is_some_and(|(action, _)| action == "opt_out");
        opted_out = outcome.opted_out;
    }
    let mut change = None;
    if let Some(ticket_id) = &conversation.open_ticket_id {
        // A call a person has: every segment is on their ticket as it comes.
        if !new_ids.is_empty() {
            messages::assign_ticket(&mut tx, ticket_id, &new_ids).await?;
            change = Some(QueueChange::new("customer_wrote", ticket_id, ""));
        }
    } else if t.finished && recorded.stored > 0 {
        // (A retry, with nothing new, does nothing: its ticket was opened the first time.)
        if let Some((flow, ticket)) = asked_for(assets, &customer_words) {
            let summary = format!(
                "Call {} ({} segments). The customer asked about: {}.\n{}",
                t.call_id,
                recorded.stored + recorded.duplicates,
                flow.id,
                customer_words.iter().map(|w| format!("  customer: {w}")).collect::<Vec<_>>().join("\n")
            );
            let reason = format!("A call transcript asks for {} — check it was resolved", flow.description_line());
            let new = tickets::NewTicket {
                conversation_id: &conversation.conversation_id,
                queue: &ticket.queue,
                priority: ticket.priority,
                tags: &flow.tags,
                reason: &reason,
                summary: &summary,
                details: &json!({ "call_id": t.call_id, "source": t.source }),
            };
            let ticket_id = tickets::insert(&mut tx, &new, now).await?;
            let detail = json!({ "queue": ticket.queue, "ticket_id": ticket_id, "call_id": t.call_id });
            conversations::record_event(&mut tx, &conversation.conversation_id, "reported", &detail, now).await?;
            change = Some(QueueChange::new("opened", &ticket_id, &ticket.queue));
            recorded.ticket_id = Some(ticket_id);
            recorded.ticket_opened = true;
        }
    }
    if t.finished {
        // The call is over: the next one starts afresh (a person's conversation stays theirs).
        conversations::close_if_bot(&mut tx, &conversation.conversation_id, now).await?;
    }
    if created && recorded.stored == 0 {
        // Nothing new on a new conversation: keep no trace of it (the receipt named it).
        receipts::forget(&mut tx, &this_call).await?;
        conversations::delete_unused(&mut tx, &conversation.conversation_id).await?;
    }
    tx.commit().await.map_err(StoreError::from)?;
    if let Some(change) = change {
        store.announce(&change).await;
    }
    Ok(recorded)
}

/// The first flow the customer's words ask for (by rule, or a confident guess) that a person
/// may need to finish, with the ticket its hand-off would open (else the general queue's).
fn asked_for<'a>(assets: &'a Assets, words: &[String]) -> Option<(&'a Flow, Ticket)> {
    let flows = &assets.flows;
    let model = &flows.understanding;
    words.iter().find_map(|text| {
        let guesses = model.read(text).guesses;
        let intent = match flows.decide(model, text, &guesses, false) {
            Decision::Rule(intent) => intent,
            Decision::Model(guess) => guess.intent,
            _ => return None,
        };
        let flow = flows.flow_for_intent(&intent)?;
        let ticket = flow.handoff_ticket()?;
        Some((flow, ticket))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(speaker: Speaker, text: &str, start_ms: i64) -> Segment {
        Segment { speaker, text: text.into(), start_ms, end_ms: start_ms + 500, confidence: Some(0.9), id: None }
    }

    #[test]
    fn segments_are_put_in_the_order_they_were_said_and_repeats_dropped() {
        let out = in_order(vec![
            seg(Speaker::Agent, "How can I help?", 2_000),
            seg(Speaker::Customer, "Hi", 1_000),
            seg(Speaker::Agent, "How can I help?", 2_000),
            seg(Speaker::Customer, "My card was declined", 3_000),
            seg(Speaker::Customer, "Hi", 1_000),
        ]);
        let said: Vec<&str> = out.iter().map(|s| s.text.as_str()).collect();
        assert_eq!(said, ["Hi", "How can I help?", "My card was declined"]);
    }
}
