//! Orders: what a customer bought or reserved, for order questions and demo data.

use sqlx::{AnyConnection, FromRow};

use super::{Store, StoreError};

#[derive(Debug, Clone, FromRow, serde::Serialize)]
pub struct Order {
    pub order_id: String,
    pub order_number: String,
    pub status: String,
    pub total_cents: i64,
    pub payment_method: String,
    pub pickup_at_ms: Option<i64>,
    /// pickup or delivery
    pub fulfillment: String,
    pub location_id: String,
    pub created_at_ms: i64,
}

pub struct NewOrder<'a> {
    pub contact_id: &'a str,
    pub location_id: &'a str,
    pub order_number: &'a str,
    pub status: &'a str,
    pub total_cents: i64,
    pub payment_method: &'a str,
    pub pickup_at_ms: Option<i64>,
    pub fulfillment: &'a str,
}

const BY_NUMBER: &str = "select order_id, order_number, status, total_cents, payment_method, pickup_at_ms,
        fulfillment, location_id, created_at_ms
    from customer_order where contact_id = $1 and upper(order_number) = upper($2)";
const LATEST: &str = "select order_id, order_number, status, total_cents, payment_method, pickup_at_ms,
        fulfillment, location_id, created_at_ms
    from customer_order where contact_id = $1 order by created_at_ms desc limit 1";

/// The contact's order with this number, or their latest when `number` is `None`.
///
/// # Errors
/// Database failures.
#[tracing::instrument(skip_all)]
pub async fn find_for_contact(
    conn: &mut AnyConnection,
    contact_id: &str,
    number: Option<&str>,
) -> Result<Option<Order>, StoreError> {
    let found = match number {
        Some(number) => sqlx::query_as(BY_NUMBER).bind(contact_id).bind(number).fetch_optional(conn).await?,
        None => sqlx::query_as(LATEST).bind(contact_id).fetch_optional(conn).await?,
    };
    Ok(found)
}

const INSERT: &str = "insert into customer_order (order_id, contact_id, location_id, order_number, status, total_cents,
        payment_method, pickup_at_ms, fulfillment, created_at_ms)
    values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) on conflict (order_number) do nothing";
const ID_BY_NUMBER: &str = "select order_id from customer_order where order_number = $1";

/// Inserts an order unless one with the same number exists; returns the order's id.
///
/// # Errors
/// Database failures.
pub async fn insert_if_absent(store: &Store, o: &NewOrder<'_>) -> Result<String, StoreError> {
    sqlx::query(INSERT)
        .bind(crate::new_id())
        .bind(o.contact_id)
        .bind(o.location_id)
        .bind(o.order_number)
        .bind(o.status)
        .bind(o.total_cents)
        .bind(o.payment_method)
        .bind(o.pickup_at_ms)
        .bind(o.fulfillment)
        .bind(store.now_ms())
        .execute(store.pool())
        .await?;
    let (id,): (String,) = sqlx::query_as(ID_BY_NUMBER).bind(o.order_number).fetch_one(store.pool()).await?;
    Ok(id)
}
