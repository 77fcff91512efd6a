//! Integrations (the e-commerce platform, a POS) that send signed events, and the events they
//! sent: claimed by (integration, event id) inside the event's turn, so a retried event does
//! nothing twice and gets the first answer again.

use sqlx::FromRow;

use super::{Store, StoreError, Tx};

/// An integration with its secret in the clear: only ever in memory (see
/// `channels::integrations`, which seals and opens them).
#[derive(Debug, Clone, FromRow)]
pub struct Integration {
    pub integration_id: String,
    pub name: String,
    /// The HMAC key. Never logged, never shown again after creation.
    pub secret: String,
}

/// An integration as stored: its secret sealed (hex), or, for one written before secrets were
/// sealed, still plain in `legacy_secret` until the server seals it at start.
#[derive(Debug, Clone, FromRow)]
pub struct StoredIntegration {
    pub integration_id: String,
    pub name: String,
    pub secret_sealed: Option<String>,
    pub legacy_secret: String,
}

const INSERT: &str = "insert into integration (integration_id, name, secret, secret_sealed, created_at_ms)
    values ($1, $2, '', $3, $4)";
const ACTIVE: &str = "select integration_id, name, secret_sealed, secret as legacy_secret from integration
    where revoked_at_ms is null order by name";
const SEAL: &str = "update integration set secret_sealed = $2, secret = '' where integration_id = $1";
const REVOKE: &str = "update integration set revoked_at_ms = $2 where name = $1 and revoked_at_ms is null";
const CLAIM: &str = "insert into event_received (integration_id, event_id, event_type, customer_id, body, result,
        received_at_ms) values ($1, $2, $3, $4, $5, '{}', $6) on conflict (integration_id, event_id) do nothing";
const SET_RESULT: &str = "update event_received set result = $3 where integration_id = $1 and event_id = $2";
const RESULT: &str = "select result from event_received where integration_id = $1 and event_id = $2";

/// Stores a new integration whose secret is already sealed under `integration_id`.
///
/// # Errors
/// A unique violation when the name is taken.
pub async fn create(store: &Store, integration_id: &str, name: &str, secret_sealed: &str) -> Result<(), StoreError> {
    sqlx::query(INSERT)
        .bind(integration_id)
        .bind(name)
        .bind(secret_sealed)
        .bind(store.now_ms())
        .execute(store.pool())
        .await?;
    Ok(())
}

/// # Errors
/// Database failures.
pub async fn active(store: &Store) -> Result<Vec<StoredIntegration>, StoreError> {
    Ok(sqlx::query_as(ACTIVE).fetch_all(store.pool()).await?)
}

/// Replaces a plain secret by its sealed form.
///
/// # Errors
/// Database failures.
pub async fn seal(store: &Store, integration_id: &str, secret_sealed: &str) -> Result<(), StoreError> {
    sqlx::query(SEAL).bind(integration_id).bind(secret_sealed).execute(store.pool()).await?;
    Ok(())
}

/// Stops accepting the integration's events. `false` when no active one has that name.
///
/// # Errors
/// Database failures.
pub async fn revoke(store: &Store, name: &str) -> Result<bool, StoreError> {
    Ok(sqlx::query(REVOKE).bind(name).bind(store.now_ms()).execute(store.pool()).await?.rows_affected() > 0)
}

/// An event to claim in its turn's transaction.
#[derive(Debug, Clone)]
pub struct Receipt {
    pub integration_id: String,
    pub event_id: String,
    pub event_type: String,
    pub customer_id: String,
    pub body: String,
}

/// Claims the event; `false` when it was received before.
///
/// # Errors
/// Database failures.
pub async fn claim(tx: &mut Tx<'_>, r: &Receipt, now_ms: i64) -> Result<bool, StoreError> {
    let done = sqlx::query(CLAIM)
        .bind(&r.integration_id)
        .bind(&r.event_id)
        .bind(&r.event_type)
        .bind(&r.customer_id)
        .bind(&r.body)
        .bind(now_ms)
        .execute(&mut **tx)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// # Errors
/// Database failures.
pub async fn set_result(tx: &mut Tx<'_>, r: &Receipt, result: &serde_json::Value) -> Result<(), StoreError> {
    sqlx::query(SET_RESULT)
        .bind(&r.integration_id)
        .bind(&r.event_id)
        .bind(result.to_string())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// What was answered the first time the event came.
///
/// # Errors
/// Database failures.
pub async fn result(store: &Store, integration_id: &str, event_id: &str) -> Result<Option<String>, StoreError> {
    let row: Option<(String,)> =
        sqlx::query_as(RESULT).bind(integration_id).bind(event_id).fetch_optional(store.pool()).await?;
    Ok(row.map(|(r,)| r))
}
