//! The outbox: messages waiting to be delivered through the provider's REST API.
//!
//! A row is claimed with one conditional update (its outer `where` re-checks the status, so two
//! workers, even in two processes on one PostgreSQL, never take the same row) and holds a lease;
//! a worker that dies mid-send lets the lease lapse and the row is tried again.

use sqlx::FromRow;

use super::{Store, StoreError, Tx};

pub struct NewOutbound<'a> {
    pub conversation_id: Option<&'a str>,
    pub location_id: &'a str,
    pub to_phone: &'a str,
    /// `transactional` or `marketing`: decides which consent the send gate asks for.
    pub purpose: &'a str,
    pub body: &'a str,
}

#[derive(Debug, Clone, FromRow, serde::Serialize)]
pub struct OutboxRow {
    pub outbox_id: String,
    pub conversation_id: Option<String>,
    pub location_id: String,
    pub to_phone: String,
    pub purpose: String,
    pub body: String,
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at_ms: i64,
    pub provider_id: Option<String>,
    pub reason: Option<String>,
}

const INSERT: &str = "insert into outbox (outbox_id, conversation_id, location_id, to_phone, purpose, body, status,
        next_attempt_at_ms, created_at_ms) values ($1, $2, $3, $4, $5, $6, 'pending', $7, $7)";
const CLAIM: &str = "update outbox set status = 'sending', locked_until_ms = $2, attempts = attempts + 1
    where outbox_id in (
        select outbox_id from outbox
        where (status in ('pending', 'held') and next_attempt_at_ms <= $1) or (status = 'sending' and locked_until_ms < $1)
        order by next_attempt_at_ms limit $3)
      and ((status in ('pending', 'held') and next_attempt_at_ms <= $1) or (status = 'sending' and locked_until_ms < $1))
    returning outbox_id, conversation_id, location_id, to_phone, purpose, body, status, attempts, next_attempt_at_ms,
        provider_id, reason";
const SENT: &str = "update outbox set status = 'sent', provider_id = $2, sent_at_ms = $3, locked_until_ms = null,
        reason = null where outbox_id = $1 and status = 'sending'";
const SET_STATUS: &str = "update outbox set status = $2, next_attempt_at_ms = $3, reason = $4, locked_until_ms = null
    where outbox_id = $1 and status = 'sending'";
const FILE_SENT: &str =
    "insert into message (message_id, conversation_id, direction, channel, provider_id, body, status,
        created_at_ms, updated_at_ms) values ($1, $2, 'outbound', 'sms', $3, $4, 'queued', $5, $5)";
const LIST: &str = "select outbox_id, conversation_id, location_id, to_phone, purpose, body, status, attempts,
        next_attempt_at_ms, provider_id, reason from outbox order by created_at_ms desc limit $1";

/// Queues a message in the caller's transaction, so it exists exactly when its cause does.
///
/// # Errors
/// Database failures.
#[tracing::instrument(skip_all, fields(purpose = m.purpose))]
pub async fn enqueue(tx: &mut Tx<'_>, m: &NewOutbound<'_>, now_ms: i64) -> Result<String, StoreError> {
    let id = crate::new_id();
    sqlx::query(INSERT)
        .bind(&id)
        .bind(m.conversation_id)
        .bind(m.location_id)
        .bind(m.to_phone)
        .bind(m.purpose)
        .bind(m.body)
        .bind(now_ms)
        .execute(&mut **tx)
        .await?;
    Ok(id)
}

/// Claims up to `limit` due rows (and rows whose sending lease lapsed) for `lease_ms`.
///
/// # Errors
/// Database failures.
#[tracing::instrument(skip_all)]
pub async fn claim_due(store: &Store, now_ms: i64, lease_ms: i64, limit: i64) -> Result<Vec<OutboxRow>, StoreError> {
    Ok(sqlx::query_as(CLAIM).bind(now_ms).bind(now_ms + lease_ms).bind(limit).fetch_all(store.pool()).await?)
}

