//! Campaigns in the console: marketing writes one (audience, a message per language with its
//! segment count and the carriers' content check as they type, a test send to staff numbers, a
//! time), a lead or an admin who did not write it approves it, and everyone watches it go out
//! (the page refreshes itself while it sends) and may pause, resume or cancel it.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Json, Redirect, Response};
use serde_json::{json, Value};

use super::{audit, problem, refused, render, Form, Signed};
use crate::auth::Staff;
use crate::campaigns::{self, Draft, DraftError};
use crate::domain::staff::Role;
use crate::domain::PhoneNumber;
use crate::error::AppError;
use crate::state::AppState;
use crate::store::campaigns::{self as stored, Segment};
use crate::store::consent_lists::SOURCE_GROUPS;
use crate::store::locations::{self, Location};

/// Who writes campaigns (admins too).
pub const WRITERS: &[Role] = &[Role::Marketing];
/// Who approves them: never their author.
pub const APPROVERS: &[Role] = &[Role::Lead];
/// Who sees them.
pub const READERS: &[Role] = &[Role::Marketing, Role::Lead];

fn when(ms: Option<i64>, tz: &str) -> Option<String> {
    ms.map(|ms| crate::evidence::when(ms, tz))
}

/// `GET /console/campaigns`: every campaign, newest first, with where it stands.
pub async fn list(State(state): State<AppState>, Signed(who): Signed) -> Result<Response, AppError> {
    if let Some(page) = refused(&state, &who, READERS) {
        return Ok(page);
    }
    let stores = locations::list(&state.store).await?;
    let mut rows = Vec::new();
    for c in stored::list(&state.store, 200).await? {
        let tz = stores.iter().find(|l| l.location_id == c.location_id).map_or("UTC", |l| l.timezone.as_str());
        let progress = stored::progress(&state.store, &c.campaign_id).await?;
        rows.push(json!({
            "id": c.campaign_id, "name": c.name, "status": c.status, "by": c.created_by,
            "created": when(Some(c.created_at_ms), tz), "send_at": when(c.send_at_ms, tz),
            "planned": progress.planned, "sent": progress.sent, "delivered": progress.delivered,
        }));
    }
    let data = json!({ "campaigns": rows, "may_write": who.roles.any(WRITERS) });
    Ok(render(&state, Some(&who), StatusCode::OK, "console/campaigns", data))
}

/// `GET /console/campaigns/new`: the form.
pub async fn new(State(state): State<AppState>, Signed(who): Signed) -> Result<Response, AppError> {
    if let Some(page) = refused(&state, &who, WRITERS) {
        return Ok(page);
    }
    form_page(&state, &who, StatusCode::OK, &HashMap::new(), &[]).await
}

async fn form_page(
    state: &AppState,
    who: &Staff,
    status: StatusCode,
    values: &HashMap<String, String>,
    problems: &[String],
) -> Result<Response, AppError> {
    let stores = locations::list(&state.store).await?;
    let v = |k: &str| values.get(k).cloned().unwrap_or_default();
    let types: Vec<Value> = ["adult_use", "medical"]
        .iter()
        .map(|t| json!({ "code": t, "selected": values.get("customer_type").map(String::as_str) == Some(*t) }))
        .collect();
    let data = json!({
        "problems": problems,
        "values": {
            "name": v("name"), "body_en": v("body_en"), "body_es": v("body_es"), "send_at": v("send_at"),
            "since": v("since"),
        },
        "locations": stores.iter().map(|l| json!({ "id": l.location_id, "name": l.name,
            "selected": values.get("location") == Some(&l.location_id) })).collect::<Vec<_>>(),
        "types": types,
        "sources": SOURCE_GROUPS.iter().map(|(code, label, _)| json!({ "code": code, "label": label,
            "selected": values.get("source").map(String::as_str) == Some(*code) })).collect::<Vec<_>>(),
        "fields": campaigns::MERGE_FIELDS.iter().map(|f| format!("{{{{{f}}}}}")).collect::<Vec<_>>(),
    });
    Ok(render(state, Some(who), status, "console/campaign_new", data))
}

