//! What the load benchmarks share: starting, waiting for and stopping a server, signing in to
//! its console, a stand-in for Twilio's Messages API, and a fresh PostgreSQL database per run.
#![allow(dead_code)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The demo's Twilio auth token in benchmarks: the load generator signs with it.
pub const TOKEN: &str = "bench-token";
/// The public URL the server believes it has: what signatures cover.
pub const PUBLIC_URL: &str = "http://bench.local";
/// The demo location's number.
pub const OUR_NUMBER: &str = "+15005550006";

/// Starts the release binary as `serve --demo` on a free port of 127.0.0.1, on `database_url`,
/// logging warnings only: `(process, port)`. [`wait_ready`] tells when it answers.
pub fn spawn_demo(database_url: &str) -> (Child, u16) {
    spawn_demo_with(database_url, &[])
}

/// [`spawn_demo`] with more settings (environment names and values).
pub fn spawn_demo_with(database_url: &str, env: &[(&str, &str)]) -> (Child, u16) {
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_leafdesk"))
        .args(["serve", "--demo", "--bind", &format!("127.0.0.1:{port}")])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .envs(env.iter().copied())
        .env("DATABASE_URL", database_url)
        .env("TWILIO_AUTH_TOKEN", TOKEN)
        .env("LEAFDESK_PUBLIC_URL", PUBLIC_URL)
        .env("LEAFDESK_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .expect("leafdesk binary starts");
    (child, port)
}

/// Waits until the server on `port` answers `/readyz`.
pub async fn wait_ready(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if reqwest::get(format!("http://127.0.0.1:{port}/readyz")).await.is_ok_and(|r| r.status().is_success()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("server on port {port} did not become ready");
}

/// A port nobody listens on now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Stops a server as an operator does (SIGTERM) and waits for it.
pub fn stop(mut child: Child) {
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let _ = child.wait();
}

/// A fresh PostgreSQL database for one run (`BENCH_DATABASE_URL`, else 127.0.0.1:5432):
/// `(admin url, database url)`; none when PostgreSQL does not answer.
pub async fn postgres_database() -> Option<(String, String)> {
    use sqlx::Connection;
    let admin =
        std::env::var("BENCH_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let mut conn = sqlx::PgConnection::connect(&admin).await.ok()?;
    let name = format!("leafdesk_bench_{}", std::process::id());
    sqlx::query(&format!("drop database if exists {name}")).execute(&mut conn).await.ok()?;
    sqlx::query(&format!("create database {name}")).execute(&mut conn).await.ok()?;
    let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b).to_owned();
    Some((admin, format!("{base}/{name}")))
}

/// Drops the database [`postgres_database`] made.
pub async fn drop_database(admin: &str, url: &str) {
    use sqlx::Connection;
    let name = url.rsplit('/').next().unwrap_or_default();
    if let Ok(mut conn) = sqlx::PgConnection::connect(admin).await {
        let _ = sqlx::query(&format!("drop database if exists {name} with (force)")).execute(&mut conn).await;
    }
}

/// Signs in to the console of the server on `port` through the real form; the session cookie.
pub async fn sign_in(client: &reqwest::Client, port: u16, email: &str, password: &str) -> String {
    let base = format!("http://127.0.0.1:{port}");
    let form = client.get(format!("{base}/console/login")).send().await.unwrap().text().await.unwrap();
    let token = form
        .split(r#"name="form_token" value=""#)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the sign-in form carries a token")
        .to_owned();
    let resp = client
        .post(format!("{base}/console/login"))
        .form(&[("form_token", token.as_str()), ("email", email), ("password", password)])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303, "signed in");
    let set = resp.headers().get("set-cookie").expect("a session cookie").to_str().unwrap();
    set.split(';').next().unwrap().to_owned()
}

/// A stand-in for Twilio's Messages API that accepts every send: its base URL, and how many
/// sends it has taken.
pub async fn stand_in_messages_api() -> (String, std::sync::Arc<std::sync::atomic::AtomicU64>) {
    use std::sync::atomic::{AtomicU64, Ordering};
    let accepted = std::sync::Arc::new(AtomicU64::new(0));
    let counter = accepted.clone();
    let app = axum::Router::new().route(
        "/2010-04-01/Accounts/{account}/Messages.json",
        axum::routing::post(move || {
            let n = counter.fetch_add(1, Ordering::Relaxed);
            async move {
                (
                    axum::http::StatusCode::CREATED,
                    axum::Json(serde_json::json!({ "sid": format!("SM{n:032x}"), "status": "queued" })),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, accepted)
}
