//! Medical re-verification end to end: the upload link's security (single use, expiry,
//! tampering, type and size checks), encryption at rest read back from the stored bytes, MMS
//! photos, the midnight lock, and the reviewer's decision.

use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use leafdesk::uploads::Sealer;
use leafdesk::verification::{review, Decision};

use crate::helpers::*;

const CASEY: &str = "+15555550105";
const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01 a new recommendation";
const JPEG: &[u8] = b"\xFF\xD8\xFF\xE0\0\x10JFIF\0 an MMS photo of the recommendation";

struct Page {
    status: u16,
    html: String,
}

/// Casey asks; the bot locks checkout and texts the link. Returns its path (`/u/…`).
async fn link_for_casey(app: &TestApp) -> String {
    let reply = app.sms(&sid(), CASEY, "my medical recommendation expired").await.text();
    let start = reply.find("/u/").unwrap_or_else(|| panic!("no link in {reply:?}"));
    reply[start..].split_whitespace().next().unwrap().to_owned()
}

async fn get(app: &TestApp, path: &str) -> Page {
    let resp = app.client.get(app.url(path)).send().await.unwrap();
    Page { status: resp.status().as_u16(), html: resp.text().await.unwrap() }
}

async fn upload(app: &TestApp, path: &str, name: &str, mime: &str, bytes: &[u8]) -> Page {
    let part = reqwest::multipart::Part::bytes(bytes.to_vec()).file_name(name.to_owned()).mime_str(mime).unwrap();
    let form = reqwest::multipart::Form::new().part("document", part);
    let resp = app.client.post(app.url(path)).multipart(form).send().await.unwrap();
    Page { status: resp.status().as_u16(), html: resp.text().await.unwrap() }
}

async fn column(app: &TestApp, sql: &str) -> String {
    let (v,): (String,) = sqlx::query_as(sql).fetch_one(app.state.store.pool()).await.unwrap();
    v
}

fn sealer() -> Sealer {
    Sealer::from_key(&hex::decode(UPLOAD_KEY).unwrap().try_into().unwrap())
}

#[tokio::test]
async fn a_document_sent_through_the_link_is_sealed_reviewed_and_approval_reopens_checkout() {
    // Arrange
    let app = spawn_app().await;
    let path = link_for_casey(&app).await;
    assert_eq!(column(&app, "select status from customer_order where order_number = 'LD-1006'").await, "on_hold");
    let form = get(&app, &path).await;
    assert_eq!(form.status, 200);
    assert!(form.html.contains("Send your new medical recommendation"), "{}", form.html);
    assert!(form.html.contains("This link works once and expires tomorrow at 12:00 PM."), "{}", form.html);
    // Act
    let done = upload(&app, &path, "rec.png", "image/png", PNG).await;
    // Assert: stored sealed, opens with the key, filed for review.
    assert_eq!(done.status, 200, "{}", done.html);
    assert!(done.html.contains("Got it"));
    let (upload_id, sealed): (String, Vec<u8>) =
        sqlx::query_as("select upload_id, sealed from upload").fetch_one(app.state.store.pool()).await.unwrap();
    assert!(!sealed.windows(4).any(|w| w == b"IHDR"), "the stored bytes must not show the PNG");
    assert!(!sealed.windows(PNG.len()).any(|w| w == PNG));
    assert_eq!(sealer().open(&upload_id, &sealed).unwrap(), PNG);
    assert_eq!(
        column(&app, "select verification_status from customer where customer_id = 'cus_casey'").await,
        "pending_review"
    );
    assert_eq!(app.count("select count(*) from ticket where queue = 'verification' and status = 'open'").await, 1);
    let reply = app.sms(&sid(), CASEY, "I sent it").await.text();
    assert!(reply.contains("Thanks, we got your document!"), "{reply}");
    // The reviewer approves: checkout reopens, the held order resumes, the customer is told.
    let assets = app.state.library.get();
    let decision = Decision::Approve { expires_on: Some("2027-12-31") };
    let text = review(&app.state.store, &assets, &app.state.uploads, "cus_casey", decision, "csr-ana").await.unwrap();
    assert!(text.contains("verified and checkout is open again") && text.contains("back on schedule"), "{text}");
    assert_eq!(
        column(&app, "select status from customer_order where order_number = 'LD-1006'").await,
        "awaiting_pickup"
    );
    assert_eq!(
        column(&app, "select verification_status from customer where customer_id = 'cus_casey'").await,
        "verified"
    );
    assert_eq!(app.count("select count(*) from ticket where queue = 'verification' and status = 'open'").await, 0);
    assert_eq!(app.count(&format!("select count(*) from outbox where to_phone = '{CASEY}'")).await, 1);
    let again = review(&app.state.store, &assets, &app.state.uploads, "cus_casey", decision, "csr-ana").await;
    assert!(again.is_err(), "nothing is left to review");
}

