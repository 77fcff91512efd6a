//! The commerce port: what flow actions may ask of, or change in, the e-commerce platform
//! (customers, orders and their lines, products, stock, promotions, store hours), as the
//! [`Commerce`] trait, and [`DbCommerce`], the built-in implementation on leafdesk's own
//! database (what `--demo` fills). A platform adapter replaces `DbCommerce` without touching the
//! flows or the engine.
//!
//! Methods take the turn's connection, so the built-in implementation reads and writes inside
//! the same transaction as the conversation state; an adapter that calls out over HTTP ignores it.

use futures_util::future::BoxFuture;
use sqlx::AnyConnection;

use crate::compliance::limits::Line;
use crate::store::{commerce as db, orders, StoreError};

pub use crate::domain::commerce::{Customer, LockReason, OrderLine, Product, Promotion, Stock};

/// An order line as the purchase-limit calculator counts it.
pub fn limit_line(line: &OrderLine) -> Line {
    #[allow(clippy::cast_precision_loss)] // milligram amounts are far below 2^52
    let mg = |v: Option<i64>| v.map(|v| v as f64);
    Line {
        label: line.product.name.clone(),
        category: line.product.category.clone(),
        quantity: u32::try_from(line.quantity.max(0)).unwrap_or(u32::MAX),
        weight_g: mg(line.product.net_weight_mg).map(|mg| mg / 1000.0),
        thc_mg: mg(line.product.thc_mg),
    }
}

type Fut<'a, T> = BoxFuture<'a, Result<T, StoreError>>;

/// Everything flow actions need from commerce. See the module doc.
pub trait Commerce: Send + Sync {
    fn customer<'a>(&'a self, conn: &'a mut AnyConnection, contact_id: &'a str) -> Fut<'a, Option<Customer>>;
    /// The contact's order with this number, or their latest.
    fn order<'a>(
        &'a self,
        conn: &'a mut AnyConnection,
        contact_id: &'a str,
        number: Option<&'a str>,
    ) -> Fut<'a, Option<orders::Order>>;
    fn order_lines<'a>(&'a self, conn: &'a mut AnyConnection, order_id: &'a str) -> Fut<'a, Vec<OrderLine>>;
    /// Lines of the contact's completed purchases in `[from_ms, to_ms)`, other than `except_order`.
    fn purchases_between<'a>(
        &'a self,
        conn: &'a mut AnyConnection,
        contact_id: &'a str,
        except_order: &'a str,
        from_ms: i64,
        to_ms: i64,
    ) -> Fut<'a, Vec<OrderLine>>;
    /// Sets line quantities (0 removes the line) and recomputes the total.
    fn set_line_quantities<'a>(
        &'a self,
        conn: &'a mut AnyConnection,
        order_id: &'a str,
        quantities: &'a [(i64, i64)],
    ) -> Fut<'a, ()>;
    /// Switches the order to paying at pickup, confirming the pickup time.
    fn pay_on_pickup<'a>(&'a self, conn: &'a mut AnyConnection, order_id: &'a str, pickup_at_ms: i64) -> Fut<'a, ()>;
    fn reschedule_pickup<'a>(&'a self, conn: &'a mut AnyConnection, order_id: &'a str, at_ms: i64) -> Fut<'a, ()>;
    /// Products matching a SKU or a name, best first.
    fn find_products<'a>(&'a self, conn: &'a mut AnyConnection, text: &'a str) -> Fut<'a, Vec<Product>>;
    fn stock<'a>(
        &'a self,
        conn: &'a mut AnyConnection,
        location_id: &'a str,
        product_id: &'a str,
    ) -> Fut<'a, Option<Stock>>;
    /// Promotions running now for the product at the location, cheapest first.
    fn promotions<'a>(
        &'a self,
        conn: &'a mut AnyConnection,
        product_id: &'a str,
        location_id: &'a str,
        now_ms: i64,
    ) -> Fut<'a, Vec<Promotion>>;
    /// Opening and closing hour, location time.
    fn store_hours<'a>(&'a self, conn: &'a mut AnyConnection, location_id: &'a str) -> Fut<'a, (i64, i64)>;
    /// Locks checkout (`reason`: recommendation_expired or id_verification_failed) and puts the
    /// customer's open orders on hold; returns how many orders were held.
    fn lock_checkout<'a>(
        &'a self,
        conn: &'a mut AnyConnection,
        customer: &'a Customer,
        reason: LockReason,
        now_ms: i64,
    ) -> Fut<'a, u64>;
}

