//! Orders and their lines: what a customer bought or reserved, how they pay, when they pick
//! up, and holds while checkout is locked. Read and changed by [`super::DbCommerce`]; filled by
//! the demo data.

use sqlx::{AnyConnection, FromRow};

use super::catalog::ProductRow;
use crate::domain::commerce::{Order, OrderLine};
use crate::store::{Store, StoreError};

#[derive(FromRow)]
struct OrderRow {
    order_id: String,
    order_number: String,
    status: String,
    total_cents: i64,
    payment_method: String,
    pickup_at_ms: Option<i64>,
    fulfillment: String,
    location_id: String,
    created_at_ms: i64,
}

impl From<OrderRow> for Order {
    fn from(r: OrderRow) -> Self {
        Self {
            order_id: r.order_id,
            order_number: r.order_number,
            status: r.status,
            total_cents: r.total_cents,
            payment_method: r.payment_method,
            pickup_at_ms: r.pickup_at_ms,
            fulfillment: r.fulfillment,
            location_id: r.location_id,
            created_at_ms: r.created_at_ms,
        }
    }
}

// Dashes and case do not count: customers type "ld1001" for LD-1001.
const BY_NUMBER: &str = "select order_id, order_number, status, total_cents, payment_method, pickup_at_ms,
        fulfillment, location_id, created_at_ms
    from customer_order where contact_id = $1
        and replace(upper(order_number), '-', '') = replace(upper($2), '-', '')";
const LATEST: &str = "select order_id, order_number, status, total_cents, payment_method, pickup_at_ms,
        fulfillment, location_id, created_at_ms
    from customer_order where contact_id = $1 order by created_at_ms desc limit 1";
const INSERT: &str = "insert into customer_order (order_id, contact_id, location_id, order_number, status, total_cents,
        payment_method, pickup_at_ms, fulfillment, created_at_ms)
    values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) on conflict (order_number) do nothing";
const ID_BY_NUMBER: &str = "select order_id from customer_order where order_number = $1";
const ORDER_LINES: &str = "select l.line_no, l.quantity, l.unit_price_cents, p.product_id, p.sku, p.name, p.category,
        p.net_weight_mg, p.thc_mg, p.price_cents
    from order_line l join product p on p.product_id = l.product_id where l.order_id = $1 order by l.line_no";
const LINES_ON_DAY: &str = "select l.line_no, l.quantity, l.unit_price_cents, p.product_id, p.sku, p.name, p.category,
        p.net_weight_mg, p.thc_mg, p.price_cents
    from customer_order o join order_line l on l.order_id = o.order_id join product p on p.product_id = l.product_id
    where o.contact_id = $1 and o.order_id <> $2 and o.created_at_ms >= $3 and o.created_at_ms < $4
        and o.status in ('completed', 'picked_up', 'delivered')";
const SET_LINE_QUANTITY: &str = "update order_line set quantity = $3 where order_id = $1 and line_no = $2";
const DELETE_EMPTY_LINES: &str = "delete from order_line where order_id = $1 and quantity <= 0";
const ORDER_TOTAL: &str = "update customer_order set total_cents =
        (select coalesce(sum(quantity * unit_price_cents), 0) from order_line where order_id = $1)
    where order_id = $1";
const SET_PAYMENT: &str =
    "update customer_order set payment_method = $2, status = $3, pickup_at_ms = coalesce($4, pickup_at_ms)
    where order_id = $1";
const SET_PICKUP: &str = "update customer_order set pickup_at_ms = $2 where order_id = $1";
const HOLD_ORDERS: &str = "update customer_order set held_status = status, status = 'on_hold'
    where contact_id = $1 and held_status is null
        and status not in ('completed', 'picked_up', 'delivered', 'cancelled', 'on_hold')";
const RELEASE_ORDERS: &str = "update customer_order set status = held_status, held_status = null
    where contact_id = $1 and held_status is not null";
const INSERT_LINE: &str = "insert into order_line (order_id, line_no, product_id, quantity, unit_price_cents)
    values ($1, $2, $3, $4, $5) on conflict (order_id, line_no) do nothing";

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

const RECENT: &str = "select order_id, order_number, status, total_cents, payment_method, pickup_at_ms,
        fulfillment, location_id, created_at_ms
    from customer_order where contact_id = $1 order by created_at_ms desc limit $2";

/// The contact's latest `limit` orders, newest first.
///
/// # Errors
/// Database failures.
pub async fn recent(conn: &mut AnyConnection, contact_id: &str, limit: i64) -> Result<Vec<Order>, StoreError> {
    let rows: Vec<OrderRow> = sqlx::query_as(RECENT).bind(contact_id).bind(limit).fetch_all(conn).await?;
    Ok(rows.into_iter().map(Order::from).collect())
}

