//! Purchase-limit actions: check an order against the state's limits (with the day's earlier
//! purchases where the state counts a day), and apply the change the customer picks.

use std::collections::BTreeMap;

use serde_json::json;
use sqlx::AnyConnection;

use super::{arg, clock, money, ActionContext, ActionResult};
use crate::commerce::OrderLine;
use crate::compliance::limits::{self, number, Change, CustomerType, Line, Request, Verdict};
use crate::flows::engine::Slots;
use crate::store::orders::Order;
use crate::store::StoreError;

struct Checked {
    order: Order,
    lines: Vec<OrderLine>,
    verdict: Verdict,
}

async fn checked(
    conn: &mut AnyConnection,
    ctx: &ActionContext<'_>,
    args: &BTreeMap<String, String>,
) -> Result<Option<Checked>, StoreError> {
    let Some(order) = ctx.commerce.order(conn, ctx.contact_id, arg(args, "number")).await? else {
        return Ok(None);
    };
    let lines = ctx.commerce.order_lines(conn, &order.order_id).await?;
    let customer = ctx.commerce.customer(conn, ctx.contact_id).await?;
    let (kind, non_resident) = match &customer {
        Some(c) => (c.customer_type.as_str(), c.non_resident),
        None => (ctx.customer_type, false),
    };
    let (start, end) = clock::local_day(ctx.now_ms, &ctx.timezone());
    let earlier = ctx.commerce.purchases_between(conn, ctx.contact_id, &order.order_id, start, end).await?;
    let cart: Vec<Line> = lines.iter().map(crate::commerce::limit_line).collect();
    let earlier: Vec<Line> = earlier.iter().map(crate::commerce::limit_line).collect();
    let verdict = limits::check(&Request {
        state: &ctx.location.state,
        customer: CustomerType::parse(kind).unwrap_or(CustomerType::AdultUse),
        non_resident,
        cart: &cart,
        earlier_today: &earlier,
    });
    Ok(Some(Checked { order, lines, verdict }))
}

/// "Remove 1 × Wax 5 g", "Quitar todo Wax 5 g".
fn describe(change: &Change, lines: &[OrderLine], locale: &str) -> String {
    let es = locale == "es";
    let parts: Vec<String> = change
        .remove
        .iter()
        .map(|r| {
            let all = lines.get(r.line).is_some_and(|l| i64::from(r.quantity) >= l.quantity);
            match (all, es) {
                (true, false) => format!("all {}", r.label),
                (true, true) => format!("todo {}", r.label),
                // "x", not "×": it keeps an SMS in the GSM-7 alphabet (160 characters a segment).
                (false, _) => format!("{} x {}", r.quantity, r.label),
            }
        })
        .collect();
    let (verb, and) = if es { ("Quitar", " y ") } else { ("Remove", " and ") };
    format!("{verb} {}", parts.join(and))
}

/// What a limit covers, in the customer's language.
fn what(category: &str, locale: &str) -> String {
    let es = locale == "es";
    let text = match category {
        "flower" if es => "flor",
        "concentrate" if es => "concentrado",
        "edible" if es => "THC en comestibles",
        "tincture" if es => "productos líquidos",
        "flower+concentrate" if es => "flor y concentrado juntos",
        "flower_equivalent" | "mme" if es => "flor, concentrado y comestibles juntos",
        "edible" => "THC in edibles",
        "tincture" => "liquid products",
        "flower+concentrate" => "flower and concentrate together",
        "flower_equivalent" | "mme" => "flower, concentrate and edibles together",
        other => other,
    };
    text.to_owned()
}

fn verdict_slots(c: &Checked, locale: &str) -> Slots {
    let v = &c.verdict;
    let mut slots = Slots::from([
        ("order_number".into(), json!(c.order.order_number)),
        ("state_name".into(), json!(v.state_name)),
        ("limit_explanation".into(), json!(v.explanation)),
        ("rule_source".into(), json!(v.rule_source)),
    ]);
    if let Some(first) = v.violations.first() {
        slots.insert("limit_category".into(), json!(first.category));
        slots.insert("limit_what".into(), json!(what(&first.category, locale)));
        slots.insert("limit_limit".into(), json!(number(first.limit)));
        slots.insert("limit_amount".into(), json!(number(first.amount)));
        slots.insert("limit_excess".into(), json!(number(first.excess)));
        slots.insert("limit_unit".into(), json!(first.unit));
    }
    let options: Vec<String> =
        v.changes.iter().enumerate().map(|(i, ch)| format!("{}. {}", i + 1, describe(ch, &c.lines, locale))).collect();
    slots.insert("limit_options".into(), json!(options.join("\n")));
    slots.insert("limit_option_count".into(), json!(options.len()));
    slots
}

/// `check_limits` (`number`): the order against the location's state limits. Outcomes `within`,
/// `over` (slots `limit_explanation`, `limit_category`, `limit_limit`, `limit_amount`,
/// `limit_excess`, `limit_unit`, `limit_options`), `unchecked` (the rules do not cover this
/// cart; slot `limit_explanation`), `empty` or `not_found`.
pub(super) async fn check_limits(
    conn: &mut AnyConnection,
    ctx: &ActionContext<'_>,
    args: &BTreeMap<String, String>,
) -> Result<ActionResult, StoreError> {
    let Some(c) = checked(conn, ctx, args).await? else { return Ok(ActionResult::outcome("not_found")) };
    let outcome = match (&c.verdict, c.lines.is_empty()) {
        (_, true) => "empty",
        (v, _) if !v.checked => "unchecked",
        (v, _) if v.allowed => "within",
        _ => "over",
    };
    Ok(ActionResult::new(outcome, verdict_slots(&c, ctx.locale)))
}

/// `apply_limit_change` (`number`, `choice`: 1-based option of `check_limits`): applies it,
/// after checking the order again. Outcomes `applied` (slots `applied_change`, `order_total`),
/// `invalid_choice`, `within` (nothing to change), `unchecked` or `not_found`.
pub(super) async fn apply_limit_change(
    conn: &mut AnyConnection,
    ctx: &ActionContext<'_>,
    args: &BTreeMap<String, String>,
) -> Result<ActionResult, StoreError> {
    let Some(c) = checked(conn, ctx, args).await? else { return Ok(ActionResult::outcome("not_found")) };
    if !c.verdict.checked {
        return Ok(ActionResult::new("unchecked", verdict_slots(&c, ctx.locale)));
    }
    if c.verdict.allowed {
        return Ok(ActionResult::new("within", verdict_slots(&c, ctx.locale)));
    }
    let pick = arg(args, "choice").and_then(|n| n.trim_end_matches('.').parse::<usize>().ok());
    let Some(change) = pick.and_then(|n| n.checked_sub(1)).and_then(|i| c.verdict.changes.get(i)) else {
        return Ok(ActionResult::new("invalid_choice", verdict_slots(&c, ctx.locale)));
    };
    let quantities: Vec<(i64, i64)> = change
        .remove
        .iter()
        .filter_map(|r| c.lines.get(r.line).map(|l| (l.line_no, l.quantity - i64::from(r.quantity))))
        .collect();
    ctx.commerce.set_line_quantities(conn, &c.order.order_id, &quantities).await?;
    let mut slots = verdict_slots(&c, ctx.locale);
    slots.insert("applied_change".into(), json!(describe(change, &c.lines, ctx.locale)));
    if let Some(after) = ctx.commerce.order(conn, ctx.contact_id, Some(&c.order.order_number)).await? {
        slots.insert("order_total".into(), json!(money(after.total_cents)));
    }
    Ok(ActionResult::new("applied", slots))
}
