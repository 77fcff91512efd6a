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
