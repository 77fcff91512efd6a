//! The outbox: messages waiting to be delivered through the provider's REST API.
//!
//! A row is claimed with one conditional update (its outer `where` re-checks the status, so two
//! workers, even in two processes on one PostgreSQL, never take the same row) and holds a lease;
//! a worker that dies mid-send lets the lease lapse and the row is tried again — marked unsure
//! (`unsure_since_ms`), so the worker first asks the provider whether the message went out.
//! Once the provider accepted a message the row is settled `sent`, whatever else fails.

use sqlx::FromRow;

use super::{Store, StoreError, Tx};

pub struct NewOutbound<'a> {
    pub conversation_id: Option<&'a str>,
    pub location_id: &'a str,
    pub to_phone: &'a str,
    /// `transactional` or `marketing`: decides which consent the send gate asks for.
    pub purpose: &'a str,
    pub body: &'a str,
    /// A person's reply from a ticket (the bot's messages have none).
    pub reply: Option<StaffReply<'a>>,
}

/// Who wrote an outbound message that a person, not the bot, sent.
#[derive(Debug, Clone, Copy)]
pub struct StaffReply<'a> {
    pub ticket_id: &'a str,
    /// The staff member's display name, as transcripts show it.
    pub author: &'a str,
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
    /// Since when this row's last send has an unknown outcome (its answer was lost).
    pub unsure_since_ms: Option<i64>,
}

const INSERT: &str = "insert into outbox (outbox_id, conversation_id, location_id, to_phone, purpose, body, status,
        next_attempt_at_ms, created_at_ms, ticket_id, author) values ($1, $2, $3, $4, $5, $6, 'pending', $7, $7, $8, $9)";
// A row taken back from a lapsed lease was being sent when its worker stopped: its outcome is
// unknown since that send began (the lease's start). A campaign's rows go only while it is
// sending: paused, they wait; cancelled, they are settled `cancelled`.
// The due rows are read per status in the index's order (`outbox_due`), each with the limit,
// then merged: one `or` over the statuses made SQLite gather and sort every due row on every
// round, which a 100,000-text campaign turned into most of the worker's time.
const CLAIM: &str = "update outbox set status = 'sending', locked_until_ms = $2, attempts = attempts + 1,
        unsure_since_ms = case when status = 'sending' then coalesce(unsure_since_ms, locked_until_ms - $4)
            else unsure_since_ms end
    where outbox_id in (
        select outbox_id from (
            select outbox_id, next_attempt_at_ms from (
                select outbox_id, next_attempt_at_ms from outbox o
                where o.status = 'pending' and o.next_attempt_at_ms <= $1 and (o.campaign_id is null or exists (
                    select 1 from campaign c where c.campaign_id = o.campaign_id and c.status = 'sending'))
                order by o.next_attempt_at_ms limit $3) p
            union all
            select outbox_id, next_attempt_at_ms from (
                select outbox_id, next_attempt_at_ms from outbox o
                where o.status = 'held' and o.next_attempt_at_ms <= $1 and (o.campaign_id is null or exists (
                    select 1 from campaign c where c.campaign_id = o.campaign_id and c.status = 'sending'))
                order by o.next_attempt_at_ms limit $3) h
            union all
            select outbox_id, next_attempt_at_ms from (
                select outbox_id, next_attempt_at_ms from outbox o
                where o.status = 'sending' and o.locked_until_ms < $1
                order by o.next_attempt_at_ms limit $3) s
        ) due order by next_attempt_at_ms limit $3)
      and ((status in ('pending', 'held') and next_attempt_at_ms <= $1) or (status = 'sending' and locked_until_ms < $1))
    returning outbox_id, conversation_id, location_id, to_phone, purpose, body, status, attempts, next_attempt_at_ms,
        provider_id, reason, unsure_since_ms";
const SENT: &str = "update outbox set status = 'sent', provider_id = $2, sent_at_ms = $3, locked_until_ms = null,
        reason = null, unsure_since_ms = null where outbox_id = $1 and status = 'sending'";
const SET_STATUS: &str = "update outbox set status = $2, next_attempt_at_ms = $3, reason = $4, locked_until_ms = null,
        unsure_since_ms = $5 where outbox_id = $1 and status = 'sending'";
// A provider that gives one sid twice must not make us lose the acceptance (nor send again).
const FILE_SENT: &str =
    "insert into message (message_id, conversation_id, direction, channel, provider_id, body, status,
        created_at_ms, updated_at_ms, ticket_id, author)
    select $1, $2, 'outbound', 'sms', $3, $4, 'queued', $5, $5, o.ticket_id, o.author from outbox o where o.outbox_id = $6
    on conflict do nothing";
// A delivery report for a row whose send answer was lost: the provider had it after all.
const ADOPT: &str = "update outbox set status = 'sent', provider_id = $2, sent_at_ms = $3, locked_until_ms = null,
        reason = null, unsure_since_ms = null
    where outbox_id = $1 and provider_id is null and status in ('pending', 'held', 'sending', 'failed')
    returning outbox_id, conversation_id, location_id, to_phone, purpose, body, status, attempts, next_attempt_at_ms,
        provider_id, reason, unsure_since_ms";
