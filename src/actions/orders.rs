//! Order actions: find an order, pay it by bank (ACH link) or at pickup, move the pickup time.

use std::collections::BTreeMap;

use serde_json::json;
use sqlx::AnyConnection;

use super::clock::{self, Hours, PickupError};
use super::{arg, money, ActionContext, ActionResult};
use crate::domain::commerce::Order;
use crate::flows::engine::Slots;
use crate::store::StoreError;

/// Statuses after which an order can no longer be changed.
const CLOSED: &[&str] = &["completed", "picked_up", "delivered", "cancelled", "out_for_delivery"];

async fn order(
    conn: &mut AnyConnection,
    ctx: &ActionContext<'_>,
    args: &BTreeMap<String, String>,
) -> Result<Option<Order>, StoreError> {
    Ok(ctx.commerce.open(conn).order(ctx.contact_id, arg(args, "number")).await?)
}

async fn hours(conn: &mut AnyConnection, ctx: &ActionContext<'_>) -> Result<Hours, StoreError> {
    Ok(ctx.commerce.open(conn).store_hours(&ctx.location.location_id).await?)
}

fn order_slots(o: &Order) -> Slots {
    let mut slots = Slots::from([
        ("order_number".into(), json!(o.order_number)),
        // A code; templates say it with {{term "order_status" …}}.
        ("order_status".into(), json!(o.status)),
        ("order_total".into(), json!(money(o.total_cents))),
        ("fulfillment".into(), json!(o.fulfillment)),
        // `card`, `ach`, `pay_at_pickup`, …: a flow about a declined card checks it first.
        ("payment_method".into(), json!(o.payment_method)),
    ]);
    if let Some(at) = o.pickup_at_ms {
        // An instant; templates say it with {{when …}}.
        slots.insert("pickup_time".into(), json!(at));
    }
    slots
}

/// `find_order` (`number`: optional): the customer's order with that number, or their latest.
/// Outcomes `found` (slots `order_number`, `order_status`, `order_total`, `fulfillment`,
/// `payment_method`, `pickup_time`) or `not_found`.
pub(super) async fn find_order(
    conn: &mut AnyConnection,
    ctx: &ActionContext<'_>,
    args: &BTreeMap<String, String>,
) -> Result<ActionResult, StoreError> {
    Ok(match order(conn, ctx, args).await? {
        Some(o) => ActionResult::new("found", order_slots(&o)),
        None => ActionResult::outcome("not_found"),
    })
}

/// `ach_link` (`number`): the payment app's bank-payment link for the order. Outcomes `ready`
/// (slot `ach_url`), `unavailable` (no payment app configured) or `not_found`.
pub(super) async fn ach_link(
    conn: &mut AnyConnection,
    ctx: &ActionContext<'_>,
    args: &BTreeMap<String, String>,
) -> Result<ActionResult, StoreError> {
    let Some(base) = &ctx.config.ach_payment_url else { return Ok(ActionResult::outcome("unavailable")) };
    let Some(o) = order(conn, ctx, args).await? else { return Ok(ActionResult::outcome("not_found")) };
    let encoded: String = form_urlencoded::byte_serialize(o.order_number.as_bytes()).collect();
    let url = if base.contains("{order}") {
        base.replace("{order}", &encoded)
    } else {
        let sep = if base.contains('?') { '&' } else { '?' };
        format!("{base}{sep}order={encoded}")
    };
    let mut slots = order_slots(&o);
    slots.insert("ach_url".into(), json!(url));
    Ok(ActionResult::new("ready", slots))
}

/// The order and the store's hours, if it is a pickup that can still change; otherwise the
/// action's answer (`not_found`, `closed` or `delivery`).
async fn open_pickup(
    conn: &mut AnyConnection,
    ctx: &ActionContext<'_>,
    args: &BTreeMap<String, String>,
) -> Result<Result<(Order, Hours), ActionResult>, StoreError> {
    let Some(o) = order(conn, ctx, args).await? else { return Ok(Err(ActionResult::outcome("not_found"))) };
    if CLOSED.contains(&o.status.as_str()) {
        return Ok(Err(ActionResult::new("closed", order_slots(&o))));
    }
    if o.fulfillment != "pickup" {
        return Ok(Err(ActionResult::new("delivery", order_slots(&o))));
    }
    let hours = hours(conn, ctx).await?;
    Ok(Ok((o, hours)))
}

/// `pay_on_pickup` (`number`): switches a pickup order to paying at the counter and confirms
/// the pickup time (the one booked if still ahead, else the next one). Outcomes `converted`
/// (slot `pickup_time`), `delivery` (a delivery order), `closed` or `not_found`.
pub(super) async fn pay_on_pickup(
    conn: &mut AnyConnection,
    ctx: &ActionContext<'_>,
    args: &BTreeMap<String, String>,
) -> Result<ActionResult, StoreError> {
    let (o, hours) = match open_pickup(conn, ctx, args).await? {
        Ok(found) => found,
        Err(answer) => return Ok(answer),
    };
    let at = match o.pickup_at_ms {
        Some(at) if at > ctx.now_ms => at,
        _ => clock::next_pickup(ctx.now_ms, &ctx.timezone(), hours),
    };
    ctx.commerce.open(conn).pay_on_pickup(&o.order_id, at).await?;
    let updated = Order { pickup_at_ms: Some(at), payment_method: "pay_at_pickup".into(), ..o };
    Ok(ActionResult::new("converted", order_slots(&updated)))
}

/// `reschedule_pickup` (`number`, `when`: the customer's words): moves the pickup within store
/// hours. Outcomes `rescheduled` (slot `pickup_time`), `outside_hours` (slot `store_hours`),
/// `past`, `unclear`, `delivery`, `closed` or `not_found`.
pub(super) async fn reschedule_pickup(
    conn: &mut AnyConnection,
    ctx: &ActionContext<'_>,
    args: &BTreeMap<String, String>,
) -> Result<ActionResult, StoreError> {
    let (o, hours) = match open_pickup(conn, ctx, args).await? {
        Ok(found) => found,
        Err(answer) => return Ok(answer),
    };
    let mut slots = order_slots(&o);
    // Hours; templates say them with {{hours …}}.
    slots.insert("store_opens".into(), json!(hours.open));
    slots.insert("store_closes".into(), json!(hours.close));
    let when = arg(args, "when").unwrap_or_default();
    match clock::parse_pickup(when, ctx.now_ms, &ctx.timezone(), hours) {
        Ok(at) => {
            ctx.commerce.open(conn).reschedule_pickup(&o.order_id, at).await?;
            slots.insert("pickup_time".into(), json!(at));
            Ok(ActionResult::new("rescheduled", slots))
        }
        Err(PickupError::OutsideHours) => Ok(ActionResult::new("outside_hours", slots)),
        Err(PickupError::Past) => Ok(ActionResult::new("past", slots)),
        Err(PickupError::Unclear) => Ok(ActionResult::new("unclear", slots)),
    }
}
