//! The events API: `POST /api/v1/events`, signed JSON events from the e-commerce platform or a
//! POS that start (or continue) a customer's conversation proactively, and the OpenAPI
//! document at `GET /api/v1/openapi.json`.
//!
//! Owns the events wire format and its verification: `X-Leafdesk-Timestamp` (Unix seconds,
//! within five minutes of our clock) and `X-Leafdesk-Signature: v1=<hex HMAC-SHA256 of
//! "{timestamp}.{raw body}">` under an integration's secret. Several `v1=` values, comma
//! separated, are accepted while a secret is rotated. Each failure is a 4xx naming the problem;
//! nothing is stored for a rejected event. An accepted event is claimed by its `id` in the same
//! transaction as its turn, so a retry is answered with the first answer and does nothing.

use axum::body::{to_bytes, Body};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use sha2::Sha256;

use crate::domain::Channel;
use crate::error::AppError;
use crate::flows::model::KNOWN_EVENTS;
use crate::pipeline::{Handled, PlatformEvent};
use crate::startup::AppState;
use crate::store::commerce;
use crate::store::integrations::{self, Integration, Receipt};

/// 300 s: a signed request older (or newer) than this is refused as a possible replay.
pub const MAX_SKEW_SECS: i64 = 300;
/// 256 KiB: far above any real event (session data included).
pub const MAX_EVENT_BYTES: usize = 256 * 1024;
/// The OpenAPI document, kept beside the code it describes.
const OPENAPI: &str = include_str!("../../static/openapi.json");

pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/events", post(receive_event)).route("/api/v1/openapi.json", get(openapi))
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

/// One event as the platform sends it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EventPayload {
    /// The platform's id for this event; the same id twice is one event.
    id: String,
    #[serde(rename = "type")]
    event_type: String,
    customer_id: String,
    /// When it happened (RFC 3339), for the record.
    #[serde(default)]
    occurred_at: Option<String>,
    #[serde(default)]
    data: Map<String, Value>,
}

