//! The TCPA consent ledger: append-only events with evidence (the database refuses updates and
//! deletes), and the current consent per number and purpose, updated in the same transaction.

use sqlx::FromRow;

use super::contacts::Place;
use super::{Placeholders, Store, StoreError, Tx};

pub const TRANSACTIONAL: &str = "transactional";
pub const MARKETING: &str = "marketing";

pub struct NewConsent<'a> {
    pub phone: &'a str,
    pub purpose: &'a str,
    /// `opt_in` or `opt_out`.
    pub action: &'a str,
    pub source: &'a str,
    pub evidence: serde_json::Value,
}

#[derive(Debug, Clone, FromRow, serde::Serialize)]
pub struct ConsentEvent {
    pub consent_event_id: String,
    pub phone: String,
    pub purpose: String,
    pub action: String,
    pub source: String,
    pub evidence: String,
    pub created_at_ms: i64,
}

const INSERT_EVENT: &str = "insert into consent_event (consent_event_id, phone, purpose, action, source, evidence,
        created_at_ms) values ($1, $2, $3, $4, $5, $6, $7)";
const UPSERT_CURRENT: &str = "insert into consent_current (phone, purpose, status, consent_event_id, updated_at_ms)
    values ($1, $2, $3, $4, $5)
    on conflict (phone, purpose) do update set status = excluded.status, consent_event_id = excluded.consent_event_id,
        updated_at_ms = excluded.updated_at_ms";
const OPTED_OUT_PREFIX: &str =
    "select phone from consent_current where purpose = 'transactional' and status = 'opted_out'
    and phone in ";
const CONFIRMATION_SENT: &str = "select confirmation_sent_at_ms from consent_current where phone = $1 and purpose = $2";
const MARK_CONFIRMATION: &str =
    "update consent_current set confirmation_sent_at_ms = $3 where phone = $1 and purpose = $2";
const HISTORY: &str =
    "select consent_event_id, phone, purpose, action, source, evidence, created_at_ms from consent_event
    where phone = $1 order by created_at_ms, consent_event_id";

/// Appends an event and moves the current consent to match, in the caller's transaction.
///
/// # Errors
/// Database failures.
#[tracing::instrument(skip_all, fields(purpose = c.purpose, action = c.action, source = c.source))]
pub async fn record(tx: &mut Tx<'_>, c: &NewConsent<'_>) -> Result<(), StoreError> {
    let id = crate::new_id();
    let now = crate::now_ms();
    sqlx::query(INSERT_EVENT)
        .bind(&id)
        .bind(c.phone)
        .bind(c.purpose)
        .bind(c.action)
        .bind(c.source)
        .bind(c.evidence.to_string())
        .bind(now)
        .execute(&mut **tx)
        .await?;
    let status = if c.action == "opt_out" { "opted_out" } else { "opted_in" };
    sqlx::query(UPSERT_CURRENT)
        .bind(c.phone)
        .bind(c.purpose)
        .bind(status)
        .bind(&id)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Records the same action for both purposes (a revocation covers everything we send).
///
/// # Errors
/// Database failures.
pub async fn record_all_purposes(tx: &mut Tx<'_>, c: NewConsent<'_>) -> Result<(), StoreError> {
    for purpose in [TRANSACTIONAL, MARKETING] {
        record(tx, &NewConsent { purpose, evidence: c.evidence.clone(), ..c }).await?;
    }
    Ok(())
}

/// Which of these numbers have opted out of everything we send.
///
/// # Errors
/// Database failures.
pub async fn opted_out_among(tx: &mut Tx<'_>, phones: &[&str]) -> Result<Vec<String>, StoreError> {
    if phones.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!("{OPTED_OUT_PREFIX}({})", Placeholders::for_tx(tx).list(phones.len()));
    let mut query = sqlx::query_as::<_, (String,)>(&sql);
    for phone in phones {
        query = query.bind(*phone);
    }
    Ok(query.fetch_all(&mut **tx).await?.into_iter().map(|(p,)| p).collect())
}

/// When the opt-out confirmation was last sent to `phone`, if ever.
///
/// # Errors
/// Database failures.
pub async fn confirmation_sent_at(tx: &mut Tx<'_>, phone: &str) -> Result<Option<i64>, StoreError> {
    let row: Option<(Option<i64>,)> =
        sqlx::query_as(CONFIRMATION_SENT).bind(phone).bind(TRANSACTIONAL).fetch_optional(&mut **tx).await?;
    Ok(row.and_then(|(at,)| at))
}

/// # Errors
/// Database failures.
pub async fn mark_confirmation_sent(tx: &mut Tx<'_>, phone: &str, at_ms: i64) -> Result<(), StoreError> {
    sqlx::query(MARK_CONFIRMATION).bind(phone).bind(TRANSACTIONAL).bind(at_ms).execute(&mut **tx).await?;
    Ok(())
}

/// Every consent event of a number, oldest first, with its evidence.
///
/// # Errors
/// Database failures.
pub async fn history(store: &Store, phone: &str) -> Result<Vec<ConsentEvent>, StoreError> {
    Ok(sqlx::query_as(HISTORY).bind(phone).fetch_all(store.pool()).await?)
}

/// The number's current consent, as the send gate needs it.
///
/// # Errors
/// Database failures.
pub async fn current(store: &Store, phone: &str) -> Result<crate::compliance::gate::Consent, StoreError> {
    Ok(gate_inputs(store, phone, false).await?.0)
}

const GATE_INPUTS: &str = "select purpose, status, null as state, null as timezone
        from consent_current where phone = $1
    union all
    select null, null, state, timezone from contact where phone = $1 and $2 = 1";

/// The number's current consent and, with `with_place`, where its contact lives: what the
/// send gate needs for one message, in one read.
///
/// # Errors
/// Database failures.
pub async fn gate_inputs(
    store: &Store,
    phone: &str,
    with_place: bool,
) -> Result<(crate::compliance::gate::Consent, Place), StoreError> {
    type Row = (Option<String>, Option<String>, Option<String>, Option<String>);
    let rows: Vec<Row> =
        sqlx::query_as(GATE_INPUTS).bind(phone).bind(i64::from(with_place)).fetch_all(store.pool()).await?;
    let status =
        |purpose: &str| rows.iter().find(|(p, ..)| p.as_deref() == Some(purpose)).and_then(|(_, s, ..)| s.as_deref());
    let consent = crate::compliance::gate::Consent {
        opted_out: status(TRANSACTIONAL) == Some("opted_out"),
        marketing_opted_in: status(MARKETING) == Some("opted_in"),
    };
    let place = rows
        .iter()
        .find(|(p, ..)| p.is_none())
        .map(|(_, _, state, timezone)| Place { state: state.clone(), timezone: timezone.clone() })
        .unwrap_or_default();
    Ok((consent, place))
}

/// One line of a consent export: a number's current consent for a purpose and how it was given.
#[derive(Debug, Clone, FromRow)]
pub struct ExportRow {
    pub phone: String,
    pub purpose: String,
    pub status: String,
    pub updated_at_ms: i64,
    pub source: String,
    pub evidence: String,
}

const EXPORT: &str = "select c.phone, c.purpose, c.status, c.updated_at_ms, e.source, e.evidence
    from consent_current c join consent_event e on e.consent_event_id = c.consent_event_id
    where c.purpose = $1 order by c.phone";
const EXPORT_STATUS: &str = "select c.phone, c.purpose, c.status, c.updated_at_ms, e.source, e.evidence
    from consent_current c join consent_event e on e.consent_event_id = c.consent_event_id
    where c.purpose = $1 and c.status = $2 order by c.phone";

/// Streams current consent for a purpose (optionally one status) row by row: memory stays flat
/// however many numbers there are.
pub fn export<'a>(
    store: &'a Store,
    purpose: &'a str,
    status: Option<&'a str>,
) -> futures_util::stream::BoxStream<'a, Result<ExportRow, sqlx::Error>> {
    match status {
        Some(status) => sqlx::query_as(EXPORT_STATUS).bind(purpose).bind(status).fetch(store.pool()),
        None => sqlx::query_as(EXPORT).bind(purpose).fetch(store.pool()),
    }
}