const LIST: &str = "select outbox_id, conversation_id, location_id, to_phone, purpose, body, status, attempts,
        next_attempt_at_ms, provider_id, reason, unsure_since_ms from outbox order by created_at_ms desc limit $1";

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
        .bind(m.reply.map(|r| r.ticket_id))
        .bind(m.reply.map(|r| r.author))
        .execute(&mut **tx)
        .await?;
    Ok(id)
}

/// A campaign's text for one recipient.
pub struct CampaignText<'a> {
    /// `store::campaigns::outbox_id` of the campaign and number.
    pub outbox_id: String,
    pub to_phone: &'a str,
    pub body: String,
}

/// Queues a batch of one campaign's texts in the caller's transaction, in one statement (the
/// recipients are claimed in the same transaction).
///
/// # Errors
/// Database failures.
pub async fn enqueue_campaign(
    tx: &mut Tx<'_>,
    campaign_id: &str,
    location_id: &str,
    texts: &[CampaignText<'_>],
    now_ms: i64,
) -> Result<(), StoreError> {
    if texts.is_empty() {
        return Ok(());
    }
    let mut marks = super::Placeholders::for_tx(tx);
    let rows: Vec<String> =
        texts.iter().map(|_| format!("({}, 'marketing', 'pending', {})", marks.list(4), marks.list(3))).collect();
    let sql = format!(
        "insert into outbox (outbox_id, to_phone, body, location_id, purpose, status, next_attempt_at_ms, created_at_ms,
            campaign_id) values {}",
        rows.join(", ")
    );
    let mut query = sqlx::query(&sql);
    for t in texts {
        query = query
            .bind(&t.outbox_id)
            .bind(t.to_phone)
            .bind(&t.body)
            .bind(location_id)
            .bind(now_ms)
            .bind(now_ms)
            .bind(campaign_id);
    }
    query.execute(&mut **tx).await?;
    Ok(())
}

/// Stops a cancelled campaign's rows that have not gone out: `cancelled`, with the reason.
/// Returns how many.
///
/// # Errors
/// Database failures.
pub async fn cancel_campaign(tx: &mut Tx<'_>, campaign_id: &str, reason: &str) -> Result<u64, StoreError> {
    let done = sqlx::query(
        "update outbox set status = 'cancelled', reason = $2, locked_until_ms = null
        where campaign_id = $1 and status in ('pending', 'held')",
    )
    .bind(campaign_id)
    .bind(reason)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected())
}

