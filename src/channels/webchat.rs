//! Web chat channel: the chat widget a store embeds for its signed-in customers (`GET /chat`)
//! and its JSON API (`POST /api/v1/chat/messages`, `POST /api/v1/chat/consent`).
//!
//! Who is chatting is vouched for by the e-commerce platform, which knows its signed-in
//! customer: the widget's link carries `customer`, `ts` (Unix seconds) and `sig`, `v1=` and the
//! hex HMAC-SHA256 of `"{ts}.chat:{customer}"` under an integration secret (as events are
//! signed), good for 12 hours. Messages run through the same pipeline as SMS — consent words
//! first, so "stop texting me" typed here revokes consent, recorded with source `web_chat` —
//! and the replies come back in the response as JSON frames. A person's replies (after a
//! hand-off) are fetched by the widget (`POST /api/v1/chat/updates`, every few seconds). The
//! widget's "text me offers" box
//! is step 1 of double opt-in, recorded as the web form's is with source `web_chat`.
//!
//! Owns the widget's wire format; the turn is `pipeline`, the request is `channels::optin`.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::optin::{self, Asked};
use crate::commerce::{self, Reach};
use crate::domain::{Channel, Inbound, PhoneNumber};
use crate::error::{AppError, Refused};
use crate::pipeline::Handled;
use crate::state::AppState;

/// The longest message a customer can type, as for SMS.
const MAX_TEXT_CHARS: usize = crate::domain::MAX_MESSAGE_CHARS;
const MAX_BODY_BYTES: usize = 16 * 1024;

pub fn router() -> Router<AppState> {
    let api = Router::new()
        .route("/api/v1/chat/messages", post(message))
        .route("/api/v1/chat/consent", post(consent))
        .route("/api/v1/chat/updates", post(updates))
        // Refused at 16 KiB while reading, before anything is parsed or checked.
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES));
    Router::new().route("/chat", get(show)).merge(api)
}

/// The platform's word for who is chatting.
#[derive(Debug, Deserialize)]
pub struct Link {
    customer: String,
    ts: String,
    sig: String,
}

/// The customer a chat link names, if an active integration signed it in the last 12 hours.
pub(super) async fn identify(state: &AppState, link: &Link) -> Result<Reach, AppError> {
    let keys = state.keys.current().await?;
    let now = state.store.clock().now_secs();
    crate::signed::verify_link(&keys, &link.customer, &link.ts, &link.sig, now)
        .map_err(|refusal| super::refused(&refusal))?;
    commerce::reach(state.commerce.as_ref(), &state.store, &link.customer).await?.ok_or_else(|| {
        AppError::rejected(
            Refused::NotFound,
            "unknown_customer",
            "no such customer; sync it with PUT /api/v1/customers/{id}",
        )
    })
}

/// The chat widget's path and query for `customer`, signed at `ts` with an integration's
/// secret: what the platform puts in its page (here for `leafdesk integration chat-link`).
pub fn signed_path(secret: &str, customer: &str, ts: i64) -> String {
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("customer", customer)
        .append_pair("ts", &ts.to_string())
        .append_pair("sig", &crate::signed::sign_link(secret, customer, ts))
        .finish();
    format!("/chat?{query}")
}

