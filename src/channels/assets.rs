//! The customer pages' static assets: one stylesheet and the chat widget's script, built into
//! the binary and served from `/static/…`, so the pages carry no inline style or script and
//! their Content-Security-Policy can allow only `'self'`.
//!
//! Owns these files' routes and caching; the pages themselves are `templates/pages/`.

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

use crate::state::AppState;

const PAGES_CSS: &str = include_str!("../../static/pages.css");
const CHAT_JS: &str = include_str!("../../static/chat.js");
/// An hour: long enough to spare phones the download, short enough for a fix to arrive.
const CACHE: &str = "public, max-age=3600";

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/static/pages.css",
            get(|| async {
                ([(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, CACHE)], PAGES_CSS)
                    .into_response()
            }),
        )
        .route(
            "/static/chat.js",
            get(|| async {
                ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8"), (header::CACHE_CONTROL, CACHE)], CHAT_JS)
                    .into_response()
            }),
        )
}