#[tokio::test]
async fn a_used_expired_or_tampered_link_shows_a_clear_page_and_stores_nothing() {
    let app = spawn_app().await;
    let path = link_for_casey(&app).await;
    assert_eq!(upload(&app, &path, "rec.png", "image/png", PNG).await.status, 200);
    // Used
    let reused = upload(&app, &path, "rec.png", "image/png", PNG).await;
    assert_eq!(reused.status, 410);
    assert!(reused.html.contains("already used"), "{}", reused.html);
    // Tampered: one character of the signature changed, or of the token id.
    let last = path.chars().last().unwrap();
    let tampered = format!("{}{}", &path[..path.len() - 1], if last == '0' { '1' } else { '0' });
    let other_id = path.replacen("/u/0", "/u/1", 1).replacen("/u/", "/u/f", 1);
    for bad in [tampered.as_str(), other_id.as_str(), "/u/nonsense"] {
        assert_eq!(get(&app, bad).await.status, 404, "{bad}");
        let page = upload(&app, bad, "rec.png", "image/png", PNG).await;
        assert_eq!(page.status, 404, "{bad}");
        assert!(page.html.contains("This link isn&#x27;t valid"), "{}", page.html);
    }
    // Expired
    let mut conn = app.state.store.pool().acquire().await.unwrap();
    let old = app.clock().now_ms() - 1;
    let token =
        leafdesk::store::uploads::insert_token(&mut conn, "cus_casey", None, old, app.clock().now_ms()).await.unwrap();
    drop(conn);
    let expired = app.state.uploads.url(&token);
    let expired = &expired[expired.find("/u/").unwrap()..];
    assert_eq!(get(&app, expired).await.status, 410);
    let page = upload(&app, expired, "rec.png", "image/png", PNG).await;
    assert_eq!(page.status, 410);
    assert!(page.html.contains("expired"), "{}", page.html);
    assert_eq!(app.count("select count(*) from upload").await, 1);
}

#[tokio::test]
async fn files_that_are_not_documents_or_too_large_are_refused_and_the_link_still_works() {
    let app = spawn_app().await;
    let path = link_for_casey(&app).await;
    let gif = upload(&app, &path, "card.png", "image/png", b"GIF89a\x01\0\x01\0 not a png").await;
    assert_eq!(gif.status, 415);
    assert!(gif.html.contains("a photo (JPEG, PNG, HEIC) or a PDF"), "{}", gif.html);
    let script = upload(&app, &path, "card.pdf", "application/pdf", b"<script>alert(1)</script>").await;
    assert_eq!(script.status, 415);
    let empty = upload(&app, &path, "card.pdf", "application/pdf", b"").await;
    assert_eq!(empty.status, 400);
    let mut huge = JPEG.to_vec();
    huge.resize(app.state.uploads.max_bytes + 1, 0);
    let big = upload(&app, &path, "big.jpg", "image/jpeg", &huge).await;
    assert_eq!(big.status, 413, "{}", big.html);
    assert_eq!(app.count("select count(*) from upload").await, 0);
    let pdf = upload(&app, &path, "rec.pdf", "application/pdf", b"%PDF-1.7\n recommendation").await;
    assert_eq!(pdf.status, 200, "{}", pdf.html);
    assert_eq!(column(&app, "select content_type from upload").await, "application/pdf");
}

#[tokio::test]
async fn a_rejection_says_why_and_sends_a_fresh_link() {
    let app = spawn_app().await;
    let path = link_for_casey(&app).await;
    upload(&app, &path, "rec.png", "image/png", PNG).await;
    let assets = app.state.library.get();
    let decision = Decision::Reject { reason: "the photo is too blurry to read" };
    let text = review(&app.state.store, &assets, &app.state.uploads, "cus_casey", decision, "csr-ana").await.unwrap();
    assert!(text.contains("the photo is too blurry to read") && text.contains("/u/"), "{text}");
    assert_eq!(
        column(&app, "select verification_status from customer where customer_id = 'cus_casey'").await,
        "rejected"
    );
    let fresh = &text[text.find("/u/").unwrap()..].split_whitespace().next().unwrap().to_owned();
    assert_eq!(get(&app, fresh).await.status, 200, "the new link works");
}

