//! Security headers on every response: a Content-Security-Policy (pages load only our own
//! stylesheet and scripts; who may frame them is per page), `X-Content-Type-Options: nosniff`,
//! a `Referrer-Policy`, and HSTS when leafdesk is served over https.
//!
//! Owns these headers; a handler that needs a stricter value (no-store, no referrer at all)
//! sets its own, which is kept.

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

use crate::state::AppState;

/// Everything a page may load comes from us; nothing else runs, is embedded, or is posted to.
const PAGE_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; form-action 'self'; base-uri 'none'";
/// One year: the usual HSTS lifetime once a site is https for good.
const HSTS: &str = "max-age=31536000; includeSubDomains";

pub async fn security_headers(State(state): State<AppState>, req: Request, next: Next) -> Response {
    // The chat (signed-in and any visitor's) and the opt-in form sit in the store's own pages.
    let embeddable = matches!(req.uri().path(), "/chat" | "/widget" | "/consent/optin");
    let widget = req.uri().path() == "/widget";
    let mut response = next.run(req).await;
    let headers = response.headers_mut();
    // Those may be framed by the store's own site (LEAFDESK_CHAT_EMBED_ORIGINS);
    // nothing else may be framed at all.
    let ancestors = match (&state.settings.chat_embed_origins, embeddable) {
        (Some(origins), true) => origins.as_str(),
        _ => "'none'",
    };
    // The widget's chat is framed by our own demo site too (`/demo/site`).
    let ancestors = match (widget, ancestors) {
        (true, "'none'") => "'self'".to_owned(),
        (true, origins) => format!("'self' {origins}"),
        (false, origins) => origins.to_owned(),
    };
    let policy = format!("{PAGE_POLICY}; frame-ancestors {ancestors}");
    if let Ok(value) = HeaderValue::from_str(&policy) {
        headers.insert(header::CONTENT_SECURITY_POLICY, value);
    }
    if ancestors == "'none'" {
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.entry(header::REFERRER_POLICY).or_insert(HeaderValue::from_static("strict-origin-when-cross-origin"));
    if state.settings.public_url.as_deref().is_some_and(|u| u.starts_with("https://")) {
        headers.insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static(HSTS));
    }
    response
}
