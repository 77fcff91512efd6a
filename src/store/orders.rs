//! Orders: what a customer bought or reserved, for order questions and demo data.

use sqlx::FromRow;

use super::{Store, StoreError, Tx};

#[derive(Debug, Clone, FromRow, serde::Serialize)]
pub struct Order {
    pub order_id: String,
    pub order_number: String,
    pub status: String,
    pub total_cents: i64,
    pub payment_method: String,
    pub pickup_at_ms: Option<i64>,
}

pub struct NewOrder<'a> {
    pub contact_id: &'a str,
    pub location_id: &'a str,
    pub order_number: &'a str,
    pub status: &'a str,
    pub total_cents: i64,
    pub payment_method: &'a str,
    pub pickup_at_ms: Option<i64>,
}

const BY_NUMBER: &str =
    "select order_id, order_number, status, total_cents, payment_method, pickup_at_ms from customer_order
    where contact_id = $1 and upper(order_number) = upper($2)";
const LATEST: &str =
    "select order_id, order_number, status, total_cents, payment_method, pickup_at_ms from customer_order
    where contact_id = $1 order by created_at_ms desc limit 1";

/// The contact's order with this number, or their latest when `number` is `None`.
///
/// # Errors
/// Database failures.
#[tracing::instrument(skip_all)]
pub async fn find_for_contact(
    tx: &mut Tx<'_>,
    contact_id: &str,
    number: Option<&str>,
) -> Result<Option<Order>, StoreError> {
    let found = match number {
        Some(number) => sqlx::query_as(BY_NUMBER).bind(contact_id).bind(number).fetch_optional(&mut **tx).await?,
        None => sqlx::query_as(LATEST).bind(contact_id).fetch_optional(&mut **tx).await?,
    };
    Ok(found)
}

/// Inserts an order unless one with the same number exists.
///
/// # Errors
/// Database failures.
pub async fn insert_if_absent(store: &Store, o: &NewOrder<'_>) -> Result<(), StoreError> {
    sqlx::query(
        "insert into customer_order (order_id, contact_id, location_id, order_number, status, total_cents, payment_method,
            pickup_at_ms, created_at_ms)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9) on conflict (order_number) do nothing",
    )
    .bind(crate::new_id())
    .bind(o.contact_id)
    .bind(o.location_id)
    .bind(o.order_number)
    .bind(o.status)
    .bind(o.total_cents)
    .bind(o.payment_method)
    .bind(o.pickup_at_ms)
    .bind(crate::now_ms())
    .execute(store.pool())
    .await?;
    Ok(())
}
