//! The e-commerce side as leafdesk sees it: customers, orders and their lines, products and
//! their stock, promotions, store hours; and [`Commerce`], the port flow actions and handlers
//! ask them through. The built-in implementation is `store::commerce::DbCommerce` (leafdesk's
//! own tables, what `--demo` fills); a platform adapter would implement the same trait.
//!
//! Owns these values and the port's shape; no behaviour beyond what the values are, no SQL.

use futures_util::future::BoxFuture;
use serde::Serialize;

use super::codes;

codes! {
    /// Which purchase rules apply to a customer.
    pub enum CustomerType {
        AdultUse = "adult_use",
        Medical = "medical",
    }
}

codes! {
    /// Where a customer's identity or medical verification stands.
    pub enum VerificationStatus {
        Verified = "verified",
        /// A medical recommendation ran out.
        Expired = "expired",
        /// A new document is waiting for a reviewer.
        PendingReview = "pending_review",
        /// A reviewer turned the document down.
        Rejected = "rejected",
        /// The platform's identity check failed.
        IdFailed = "id_failed",
    }
}

codes! {
    /// Why checkout is locked.
    pub enum LockReason {
        RecommendationExpired = "recommendation_expired",
        IdVerificationFailed = "id_verification_failed",
    }
}

impl LockReason {
    /// The verification status a lock for this reason leaves.
    pub fn status(self) -> VerificationStatus {
        match self {
            Self::RecommendationExpired => VerificationStatus::Expired,
            Self::IdVerificationFailed => VerificationStatus::IdFailed,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Product {
    pub product_id: String,
    pub sku: String,
    pub name: String,
    /// flower, pre_roll, concentrate, vape_cartridge, edible, tincture, topical
    pub category: String,
    pub net_weight_mg: Option<i64>,
    pub thc_mg: Option<i64>,
    pub price_cents: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OrderLine {
    pub line_no: i64,
    pub quantity: i64,
    pub unit_price_cents: i64,
    pub product: Product,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Customer {
    /// The platform's id.
    pub customer_id: String,
    pub contact_id: String,
    /// The customer's store.
    pub location_id: String,
    pub customer_type: CustomerType,
    pub date_of_birth: Option<String>,
    pub recommendation_expires_on: Option<String>,
    pub verification_status: VerificationStatus,
    /// sms, web or voice
    pub preferred_channel: String,
    pub non_resident: bool,
    pub locked_reason: Option<LockReason>,
}

/// Units the website shows as available, and units the store's point of sale counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Stock {
    pub online: i64,
    pub store: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Promotion {
    pub description: String,
    pub price_cents: i64,
    pub web_only: bool,
    pub ends_at_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Order {
    pub order_id: String,
    pub order_number: String,
    /// The platform's status code (`awaiting_pickup`, `ready_for_pickup`, …); templates word it.
    pub status: String,
    pub total_cents: i64,
    pub payment_method: String,
    pub pickup_at_ms: Option<i64>,
    /// pickup or delivery
    pub fulfillment: String,
    pub location_id: String,
    pub created_at_ms: i64,
}

/// A store's hours: open from `open` to `close` o'clock, location time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hours {
    pub open: i8,
    pub close: i8,
}

/// Commerce could not answer: its database, or the platform behind an adapter, failed.
#[derive(Debug, thiserror::Error)]
#[error("commerce: {0}")]
pub struct CommerceError(#[from] pub Box<dyn std::error::Error + Send + Sync>);

pub type Fut<'a, T> = BoxFuture<'a, Result<T, CommerceError>>;

/// What flow actions and handlers may ask of, or change in, the e-commerce platform. One value
/// serves one unit of work (a turn, a request): the built-in one reads and writes inside the
/// turn's transaction, so a turn's commerce changes commit or roll back with its conversation.
pub trait Commerce: Send {
    /// The customer this contact is.
    fn customer<'a>(&'a mut self, contact_id: &'a str) -> Fut<'a, Option<Customer>>;
    /// The customer with the platform's id.
    fn customer_by_id<'a>(&'a mut self, customer_id: &'a str) -> Fut<'a, Option<Customer>>;
    /// The contact's order with this number, or their latest.
    fn order<'a>(&'a mut self, contact_id: &'a str, number: Option<&'a str>) -> Fut<'a, Option<Order>>;
    fn order_lines<'a>(&'a mut self, order_id: &'a str) -> Fut<'a, Vec<OrderLine>>;
    /// The contact's latest orders, newest first.
    fn recent_orders<'a>(&'a mut self, contact_id: &'a str, limit: i64) -> Fut<'a, Vec<Order>>;
    /// Lines of the contact's completed purchases in `[from_ms, to_ms)`, other than `except_order`.
    fn purchases_between<'a>(
        &'a mut self,
        contact_id: &'a str,
        except_order: &'a str,
        from_ms: i64,
        to_ms: i64,
    ) -> Fut<'a, Vec<OrderLine>>;
    /// Sets `(line_no, quantity)` pairs (0 removes the line) and recomputes the total.
    fn set_line_quantities<'a>(&'a mut self, order_id: &'a str, quantities: &'a [(i64, i64)]) -> Fut<'a, ()>;
    /// Switches the order to paying at pickup, confirming the pickup time.
    fn pay_on_pickup<'a>(&'a mut self, order_id: &'a str, pickup_at_ms: i64) -> Fut<'a, ()>;
    fn reschedule_pickup<'a>(&'a mut self, order_id: &'a str, at_ms: i64) -> Fut<'a, ()>;
    /// Products matching a SKU or a name, best first.
    fn find_products<'a>(&'a mut self, text: &'a str) -> Fut<'a, Vec<Product>>;
    /// The whole catalogue, for matching a misspelled name.
    fn all_products<'a>(&'a mut self) -> Fut<'a, Vec<Product>>;
    fn stock<'a>(&'a mut self, location_id: &'a str, product_id: &'a str) -> Fut<'a, Option<Stock>>;
    /// Promotions running now for the product at the location, cheapest first.
    fn promotions<'a>(&'a mut self, product_id: &'a str, location_id: &'a str, now_ms: i64) -> Fut<'a, Vec<Promotion>>;
    fn store_hours<'a>(&'a mut self, location_id: &'a str) -> Fut<'a, Hours>;
    /// Locks checkout for `reason` and puts the customer's open orders on hold; returns how many
    /// orders were held.
    fn lock_checkout<'a>(&'a mut self, customer: &'a Customer, reason: LockReason, now_ms: i64) -> Fut<'a, u64>;
}
