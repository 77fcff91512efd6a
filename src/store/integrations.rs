//! Integrations (the e-commerce platform, a POS) that send signed events, and the events they
//! sent: claimed by (integration, event id) inside the event's turn, so a retried event does
//! nothing twice and gets the first answer again.

use sqlx::FromRow;

use super::{Store, StoreError, Tx};

#[derive(Debug, Clone, FromRow)]
pub struct Integration {
    pub integration_id: String,
    pub name: String,
    /// The HMAC key. Never logged, never shown again after creation.
    pub secret: String,
}

const INSERT: &str = "insert into integration (integration_id, name, secret, created_at_ms) values ($1, $2, $3, $4)";
const ACTIVE: &str = "select integration_id, name, secret from integration where revoked_at_ms is null order by name";
const REVOKE: &str = "update integration set revoked_at_ms = $2 where name = $1 and revoked_at_ms is null";
const CLAIM: &str = "insert into event_received (integration_id, event_id, event_type, customer_id, body, result,
        received_at_ms) values ($1, $2, $3, $4, $5, '{}', $6) on conflict (integration_id, event_id) do nothing";
const SET_RESULT: &str = "update event_received set result = $3 where integration_id = $1 and event_id = $2";
const RESULT: &str = "select result from event_received where integration_id = $1 and event_id = $2";

/// # Errors
/// A unique violation when the name is taken.
pub async fn create(store: &Store, name: &str, secret: &str) -> Result<String, StoreError> {
    let id = crate::new_id();
    sqlx::query(INSERT).bind(&id).bind(name).bind(secret).bind(store.now_ms()).execute(store.pool()).await?;
    Ok(id)
}

/// # Errors
/// Database failures.
pub async fn active(store: &Store) -> Result<Vec<Integration>, StoreError> {
    Ok(sqlx::query_as(ACTIVE).fetch_all(store.pool()).await?)
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
