//! The public web opt-in form (`GET/POST /consent/optin`): step 1 of double opt-in for text
//! offers. It records what the person submitted and the exact disclosure they saw (by version,
//! from `rules/disclosures.json`), with IP and user agent, and texts them "Reply YES to
//! confirm" through the outbox, all in one transaction. Embeddable in a store's site (iframe).
//!
//! Abuse is bounded: the form carries a signed token (good for [`FORM_TOKEN_MAX_AGE_SECS`])
//! and a foreign `Origin` is refused; a number gets at most one confirmation text a day, and
//! one network at most [`MAX_REQUESTS_PER_IP_PER_HOUR`] requests an hour; evidence is capped.
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

use crate::compliance::consent::DOUBLE_OPT_IN_WINDOW_MS;
use crate::domain::{Channel, PhoneNumber};
use crate::error::{AppError, Refused};
use crate::state::AppState;
use crate::store::consent::{self, NewRequest, MARKETING};
use crate::store::locations::{self, Location};
use crate::store::outbox::{self, NewOutbound};

/// 16 KiB: the form has five short fields.
const MAX_FORM_BYTES: usize = 16 * 1024;
/// 2 hours: a form left open that long is reloaded before it is sent.
pub const FORM_TOKEN_MAX_AGE_SECS: i64 = 2 * 3600;
/// 5 an hour: a household or an office signing up together, not a script.
pub const MAX_REQUESTS_PER_IP_PER_HOUR: i64 = 5;
/// 512 characters of user agent are evidence enough; real ones are under 300.
const MAX_USER_AGENT_CHARS: usize = 512;

#[derive(serde::Deserialize)]
struct Disclosures {
    current: String,
    /// What the chat's "Text me offers" button shows: the customer taps a button, and the
    /// number is the one on their account.
    current_chat: String,
    /// What a chat visitor sees where they give their number for replies by text.
    current_phone_link: String,
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
        let html = state.pages.render("optin", &json!({ "problem": "no_store" }))?;
        return Ok((StatusCode::NOT_FOUND, Html(html)).into_response());
    };
    page(&state, StatusCode::OK, &location, json!({})).await
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
    check_origin(&state, &headers)?;
    let fields: HashMap<String, String> = super::parse_form(&body)?.into_iter().collect();
    let field = |k: &str| fields.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
    let Some(location) = find_location(&state, field("location")).await? else {
        return Err(AppError::Validation { field: "location", message: "no such store".into() });
    };
    // The form again, saying what to fix: an `optin_problem` code (templates/messages/<locale>/terms.yaml).
    let retry = |status, code: &str| {
        page(&state, status, &location, json!({ "error": code, "phone": field("phone").unwrap_or("") }))
    };
    if !form_token_valid(&state, field("form_token")) {
        return retry(StatusCode::FORBIDDEN, "form_expired").await;
    }
    let Some(version) = field("disclosure_version") else {
        return retry(StatusCode::BAD_REQUEST, "no_disclosure_version").await;
    };
    if disclosure(version, &location).is_none() {
        return retry(StatusCode::BAD_REQUEST, "out_of_date").await;
    }
    let Ok(phone) = PhoneNumber::parse_north_american(field("phone").unwrap_or("")) else {
        return retry(StatusCode::BAD_REQUEST, "bad_phone").await;
    };
    if field("agree") != Some("yes") {
        return retry(StatusCode::BAD_REQUEST, "not_agreed").await;
    }
    let ip = super::client_ip(&headers, peer, &state.settings.trusted_proxies);
    let user_agent = headers.get("user-agent").and_then(|v| v.to_str().ok()).unwrap_or("");
    let asked = Asked { source: "web_form", phone: &phone, version, ip: &ip, user_agent };
    match request_marketing(&state, &location, &asked).await {
        Ok(_) => page(&state, StatusCode::OK, &location, json!({ "done": true, "masked_phone": phone.masked() })).await,
        Err(AppError::Rejected { kind: Refused::TooManyRequests, .. }) => {
            retry(StatusCode::TOO_MANY_REQUESTS, "too_many").await
        }
        Err(e) => Err(e),
    }
}

