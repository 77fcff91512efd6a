//! Phone numbers web visitors gave in the chat, waiting for the code texted to them: one row per
//! visitor (a new request replaces the old), with the disclosure they saw and where from.

use sqlx::FromRow;

use super::{Store, StoreError, Tx};

#[derive(Debug, Clone, FromRow)]
pub struct PhoneLink {
    pub visitor: String,
    pub location_id: String,
    pub phone: String,
    pub code_hash: String,
    pub attempts: i64,
    pub disclosure_version: String,
    pub disclosure_text: String,
    pub ip: String,
    pub user_agent: String,
    pub created_at_ms: i64,
    pub expires_at_ms: i64,
}

const DELETE: &str = "delete from widget_phone_link where visitor = $1";
const INSERT: &str = "insert into widget_phone_link (visitor, location_id, phone, code_hash, attempts,
        disclosure_version, disclosure_text, ip, user_agent, created_at_ms, expires_at_ms)
    values ($1, $2, $3, $4, 0, $5, $6, $7, $8, $9, $10)";
const GET: &str = "select visitor, location_id, phone, code_hash, attempts, disclosure_version, disclosure_text, ip,
        user_agent, created_at_ms, expires_at_ms
    from widget_phone_link where visitor = $1";
const TRIED: &str = "update widget_phone_link set attempts = attempts + 1 where visitor = $1";

/// Replaces the visitor's pending link with `link`.
///
/// # Errors
/// Database failures.
pub async fn replace(tx: &mut Tx<'_>, link: &PhoneLink) -> Result<(), StoreError> {
    sqlx::query(DELETE).bind(&link.visitor).execute(&mut **tx).await?;
    sqlx::query(INSERT)
        .bind(&link.visitor)
        .bind(&link.location_id)
        .bind(&link.phone)
        .bind(&link.code_hash)
        .bind(&link.disclosure_version)
        .bind(&link.disclosure_text)
        .bind(&link.ip)
        .bind(&link.user_agent)
        .bind(link.created_at_ms)
        .bind(link.expires_at_ms)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// # Errors
/// Database failures.
pub async fn get(store: &Store, visitor: &str) -> Result<Option<PhoneLink>, StoreError> {
    Ok(sqlx::query_as(GET).bind(visitor).fetch_optional(store.pool()).await?)
}

/// Counts a wrong code.
///
/// # Errors
/// Database failures.
pub async fn tried(store: &Store, visitor: &str) -> Result<(), StoreError> {
    sqlx::query(TRIED).bind(visitor).execute(store.pool()).await?;
    Ok(())
}

/// The link is used (or given up): gone.
///
/// # Errors
/// Database failures.
pub async fn remove(tx: &mut Tx<'_>, visitor: &str) -> Result<(), StoreError> {
    sqlx::query(DELETE).bind(visitor).execute(&mut **tx).await?;
    Ok(())
}
