//! Message status callbacks: Twilio tells us how an outbound message fared.
//!
//! Owns the callback's fields (`MessageSid`, `MessageStatus`, `ErrorCode`). A callback is
//! deduplicated on MessageSid + status, never moves a status backwards, and error 21610 (the
//! recipient replied STOP to the carrier) is recorded against the number.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use serde_json::json;

use super::{rejection_reason, TwilioForm};
use crate::domain::mask_phone;
use crate::error::Result;
use crate::startup::AppState;
use crate::store::consent::{self, NewConsent, TRANSACTIONAL};
use crate::store::{messages, receipts, StoreError};

/// Twilio's error for a message to a number that has opted out at the carrier.
pub const CARRIER_OPTED_OUT: &str = "21610";

pub fn router() -> Router<AppState> {
    Router::new().route("/webhooks/twilio/status", post(receive_status))
}

#[tracing::instrument(skip_all, fields(channel = "sms"))]
async fn receive_status(State(state): State<AppState>, form: TwilioForm) -> Result<StatusCode> {
    let fields = form.require("MessageSid").and_then(|sid| Ok((sid, form.require("MessageStatus")?)));
    let (sid, status) = fields.inspect_err(|e| {
        state.metrics.inc("leafdesk_webhook_rejections_total", &[("reason", rejection_reason(e))]);
    })?;
    let error_code = form.get("ErrorCode").filter(|c| !c.is_empty());
    let detail = json!({ "sid": sid, "status": status, "error_code": error_code });
    let first = receipts::record(&state.store, &format!("status:{sid}:{status}"), "status_callback", &detail).await?;
    if !first {
        return Ok(StatusCode::NO_CONTENT); // a retried callback: already applied
    }
    messages::advance_status(&state.store, sid, status, error_code).await?;
    if error_code == Some(CARRIER_OPTED_OUT) {
        if let Some(to) = form.get("To") {
            let mut tx = state.store.begin().await?;
            let evidence = json!({ "message_sid": sid, "error_code": CARRIER_OPTED_OUT });
            let consent =
                NewConsent { phone: to, purpose: TRANSACTIONAL, action: "opt_out", source: "carrier_21610", evidence };
            consent::record_all_purposes(&mut tx, consent).await?;
            tx.commit().await.map_err(StoreError::from)?;
            tracing::info!(to = %mask_phone(to), "carrier reports the number opted out (21610)");
        }
    }
    Ok(StatusCode::NO_CONTENT)
}
