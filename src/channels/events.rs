//! The events API: `POST /api/v1/events`, signed JSON events from the e-commerce platform or a
//! POS that start (or continue) a customer's conversation proactively, and the OpenAPI
//! document at `GET /api/v1/openapi.json`.
//!
//! Owns the events wire format. Requests are signed as `crate::signed` says (timestamp within
//! five minutes, HMAC-SHA256 over timestamp, method, path and body under an integration's
//! secret), and the signature is checked before anything else is read. Each failure is a 4xx
//! naming the problem; nothing is stored for a rejected event. An accepted event is claimed by
//! its `id` in the same transaction as its turn, so a retry is answered with the first answer
//! and does nothing.

use axum::body::to_bytes;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::commerce;
use crate::domain::Channel;
use crate::error::{AppError, Refused};
use crate::flows::model::KNOWN_EVENTS;
use crate::pipeline::{EventOutcome, Handled, PlatformEvent};
use crate::state::AppState;
use crate::store::integrations::{self, Integration, Receipt};

/// 256 KiB: far above any real event (session data included).
pub const MAX_EVENT_BYTES: usize = 256 * 1024;
/// 128: an event or customer id is a key, not a document.
pub const MAX_ID_CHARS: usize = 128;
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
pub struct EventPayload {
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
async fn receive_event(State(state): State<AppState>, request: Request) -> Result<Response, AppError> {
    let (integration, body) = signed_body(&state, request).await?;
    let payload = parse_event(&body)?;
    let event = resolve(&state, &integration, payload, &body).await?;
    let event_id = event.receipt.as_ref().map(|r| r.event_id.clone()).unwrap_or_default();
    match state.pipeline.handle_event(event).await? {
        Handled::Event { outcome, .. } => {
            Ok((StatusCode::ACCEPTED, Json(answer(&event_id, &outcome, false))).into_response())
        }
        _ => {
            // A retry: the first answer, kept with the event's receipt.
            let stored = integrations::result(&state.store, &integration.integration_id, &event_id).await?;
            let outcome: EventOutcome = stored
                .and_then(|r| serde_json::from_str(&r).ok())
                .ok_or_else(|| AppError::Internal(anyhow::anyhow!("a claimed event has no stored outcome")))?;
            Ok((StatusCode::OK, Json(answer(&event_id, &outcome, true))).into_response())
        }
    }
}

/// The events API's answer: what became of the event.
fn answer(event_id: &str, outcome: &EventOutcome, duplicate: bool) -> Value {
    let mut answer = json!({
        "id": event_id,
        "status": "accepted",
        "conversation_id": outcome.conversation_id,
        "flow": outcome.flow,
        "channel": outcome.channel,
        "messages_queued": outcome.messages_queued,
        "handed_off_to": outcome.handed_off_to,
        "reported_to": outcome.reported_to,
    });
    if outcome.person_has_it {
        answer["note"] = json!("a person is handling this customer's conversation; the event was added to it for them");
    }
    if duplicate {
        answer["duplicate"] = json!(true);
    }
    answer
}

/// A signed JSON request's body and the integration that signed it, checked before anything
/// else is read: content type, size (at most [`MAX_EVENT_BYTES`]), then the signature over
/// timestamp, method, path and body.
///
/// # Errors
/// 415, 413, or 401 naming what is wrong with the signature.
pub async fn signed_body(state: &AppState, request: Request) -> Result<(Integration, axum::body::Bytes), AppError> {
    signed_body_within(state, request, MAX_EVENT_BYTES).await
}

/// [`signed_body`] with another size limit (a call's transcript is larger than any event).
///
/// # Errors
/// As [`signed_body`].
pub async fn signed_body_within(
    state: &AppState,
    request: Request,
    limit: usize,
) -> Result<(Integration, axum::body::Bytes), AppError> {
    let (parts, body) = request.into_parts();
    check_json(&parts.headers)?;
    let body = to_bytes(body, limit).await.map_err(|_| AppError::TooLarge(limit))?;
    let header_text = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
    let signed = crate::signed::Request {
        timestamp: header_text("x-leafdesk-timestamp"),
        signature: header_text("x-leafdesk-signature"),
        method: parts.method.as_str(),
        path: parts.uri.path(),
        body: &body,
    };
    let keys = state.keys.current().await?;
    let now = state.store.clock().now_secs();
    let integration = crate::signed::verify_request(&keys, &signed, now, state.settings.accept_v1_signatures)
        .map_err(|refusal| super::refused(&refusal))?;
    Ok((integration.clone(), body))
}

/// The event in a body, with the fields its type needs.
///
/// # Errors
/// 400 for a body that is not an event, 422 naming a missing or invalid field.
pub fn parse_event(body: &[u8]) -> Result<EventPayload, AppError> {
    let payload: EventPayload = serde_json::from_slice(body).map_err(|e| {
        AppError::rejected(Refused::Malformed, "malformed_body", format!("the body is not a valid event: {e}"))
    })?;
    validate(&payload)?;
    Ok(payload)
}

/// # Errors
/// 415 unless the body is JSON.
pub fn check_json(headers: &HeaderMap) -> Result<(), AppError> {
    let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if ct.split(';').next().is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json")) {
        Ok(())
    } else {
        let message = format!("content type {ct:?} is not accepted; send application/json");
        Err(AppError::rejected(Refused::UnsupportedMediaType, "unsupported_media_type", message))
    }
}

fn unprocessable(code: &'static str, message: String) -> AppError {
    AppError::rejected(Refused::Unprocessable, code, message)
}

/// The fields each event type needs, checked before anything is stored.
fn validate(p: &EventPayload) -> Result<(), AppError> {
    for (field, value) in [("id", &p.id), ("customer_id", &p.customer_id)] {
        if super::is_blank(value) {
            return Err(unprocessable("missing_field", format!("{field} is required")));
        }
        if value.chars().count() > MAX_ID_CHARS {
            return Err(unprocessable("invalid_field", format!("{field} is longer than {MAX_ID_CHARS} characters")));
        }
    }
    let mut texts = [&p.id, &p.event_type, &p.customer_id].into_iter().chain(&p.occurred_at);
    if texts.any(|t| t.contains('\0')) || p.data.iter().any(|(k, v)| k.contains('\0') || has_nul(v)) {
        return Err(unprocessable("invalid_field", NUL_REFUSED.into()));
    }
    let text = |field: &str| p.data.get(field).and_then(Value::as_str).filter(|v| !super::is_blank(v));
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
                match other {
                    Some(reason) => {
                        format!("data.reason {reason:?} must be recommendation_expired or id_verification_failed")
                    }
                    None => "data.reason is required: recommendation_expired or id_verification_failed".to_owned(),
                },
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

/// PostgreSQL's text cannot hold U+0000, and an event's strings reach the store (ids, slots,
/// rendered messages): refused up front, on SQLite too, so both databases answer alike.
pub const NUL_REFUSED: &str = "text must not contain the NUL character (U+0000)";

/// Whether any string in `value`, object keys included, holds U+0000.
fn has_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(has_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
        Value::Null | Value::Bool(_) | Value::Number(_) => false,
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
            Refused::NotFound,
            "unknown_customer",
            format!("no customer {:?}; sync the customer to leafdesk before sending their events", p.customer_id),
        )
    };
    let commerce::Reach { contact, location, .. } =
        commerce::reach(state.commerce.as_ref(), &state.store, &p.customer_id).await?.ok_or_else(unknown)?;
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