#[tracing::instrument(skip_all, fields(channel = "events"), err(level = "warn"))]
async fn receive_event(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Result<Response, AppError> {
    check_json(&headers)?;
    let body = to_bytes(body, MAX_EVENT_BYTES).await.map_err(|_| AppError::TooLarge(MAX_EVENT_BYTES))?;
    let integration = verify(&integrations::active(&state.store).await?, &headers, &body, state.store.now_ms() / 1000)?;
    let payload: EventPayload = serde_json::from_slice(&body).map_err(|e| {
        AppError::rejected(StatusCode::BAD_REQUEST, "malformed_body", format!("the body is not a valid event: {e}"))
    })?;
    validate(&payload)?;
    let event = resolve(&state, &integration, payload, &body).await?;
    let event_id = event.receipt.as_ref().map(|r| r.event_id.clone()).unwrap_or_default();
    let handled = state.pipeline.handle_event(event).await.map_err(|e| AppError::Internal(e.into()))?;
    let stored = integrations::result(&state.store, &integration.integration_id, &event_id).await?;
    let mut result: Value = stored.and_then(|r| serde_json::from_str(&r).ok()).unwrap_or_else(|| json!({}));
    result["id"] = json!(event_id);
    let status = if matches!(handled, Handled::Duplicate { .. }) {
        result["duplicate"] = json!(true);
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    Ok((status, Json(result)).into_response())
}

/// # Errors
/// 415 unless the body is JSON.
pub fn check_json(headers: &HeaderMap) -> Result<(), AppError> {
    let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if ct.split(';').next().is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json")) {
        Ok(())
    } else {
        let message = format!("content type {ct:?} is not accepted; send application/json");
        Err(AppError::rejected(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", message))
    }
}

fn unauthorized(code: &'static str, message: impl Into<String>) -> AppError {
    AppError::rejected(StatusCode::UNAUTHORIZED, code, message)
}

/// The integration whose secret signed this request.
///
/// # Errors
/// 401 naming what is missing, malformed, too old, or wrong.
pub fn verify(
    active: &[Integration],
    headers: &HeaderMap,
    body: &[u8],
    now_secs: i64,
) -> Result<Integration, AppError> {
    let header_text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    let ts = header_text("x-leafdesk-timestamp")
        .ok_or_else(|| unauthorized("missing_timestamp", "X-Leafdesk-Timestamp is required (Unix seconds)"))?;
    let secs: i64 = ts.parse().map_err(|_| {
        unauthorized("bad_timestamp", format!("X-Leafdesk-Timestamp {ts:?} is not a number of Unix seconds"))
    })?;
    let skew = (now_secs - secs).abs();
    if skew > MAX_SKEW_SECS {
        return Err(unauthorized(
            "stale_timestamp",
            format!("X-Leafdesk-Timestamp is {skew} s from our clock; more than {MAX_SKEW_SECS} s is refused as a possible replay. Sign each request with the current time."),
        ));
    }
    let signatures: Vec<Vec<u8>> = header_text("x-leafdesk-signature")
        .ok_or_else(|| unauthorized("missing_signature", "X-Leafdesk-Signature is required: v1=<hex HMAC-SHA256>"))?
        .split(',')
        .filter_map(|part| part.trim().strip_prefix("v1="))
        .filter_map(|hex_sig| hex::decode(hex_sig).ok())
        .collect();
    if signatures.is_empty() {
        return Err(unauthorized("bad_signature", "X-Leafdesk-Signature must be v1=<hex HMAC-SHA256>"));
    }
    if let Some(integration) = signed_by(active, ts, body, &signatures) {
        return Ok(integration);
    }
    Err(unauthorized(
        "bad_signature",
        "the signature matches no integration's secret; sign \"{timestamp}.{raw body}\" with HMAC-SHA256 under your integration secret",
    ))
}

/// The active integration whose secret signed `"{ts}.{body}"` with one of `signatures`
/// (HMAC-SHA256, compared in constant time).
pub fn signed_by(active: &[Integration], ts: &str, body: &[u8], signatures: &[Vec<u8>]) -> Option<Integration> {
    active.iter().find_map(|integration| {
        let mut mac = Hmac::<Sha256>::new_from_slice(integration.secret.as_bytes()).expect("HMAC takes any key");
        mac.update(ts.as_bytes());
        mac.update(b".");
        mac.update(body);
        signatures.iter().any(|sig| mac.clone().verify_slice(sig).is_ok()).then(|| integration.clone())
    })
}

fn unprocessable(code: &'static str, message: String) -> AppError {
    AppError::rejected(StatusCode::UNPROCESSABLE_ENTITY, code, message)
}

/// The fields each event type needs, checked before anything is stored.
fn validate(p: &EventPayload) -> Result<(), AppError> {
    for (field, value) in [("id", &p.id), ("customer_id", &p.customer_id)] {
        if value.trim().is_empty() {
            return Err(unprocessable("missing_field", format!("{field} is required")));
        }
    }
    let text = |field: &str| p.data.get(field).and_then(Value::as_str).filter(|v| !v.trim().is_empty());
    let require = |field: &'static str| {
        text(field)
            .map(|_| ())
            .ok_or_else(|| unprocessable("missing_field", format!("data.{field} is required for {}", p.event_type)))
    };
    match p.event_type.as_str() {
        "payment.declined" | "limit.exceeded" | "order.updated" => require("order_number"),
        "account.locked" => match text("reason") {
            Some("recommendation_expired" | "id_verification_failed") => Ok(()),
            other => Err(unprocessable(
                "invalid_field",
                format!("data.reason {other:?} must be recommendation_expired or id_verification_failed"),
            )),
        },
        "inventory.sync_error" => {
            require("sku")?;
            let codes_ok =
                p.data.get("error_codes").is_none_or(|v| v.as_array().is_some_and(|a| a.iter().all(Value::is_string)));
            let session_ok = p.data.get("session").is_none_or(Value::is_object);
            match (codes_ok, session_ok) {
                (true, true) => Ok(()),
                (false, _) => Err(unprocessable("invalid_field", "data.error_codes must be a list of strings".into())),
                (_, false) => Err(unprocessable("invalid_field", "data.session must be an object".into())),
            }
        }
        other => Err(unprocessable(
            "unknown_event_type",
            format!("unknown event type {other:?}; known types: {}", KNOWN_EVENTS.join(", ")),
        )),
    }
}

/// The customer, their contact and store, and the channel to reach them on.
async fn resolve(
    state: &AppState,
    integration: &Integration,
    p: EventPayload,
    body: &[u8],
) -> Result<PlatformEvent, AppError> {
    let unknown = || {
        AppError::rejected(
            StatusCode::NOT_FOUND,
            "unknown_customer",
            format!("no customer {:?}; sync the customer to leafdesk before sending their events", p.customer_id),
        )
    };
    let commerce::Reach { contact, location, .. } =
        commerce::reach(&state.store, &p.customer_id).await?.ok_or_else(unknown)?;
    // SMS is the channel that can reach a customer first; a web or voice preference is served
    // there when those channels can start conversations.
    let channel = Channel::Sms;
    let mut data: crate::flows::engine::Slots = p.data.into_iter().collect();
    if let Some(at) = &p.occurred_at {
        data.insert("occurred_at".into(), json!(at));
    }
    let receipt = Receipt {
        integration_id: integration.integration_id.clone(),
        event_id: p.id,
        event_type: p.event_type.clone(),
        customer_id: p.customer_id,
        body: String::from_utf8_lossy(body).into_owned(),
    };
    Ok(PlatformEvent { event_type: p.event_type, data, contact, location, channel, receipt: Some(receipt) })
}

/// A new integration secret: 32 random bytes, hex.
///
/// # Errors
/// When the operating system has no randomness to give.
pub fn new_secret() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(format!("ldk_{}", hex::encode(bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn integration() -> Integration {
        Integration { integration_id: "i1".into(), name: "shop".into(), secret: "s3cret".into() }
    }

    fn headers(ts: &str, sig: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-leafdesk-timestamp", ts.parse().unwrap());
        h.insert("x-leafdesk-signature", sig.parse().unwrap());
        h
    }

    fn sign(secret: &str, ts: &str, body: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(format!("{ts}.{body}").as_bytes());
        format!("v1={}", hex::encode(mac.finalize().into_bytes()))
    }

    fn code(err: AppError) -> &'static str {
        match err {
            AppError::Rejected { code, .. } => code,
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn a_correct_signature_within_five_minutes_names_its_integration() {
        let body = r#"{"id":"e1"}"#;
        let sig = sign("s3cret", "1000", body);
        let found = verify(&[integration()], &headers("1000", &sig), body.as_bytes(), 1000 + MAX_SKEW_SECS).unwrap();
        assert_eq!(found.name, "shop");
        // While rotating, the old and the new signature both travel.
        let both = format!("v1=00ff, {sig}");
        assert!(verify(&[integration()], &headers("1000", &both), body.as_bytes(), 1000).is_ok());
    }

    #[test]
    fn every_bad_signature_is_refused_with_its_reason() {
        let body = r#"{"id":"e1"}"#;
        let good = sign("s3cret", "1000", body);
        let cases = [
            (headers("1000", &sign("other", "1000", body)), 1000, "bad_signature"),
            (headers("1000", &sign("s3cret", "1000", "{}")), 1000, "bad_signature"),
            (headers("999", &good), 1000, "bad_signature"),
            (headers("1000", &good), 1000 + MAX_SKEW_SECS + 1, "stale_timestamp"),
            (headers("1000", &good), 1000 - MAX_SKEW_SECS - 1, "stale_timestamp"),
            (headers("soon", &good), 1000, "bad_timestamp"),
            (headers("1000", "sha256=abc"), 1000, "bad_signature"),
        ];
        for (h, now, want) in cases {
            assert_eq!(code(verify(&[integration()], &h, body.as_bytes(), now).unwrap_err()), want);
        }
        let mut missing = headers("1000", &good);
        missing.remove("x-leafdesk-signature");
        assert_eq!(code(verify(&[integration()], &missing, body.as_bytes(), 1000).unwrap_err()), "missing_signature");
        missing.remove("x-leafdesk-timestamp");
        assert_eq!(code(verify(&[integration()], &missing, body.as_bytes(), 1000).unwrap_err()), "missing_timestamp");
    }
}
