//! Built-in actions that flows call with `action:`. Each reads or changes commerce data through
//! the [`Commerce`] port, inside the turn's transaction, and answers with an outcome (which
//! selects the flow's next step) and slots (which templates can show).
//!
//! Owns the list of action names the flow checker accepts and what each one means.

mod catalog;
pub mod clock;
mod limits;
mod orders;
mod store;
mod verification;

use std::collections::BTreeMap;

use jiff::tz::TimeZone;
use serde_json::json;
use sqlx::AnyConnection;

use crate::commerce::Source;
use crate::domain::commerce::CustomerType;
use crate::flows::engine::Slots;
use crate::store::locations::Location;
use crate::store::StoreError;

/// Declares the actions once: their names (what flows write and the checker accepts, in
/// [`NAMES`]) and the enum [`run`] matches on, so a name and its code cannot drift apart.
macro_rules! actions {
    ($($name:literal => $variant:ident),* $(,)?) => {
        /// Every action a flow may name.
        pub const NAMES: &[&str] = &[$($name),*];

        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        enum Action {
            $($variant),*
        }

        impl Action {
            fn named(name: &str) -> Option<Self> {
                match name {
                    $($name => Some(Self::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

actions! {
    "find_order" => FindOrder,
    "ach_link" => AchLink,
    "pay_on_pickup" => PayOnPickup,
    "reschedule_pickup" => ReschedulePickup,
    "check_limits" => CheckLimits,
    "apply_limit_change" => ApplyLimitChange,
    "explain_limits" => ExplainLimits,
    "find_promotion" => FindPromotion,
    "compare_stock" => CompareStock,
    "product_info" => ProductInfo,
    "store_details" => StoreDetails,
    "verification_status" => VerificationStatus,
    "lock_account" => LockAccount,
    "upload_link" => UploadLink,
}

/// Settings actions read (from the server's configuration).
#[derive(Clone, Default)]
pub struct ActionConfig {
    /// The compliant payment app's ACH checkout; `{order}` is replaced by the order number.
    pub ach_payment_url: Option<String>,
    /// Upload links for medical documents (none: the bot hands re-verification to a person).
    pub uploads: Option<crate::uploads::Links>,
}

/// Who, where and when the action runs for.
pub struct ActionContext<'a> {
    pub contact_id: &'a str,
    pub conversation_id: &'a str,
    pub locale: &'a str,
    /// The contact's type (adult_use or medical), when commerce has no customer record.
    pub customer_type: CustomerType,
    pub location: &'a Location,
    /// Opens the commerce port on the turn's connection.
    pub commerce: &'a dyn Source,
    pub config: &'a ActionConfig,
    pub now_ms: i64,
}

impl ActionContext<'_> {
    /// The location's timezone (checked when the location was added; UTC if it went bad).
    fn timezone(&self) -> TimeZone {
        TimeZone::get(&self.location.timezone).unwrap_or(TimeZone::UTC)
    }
}

pub struct ActionResult {
    pub outcome: String,
    pub slots: Slots,
}

impl ActionResult {
    fn new(outcome: &str, slots: Slots) -> Self {
        Self { outcome: outcome.to_owned(), slots }
    }

    fn outcome(outcome: &str) -> Self {
        Self::new(outcome, Slots::new())
    }
}

/// Runs action `name`. An unknown name cannot happen: the flow checker rejects it.
///
/// # Errors
/// Database failures.
pub async fn run(
    conn: &mut AnyConnection,
    ctx: &ActionContext<'_>,
    name: &str,
    args: &BTreeMap<String, String>,
) -> Result<ActionResult, StoreError> {
    let Some(action) = Action::named(name) else {
        return Ok(ActionResult::new("unknown_action", Slots::from([("action".into(), json!(name))])));
    };
    match action {
        Action::FindOrder => orders::find_order(conn, ctx, args).await,
        Action::AchLink => orders::ach_link(conn, ctx, args).await,
        Action::PayOnPickup => orders::pay_on_pickup(conn, ctx, args).await,
        Action::ReschedulePickup => orders::reschedule_pickup(conn, ctx, args).await,
        Action::CheckLimits => limits::check_limits(conn, ctx, args).await,
        Action::ApplyLimitChange => limits::apply_limit_change(conn, ctx, args).await,
        Action::ExplainLimits => limits::explain_limits(conn, ctx, args).await,
        Action::FindPromotion => catalog::find_promotion(conn, ctx, args).await,
        Action::CompareStock => catalog::compare_stock(conn, ctx, args).await,
        Action::ProductInfo => catalog::product_info(conn, ctx, args).await,
        Action::StoreDetails => store::store_details(conn, ctx, args).await,
        Action::VerificationStatus => verification::status(conn, ctx).await,
        Action::LockAccount => verification::lock_account(conn, ctx, args).await,
        Action::UploadLink => verification::upload_link(conn, ctx).await,
    }
}

/// An argument, trimmed; `None` when absent or empty.
fn arg<'a>(args: &'a BTreeMap<String, String>, name: &str) -> Option<&'a str> {
    args.get(name).map(|v| v.trim()).filter(|v| !v.is_empty())
}

/// `$42.50`
pub fn money(cents: i64) -> String {
    format!("${}.{:02}", cents / 100, (cents % 100).abs())
}
