//! Commerce records of the built-in `Commerce` implementation: products, stock per location,
//! promotions, customers, order lines, store hours. Functions take a connection, so flow actions
//! run them inside the turn's transaction.

use sqlx::{AnyConnection, FromRow};

use super::contacts::{self, Contact};
use super::locations::{self, Location};
use super::{corrupt, Store, StoreError};
use crate::domain::commerce::{
    Customer, CustomerType, LockReason, OrderLine, Product, Promotion, Stock, VerificationStatus,
};

const CUSTOMER: &str = "select customer_id, contact_id, location_id, customer_type, date_of_birth,
        recommendation_expires_on, verification_status, preferred_channel, non_resident, locked_reason
    from customer where contact_id = $1";
const CUSTOMER_BY_ID: &str = "select customer_id, contact_id, location_id, customer_type, date_of_birth,
        recommendation_expires_on, verification_status, preferred_channel, non_resident, locked_reason
    from customer where customer_id = $1";
const UPSERT_CUSTOMER: &str = "insert into customer (customer_id, contact_id, location_id, customer_type,
        date_of_birth, recommendation_expires_on, verification_status, preferred_channel, non_resident, locked_reason,
        created_at_ms, updated_at_ms)
    values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)
    on conflict (customer_id) do update set contact_id = excluded.contact_id, location_id = excluded.location_id,
        customer_type = excluded.customer_type,
        date_of_birth = excluded.date_of_birth, recommendation_expires_on = excluded.recommendation_expires_on,
        verification_status = excluded.verification_status, preferred_channel = excluded.preferred_channel,
        non_resident = excluded.non_resident, locked_reason = excluded.locked_reason,
        updated_at_ms = excluded.updated_at_ms";
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
const FIND_PRODUCTS: &str = "select product_id, sku, name, category, net_weight_mg, thc_mg, price_cents from product
    where lower(sku) = lower($1) or lower(name) like lower($2) order by length(name) limit 5";
const STOCK: &str = "select online_quantity, store_quantity from inventory where location_id = $1 and product_id = $2";
const PROMOTIONS: &str = "select description, price_cents, web_only, ends_at_ms from promotion
    where product_id = $1 and location_id = $2 and starts_at_ms <= $3 and ends_at_ms > $3 order by price_cents";
const SET_VERIFICATION: &str = "update customer set verification_status = $2, locked_reason = $3, updated_at_ms = $4
    where customer_id = $1";
const SET_NUMBER: &str = "update customer set recommendation_number_sealed = $2 where customer_id = $1";
const SET_EXPIRY: &str = "update customer set recommendation_expires_on = $2 where customer_id = $1";
const HOLD_ORDERS: &str = "update customer_order set held_status = status, status = 'on_hold'
    where contact_id = $1 and held_status is null
        and status not in ('completed', 'picked_up', 'delivered', 'cancelled', 'on_hold')";
const RELEASE_ORDERS: &str = "update customer_order set status = held_status, held_status = null
    where contact_id = $1 and held_status is not null";
const EXPIRED_MEDICAL: &str = "select c.customer_id, c.recommendation_expires_on, l.timezone from customer c
    join location l on l.location_id = c.location_id
    where c.customer_type = 'medical' and c.verification_status = 'verified' and c.locked_reason is null
        and c.recommendation_expires_on is not null and c.recommendation_expires_on < $1";
const HOURS: &str = "select open_hour, close_hour from location where location_id = $1";

#[derive(FromRow)]
struct CustomerRow {
    customer_id: String,
    contact_id: String,
    location_id: String,
    customer_type: String,
    date_of_birth: Option<String>,
    recommendation_expires_on: Option<String>,
    verification_status: String,
    preferred_channel: String,
    non_resident: i64,
    locked_reason: Option<String>,
}

impl TryFrom<CustomerRow> for Customer {
    type Error = StoreError;

    fn try_from(r: CustomerRow) -> Result<Self, StoreError> {
        let locked_reason = match r.locked_reason.as_deref() {
            None => None,
            Some(raw) => Some(LockReason::parse(raw).ok_or_else(|| corrupt("customer locked_reason", raw))?),
        };
        Ok(Self {
            customer_type: CustomerType::parse(&r.customer_type)
                .ok_or_else(|| corrupt("customer customer_type", &r.customer_type))?,
            verification_status: VerificationStatus::parse(&r.verification_status)
                .ok_or_else(|| corrupt("customer verification_status", &r.verification_status))?,
            customer_id: r.customer_id,
            contact_id: r.contact_id,
            location_id: r.location_id,
            date_of_birth: r.date_of_birth,
            recommendation_expires_on: r.recommendation_expires_on,
            preferred_channel: r.preferred_channel,
            non_resident: r.non_resident != 0,
            locked_reason,
        })
    }
}

#[derive(FromRow)]
struct ProductRow {
    product_id: String,
    sku: String,
    name: String,
    category: String,
    net_weight_mg: Option<i64>,
    thc_mg: Option<i64>,
    price_cents: i64,
}

