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
use jiff::tz::TimeZone;
use serde_json::json;

use crate::error::AppError;
use crate::state::AppState;
use crate::store::{commerce, uploads as store_uploads};
use crate::uploads::{self, Source, UploadError};

/// 64 KiB: room for the multipart framing around the document.
const FORM_OVERHEAD: usize = 64 * 1024;

pub fn router(max_bytes: usize) -> Router<AppState> {
    Router::new().route("/u/{token}", get(show).post(receive)).layer(DefaultBodyLimit::max(max_bytes + FORM_OVERHEAD))
}

/// The page's language (Spanish?) and the store's timezone, from the link's customer.
async fn viewer(state: &AppState, customer_id: &str) -> (bool, TimeZone) {
    match commerce::reach(&state.store, customer_id).await {
        Ok(Some(r)) => (r.contact.locale == "es", TimeZone::get(&r.location.timezone).unwrap_or(TimeZone::UTC)),
        _ => (false, TimeZone::UTC),
    }
}

fn page(state: &AppState, status: StatusCode, data: serde_json::Value) -> Result<Response, AppError> {
    let html = state.pages.render("upload", &data)?;
    Ok((status, [("cache-control", "no-store"), ("referrer-policy", "no-referrer")], Html(html)).into_response())
}

fn problem(err: &UploadError, es: bool) -> (StatusCode, String) {
    let (status, en, sp) = match err {
        UploadError::BadLink | UploadError::NoCustomer => (
            StatusCode::NOT_FOUND,
            "This link isn't valid. Please use the link we texted you, or reply to our text for a new one.",
            "Este enlace no es válido. Use el enlace que le enviamos o responda a nuestro mensaje para pedir otro.",
        ),
        UploadError::Expired => (
            StatusCode::GONE,
            "This link has expired. Reply to our text and we'll send you a new one.",
            "Este enlace venció. Responda a nuestro mensaje y le enviaremos uno nuevo.",
        ),
        UploadError::Used => (
            StatusCode::GONE,
            "This link was already used, so we have your document. Reply to our text if you need to send another.",
            "Este enlace ya se usó, así que tenemos su documento. Responda a nuestro mensaje si necesita enviar otro.",
        ),
        UploadError::Empty => {
            (StatusCode::BAD_REQUEST, "Please choose a photo or PDF to send.", "Elija una foto o un PDF para enviar.")
        }
        UploadError::TooLarge(_) => (
            StatusCode::PAYLOAD_TOO_LARGE,
            "That file is too large. Please send a smaller photo or PDF.",
            "Ese archivo es demasiado grande. Envíe una foto o un PDF más pequeño.",
        ),
        UploadError::WrongType => (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "That file isn't a photo (JPEG, PNG, HEIC) or a PDF. Please choose one of those.",
            "Ese archivo no es una foto (JPEG, PNG, HEIC) ni un PDF. Elija uno de esos.",
        ),
        UploadError::Store(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong on our side. Please try again in a minute.",
            "Algo falló de nuestro lado. Inténtelo de nuevo en un minuto.",
        ),
    };
    (status, if es { sp } else { en }.to_owned())
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
            let (es, tz) = viewer(&state, &t.customer_id).await;
            let expires = crate::actions::clock::describe(
                t.expires_at_ms,
                state.store.now_ms(),
                &tz,
                if es { "es" } else { "en" },
            );
            let max_mb = state.uploads.max_bytes / (1024 * 1024);
            page(&state, StatusCode::OK, json!({ "es": es, "expires": expires, "max_mb": max_mb }))
        }
        Err(err) => {
            let (status, text) = problem(&err, false);
            page(&state, status, json!({ "problem": text }))
        }
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
        Err(err) => {
            let (status, text) = problem(&err, false);
            return page(&state, status, json!({ "problem": text }));
        }
    };
    let token_id = token.token_id;
    let (es, tz) = viewer(&state, &token.customer_id).await;
    let expires =
        crate::actions::clock::describe(token.expires_at_ms, state.store.now_ms(), &tz, if es { "es" } else { "en" });
    let bytes = match read_document(multipart, state.uploads.max_bytes).await {
        Ok(bytes) => bytes,
        Err(err) => return form_error(&state, &err, es, &expires),
    };
    match uploads::accept(&state.store, &state.uploads, Source::Link { token_id: &token_id }, &bytes).await {
        Ok(_) => {
            state.metrics.inc("leafdesk_uploads_total", &[("source", "link")]);
            page(&state, StatusCode::OK, json!({ "done": true, "es": es }))
        }
        Err(UploadError::Store(e)) => Err(AppError::Internal(e.into())),
        Err(err) => form_error(&state, &err, es, &expires),
    }
}

/// A problem with the file shows the form again (the link is still good); a problem with the
/// link shows only the problem.
fn form_error(state: &AppState, err: &UploadError, es: bool, expires: &str) -> Result<Response, AppError> {
    let (status, text) = problem(err, es);
    match err {
        UploadError::Empty | UploadError::TooLarge(_) | UploadError::WrongType => {
            let max_mb = state.uploads.max_bytes / (1024 * 1024);
            page(state, status, json!({ "error": text, "es": es, "expires": expires, "max_mb": max_mb }))
        }
        _ => page(state, status, json!({ "problem": text, "es": es })),
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
