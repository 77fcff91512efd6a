//! What leafdesk knows of the e-commerce side: customers, products and their stock, promotions,
//! order lines. Shared by the commerce port, the store that keeps them and the actions that
//! read them; no behaviour beyond what the values are.

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
