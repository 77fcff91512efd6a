//! A batch's state: what it reads once and writes once, so that a turn costs almost no
//! statements of its own.

use std::collections::{HashMap, HashSet};

use super::{Job, Trigger};
use crate::domain::Inbound;
use crate::store::conversations::{self, Conversation};
use crate::store::{consent, contacts, integrations, messages, outcomes, StoreError, Tx};

/// What a batch reads once and writes once, so that a turn costs almost no statements of its
/// own: senders and their conversations are read in one statement, every message is claimed in
/// one, and replies and conversation states are written in one each at the end. Turns run in
/// arrival order against this in-memory state, so a conversation with two messages in one batch
/// sees the first one's outcome.
pub(super) struct Batch {
    pub(super) contacts: Vec<contacts::Contact>,
    pub(super) conversations: Vec<Conversation>,
    /// Per conversation: created by this batch, and used by a claimed message.
    pub(super) created: Vec<bool>,
    pub(super) used: Vec<bool>,
    pub(super) jobs: Vec<Prepared>,
    pub(super) replies: Vec<messages::NewReply>,
    /// Replies given in this batch, by provider id, for a retry arriving in the same batch.
    pub(super) given: HashMap<String, Vec<String>>,
    /// Messages that arrived while a human owns the conversation, by ticket.
    pub(super) silent: Vec<(String, String)>,
    /// Senders who opted out of everything we send (read once per batch, kept current).
    pub(super) opted_out: HashSet<String>,
    /// Flow runs that ended in this batch.
    pub(super) outcomes: Vec<outcomes::NewOutcome>,
}

pub(super) struct Prepared {
    pub(super) contact: usize,
    pub(super) conversation: usize,
    pub(super) message_id: String,
    pub(super) claimed: bool,
}

impl Batch {
    pub(super) async fn load(tx: &mut Tx<'_>, jobs: &[Job], now: i64) -> Result<Self, StoreError> {
        let mut phones: Vec<&str> = jobs.iter().map(|j| j.trigger.phone()).collect();
        phones.sort_unstable();
        phones.dedup();
        let opted_out: HashSet<String> = consent::opted_out_among(tx, &phones).await?.into_iter().collect();
        let mut contacts = Vec::new();
        let mut open = Vec::new();
        for (contact, conversations) in conversations::find_for_senders(tx, &phones).await? {
            contacts.push(contact);
            open.extend(conversations);
        }
        for phone in phones {
            if !contacts.iter().any(|c| c.phone == phone) {
                contacts.push(contacts::create(tx, phone, now).await?);
            }
        }
        let mut batch = Self {
            contacts,
            conversations: Vec::new(),
            created: Vec::new(),
            used: Vec::new(),
            jobs: Vec::with_capacity(jobs.len()),
            replies: Vec::new(),
            given: HashMap::new(),
            silent: Vec::new(),
            opted_out: HashSet::new(),
            outcomes: Vec::new(),
        };
        batch.opted_out = opted_out;
        for job in jobs {
            let phone = job.trigger.phone();
            let contact = batch.contacts.iter().position(|c| c.phone == phone).expect("every sender loaded");
            let conversation = batch.conversation_for(&mut open, contact, job, now);
            batch.jobs.push(Prepared { contact, conversation, message_id: crate::new_id(), claimed: false });
        }
        let new: Vec<&Conversation> =
            batch.conversations.iter().zip(&batch.created).filter(|(_, created)| **created).map(|(c, _)| c).collect();
        conversations::insert_many(tx, &new).await?;
        // Claiming is how a retry is told apart: a message by its provider id, an event by
        // its id at its integration.
        let claims: Vec<messages::NewInbound> = jobs
            .iter()
            .zip(&batch.jobs)
            .filter_map(|(job, p)| match &job.trigger {
                Trigger::Message(inbound) => Some(messages::NewInbound {
                    message_id: &p.message_id,
                    conversation_id: &batch.conversations[p.conversation].conversation_id,
                    channel: inbound.channel.as_str(),
                    provider_id: &inbound.provider_id,
                    body: &inbound.body,
                    media: &inbound.media,
                }),
                Trigger::Event(_) => None,
            })
            .collect();
        let claimed = messages::claim_many(tx, &claims, now).await?;
        for (job, p) in jobs.iter().zip(&mut batch.jobs) {
            p.claimed = match &job.trigger {
                Trigger::Message(_) => claimed.contains(&p.message_id),
                Trigger::Event(event) => match &event.receipt {
                    Some(receipt) => integrations::claim(tx, receipt, now).await?,
                    None => true,
                },
            };
            if p.claimed {
                batch.used[p.conversation] = true;
            }
        }
        Ok(batch)
    }

