//! What leafdesk knows of the e-commerce side: customers, products and their stock, promotions,
//! order lines. Shared by the commerce port, the store that keeps them and the actions that
//! read them; no behaviour beyond what the values are.

use serde::Serialize;

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
    /// adult_use or medical
    pub customer_type: String,
    pub date_of_birth: Option<String>,
    pub recommendation_expires_on: Option<String>,
    /// verified, expired, pending_review, rejected
    pub verification_status: String,
    /// sms, web or voice
    pub preferred_channel: String,
    pub non_resident: bool,
    pub locked_reason: Option<String>,
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