async fn show(
    State(state): State<AppState>,
    link: Result<Query<Link>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, AppError> {
    // A page that cannot open says why: a `chat_problem` code (templates/messages/<locale>/terms.yaml).
    let problem = |status: StatusCode, code: &str| -> Result<Response, AppError> {
        let html = state.pages.render("chat", &json!({ "problem": code }))?;
        Ok((status, Html(html)).into_response())
    };
    let Ok(Query(link)) = link else {
        return problem(StatusCode::BAD_REQUEST, "no_link");
    };
    let reach = match identify(&state, &link).await {
        Ok(reach) => reach,
        Err(rejected @ AppError::Rejected { .. }) => return problem(rejected.status(), "expired"),
        Err(e) => return Err(e),
    };
    let (version, disclosure) = optin::current_chat_disclosure(&reach.location);
    // The widget's settings, read by /static/chat.js: JSON with `<` escaped, so no value can
    // close the script element it sits in.
    let config = json!({
        "link": { "customer": link.customer, "ts": link.ts, "sig": link.sig },
        "version": version,
        // Messages ids grow with time: the widget asks for those after this one.
        "cursor": crate::new_id(),
    });
    // The greeting is a message in the customer's language (templates/messages/<locale>/webchat).
    let locale = reach.contact.locale.as_str();
    let contact = json!({ "contact": { "first_name": reach.contact.first_name, "locale": locale } });
    let greeting = state.library.get().templates.render("webchat/greeting", locale, Channel::Web, &contact)?;
    let data = json!({
        "location": { "name": reach.location.name },
        "es": locale == "es",
        "greeting": greeting,
        "config_json": config.to_string().replace('<', "\\u003c"),
        "disclosure": disclosure,
    });
    let html = state.pages.render("chat", &data)?;
    Ok(([("cache-control", "no-store"), ("referrer-policy", "no-referrer")], Html(html)).into_response())
}

/// A chat API body: the link is checked first (only its three fields are read), then the
/// whole body is parsed as `T`. The body was already capped at [`MAX_BODY_BYTES`] by the route.
async fn authenticated<T: serde::de::DeserializeOwned>(
    state: &AppState,
    body: Result<Bytes, BytesRejection>,
) -> Result<(Reach, T), AppError> {
    let body = body.map_err(|_| AppError::TooLarge(MAX_BODY_BYTES))?;
    let link: Link = parse_json(&body)?;
    let reach = identify(state, &link).await?;
    Ok((reach, parse_json(&body)?))
}

/// # Errors
/// 400 naming what is wrong with the JSON.
pub fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, AppError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(AppError::TooLarge(MAX_BODY_BYTES));
    }
    serde_json::from_slice(body).map_err(|e| {
        AppError::rejected(
            Refused::Malformed,
            "malformed_body",
            format!("the body is not valid JSON for this call: {e}"),
        )
    })
}

#[derive(Debug, Deserialize)]
pub struct ChatMessage {
    /// The widget's id for this message: a retry with the same id gets the first answer.
    pub id: String,
    pub text: String,
}

/// A chat message's checked fields: its id and trimmed text.
///
/// # Errors
/// 422 naming the field.
pub fn check_message(m: &ChatMessage) -> Result<(&str, &str), AppError> {
    let invalid = |message: String| AppError::rejected(Refused::Unprocessable, "invalid_field", message);
    let id = m.id.trim();
    if id.is_empty() || id.len() > 64 {
        return Err(invalid("id must be 1 to 64 characters, unique per message".into()));
    }
    let text = m.text.trim();
    if text.is_empty() || text.chars().count() > MAX_TEXT_CHARS || text.contains('\0') {
        return Err(invalid(format!("text must be 1 to {MAX_TEXT_CHARS} characters, without NUL")));
    }
    Ok((id, text))
}

#[tracing::instrument(skip_all, fields(channel = "web"), err(level = "warn"))]
async fn message(State(state): State<AppState>, body: Result<Bytes, BytesRejection>) -> Result<Response, AppError> {
    let (reach, m): (Reach, ChatMessage) = authenticated(&state, body).await?;
    let (id, text) = check_message(&m)?;
    let from = PhoneNumber::parse(&reach.contact.phone)?;
    let provider_id = format!("web:{}:{id}", reach.customer.customer_id);
    let (replies, duplicate) = chat_turn(&state, from, provider_id, text, reach.location).await?;
    let frames: Vec<_> = replies.iter().map(|text| json!({ "type": "text", "text": text })).collect();
    Ok(Json(json!({ "replies": frames, "duplicate": duplicate })).into_response())
}

