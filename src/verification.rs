//! Medical re-verification outside the conversation: the midnight lock of expired
//! recommendations, and a reviewer's decision on an uploaded document (approve: unlock, resume
//! held orders, tell the customer; reject: say why and send a fresh link).
//!
//! Owns these workflows; the flow (`flows/medical_reverification.yaml`) owns the conversation,
//! `uploads` owns receiving documents.

use std::time::Duration;

use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde_json::json;

use crate::commerce::{reach, BuiltIn, Reach};
use crate::domain::commerce::VerificationStatus;
use crate::domain::Channel;
use crate::flows::Assets;
use crate::pipeline::{Pipeline, PlatformEvent};
use crate::store::commerce::{customers, orders};
use crate::store::outbox::{self, NewOutbound};
use crate::store::{conversations, uploads as store_uploads, Store, StoreError};
use crate::uploads::Links;

#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    #[error("no customer {0:?}")]
    NoCustomer(String),
    #[error("customer {0:?} has no document waiting for review (see `leafdesk verification list`)")]
    NothingPending(String),
    #[error("--expires {0:?} is not a date like 2027-11-30")]
    BadDate(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A reviewer's decision.
#[derive(Debug, Clone, Copy)]
pub enum Decision<'a> {
    /// The new recommendation is good; it runs until `expires_on` (YYYY-MM-DD), if given.
    Approve { expires_on: Option<&'a str> },
    /// The document cannot be accepted, for this reason (shown to the customer).
    Reject { reason: &'a str },
}

/// Applies a decision in one transaction and queues the customer's message. Returns the text
/// queued.
///
/// # Errors
/// `NoCustomer`, `NothingPending`, `BadDate`, or database failures.
pub async fn review(
    store: &Store,
    assets: &Assets,
    links: &Links,
    customer_id: &str,
    decision: Decision<'_>,
    staff: &str,
) -> Result<String, ReviewError> {
    if let Decision::Approve { expires_on: Some(on) } = decision {
        on.parse::<jiff::civil::Date>().map_err(|_| ReviewError::BadDate(on.to_owned()))?;
    }
    // A review changes leafdesk's own customer records, so it reads them there.
    let Reach { customer, contact, location } =
        reach(&BuiltIn, store, customer_id).await?.ok_or_else(|| ReviewError::NoCustomer(customer_id.to_owned()))?;
    let now = store.now_ms();
    let mut tx = store.begin().await?;
    let conversation = conversations::find_open(&mut tx, &contact.contact_id, &location.location_id, "sms").await?;
    let conversation_id = conversation.as_ref().map(|c| c.conversation_id.clone());
    let (status, note, template, mut slots) = match decision {
        Decision::Approve { expires_on } => {
            if let Some(on) = expires_on {
                customers::set_recommendation_expiry(&mut tx, customer_id, on).await?;
            }
            customers::set_verification(&mut tx, customer_id, VerificationStatus::Verified, None, now).await?;
            let released = orders::release_orders(&mut tx, &contact.contact_id).await?;
            ("approved", None, "medical_reverification/approved", json!({ "released_orders": released }))
        }
        Decision::Reject { reason } => {
            customers::set_verification(
                &mut tx,
                customer_id,
                VerificationStatus::Rejected,
                customer.locked_reason,
                now,
            )
            .await?;
            let expires = now + links.ttl_ms;
            let token =
                store_uploads::insert_token(&mut tx, customer_id, conversation_id.as_deref(), expires, now).await?;
            let slots = json!({ "reason": reason, "upload_url": links.url(&token) });
            ("rejected", Some(reason), "medical_reverification/rejected", slots)
        }
    };
    if store_uploads::review(&mut tx, customer_id, status, note, now).await? == 0 {
        return Err(ReviewError::NothingPending(customer_id.to_owned()));
    }
    store_uploads::close_tickets(&mut tx, customer_id, now).await?;
    slots["staff"] = json!(staff);
    let data = json!({
        "contact": { "locale": contact.locale, "first_name": contact.first_name, "customer_type": contact.customer_type },
        "location": { "name": location.name, "state": location.state },
        "slots": slots,
        "channel": "sms",
    });
    let text = assets
        .templates
        .render(template, &contact.locale, Channel::Sms, &data)
        .map_err(|e| StoreError::Corrupt { what: "message template", detail: e.to_string() })?;
    let message = NewOutbound {
        conversation_id: conversation_id.as_deref(),
        location_id: &location.location_id,
        to_phone: &contact.phone,
        purpose: "transactional",
        body: &text,
        reply: None,
    };
    outbox::enqueue(&mut tx, &message, now).await?;
    if let Some(id) = &conversation_id {
        let detail = json!({ "decision": status, "staff": staff });
        conversations::record_event(&mut tx, id, "verification_reviewed", &detail, now).await?;
    }
    tx.commit().await.map_err(StoreError::from)?;
    store.announce(&crate::store::feed::QueueChange::new("resolved", "", crate::uploads::QUEUE)).await;
    Ok(text)
}

/// Locks checkout for every medical customer whose recommendation ended before today in their
/// store's timezone: each gets an `account.locked` event through the pipeline, which holds
/// their orders and texts them an upload link. Returns how many were locked.
///
/// # Errors
/// Database failures (a failed event is logged and retried on the next sweep).
pub async fn sweep(store: &Store, pipeline: &Pipeline, now_ms: i64) -> Result<usize, StoreError> {
    let now = Timestamp::from_millisecond(now_ms).unwrap_or(Timestamp::UNIX_EPOCH);
    // Tomorrow in UTC is on or after "today" everywhere: a superset, checked per timezone.
    let bound =
        now.to_zoned_datetime(TimeZone::UTC).date().tomorrow().map_or_else(|_| String::new(), |d| d.to_string());
    let mut conn = store.pool().acquire().await?;
    let candidates = customers::expiring_medical(&mut conn, &bound).await?;
    drop(conn);
    let mut locked = 0;
    for (customer_id, expires_on, timezone) in candidates {
        let tz = TimeZone::get(&timezone).unwrap_or(TimeZone::UTC);
        let today = now.to_zoned_datetime(tz).date().to_string();
        if expires_on >= today {
            continue; // still valid today where the store is
        }
        let Some(Reach { contact, location, .. }) = reach(&BuiltIn, store, &customer_id).await? else {
            continue;
        };
        let event = PlatformEvent {
            event_type: "account.locked".into(),
            data: [("reason".to_owned(), json!("recommendation_expired"))].into_iter().collect(),
            contact,
            location,
            channel: Channel::Sms,
            receipt: None,
        };
        match pipeline.handle_event(event).await {
            Ok(_) => locked += 1,
            Err(e) => tracing::error!(error = %e, "locking an expired recommendation failed; retrying next sweep"),
        }
    }
    Ok(locked)
}

/// Runs [`sweep`] every `every`, the first time `every` after start (locks happen at midnight;
/// a minute's delay at start changes nothing and keeps start-up quiet).
pub fn spawn_sweeper(store: Store, pipeline: Pipeline, every: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        loop {
            tick.tick().await;
            match sweep(&store, &pipeline, store.now_ms()).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(locked = n, "expired medical recommendations locked"),
                Err(e) => tracing::error!(error = %e, "verification sweep failed"),
            }
        }
    })
}
