//! The public web opt-in form (`GET/POST /consent/optin`): step 1 of double opt-in for text
//! offers. It records what the person submitted and the exact disclosure they saw (by version,
//! from `rules/disclosures.json`), with IP and user agent, and texts them "Reply YES to
//! confirm" through the outbox, all in one transaction. Embeddable in a store's site (iframe).
//!
//! Owns the form's fields and pages; the consent ledger entry is made when YES arrives.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::LazyLock;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::json;

use crate::domain::{Channel, PhoneNumber};
use crate::error::AppError;
use crate::startup::AppState;
use crate::store::consent::{self, NewRequest, MARKETING};
use crate::store::locations::{self, Location};
use crate::store::outbox::{self, NewOutbound};

/// 16 KiB: the form has four short fields.
const MAX_FORM_BYTES: usize = 16 * 1024;

#[derive(serde::Deserialize)]
struct Disclosures {
    current: String,
    versions: HashMap<String, String>,
}

static DISCLOSURES: LazyLock<Disclosures> = LazyLock::new(|| {
    serde_json::from_str(include_str!("../../rules/disclosures.json")).expect("rules/disclosures.json is valid")
});

pub fn router() -> Router<AppState> {
    Router::new().route("/consent/optin", get(show_form).post(submit_form))
}

#[derive(serde::Deserialize)]
struct FormQuery {
    location: Option<String>,
}

async fn show_form(State(state): State<AppState>, Query(q): Query<FormQuery>) -> Result<Response, AppError> {
    let Some(location) = find_location(&state, q.location.as_deref()).await? else {
        return Ok((StatusCode::NOT_FOUND, Html("<p>No store is set up for text offers.</p>")).into_response());
    };
    page(&state, StatusCode::OK, &location, json!({}))
}

async fn submit_form(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    if body.len() > MAX_FORM_BYTES {
        return Err(AppError::TooLarge(MAX_FORM_BYTES));
    }
    let fields: HashMap<String, String> = super::parse_form(&body)?.into_iter().collect();
    let field = |k: &str| fields.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
    let Some(location) = find_location(&state, field("location")).await? else {
        return Err(AppError::Validation { field: "location", message: "no such store".into() });
    };
    let retry = |message: &str| {
        page(
            &state,
            StatusCode::BAD_REQUEST,
            &location,
            json!({ "error": message, "phone": field("phone").unwrap_or("") }),
        )
    };
    let Some(version) = field("disclosure_version") else {
        return retry("This form is missing its disclosure version. Reload the page and try again.");
    };
    if disclosure(version, &location).is_none() {
        return retry("This form is out of date. Reload the page and try again.");
    }
    let Ok(phone) = PhoneNumber::parse_north_american(field("phone").unwrap_or("")) else {
        return retry("Enter your mobile number, like (415) 555-0100.");
    };
    if field("agree") != Some("yes") {
        return retry("Check the box to agree to receive texts.");
    }
    let ip = super::client_ip(&headers, peer);
    let user_agent = headers.get("user-agent").and_then(|v| v.to_str().ok()).unwrap_or("");
    let asked = Asked { source: "web_form", phone: &phone, version, ip: &ip, user_agent };
    request_marketing(&state, &location, &asked).await?;
    page(&state, StatusCode::OK, &location, json!({ "done": true, "masked_phone": phone.masked() }))
}

/// Someone asked for text offers on one of our pages, having seen disclosure `version`.
pub struct Asked<'a> {
    /// `web_form` or `web_chat`.
    pub source: &'a str,
    pub phone: &'a PhoneNumber,
    pub version: &'a str,
    pub ip: &'a str,
    pub user_agent: &'a str,
}

/// The disclosure text of `version` as the person saw it, if the version exists.
pub fn disclosure(version: &str, location: &Location) -> Option<String> {
    DISCLOSURES.versions.get(version).map(|d| d.replace("{business}", &location.name))
}

/// The current disclosure version and its text for this store.
pub fn current_disclosure(location: &Location) -> (&'static str, String) {
    let version = DISCLOSURES.current.as_str();
    (version, disclosure(version, location).unwrap_or_default())
}

/// Step 1 of double opt-in, wherever it was asked: the request with its evidence and the
/// "Reply YES" text in the outbox, in one transaction.
///
/// # Errors
/// `Validation` for an unknown disclosure version; database failures.
pub async fn request_marketing(state: &AppState, location: &Location, asked: &Asked<'_>) -> Result<(), AppError> {
    let Some(disclosure) = disclosure(asked.version, location) else {
        return Err(AppError::Validation { field: "disclosure_version", message: "is not a version we show".into() });
    };
    let text = confirmation_text(state, location)?;
    let mut tx = state.store.begin().await?;
    let request = NewRequest {
        source: asked.source,
        phone: asked.phone.as_ref(),
        purpose: MARKETING,
        location_id: &location.location_id,
        disclosure_version: asked.version,
        disclosure_text: &disclosure,
        ip: asked.ip,
        user_agent: asked.user_agent,
    };
    consent::create_request(&mut tx, &request, state.store.now_ms()).await?;
    let message = NewOutbound {
        conversation_id: None,
        location_id: &location.location_id,
        to_phone: asked.phone.as_ref(),
        purpose: "transactional",
        body: &text,
    };
    outbox::enqueue(&mut tx, &message, state.store.now_ms()).await?;
    tx.commit().await.map_err(crate::store::StoreError::from)?;
    tracing::info!(phone = %asked.phone.masked(), version = asked.version, source = asked.source, "opt-in requested; waiting for YES");
    Ok(())
}

fn confirmation_text(state: &AppState, location: &Location) -> Result<String, AppError> {
    let data = json!({ "location": { "name": location.name, "state": location.state }, "slots": {}, "contact": {}, "channel": "sms" });
    state
        .library
        .get()
        .templates
        .render("consent/confirm_optin", "en", Channel::Sms, &data)
        .map_err(|e| AppError::Internal(e.into()))
}

async fn find_location(state: &AppState, id: Option<&str>) -> Result<Option<Location>, AppError> {
    Ok(match id {
        Some(id) => locations::get(&state.store, id).await?,
        None => locations::list(&state.store).await?.into_iter().next(),
    })
}

fn page(
    state: &AppState,
    status: StatusCode,
    location: &Location,
    extra: serde_json::Value,
) -> Result<Response, AppError> {
    let (version, disclosure) = current_disclosure(location);
    let mut data = json!({
        "location": location,
        "disclosure_version": version,
        "disclosure": disclosure,
        "phone": "",
    });
    if let (Some(data), Some(extra)) = (data.as_object_mut(), extra.as_object()) {
        data.extend(extra.clone());
    }
    let html = state.pages.render("optin", &data).map_err(|e| AppError::Internal(e.into()))?;
    Ok((status, Html(html)).into_response())
}
