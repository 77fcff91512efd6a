//! Building the running service: store, flows, pipeline, router and listener; running it and
//! shutting it down gracefully.
//!
//! Owns the HTTP routes that are not a channel's (health, readiness, metrics); the shared
//! state every handler gets is [`crate::state::AppState`].

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::channels;
use crate::clock::Clock;
use crate::flows::{self, Library};
use crate::metrics::Metrics;
use crate::outbox;
use crate::pipeline::{self, Pipeline};
use crate::settings::Settings;
use crate::state::AppState;
use crate::store::Store;
use crate::templates::Pages;
use crate::twilio::rest::TwilioRest;

/// 250 ms: how soon a message queued by another process (the CLI) goes out.
const OUTBOX_POLL: Duration = Duration::from_millis(250);
/// How often approved campaigns are looked for and planned recipients queued.
const CAMPAIGN_POLL: Duration = Duration::from_millis(500);
/// 1 s: keeps the SQLite write-ahead log small without checkpointing inside commits.
const CHECKPOINT_INTERVAL: Duration = Duration::from_secs(1);
/// 15 s: Twilio gives up on a webhook after 15 seconds, so working longer helps nobody.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

pub struct App {
    listener: TcpListener,
    state: AppState,
    reloader: Option<tokio::task::JoinHandle<()>>,
    outbox: Option<tokio::task::JoinHandle<()>>,
    /// Locks expired medical recommendations at local midnight.
    sweeper: Option<tokio::task::JoinHandle<()>>,
    /// Texts people's chat replies nobody saw (`chat_fallback`), when on.
    chat_fallback: Option<tokio::task::JoinHandle<()>>,
    /// On PostgreSQL: hears other processes' queue changes for this one's live consoles.
    feed: Option<tokio::task::JoinHandle<()>>,
    /// Starts approved campaigns and feeds their texts to the outbox.
    campaigns: Option<tokio::task::JoinHandle<()>>,
}

/// Connects and migrates the store, loads and checks flows and templates, binds the listener.
///
/// # Errors
/// Anything that must stop the process at start: database, broken flows, a taken port.
pub async fn build(settings: Settings) -> anyhow::Result<App> {
    let clock = settings.clock();
    build_with_clock(settings, clock).await
}

