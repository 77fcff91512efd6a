//! Signing in and out of the console. The sign-in form carries a signed, timed token (there is
//! no session yet to hold a CSRF token); a good sign-in sets a fresh session cookie and returns
//! the person to the page they were going to, within the console only.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::json;

use super::{render, Form, Signed, COOKIE};
use crate::auth::{self, SignInError};
use crate::error::AppError;
use crate::state::AppState;

/// 2 hours: long enough to leave the sign-in page open, short enough that an old copy is useless.
const FORM_TOKEN_MAX_AGE_SECS: i64 = 7200;

#[derive(Deserialize)]
pub struct Next {
    next: Option<String>,
}

/// Where to go after signing in: a console page, never another site.
fn destination(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with("/console") && !n.starts_with("/console/login") && !n.contains("//") => n.to_owned(),
        _ => "/console".to_owned(),
    }
}

fn form_token(state: &AppState) -> String {
    state.uploads.sealer.sign_token(&format!("login{}", state.store.clock().now_secs()))
}

fn form_token_valid(state: &AppState, token: Option<&str>) -> bool {
    let issued = token
        .and_then(|t| state.uploads.sealer.verify_token(t))
        .and_then(|id| id.strip_prefix("login").and_then(|ts| ts.parse::<i64>().ok()));
    let now = state.store.clock().now_secs();
    issued.is_some_and(|at| at <= now + 60 && now - at <= FORM_TOKEN_MAX_AGE_SECS)
}

fn page(state: &AppState, status: StatusCode, next: &str, email: &str, error: Option<String>) -> Response {
    let data = json!({ "form_token": form_token(state), "next": next, "email": email, "error": error });
    render(state, None, status, "console/login", data)
}

pub async fn show(State(state): State<AppState>, Query(q): Query<Next>) -> Response {
    page(&state, StatusCode::OK, &destination(q.next.as_deref()), "", None)
}

pub async fn submit(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    if body.len() > super::MAX_FORM_BYTES {
        return Err(AppError::TooLarge(super::MAX_FORM_BYTES));
    }
    let form = Form(crate::channels::parse_form(&body)?);
    let next = destination(form.get("next"));
    let email = form.get("email").unwrap_or("");
    if !form_token_valid(&state, form.get("form_token")) {
        let why = "This sign-in form has expired. Please try again.".to_owned();
        return Ok(page(&state, StatusCode::FORBIDDEN, &next, email, Some(why)));
    }
    let password = form.0.iter().find(|(k, _)| k == "password").map_or("", |(_, v)| v.as_str());
    if email.is_empty() || password.is_empty() {
        let why = "Enter your email and password.".to_owned();
        return Ok(page(&state, StatusCode::BAD_REQUEST, &next, email, Some(why)));
    }
    let ip = crate::channels::client_ip(&headers, peer, &state.settings.trusted_proxies);
    match auth::sign_in(&state.store, email, password, &ip).await {
        Ok(started) => {
            let secure = if state.settings.public_base().starts_with("https://") { "; Secure" } else { "" };
            let cookie = format!(
                "{COOKIE}={}; Path=/console; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
                started.token,
                auth::ABSOLUTE_MS / 1000
            );
            Ok(([(header::SET_COOKIE, cookie)], Redirect::to(&next)).into_response())
        }
        Err(SignInError::Store(e)) => Err(e.into()),
        Err(e @ SignInError::Invalid) => {
            let why = format!("{}{}", capitalized(&e.to_string()), ". Check both and try again.");
            Ok(page(&state, StatusCode::UNAUTHORIZED, &next, email, Some(why)))
        }
        Err(e) => Ok(page(&state, StatusCode::TOO_MANY_REQUESTS, &next, email, Some(capitalized(&e.to_string())))),
    }
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

/// Signs out this session, or with `everywhere=yes` every session of the account.
pub async fn sign_out(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Signed(who): Signed,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let form = match Form::parse(&state, &who, &body) {
        Ok(form) => form,
        Err(page) => return Ok(*page),
    };
    let ip = crate::channels::client_ip(&headers, peer, &state.settings.trusted_proxies);
    auth::sign_out(&state.store, &who, form.get("everywhere") == Some("yes"), &ip).await?;
    let expired = format!("{COOKIE}=; Path=/console; HttpOnly; SameSite=Lax; Max-Age=0");
    Ok(([(header::SET_COOKIE, expired)], Redirect::to("/console/login")).into_response())
}
