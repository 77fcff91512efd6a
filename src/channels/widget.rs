//! The web widget any visitor of a store's site can open: one tag,
//! `<script src="https://bot.example.com/widget.js" data-location="LOCATION_ID" async></script>`,
//! adds a chat bubble; the chat itself is a page of ours in a frame (`GET /widget`), so it talks
//! to our API from our own origin. Only the origins in `LEAFDESK_CHAT_EMBED_ORIGINS` may frame
//! it (`frame-ancestors`); any other site gets nothing shown.
//!
//! Visitors need no account. The first visit gets a visitor token, `visitor:<location>:<id>.<mac>`
//! signed with the server's link key and kept in the browser; it is the visitor's identity from
//! then on (a forged or altered one is refused), so the conversation — keyed by the visitor as a
//! texter's is by their number — survives a reload and a return the next day.
//!
//! - `POST /api/v1/widget/session` `{location_id, visitor?}` → the visitor token and the
//!   conversation so far (history after a reload);
//! - `POST /api/v1/widget/messages` `{location_id, visitor, id, text}` → through the same pipeline
//!   as every channel (consent words first), the bot's replies with their numbered choices as
//!   quick-reply buttons; a retry with the same `id` gets the first answer;
//! - `GET /api/v1/widget/events?location_id=…&visitor=…&after=…` → server-sent events: what the
//!   bot did not say in answer — a person's replies (with their name), proactive messages — in
//!   order, each with its message id as the event id, so a reconnect (`Last-Event-ID`) resumes
//!   after the last one seen and nothing is shown twice.
//!
//! Owns the widget's wire format and pages; the turn is `pipeline`.

use std::convert::Infallible;
use std::sync::LazyLock;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::stream::{self, Stream};
use regex::Regex;
use serde::Deserialize;
use serde_json::json;

use super::webchat::parse_json;
use crate::domain::{Channel, ConversationId, PhoneNumber};
use crate::error::{AppError, Refused};
use crate::state::AppState;
use crate::store::locations::{self, Location};
use crate::store::{consent, contacts, conversations, messages};

const MAX_BODY_BYTES: usize = 16 * 1024;
/// 50: the messages a reopened widget shows.
const HISTORY: i64 = 50;
/// 15 seconds: under the idle limits of common proxies and load balancers.
const KEEP_ALIVE: Duration = Duration::from_secs(15);
const WIDGET_JS: &str = include_str!("../../static/widget.js");

pub fn router() -> Router<AppState> {
    let api = Router::new()
        .route("/api/v1/widget/session", post(session))
        .route("/api/v1/widget/messages", post(message))
        .route("/api/v1/widget/phone", post(give_phone))
        .route("/api/v1/widget/phone/confirm", post(confirm_phone))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES));
    Router::new()
        .route("/widget.js", get(script))
        .route("/widget", get(frame))
        .route("/demo/site", get(demo_site))
        .merge(api)
}

/// The live stream, outside the request timeout (it stays open).
pub fn live_router() -> Router<AppState> {
    Router::new().route("/api/v1/widget/events", get(events))
}

