//! Consent files uploaded in the console: staged between the dry run a person reads and the
//! import they confirm, so the file is not sent twice and any replica can finish the import;
//! kept afterwards as the record of what was imported, by whom.

use sqlx::FromRow;

use super::{Store, StoreError};

/// How long a checked file waits for its import.
pub const STAGED_FOR_MS: i64 = 60 * 60_000;

#[derive(Debug, Clone, FromRow)]
pub struct Staged {
    pub import_id: String,
    pub file_name: String,
    pub body: String,
    pub country: String,
    pub staged_by: String,
    pub staged_at_ms: i64,
    pub imported_at_ms: Option<i64>,
}

/// Keeps an uploaded file until its import is confirmed; returns its id.
///
/// # Errors
/// Database failures.
pub async fn stage(store: &Store, file_name: &str, body: &str, country: &str, by: &str) -> Result<String, StoreError> {
    // Checked files nobody imported within the hour are not kept: they hold phone numbers.
    sqlx::query("delete from consent_import where imported_at_ms is null and staged_at_ms < $1")
        .bind(store.now_ms() - STAGED_FOR_MS)
        .execute(store.pool())
        .await?;
    let id = crate::new_id();
    sqlx::query(
        "insert into consent_import (import_id, file_name, body, country, staged_by, staged_at_ms)
        values ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&id)
    .bind(file_name)
    .bind(body)
    .bind(country)
    .bind(by)
    .bind(store.now_ms())
    .execute(store.pool())
    .await?;
    Ok(id)
}

/// # Errors
/// Database failures.
pub async fn find(store: &Store, import_id: &str) -> Result<Option<Staged>, StoreError> {
    Ok(sqlx::query_as(
        "select import_id, file_name, body, country, staged_by, staged_at_ms, imported_at_ms from consent_import
        where import_id = $1",
    )
    .bind(import_id)
    .fetch_optional(store.pool())
    .await?)
}

/// Marks a staged file imported; false when it already was (a second click, another replica).
///
/// # Errors
/// Database failures.
pub async fn mark_imported(store: &Store, import_id: &str) -> Result<bool, StoreError> {
    let done =
        sqlx::query("update consent_import set imported_at_ms = $2 where import_id = $1 and imported_at_ms is null")
            .bind(import_id)
            .bind(store.now_ms())
            .execute(store.pool())
            .await?;
    Ok(done.rows_affected() == 1)
}

/// Gives a claimed file back when its import failed (nothing was written), so it can be tried again.
///
/// # Errors
/// Database failures.
pub async fn unmark_imported(store: &Store, import_id: &str) -> Result<(), StoreError> {
    sqlx::query("update consent_import set imported_at_ms = null where import_id = $1")
        .bind(import_id)
        .execute(store.pool())
        .await?;
    Ok(())
}