    /// The job's open conversation: already in the batch, read from the store, or new.
    fn conversation_for(&mut self, open: &mut Vec<Conversation>, contact: usize, job: &Job, now: i64) -> usize {
        let contact_id = &self.contacts[contact].contact_id;
        let channel = job.trigger.channel().as_str();
        let location_id = &job.location.location_id;
        let matches =
            |c: &Conversation| &c.contact_id == contact_id && c.channel == channel && &c.location_id == location_id;
        if let Some(i) = self.conversations.iter().position(matches) {
            return i;
        }
        let (conversation, created) = match open.iter().position(matches) {
            Some(i) => (open.swap_remove(i), false),
            None => (Conversation::new(contact_id, location_id, channel, now), true),
        };
        self.conversations.push(conversation);
        self.created.push(created);
        self.used.push(false);
        self.conversations.len() - 1
    }

    /// Queues a turn's replies for the batch's one insert, and remembers them for a retry.
    pub(super) fn record_replies(
        &mut self,
        inbound: &Inbound,
        conversation_id: &str,
        message_id: &str,
        texts: &[String],
    ) {
        self.replies.extend(texts.iter().map(|body| messages::NewReply {
            conversation_id: conversation_id.to_owned(),
            channel: inbound.channel.as_str(),
            reply_to: Some(message_id.to_owned()),
            body: body.clone(),
        }));
        self.given.insert(inbound.provider_id.clone(), texts.to_vec());
    }

    /// Queues what the bot says first on a call (no message answered), for the batch's insert.
    pub(super) fn record_greeting(&mut self, conversation_id: &str, channel: &'static str, texts: &[String]) {
        self.replies.extend(texts.iter().map(|body| messages::NewReply {
            conversation_id: conversation_id.to_owned(),
            channel,
            reply_to: None,
            body: body.clone(),
        }));
    }

    pub(super) async fn flush_replies(&mut self, tx: &mut Tx<'_>, now: i64) -> Result<(), StoreError> {
        messages::insert_replies(tx, &self.replies, now).await?;
        self.replies.clear();
        Ok(())
    }

    pub(super) async fn write(mut self, tx: &mut Tx<'_>, now: i64) -> Result<(), StoreError> {
        self.flush_replies(tx, now).await?;
        outcomes::insert_many(tx, &self.outcomes, now).await?;
        let mut tickets: HashMap<&str, Vec<String>> = HashMap::new();
        for (ticket, message) in &self.silent {
            tickets.entry(ticket.as_str()).or_default().push(message.clone());
        }
        for (ticket, ids) in tickets {
            messages::assign_ticket(tx, ticket, &ids).await?;
        }
        for (i, c) in self.conversations.iter().enumerate() {
            if self.created[i] && !self.used[i] {
                conversations::delete_unused(tx, &c.conversation_id).await?;
            }
        }
        let mut touched: Vec<&mut Conversation> =
            self.conversations.iter_mut().zip(&self.used).filter(|(_, used)| **used).map(|(c, _)| c).collect();
        conversations::save_many(tx, &mut touched).await
    }
}
