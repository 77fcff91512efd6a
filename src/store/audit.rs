//! The audit log: who did what to what, and when. Append-only at the database level (triggers
//! refuse update and delete, and TRUNCATE on PostgreSQL). Written by sign-in, staff management,
//! PII reveals, document views and staff changes to consent and tickets.

use sqlx::{AnyConnection, FromRow};

use super::{Store, StoreError};

/// An entry to write. `detail` never holds a password, a token, a message body or a full phone.
pub struct NewAudit<'a> {
    /// The staff member's email, or `cli` / `system`.
    pub actor: &'a str,
    pub action: &'a str,
    pub target: &'a str,
    pub detail: serde_json::Value,
    pub ip: &'a str,
}

#[derive(Debug, Clone, FromRow, serde::Serialize)]
pub struct Entry {
    pub audit_id: String,
    pub at_ms: i64,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub detail: String,
    pub ip: String,
}

/// Which entries to read; `None` means any.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub actor: Option<String>,
    pub action: Option<String>,
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
    pub limit: i64,
}

const INSERT: &str =
    "insert into audit_event (audit_id, at_ms, actor, action, target, detail, ip) values ($1, $2, $3, $4, $5, $6, $7)";
const LIST: &str = "select audit_id, at_ms, actor, action, target, detail, ip from audit_event
    where ($1 = '' or actor = $1) and ($2 = '' or action = $2) and at_ms >= $3 and at_ms < $4
    order by at_ms desc, audit_id desc limit $5";

/// Writes an entry on `conn` (inside the caller's transaction when it has one).
///
/// # Errors
/// Database failures.
pub async fn record(conn: &mut AnyConnection, e: &NewAudit<'_>, now_ms: i64) -> Result<(), StoreError> {
    sqlx::query(INSERT)
        .bind(crate::new_id())
        .bind(now_ms)
        .bind(e.actor)
        .bind(e.action)
        .bind(e.target)
        .bind(e.detail.to_string())
        .bind(e.ip)
        .execute(conn)
        .await?;
    Ok(())
}

/// Writes an entry on its own.
///
/// # Errors
/// Database failures.
pub async fn append(store: &Store, e: &NewAudit<'_>) -> Result<(), StoreError> {
    let mut conn = store.pool().acquire().await?;
    record(&mut conn, e, store.now_ms()).await
}

/// Entries matching the filter, newest first.
///
/// # Errors
/// Database failures.
pub async fn list(store: &Store, f: &Filter) -> Result<Vec<Entry>, StoreError> {
    Ok(sqlx::query_as(LIST)
        .bind(f.actor.as_deref().unwrap_or(""))
        .bind(f.action.as_deref().unwrap_or(""))
        .bind(f.since_ms.unwrap_or(0))
        .bind(f.until_ms.unwrap_or(i64::MAX))
        .bind(f.limit)
        .fetch_all(store.pool())
        .await?)
}