/// What became of a claimed row.
pub enum Settled {
    /// The provider accepted it with this id.
    Sent(String),
    /// Back to `pending` (retry), `held`, `blocked` or `failed`, due at `next_ms`, with why.
    Release { status: &'static str, next_ms: i64, reason: String },
    /// The carrier reports the number opted out (21610): blocked, and recorded in the ledger.
    CarrierOptOut,
}

/// Settles a round of claimed rows in one transaction: sent rows are filed in their
/// conversation's transcript (where status callbacks find them by provider id), released
/// rows keep their reason, carrier opt-outs go to the consent ledger.
///
/// # Errors
/// Database failures (the rows' leases then lapse and they are tried again).
#[tracing::instrument(skip_all, fields(count = outcomes.len()))]
pub async fn settle(store: &Store, outcomes: &[(OutboxRow, Settled)]) -> Result<(), StoreError> {
    let mut tx = store.begin().await?;
    let now = store.now_ms();
    for (row, outcome) in outcomes {
        match outcome {
            Settled::Sent(provider_id) => {
                sqlx::query(SENT).bind(&row.outbox_id).bind(provider_id).bind(now).execute(&mut *tx).await?;
                if let Some(conversation_id) = &row.conversation_id {
                    sqlx::query(FILE_SENT)
                        .bind(crate::new_id())
                        .bind(conversation_id)
                        .bind(provider_id)
                        .bind(&row.body)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                }
            }
            Settled::Release { status, next_ms, reason } => {
                sqlx::query(SET_STATUS)
                    .bind(&row.outbox_id)
                    .bind(*status)
                    .bind(*next_ms)
                    .bind(reason)
                    .execute(&mut *tx)
                    .await?;
            }
            Settled::CarrierOptOut => {
                let evidence = serde_json::json!({ "outbox_id": row.outbox_id, "error_code": 21610 });
                let consent = super::consent::NewConsent {
                    phone: &row.to_phone,
                    purpose: super::consent::TRANSACTIONAL,
                    action: "opt_out",
                    source: "carrier_21610",
                    evidence,
                };
                super::consent::record_all_purposes(&mut tx, consent, now).await?;
                let reason = "the carrier reports the number opted out (21610)";
                sqlx::query(SET_STATUS)
                    .bind(&row.outbox_id)
                    .bind("blocked")
                    .bind(now)
                    .bind(reason)
                    .execute(&mut *tx)
                    .await?;
            }
        }
    }
    tx.commit().await?;
    Ok(())
}

/// When marketing texts were sent to `phone` since `since_ms` (for state frequency caps).
///
/// # Errors
/// Database failures.
pub async fn marketing_sent_since(store: &Store, phone: &str, since_ms: i64) -> Result<Vec<i64>, StoreError> {
    let rows: Vec<(i64,)> = sqlx::query_as(
        "select sent_at_ms from outbox where to_phone = $1 and purpose = 'marketing' and status = 'sent' and sent_at_ms > $2",
    )
    .bind(phone)
    .bind(since_ms)
    .fetch_all(store.pool())
    .await?;
    Ok(rows.into_iter().map(|(at,)| at).collect())
}

/// The newest rows, for operators.
///
/// # Errors
/// Database failures.
pub async fn list(store: &Store, limit: i64) -> Result<Vec<OutboxRow>, StoreError> {
    Ok(sqlx::query_as(LIST).bind(limit).fetch_all(store.pool()).await?)
}

/// # Errors
/// Database failures.
pub async fn find(store: &Store, outbox_id: &str) -> Result<Option<OutboxRow>, StoreError> {
    Ok(sqlx::query_as(
        "select outbox_id, conversation_id, location_id, to_phone, purpose, body, status, attempts, next_attempt_at_ms,
            provider_id, reason from outbox where outbox_id = $1",
    )
    .bind(outbox_id)
    .fetch_optional(store.pool())
    .await?)
}