/// Step 1 of double opt-in: what the person submitted on the web form, and what they saw.
pub struct NewRequest<'a> {
    pub phone: &'a str,
    pub purpose: &'a str,
    pub location_id: &'a str,
    pub disclosure_version: &'a str,
    pub disclosure_text: &'a str,
    pub ip: &'a str,
    pub user_agent: &'a str,
}

#[derive(Debug, Clone, FromRow, serde::Serialize)]
pub struct Request {
    pub request_id: String,
    pub phone: String,
    pub purpose: String,
    pub location_id: String,
    pub disclosure_version: String,
    pub disclosure_text: String,
    pub ip: String,
    pub user_agent: String,
    pub created_at_ms: i64,
}

/// # Errors
/// Database failures.
pub async fn create_request(tx: &mut Tx<'_>, r: &NewRequest<'_>) -> Result<String, StoreError> {
    let id = crate::new_id();
    sqlx::query(
        "insert into consent_request (request_id, phone, purpose, location_id, disclosure_version, disclosure_text, ip,
            user_agent, created_at_ms) values ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&id)
    .bind(r.phone)
    .bind(r.purpose)
    .bind(r.location_id)
    .bind(r.disclosure_version)
    .bind(r.disclosure_text)
    .bind(r.ip)
    .bind(r.user_agent)
    .bind(crate::now_ms())
    .execute(&mut **tx)
    .await?;
    Ok(id)
}

/// The newest unconfirmed request for `phone` made after `since_ms`.
///
/// # Errors
/// Database failures.
pub async fn pending_request(tx: &mut Tx<'_>, phone: &str, since_ms: i64) -> Result<Option<Request>, StoreError> {
    Ok(sqlx::query_as(
        "select request_id, phone, purpose, location_id, disclosure_version, disclosure_text, ip, user_agent, created_at_ms
         from consent_request where phone = $1 and confirmed_at_ms is null and created_at_ms > $2
         order by created_at_ms desc limit 1",
    )
    .bind(phone)
    .bind(since_ms)
    .fetch_optional(&mut **tx)
    .await?)
}

/// # Errors
/// Database failures.
pub async fn confirm_request(tx: &mut Tx<'_>, request_id: &str, at_ms: i64) -> Result<(), StoreError> {
    sqlx::query("update consent_request set confirmed_at_ms = $2 where request_id = $1")
        .bind(request_id)
        .bind(at_ms)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
