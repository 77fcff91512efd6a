//! Catalogue actions: explain a price that differs online and in store (web-only promotions),
//! and compare what the website and the store's point of sale say is in stock.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde_json::json;
use sqlx::AnyConnection;

use super::{arg, money, ActionContext, ActionResult};
use crate::commerce::Product;
use crate::flows::engine::Slots;
use crate::store::StoreError;
use crate::understanding::entities;

/// The product `args.product` names: by SKU or name first, else the catalogue name the words
/// resemble best ("blu dream", "og kush prerol", or a whole sentence that mentions one).
async fn product(
    conn: &mut AnyConnection,
    ctx: &ActionContext<'_>,
    args: &BTreeMap<String, String>,
) -> Result<Option<Product>, StoreError> {
    let Some(text) = arg(args, "product") else { return Ok(None) };
    if let Some(found) = ctx.commerce.open(conn).find_products(text).await?.into_iter().next() {
        return Ok(Some(found));
    }
    let mut all = ctx.commerce.open(conn).all_products().await?;
    let names: Vec<&str> = all.iter().map(|p| p.name.as_str()).collect();
    Ok(entities::product(text, &names).map(|(i, _)| all.swap_remove(i)))
}

fn product_slots(p: &Product, ctx: &ActionContext<'_>) -> Slots {
    Slots::from([
        ("product_name".into(), json!(p.name)),
        ("sku".into(), json!(p.sku)),
        ("regular_price".into(), json!(money(p.price_cents))),
        ("location_name".into(), json!(ctx.location.name)),
    ])
}

/// `find_promotion` (`product`: a name or SKU): a promotion running now for it at this
/// location. Outcomes `promotion` (slots `promo_price`, `promo_description`, `promo_ends`,
/// `web_only`, plus the product's), `no_promotion` or `not_found`.
pub(super) async fn find_promotion(
    conn: &mut AnyConnection,
    ctx: &ActionContext<'_>,
    args: &BTreeMap<String, String>,
) -> Result<ActionResult, StoreError> {
    let Some(p) = product(conn, ctx, args).await? else { return Ok(ActionResult::outcome("not_found")) };
    let mut slots = product_slots(&p, ctx);
    let promotions = ctx.commerce.open(conn).promotions(&p.product_id, &ctx.location.location_id, ctx.now_ms).await?;
    let Some(promo) = promotions.into_iter().next() else { return Ok(ActionResult::new("no_promotion", slots)) };
    let tz = ctx.timezone();
    let ends = Timestamp::from_millisecond(promo.ends_at_ms).unwrap_or(Timestamp::UNIX_EPOCH).to_zoned_datetime(tz);
    // The promotion runs until the end of its last day; say that day.
    let last_day = ends.checked_sub(jiff::Span::new().milliseconds(1)).unwrap_or(ends);
    // A date; templates say it with {{day …}}.
    let ends_on = last_day.date().to_string();
    slots.insert("promo_price".into(), json!(money(promo.price_cents)));
    slots.insert("promo_description".into(), json!(promo.description));
    slots.insert("promo_ends".into(), json!(ends_on));
    slots.insert("web_only".into(), json!(if promo.web_only { "yes" } else { "no" }));
    Ok(ActionResult::new("promotion", slots))
}

/// `compare_stock` (`product`): what the website shows against what the store counts.
/// Outcomes `mismatch` (they disagree about whether it is available; slots `online_quantity`,
/// `store_quantity`), `in_stock`, `out_of_stock`, `no_record` or `not_found`.
pub(super) async fn compare_stock(
    conn: &mut AnyConnection,
    ctx: &ActionContext<'_>,
    args: &BTreeMap<String, String>,
) -> Result<ActionResult, StoreError> {
    let Some(p) = product(conn, ctx, args).await? else { return Ok(ActionResult::outcome("not_found")) };
    let mut slots = product_slots(&p, ctx);
    let Some(stock) = ctx.commerce.open(conn).stock(&ctx.location.location_id, &p.product_id).await? else {
        return Ok(ActionResult::new("no_record", slots));
    };
    slots.insert("online_quantity".into(), json!(stock.online));
    slots.insert("store_quantity".into(), json!(stock.store));
    // What the customer is told next depends on whether the store has any to hold.
    slots.insert("store_has_it".into(), json!(stock.store > 0));
    let outcome = match (stock.online > 0, stock.store > 0) {
        (true, true) => "in_stock",
        (false, false) => "out_of_stock",
        _ => "mismatch",
    };
    Ok(ActionResult::new(outcome, slots))
}

/// `product_info` (`product`): its price, a promotion running now, and whether the store and
/// the website have it. Outcomes `found` (slots `product_name`, `regular_price`,
/// `promo_price`, `promo_description`, `store_has_it`, `online_has_it`) or `not_found`.
pub(super) async fn product_info(
    conn: &mut AnyConnection,
    ctx: &ActionContext<'_>,
    args: &BTreeMap<String, String>,
) -> Result<ActionResult, StoreError> {
    let Some(p) = product(conn, ctx, args).await? else { return Ok(ActionResult::outcome("not_found")) };
    let mut slots = product_slots(&p, ctx);
    let location = &ctx.location.location_id;
    let stock = ctx.commerce.open(conn).stock(location, &p.product_id).await?;
    slots.insert("store_has_it".into(), json!(stock.as_ref().is_some_and(|s| s.store > 0)));
    slots.insert("online_has_it".into(), json!(stock.as_ref().is_some_and(|s| s.online > 0)));
    let promotion = ctx.commerce.open(conn).promotions(&p.product_id, location, ctx.now_ms).await?.into_iter().next();
    slots.insert("promo_price".into(), json!(promotion.as_ref().map_or(String::new(), |x| money(x.price_cents))));
    slots.insert("promo_description".into(), json!(promotion.map_or(String::new(), |x| x.description)));
    Ok(ActionResult::new("found", slots))
}
