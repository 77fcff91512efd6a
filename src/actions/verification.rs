//! Medical re-verification actions: where the customer's verification stands, locking
//! checkout when the platform says so, and a single-use upload link for the new document.

use std::collections::BTreeMap;

use serde_json::json;
use sqlx::AnyConnection;

use super::{arg, ActionContext, ActionResult};
use crate::domain::commerce::{CustomerType, LockReason, VerificationStatus};
use crate::flows::engine::Slots;
use crate::store::{uploads, StoreError};

/// `verification_status`: outcomes `locked` (slots `locked_reason`, `recommendation_expired_on`),
/// `expired` (a medical recommendation ended before today, store time, and checkout is not
/// locked yet), `pending` (a document is waiting for review), `verified` or `no_customer`.
pub(super) async fn status(conn: &mut AnyConnection, ctx: &ActionContext<'_>) -> Result<ActionResult, StoreError> {
    let Some(c) = ctx.commerce.open(conn).customer(ctx.contact_id).await? else {
        return Ok(ActionResult::outcome("no_customer"));
    };
    let mut slots = Slots::from([("locked_reason".into(), json!(c.locked_reason.map_or("", LockReason::as_str)))]);
    if let Some(on) = &c.recommendation_expires_on {
        slots.insert("recommendation_expired_on".into(), json!(on));
    }
    let today = jiff::Timestamp::from_millisecond(ctx.now_ms)
        .map(|t| t.to_zoned_datetime(ctx.timezone()).date().to_string())
        .unwrap_or_default();
    let lapsed = c.customer_type == CustomerType::Medical
        && c.recommendation_expires_on.as_deref().is_some_and(|on| on < today.as_str());
    let outcome = match (c.verification_status, c.locked_reason) {
        (VerificationStatus::PendingReview, _) => "pending",
        (VerificationStatus::Verified, None) if lapsed => "expired",
        (VerificationStatus::Verified, None) => "verified",
        _ => "locked",
    };
    Ok(ActionResult::new(outcome, slots))
}

/// `lock_account` (`reason`: recommendation_expired or id_verification_failed): locks checkout
/// and holds open orders. Outcomes `locked` (slot `held_orders`) or `no_customer`.
pub(super) async fn lock_account(
    conn: &mut AnyConnection,
    ctx: &ActionContext<'_>,
    args: &BTreeMap<String, String>,
) -> Result<ActionResult, StoreError> {
    let Some(c) = ctx.commerce.open(conn).customer(ctx.contact_id).await? else {
        return Ok(ActionResult::outcome("no_customer"));
    };
    let reason = arg(args, "reason").and_then(LockReason::parse).unwrap_or(LockReason::RecommendationExpired);
    let held = ctx.commerce.open(conn).lock_checkout(&c, reason, ctx.now_ms).await?;
    let mut slots = Slots::from([("held_orders".into(), json!(held)), ("locked_reason".into(), json!(reason))]);
    if let Some(on) = &c.recommendation_expires_on {
        slots.insert("recommendation_expired_on".into(), json!(on));
    }
    Ok(ActionResult::new("locked", slots))
}

/// `upload_link`: a signed, single-use link to upload the new document, valid for the
/// configured time. Outcomes `ready` (slots `upload_url`, `upload_expires`), `unavailable`
/// (uploads are not configured) or `no_customer`.
pub(super) async fn upload_link(conn: &mut AnyConnection, ctx: &ActionContext<'_>) -> Result<ActionResult, StoreError> {
    let Some(links) = &ctx.config.uploads else { return Ok(ActionResult::outcome("unavailable")) };
    let Some(c) = ctx.commerce.open(conn).customer(ctx.contact_id).await? else {
        return Ok(ActionResult::outcome("no_customer"));
    };
    let expires = ctx.now_ms + links.ttl_ms;
    let token = uploads::insert_token(conn, &c.customer_id, Some(ctx.conversation_id), expires, ctx.now_ms).await?;
    let slots = Slots::from([
        ("upload_url".into(), json!(links.url(&token))),
        // An instant; templates say it with {{when …}}.
        ("upload_expires".into(), json!(expires)),
    ]);
    Ok(ActionResult::new("ready", slots))
}
