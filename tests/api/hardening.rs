//! What an attacker tries first: bytes that used to panic the server, pages without security
//! headers, connections that never finish their request.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::*;

/// `%a` then `é`: the escape's third byte is inside a two-byte character.
const CUT_ESCAPE: &[u8] = "Body=%aé".as_bytes();

#[tokio::test]
async fn an_escape_cut_inside_a_character_is_a_400_on_every_form_endpoint() {
    let app = spawn_app().await;
    for path in ["/webhooks/twilio/sms", "/webhooks/twilio/status", "/consent/optin"] {
        let reply = app.post_raw(path, CUT_ESCAPE.to_vec(), "application/x-www-form-urlencoded", None).await;
        assert_eq!(reply.status, 400, "{path}: {}", reply.body);
        assert!(reply.body.contains("bad %-escape"), "{path}: {}", reply.body);
    }
    assert_eq!(app.client.get(app.url("/healthz")).send().await.unwrap().status(), 200, "still serving");
}

/// (header, what it must contain) on every response.
fn check_headers(what: &str, headers: &reqwest::header::HeaderMap, frame_ancestors: &str) {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let csp = get("content-security-policy");
    for part in ["default-src 'none'", "script-src 'self'", "style-src 'self'", "base-uri 'none'"] {
        assert!(csp.contains(part), "{what}: CSP {csp:?} lacks {part}");
    }
    assert!(csp.ends_with(&format!("frame-ancestors {frame_ancestors}")), "{what}: CSP {csp:?}");
    assert_eq!(get("x-content-type-options"), "nosniff", "{what}");
    assert!(!get("referrer-policy").is_empty(), "{what}: no Referrer-Policy");
    assert!(get("strict-transport-security").starts_with("max-age="), "{what}: the public URL is https, so HSTS");
}

#[tokio::test]
async fn every_page_and_api_answer_carries_the_security_headers() {
    let shop = "https://shop.example.com";
    let app =
        spawn_with(Options { env: vec![("LEAFDESK_CHAT_EMBED_ORIGINS", shop.into())], ..Options::default() }).await;
    let secret = integration(&app).await;
    let chat = leafdesk::channels::webchat::signed_path(&secret, "cus_sam", app.now_secs());
    let mut conn = app.state.store.pool().acquire().await.unwrap();
    let expires = app.clock().now_ms() + 3_600_000;
    let token = leafdesk::store::uploads::insert_token(&mut conn, "cus_casey", None, expires, app.clock().now_ms())
        .await
        .unwrap();
    drop(conn);
    let upload = app.state.uploads.url(&token);
    let upload = upload[upload.find("/u/").unwrap()..].to_owned();
    let pages = [
        (chat.as_str(), shop),
        ("/consent/optin", shop),
        (upload.as_str(), "'none'"),
        ("/static/pages.css", "'none'"),
        ("/static/chat.js", "'none'"),
        ("/api/v1/openapi.json", "'none'"),
        ("/healthz", "'none'"),
        ("/no/such/page", "'none'"),
    ];
    for (path, ancestors) in pages {
        let resp = app.client.get(app.url(path)).send().await.unwrap();
        assert!(resp.status().as_u16() < 500, "{path}: {}", resp.status());
        check_headers(path, resp.headers(), ancestors);
        if ancestors == "'none'" {
            assert_eq!(resp.headers()["x-frame-options"], "DENY", "{path}");
        }
    }
    let webhook = app.sms(&sid(), "+15555550100", "hi").await;
    assert_eq!(webhook.status, 200);
    let resp = app.client.post(app.url("/webhooks/twilio/sms")).send().await.unwrap();
    check_headers("a refused webhook", resp.headers(), "'none'");
}

/// Reads until the server closes the connection; how long that took.
async fn closed_after(stream: &mut tokio::net::TcpStream, limit: Duration) -> Duration {
    let started = Instant::now();
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout(limit, stream.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => return started.elapsed(),
            Ok(Ok(_)) => {}
            Err(_) => panic!("the connection was still open after {limit:?}"),
        }
    }
}

#[tokio::test]
async fn half_sent_requests_and_idle_connections_are_closed_after_the_header_timeout() {
    let env = vec![("LEAFDESK_HEADER_TIMEOUT_MS", "300".to_owned())];
    let app = spawn_with(Options { env, ..Options::default() }).await;
    let mut partial = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    partial.write_all(b"POST /webhooks/twilio/sms HTTP/1.1\r\nHost: x\r\nContent-Type: app").await.unwrap();
    let mut idle = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    assert!(closed_after(&mut partial, Duration::from_secs(5)).await < Duration::from_secs(3));
    assert!(closed_after(&mut idle, Duration::from_secs(5)).await < Duration::from_secs(3));
    assert_eq!(app.client.get(app.url("/healthz")).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_their_turn() {
    let env = vec![("LEAFDESK_HEADER_TIMEOUT_MS", "400".to_owned()), ("LEAFDESK_MAX_CONNECTIONS", "1".to_owned())];
    let app = spawn_with(Options { env, ..Options::default() }).await;
    // One idle connection holds the only place until the header timeout closes it.
    let _holder = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await; // let the server accept it first
    let started = Instant::now();
    let resp = reqwest::Client::new().get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "answered after {:?}: the cap did not hold",
        started.elapsed()
    );
}