/// As [`build`], reading the time from `clock` (tests pin the time they mean).
///
/// # Errors
/// As for [`build`].
pub async fn build_with_clock(settings: Settings, clock: Clock) -> anyhow::Result<App> {
    if settings.now_ms.is_some() {
        tracing::warn!("LEAFDESK_NOW pins the clock: for tests and demos only, never in production");
    }
    if settings.skip_twilio_signature {
        tracing::warn!(
            "LEAFDESK_DEV_SKIP_TWILIO_SIGNATURE is on: Twilio webhooks are NOT verified. Never use this in production."
        );
    }
    let store = Store::connect_server(&settings.database_url, settings.sqlite_sync)
        .await
        .context("connecting to the database (DATABASE_URL)")?
        .with_clock(clock);
    let library =
        Library::open(&settings.flows_dir, &settings.templates_dir, crate::actions::NAMES).map_err(|diags| {
            let list: Vec<String> = diags.iter().map(ToString::to_string).collect();
            anyhow::anyhow!("flows or templates have errors; fix them and start again:\n{}", list.join("\n"))
        })?;
    let library = Arc::new(library);
    for w in crate::compliance::content::check_dir(&settings.templates_dir.join("messages")) {
        tracing::warn!(problem = %w, "SMS template may be filtered by carriers");
    }
    let metrics = Arc::new(Metrics::default());
    check_locations(&store).await?;
    let uploads = upload_links(&settings)?;
    crate::signed::keys::seal_legacy(&store, &uploads.sealer).await.context("sealing integration secrets")?;
    let keys = Arc::new(crate::signed::keys::Keys::new(store.clone(), uploads.sealer.clone()));
    let commerce: Arc<dyn crate::commerce::Source> = Arc::new(crate::commerce::BuiltIn);
    let ctx = pipeline::Context {
        store: store.clone(),
        library: library.clone(),
        metrics: metrics.clone(),
        commerce: commerce.clone(),
        actions: crate::actions::ActionConfig {
            ach_payment_url: settings.ach_payment_url.clone(),
            uploads: Some(uploads.clone()),
        },
        staffing: settings.voice_staffing.clone(),
    };
    let pipeline = Pipeline::start(Arc::new(ctx));
    let reloader = settings.reload_interval.map(|every| flows::spawn_reloader(library.clone(), every));
    let feed = store.spawn_listener(&settings.database_url);
    store.spawn_checkpointer(CHECKPOINT_INTERVAL);
    let outbox = start_outbox(&settings, &store, &metrics)?;
    let sweeper = crate::verification::spawn_sweeper(
        store.clone(),
        pipeline.clone(),
        Duration::from_millis(u64::try_from(settings.verification_sweep_ms).unwrap_or(60_000)),
    );
    let listener =
        TcpListener::bind(settings.bind).await.with_context(|| format!("binding {} (LEAFDESK_BIND)", settings.bind))?;
    let terms = library.get().templates.terms();
    let pages = Pages::load(&settings.templates_dir.join("pages"), &terms).map_err(|diags| {
        let list: Vec<String> = diags.iter().map(ToString::to_string).collect();
        anyhow::anyhow!("page templates have errors:\n{}", list.join("\n"))
    })?;
    let media = crate::twilio::media::MediaFetcher::new(
        &settings.twilio_api_base,
        settings.twilio_account_sid.as_deref(),
        settings.twilio_auth_token.as_ref().map(|t| t.expose()),
    );
    let settings = Arc::new(settings);
    let widget_streams = Arc::new(tokio::sync::Semaphore::new(settings.max_connections / 2));
    let state = AppState {
        store,
        library,
        pipeline,
        metrics,
        settings,
        locations: Arc::default(),
        pages: Arc::new(pages),
        uploads: Arc::new(uploads),
        media: Arc::new(media),
        keys,
        commerce,
        voice_hints: Arc::default(),
        widget_streams,
    };
    let chat_fallback = state
        .settings
        .chat_sms_after
        .map(|after| crate::chat_fallback::spawn(state.store.clone(), state.library.clone(), after));
    let campaigns = Some(crate::campaigns::spawn(state.store.clone(), state.library.clone(), CAMPAIGN_POLL));
    Ok(App { listener, state, reloader, outbox, sweeper: Some(sweeper), chat_fallback, feed, campaigns })
}

