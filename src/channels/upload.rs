//! The upload page: `GET /u/{token}` shows a mobile-friendly form, `POST /u/{token}` takes one
//! document (multipart field `document`). A tampered, unknown, expired or used link shows a
//! clear page and stores nothing; so does a file that is not a JPEG, PNG, HEIC or PDF by its
//! bytes, or one over the size limit.
//!
//! Owns the page's wire format; checking, sealing and filing are `uploads::accept`.

use axum::extract::{DefaultBodyLimit, Multipart, Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};

use crate::commerce;
use crate::error::AppError;
use crate::state::AppState;
use crate::store::uploads as store_uploads;
use crate::templates::BASE_LOCALE;
use crate::uploads::{self, Source, UploadError};

/// 64 KiB: room for the multipart framing around the document.
const FORM_OVERHEAD: usize = 64 * 1024;

pub fn router(max_bytes: usize) -> Router<AppState> {
    Router::new().route("/u/{token}", get(show).post(receive)).layer(DefaultBodyLimit::max(max_bytes + FORM_OVERHEAD))
}

/// Who is looking: the page's language and the store's time zone, from the link's customer.
struct Viewer {
    locale: String,
    timezone: String,
}

async fn viewer(state: &AppState, customer_id: &str) -> Viewer {
    match commerce::reach(state.commerce.as_ref(), &state.store, customer_id).await {
        Ok(Some(r)) => Viewer { locale: r.contact.locale, timezone: r.location.timezone },
        _ => Viewer { locale: BASE_LOCALE.into(), timezone: "UTC".into() },
    }
}

/// The page, in the viewer's language; `extra` says what it shows (a `problem` or `error` code
/// the template words through the `upload_problem` terms, `done`, or the form).
fn page(
    state: &AppState,
    status: StatusCode,
    who: &Viewer,
    expires_ms: i64,
    extra: Value,
) -> Result<Response, AppError> {
    let mut data = json!({
        "locale": who.locale,
        "es": who.locale == "es",
        "timezone": who.timezone,
        "now_ms": state.store.now_ms(),
        "expires_ms": expires_ms,
        "max_mb": state.uploads.max_bytes / (1024 * 1024),
    });
    if let (Some(data), Value::Object(extra)) = (data.as_object_mut(), extra) {
        data.extend(extra);
    }
    let html = state.pages.render("upload", &data)?;
    Ok((status, [("cache-control", "no-store"), ("referrer-policy", "no-referrer")], Html(html)).into_response())
}

/// A page for a link that cannot be used, for someone we do not know.
fn link_problem(state: &AppState, err: &UploadError) -> Result<Response, AppError> {
    let who = Viewer { locale: BASE_LOCALE.into(), timezone: "UTC".into() };
    let (status, code) = problem(err);
    page(state, status, &who, 0, json!({ "problem": code }))
}

/// The status and the `upload_problem` code (templates/messages/<locale>/terms.yaml) for a problem.
fn problem(err: &UploadError) -> (StatusCode, &'static str) {
    match err {
        UploadError::BadLink | UploadError::NoCustomer => (StatusCode::NOT_FOUND, "bad_link"),
        UploadError::Expired => (StatusCode::GONE, "expired"),
        UploadError::Used => (StatusCode::GONE, "used"),
        UploadError::Empty => (StatusCode::BAD_REQUEST, "empty"),
        UploadError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
        UploadError::WrongType => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "wrong_type"),
        UploadError::Store(_) | UploadError::Fetch(_) => (StatusCode::INTERNAL_SERVER_ERROR, "ours"),
    }
}

/// The token's id, if the link is good and still usable.
async fn usable(state: &AppState, token: &str) -> Result<store_uploads::Token, UploadError> {
    let id = state.uploads.sealer.verify_token(token).ok_or(UploadError::BadLink)?;
    let found = store_uploads::find_token(&state.store, id).await?.ok_or(UploadError::BadLink)?;
    match (found.used_at_ms, found.expires_at_ms <= state.store.now_ms()) {
        (Some(_), _) => Err(UploadError::Used),
        (None, true) => Err(UploadError::Expired),
        (None, false) => Ok(found),
    }
}

#[tracing::instrument(skip_all, fields(channel = "upload"))]
async fn show(State(state): State<AppState>, Path(token): Path<String>) -> Result<Response, AppError> {
    match usable(&state, &token).await {
        Ok(t) => {
            let who = viewer(&state, &t.customer_id).await;
            page(&state, StatusCode::OK, &who, t.expires_at_ms, json!({}))
        }
        Err(err) => link_problem(&state, &err),
    }
}

#[tracing::instrument(skip_all, fields(channel = "upload"), err(level = "warn"))]
async fn receive(
    State(state): State<AppState>,
    Path(token): Path<String>,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<Response, AppError> {
    let token = match usable(&state, &token).await {
        Ok(t) => t,
        Err(err) => return link_problem(&state, &err),
    };
    let token_id = token.token_id;
    let who = viewer(&state, &token.customer_id).await;
    let bytes = match read_document(multipart, state.uploads.max_bytes).await {
        Ok(bytes) => bytes,
        Err(err) => return form_error(&state, &err, &who, token.expires_at_ms),
    };
    match uploads::accept(&state.store, &state.uploads, Source::Link { token_id: &token_id }, &bytes).await {
        Ok(_) => {
            state.metrics.inc("leafdesk_uploads_total", &[("source", "link")]);
            page(&state, StatusCode::OK, &who, token.expires_at_ms, json!({ "done": true }))
        }
        Err(UploadError::Store(e)) => Err(AppError::Internal(e.into())),
        Err(err) => form_error(&state, &err, &who, token.expires_at_ms),
    }
}

/// A problem with the file shows the form again (the link is still good); a problem with the
/// link shows only the problem.
fn form_error(state: &AppState, err: &UploadError, who: &Viewer, expires_ms: i64) -> Result<Response, AppError> {
    let (status, code) = problem(err);
    match err {
        UploadError::Empty | UploadError::TooLarge(_) | UploadError::WrongType => {
            page(state, status, who, expires_ms, json!({ "error": code }))
        }
        _ => page(state, status, who, expires_ms, json!({ "problem": code })),
    }
}

/// The `document` field's bytes, read up to `max` (one byte more means too large).
async fn read_document(
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
    max: usize,
) -> Result<Vec<u8>, UploadError> {
    let mut multipart = multipart.map_err(|_| UploadError::Empty)?;
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => return Err(UploadError::Empty),
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                return Err(UploadError::TooLarge(max / (1024 * 1024)))
            }
            Err(_) => return Err(UploadError::Empty),
        };
        if field.name() != Some("document") {
            continue;
        }
        let mut field = field;
        let mut bytes = Vec::new();
        loop {
            match field.chunk().await {
                Ok(Some(chunk)) => {
                    bytes.extend_from_slice(&chunk);
                    if bytes.len() > max {
                        return Err(UploadError::TooLarge(max / (1024 * 1024)));
                    }
                }
                Ok(None) => return Ok(bytes),
                Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                    return Err(UploadError::TooLarge(max / (1024 * 1024)))
                }
                Err(_) => return Err(UploadError::Empty),
            }
        }
    }
}