/// The draft a posted form describes, with the store it is sent from; or what to fix.
async fn draft_of(state: &AppState, form: &Form) -> Result<(Draft, Option<Location>), String> {
    let location = match form.get("location") {
        Some(id) => locations::get(&state.store, id).await.map_err(|e| e.to_string())?,
        None => locations::list(&state.store).await.map_err(|e| e.to_string())?.into_iter().next(),
    };
    let tz = location.as_ref().map_or("UTC", |l| l.timezone.as_str());
    let local = |raw: &str, what: &str| -> Result<i64, String> {
        let zone = jiff::tz::TimeZone::get(tz).unwrap_or(jiff::tz::TimeZone::UTC);
        let parsed = raw
            .parse::<jiff::civil::DateTime>()
            .or_else(|_| raw.parse::<jiff::civil::Date>().map(|d| d.to_datetime(jiff::civil::Time::midnight())))
            .map_err(|_| format!("{what} {raw:?} is not a date and time"))?;
        parsed.to_zoned_datetime(zone).map(|z| z.timestamp().as_millisecond()).map_err(|e| e.to_string())
    };
    let segment = Segment {
        customer_type: form.get("customer_type").filter(|t| ["adult_use", "medical"].contains(t)).map(str::to_owned),
        source: form.get("source").filter(|s| SOURCE_GROUPS.iter().any(|(c, _, _)| c == s)).map(str::to_owned),
        opted_in_since_ms: form.get("since").map(|d| local(d, "Opted in since")).transpose()?,
    };
    let mut bodies = BTreeMap::new();
    for locale in crate::templates::LOCALES {
        if let Some(body) = form.get(&format!("body_{locale}")) {
            bodies.insert((*locale).to_owned(), body.to_owned());
        }
    }
    let draft = Draft {
        name: form.get("name").unwrap_or("").to_owned(),
        location_id: location.as_ref().map(|l| l.location_id.clone()).unwrap_or_default(),
        segment,
        bodies,
        send_at_ms: form.get("send_at").map(|d| local(d, "The send time")).transpose()?,
    };
    Ok((draft, location))
}

/// `POST /console/campaigns/preview`: each message rendered, its segment count and problems,
/// and the audience's size, for the form to show as people type.
pub async fn preview(State(state): State<AppState>, Signed(who): Signed, body: Bytes) -> Result<Response, AppError> {
    let form = match Form::from(&state, &who, WRITERS, &body) {
        Ok(form) => form,
        Err(page) => return Ok(*page),
    };
    let (draft, location) = match draft_of(&state, &form).await {
        Ok(found) => found,
        Err(problem) => return Ok(Json(json!({ "problems": [problem] })).into_response()),
    };
    let Some(location) = location else {
        return Ok(Json(json!({ "problems": ["Choose a store."] })).into_response());
    };
    let previews = campaigns::preview(&state.library, &draft, &location.name);
    let audience = stored::audience(&state.store, &location.location_id, &draft.segment).await?;
    Ok(Json(json!({ "previews": previews, "audience": audience })).into_response())
}

/// `POST /console/campaigns`: saves a checked draft for approval, or shows the form again
/// with every problem.
pub async fn create(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Signed(who): Signed,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let form = match Form::from(&state, &who, WRITERS, &body) {
        Ok(form) => form,
        Err(page) => return Ok(*page),
    };
    let values: HashMap<String, String> = form.0.iter().filter(|(k, _)| k != "csrf").cloned().collect();
    let draft = match draft_of(&state, &form).await {
        Ok((draft, _)) => draft,
        Err(problem) => return form_page(&state, &who, StatusCode::UNPROCESSABLE_ENTITY, &values, &[problem]).await,
    };
    match campaigns::save(&state.store, &state.library, &draft, &who.email).await {
        Ok(id) => {
            audit(&state, &who, (&headers, peer), "campaign_created", &id, json!({ "name": draft.name })).await?;
            Ok(Redirect::to(&format!("/console/campaigns/{id}")).into_response())
        }
        Err(DraftError::Refused(problems)) => {
            form_page(&state, &who, StatusCode::UNPROCESSABLE_ENTITY, &values, &problems).await
        }
        Err(DraftError::Store(e)) => Err(e.into()),
    }
}

/// `GET /console/campaigns/{id}`: the campaign, its messages, and its live progress.
pub async fn show(
    State(state): State<AppState>,
    Signed(who): Signed,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    if let Some(page) = refused(&state, &who, READERS) {
        return Ok(page);
    }
    campaign_page(&state, &who, &id, StatusCode::OK, None).await
}

