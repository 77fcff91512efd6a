//! The staff console (`/console…`): sign-in, the queue, tickets, verification review, consent
//! lists and administration, as server-rendered pages (`templates/pages/console/`) whose forms work without
//! JavaScript; `static/console.js` makes them live.
//!
//! Owns the console's wire format: the session cookie, the CSRF check on every form, the role
//! each route needs (checked here, server-side, on every request) and the pages. What the
//! actions do is `auth` and `queue`.

mod admin;
mod campaigns;
mod charts;
mod consent;
mod live;
mod login;
mod reports;
mod review;
mod tickets;

use axum::extract::{DefaultBodyLimit, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};

use crate::auth::{self, Staff};
use crate::domain::staff::Role;
use crate::error::AppError;
use crate::state::AppState;

/// The session cookie. Scoped to `/console`: nothing else on the host reads it.
pub const COOKIE: &str = "leafdesk_session";

/// 64 KiB: the largest console form (a reply is at most 1,600 characters).
const MAX_FORM_BYTES: usize = 64 * 1024;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console/login", get(login::show).post(login::submit))
        .route("/console/logout", post(login::sign_out))
        .route("/console", get(tickets::queue))
        .route("/console/tickets/{id}", get(tickets::show))
        .route("/console/tickets/{id}/{action}", post(tickets::act))
        .route("/console/uploads/{id}", get(review::document))
        .route("/console/uploads/{id}/review", post(review::decide))
        .route("/console/admin/users", get(admin::users).post(admin::add_user))
        .route("/console/admin/users/{id}/{action}", post(admin::change_user))
        .route("/console/admin/audit", get(admin::audit))
        .route("/console/consent", get(consent::list))
        .route("/console/consent/number", post(consent::number))
        .route("/console/consent/evidence", post(consent::evidence))
        .route("/console/campaigns", get(campaigns::list).post(campaigns::create))
        .route("/console/campaigns/new", get(campaigns::new))
        .route("/console/campaigns/preview", post(campaigns::preview))
        .route("/console/campaigns/{id}", get(campaigns::show))
        .route("/console/campaigns/{id}/{action}", post(campaigns::act))
        .route("/console/reports", get(reports::show))
}

/// Consent files in and out, kept apart from the request timeout: a 50 MB file's check or
/// import, or a million-row export, takes longer than a page.
pub fn long_router() -> Router<AppState> {
    Router::new()
        .route("/console/consent/export", get(consent::export))
        .route(
            "/console/consent/import",
            post(consent::check_import).layer(DefaultBodyLimit::max(consent::MAX_IMPORT_BYTES + MAX_FORM_BYTES)),
        )
        .route("/console/consent/import/{id}", post(consent::confirm_import))
}

/// The live stream, kept apart: it must not fall under the request timeout.
pub fn live_router() -> Router<AppState> {
    Router::new().route("/console/events", get(live::events))
}

/// The signed-in staff member. A request without a live session gets the sign-in page (303),
/// which brings them back to where they were going.
pub struct Signed(pub Staff);

impl FromRequestParts<AppState> for Signed {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let token = cookie(&parts.headers, COOKIE);
        let staff = match token {
            Some(token) => {
                auth::authenticate(&state.store, &token).await.map_err(|e| AppError::from(e).into_response())?
            }
            None => None,
        };
        match staff {
            Some(staff) => Ok(Self(staff)),
            None => {
                let back = if parts.method == axum::http::Method::GET {
                    parts.uri.path_and_query().map_or("/console", |p| p.as_str()).to_owned()
                } else {
                    // A form posted after the session ended: back to the page it came from.
                    parts.uri.path().rsplit_once('/').map_or("/console", |(page, _)| page).to_owned()
                };
                let next: String = form_urlencoded::byte_serialize(back.as_bytes()).collect();
                Err(Redirect::to(&format!("/console/login?next={next}")).into_response())
            }
        }
    }
}