/// The contact's order with this number, or their latest when `number` is `None`.
///
/// # Errors
/// Database failures.
#[tracing::instrument(skip_all)]
pub async fn find(
    conn: &mut AnyConnection,
    contact_id: &str,
    number: Option<&str>,
) -> Result<Option<Order>, StoreError> {
    let found: Option<OrderRow> = match number {
        Some(number) => sqlx::query_as(BY_NUMBER).bind(contact_id).bind(number).fetch_optional(conn).await?,
        None => sqlx::query_as(LATEST).bind(contact_id).fetch_optional(conn).await?,
    };
    Ok(found.map(Order::from))
}

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

#[derive(FromRow)]
struct LineRow {
    line_no: i64,
    quantity: i64,
    unit_price_cents: i64,
    #[sqlx(flatten)]
    product: ProductRow,
}

impl From<LineRow> for OrderLine {
    fn from(r: LineRow) -> Self {
        Self {
            line_no: r.line_no,
            quantity: r.quantity,
            unit_price_cents: r.unit_price_cents,
            product: r.product.into(),
        }
    }
}

/// # Errors
/// Database failures.
pub async fn order_lines(conn: &mut AnyConnection, order_id: &str) -> Result<Vec<OrderLine>, StoreError> {
    let rows: Vec<LineRow> = sqlx::query_as(ORDER_LINES).bind(order_id).fetch_all(conn).await?;
    Ok(rows.into_iter().map(OrderLine::from).collect())
}

/// Lines of the contact's completed orders created in `[from_ms, to_ms)`, other than `except`.
///
/// # Errors
/// Database failures.
pub async fn lines_between(
    conn: &mut AnyConnection,
    contact_id: &str,
    except_order: &str,
    from_ms: i64,
    to_ms: i64,
) -> Result<Vec<OrderLine>, StoreError> {
    let rows: Vec<LineRow> = sqlx::query_as(LINES_ON_DAY)
        .bind(contact_id)
        .bind(except_order)
        .bind(from_ms)
        .bind(to_ms)
        .fetch_all(conn)
        .await?;
    Ok(rows.into_iter().map(OrderLine::from).collect())
}

/// Sets each `(line_no, quantity)`, drops emptied lines and recomputes the order's total.
///
/// # Errors
/// Database failures.
pub async fn set_line_quantities(
    conn: &mut AnyConnection,
    order_id: &str,
    quantities: &[(i64, i64)],
) -> Result<(), StoreError> {
    for (line_no, quantity) in quantities {
        sqlx::query(SET_LINE_QUANTITY).bind(order_id).bind(line_no).bind(quantity).execute(&mut *conn).await?;
    }
    sqlx::query(DELETE_EMPTY_LINES).bind(order_id).execute(&mut *conn).await?;
    sqlx::query(ORDER_TOTAL).bind(order_id).execute(conn).await?;
    Ok(())
}

/// # Errors
/// Database failures.
pub async fn set_payment(
    conn: &mut AnyConnection,
    order_id: &str,
    method: &str,
    status: &str,
    pickup_at_ms: Option<i64>,
) -> Result<(), StoreError> {
    sqlx::query(SET_PAYMENT).bind(order_id).bind(method).bind(status).bind(pickup_at_ms).execute(conn).await?;
    Ok(())
}

/// # Errors
/// Database failures.
pub async fn set_pickup(conn: &mut AnyConnection, order_id: &str, at_ms: i64) -> Result<(), StoreError> {
    sqlx::query(SET_PICKUP).bind(order_id).bind(at_ms).execute(conn).await?;
    Ok(())
}

/// Puts the contact's open orders on hold, remembering their status; returns how many.
///
/// # Errors
/// Database failures.
pub async fn hold_orders(conn: &mut AnyConnection, contact_id: &str) -> Result<u64, StoreError> {
    Ok(sqlx::query(HOLD_ORDERS).bind(contact_id).execute(conn).await?.rows_affected())
}

/// Gives held orders back the status they had; returns how many.
///
/// # Errors
/// Database failures.
pub async fn release_orders(conn: &mut AnyConnection, contact_id: &str) -> Result<u64, StoreError> {
    Ok(sqlx::query(RELEASE_ORDERS).bind(contact_id).execute(conn).await?.rows_affected())
}

/// # Errors
/// Database failures.
pub async fn insert_line_if_absent(
    conn: &mut AnyConnection,
    order_id: &str,
    line_no: i64,
    product_id: &str,
    quantity: i64,
    unit_price_cents: i64,
) -> Result<(), StoreError> {
    sqlx::query(INSERT_LINE)
        .bind(order_id)
        .bind(line_no)
        .bind(product_id)
        .bind(quantity)
        .bind(unit_price_cents)
        .execute(conn)
        .await?;
    Ok(())
}