async fn campaign_page(
    state: &AppState,
    who: &Staff,
    id: &str,
    status: StatusCode,
    message: Option<String>,
) -> Result<Response, AppError> {
    let Some(c) = stored::get(&state.store, id).await? else {
        return Ok(problem(state, who, StatusCode::NOT_FOUND, "There is no such campaign."));
    };
    let location = locations::get(&state.store, &c.location_id).await?;
    let (tz, store_name) = location.as_ref().map_or(("UTC", ""), |l| (l.timezone.as_str(), l.name.as_str()));
    let segment: Segment = serde_json::from_str(&c.segment).unwrap_or_default();
    let bodies: BTreeMap<String, String> = serde_json::from_str(&c.bodies).unwrap_or_default();
    let draft = Draft { bodies, ..Draft::default() };
    let previews = campaigns::preview(&state.library, &draft, store_name);
    let progress = stored::progress(&state.store, id).await?;
    let audience = if c.status == "draft" || c.status == "approved" {
        Some(stored::audience(&state.store, &c.location_id, &segment).await?)
    } else {
        None
    };
    let reasons: Vec<Value> = stored::reasons(&state.store, id)
        .await?
        .into_iter()
        .map(|(status, reason, count)| json!({ "status": status, "reason": reason, "count": count }))
        .collect();
    let source =
        segment.source.as_deref().and_then(|s| SOURCE_GROUPS.iter().find(|(c, _, _)| *c == s)).map(|(_, l, _)| *l);
    // Refreshing while it sends, or is about to start (not for days before a scheduled time).
    let starting = c.status == "approved" && c.send_at_ms.is_none_or(|at| at <= state.store.now_ms() + 60_000);
    let live = c.status == "sending" || starting;
    let data = json!({
        "c": {
            "id": c.campaign_id, "name": c.name, "status": c.status, "by": c.created_by, "approved_by": c.approved_by,
            "created": when(Some(c.created_at_ms), tz), "approved": when(c.approved_at_ms, tz),
            "send_at": when(c.send_at_ms, tz), "started": when(c.started_at_ms, tz), "finished": when(c.finished_at_ms, tz),
        },
        "store": store_name,
        "segment": {
            "customer_type": segment.customer_type, "source": source,
            "since": when(segment.opted_in_since_ms, tz),
        },
        "previews": previews,
        "audience": audience,
        "progress": progress,
        "reasons": reasons,
        "live": live,
        "test_numbers": state.settings.test_numbers.iter().map(|p| json!({ "phone": p.to_string(), "masked": p.masked() })).collect::<Vec<_>>(),
        "message": message,
        "may_approve": c.status == "draft" && who.roles.any(APPROVERS) && c.created_by != who.email,
        "own_draft": c.status == "draft" && c.created_by == who.email,
        "may_test": who.roles.any(WRITERS) && matches!(c.status.as_str(), "draft" | "approved"),
        "may_pause": c.status == "sending",
        "may_resume": c.status == "paused",
        "may_cancel": matches!(c.status.as_str(), "draft" | "approved" | "sending" | "paused"),
    });
    Ok(render(state, Some(who), status, "console/campaign", data))
}

/// `POST /console/campaigns/{id}/{action}`: approve, test, pause, resume, cancel.
pub async fn act(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Signed(who): Signed,
    Path((id, action)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let roles = match action.as_str() {
        "approve" => APPROVERS,
        "test" => WRITERS,
        _ => READERS,
    };
    let form = match Form::from(&state, &who, roles, &body) {
        Ok(form) => form,
        Err(page) => return Ok(*page),
    };
    let Some(campaign) = stored::get(&state.store, &id).await? else {
        return Ok(problem(&state, &who, StatusCode::NOT_FOUND, "There is no such campaign."));
    };
    let refuse = |status, message: &str| campaign_page(&state, &who, &id, status, Some(message.to_owned()));
    let done = match action.as_str() {
        "approve" if campaign.created_by == who.email => {
            return refuse(StatusCode::FORBIDDEN, "You wrote this campaign: another lead or an admin approves it.")
                .await;
        }
        "approve" => stored::approve(&state.store, &id, &who.email).await?,
        "pause" => stored::transition(&state.store, &id, &["sending"], "paused").await?,
        "resume" => stored::transition(&state.store, &id, &["paused"], "sending").await?,
        "cancel" => stored::cancel(&state.store, &id).await?,
        "test" => {
            if !matches!(campaign.status.as_str(), "draft" | "approved") {
                return refuse(StatusCode::CONFLICT, "Only a campaign not sent yet can be tested.").await;
            }
            let chosen = form.all("phone");
            let phones: Vec<PhoneNumber> =
                state.settings.test_numbers.iter().filter(|p| chosen.contains(&p.as_ref())).cloned().collect();
            if phones.is_empty() || phones.len() != chosen.len() {
                return refuse(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "Choose one or more of the staff test numbers (LEAFDESK_TEST_NUMBERS).",
                )
                .await;
            }
            match campaigns::test_send(&state.store, &state.library, &campaign, &phones).await {
                Ok(n) => {
                    audit(&state, &who, (&headers, peer), "campaign_test_sent", &id, json!({ "texts": n })).await?;
                    return campaign_page(&state, &who, &id, StatusCode::OK, Some(format!("{n} test text(s) queued.")))
                        .await;
                }
                Err(DraftError::Refused(p)) => return refuse(StatusCode::UNPROCESSABLE_ENTITY, &p.join(" ")).await,
                Err(DraftError::Store(e)) => return Err(e.into()),
            }
        }
        _ => return Ok(problem(&state, &who, StatusCode::NOT_FOUND, "There is no such action.")),
    };
    let past = match action.as_str() {
        "approve" => "approved",
        "pause" => "paused",
        "resume" => "resumed",
        _ => "cancelled",
    };
    if !done {
        let message = format!("The campaign is {}: it cannot be {past} now.", campaign.status);
        return refuse(StatusCode::CONFLICT, &message).await;
    }
    audit(&state, &who, (&headers, peer), &format!("campaign_{past}"), &id, json!({})).await?;
    Ok(Redirect::to(&format!("/console/campaigns/{id}")).into_response())
}
