//! The pages' static assets (the customer pages' stylesheet and the chat widget's script; the
//! console's stylesheet and script), built into
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
const WIDGET_FRAME_JS: &str = include_str!("../../static/widget-frame.js");
const CONSOLE_CSS: &str = include_str!("../../static/console.css");
const CONSOLE_JS: &str = include_str!("../../static/console.js");
/// An hour: long enough to spare phones the download, short enough for a fix to arrive.
const CACHE: &str = "public, max-age=3600";

const CSS: &str = "text/css; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";

fn asset(content_type: &'static str, body: &'static str) -> axum::routing::MethodRouter<AppState> {
    get(move || async move {
        ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, CACHE)], body).into_response()
    })
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/static/pages.css", asset(CSS, PAGES_CSS))
        .route("/static/chat.js", asset(JS, CHAT_JS))
        .route("/static/widget-frame.js", asset(JS, WIDGET_FRAME_JS))
        .route("/static/console.css", asset(CSS, CONSOLE_CSS))
        .route("/static/console.js", asset(JS, CONSOLE_JS))
}