/// A stand-in for Twilio's media storage: the media URL wants Basic auth and redirects to
/// storage, which must not receive the credentials.
#[derive(Clone, Default)]
struct FakeMedia {
    storage_saw_auth: Arc<Mutex<Option<bool>>>,
}

async fn media(headers: HeaderMap) -> impl IntoResponse {
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("");
    if auth.starts_with("Basic ") {
        (StatusCode::FOUND, [("location", "/storage/photo.jpg")]).into_response()
    } else {
        StatusCode::UNAUTHORIZED.into_response()
    }
}

async fn storage(State(fake): State<FakeMedia>, headers: HeaderMap) -> impl IntoResponse {
    *fake.storage_saw_auth.lock().unwrap() = Some(headers.contains_key("authorization"));
    ([("content-type", "image/jpeg")], JPEG.to_vec())
}

#[tokio::test]
async fn an_mms_photo_from_a_locked_customer_is_fetched_sealed_and_filed() {
    // Arrange
    let fake = FakeMedia::default();
    let router = axum::Router::new()
        .route("/2010-04-01/Accounts/{account}/Messages/{message}/Media/{media}", axum::routing::get(media))
        .route("/storage/photo.jpg", axum::routing::get(storage))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let app = spawn_with(Options { twilio_api_base: Some(base.clone()), ..Options::default() }).await;
    link_for_casey(&app).await;
    // Act
    let message = sid();
    let mut params = sms_params(&message, CASEY, "");
    params.retain(|(k, _)| k != "NumMedia");
    params.push(("NumMedia".into(), "1".into()));
    params.push(("MediaUrl0".into(), format!("{base}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{message}/Media/ME1")));
    params.push(("MediaContentType0".into(), "image/jpeg".into()));
    let reply = app.post_signed("/webhooks/twilio/sms", &params).await;
    // Assert
    assert!(reply.text().contains("Thanks, we got your document!"), "{}", reply.text());
    let (upload_id, sealed, source): (String, Vec<u8>, String) =
        sqlx::query_as("select upload_id, sealed, source from upload").fetch_one(app.state.store.pool()).await.unwrap();
    assert_eq!(source, "mms");
    assert_eq!(sealer().open(&upload_id, &sealed).unwrap(), JPEG);
    assert_eq!(*fake.storage_saw_auth.lock().unwrap(), Some(false), "credentials must not follow the redirect");
    // A retried webhook files nothing twice.
    app.post_signed("/webhooks/twilio/sms", &params).await;
    assert_eq!(app.count("select count(*) from upload").await, 1);
}

#[tokio::test]
async fn the_midnight_sweep_locks_an_expired_recommendation_once_and_texts_the_link() {
    let app = spawn_app().await;
    let now = app.clock().now_ms();
    let locked = leafdesk::verification::sweep(&app.state.store, &app.state.pipeline, now).await.unwrap();
    assert_eq!(locked, 1, "Casey's recommendation ended in January");
    assert_eq!(column(&app, "select status from customer_order where order_number = 'LD-1006'").await, "on_hold");
    let body = column(&app, &format!("select body from outbox where to_phone = '{CASEY}'")).await;
    assert!(body.contains("Your medical recommendation has expired") && body.contains("/u/"), "{body}");
    assert_eq!(leafdesk::verification::sweep(&app.state.store, &app.state.pipeline, now).await.unwrap(), 0);
}

#[tokio::test]
async fn twenty_uploads_racing_on_one_link_give_one_success_and_no_server_error() {
    let app = spawn_app().await;
    let path = link_for_casey(&app).await;
    let uploads = (0..20).map(|_| upload(&app, &path, "rec.png", "image/png", PNG));
    let statuses: Vec<u16> = futures_util::future::join_all(uploads).await.into_iter().map(|p| p.status).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?}");
    assert_eq!(
        statuses.iter().filter(|s| **s == 410).count(),
        19,
        "the others are told the link was used: {statuses:?}"
    );
    assert_eq!(app.count("select count(*) from upload").await, 1);
}
