//! The TCPA consent ledger: append-only events with evidence (the database refuses updates,
//! deletes and, on PostgreSQL, TRUNCATE), and the current consent per number and purpose,
//! updated in the same transaction. Decisions to send read the ledger itself (the newest event
//! per number and purpose); `consent_current` serves exports and is checked against the ledger
//! by [`verify`], so an edited row can mislead nobody.

use std::collections::HashMap;

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
    /// When consent was given or withdrawn: the ledger's order.
    pub created_at_ms: i64,
    /// When leafdesk recorded it, if later (an import of consent gathered elsewhere).
    pub recorded_at_ms: Option<i64>,
}

const INSERT_EVENT: &str = "insert into consent_event (consent_event_id, phone, purpose, action, source, evidence,
        created_at_ms, recorded_at_ms, import_key) values ($1, $2, $3, $4, $5, $6, $7, $8, $9)
    on conflict (import_key) do nothing";
/// An event happening now moves current consent (a STOP always counts).
const UPSERT_CURRENT: &str = "insert into consent_current (phone, purpose, status, consent_event_id, updated_at_ms)
    values ($1, $2, $3, $4, $5)
    on conflict (phone, purpose) do update set status = excluded.status, consent_event_id = excluded.consent_event_id,
        updated_at_ms = excluded.updated_at_ms";
/// An event dated in the past (an import) moves current consent only if it is at least as late
/// as the one current consent shows: an older one joins the ledger and changes nothing.
const UPSERT_CURRENT_IF_LATER: &str = "insert into consent_current (phone, purpose, status, consent_event_id,
        updated_at_ms) values ($1, $2, $3, $4, $5)
    on conflict (phone, purpose) do update set status = excluded.status, consent_event_id = excluded.consent_event_id,
        updated_at_ms = excluded.updated_at_ms
    where (select e.created_at_ms from consent_event e where e.consent_event_id = consent_current.consent_event_id)
        <= excluded.updated_at_ms";
/// The newest event of its number and purpose (ties: the later id, ids are time-ordered).
const IS_NEWEST: &str = "not exists (select 1 from consent_event n where n.phone = e.phone and n.purpose = e.purpose
    and (n.created_at_ms > e.created_at_ms
        or (n.created_at_ms = e.created_at_ms and n.consent_event_id > e.consent_event_id)))";
const CONFIRMATION_SENT: &str = "select confirmation_sent_at_ms from consent_current where phone = $1 and purpose = $2";
const MARK_CONFIRMATION: &str =
    "update consent_current set confirmation_sent_at_ms = $3 where phone = $1 and purpose = $2";
const HISTORY: &str =
    "select consent_event_id, phone, purpose, action, source, evidence, created_at_ms, recorded_at_ms from consent_event
    where phone = $1 order by created_at_ms, consent_event_id";

/// Appends an event and moves the current consent to match, in the caller's transaction.
///
/// # Errors
/// Database failures.
#[tracing::instrument(skip_all, fields(purpose = c.purpose, action = c.action, source = c.source))]
pub async fn record(tx: &mut Tx<'_>, c: &NewConsent<'_>, now_ms: i64) -> Result<(), StoreError> {
    record_at(tx, c, &When { at_ms: now_ms, import_key: None }, now_ms).await.map(|_| ())
}

/// When an event happened, for one recorded after the fact, and the import row it comes from.
pub struct When<'a> {
    pub at_ms: i64,
    /// The imported row's key: an event with this key already in the ledger is not added again.
    pub import_key: Option<&'a str>,
}

/// As [`record`], for an event that happened at `when.at_ms` (not now): current consent follows
/// it only if nothing later is in the ledger. Returns false when `when.import_key` was already
/// imported (nothing changes).
///
/// # Errors
/// Database failures.
pub async fn record_at(tx: &mut Tx<'_>, c: &NewConsent<'_>, when: &When<'_>, now_ms: i64) -> Result<bool, StoreError> {
    let id = crate::new_id();
    let added = sqlx::query(INSERT_EVENT)
        .bind(&id)
        .bind(c.phone)
        .bind(c.purpose)
        .bind(c.action)
        .bind(c.source)
        .bind(c.evidence.to_string())
        .bind(when.at_ms)
        .bind((when.at_ms != now_ms).then_some(now_ms))
        .bind(when.import_key)
        .execute(&mut **tx)
        .await?;
    if added.rows_affected() == 0 {
        return Ok(false);
    }
    let status = if c.action == "opt_out" { "opted_out" } else { "opted_in" };
    let upsert =
        if when.at_ms == now_ms && when.import_key.is_none() { UPSERT_CURRENT } else { UPSERT_CURRENT_IF_LATER };
    sqlx::query(upsert)
        .bind(c.phone)
        .bind(c.purpose)
        .bind(status)
        .bind(&id)
        .bind(when.at_ms)
        .execute(&mut **tx)
        .await?;
    Ok(true)
}

