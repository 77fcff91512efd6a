//! The built-in commerce: [`DbCommerce`], the `Commerce` port on leafdesk's own tables (what
//! `--demo` fills and the platform's customer sync keeps), and the SQL behind it, split by what
//! each part keeps: [`customers`], the [`catalog`] (products, stock, promotions) and [`orders`]
//! (orders, their lines, holds).
//!
//! Owns these tables. Upkeep that is not a flow's business (demo data, the customer sync,
//! medical review) calls the parts directly.

pub mod catalog;
pub mod customers;
pub mod orders;

use sqlx::AnyConnection;

use super::{locations, StoreError};
use crate::domain::commerce::{
    Commerce, CommerceError, Customer, Fut, Hours, LockReason, Order, OrderLine, Product, Promotion, Stock,
};

impl From<StoreError> for CommerceError {
    fn from(e: StoreError) -> Self {
        Self(Box::new(e))
    }
}

/// `Commerce` on leafdesk's tables, inside one unit of work's connection (a turn's transaction,
/// or a request's pooled connection).
pub struct DbCommerce<'c> {
    conn: &'c mut AnyConnection,
}

impl<'c> DbCommerce<'c> {
    pub fn new(conn: &'c mut AnyConnection) -> Self {
        Self { conn }
    }
}

/// Boxes a store call as the port's future, its error as the port's.
fn port<'a, T: Send + 'a>(call: impl std::future::Future<Output = Result<T, StoreError>> + Send + 'a) -> Fut<'a, T> {
    Box::pin(async move { Ok(call.await?) })
}

impl Commerce for DbCommerce<'_> {
    fn customer<'a>(&'a mut self, contact_id: &'a str) -> Fut<'a, Option<Customer>> {
        port(customers::customer(self.conn, contact_id))
    }
    fn customer_by_id<'a>(&'a mut self, customer_id: &'a str) -> Fut<'a, Option<Customer>> {
        port(customers::customer_by_id(self.conn, customer_id))
    }
    fn order<'a>(&'a mut self, contact_id: &'a str, number: Option<&'a str>) -> Fut<'a, Option<Order>> {
        port(orders::find(self.conn, contact_id, number))
    }
    fn order_lines<'a>(&'a mut self, order_id: &'a str) -> Fut<'a, Vec<OrderLine>> {
        port(orders::order_lines(self.conn, order_id))
    }
    fn recent_orders<'a>(&'a mut self, contact_id: &'a str, limit: i64) -> Fut<'a, Vec<Order>> {
        port(orders::recent(self.conn, contact_id, limit))
    }
    fn purchases_between<'a>(
        &'a mut self,
        contact_id: &'a str,
        except_order: &'a str,
        from_ms: i64,
        to_ms: i64,
    ) -> Fut<'a, Vec<OrderLine>> {
        port(orders::lines_between(self.conn, contact_id, except_order, from_ms, to_ms))
    }
    fn set_line_quantities<'a>(&'a mut self, order_id: &'a str, quantities: &'a [(i64, i64)]) -> Fut<'a, ()> {
        port(orders::set_line_quantities(self.conn, order_id, quantities))
    }
    fn pay_on_pickup<'a>(&'a mut self, order_id: &'a str, pickup_at_ms: i64) -> Fut<'a, ()> {
        port(orders::set_payment(self.conn, order_id, "pay_at_pickup", "awaiting_pickup", Some(pickup_at_ms)))
    }
    fn reschedule_pickup<'a>(&'a mut self, order_id: &'a str, at_ms: i64) -> Fut<'a, ()> {
        port(orders::set_pickup(self.conn, order_id, at_ms))
    }
    fn find_products<'a>(&'a mut self, text: &'a str) -> Fut<'a, Vec<Product>> {
        port(catalog::find_products(self.conn, text))
    }
    fn all_products<'a>(&'a mut self) -> Fut<'a, Vec<Product>> {
        port(catalog::all_products(self.conn))
    }
    fn stock<'a>(&'a mut self, location_id: &'a str, product_id: &'a str) -> Fut<'a, Option<Stock>> {
        port(catalog::stock(self.conn, location_id, product_id))
    }
    fn promotions<'a>(&'a mut self, product_id: &'a str, location_id: &'a str, now_ms: i64) -> Fut<'a, Vec<Promotion>> {
        port(catalog::promotions(self.conn, product_id, location_id, now_ms))
    }
    fn store_hours<'a>(&'a mut self, location_id: &'a str) -> Fut<'a, Hours> {
        port(locations::hours(self.conn, location_id))
    }
    fn lock_checkout<'a>(&'a mut self, customer: &'a Customer, reason: LockReason, now_ms: i64) -> Fut<'a, u64> {
        let conn = &mut *self.conn;
        port(async move {
            customers::set_verification(conn, &customer.customer_id, reason.status(), Some(reason), now_ms).await?;
            orders::hold_orders(conn, &customer.contact_id).await
        })
    }
}
