//! A person's reply in a web chat that nobody saw goes by text: when the chat window stayed
//! closed for `LEAFDESK_CHAT_SMS_AFTER_MINUTES` after a CSR answered, the customer gets the reply
//! as an SMS through the outbox (so the send gate still applies: a number that opted out gets
//! nothing, and the row says why). Visitors who never gave a number are never texted. Each reply
//! is claimed once (`sent` → `texted`), so two servers never text it twice.
//!
//! Owns this rule and its sweep; what counts as seen is the chat channels' (`messages::mark_seen`).

use std::time::Duration;

use serde_json::json;

use crate::domain::{Channel, VISITOR_PREFIX};
use crate::flows::Library;
use crate::store::outbox::{self, NewOutbound};
use crate::store::{locations, messages, Store, StoreError};

/// Texts the replies unseen for `delay_ms`; how many were texted.
///
/// # Errors
/// Database failures; what was texted before the failure stays texted.
pub async fn sweep(store: &Store, library: &Library, delay_ms: i64) -> Result<usize, StoreError> {
    let now = store.now_ms();
    let mut texted = 0;
    for reply in messages::unseen_chat_replies(store, now - delay_ms).await? {
        if reply.phone.starts_with(VISITOR_PREFIX) {
            continue; // never listed; a visitor who gave no number is never texted
        }
        let Some(location) = locations::get(store, &reply.location_id).await? else { continue };
        let first_name = reply.author.as_deref().and_then(|a| a.split_whitespace().next()).unwrap_or("");
        let data = json!({ "author": first_name, "location": { "name": location.name }, "body": reply.body });
        let assets = library.get();
        let body = match assets.templates.render("webchat/by_text", &reply.locale, Channel::Sms, &data) {
            Ok(body) => body,
            Err(e) => {
                tracing::error!(error = %e, "the chat-by-text template failed; the reply stays in the chat");
                continue;
            }
        };
        let mut tx = store.begin().await?;
        if !messages::claim_for_text(&mut tx, &reply.message_id, now).await? {
            continue;
        }
        let message = NewOutbound {
            conversation_id: Some(&reply.conversation_id),
            location_id: &reply.location_id,
            to_phone: &reply.phone,
            purpose: "transactional",
            body: &body,
            reply: None,
        };
        outbox::enqueue(&mut tx, &message, now).await?;
        tx.commit().await.map_err(StoreError::from)?;
        texted += 1;
    }
    Ok(texted)
}

/// Runs [`sweep`] every minute (the delay is minutes; a minute late is on time).
pub fn spawn(store: Store, library: std::sync::Arc<Library>, delay: Duration) -> tokio::task::JoinHandle<()> {
    let delay_ms = i64::try_from(delay.as_millis()).unwrap_or(i64::MAX);
    tokio::spawn(async move {
        let every = Duration::from_secs(60);
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        loop {
            tick.tick().await;
            match sweep(&store, &library, delay_ms).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(texted = n, "unseen chat replies sent by text"),
                Err(e) => tracing::error!(error = %e, "the chat-by-text sweep failed"),
            }
        }
    })
}