/// The built-in implementation: leafdesk's own tables.
#[derive(Debug, Default, Clone, Copy)]
pub struct DbCommerce;

impl Commerce for DbCommerce {
    fn customer<'a>(&'a self, conn: &'a mut AnyConnection, contact_id: &'a str) -> Fut<'a, Option<Customer>> {
        Box::pin(db::customer(conn, contact_id))
    }
    fn order<'a>(
        &'a self,
        conn: &'a mut AnyConnection,
        contact_id: &'a str,
        number: Option<&'a str>,
    ) -> Fut<'a, Option<orders::Order>> {
        Box::pin(orders::find_for_contact(conn, contact_id, number))
    }
    fn order_lines<'a>(&'a self, conn: &'a mut AnyConnection, order_id: &'a str) -> Fut<'a, Vec<OrderLine>> {
        Box::pin(db::order_lines(conn, order_id))
    }
    fn purchases_between<'a>(
        &'a self,
        conn: &'a mut AnyConnection,
        contact_id: &'a str,
        except_order: &'a str,
        from_ms: i64,
        to_ms: i64,
    ) -> Fut<'a, Vec<OrderLine>> {
        Box::pin(db::lines_between(conn, contact_id, except_order, from_ms, to_ms))
    }
    fn set_line_quantities<'a>(
        &'a self,
        conn: &'a mut AnyConnection,
        order_id: &'a str,
        quantities: &'a [(i64, i64)],
    ) -> Fut<'a, ()> {
        Box::pin(db::set_line_quantities(conn, order_id, quantities))
    }
    fn pay_on_pickup<'a>(&'a self, conn: &'a mut AnyConnection, order_id: &'a str, pickup_at_ms: i64) -> Fut<'a, ()> {
        Box::pin(db::set_payment(conn, order_id, "pay_at_pickup", "awaiting_pickup", Some(pickup_at_ms)))
    }
    fn reschedule_pickup<'a>(&'a self, conn: &'a mut AnyConnection, order_id: &'a str, at_ms: i64) -> Fut<'a, ()> {
        Box::pin(db::set_pickup(conn, order_id, at_ms))
    }
    fn find_products<'a>(&'a self, conn: &'a mut AnyConnection, text: &'a str) -> Fut<'a, Vec<Product>> {
        Box::pin(db::find_products(conn, text))
    }
    fn stock<'a>(
        &'a self,
        conn: &'a mut AnyConnection,
        location_id: &'a str,
        product_id: &'a str,
    ) -> Fut<'a, Option<Stock>> {
        Box::pin(db::stock(conn, location_id, product_id))
    }
    fn promotions<'a>(
        &'a self,
        conn: &'a mut AnyConnection,
        product_id: &'a str,
        location_id: &'a str,
        now_ms: i64,
    ) -> Fut<'a, Vec<Promotion>> {
        Box::pin(db::promotions(conn, product_id, location_id, now_ms))
    }
    fn store_hours<'a>(&'a self, conn: &'a mut AnyConnection, location_id: &'a str) -> Fut<'a, (i64, i64)> {
        Box::pin(db::store_hours(conn, location_id))
    }
    fn lock_checkout<'a>(
        &'a self,
        conn: &'a mut AnyConnection,
        customer: &'a Customer,
        reason: LockReason,
        now_ms: i64,
    ) -> Fut<'a, u64> {
        Box::pin(async move {
            db::set_verification(&mut *conn, &customer.customer_id, reason.status(), Some(reason), now_ms).await?;
            db::hold_orders(conn, &customer.contact_id).await
        })
    }
}