/// The one tag's script: 5 minutes in caches, so a fix reaches every site soon.
async fn script() -> Response {
    let headers = [
        (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
        (header::CACHE_CONTROL, "public, max-age=300"),
        (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
    ];
    (headers, WIDGET_JS).into_response()
}

#[derive(Debug, Deserialize)]
struct FrameQuery {
    #[serde(default)]
    location: String,
    /// The store's sign-in, passed on from the tag (checked by the session, not here).
    #[serde(default)]
    customer: Option<String>,
    #[serde(default)]
    ts: Option<String>,
    #[serde(default)]
    sig: Option<String>,
    /// The visitor's browser language (`es-MX`, `en-US`).
    #[serde(default)]
    lang: String,
}

/// The chat inside the bubble's frame, in the visitor's language, in the store's colour.
async fn frame(State(state): State<AppState>, Query(q): Query<FrameQuery>) -> Result<Response, AppError> {
    let es = q.lang.to_ascii_lowercase().starts_with("es");
    let locale = if es { "es" } else { "en" };
    let Some(location) = find_location(&state, &q.location).await? else {
        let html = state.pages.render("widget", &json!({ "problem": "no_location", "es": es }))?;
        return Ok((StatusCode::NOT_FOUND, Html(html)).into_response());
    };
    let mut conn = state.store.pool().acquire().await.map_err(crate::store::StoreError::from)?;
    let details = locations::details(&mut conn, &location.location_id).await?;
    drop(conn);
    let color = details["color"].as_str().filter(|c| HEX_COLOR.is_match(c)).unwrap_or("#2f6b3a").to_owned();
    let contact = json!({ "contact": { "locale": locale } });
    let greeting = state.library.get().templates.render("webchat/greeting", locale, Channel::Web, &contact)?;
    let link = match (&q.customer, &q.ts, &q.sig) {
        (Some(customer), Some(ts), Some(sig)) => json!({ "customer": customer, "ts": ts, "sig": sig }),
        _ => serde_json::Value::Null,
    };
    let (phone_version, phone_disclosure) = super::optin::current_phone_link_disclosure(&location);
    let config = json!({
        "location_id": location.location_id, "locale": locale, "color": color, "name": location.name, "link": link,
        "phone_disclosure_version": phone_version,
    });
    let data = json!({
        "es": es,
        "location": { "name": location.name },
        "greeting": greeting,
        "color": color,
        "config_json": config.to_string().replace('<', "\\u003c"),
        "phone_disclosure": phone_disclosure,
    });
    let html = state.pages.render("widget", &data)?;
    Ok(([(header::CACHE_CONTROL, "no-store")], Html(html)).into_response())
}

/// The demo store's website with the widget embedded by its one tag (`serve --demo`).
async fn demo_site(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, AppError> {
    let number = &state.settings.demo_number;
    let Some(location) = state.locations.resolve(&state.store, number, None).await? else {
        let text = "No demo store here: start leafdesk with `serve --demo` to see the widget on a store's site.";
        return Ok((StatusCode::NOT_FOUND, text).into_response());
    };
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost:8080");
    let base = state.settings.public_url.clone().unwrap_or_else(|| format!("http://{host}"));
    let data = json!({ "base": base, "location": { "name": location.name, "location_id": location.location_id } });
    Ok(Html(state.pages.render("demo_site", &data)?).into_response())
}

/// `#1a2b3c`: a colour that is only a colour (it goes into a style attribute).
static HEX_COLOR: LazyLock<Regex> = LazyLock::new(|| Regex::new("^#[0-9a-fA-F]{6}$").expect("colour pattern compiles"));

async fn find_location(state: &AppState, id: &str) -> Result<Option<Location>, AppError> {
    if id.is_empty() || id.len() > 64 || id.contains('\0') {
        return Ok(None);
    }
    Ok(locations::get(&state.store, id).await?)
}

async fn location(state: &AppState, id: &str) -> Result<Location, AppError> {
    find_location(state, id).await?.ok_or_else(|| {
        AppError::rejected(
            Refused::NotFound,
            "unknown_location",
            "no such location: the widget's data-location must be a location id (leafdesk location list)",
        )
    })
}

/// Who is chatting: an anonymous visitor, or a customer the store's site signed in.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Who {
    Visitor(String),
    /// Signed in by the store's site until `until` (Unix seconds).
    Customer {
        contact_id: String,
        phone: String,
        until: i64,
    },
}

impl Who {
    /// The sender key their messages carry.
    fn sender(&self) -> Result<PhoneNumber, AppError> {
        match self {
            Self::Visitor(id) => Ok(PhoneNumber::visitor(id)),
            Self::Customer { phone, .. } => Ok(PhoneNumber::parse(phone)?),
        }
    }
}

/// The token naming a new visitor of `location_id`.
fn new_visitor(state: &AppState, location_id: &str) -> (String, Who) {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the operating system's random source works");
    let id = hex::encode(bytes);
    (state.uploads.sealer.sign_token(&format!("visitor:{location_id}:{id}")), Who::Visitor(id))
}

/// 12 hours: a signed-in customer's token lasts as long as the site's signed link does; then
/// the site signs them in again (a shared computer does not stay signed in for good).
const SIGNED_IN_SECS: i64 = 12 * 3600;

/// The token naming a signed-in customer's contact at `location_id`, until it expires.
fn customer_token(state: &AppState, location_id: &str, contact_id: &str, until: i64) -> String {
    state.uploads.sealer.sign_token(&format!("contact:{location_id}:{contact_id}:{until}"))
}

/// Who a token names, if we signed it for this location.
async fn who_is(state: &AppState, location_id: &str, token: &str) -> Result<Who, AppError> {
    let refused = || {
        AppError::rejected(
            Refused::Unauthorized,
            "bad_visitor",
            "the visitor token is not one leafdesk gave for this location; start a new session without it",
        )
    };
    let id = state.uploads.sealer.verify_token(token).ok_or_else(refused)?;
    let (kind, rest) = id.split_once(':').ok_or_else(refused)?;
    let rest = rest.strip_prefix(location_id).and_then(|r| r.strip_prefix(':')).ok_or_else(refused)?;
    match kind {
        "visitor" if rest.len() == 32 && rest.bytes().all(|b| b.is_ascii_hexdigit()) => {
            Ok(Who::Visitor(rest.to_owned()))
        }
        "contact" => {
            let (contact_id, until) = rest.rsplit_once(':').ok_or_else(refused)?;
            let until: i64 = until.parse().map_err(|_| refused())?;
            if until < state.store.clock().now_secs() {
                return Err(AppError::rejected(
                    Refused::Unauthorized,
                    "signed_out",
                    "the store's sign-in for this chat has expired; reload the store's page",
                ));
            }
            let contact = contacts::find_by_id(&state.store, contact_id).await?.ok_or_else(refused)?;
            Ok(Who::Customer { contact_id: contact.contact_id, phone: contact.phone, until })
        }
        _ => Err(refused()),
    }
}

/// Their open web conversation at the location, if they wrote before.
async fn conversation_of(state: &AppState, who: &Who, location_id: &str) -> Result<Option<String>, AppError> {
    Ok(open_of(state, who, location_id).await?.map(|(conversation, _)| conversation))
}

/// The visitor signed in on the store's site: their conversation so far becomes the customer's.
async fn sign_in(
    state: &AppState,
    location: &Location,
    visitor: &Who,
    link: &super::webchat::Link,
) -> Result<Who, AppError> {
    let reach = super::webchat::identify(state, link).await?;
    let until = state.store.clock().now_secs() + SIGNED_IN_SECS;
    let customer =
        Who::Customer { contact_id: reach.contact.contact_id.clone(), phone: reach.contact.phone.clone(), until };
    if let Who::Visitor(id) = visitor {
        let now = state.store.now_ms();
        let mut tx = state.store.begin().await?;
        let how = json!({ "visitor": id, "customer_id": reach.customer.customer_id, "by": "site_sign_in" });
        take_over(&mut tx, state, location, id, &reach.contact, &how, now).await?;
        tx.commit().await.map_err(crate::store::StoreError::from)?;
    }
    Ok(customer)
}

/// The visitor turned out to be `contact`: their conversation at the location becomes the
/// contact's (with its ticket), and a STOP they typed as a visitor follows them. In the caller's
/// transaction, holding both conversations' locks.
async fn take_over(
    tx: &mut crate::store::Tx<'_>,
    state: &AppState,
    location: &Location,
    visitor: &str,
    contact: &contacts::Contact,
    how: &serde_json::Value,
    now: i64,
) -> Result<(), AppError> {
    let visitor_key = PhoneNumber::visitor(visitor).to_string();
    let Some(visitor_contact) = contacts::find(&state.store, &visitor_key).await? else { return Ok(()) };
    let mut keys: Vec<i64> = [visitor_key.as_str(), contact.phone.as_str()]
        .iter()
        .map(|phone| ConversationId { channel: Channel::Web, phone, location_id: &location.location_id }.key())
        .collect();
    keys.sort_unstable();
    crate::store::lock_conversations(tx, state.store.backend(), &keys).await?;
    // A revocation typed as a visitor follows them: nothing is texted to their number either.
    if consent::opted_out_among(tx, &[visitor_key.as_str()]).await?.contains(&visitor_key) {
        let evidence = json!({ "carried_over_from": how });
        let revoked = consent::NewConsent {
            phone: &contact.phone,
            purpose: consent::TRANSACTIONAL,
            action: "opt_out",
            source: "web_chat",
            evidence,
        };
        consent::record_all_purposes(tx, revoked, now).await?;
    }
    let merged = conversations::adopt_web_visitor(
        tx,
        &visitor_contact.contact_id,
        &contact.contact_id,
        &location.location_id,
        now,
    )
    .await?;
    if let Some(conversation) = &merged {
        conversations::record_event(tx, conversation, "visitor_signed_in", how, now).await?;
    }
    Ok(())
}

#[derive(Debug, Deserialize)]
struct SessionRequest {
    location_id: String,
    #[serde(default)]
    visitor: Option<String>,
    /// The store's site signed the visitor in: today's signed chat link fields
    /// (`customer`, `ts`, `sig`), from the tag's `data-customer`, `data-ts`, `data-sig`.
    #[serde(default)]
    link: Option<super::webchat::Link>,
}

async fn session(State(state): State<AppState>, body: Result<Bytes, BytesRejection>) -> Result<Response, AppError> {
    let body = body.map_err(|_| AppError::TooLarge(MAX_BODY_BYTES))?;
    let req: SessionRequest = parse_json(&body)?;
    let location = location(&state, &req.location_id).await?;
    let (mut token, mut who) = match req.visitor.as_deref().filter(|t| !t.is_empty()) {
        Some(token) => (token.to_owned(), who_is(&state, &location.location_id, token).await?),
        None => new_visitor(&state, &location.location_id),
    };
    if let Some(link) = &req.link {
        who = sign_in(&state, &location, &who, link).await?;
        if let Who::Customer { contact_id, until, .. } = &who {
            token = customer_token(&state, &location.location_id, contact_id, *until);
        }
    }
    let conversation = conversation_of(&state, &who, &location.location_id).await?;
    let lines = match &conversation {
        Some(conversation) => messages::chat_lines(&state.store, conversation, HISTORY).await?,
        None => Vec::new(),
    };
    if let (Some(conversation), Some(last)) = (&conversation, lines.last()) {
        // Shown now: people's replies in it are read, and will not be texted.
        messages::mark_seen(&state.store, conversation, &last.message_id, state.store.now_ms()).await?;
    }
    let signed_in = matches!(who, Who::Customer { .. });
    let cursor = lines.last().map(|l| l.message_id.clone()).unwrap_or_default();
    let mut shown: Vec<serde_json::Value> = Vec::with_capacity(lines.len());
    for line in &lines {
        let mut frame = frame_of(line);
        // A quick reply sent its number: show the visitor the label they pressed, as they saw it.
        let pressed = shown.last().and_then(|before| {
            let choices = before["choices"].as_array()?;
            choices.iter().find(|c| c["value"] == frame["text"]).map(|c| c["label"].clone())
        });
        if let (Some(label), "me") = (pressed, frame["from"].as_str().unwrap_or("")) {
            frame["text"] = label;
        }
        shown.push(frame);
    }
    Ok(Json(json!({ "visitor": token, "signed_in": signed_in, "messages": shown, "cursor": cursor })).into_response())
}

/// A message as the widget draws it: who (`me`, `bot`, `staff` with a first name), the text
/// without its numbered choices, and those choices as buttons.
fn frame_of(line: &messages::ChatLine) -> serde_json::Value {
    let from = match (line.direction.as_str(), &line.author) {
        ("inbound", _) => "me",
        (_, Some(_)) => "staff",
        _ => "bot",
    };
    let (text, choices) = if from == "bot" { split_choices(&line.body) } else { (line.body.clone(), Vec::new()) };
    let first_name = line.author.as_deref().and_then(|a| a.split_whitespace().next());
    json!({ "id": line.message_id, "from": from, "text": text, "choices": choices, "author": first_name, "at_ms": line.at_ms })
}

/// A reply's numbered lines ("1. Pay by bank transfer") as quick replies `{value, label}`, and
/// the text without them.
pub fn split_choices(text: &str) -> (String, Vec<serde_json::Value>) {
    static NUMBERED: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"^\s*(\d{1,2})[.)]\s+(.+?)\s*$").expect("choice pattern compiles"));
    let mut kept = Vec::new();
    let mut choices = Vec::new();
    for line in text.lines() {
        match NUMBERED.captures(line) {
            Some(c) => choices.push(json!({ "value": &c[1], "label": &c[2] })),
            None => kept.push(line),
        }
    }
    if choices.len() < 2 {
        return (text.to_owned(), Vec::new()); // one numbered line is prose, not a menu
    }
    (kept.join("\n").trim().to_owned(), choices)
}

