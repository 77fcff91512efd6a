//! Message status callbacks: Twilio tells us how an outbound message fared.
//!
//! Owns the callback's fields (`MessageSid`, `MessageStatus`, `ErrorCode`). A callback is
//! deduplicated on MessageSid + status, never moves a status backwards, and error 21610 (the
//! recipient replied STOP to the carrier) is recorded against the number.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use serde_json::json;

use super::{rejection_reason, TwilioForm};
use crate::domain::mask_phone;
use crate::error::Result;
use crate::state::AppState;
use crate::store::consent::{self, NewConsent, TRANSACTIONAL};
use crate::store::{messages, outbox, receipts, StoreError};

/// Twilio's error for a message to a number that has opted out at the carrier.
pub const CARRIER_OPTED_OUT: &str = "21610";

pub fn router() -> Router<AppState> {
    Router::new().route("/webhooks/twilio/status", post(receive_status))
}

/// The outbox row a callback is about, when we sent it (our `StatusCallback` names it).
#[derive(serde::Deserialize)]
struct Marker {
    outbox: Option<String>,
}

#[tracing::instrument(skip_all, fields(channel = "sms"))]
async fn receive_status(
    State(state): State<AppState>,
    marker: Result<Query<Marker>, QueryRejection>,
    form: TwilioForm,
) -> Result<StatusCode> {
    let fields = form.message_sid().and_then(|sid| Ok((sid, form.require("MessageStatus")?)));
    let (sid, status) = fields.inspect_err(|e| {
        state.metrics.inc("leafdesk_webhook_rejections_total", &[("reason", rejection_reason(e))]);
    })?;
    let error_code = form.get("ErrorCode").filter(|c| !c.is_empty());
    let detail = json!({ "sid": sid, "status": status, "error_code": error_code });
    let now = state.store.now_ms();
    // Receipt, status and a carrier opt-out in one transaction: if recording fails, nothing is
    // kept, Twilio's retry is not taken for a duplicate, and the opt-out is not lost.
    let mut tx = state.store.begin().await?;
    if !receipts::record(&mut tx, &format!("status:{sid}:{status}"), "status_callback", &detail, now).await? {
        return Ok(StatusCode::NO_CONTENT); // a retried callback: already applied
    }
    if !messages::advance_status(&mut tx, sid, status, error_code, now).await? {
        // A message we do not know by this id: the answer to its send was lost. The report
        // settles its outbox row as sent, so it is never sent again.
        if let Ok(Query(Marker { outbox: Some(outbox_id) })) = &marker {
            if outbox::adopt(&mut tx, outbox_id, sid, now).await? {
                tracing::info!("a delivery report settled a send whose answer was lost");
                messages::advance_status(&mut tx, sid, status, error_code, now).await?;
            }
        }
    }
    if let Some(rank) = messages::status_rank(status) {
        outbox::record_delivery(&mut tx, sid, status, rank).await?;
    }
    let opted_out_to = form.get("To").filter(|_| error_code == Some(CARRIER_OPTED_OUT));
    if let Some(to) = opted_out_to {
        let evidence = json!({ "message_sid": sid, "error_code": CARRIER_OPTED_OUT });
        let consent =
            NewConsent { phone: to, purpose: TRANSACTIONAL, action: "opt_out", source: "carrier_21610", evidence };
        consent::record_all_purposes(&mut tx, consent, now).await?;
    }
    tx.commit().await.map_err(StoreError::from)?;
    if let Some(to) = opted_out_to {
        tracing::info!(to = %mask_phone(to), "carrier reports the number opted out (21610)");
    }
    Ok(StatusCode::NO_CONTENT)
}