impl From<ProductRow> for Product {
    fn from(r: ProductRow) -> Self {
        Self {
            product_id: r.product_id,
            sku: r.sku,
            name: r.name,
            category: r.category,
            net_weight_mg: r.net_weight_mg,
            thc_mg: r.thc_mg,
            price_cents: r.price_cents,
        }
    }
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
pub async fn customer(conn: &mut AnyConnection, contact_id: &str) -> Result<Option<Customer>, StoreError> {
    let row: Option<CustomerRow> = sqlx::query_as(CUSTOMER).bind(contact_id).fetch_optional(conn).await?;
    row.map(Customer::try_from).transpose()
}

/// # Errors
/// Database failures.
pub async fn customer_by_id(conn: &mut AnyConnection, customer_id: &str) -> Result<Option<Customer>, StoreError> {
    let row: Option<CustomerRow> = sqlx::query_as(CUSTOMER_BY_ID).bind(customer_id).fetch_optional(conn).await?;
    row.map(Customer::try_from).transpose()
}

/// A customer with the contact that reaches them and their store.
pub struct Reach {
    pub customer: Customer,
    pub contact: Contact,
    pub location: Location,
}

/// The customer, their contact and their store; `None` when any is missing.
///
/// # Errors
/// Database failures.
pub async fn reach(store: &Store, customer_id: &str) -> Result<Option<Reach>, StoreError> {
    let mut conn = store.pool().acquire().await?;
    let customer = customer_by_id(&mut conn, customer_id).await?;
    drop(conn);
    let Some(customer) = customer else { return Ok(None) };
    let contact = contacts::find_by_id(store, &customer.contact_id).await?;
    let location = locations::get(store, &customer.location_id).await?;
    Ok(contact.zip(location).map(|(contact, location)| Reach { customer, contact, location }))
}

/// Creates or updates a customer record (demo data, the platform's customer sync).
///
/// # Errors
/// Database failures.
pub async fn upsert_customer(conn: &mut AnyConnection, c: &Customer, now_ms: i64) -> Result<(), StoreError> {
    sqlx::query(UPSERT_CUSTOMER)
        .bind(&c.customer_id)
        .bind(&c.contact_id)
        .bind(&c.location_id)
        .bind(c.customer_type.as_str())
        .bind(&c.date_of_birth)
        .bind(&c.recommendation_expires_on)
        .bind(c.verification_status.as_str())
        .bind(&c.preferred_channel)
        .bind(i64::from(c.non_resident))
        .bind(c.locked_reason.map(LockReason::as_str))
        .bind(now_ms)
        .execute(conn)
        .await?;
    Ok(())
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

/// Products whose SKU is `text` or whose name contains it, shortest name first.
///
/// # Errors
/// Database failures.
pub async fn find_products(conn: &mut AnyConnection, text: &str) -> Result<Vec<Product>, StoreError> {
    let like = format!("%{}%", text.replace(['%', '_'], ""));
    let rows: Vec<ProductRow> = sqlx::query_as(FIND_PRODUCTS).bind(text).bind(like).fetch_all(conn).await?;
    Ok(rows.into_iter().map(Product::from).collect())
}

/// # Errors
/// Database failures.
pub async fn stock(conn: &mut AnyConnection, location_id: &str, product_id: &str) -> Result<Option<Stock>, StoreError> {
    let row: Option<(i64, i64)> = sqlx::query_as(STOCK).bind(location_id).bind(product_id).fetch_optional(conn).await?;
    Ok(row.map(|(online, store)| Stock { online, store }))
}

/// Promotions running at `now_ms` for the product at the location, cheapest first.
///
/// # Errors
/// Database failures.
pub async fn promotions(
    conn: &mut AnyConnection,
    product_id: &str,
    location_id: &str,
    now_ms: i64,
) -> Result<Vec<Promotion>, StoreError> {
    let rows: Vec<(String, i64, i64, i64)> =
        sqlx::query_as(PROMOTIONS).bind(product_id).bind(location_id).bind(now_ms).fetch_all(conn).await?;
    Ok(rows
        .into_iter()
        .map(|(description, price_cents, web_only, ends_at_ms)| Promotion {
            description,
            price_cents,
            web_only: web_only != 0,
            ends_at_ms,
        })
        .collect())
}

/// Sets a customer's verification status and why checkout is locked (`None`: unlocked).
///
/// # Errors
/// Database failures.
pub async fn set_verification(
    conn: &mut AnyConnection,
    customer_id: &str,
    status: VerificationStatus,
    locked_reason: Option<LockReason>,
    now_ms: i64,
) -> Result<(), StoreError> {
    sqlx::query(SET_VERIFICATION)
        .bind(customer_id)
        .bind(status.as_str())
        .bind(locked_reason.map(LockReason::as_str))
        .bind(now_ms)
        .execute(conn)
        .await?;
    Ok(())
}

/// Stores the customer's medical recommendation number, already sealed by the caller.
///
/// # Errors
/// Database failures.
pub async fn set_recommendation_number(
    conn: &mut AnyConnection,
    customer_id: &str,
    sealed: &[u8],
) -> Result<(), StoreError> {
    sqlx::query(SET_NUMBER).bind(customer_id).bind(sealed).execute(conn).await?;
    Ok(())
}

/// # Errors
/// Database failures.
pub async fn set_recommendation_expiry(
    conn: &mut AnyConnection,
    customer_id: &str,
    on: &str,
) -> Result<(), StoreError> {
    sqlx::query(SET_EXPIRY).bind(customer_id).bind(on).execute(conn).await?;
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

/// Medical customers still verified whose recommendation ended before `before` (YYYY-MM-DD,
/// a superset: the caller checks each against its location's date), with their timezone.
///
/// # Errors
/// Database failures.
pub async fn expiring_medical(
    conn: &mut AnyConnection,
    before: &str,
) -> Result<Vec<(String, String, String)>, StoreError> {
    Ok(sqlx::query_as(EXPIRED_MEDICAL).bind(before).fetch_all(conn).await?)
}

/// Opening and closing hour (location time, 0–24).
///
/// # Errors
/// Database failures.
pub async fn store_hours(conn: &mut AnyConnection, location_id: &str) -> Result<(i64, i64), StoreError> {
    let row: Option<(i64, i64)> = sqlx::query_as(HOURS).bind(location_id).fetch_optional(conn).await?;
    Ok(row.unwrap_or((9, 21)))
}

// ---- catalogue upkeep (demo data, platform sync) ----

const UPSERT_PRODUCT: &str = "insert into product (product_id, sku, name, category, net_weight_mg, thc_mg, price_cents,
        created_at_ms) values ($1, $2, $3, $4, $5, $6, $7, $8)
    on conflict (sku) do update set name = excluded.name, category = excluded.category,
        net_weight_mg = excluded.net_weight_mg, thc_mg = excluded.thc_mg, price_cents = excluded.price_cents";
const PRODUCT_BY_SKU: &str = "select product_id from product where sku = $1";
const UPSERT_STOCK: &str =
    "insert into inventory (location_id, product_id, online_quantity, store_quantity, updated_at_ms)
    values ($1, $2, $3, $4, $5)
    on conflict (location_id, product_id) do update set online_quantity = excluded.online_quantity,
        store_quantity = excluded.store_quantity, updated_at_ms = excluded.updated_at_ms";
const UPSERT_PROMOTION: &str = "insert into promotion (promotion_id, product_id, location_id, price_cents, web_only,
        description, starts_at_ms, ends_at_ms) values ($1, $2, $3, $4, $5, $6, $7, $8)
    on conflict (promotion_id) do update set price_cents = excluded.price_cents, starts_at_ms = excluded.starts_at_ms,
        ends_at_ms = excluded.ends_at_ms";
const INSERT_LINE: &str = "insert into order_line (order_id, line_no, product_id, quantity, unit_price_cents)
    values ($1, $2, $3, $4, $5) on conflict (order_id, line_no) do nothing";

/// Creates or updates a product by SKU; returns its id.
///
/// # Errors
/// Database failures.
pub async fn upsert_product(conn: &mut AnyConnection, p: &Product, now_ms: i64) -> Result<String, StoreError> {
    sqlx::query(UPSERT_PRODUCT)
        .bind(&p.product_id)
        .bind(&p.sku)
        .bind(&p.name)
        .bind(&p.category)
        .bind(p.net_weight_mg)
        .bind(p.thc_mg)
        .bind(p.price_cents)
        .bind(now_ms)
        .execute(&mut *conn)
        .await?;
    let (id,): (String,) = sqlx::query_as(PRODUCT_BY_SKU).bind(&p.sku).fetch_one(conn).await?;
    Ok(id)
}

/// # Errors
/// Database failures.
pub async fn set_stock(
    conn: &mut AnyConnection,
    location_id: &str,
    product_id: &str,
    stock: Stock,
    now_ms: i64,
) -> Result<(), StoreError> {
    sqlx::query(UPSERT_STOCK)
        .bind(location_id)
        .bind(product_id)
        .bind(stock.online)
        .bind(stock.store)
        .bind(now_ms)
        .execute(conn)
        .await?;
    Ok(())
}

/// Creates or moves the promotion with this id.
///
/// # Errors
/// Database failures.
pub async fn upsert_promotion(
    conn: &mut AnyConnection,
    promotion_id: &str,
    product_id: &str,
    location_id: &str,
    promotion: &Promotion,
    starts_at_ms: i64,
) -> Result<(), StoreError> {
    sqlx::query(UPSERT_PROMOTION)
        .bind(promotion_id)
        .bind(product_id)
        .bind(location_id)
        .bind(promotion.price_cents)
        .bind(i64::from(promotion.web_only))
        .bind(&promotion.description)
        .bind(starts_at_ms)
        .bind(promotion.ends_at_ms)
        .execute(conn)
        .await?;
    Ok(())
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
