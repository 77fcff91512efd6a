//! Purchase-limit actions: check an order against the state's limits (with the day's earlier
//! purchases where the state counts a day), and apply the change the customer picks.

use std::collections::BTreeMap;

use serde_json::json;
use sqlx::AnyConnection;

use super::{arg, clock, money, ActionContext, ActionResult};
use crate::commerce::OrderLine;
use crate::compliance::limits::{self, number, Change, Line, Request, Verdict};
use crate::domain::commerce::{CustomerType, Order};
use crate::flows::engine::Slots;
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
    let Some(order) = ctx.commerce.open(conn).order(ctx.contact_id, arg(args, "number")).await? else {
        return Ok(None);
    };
    let lines = ctx.commerce.open(conn).order_lines(&order.order_id).await?;
    let customer = ctx.commerce.open(conn).customer(ctx.contact_id).await?;
    let (kind, non_resident) = match &customer {
        Some(c) => (c.customer_type, c.non_resident),
        None => (ctx.customer_type, false),
    };
    let (start, end) = clock::local_day(ctx.now_ms, &ctx.timezone());
    let earlier = ctx.commerce.open(conn).purchases_between(ctx.contact_id, &order.order_id, start, end).await?;
    let cart: Vec<Line> = lines.iter().map(limit_line).collect();
    let earlier: Vec<Line> = earlier.iter().map(limit_line).collect();
    let verdict = limits::check(&Request {
        state: &ctx.location.state,
        customer: kind,
        non_resident,
        cart: &cart,
        earlier_today: &earlier,
    });
    Ok(Some(Checked { order, lines, verdict }))
}

/// An order line as the purchase-limit calculator counts it.
fn limit_line(line: &OrderLine) -> Line {
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

/// A change as templates say it (`{{change …}}`): what to take out of which line, all of it or
/// how many.
fn change_slot(change: &Change, lines: &[OrderLine]) -> serde_json::Value {
    let items: Vec<serde_json::Value> = change
        .remove
        .iter()
        .map(|r| {
            let all = lines.get(r.line).is_some_and(|l| i64::from(r.quantity) >= l.quantity);
            json!({ "label": r.label, "quantity": r.quantity, "all": all })
        })
        .collect();
    json!(items)
}

fn verdict_slots(c: &Checked) -> Slots {
    let v = &c.verdict;
    let mut slots = Slots::from([
        ("order_number".into(), json!(c.order.order_number)),
        ("state_name".into(), json!(v.state_name)),
        ("limit_explanation".into(), json!(v.explanation)),
        ("rule_source".into(), json!(v.rule_source)),
    ]);
    if let Some(first) = v.violations.first() {
        slots.insert("limit_category".into(), json!(first.category));
        slots.insert("limit_limit".into(), json!(number(first.limit)));
        slots.insert("limit_amount".into(), json!(number(first.amount)));
        slots.insert("limit_excess".into(), json!(number(first.excess)));
        slots.insert("limit_unit".into(), json!(first.unit));
    }
    if let Some(period) = v.period {
        slots.insert("limit_period".into(), json!(period));
    }
    slots.insert("limit_counts_earlier".into(), json!(v.counts_earlier));
    let changes: Vec<serde_json::Value> = v.changes.iter().map(|ch| change_slot(ch, &c.lines)).collect();
    slots.insert("limit_option_count".into(), json!(changes.len()));
    slots.insert("limit_changes".into(), json!(changes));
    slots
}

/// `check_limits` (`number`): the order against the location's state limits. Outcomes `within`,
/// `over` (slots `limit_category`, `limit_limit`, `limit_amount`, `limit_excess`, `limit_unit`,
/// `limit_period`, `limit_counts_earlier`, `limit_changes` for `{{changes …}}`, and the staff's
/// English `limit_explanation`), `unchecked` (the rules do not cover this cart), `empty` or
/// `not_found`.
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
    Ok(ActionResult::new(outcome, verdict_slots(&c)))
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
        return Ok(ActionResult::new("unchecked", verdict_slots(&c)));
    }
    if c.verdict.allowed {
        return Ok(ActionResult::new("within", verdict_slots(&c)));
    }
    let pick = arg(args, "choice").and_then(|n| n.trim_end_matches('.').parse::<usize>().ok());
    let Some(change) = pick.and_then(|n| n.checked_sub(1)).and_then(|i| c.verdict.changes.get(i)) else {
        return Ok(ActionResult::new("invalid_choice", verdict_slots(&c)));
    };
    let quantities: Vec<(i64, i64)> = change
        .remove
        .iter()
        .filter_map(|r| c.lines.get(r.line).map(|l| (l.line_no, l.quantity - i64::from(r.quantity))))
        .collect();
    ctx.commerce.open(conn).set_line_quantities(&c.order.order_id, &quantities).await?;
    let mut slots = verdict_slots(&c);
    slots.insert("applied_change".into(), change_slot(change, &c.lines));
    if let Some(after) = ctx.commerce.open(conn).order(ctx.contact_id, Some(&c.order.order_number)).await? {
        slots.insert("order_total".into(), json!(money(after.total_cents)));
    }
    Ok(ActionResult::new("applied", slots))
}

/// Words that say a quantity is concentrate or edibles; anything else weighed is flower.
const CONCENTRATE_WORDS: &[&str] = &[
    "wax",
    "dab",
    "shatter",
    "rosin",
    "resin",
    "concentrate",
    "budder",
    "badder",
    "crumble",
    "extract",
    "cart",
    "vape",
    "concentrado",
];
const EDIBLE_WORDS: &[&str] = &["edible", "gumm", "chocolate", "gomita", "comestible", "cookie", "brownie"];
const MEDICAL_WORDS: &[&str] = &["medical", "medico", "médico", "patient", "paciente", "mmj"];