/// A cookie's value from the request headers.
fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// `None` when `who` holds one of `roles` (admins hold every one); otherwise the 403 page,
/// which says nothing of what is behind it.
fn refused(state: &AppState, who: &Staff, roles: &[Role]) -> Option<Response> {
    (!who.roles.any(roles)).then(|| render(state, Some(who), StatusCode::FORBIDDEN, "console/forbidden", json!({})))
}

/// A console page: `data` plus who is signed in (name, roles, the CSRF token, which sections
/// the menu shows).
fn render(state: &AppState, who: Option<&Staff>, status: StatusCode, page: &str, data: Value) -> Response {
    let mut all = json!({ "page": page });
    if let Some(who) = who {
        all["me"] = json!({
            "name": who.display_name,
            "email": who.email,
            "roles": who.roles.codes(),
            "csrf": who.csrf_token,
            "works_tickets": who.roles.any(tickets::TICKET_ROLES),
            "works_consent": who.roles.any(consent::CONSENT_ROLES),
            "sees_campaigns": who.roles.any(campaigns::READERS),
            "sees_reports": who.roles.any(reports::ROLES),
            "admin": who.roles.has(Role::Admin),
        });
    }
    if let (Some(all), Value::Object(data)) = (all.as_object_mut(), data) {
        all.extend(data);
    }
    match state.pages.render(page, &all) {
        Ok(html) => (status, [(header::CACHE_CONTROL, "no-store")], Html(html)).into_response(),
        Err(e) => AppError::from(e).into_response(),
    }
}

/// A posted console form: its fields, once the CSRF token is checked.
struct Form(Vec<(String, String)>);

impl Form {
    /// A form posted by someone whose roles include one of `roles`: the 403 page otherwise, as
    /// [`Form::parse`] for the rest.
    fn from(state: &AppState, who: &Staff, roles: &[Role], body: &[u8]) -> Result<Self, Box<Response>> {
        match refused(state, who, roles) {
            Some(page) => Err(Box::new(page)),
            None => Self::parse(state, who, body),
        }
    }

    /// Parses the body and checks its `csrf` field against the session's.
    fn parse(state: &AppState, who: &Staff, body: &[u8]) -> Result<Self, Box<Response>> {
        if body.len() > MAX_FORM_BYTES {
            return Err(Box::new(AppError::TooLarge(MAX_FORM_BYTES).into_response()));
        }
        let fields = crate::channels::parse_form(body).map_err(|e| Box::new(e.into_response()))?;
        let form = Self(fields);
        if auth::csrf_ok(who, form.get("csrf")) {
            Ok(form)
        } else {
            let data = json!({ "message": "This form has expired. Go back, reload the page and try again." });
            Err(Box::new(render(state, Some(who), StatusCode::FORBIDDEN, "console/problem", data)))
        }
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.trim()).filter(|v| !v.is_empty())
    }

    fn all(&self, name: &str) -> Vec<&str> {
        self.0.iter().filter(|(k, _)| k == name).map(|(_, v)| v.trim()).filter(|v| !v.is_empty()).collect()
    }
}

/// Writes what a staff member did to the audit log, with the address they did it from.
async fn audit(
    state: &AppState,
    who: &Staff,
    from: (&HeaderMap, std::net::SocketAddr),
    action: &str,
    target: &str,
    detail: Value,
) -> Result<(), AppError> {
    let ip = crate::channels::client_ip(from.0, from.1, &state.settings.trusted_proxies);
    let entry = crate::store::audit::NewAudit { actor: &who.email, action, target, detail, ip: &ip };
    Ok(crate::store::audit::append(&state.store, &entry).await?)
}

/// A page that says what went wrong and what to do, in the console's frame.
fn problem(state: &AppState, who: &Staff, status: StatusCode, message: &str) -> Response {
    render(state, Some(who), status, "console/problem", json!({ "message": message }))
}
