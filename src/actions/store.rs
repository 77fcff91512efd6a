//! The store's own facts, for questions that need no order: hours (from the commerce port) and
//! what `leafdesk location update --detail` set (address, directions, parking, payment
//! methods, ID rules, delivery areas), in the customer's language when the store wrote one
//! (`payment_methods_es`).

use std::collections::BTreeMap;

use serde_json::json;
use sqlx::AnyConnection;

use super::{ActionContext, ActionResult};
use crate::flows::engine::Slots;
use crate::store::{locations, StoreError};

/// `store_details`: slots `location_name`, `store_opens`, `store_closes` and one slot per
/// detail the location has (`address`, `directions`, `parking`, `payment_methods`, `id_rules`,
/// `delivery_areas`, `delivery_note`). Outcome `found`.
pub(super) async fn store_details(
    conn: &mut AnyConnection,
    ctx: &ActionContext<'_>,
    _args: &BTreeMap<String, String>,
) -> Result<ActionResult, StoreError> {
    let hours = ctx.commerce.open(conn).store_hours(&ctx.location.location_id).await?;
    let mut slots = Slots::from([
        ("location_name".into(), json!(ctx.location.name)),
        ("store_opens".into(), json!(hours.open)),
        ("store_closes".into(), json!(hours.close)),
    ]);
    if let serde_json::Value::Object(details) = locations::details(conn, &ctx.location.location_id).await? {
        // `payment_methods_es` is what a Spanish speaker reads instead of `payment_methods`.
        let suffix = format!("_{}", ctx.locale);
        for (key, value) in &details {
            if key.rsplit_once('_').is_some_and(|(_, l)| crate::templates::LOCALES.contains(&l)) {
                continue;
            }
            let local = details.get(&format!("{key}{suffix}")).unwrap_or(value);
            slots.insert(key.clone(), local.clone());
        }
    }
    Ok(ActionResult::new("found", slots))
}