/// One chat message through the pipeline, as any chat front end sends it: the bot's texts, and
/// whether this was a retry (then they are the first answer's).
pub(super) async fn chat_turn(
    state: &AppState,
    from: PhoneNumber,
    provider_id: String,
    text: &str,
    location: crate::store::locations::Location,
) -> Result<(Vec<String>, bool), AppError> {
    let inbound = Inbound {
        channel: Channel::Web,
        provider_id,
        from,
        to: location.phone_number.clone().unwrap_or_else(|| location.location_id.clone()),
        messaging_service_sid: None,
        body: text.to_owned(),
        media: Vec::new(),
        opt_out_type: None,
    };
    Ok(match state.pipeline.handle(inbound, location).await? {
        Handled::Replied { texts, .. } | Handled::Event { texts, .. } => (texts, false),
        Handled::Duplicate { texts } => (texts, true),
        Handled::Silent { .. } => (Vec::new(), false),
    })
}

#[derive(Debug, Deserialize)]
struct ChatConsent {
    disclosure_version: Option<String>,
}

#[tracing::instrument(skip_all, fields(channel = "web"), err(level = "warn"))]
async fn consent(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, AppError> {
    let (reach, c): (Reach, ChatConsent) = authenticated(&state, body).await?;
    let Some(version) = c.disclosure_version.as_deref().map(str::trim).filter(|v| !v.is_empty()) else {
        return Err(AppError::rejected(
            Refused::Malformed,
            "missing_disclosure_version",
            "disclosure_version is required: the version of the text the customer agreed to",
        ));
    };
    let phone = PhoneNumber::parse(&reach.contact.phone)?;
    let ip = super::client_ip(&headers, peer, &state.settings.trusted_proxies);
    let user_agent = headers.get("user-agent").and_then(|v| v.to_str().ok()).unwrap_or("");
    let asked = Asked { source: "web_chat", phone: &phone, version, ip: &ip, user_agent };
    let template = match optin::request_marketing(&state, &reach.location, &asked).await? {
        optin::Requested::Texted => "consent/web_texted",
        optin::Requested::AlreadyAsked => "consent/web_already_asked",
    };
    let data = json!({ "masked_phone": phone.masked() });
    let done = state.library.get().templates.render(template, &reach.contact.locale, Channel::Web, &data)?;
    Ok((StatusCode::ACCEPTED, Json(json!({ "status": "confirmation_sent", "message": done }))).into_response())
}

#[derive(Debug, Deserialize)]
struct ChatUpdates {
    /// The id of the last message the widget shows.
    #[serde(default)]
    after: String,
}

/// A person's replies in the customer's web chat since `after`.
async fn updates(State(state): State<AppState>, body: Result<Bytes, BytesRejection>) -> Result<Response, AppError> {
    let (reach, u): (Reach, ChatUpdates) = authenticated(&state, body).await?;
    let mut tx = state.store.begin_read().await?;
    let open =
        crate::store::conversations::find_open(&mut tx, &reach.contact.contact_id, &reach.location.location_id, "web")
            .await?;
    drop(tx);
    let messages = match &open {
        Some(conversation) => {
            crate::store::messages::chat_replies_after(&state.store, &conversation.conversation_id, &u.after).await?
        }
        None => Vec::new(),
    };
    let cursor = messages.last().map_or(u.after.clone(), |(id, _)| id.clone());
    if let (Some(conversation), Some((last, _))) = (&open, messages.last()) {
        // Shown now: read, and not to be texted.
        let now = state.store.now_ms();
        crate::store::messages::mark_seen(&state.store, &conversation.conversation_id, last, now).await?;
    }
    let frames: Vec<_> =
        messages.iter().map(|(id, text)| json!({ "id": id, "type": "text", "from": "staff", "text": text })).collect();
    Ok(Json(json!({ "messages": frames, "cursor": cursor })).into_response())
}