/// What a quantity in `said` is of: the words of its own clause ("2 grams of wax", "wax, like
/// 10 grams"), else — when it is the only quantity — the whole message, else flower.
fn category_of(said: &str, asked: &str, only_one: bool) -> &'static str {
    let kind = |words: &str| {
        if EDIBLE_WORDS.iter().any(|w| words.contains(w)) {
            Some("edible")
        } else if CONCENTRATE_WORDS.iter().any(|w| words.contains(w)) {
            Some("concentrate")
        } else {
            None
        }
    };
    let (before, after) = said.split_once(asked).unwrap_or(("", ""));
    let boundary = |c: char| matches!(c, ',' | ';' | '.' | '?' | '!');
    let clause_after = after.split(boundary).next().unwrap_or("");
    let clause_after = clause_after.split(" and ").next().unwrap_or("").split(" y ").next().unwrap_or("");
    let clause_before = before.rsplit(boundary).next().unwrap_or("");
    let clause_before = clause_before.rsplit(" and ").next().unwrap_or("").rsplit(" y ").next().unwrap_or("");
    kind(clause_after)
        .or_else(|| kind(clause_before))
        .or_else(|| only_one.then(|| kind(said)).flatten())
        .unwrap_or("flower")
}

/// `explain_limits` (`said`: the customer's words; `amount`, `unit`: a quantity they named, in
/// g, mg or items; `asked`: its words; `count`: how many quantities the words have): the state's limits for them (a medical patient's when the words say
/// medical) and, for a quantity, whether it fits. Outcomes `explained` (slots `state_name`,
/// `limit_who`, `limit_period`, `limit_list` [{category, max}], `limit_source`, and for a
/// quantity `asked_said`, `asked_amount` ("85 g"), `asked_category`, and one of
/// `asked_within`, `asked_over`, `asked_unchecked` true) or `unknown` (no rules for the state).
pub(super) async fn explain_limits(
    conn: &mut AnyConnection,
    ctx: &ActionContext<'_>,
    args: &BTreeMap<String, String>,
) -> Result<ActionResult, StoreError> {
    let said = arg(args, "said").unwrap_or_default().to_lowercase();
    let mentions = |words: &[&str]| words.iter().any(|w| said.contains(w));
    let customer = match ctx.commerce.open(conn).customer(ctx.contact_id).await? {
        _ if mentions(MEDICAL_WORDS) => CustomerType::Medical,
        Some(c) => c.customer_type,
        None => ctx.customer_type,
    };
    let Some(summary) = limits::summary(&ctx.location.state, customer) else {
        return Ok(ActionResult::new("unknown", Slots::from([("state_name".into(), json!(ctx.location.state))])));
    };
    let list: Vec<_> =
        summary.limits.iter().map(|(category, max)| json!({ "category": category, "max": max })).collect();
    // The citation without its address: an SMS carries the rule's name, the console the rest.
    let short_source = summary.source.split([',', '(', '\'']).next().unwrap_or_default().trim();
    let mut slots = Slots::from([
        ("state_name".into(), json!(summary.state_name)),
        ("limit_who".into(), json!(customer.as_str())),
        ("limit_period".into(), json!(summary.period)),
        ("limit_list".into(), json!(list)),
        ("limit_source".into(), json!(short_source)),
    ]);
    // Every asked_* slot is written, so nothing from an earlier question lingers.
    for (name, empty) in [("asked_said", json!("")), ("asked_amount", json!("")), ("asked_category", json!(""))]
        .into_iter()
        .chain(["asked_within", "asked_over", "asked_unchecked", "asked_same"].map(|n| (n, json!(false))))
    {
        slots.insert(name.into(), empty);
    }
    let amount = arg(args, "amount").and_then(|a| a.parse::<f64>().ok());
    if let (Some(amount), Some(unit)) = (amount, arg(args, "unit").filter(|u| *u != "items")) {
        let asked = arg(args, "asked").unwrap_or_default().to_lowercase();
        let only_one = arg(args, "count").is_none_or(|n| n == "1");
        let category = if unit == "mg" { "edible" } else { category_of(&said, &asked, only_one) };
        let (weight_g, thc_mg) = if unit == "mg" { (None, Some(amount)) } else { (Some(amount), None) };
        let line = Line { label: category.into(), category: category.into(), quantity: 1, weight_g, thc_mg };
        let verdict = limits::check(&Request {
            state: &ctx.location.state,
            customer,
            non_resident: false,
            cart: std::slice::from_ref(&line),
            earlier_today: &[],
        });
        let shown = if amount >= 10.0 { format!("{amount:.0}") } else { number(amount) };
        slots.insert("asked_said".into(), json!(arg(args, "asked").unwrap_or_default()));
        slots.insert("asked_amount".into(), json!(format!("{shown} {unit}")));
        // "10g" needs no "is 10 g" after it.
        let same = asked.replace(' ', "") == format!("{shown}{unit}");
        slots.insert("asked_same".into(), json!(same));
        slots.insert(
            "asked_category".into(),
            json!(verdict.violations.first().map_or(category, |v| v.category.as_str())),
        );
        let verdict_slot = match (verdict.checked, verdict.allowed) {
            (false, _) => "asked_unchecked",
            (true, true) => "asked_within",
            (true, false) => "asked_over",
        };
        slots.insert(verdict_slot.into(), json!(true));
    }
    Ok(ActionResult::new("explained", slots))
}
