//! Test harness: the real server on a random port with a fresh database per test — a temp
//! SQLite file, or a new PostgreSQL database when `TEST_DATABASE_URL` is set — and a local
//! stand-in for Twilio's Messages API that checks each request as Twilio would.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path as FsPath, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;

use leafdesk::clock::Clock;
use leafdesk::settings::Settings;
use leafdesk::startup;
use leafdesk::state::AppState;
use leafdesk::twilio::signature::{self, Algorithm};

pub const TOKEN: &str = "test-auth-token";
pub const PUBLIC_URL: &str = "https://bot.example.test";
pub const OUR_NUMBER: &str = "+15005550006";
pub const ACCOUNT_SID: &str = "AC0123456789abcdef0123456789abcdef";

pub struct TestApp {
    pub addr: SocketAddr,
    pub state: AppState,
    pub client: reqwest::Client,
    pub database_url: String,
    _dir: tempfile::TempDir,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    pub server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

pub struct Options {
    pub flows_dir: PathBuf,
    pub templates_dir: PathBuf,
    pub reload_ms: u64,
    /// Reuse this database instead of making a fresh one (two servers, one database).
    pub database_url: Option<String>,
    /// A local stand-in for Twilio's REST API; turns the outbox worker on.
    pub twilio_api_base: Option<String>,
    /// The server's clock: pinned at [`TEST_START`] unless a test says otherwise.
    pub clock: Clock,
    /// More settings, as environment names and values (`LEAFDESK_MAX_CONNECTIONS`, …).
    pub env: Vec<(&'static str, String)>,
}

impl Default for Options {
    fn default() -> Self {
        let root = FsPath::new(env!("CARGO_MANIFEST_DIR"));
        Self {
            flows_dir: root.join("flows"),
            templates_dir: root.join("templates"),
            reload_ms: 0,
            database_url: None,
            twilio_api_base: None,
            clock: test_clock(),
            env: Vec::new(),
        }
    }
}

/// When every test server's clock starts, unless the test pins another: a Monday noon in Los
/// Angeles (the demo store's timezone). Tests pass on any day because they never read the
/// machine's clock.
pub const TEST_START: &str = "2026-11-30T12:00";

pub fn test_clock() -> Clock {
    Clock::starting_at(la(TEST_START))
}

/// UTC milliseconds of a Los Angeles wall-clock time (the demo store's timezone).
pub fn la(datetime: &str) -> i64 {
    let civil: jiff::civil::DateTime = datetime.parse().expect("a civil date-time like 2026-11-30T12:00");
    civil
        .to_zoned_datetime(jiff::tz::TimeZone::get("America/Los_Angeles").expect("tz data"))
        .expect("a time that exists in Los Angeles")
        .timestamp()
        .as_millisecond()
}

pub async fn spawn_app() -> TestApp {
    spawn_with(Options::default()).await
}

pub async fn spawn_with(options: Options) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let database_url = match options.database_url {
        Some(url) => url,
        None => test_database_url(dir.path()).await,
    };
    let mut settings =
        test_settings_with(&database_url, &options.flows_dir, &options.templates_dir, options.reload_ms, &options.env);
    if let Some(base) = options.twilio_api_base {
        settings.twilio_api_base = base;
        settings.twilio_account_sid = Some(ACCOUNT_SID.to_owned());
        settings.outbox_retry_base_ms = 20;
    }
    let app = startup::build_with_clock(settings, options.clock).await.expect("app builds");
    let addr = app.local_addr();
    let state = app.state().clone();
    leafdesk::demo::seed(&state.store, OUR_NUMBER).await.expect("demo seed");
    let (tx, rx) = tokio::sync::oneshot::channel();
    let server = tokio::spawn(app.run(async move {
        let _ = rx.await;
    }));
    TestApp {
        addr,
        state,
        client: reqwest::Client::new(),
        database_url,
        _dir: dir,
        shutdown: Some(tx),
        server: Some(server),
    }
}

/// The upload key of every test server (tests read sealed documents back with it).
pub const UPLOAD_KEY: &str = "7f3c2a9d4e5b6a718293a4b5c6d7e8f90123456789abcdef0123456789abcdef";

pub fn test_settings(database_url: &str, flows: &FsPath, templates: &FsPath, reload_ms: u64) -> Settings {
    test_settings_with(database_url, flows, templates, reload_ms, &[])
}

pub fn test_settings_with(
    database_url: &str,
    flows: &FsPath,
    templates: &FsPath,
    reload_ms: u64,
    extra: &[(&'static str, String)],
) -> Settings {
    let pairs = [
        ("DATABASE_URL", database_url.to_owned()),
        ("LEAFDESK_BIND", "127.0.0.1:0".to_owned()),
        ("LEAFDESK_PUBLIC_URL", PUBLIC_URL.to_owned()),
        ("TWILIO_AUTH_TOKEN", TOKEN.to_owned()),
        ("LEAFDESK_FLOWS_DIR", flows.display().to_string()),
        ("LEAFDESK_TEMPLATES_DIR", templates.display().to_string()),
        ("LEAFDESK_RELOAD_INTERVAL_MS", reload_ms.to_string()),
        ("LEAFDESK_UPLOAD_KEY", UPLOAD_KEY.to_owned()),
    ];
    let map: HashMap<String, String> =
        pairs.into_iter().chain(extra.iter().cloned()).map(|(k, v)| (k.to_owned(), v)).collect();
    Settings::from_map(&map).expect("test settings")
}

/// A temp SQLite file, or a fresh database on the server `TEST_DATABASE_URL` names.
pub async fn test_database_url(dir: &FsPath) -> String {
    match std::env::var("TEST_DATABASE_URL") {
        Ok(admin_url) if !admin_url.is_empty() => {
            use sqlx::Connection;
            let name = format!("leafdesk_test_{}_{}", run_id(), uuid::Uuid::new_v4().simple());
            let mut conn = sqlx::PgConnection::connect(&admin_url).await.expect("TEST_DATABASE_URL reachable");
            sqlx::query(&format!("create database {name}")).execute(&mut conn).await.expect("create test database");
            let base = admin_url.rsplit_once('/').map_or(admin_url.as_str(), |(b, _)| b);
            format!("{base}/{name}")
        }
        _ => format!("sqlite://{}?mode=rwc", dir.join("test.db").display()),
    }
}

/// This run's id (`LEAFDESK_TEST_RUN`, set by `scripts/test`): test databases are named after
/// it, so a run drops only its own and two checkouts can share one PostgreSQL server.
fn run_id() -> String {
    let raw = std::env::var("LEAFDESK_TEST_RUN").unwrap_or_default();
    let clean: String = raw.chars().filter(char::is_ascii_alphanumeric).take(24).collect();
    if clean.is_empty() {
        "adhoc".to_owned()
    } else {
        clean.to_ascii_lowercase()
    }
}

pub fn is_postgres() -> bool {
    std::env::var("TEST_DATABASE_URL").is_ok_and(|u| !u.is_empty())
}

/// For a test marked `#[ignore = "PostgreSQL only…"]`: run on SQLite (`--include-ignored`
/// without `TEST_DATABASE_URL`), it fails rather than pass without testing anything.
pub fn require_postgres() {
    assert!(is_postgres(), "this test is PostgreSQL's: set TEST_DATABASE_URL (scripts/test does)");
}

/// Form parameters of an inbound SMS.
pub fn sms_params(sid: &str, from: &str, body: &str) -> Vec<(String, String)> {
    [
        ("MessageSid", sid),
        ("AccountSid", ACCOUNT_SID),
        ("From", from),
        ("To", OUR_NUMBER),
        ("Body", body),
        ("NumMedia", "0"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect()
}

pub fn encode(params: &[(String, String)]) -> String {
    params.iter().map(|(k, v)| format!("{}={}", urlencode(k), urlencode(v))).collect::<Vec<_>>().join("&")
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            b' ' => "+".to_owned(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub fn sign(path: &str, params: &[(String, String)]) -> String {
    signature::sign(TOKEN, &format!("{PUBLIC_URL}{path}"), params, Algorithm::Sha1)
}

pub struct Reply {
    pub status: u16,
    pub body: String,
}

impl Reply {
    /// The texts of the `<Message>` bodies in a TwiML reply.
    pub fn messages(&self) -> Vec<String> {
        self.body
            .split("<Body>")
            .skip(1)
            .filter_map(|part| part.split("</Body>").next())
            .map(|t| {
                t.replace("&amp;", "&")
                    .replace("&lt;", "<")
                    .replace("&gt;", ">")
                    .replace("&apos;", "'")
                    .replace("&quot;", "\"")
            })
            .collect()
    }

    pub fn text(&self) -> String {
        self.messages().join("\n\n")
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// POSTs a correctly signed form to `path`.
    pub async fn post_signed(&self, path: &str, params: &[(String, String)]) -> Reply {
        let signature = sign(path, params);
        self.post_raw(path, encode(params).into_bytes(), "application/x-www-form-urlencoded", Some(&signature)).await
    }

    pub async fn post_raw(&self, path: &str, body: Vec<u8>, content_type: &str, signature: Option<&str>) -> Reply {
        let mut req = self.client.post(self.url(path)).header("content-type", content_type).body(body);
        if let Some(sig) = signature {
            req = req.header("x-twilio-signature", sig);
        }
        let resp = req.send().await.expect("request sent");
        Reply { status: resp.status().as_u16(), body: resp.text().await.expect("body") }
    }

    /// A signed inbound SMS from `from`.
    pub async fn sms(&self, sid: &str, from: &str, body: &str) -> Reply {
        self.post_signed("/webhooks/twilio/sms", &sms_params(sid, from, body)).await
    }

    /// A message's delivery status and error code, by its provider id.
    pub async fn message_status_of(&self, provider_id: &str) -> (String, Option<String>) {
        sqlx::query_as("select status, error_code from message where provider_id = $1")
            .bind(provider_id)
            .fetch_one(self.state.store.pool())
            .await
            .expect("the message exists")
    }

    pub async fn count(&self, sql: &str) -> i64 {
        let (n,): (i64,) = sqlx::query_as(sql).fetch_one(self.state.store.pool()).await.expect("count query");
        n
    }

    /// Stops the server gracefully and waits for it.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.expect("server task").expect("server ran");
        }
    }
}

/// A fresh sid for each message, as Twilio would give.
pub fn sid() -> String {
    format!("SM{}", uuid::Uuid::new_v4().simple())
}

/// A platform integration; returns its secret (what the platform signs events and chat links with).
pub async fn integration(app: &TestApp) -> String {
    let sealer = &app.state.uploads.sealer;
    leafdesk::signed::keys::create(&app.state.store, sealer, "shop").await.unwrap()
}

impl TestApp {
    /// The server's clock (pinned for the test).
    pub fn clock(&self) -> &Clock {
        self.state.store.clock()
    }

    /// The `leafdesk` command on this server's database and clock (another process: it is told
    /// the server's now through `LEAFDESK_NOW`).
    pub fn command(&self) -> std::process::Command {
        let now = jiff::Timestamp::from_millisecond(self.clock().now_ms()).expect("a representable time");
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_leafdesk"));
        command
            .env("DATABASE_URL", &self.database_url)
            .env("LEAFDESK_NOW", now.to_string())
            .env("LEAFDESK_UPLOAD_KEY", UPLOAD_KEY);
        command
    }

    /// The server's now in Unix seconds: what signed requests put in their timestamp.
    pub fn now_secs(&self) -> i64 {
        self.clock().now_secs()
    }
}

/// A form as the stand-in received it.
pub type Form = HashMap<String, String>;

/// What the stand-in saw and what it will answer next.
#[derive(Clone, Default)]
pub struct FakeTwilio {
    pub requests: Arc<Mutex<Vec<HashMap<String, String>>>>,
    /// Statuses to answer with, in order; then 201.
    pub script: Arc<Mutex<Vec<(u16, i64)>>>,
    /// How long to wait before answering a send (the message is taken at once).
    pub delay_ms: Arc<std::sync::atomic::AtomicU64>,
    /// Answer every send with this sid (a provider that repeats itself).
    pub fixed_sid: Arc<Mutex<Option<String>>>,
    /// The status the message list answers with (200 unless a test breaks it).
    pub list_status: Arc<std::sync::atomic::AtomicU16>,
    /// Messages the list holds: sid, the form sent.
    pub accepted: Arc<Mutex<Vec<(String, Form)>>>,
    pub violations: Arc<Mutex<Vec<String>>>,
}

async fn create_message(
    State(fake): State<FakeTwilio>,
    Path(account): Path<String>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let form: HashMap<String, String> = leafdesk::channels::parse_form(body.as_bytes()).unwrap().into_iter().collect();
    let mut problems = Vec::new();
    let expected_auth =
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{ACCOUNT_SID}:{TOKEN}")));
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(expected_auth.as_str()) {
        problems.push("Basic auth must be AccountSid:AuthToken".to_owned());
    }
    if account != ACCOUNT_SID {
        problems.push(format!("path account {account}"));
    }
    if headers.get("content-type").and_then(|v| v.to_str().ok()) != Some("application/x-www-form-urlencoded") {
        problems.push("content type must be a form".to_owned());
    }
    if form.get("To").is_none_or(|t| leafdesk::domain::PhoneNumber::parse(t).is_err()) {
        problems.push("To is required, in E.164".to_owned());
    }
    if !form.contains_key("From") && !form.contains_key("MessagingServiceSid") {
        problems.push("one of From / MessagingServiceSid is required".to_owned());
    }
    if !form.contains_key("Body") && !form.contains_key("MediaUrl") && !form.contains_key("ContentSid") {
        problems.push("one of Body / MediaUrl / ContentSid is required".to_owned());
    }
    let callback = format!("{PUBLIC_URL}/webhooks/twilio/status?outbox=");
    if !form.get("StatusCallback").is_some_and(|c| c.starts_with(&callback)) {
        problems.push("StatusCallback should point at our status webhook, naming the outbox row".to_owned());
    }
    if !problems.is_empty() {
        fake.violations.lock().unwrap().extend(problems);
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(serde_json::json!({ "code": 21601, "message": "bad request", "status": 400 })),
        )
            .into_response();
    }
    let n = {
        let mut requests = fake.requests.lock().unwrap();
        requests.push(form.clone());
        requests.len()
    };
    let next = {
        let mut script = fake.script.lock().unwrap();
        if script.is_empty() {
            None
        } else {
            Some(script.remove(0))
        }
    };
    match next {
        Some((status, code)) => {
            // As Twilio does, the message quotes the number.
            let message = format!("scripted failure for {}", form.get("To").map_or("", String::as_str));
            let body = serde_json::json!({ "code": code, "message": message, "status": status });
            (StatusCode::from_u16(status).unwrap(), axum::Json(body)).into_response()
        }
        None => {
            let delay = fake.delay_ms.load(std::sync::atomic::Ordering::Relaxed);
            let fixed = fake.fixed_sid.lock().unwrap().clone();
            let sid = fixed.unwrap_or_else(|| format!("SM{n:032x}"));
            fake.accepted.lock().unwrap().push((sid.clone(), form.clone()));
            if delay > 0 {
                tokio::time::sleep(Duration::from_millis(delay)).await;
            }
            let body = serde_json::json!({ "sid": sid, "status": "queued", "to": form["To"], "body": form["Body"], "account_sid": ACCOUNT_SID });
            (StatusCode::CREATED, axum::Json(body)).into_response()
        }
    }
}

/// The Messages list, filtered by `To`, newest first: what a lookup of a lost send reads.
async fn list_messages(
    State(fake): State<FakeTwilio>,
    axum::extract::Query(query): axum::extract::Query<HashMap<String, String>>,
) -> Response {
    let status = fake.list_status.load(std::sync::atomic::Ordering::Relaxed);
    if status != 0 && status != 200 {
        return (StatusCode::from_u16(status).unwrap(), "unavailable").into_response();
    }
    let accepted = fake.accepted.lock().unwrap();
    let messages: Vec<serde_json::Value> = accepted
        .iter()
        .rev()
        .filter(|(_, form)| query.get("To").is_none_or(|to| form.get("To") == Some(to)))
        .map(|(sid, form)| serde_json::json!({ "sid": sid, "to": form["To"], "body": form["Body"], "status": "sent" }))
        .collect();
    axum::Json(serde_json::json!({ "messages": messages, "page": 0 })).into_response()
}

pub async fn fake_twilio(script: Vec<(u16, i64)>) -> (FakeTwilio, String) {
    let fake = FakeTwilio { script: Arc::new(Mutex::new(script)), ..FakeTwilio::default() };
    let app = axum::Router::new()
        .route("/2010-04-01/Accounts/{account}/Messages.json", axum::routing::post(create_message).get(list_messages))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (fake, base)
}

pub async fn app_with(script: Vec<(u16, i64)>) -> (TestApp, FakeTwilio) {
    let (fake, base) = fake_twilio(script).await;
    let app = spawn_with(Options { twilio_api_base: Some(base), ..Options::default() }).await;
    (app, fake)
}

pub async fn wait_for_status(app: &TestApp, outbox_id: &str, status: &str) -> leafdesk::store::outbox::OutboxRow {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let row = leafdesk::store::outbox::find(&app.state.store, outbox_id).await.unwrap().expect("row exists");
        if row.status == status {
            return row;
        }
        assert!(Instant::now() < deadline, "row never became {status}: {row:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// POSTs `body` to `path` signed as an integration signs its requests (`secret`, timestamp `ts`):
/// the status and the JSON answer (null when there is none).
pub async fn post_signed_json(
    app: &TestApp,
    secret: &str,
    path: &str,
    body: &str,
    ts: i64,
) -> (u16, serde_json::Value) {
    let signature = leafdesk::signed::sign_request(secret, ts, "POST", path, body.as_bytes());
    let resp = app
        .client
        .post(app.url(path))
        .header("content-type", "application/json")
        .header("x-leafdesk-timestamp", ts.to_string())
        .header("x-leafdesk-signature", signature)
        .body(body.to_owned())
        .send()
        .await
        .expect("request sent");
    (resp.status().as_u16(), resp.json().await.unwrap_or(serde_json::Value::Null))
}