/// The newest ledger event of each number and purpose among `phones`, keyed by
/// `(phone, purpose)`.
///
/// # Errors
/// Database failures.
pub async fn newest_among(
    tx: &mut Tx<'_>,
    phones: &[&str],
) -> Result<HashMap<(String, String), ConsentEvent>, StoreError> {
    if phones.is_empty() {
        return Ok(HashMap::new());
    }
    let sql = format!(
        "select e.consent_event_id, e.phone, e.purpose, e.action, e.source, e.evidence, e.created_at_ms,
            e.recorded_at_ms
        from consent_event e where e.phone in ({}) and {IS_NEWEST}",
        Placeholders::for_tx(tx).list(phones.len())
    );
    let mut query = sqlx::query_as::<_, ConsentEvent>(&sql);
    for phone in phones {
        query = query.bind(*phone);
    }
    let rows = query.fetch_all(&mut **tx).await?;
    Ok(rows.into_iter().map(|e| ((e.phone.clone(), e.purpose.clone()), e)).collect())
}

/// Which of these import keys the ledger already holds.
///
/// # Errors
/// Database failures.
pub async fn imported_among(tx: &mut Tx<'_>, keys: &[&str]) -> Result<std::collections::HashSet<String>, StoreError> {
    if keys.is_empty() {
        return Ok(std::collections::HashSet::new());
    }
    let sql = format!(
        "select import_key from consent_event where import_key in ({})",
        Placeholders::for_tx(tx).list(keys.len())
    );
    let mut query = sqlx::query_as::<_, (String,)>(&sql);
    for key in keys {
        query = query.bind(*key);
    }
    Ok(query.fetch_all(&mut **tx).await?.into_iter().map(|(k,)| k).collect())
}

/// Records the same action for both purposes (a revocation covers everything we send).
///
/// # Errors
/// Database failures.
pub async fn record_all_purposes(tx: &mut Tx<'_>, c: NewConsent<'_>, now_ms: i64) -> Result<(), StoreError> {
    for purpose in [TRANSACTIONAL, MARKETING] {
        record(tx, &NewConsent { purpose, evidence: c.evidence.clone(), ..c }, now_ms).await?;
    }
    Ok(())
}

/// Which of these numbers have opted out of everything we send, by the ledger.
///
/// # Errors
/// Database failures.
pub async fn opted_out_among(tx: &mut Tx<'_>, phones: &[&str]) -> Result<Vec<String>, StoreError> {
    if phones.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "select e.phone from consent_event e where e.purpose = 'transactional' and e.action = 'opt_out'
        and e.phone in ({}) and {IS_NEWEST}",
        Placeholders::for_tx(tx).list(phones.len())
    );
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
pub async fn current(store: &Store, phone: &str) -> Result<crate::domain::Consent, StoreError> {
    Ok(gate_inputs(store, &[phone]).await?.remove(phone).unwrap_or_default().consent)
}

/// What the send gate needs to know of a number: its consent and where its contact lives.
#[derive(Debug, Clone, Default)]
pub struct GateInputs {
    pub consent: crate::domain::Consent,
    pub place: Place,
}

/// The gate inputs of several numbers (an outbox round) in one read; a number leafdesk knows
/// nothing of is absent (its defaults: no consent recorded, place unknown).
///
/// # Errors
/// Database failures.
pub async fn gate_inputs(store: &Store, phones: &[&str]) -> Result<HashMap<String, GateInputs>, StoreError> {
    type Row = (String, Option<String>, Option<String>, Option<String>, Option<String>);
    if phones.is_empty() {
        return Ok(HashMap::new());
    }
    let mut marks = Placeholders::for_store(store);
    let sql = format!(
        "select e.phone, e.purpose, case e.action when 'opt_out' then 'opted_out' else 'opted_in' end,
            null as state, null as timezone
        from consent_event e where e.phone in ({}) and {IS_NEWEST}
        union all select phone, null, null, state, timezone from contact where phone in ({})",
        marks.list(phones.len()),
        marks.list(phones.len())
    );
    let mut query = sqlx::query_as::<_, Row>(&sql);
    for phone in phones.iter().chain(phones) {
        query = query.bind(*phone);
    }
    let mut inputs: HashMap<String, GateInputs> = HashMap::with_capacity(phones.len());
    for (phone, purpose, status, state, timezone) in query.fetch_all(store.pool()).await? {
        let entry = inputs.entry(phone).or_default();
        match (purpose.as_deref(), status.as_deref()) {
            (Some(TRANSACTIONAL), Some(status)) => entry.consent.opted_out = status == "opted_out",
            (Some(MARKETING), Some(status)) => entry.consent.marketing_opted_in = status == "opted_in",
            (Some(_), _) => {}
            (None, _) => entry.place = Place { state, timezone },
        }
    }
    Ok(inputs)
}

