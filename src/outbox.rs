//! Durable outbound delivery: a worker takes due outbox rows, passes each through the send gate
//! (consent, quiet hours) and sends it through the provider's REST API with `StatusCallback`.
//!
//! Retries: 5xx, timeouts and network errors are retried with exponential backoff; a 4xx is final
//! (error 21610 also records the carrier opt-out). Nothing is dropped: a held row waits for its
//! window, a blocked or failed one keeps its reason.
//!
//! The window that remains: if the process dies after the provider accepted a message and before
//! the row is marked sent, the row's lease lapses and it is sent again. Twilio's Messages API
//! takes no idempotency key, so this cannot be closed from our side; the lease (60 s) and a
//! mark-sent right after the answer keep it to that instant.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinSet;

use crate::compliance::gate::{self, Verdict};
use crate::metrics::Metrics;
use crate::store::consent::{self, NewConsent, TRANSACTIONAL};
use crate::store::outbox::{self, OutboxRow};
use crate::store::{locations, Store, StoreError};
use crate::twilio::rest::{SendError, Sender, TwilioRest};

/// 64 rows a round: enough to keep a provider busy, small enough to share among workers.
const BATCH: i64 = 64;
/// 60 s: longer than any send (10 s timeout), so only a dead worker's rows are taken back.
const LEASE_MS: i64 = 60_000;
/// 8 attempts: with a 2 s base, the last retry comes about 4 minutes after the first try.
const MAX_ATTEMPTS: i64 = 8;

pub struct Worker {
    pub store: Store,
    pub rest: TwilioRest,
    pub metrics: Arc<Metrics>,
    /// Backoff base: attempt n waits base × 2^(n−1).
    pub retry_base_ms: i64,
}

/// Runs the worker until the task is aborted; `wake` makes it look for work at once.
pub fn spawn(worker: Worker, poll: Duration) -> (Arc<Notify>, tokio::task::JoinHandle<()>) {
    let wake = Arc::new(Notify::new());
    let notified = wake.clone();
    let worker = Arc::new(worker);
    let handle = tokio::spawn(async move {
        loop {
            match deliver_due(&worker, crate::now_ms()).await {
                Ok(0) => {
                    tokio::select! {
                        () = notified.notified() => {}
                        () = tokio::time::sleep(poll) => {}
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::error!(error = %e, "outbox round failed; retrying shortly");
                    tokio::time::sleep(poll).await;
                }
            }
        }
    });
    (wake, handle)
}

/// Claims and delivers one round of due rows; returns how many it handled.
///
/// # Errors
/// When the rows cannot be claimed.
pub async fn deliver_due(worker: &Arc<Worker>, now_ms: i64) -> Result<usize, StoreError> {
    let rows = outbox::claim_due(&worker.store, now_ms, LEASE_MS, BATCH).await?;
    let count = rows.len();
    let mut sends = JoinSet::new();
    for row in rows {
        let worker = worker.clone();
        sends.spawn(async move {
            if let Err(e) = deliver(&worker, &row, now_ms).await {
                tracing::error!(error = %e, outbox_id = %row.outbox_id, "outbox row not settled; its lease will lapse and it is retried");
            }
        });
    }
    while sends.join_next().await.is_some() {}
    Ok(count)
}

async fn deliver(worker: &Worker, row: &OutboxRow, now_ms: i64) -> Result<(), StoreError> {
    let store = &worker.store;
    let Some(location) = locations::get(store, &row.location_id).await? else {
        return settle(worker, row, "failed", now_ms, "the location no longer exists").await;
    };
    let consent = consent::current(store, &row.to_phone).await?;
    match gate::decide(&row.purpose, consent, now_ms, &location.timezone, &location.state) {
        Verdict::Block { reason } => return settle(worker, row, "blocked", now_ms, &reason).await,
        Verdict::Hold { until_ms, reason } => return settle(worker, row, "held", until_ms, &reason).await,
        Verdict::Send => {}
    }
    let sender = match (&location.phone_number, &location.messaging_service_sid) {
        (_, Some(service)) => Sender::MessagingService(service),
        (Some(number), None) => Sender::Number(number),
        (None, None) => return settle(worker, row, "failed", now_ms, "the location has no number to send from").await,
    };
    match worker.rest.send(sender, &row.to_phone, &row.body).await {
        Ok(provider_id) => {
            outbox::mark_sent(store, row, &provider_id).await?;
            worker.metrics.inc("leafdesk_outbox_total", &[("result", "sent")]);
            worker.metrics.inc("leafdesk_messages_total", &[("channel", "sms"), ("direction", "outbound")]);
            Ok(())
        }
        Err(SendError::Rejected { code: Some(21610), .. }) => {
            let mut tx = store.begin().await?;
            let evidence = serde_json::json!({ "outbox_id": row.outbox_id, "error_code": 21610 });
            let consent = NewConsent {
                phone: &row.to_phone,
                purpose: TRANSACTIONAL,
                action: "opt_out",
                source: "carrier_21610",
                evidence,
            };
            consent::record_all_purposes(&mut tx, consent).await?;
            tx.commit().await?;
            settle(worker, row, "blocked", now_ms, "the carrier reports the number opted out (21610)").await
        }
        Err(e @ SendError::Rejected { .. }) => settle(worker, row, "failed", now_ms, &e.to_string()).await,
        Err(e @ SendError::Temporary(_)) if row.attempts >= MAX_ATTEMPTS => {
            settle(worker, row, "failed", now_ms, &format!("gave up after {} attempts: {e}", row.attempts)).await
        }
        Err(e @ SendError::Temporary(_)) => {
            let wait = worker.retry_base_ms.saturating_mul(1 << (row.attempts - 1).clamp(0, 20));
            settle(worker, row, "pending", now_ms + wait, &e.to_string()).await
        }
    }
}

async fn settle(
    worker: &Worker,
    row: &OutboxRow,
    status: &'static str,
    next_ms: i64,
    reason: &str,
) -> Result<(), StoreError> {
    if status != "pending" {
        tracing::info!(outbox_id = %row.outbox_id, %status, %reason, "outbox row settled");
    }
    worker.metrics.inc("leafdesk_outbox_total", &[("result", if status == "pending" { "retry" } else { status })]);
    outbox::release(&worker.store, &row.outbox_id, status, next_ms, reason).await
}
