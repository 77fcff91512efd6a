//! The catalogue: products, stock per location (online and in store) and promotions. Read by
//! [`super::DbCommerce`]; filled by the demo data and the platform's sync.

use sqlx::{AnyConnection, FromRow};

use crate::domain::commerce::{Product, Promotion, Stock};
use crate::store::StoreError;

const FIND_PRODUCTS: &str = "select product_id, sku, name, category, net_weight_mg, thc_mg, price_cents from product
    where lower(sku) = lower($1) or lower(name) like lower($2) order by length(name) limit 5";
const ALL_PRODUCTS: &str = "select product_id, sku, name, category, net_weight_mg, thc_mg, price_cents from product
    order by name limit 5000";
const STOCK: &str = "select online_quantity, store_quantity from inventory where location_id = $1 and product_id = $2";
const PROMOTIONS: &str = "select description, price_cents, web_only, ends_at_ms from promotion
    where product_id = $1 and location_id = $2 and starts_at_ms <= $3 and ends_at_ms > $3 order by price_cents";
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

#[derive(FromRow)]
pub(super) struct ProductRow {
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

/// Products whose SKU is `text` or whose name contains it, shortest name first.
///
/// # Errors
/// Database failures.
pub async fn find_products(conn: &mut AnyConnection, text: &str) -> Result<Vec<Product>, StoreError> {
    let like = format!("%{}%", text.replace(['%', '_'], ""));
    let rows: Vec<ProductRow> = sqlx::query_as(FIND_PRODUCTS).bind(text).bind(like).fetch_all(conn).await?;
    Ok(rows.into_iter().map(Product::from).collect())
}

/// The catalogue, by name (5,000 at most: a dispensary's menu is a few hundred), for matching
/// a name a customer misspelled.
///
/// # Errors
/// Database failures.
pub async fn all_products(conn: &mut AnyConnection) -> Result<Vec<Product>, StoreError> {
    let rows: Vec<ProductRow> = sqlx::query_as(ALL_PRODUCTS).fetch_all(conn).await?;
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