/// A number and purpose whose `consent_current` row says other than its ledger.
#[derive(Debug, Clone, PartialEq, Eq, FromRow, serde::Serialize)]
pub struct Mismatch {
    pub phone: String,
    pub purpose: String,
    /// What the ledger says: `opted_in`, `opted_out`, or none (no event at all).
    pub ledger_status: Option<String>,
    pub ledger_event_id: Option<String>,
    /// What consent_current says, or none (no row).
    pub current_status: Option<String>,
    pub current_event_id: Option<String>,
}

// The ledger's newest event per number and purpose beside consent_current, where they differ.
const MISMATCHES: &str = "with latest as (
        select e.phone, e.purpose, case e.action when 'opt_out' then 'opted_out' else 'opted_in' end as status,
            e.consent_event_id
        from consent_event e where not exists (select 1 from consent_event n where n.phone = e.phone
            and n.purpose = e.purpose and (n.created_at_ms > e.created_at_ms
                or (n.created_at_ms = e.created_at_ms and n.consent_event_id > e.consent_event_id))))
    select coalesce(l.phone, c.phone) as phone, coalesce(l.purpose, c.purpose) as purpose,
        l.status as ledger_status, l.consent_event_id as ledger_event_id,
        c.status as current_status, c.consent_event_id as current_event_id
    from latest l full outer join consent_current c on c.phone = l.phone and c.purpose = l.purpose
    where l.phone is null or c.phone is null or l.status <> c.status or l.consent_event_id <> c.consent_event_id
    order by 1, 2";
const REPAIR_CURRENT: &str = "insert into consent_current (phone, purpose, status, consent_event_id, updated_at_ms)
    values ($1, $2, $3, $4, $5)
    on conflict (phone, purpose) do update set status = excluded.status, consent_event_id = excluded.consent_event_id,
        updated_at_ms = excluded.updated_at_ms";
const DROP_CURRENT: &str = "delete from consent_current where phone = $1 and purpose = $2";

/// Recomputes current consent from the ledger and lists where `consent_current` differs.
///
/// # Errors
/// Database failures.
pub async fn verify(store: &Store) -> Result<Vec<Mismatch>, StoreError> {
    Ok(sqlx::query_as(MISMATCHES).fetch_all(store.pool()).await?)
}

/// Rewrites the rows [`verify`] found from the ledger, in one transaction; returns how many.
///
/// # Errors
/// Database failures.
pub async fn repair(store: &Store, mismatches: &[Mismatch]) -> Result<usize, StoreError> {
    let mut tx = store.begin().await?;
    for m in mismatches {
        match (&m.ledger_status, &m.ledger_event_id) {
            (Some(status), Some(event_id)) => {
                sqlx::query(REPAIR_CURRENT)
                    .bind(&m.phone)
                    .bind(&m.purpose)
                    .bind(status)
                    .bind(event_id)
                    .bind(store.now_ms())
                    .execute(&mut *tx)
                    .await?;
            }
            _ => {
                sqlx::query(DROP_CURRENT).bind(&m.phone).bind(&m.purpose).execute(&mut *tx).await?;
            }
        }
    }
    tx.commit().await?;
    Ok(mismatches.len())
}

/// Step 1 of double opt-in: what the person submitted on the web form, and what they saw.
pub struct NewRequest<'a> {
    /// `web_form` or `web_chat`: where the person asked.
    pub source: &'a str,
    pub phone: &'a str,
    pub purpose: &'a str,
    pub location_id: &'a str,
    pub disclosure_version: &'a str,
    pub disclosure_text: &'a str,
    pub ip: &'a str,
    pub user_agent: &'a str,
    /// The outbox row carrying the "Reply YES" text.
    pub confirmation_outbox_id: &'a str,
}