impl App {
    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("a bound listener has an address")
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` completes, then finishes in-flight requests and closes the store.
    ///
    /// # Errors
    /// When the server fails.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let store = self.state.store.clone();
        let limits = crate::http_server::Limits {
            header_timeout: self.state.settings.header_timeout,
            max_connections: self.state.settings.max_connections,
        };
        tracing::info!(addr = %self.local_addr(), "leafdesk listening");
        crate::http_server::serve(self.listener, router(self.state), limits, shutdown).await?;
        let tasks = [self.reloader, self.outbox, self.sweeper, self.chat_fallback, self.feed, self.campaigns];
        for task in tasks.into_iter().flatten() {
            task.abort();
        }
        store.close().await;
        tracing::info!("leafdesk stopped");
        Ok(())
    }
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(channels::assets::router())
        .merge(channels::sms::router())
        .merge(channels::voice::router())
        .merge(channels::transcripts::router())
        .merge(channels::status::router())
        .merge(channels::optin::router())
        .merge(channels::webchat::router())
        .merge(channels::widget::router())
        .merge(channels::events::router())
        .merge(channels::customers::router())
        .merge(channels::upload::router(state.uploads.max_bytes))
        .merge(crate::console::router())
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route_layer(middleware::from_fn_with_state(state.clone(), track_latency))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), channels::headers::security_headers))
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, REQUEST_TIMEOUT))
        .merge(crate::console::live_router())
        .merge(
            crate::console::long_router()
                .layer(middleware::from_fn_with_state(state.clone(), channels::headers::security_headers)),
        )
        .merge(channels::widget::live_router())
        .layer(CatchPanicLayer::custom(panicked))
        // The span names the matched route (recorded by `track_latency`), never the raw path:
        // paths carry upload tokens and customer ids.
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            tracing::info_span!(
                "request",
                method = %req.method(),
                route = tracing::field::Empty,
                conversation_id = tracing::field::Empty
            )
        }))
        .with_state(state)
}

/// Every location's number and Messaging Service must be well-formed: a bad one would fail at
/// the provider on every send, long after the mistake.
async fn check_locations(store: &Store) -> anyhow::Result<()> {
    for l in crate::store::locations::list(store).await? {
        let bad_number = l.phone_number.as_deref().and_then(|n| crate::domain::PhoneNumber::parse(n).err());
        let bad_service =
            l.messaging_service_sid.as_deref().and_then(|s| crate::domain::MessagingServiceSid::parse(s).err());
        if let Some(problem) = bad_number.or(bad_service) {
            anyhow::bail!(
                "location {:?} ({}): {problem}; fix it with `leafdesk location update --id {} --number +1… / --messaging-service-sid MG…`",
                l.name,
                l.location_id,
                l.location_id
            );
        }
    }
    Ok(())
}

/// Upload links and the key that seals what comes through them.
pub fn upload_links(settings: &Settings) -> anyhow::Result<crate::uploads::Links> {
    let key = settings.upload_key.as_ref().map(|k| k.expose());
    let sealer = crate::uploads::Sealer::load_or_create(key, &settings.upload_key_file())?;
    Ok(crate::uploads::Links {
        sealer,
        base_url: settings.public_base(),
        ttl_ms: settings.upload_link_ttl_ms,
        max_bytes: settings.upload_max_bytes,
    })
}

/// The outbox worker, when the provider's credentials are configured.
fn start_outbox(
    settings: &Settings,
    store: &Store,
    metrics: &Arc<Metrics>,
) -> anyhow::Result<Option<tokio::task::JoinHandle<()>>> {
    let (Some(sid), Some(token)) = (&settings.twilio_account_sid, &settings.twilio_auth_token) else {
        tracing::warn!("TWILIO_ACCOUNT_SID or TWILIO_AUTH_TOKEN is not set: queued outbound messages wait until it is");
        return Ok(None);
    };
    let callback = settings.public_url.as_ref().map(|base| format!("{base}/webhooks/twilio/status"));
    if callback.is_none() {
        tracing::warn!("LEAFDESK_PUBLIC_URL is not set: sent messages get no delivery status callbacks");
    }
    let rest = TwilioRest::new(sid, token.expose(), &settings.twilio_api_base, callback)?;
    let worker = outbox::Worker {
        store: store.clone(),
        rest,
        metrics: metrics.clone(),
        retry_base_ms: settings.outbox_retry_base_ms,
    };
    Ok(Some(outbox::spawn(worker, OUTBOX_POLL).1))
}

async fn track_latency(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    tracing::Span::current().record("route", route.as_str());
    let started = Instant::now();
    let response = next.run(req).await;
    state.metrics.observe_latency(&route, started.elapsed().as_secs_f64());
    response
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(state): State<AppState>) -> Response {
    let database = state.store.ping().await;
    let flows = state.library.get().flows.flows.len();
    let body = Json(serde_json::json!({ "database": if database { "ok" } else { "unreachable" }, "flows": flows }));
    if database && flows > 0 {
        (StatusCode::OK, body).into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, body).into_response()
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], state.metrics.render()).into_response()
}

/// A handler that panicked: one log line (no request data: it may carry personal data), and
/// the API's 500, so the connection and the server stay up.
fn panicked(_panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a request handler panicked; answered 500");
    crate::error::AppError::Internal(anyhow::anyhow!("handler panicked")).into_response()
}

async fn not_found() -> Response {
    let body = serde_json::json!({ "error": { "code": "not_found", "message": "no such route" } });
    (StatusCode::NOT_FOUND, Json(body)).into_response()
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown requested; finishing in-flight requests");
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::ServiceExt as _;

    #[tokio::test]
    async fn a_panicking_handler_answers_500_in_the_api_shape_and_the_router_keeps_serving() {
        let app: Router = Router::new()
            .route("/boom", get(|| async { panic!("boom") as &'static str }))
            .route("/ok", get(|| async { "ok" }))
            .layer(CatchPanicLayer::custom(panicked));
        let req = |path: &str| Request::builder().uri(path).body(axum::body::Body::empty()).unwrap();
        let boom = app.clone().oneshot(req("/boom")).await.unwrap();
        assert_eq!(boom.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = axum::body::to_bytes(boom.into_body(), 1024).await.unwrap();
        assert_eq!(serde_json::from_slice::<serde_json::Value>(&body).unwrap()["error"]["code"], "internal");
        assert_eq!(app.oneshot(req("/ok")).await.unwrap().status(), StatusCode::OK);
    }
}
