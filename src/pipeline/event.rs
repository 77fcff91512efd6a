//! Platform events as conversation turns: an event (a declined payment, a cart over the limit)
//! starts or continues the customer's conversation on their channel and runs the flow the event
//! triggers, in the same turn as a customer's message would ([`super::turn`]); the bot's words
//! go to the outbox (transactional; the send gate still applies). A conversation a person owns
//! is not interrupted: the event is recorded on it for them.
//!
//! Owns the event as the pipeline takes it and the record of what became of it, which is kept
//! with the event's receipt so that a retried event gets the first answer.

use serde::{Deserialize, Serialize};

use crate::domain::{Channel, ConversationId};
use crate::flows::engine::Slots;
use crate::store::contacts;
use crate::store::integrations;
use crate::store::locations::Location;

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
    /// tests and sweeps): a retried event does nothing twice.
    pub receipt: Option<integrations::Receipt>,
}

impl PlatformEvent {
    /// The same key the customer's own messages to this location use.
    pub fn conversation_key(&self) -> i64 {
        let location_id = &self.location.location_id;
        ConversationId { channel: self.channel, phone: &self.contact.phone, location_id }.key()
    }
}

/// What became of an event: kept with its receipt, and what the events API answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventOutcome {
    pub conversation_id: String,
    /// The flow the event ran, if the bot had the conversation.
    pub flow: Option<String>,
    pub channel: String,
    /// Texts queued in the outbox.
    pub messages_queued: usize,
    /// The queue a person takes the conversation from, when the flow handed it off.
    pub handed_off_to: Option<String>,
    /// The team a report went to (the bot kept the conversation).
    pub reported_to: Option<String>,
    /// A person had the conversation: the event was recorded on it, not answered.
    pub person_has_it: bool,
}