/// A POST from another site's page is refused: browsers name the page's origin, and ours is
/// the public URL's, or the host the browser asked us as (a proxy may end TLS before us, so
/// the scheme is not compared there).
fn check_origin(state: &AppState, headers: &HeaderMap) -> Result<(), AppError> {
    let Some(origin) = headers.get(axum::http::header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return Ok(()); // not a browser form post; the form token still has to be right
    };
    let base = state.settings.public_base();
    let host = headers.get(axum::http::header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("");
    let same_host = origin.strip_prefix("https://").or_else(|| origin.strip_prefix("http://")) == Some(host);
    if origin == origin_of(&base) || same_host {
        Ok(())
    } else {
        Err(AppError::rejected(Refused::Forbidden, "foreign_origin", "this form can only be sent from its own page"))
    }
}

/// `https://host[:port]` of a URL.
fn origin_of(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    url[after_scheme..].find('/').map_or(url, |i| &url[..after_scheme + i])
}

/// The form's token: when it was issued, signed with the data key's link key.
fn form_token(state: &AppState) -> String {
    state.uploads.sealer.sign_token(&format!("form{}", state.store.clock().now_secs()))
}

fn form_token_valid(state: &AppState, token: Option<&str>) -> bool {
    let issued = token
        .and_then(|t| state.uploads.sealer.verify_token(t))
        .and_then(|id| id.strip_prefix("form"))
        .and_then(|ts| ts.parse::<i64>().ok());
    let now = state.store.clock().now_secs();
    issued.is_some_and(|at| at <= now + 60 && now - at <= FORM_TOKEN_MAX_AGE_SECS)
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

/// The current disclosure version and text beside the chat's "Text me offers" button.
pub fn current_chat_disclosure(location: &Location) -> (&'static str, String) {
    let version = DISCLOSURES.current_chat.as_str();
    (version, disclosure(version, location).unwrap_or_default())
}

/// The current disclosure version and text where a chat visitor gives their number.
pub fn current_phone_link_disclosure(location: &Location) -> (&'static str, String) {
    let version = DISCLOSURES.current_phone_link.as_str();
    (version, disclosure(version, location).unwrap_or_default())
}

/// What became of a request for text offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requested {
    /// Recorded, and "Reply YES" is on its way.
    Texted,
    /// This number was asked in the last day already: nothing new is sent.
    AlreadyAsked,
}

/// Step 1 of double opt-in, wherever it was asked: the request with its evidence and the
/// "Reply YES" text in the outbox, in one transaction. At most one text a day per number; at
/// most [`MAX_REQUESTS_PER_IP_PER_HOUR`] requests from one network.
///
/// # Errors
/// `Validation` for an unknown disclosure version; 429 for too many from the IP; database
/// failures.
pub async fn request_marketing(
    state: &AppState,
    location: &Location,
    asked: &Asked<'_>,
) -> Result<Requested, AppError> {
    let Some(disclosure) = disclosure(asked.version, location) else {
        return Err(AppError::Validation { field: "disclosure_version", message: "is not a version we show".into() });
    };
    let text = confirmation_text(state, location)?;
    let now = state.store.now_ms();
    let ip: String = asked.ip.chars().take(64).collect();
    let user_agent: String = asked.user_agent.chars().take(MAX_USER_AGENT_CHARS).collect();
    let mut tx = state.store.begin().await?;
    if consent::requests_from_ip_since(&mut tx, &ip, now - 3_600_000).await? >= MAX_REQUESTS_PER_IP_PER_HOUR {
        tracing::warn!(source = asked.source, "opt-in requests from one address over the hourly limit");
        return Err(AppError::rejected(
            Refused::TooManyRequests,
            "too_many_requests",
            format!(
                "more than {MAX_REQUESTS_PER_IP_PER_HOUR} sign-ups from this address in the last hour; try again later"
            ),
        ));
    }
    if consent::requests_for_phone_since(&mut tx, asked.phone.as_ref(), now - DOUBLE_OPT_IN_WINDOW_MS).await? > 0 {
        tracing::info!(phone = %asked.phone.masked(), "opt-in asked again within a day; no second text");
        return Ok(Requested::AlreadyAsked);
    }
    let message = NewOutbound {
        conversation_id: None,
        location_id: &location.location_id,
        to_phone: asked.phone.as_ref(),
        purpose: "transactional",
        body: &text,
        reply: None,
    };
    let outbox_id = outbox::enqueue(&mut tx, &message, now).await?;
    let request = NewRequest {
        source: asked.source,
        phone: asked.phone.as_ref(),
        purpose: MARKETING,
        location_id: &location.location_id,
        disclosure_version: asked.version,
        disclosure_text: &disclosure,
        ip: &ip,
        user_agent: &user_agent,
        confirmation_outbox_id: &outbox_id,
    };
    consent::create_request(&mut tx, &request, now).await?;
    tx.commit().await.map_err(crate::store::StoreError::from)?;
    tracing::info!(phone = %asked.phone.masked(), version = asked.version, source = asked.source, "opt-in requested; waiting for YES");
    Ok(Requested::Texted)
}

fn confirmation_text(state: &AppState, location: &Location) -> Result<String, AppError> {
    let data = json!({ "location": { "name": location.name, "state": location.state }, "slots": {}, "contact": {}, "channel": "sms" });
    state.library.get().templates.render("consent/confirm_optin", "en", Channel::Sms, &data).map_err(AppError::from)
}

async fn find_location(state: &AppState, id: Option<&str>) -> Result<Option<Location>, AppError> {
    Ok(match id {
        Some(id) => locations::get(&state.store, id).await?,
        None => locations::list(&state.store).await?.into_iter().next(),
    })
}

async fn page(
    state: &AppState,
    status: StatusCode,
    location: &Location,
    extra: serde_json::Value,
) -> Result<Response, AppError> {
    let (version, disclosure) = current_disclosure(location);
    let mut conn = state.store.pool().acquire().await.map_err(crate::store::StoreError::from)?;
    let details = locations::details(&mut conn, &location.location_id).await?;
    drop(conn);
    let link = |k: &str| details[k].as_str().map(str::to_owned);
    let mut data = json!({
        "privacy_url": link("privacy_url"),
        "terms_url": link("terms_url"),
        "location": location,
        "disclosure_version": version,
        "disclosure": disclosure,
        "phone": "",
        "form_token": form_token(state),
    });
    if let (Some(data), Some(extra)) = (data.as_object_mut(), extra.as_object()) {
        data.extend(extra.clone());
    }
    let html = state.pages.render("optin", &data)?;
    Ok((status, Html(html)).into_response())
}