#[derive(Debug, Deserialize)]
struct WidgetMessage {
    location_id: String,
    visitor: String,
    id: String,
    text: String,
}

#[tracing::instrument(skip_all, fields(channel = "web"), err(level = "warn"))]
async fn message(State(state): State<AppState>, body: Result<Bytes, BytesRejection>) -> Result<Response, AppError> {
    let body = body.map_err(|_| AppError::TooLarge(MAX_BODY_BYTES))?;
    let m: WidgetMessage = parse_json(&body)?;
    let location = location(&state, &m.location_id).await?;
    let who = who_is(&state, &location.location_id, &m.visitor).await?;
    let chat = super::webchat::ChatMessage { id: m.id, text: m.text };
    let (id, text) = super::webchat::check_message(&chat)?;
    let from = who.sender()?;
    let provider_id = format!("widget:{from}:{id}");
    let (texts, duplicate) = super::webchat::chat_turn(&state, from, provider_id, text, location).await?;
    let at_ms = state.store.now_ms();
    let replies: Vec<_> = texts
        .iter()
        .map(|t| {
            let (text, choices) = split_choices(t);
            json!({ "from": "bot", "text": text, "choices": choices, "at_ms": at_ms })
        })
        .collect();
    Ok(Json(json!({ "replies": replies, "duplicate": duplicate })).into_response())
}

