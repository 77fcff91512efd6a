//! Built-in actions that flows call with `action:`. Each reads or changes our data inside the
//! turn's transaction and answers with an outcome (which selects the flow's next step) and
//! slots (which templates can show).
//!
//! Owns the list of action names the flow checker accepts.

use std::collections::BTreeMap;

use serde_json::json;

use crate::flows::engine::Slots;
use crate::store::{orders, StoreError, Tx};

/// Every action a flow may name.
pub const NAMES: &[&str] = &["find_order"];

/// Who and where the action runs for.
pub struct ActionContext<'a> {
    pub contact_id: &'a str,
    pub location_id: &'a str,
}

pub struct ActionResult {
    pub outcome: String,
    pub slots: Slots,
}

impl ActionResult {
    fn new(outcome: &str, slots: Slots) -> Self {
        Self { outcome: outcome.to_owned(), slots }
    }
}

/// Runs action `name`. An unknown name cannot happen: the flow checker rejects it.
///
/// # Errors
/// Database failures.
pub async fn run(
    tx: &mut Tx<'_>,
    ctx: &ActionContext<'_>,
    name: &str,
    args: &BTreeMap<String, String>,
) -> Result<ActionResult, StoreError> {
    match name {
        "find_order" => find_order(tx, ctx, args).await,
        other => Ok(ActionResult::new("unknown_action", Slots::from([("action".into(), json!(other))]))),
    }
}

/// `find_order` (`number`: optional order number): the customer's order with that number, or
/// their latest. Outcomes `found` (slots `order_number`, `order_status`) or `not_found`.
async fn find_order(
    tx: &mut Tx<'_>,
    ctx: &ActionContext<'_>,
    args: &BTreeMap<String, String>,
) -> Result<ActionResult, StoreError> {
    let number = args.get("number").map(|n| n.trim()).filter(|n| !n.is_empty());
    let Some(order) = orders::find_for_contact(tx, ctx.contact_id, number).await? else {
        return Ok(ActionResult::new("not_found", Slots::new()));
    };
    let slots = Slots::from([
        ("order_number".into(), json!(order.order_number)),
        ("order_status".into(), json!(order.status.replace('_', " "))),
    ]);
    Ok(ActionResult::new("found", slots))
}