#[derive(Debug, Clone, FromRow, serde::Serialize)]
pub struct Request {
    pub request_id: String,
    pub source: String,
    pub phone: String,
    pub purpose: String,
    pub location_id: String,
    pub disclosure_version: String,
    pub disclosure_text: String,
    pub ip: String,
    pub user_agent: String,
    pub created_at_ms: i64,
    pub confirmed_at_ms: Option<i64>,
}

/// # Errors
/// Database failures.
pub async fn create_request(tx: &mut Tx<'_>, r: &NewRequest<'_>, now_ms: i64) -> Result<String, StoreError> {
    let id = crate::new_id();
    sqlx::query(
        "insert into consent_request (request_id, phone, purpose, location_id, disclosure_version, disclosure_text, ip,
            user_agent, created_at_ms, source, confirmation_outbox_id) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(&id)
    .bind(r.phone)
    .bind(r.purpose)
    .bind(r.location_id)
    .bind(r.disclosure_version)
    .bind(r.disclosure_text)
    .bind(r.ip)
    .bind(r.user_agent)
    .bind(now_ms)
    .bind(r.source)
    .bind(r.confirmation_outbox_id)
    .execute(&mut **tx)
    .await?;
    Ok(id)
}

/// The newest unconfirmed request for `phone` made after `since_ms` whose confirmation text
/// was sent (a YES before it reached the phone confirms nothing).
///
/// # Errors
/// Database failures.
pub async fn pending_request(tx: &mut Tx<'_>, phone: &str, since_ms: i64) -> Result<Option<Request>, StoreError> {
    Ok(sqlx::query_as(
        "select r.request_id, r.source, r.phone, r.purpose, r.location_id, r.disclosure_version, r.disclosure_text,
            r.ip, r.user_agent, r.created_at_ms, r.confirmed_at_ms
         from consent_request r join outbox o on o.outbox_id = r.confirmation_outbox_id and o.status = 'sent'
         where r.phone = $1 and r.confirmed_at_ms is null and r.created_at_ms > $2
         order by r.created_at_ms desc limit 1",
    )
    .bind(phone)
    .bind(since_ms)
    .fetch_optional(&mut **tx)
    .await?)
}

/// Requests for `phone` made after `since_ms`, confirmed or not: at most one a day texts them.
///
/// # Errors
/// Database failures.
pub async fn requests_for_phone_since(tx: &mut Tx<'_>, phone: &str, since_ms: i64) -> Result<i64, StoreError> {
    let (n,): (i64,) = sqlx::query_as("select count(*) from consent_request where phone = $1 and created_at_ms > $2")
        .bind(phone)
        .bind(since_ms)
        .fetch_one(&mut **tx)
        .await?;
    Ok(n)
}

/// Requests made from `ip` after `since_ms`.
///
/// # Errors
/// Database failures.
pub async fn requests_from_ip_since(tx: &mut Tx<'_>, ip: &str, since_ms: i64) -> Result<i64, StoreError> {
    let (n,): (i64,) = sqlx::query_as("select count(*) from consent_request where ip = $1 and created_at_ms > $2")
        .bind(ip)
        .bind(since_ms)
        .fetch_one(&mut **tx)
        .await?;
    Ok(n)
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

const REQUEST_COLUMNS: &str = "request_id, source, phone, purpose, location_id, disclosure_version, disclosure_text,
    ip, user_agent, created_at_ms, confirmed_at_ms";

/// Every double opt-in request of `phone`, confirmed or not, oldest first.
///
/// # Errors
/// Database failures.
pub async fn requests_of(store: &Store, phone: &str) -> Result<Vec<Request>, StoreError> {
    let sql = format!("select {REQUEST_COLUMNS} from consent_request where phone = $1 order by created_at_ms");
    Ok(sqlx::query_as(&sql).bind(phone).fetch_all(store.pool()).await?)
}

/// Double opt-ins still waiting for their YES (asked after `since_ms`: older ones lapsed),
/// newest first, at most `limit`; with `location`, only that store's.
///
/// # Errors
/// Database failures.
pub async fn pending_requests(
    store: &Store,
    location: Option<&str>,
    since_ms: i64,
    limit: i64,
) -> Result<Vec<Request>, StoreError> {
    let sql = format!(
        "select {REQUEST_COLUMNS} from consent_request where confirmed_at_ms is null and created_at_ms > $3
            and ($1 = '' or location_id = $1) order by created_at_ms desc limit $2"
    );
    Ok(sqlx::query_as(&sql).bind(location.unwrap_or("")).bind(limit).bind(since_ms).fetch_all(store.pool()).await?)
}
