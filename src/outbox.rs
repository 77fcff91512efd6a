//! Durable outbound delivery: a worker takes due outbox rows, passes each through the send gate
//! (consent, quiet hours) and sends it through the provider's REST API with `StatusCallback`.
//!
//! Retries: 5xx and unreachable providers are retried with exponential backoff, at most
//! [`MAX_ATTEMPTS`] times for any kind of failure; a 4xx is final (error 21610 also records the
//! carrier opt-out). Nothing is dropped: a held row waits for its window, a blocked or failed one
//! keeps its reason.
//!
//! Never twice: Twilio's Messages API takes no idempotency key, so a send whose answer was lost
//! (a timeout, a broken connection, or a worker that died mid-send and whose lease lapsed) is
//! marked unsure, and before it is sent again the provider's message list is searched for it
//! (same recipient and text, created since); found, the row is settled sent with that id. If
//! the provider cannot be asked, a transactional text waits and asks again; a marketing text is
//! never resent on a guess, it fails. The `StatusCallback` also carries the row's id, so a
//! delivery report settles such a row too. And once the provider accepted, the acceptance is
//! recorded first: a row whose recording fails is logged and counted, never resent blindly.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinSet;

use crate::compliance::gate::{self, Recipient, Verdict};
use crate::domain::mask_phones;
use crate::metrics::Metrics;
use crate::store::consent::{self, GateInputs};
use crate::store::locations::{self, Location};
use crate::store::outbox::{self, OutboxRow, Settled};
use crate::store::{Store, StoreError};
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
            match deliver_due(&worker, worker.store.now_ms()).await {
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

/// Claims one round of due rows, sends them concurrently, and settles them all in one
/// transaction; returns how many it handled.
///
/// # Errors
/// When the rows cannot be claimed or settled (unsettled rows are retried when their lease
/// lapses).
pub async fn deliver_due(worker: &Arc<Worker>, now_ms: i64) -> Result<usize, StoreError> {
    let rows = outbox::claim_due(&worker.store, now_ms, LEASE_MS, BATCH).await?;
    if rows.is_empty() {
        return Ok(0);
    }
    let mut places: HashMap<String, Option<Arc<Location>>> = HashMap::new();
    for row in &rows {
        if !places.contains_key(&row.location_id) {
            let found = locations::get(&worker.store, &row.location_id).await?.map(Arc::new);
            places.insert(row.location_id.clone(), found);
        }
    }
    let phones: Vec<&str> = rows.iter().map(|r| r.to_phone.as_str()).collect();
    let inputs = consent::gate_inputs(&worker.store, &phones).await?;
    let mut sends = JoinSet::new();
    for row in rows {
        let (worker, location) = (worker.clone(), places[&row.location_id].clone());
        let gate = inputs.get(&row.to_phone).cloned().unwrap_or_default();
        sends.spawn(async move {
            let outcome = deliver(&worker, &row, location.as_deref(), &gate, now_ms).await;
            (row, outcome)
        });
    }
    let mut outcomes = Vec::new();
    while let Some(done) = sends.join_next().await {
        match done {
            Ok((row, Ok(outcome))) => {
                count(worker, &outcome);
                outcomes.push((row, outcome));
            }
            Ok((row, Err(e))) => {
                tracing::error!(error = %e, outbox_id = %row.outbox_id, "outbox row not settled; its lease will lapse")
            }
            Err(e) => tracing::error!(error = %e, "outbox send task failed"),
        }
    }
    let unsettled = outbox::settle(&worker.store, &outcomes).await?;
    if !unsettled.is_empty() {
        worker.metrics.add("leafdesk_outbox_settle_failures_total", &[], unsettled.len() as u64);
    }
    Ok(outcomes.len())
}

fn count(worker: &Worker, outcome: &Settled) {
    let result = match outcome {
        Settled::Sent(_) => {
            worker.metrics.inc("leafdesk_messages_total", &[("channel", "sms"), ("direction", "outbound")]);
            "sent"
        }
        Settled::Release { status: "pending", .. } => "retry",
        Settled::Release { status, .. } => {
            tracing::info!(%status, "outbox row settled");
            status
        }
        Settled::CarrierOptOut => "blocked",
    };
    worker.metrics.inc("leafdesk_outbox_total", &[("result", result)]);
}

/// Gate, then send: what became of one row.
async fn deliver(
    worker: &Worker,
    row: &OutboxRow,
    location: Option<&Location>,
    gate: &GateInputs,
    now_ms: i64,
) -> Result<Settled, StoreError> {
    let release = |status, next_ms, reason: &str| {
        Ok(Settled::Release { status, next_ms, reason: mask_phones(reason), unsure: false })
    };
    if row.attempts > MAX_ATTEMPTS {
        let reason = format!("gave up after {MAX_ATTEMPTS} attempts");
        return release("failed", now_ms, &reason);
    }
    let Some(location) = location else { return release("failed", now_ms, "the location no longer exists") };
    let recipient = Recipient::locate(
        &row.to_phone,
        gate.place.state.as_deref(),
        gate.place.timezone.as_deref(),
        &location.state,
        &location.timezone,
    );
    let recent = match gate::frequency_cap(&recipient) {
        Some(_) if row.purpose == "marketing" => {
            outbox::marketing_sent_since(&worker.store, &row.to_phone, now_ms - gate::DAY_MS).await?
        }
        _ => Vec::new(),
    };
    let verdict = if row.to_phone.starts_with(crate::domain::VISITOR_PREFIX) {
        // A web visitor who never gave a number: nothing to text.
        gate::Verdict::Block { reason: "a web visitor without a phone number cannot be texted".into() }
    } else {
        gate::decide(&row.purpose, gate.consent, now_ms, &recipient, &recent)
    };
    match verdict {
        Verdict::Block { reason } => return release("blocked", now_ms, &reason),
        Verdict::Hold { until_ms, reason } => return release("held", until_ms, &reason),
        Verdict::Send => {}
    }
    let sender = match (&location.phone_number, &location.messaging_service_sid) {
        (_, Some(service)) => Sender::MessagingService(service),
        (Some(number), None) => Sender::Number(number),
        (None, None) => return release("failed", now_ms, "the location has no number to send from"),
    };
    if let Some(since) = row.unsure_since_ms {
        match worker.rest.find_sent(&row.to_phone, &row.body, since).await {
            Ok(Some(provider_id)) => {
                tracing::info!(outbox_id = %row.outbox_id, "a send whose answer was lost had reached the provider");
                return Ok(Settled::Sent(provider_id));
            }
            Ok(None) => {} // the provider has no such message: sending now is not a second copy
            Err(e) if row.purpose == "marketing" => {
                let reason = format!("the first send's answer was lost and the provider could not be asked ({e}); marketing is never sent twice on a guess");
                return release("failed", now_ms, &reason);
            }
            Err(e) => {
                let reason = format!("the first send's answer was lost; asking the provider failed ({e})");
                return Ok(Settled::Release {
                    status: "pending",
                    next_ms: now_ms + backoff(worker, row),
                    reason,
                    unsure: true,
                });
            }
        }
    }
    match worker.rest.send(sender, &row.to_phone, &row.body, &row.outbox_id).await {
        Ok(provider_id) => Ok(Settled::Sent(provider_id)),
        Err(SendError::Rejected { code: Some(21610), .. }) => Ok(Settled::CarrierOptOut),
        Err(e @ SendError::Rejected { .. }) => {
            let SendError::Rejected { message, .. } = &e else { unreachable!("matched above") };
            release("failed", now_ms, &format!("{e}: {message}"))
        }
        Err(e) if row.attempts >= MAX_ATTEMPTS => {
            release("failed", now_ms, &format!("gave up after {} attempts: {e}", row.attempts))
        }
        Err(e @ SendError::Temporary(_)) => release("pending", now_ms + backoff(worker, row), &e.to_string()),
        Err(e @ SendError::Unknown(_)) => Ok(Settled::Release {
            status: "pending",
            next_ms: now_ms + backoff(worker, row),
            reason: e.to_string(),
            unsure: true,
        }),
    }
}

/// Attempt n waits base × 2^(n−1).
fn backoff(worker: &Worker, row: &OutboxRow) -> i64 {
    worker.retry_base_ms.saturating_mul(1 << (row.attempts - 1).clamp(0, 20))
}