/// Records a delivery report on the row that sent `provider_id`, never moving it backwards
/// (`rank` from [`super::messages::status_rank`]).
///
/// # Errors
/// Database failures.
pub async fn record_delivery(tx: &mut Tx<'_>, provider_id: &str, status: &str, rank: i64) -> Result<(), StoreError> {
    sqlx::query(
        "update outbox set delivery = $2, delivery_rank = $3
        where provider_id = $1 and coalesce(delivery_rank, -1) < $3",
    )
    .bind(provider_id)
    .bind(status)
    .bind(rank)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Claims up to `limit` due rows (and rows whose sending lease lapsed) for `lease_ms`.
///
/// # Errors
/// Database failures.
#[tracing::instrument(skip_all)]
pub async fn claim_due(store: &Store, now_ms: i64, lease_ms: i64, limit: i64) -> Result<Vec<OutboxRow>, StoreError> {
    Ok(sqlx::query_as(CLAIM)
        .bind(now_ms)
        .bind(now_ms + lease_ms)
        .bind(limit)
        .bind(lease_ms)
        .fetch_all(store.pool())
        .await?)
}

/// What became of a claimed row.
#[derive(Debug, Clone)]
pub enum Settled {
    /// The provider accepted it with this id.
    Sent(String),
    /// Back to `pending` (retry), `held`, `blocked` or `failed`, due at `next_ms`, with why;
    /// `unsure` when this attempt's outcome is unknown (the provider may have it).
    Release { status: &'static str, next_ms: i64, reason: String, unsure: bool },
    /// The carrier reports the number opted out (21610): blocked, and recorded in the ledger.
    CarrierOptOut,
}

/// Settles a round of claimed rows in one transaction: sent rows are filed in their
/// conversation's transcript (where status callbacks find them by provider id), released
/// rows keep their reason, carrier opt-outs go to the consent ledger. When the round's
/// transaction fails, each row is settled alone, so one bad row cannot un-send the others.
/// Returns the rows that could not be settled (their leases lapse; they are then looked up at
/// the provider before any new send).
///
/// # Errors
/// Never for one row's failure (it is returned); database failures opening a transaction.
#[tracing::instrument(skip_all, fields(count = outcomes.len()))]
pub async fn settle(store: &Store, outcomes: &[(OutboxRow, Settled)]) -> Result<Vec<String>, StoreError> {
    let now = store.now_ms();
    let mut tx = store.begin().await?;
    let mut whole = Ok(());
    for (row, outcome) in outcomes {
        whole = settle_one(&mut tx, row, outcome, now).await;
        if whole.is_err() {
            break;
        }
    }
    if whole.is_ok() && tx.commit().await.is_ok() {
        return Ok(Vec::new());
    }
    let mut unsettled = Vec::new();
    for (row, outcome) in outcomes {
        let mut tx = store.begin().await?;
        let alone = match settle_one(&mut tx, row, outcome, now).await {
            Ok(()) => tx.commit().await.map_err(StoreError::from),
            Err(e) => Err(e),
        };
        if let Err(e) = alone {
            tracing::error!(error = %e, outbox_id = %row.outbox_id, "an outbox row could not be settled");
            unsettled.push(row.outbox_id.clone());
        }
    }
    Ok(unsettled)
}

async fn settle_one(tx: &mut Tx<'_>, row: &OutboxRow, outcome: &Settled, now: i64) -> Result<(), StoreError> {
    match outcome {
        Settled::Sent(provider_id) => {
            // The acceptance first: whatever fails after it, the row is never sent again.
            sqlx::query(SENT).bind(&row.outbox_id).bind(provider_id).bind(now).execute(&mut **tx).await?;
            file_sent(tx, row, provider_id, now).await?;
        }
        Settled::Release { status, next_ms, reason, unsure } => {
            sqlx::query(SET_STATUS)
                .bind(&row.outbox_id)
                .bind(*status)
                .bind(*next_ms)
                .bind(reason)
                .bind(unsure.then_some(now))
                .execute(&mut **tx)
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
            super::consent::record_all_purposes(tx, consent, now).await?;
            let reason = "the carrier reports the number opted out (21610)";
            sqlx::query(SET_STATUS)
                .bind(&row.outbox_id)
                .bind("blocked")
                .bind(now)
                .bind(reason)
                .bind(None::<i64>)
                .execute(&mut **tx)
                .await?;
        }
    }
    Ok(())
}

/// A sent row into its conversation's transcript, where status callbacks find it.
async fn file_sent(tx: &mut Tx<'_>, row: &OutboxRow, provider_id: &str, now: i64) -> Result<(), StoreError> {
    if let Some(conversation_id) = &row.conversation_id {
        sqlx::query(FILE_SENT)
            .bind(crate::new_id())
            .bind(conversation_id)
            .bind(provider_id)
            .bind(&row.body)
            .bind(now)
            .bind(&row.outbox_id)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// A delivery report names outbox row `outbox_id` (from its `StatusCallback`) with the
/// provider's id: if the row never learnt it (its send's answer was lost), it is settled sent
/// now and never sent again. `true` when a row was settled.
///
/// # Errors
/// Database failures.
pub async fn adopt(tx: &mut Tx<'_>, outbox_id: &str, provider_id: &str, now_ms: i64) -> Result<bool, StoreError> {
    let row: Option<OutboxRow> =
        sqlx::query_as(ADOPT).bind(outbox_id).bind(provider_id).bind(now_ms).fetch_optional(&mut **tx).await?;
    match row {
        Some(row) => {
            file_sent(tx, &row, provider_id, now_ms).await?;
            Ok(true)
        }
        None => Ok(false),
    }
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
            provider_id, reason, unsure_since_ms from outbox where outbox_id = $1",
    )
    .bind(outbox_id)
    .fetch_optional(store.pool())
    .await?)
}

/// A text leafdesk queued for a number, and what became of it: for the evidence pack.
#[derive(Debug, Clone, FromRow, serde::Serialize)]
pub struct SentText {
    pub outbox_id: String,
    pub purpose: String,
    pub body: String,
    /// `pending`, `held`, `sending`, `sent`, `blocked` or `failed`: the send gate's decision
    /// and the send's outcome.
    pub status: String,
    /// Why it was held, blocked or failed.
    pub reason: Option<String>,
    pub created_at_ms: i64,
    pub sent_at_ms: Option<i64>,
    pub provider_id: Option<String>,
    /// The carrier's last word on it (`delivered`, `undelivered`…), from status callbacks.
    pub delivery: Option<String>,
}

/// Every text of `purpose` queued for `phone`, oldest first.
///
/// # Errors
/// Database failures.
pub async fn texts_to(store: &Store, phone: &str, purpose: &str) -> Result<Vec<SentText>, StoreError> {
    Ok(sqlx::query_as(
        "select o.outbox_id, o.purpose, o.body, o.status, o.reason, o.created_at_ms, o.sent_at_ms, o.provider_id,
            o.delivery
        from outbox o
        where o.to_phone = $1 and o.purpose = $2 order by o.created_at_ms, o.outbox_id",
    )
    .bind(phone)
    .bind(purpose)
    .fetch_all(store.pool())
    .await?)
}