/// 10 minutes: how long a code texted to a visitor's number works.
const CODE_TTL_MS: i64 = 10 * 60_000;
/// Wrong codes before the visitor must ask for a new one.
const CODE_TRIES: i64 = 5;
/// A minute between codes for one visitor, so nobody is flooded with them.
const CODE_EVERY_MS: i64 = 60_000;
/// 30 days: a number the visitor proved is theirs keeps their chat theirs on this browser.
const PHONE_LINKED_SECS: i64 = 30 * 24 * 3600;

#[derive(Debug, Deserialize)]
struct GivePhone {
    location_id: String,
    visitor: String,
    phone: String,
    disclosure_version: String,
    /// The chat's language, for the text with the code.
    #[serde(default)]
    locale: String,
}

fn code_hash(visitor: &str, code: &str) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(format!("{visitor}:{code}").as_bytes()))
}

/// A visitor gives their number for replies by text, having seen the disclosure: a code goes to
/// it, and the chat becomes theirs when they type it ([`confirm_phone`]).
#[tracing::instrument(skip_all, fields(channel = "web"), err(level = "warn"))]
async fn give_phone(
    State(state): State<AppState>,
    axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, AppError> {
    let body = body.map_err(|_| AppError::TooLarge(MAX_BODY_BYTES))?;
    let req: GivePhone = parse_json(&body)?;
    let location = location(&state, &req.location_id).await?;
    let invalid = |message: &str| AppError::rejected(Refused::Unprocessable, "invalid_field", message.to_owned());
    let Who::Visitor(visitor) = who_is(&state, &location.location_id, &req.visitor).await? else {
        return Err(invalid("this chat is already signed in"));
    };
    let (version, disclosure) = super::optin::current_phone_link_disclosure(&location);
    if req.disclosure_version != version {
        return Err(invalid(&format!("disclosure_version must be {version:?}, the text shown beside the number")));
    }
    let phone = PhoneNumber::parse_north_american(&req.phone)
        .map_err(|_| invalid("phone must be a mobile number, such as (415) 555-0123 or +14155550123"))?;
    if consent::current(&state.store, phone.as_ref()).await?.opted_out {
        return Err(AppError::rejected(
            Refused::Unprocessable,
            "opted_out",
            "this number asked us to stop texting it; text START to the store's number to get texts again",
        ));
    }
    let now = state.store.now_ms();
    if let Some(earlier) = crate::store::phone_links::get(&state.store, &visitor).await? {
        if now - earlier.created_at_ms < CODE_EVERY_MS {
            return Err(AppError::rejected(
                Refused::TooManyRequests,
                "too_soon",
                "a code was just sent; wait a minute",
            ));
        }
    }
    let mut bytes = [0u8; 4];
    getrandom::fill(&mut bytes).expect("the operating system's random source works");
    let code = format!("{:06}", u32::from_le_bytes(bytes) % 1_000_000);
    let locale = if req.locale == "es" { "es" } else { "en" };
    let data = json!({ "location": { "name": location.name }, "code": code });
    let text = state.library.get().templates.render("webchat/phone_code", locale, Channel::Sms, &data)?;
    let link = crate::store::phone_links::PhoneLink {
        visitor: visitor.clone(),
        location_id: location.location_id.clone(),
        phone: phone.to_string(),
        code_hash: code_hash(&visitor, &code),
        attempts: 0,
        disclosure_version: version.to_owned(),
        disclosure_text: disclosure,
        ip: super::client_ip(&headers, peer, &state.settings.trusted_proxies),
        user_agent: headers.get("user-agent").and_then(|v| v.to_str().ok()).unwrap_or("").chars().take(512).collect(),
        created_at_ms: now,
        expires_at_ms: now + CODE_TTL_MS,
    };
    let mut tx = state.store.begin().await?;
    crate::store::phone_links::replace(&mut tx, &link).await?;
    let message = crate::store::outbox::NewOutbound {
        conversation_id: None,
        location_id: &location.location_id,
        to_phone: phone.as_ref(),
        purpose: "transactional",
        body: &text,
        reply: None,
    };
    crate::store::outbox::enqueue(&mut tx, &message, now).await?;
    tx.commit().await.map_err(crate::store::StoreError::from)?;
    let answer = json!({ "status": "code_sent", "masked_phone": phone.masked() });
    Ok((StatusCode::ACCEPTED, Json(answer)).into_response())
}

#[derive(Debug, Deserialize)]
struct ConfirmPhone {
    location_id: String,
    visitor: String,
    code: String,
}

/// The code from the text: the number is theirs. Their chat becomes the number's contact's,
/// and the consent to text them about it is recorded with what they saw and where.
#[tracing::instrument(skip_all, fields(channel = "web"), err(level = "warn"))]
async fn confirm_phone(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, AppError> {
    let body = body.map_err(|_| AppError::TooLarge(MAX_BODY_BYTES))?;
    let req: ConfirmPhone = parse_json(&body)?;
    let location = location(&state, &req.location_id).await?;
    let refused =
        |refusal: Refused, code: &'static str, message: &str| AppError::rejected(refusal, code, message.to_owned());
    let Who::Visitor(visitor) = who_is(&state, &location.location_id, &req.visitor).await? else {
        return Err(refused(Refused::Unprocessable, "invalid_field", "this chat is already signed in"));
    };
    let Some(link) = crate::store::phone_links::get(&state.store, &visitor).await? else {
        return Err(refused(Refused::NotFound, "no_code", "no code was sent to this chat; give your number first"));
    };
    let now = state.store.now_ms();
    if link.expires_at_ms < now || link.location_id != location.location_id {
        return Err(refused(Refused::Unprocessable, "code_expired", "the code has expired; ask for a new one"));
    }
    if link.attempts >= CODE_TRIES {
        return Err(refused(Refused::TooManyRequests, "too_many_tries", "too many wrong codes; ask for a new one"));
    }
    if code_hash(&visitor, req.code.trim()) != link.code_hash {
        crate::store::phone_links::tried(&state.store, &visitor).await?;
        return Err(refused(
            Refused::Unprocessable,
            "wrong_code",
            "that is not the code we texted; check it and try again",
        ));
    }
    let phone = PhoneNumber::parse(&link.phone)?;
    let mut tx = state.store.begin().await?;
    let contact = match contacts::find(&state.store, phone.as_ref()).await? {
        Some(contact) => contact,
        None => contacts::create(&mut tx, phone.as_ref(), now).await?,
    };
    let evidence = json!({
        "disclosure_version": link.disclosure_version,
        "disclosure_text": link.disclosure_text,
        "ip": link.ip,
        "user_agent": link.user_agent,
        "asked_at_ms": link.created_at_ms,
        "confirmed_by": "code texted to the number",
        "visitor": visitor,
    });
    let agreed = consent::NewConsent {
        phone: phone.as_ref(),
        purpose: consent::TRANSACTIONAL,
        action: "opt_in",
        source: "web_chat",
        evidence,
    };
    consent::record(&mut tx, &agreed, now).await?;
    let how = json!({ "visitor": visitor, "by": "phone_code", "phone": phone.masked() });
    take_over(&mut tx, &state, &location, &visitor, &contact, &how, now).await?;
    crate::store::phone_links::remove(&mut tx, &visitor).await?;
    tx.commit().await.map_err(crate::store::StoreError::from)?;
    let until = state.store.clock().now_secs() + PHONE_LINKED_SECS;
    let token = customer_token(&state, &location.location_id, &contact.contact_id, until);
    Ok(Json(json!({ "visitor": token, "signed_in": true, "masked_phone": phone.masked() })).into_response())
}

#[derive(Debug, Deserialize)]
struct EventsQuery {
    location_id: String,
    visitor: String,
    #[serde(default)]
    after: String,
}

/// The live stream of what a person (or a proactive message) says to the visitor.
async fn events(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<EventsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, AppError> {
    let Query(q) = query.map_err(|e| AppError::BadRequest(format!("location_id and visitor are required: {e}")))?;
    let location = location(&state, &q.location_id).await?;
    let who = who_is(&state, &location.location_id, &q.visitor).await?;
    // A reconnecting EventSource says where it stopped; that wins over the page's cursor.
    let last_seen = headers.get("last-event-id").and_then(|v| v.to_str().ok()).unwrap_or(&q.after);
    let after = if last_seen.len() <= 64 { last_seen.to_owned() } else { String::new() };
    // Nobody can write to someone who never wrote: no stream until there is a conversation
    // (204 tells an EventSource not to reconnect; the widget opens it after the first message).
    let Some((conversation, ticket)) = open_of(&state, &who, &location.location_id).await? else {
        return Ok(StatusCode::NO_CONTENT.into_response());
    };
    // Open chats take at most half the connections, so webhooks always get through.
    let Ok(permit) = state.widget_streams.clone().try_acquire_owned() else {
        let busy = AppError::rejected(
            Refused::TooManyRequests,
            "busy",
            "too many chats are open right now; try again shortly",
        );
        return Ok(([(header::RETRY_AFTER, "30")], busy).into_response());
    };
    let live = Live {
        state: state.clone(),
        who,
        location_id: location.location_id,
        after,
        conversation: Some(conversation),
        ticket,
        _permit: permit,
    };
    Ok(Sse::new(pushed(live)).keep_alive(KeepAlive::new().interval(KEEP_ALIVE)).into_response())
}

struct Live {
    state: AppState,
    who: Who,
    location_id: String,
    /// The last message id sent.
    after: String,
    /// The conversation and its open ticket when last looked: whose changes to look at.
    conversation: Option<String>,
    ticket: Option<String>,
    /// This stream's place among the open chats, given back when it ends.
    _permit: tokio::sync::OwnedSemaphorePermit,
}

fn pushed(live: Live) -> impl Stream<Item = Result<Event, Infallible>> {
    let feed = live.state.store.subscribe();
    // The first look is unconditional (messages may have come while the window was closed).
    stream::unfold((live, feed, Vec::new(), true), |(mut live, mut feed, mut ready, mut look)| async move {
        loop {
            if let Who::Customer { until, .. } = live.who {
                if until < live.state.store.clock().now_secs() {
                    return None; // the store's sign-in expired: the chat is no longer theirs
                }
            }
            if let Some(line) = ready.pop() {
                let line: messages::ChatLine = line;
                live.after.clone_from(&line.message_id);
                if let Some(conversation) = &live.conversation {
                    let now = live.state.store.now_ms();
                    let _ = messages::mark_seen(&live.state.store, conversation, &line.message_id, now).await;
                }
                let event =
                    Event::default().event("message").id(line.message_id.clone()).data(frame_of(&line).to_string());
                return Some((Ok(event), (live, feed, ready, look)));
            }
            if look {
                if let Ok(Some((conversation, ticket))) = open_of(&live.state, &live.who, &live.location_id).await {
                    live.ticket = ticket;
                    live.conversation = Some(conversation.clone());
                    if let Ok(mut lines) =
                        messages::chat_pushed_after(&live.state.store, &conversation, &live.after).await
                    {
                        lines.reverse(); // popped from the end: oldest first
                        ready = lines;
                        if !ready.is_empty() {
                            continue;
                        }
                    }
                }
            }
            // Asleep until a change about this chat (a ticket opened on it, a person replied on
            // its ticket) or the feed lagged: an idle chat costs no queries.
            look = match feed.recv().await {
                Ok(change) => {
                    change.conversation_id.is_some() && change.conversation_id == live.conversation
                        || live.ticket.as_deref() == Some(change.ticket_id.as_str())
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => true,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
            };
        }
    })
}

/// Their open web conversation at the location and its open ticket, if they wrote before.
async fn open_of(state: &AppState, who: &Who, location_id: &str) -> Result<Option<(String, Option<String>)>, AppError> {
    let contact_id = match who {
        Who::Customer { contact_id, .. } => contact_id.clone(),
        Who::Visitor(id) => match contacts::find(&state.store, PhoneNumber::visitor(id).as_ref()).await? {
            Some(contact) => contact.contact_id,
            None => return Ok(None),
        },
    };
    let mut tx = state.store.begin_read().await?;
    let open = conversations::find_open(&mut tx, &contact_id, location_id, "web").await?;
    Ok(open.map(|c| (c.conversation_id, c.open_ticket_id)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbered_lines_become_quick_replies_and_prose_stays_prose() {
        let (text, choices) = split_choices(
            "Sorry, it didn't go through. You can:\n1. Pay by bank transfer\n2. Pay at pickup\nReply 1 or 2.",
        );
        assert_eq!(text, "Sorry, it didn't go through. You can:\nReply 1 or 2.");
        assert_eq!(
            choices,
            [json!({"value": "1", "label": "Pay by bank transfer"}), json!({"value": "2", "label": "Pay at pickup"})]
        );
        let (text, choices) = split_choices("1. Only one line is not a menu");
        assert_eq!((text.as_str(), choices.len()), ("1. Only one line is not a menu", 0));
    }
}
