//! Webhook receipts: webhooks acknowledged without a flow turn, keyed so a retry is a no-op.

use super::{StoreError, Tx};

const RECORD: &str = "insert into webhook_receipt (receipt_key, kind, detail, received_at_ms) values ($1, $2, $3, $4)
    on conflict (receipt_key) do nothing";

/// Records a receipt in the caller's transaction, so it exists exactly when what it
/// acknowledges was done; `true` the first time this key is seen.
///
/// # Errors
/// Database failures.
#[tracing::instrument(skip_all, fields(%kind))]
pub async fn record(
    tx: &mut Tx<'_>,
    key: &str,
    kind: &str,
    detail: &serde_json::Value,
    now_ms: i64,
) -> Result<bool, StoreError> {
    let done =
        sqlx::query(RECORD).bind(key).bind(kind).bind(detail.to_string()).bind(now_ms).execute(&mut **tx).await?;
    Ok(done.rows_affected() == 1)
}

const DETAIL: &str = "select detail from webhook_receipt where receipt_key = $1";

/// What a receipt recorded, if `key` was seen.
///
/// # Errors
/// Database failures, or a detail that is not JSON.
pub async fn detail(store: &super::Store, key: &str) -> Result<Option<serde_json::Value>, StoreError> {
    let row: Option<(String,)> = sqlx::query_as(DETAIL).bind(key).fetch_optional(store.pool()).await?;
    row.map(|(d,)| serde_json::from_str(&d).map_err(|e| super::corrupt("receipt detail", e))).transpose()
}

/// Removes a receipt recorded in this transaction for something that then did not happen.
///
/// # Errors
/// Database failures.
pub async fn forget(tx: &mut Tx<'_>, key: &str) -> Result<(), StoreError> {
    sqlx::query("delete from webhook_receipt where receipt_key = $1").bind(key).execute(&mut **tx).await?;
    Ok(())
}
