//! Administration (admins only): the staff list (add, roles, disable, enable, new password) and
//! the audit log (filters, CSV export).

use std::collections::HashMap;
use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::json;

use super::{refused, render, Form, Signed};
use crate::auth::users::{self, Actor, UserError};
use crate::domain::staff::{Role, Roles};
use crate::error::AppError;
use crate::state::AppState;
use crate::store::audit::{self, Filter};
use crate::store::staff;

/// 1,000 entries on the page; the CSV export holds up to 100,000.
const PAGE_ENTRIES: i64 = 1000;
const EXPORT_ENTRIES: i64 = 100_000;

async fn users_page(
    state: &AppState,
    who: &crate::auth::Staff,
    status: StatusCode,
    error: Option<String>,
) -> Result<Response, AppError> {
    let all = staff::list(&state.store).await?;
    let rows: Vec<_> = all
        .iter()
        .map(|u| {
            json!({
                "id": u.user_id, "email": u.email, "name": u.display_name, "roles": u.roles.codes(),
                "disabled": u.disabled, "me": u.user_id == who.user_id,
                "role_choices": Role::CODES.iter().map(|c| json!({ "code": c, "held": u.roles.codes().contains(c) })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let data = json!({ "users": rows, "roles": Role::CODES, "error": error });
    Ok(render(state, Some(who), status, "console/users", data))
}

pub async fn users(State(state): State<AppState>, Signed(who): Signed) -> Result<Response, AppError> {
    if let Some(page) = refused(&state, &who, &[Role::Admin]) {
        return Ok(page);
    }
    users_page(&state, &who, StatusCode::OK, None).await
}

fn actor<'a>(who: &'a crate::auth::Staff, ip: &'a str) -> Actor<'a> {
    Actor { name: &who.email, ip }
}

fn outcome(result: Result<(), UserError>) -> Result<Option<(StatusCode, String)>, AppError> {
    match result {
        Ok(()) => Ok(None),
        Err(UserError::Store(e)) => Err(e.into()),
        Err(e @ UserError::Taken) => Ok(Some((StatusCode::CONFLICT, capitalized(&e.to_string())))),
        Err(e) => Ok(Some((StatusCode::UNPROCESSABLE_ENTITY, capitalized(&e.to_string())))),
    }
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect::<String>() + ".").unwrap_or_default()
}

pub async fn add_user(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Signed(who): Signed,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let form = match Form::from(&state, &who, &[Role::Admin], &body) {
        Ok(form) => form,
        Err(page) => return Ok(*page),
    };
    let ip = crate::channels::client_ip(&headers, peer, &state.settings.trusted_proxies);
    let roles = match Roles::parse(form.all("role")) {
        Ok(roles) => roles,
        Err(code) => {
            return users_page(&state, &who, StatusCode::UNPROCESSABLE_ENTITY, Some(format!("{code:?} is not a role.")))
                .await
        }
    };
    let password = form.0.iter().find(|(k, _)| k == "password").map_or("", |(_, v)| v.as_str());
    let added = users::add(
        &state.store,
        &actor(&who, &ip),
        form.get("email").unwrap_or(""),
        form.get("name").unwrap_or(""),
        &roles,
        password,
    )
    .await
    .map(|_| ());
    match outcome(added)? {
        None => Ok(Redirect::to("/console/admin/users").into_response()),
        Some((status, message)) => users_page(&state, &who, status, Some(message)).await,
    }
}

pub async fn change_user(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Signed(who): Signed,
    Path((id, action)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let form = match Form::from(&state, &who, &[Role::Admin], &body) {
        Ok(form) => form,
        Err(page) => return Ok(*page),
    };
    let Some(user) = staff::find(&state.store, &id).await? else {
        return users_page(&state, &who, StatusCode::NOT_FOUND, Some("There is no such account.".into())).await;
    };
    let ip = crate::channels::client_ip(&headers, peer, &state.settings.trusted_proxies);
    let by = actor(&who, &ip);
    let result = match action.as_str() {
        "roles" => match Roles::parse(form.all("role")) {
            Ok(roles) => users::set_roles(&state.store, &by, &user.email, &roles).await,
            Err(code) => Err(UserError::BadEmail(code)),
        },
        "disable" => users::set_disabled(&state.store, &by, &user.email, true).await,
        "enable" => users::set_disabled(&state.store, &by, &user.email, false).await,
        "password" => {
            let password = form.0.iter().find(|(k, _)| k == "password").map_or("", |(_, v)| v.as_str());
            users::reset_password(&state.store, &by, &user.email, password).await
        }
        _ => return users_page(&state, &who, StatusCode::NOT_FOUND, Some("There is no such change.".into())).await,
    };
    match outcome(result)? {
        None => Ok(Redirect::to("/console/admin/users").into_response()),
        Some((status, message)) => users_page(&state, &who, status, Some(message)).await,
    }
}

/// The audit log, newest first: `actor`, `action`, `since`/`until` (YYYY-MM-DD, UTC) filter it;
/// `format=csv` downloads it.
pub async fn audit(
    State(state): State<AppState>,
    Signed(who): Signed,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, AppError> {
    if let Some(page) = refused(&state, &who, &[Role::Admin]) {
        return Ok(page);
    }
    let get = |k: &str| q.get(k).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
    let day = |k: &str| {
        get(k).and_then(|d| d.parse::<jiff::civil::Date>().ok()).and_then(|d| {
            let midnight = jiff::civil::DateTime::from_parts(d, jiff::civil::Time::midnight());
            midnight.to_zoned_datetime(jiff::tz::TimeZone::UTC).ok().map(|z| z.timestamp().as_millisecond())
        })
    };
    let csv = get("format").as_deref() == Some("csv");
    let filter = Filter {
        actor: get("actor").map(|a| a.to_lowercase()),
        action: get("action"),
        since_ms: day("since"),
        until_ms: day("until").map(|ms| ms + 86_400_000),
        limit: if csv { EXPORT_ENTRIES } else { PAGE_ENTRIES },
    };
    let entries = audit::list(&state.store, &filter).await?;
    if csv {
        let mut out = csv::Writer::from_writer(Vec::new());
        out.write_record(["at", "actor", "action", "target", "detail", "ip"])
            .map_err(|e| AppError::Internal(e.into()))?;
        for e in &entries {
            let at = jiff::Timestamp::from_millisecond(e.at_ms).map(|t| t.to_string()).unwrap_or_default();
            out.write_record([&at, &e.actor, &e.action, &e.target, &e.detail, &e.ip])
                .map_err(|e| AppError::Internal(e.into()))?;
        }
        let bytes = out.into_inner().map_err(|e| AppError::Internal(anyhow::anyhow!("{e}")))?;
        let headers = [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (header::CONTENT_DISPOSITION, "attachment; filename=\"leafdesk-audit.csv\""),
            (header::CACHE_CONTROL, "no-store"),
        ];
        return Ok((headers, bytes).into_response());
    }
    let rows: Vec<_> = entries
        .iter()
        .map(|e| {
            let at = jiff::Timestamp::from_millisecond(e.at_ms).map(|t| t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string()).unwrap_or_default();
            json!({ "at": at, "actor": e.actor, "action": e.action, "target": e.target, "detail": e.detail, "ip": e.ip })
        })
        .collect();
    let query: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(q.iter().filter(|(k, _)| k.as_str() != "format"))
        .append_pair("format", "csv")
        .finish();
    let data = json!({
        "entries": rows,
        "count": rows.len(),
        "filter": { "actor": get("actor"), "action": get("action"), "since": get("since"), "until": get("until") },
        "csv_link": format!("/console/admin/audit?{query}"),
    });
    Ok(render(&state, Some(&who), StatusCode::OK, "console/audit", data))
}
