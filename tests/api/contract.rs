//! Contract test: every Twilio REST call leafdesk makes (each kind of text it sends, and the
//! Messages-list lookup of a send whose answer was lost), checked by Stoplight Prism against
//! Twilio's own OpenAPI description (`tests/fixtures/twilio/twilio_api_v2010.json`), not
//! against our reading of it. `scripts/prism` installs Prism (`scripts/test` runs it first).
//!
//! Prism runs with `--errors`: a request that breaks the description (the path's AccountSid, a
//! missing Basic scheme, a form field's type or pattern) gets a 4xx, the outbox records the row
//! `failed`, and Prism's log names the rule. It does not check what the description leaves
//! open to it: `format: phone-number` (To, From) and the credentials themselves; the
//! hand-written stand-in in `outbox.rs` checks those.
//!
//! And with `--dynamic`: answers are generated from the schemas, so every 201 carries a fresh
//! sid (`^(SM|MM)[0-9a-fA-F]{32}$`), as Twilio gives. Prism's static examples would answer
//! every send with `SMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa` (a transcript files one sid once), and
//! the Messages list's example breaks its own schema (relative `uri`s), which `--errors`
//! turns into a 500 for every lookup.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use leafdesk::store::locations::{self, NewLocation};
use leafdesk::store::outbox::{self, OutboxRow};
use leafdesk::verification::{review, Decision};
use serde_json::json;

use crate::helpers::*;

const SPEC: &str = "tests/fixtures/twilio/twilio_api_v2010.json";
/// 60 s: Prism reads the 1.8 MB description before it listens (about 2 s here); a loaded CI
/// machine gets room, and a Prism that exits early is reported at once.
const PRISM_START: Duration = Duration::from_secs(60);
/// 30 s: a round of sends to a local Prism takes milliseconds; this only bounds a broken run.
const SETTLE: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(25);
/// A well-formed Messaging Service SID (`^MG[0-9a-fA-F]{32}$`).
const SERVICE_SID: &str = "MG0123456789abcdef0123456789abcdef";
const CASEY: &str = "+15555550105";

/// A running Prism, killed when dropped; its output is kept for the assertions.
struct Prism {
    child: Child,
    base: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl Prism {
    async fn start() -> Self {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let bin = prism_bin(root);
        // A port the system just handed out and took back: free unless another process races us.
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
        let mut child = Command::new(&bin)
            .args(["mock", "--errors", "--dynamic", "-h", "127.0.0.1", "-p", &port.to_string(), SPEC])
            .current_dir(root)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display()));
        let log = Arc::new(Mutex::new(Vec::new()));
        keep_lines(child.stdout.take().expect("piped stdout"), &log);
        keep_lines(child.stderr.take().expect("piped stderr"), &log);
        let prism = Self { child, base: format!("http://127.0.0.1:{port}"), log };
        prism.wait_until_listening(port).await
    }

    async fn wait_until_listening(mut self, port: u16) -> Self {
        let deadline = Instant::now() + PRISM_START;
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("Prism exited ({status}) before listening:\n{}", self.lines().join("\n"));
            }
            assert!(
                Instant::now() < deadline,
                "Prism did not listen within {PRISM_START:?}:\n{}",
                self.lines().join("\n")
            );
            tokio::time::sleep(POLL).await;
        }
        self
    }

    fn lines(&self) -> Vec<String> {
        self.log.lock().expect("log lock").clone()
    }

    /// Prism's output once `done` holds for it, or when [`SETTLE`] has passed (the caller's
    /// assertion then shows what it logged): its log may trail its answers a little.
    async fn wait_for(&self, done: impl Fn(&[String]) -> bool) -> Vec<String> {
        let deadline = Instant::now() + SETTLE;
        loop {
            let lines = self.lines();
            if done(&lines) || Instant::now() >= deadline {
                return lines;
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

/// How many of Prism's `lines` say a request passed validation.
fn passed(lines: &[String]) -> usize {
    lines.iter().filter(|l| l.contains("The request passed the validation rules")).count()
}

/// Lines where Prism reports a broken rule or refuses a request (its ✖ and ⚠ marks).
fn violations(lines: &[String]) -> Vec<&String> {
    lines.iter().filter(|l| l.contains('✖') || l.contains('⚠')).collect()
}

impl Drop for Prism {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Where `scripts/prism` installs Prism; the test fails, never skips, when it is missing.
fn prism_bin(root: &Path) -> PathBuf {
    let bin = root.join("tests/contract/node_modules/.bin/prism");
    assert!(bin.exists(), "Prism is not installed at {}: run scripts/prism (scripts/test does)", bin.display());
    bin
}

fn keep_lines(stream: impl Read + Send + 'static, log: &Arc<Mutex<Vec<String>>>) {
    let log = log.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            log.lock().expect("log lock").push(line);
        }
    });
}

/// Sends a signed platform event; returns the HTTP status.
async fn event(app: &TestApp, secret: &str, body: &serde_json::Value) -> u16 {
    post_signed_json(app, secret, "/api/v1/events", &body.to_string(), app.now_secs()).await.0
}

/// Step 1 of double opt-in on `location`'s web form, as a browser sends it (with the page's
/// token); queues "Reply YES" from that store.
async fn opt_in(app: &TestApp, location_id: &str, phone: &str) {
    let page = app.client.get(app.url(&format!("/consent/optin?location={location_id}"))).send().await.expect("page");
    let page = page.text().await.expect("page text");
    let token = page.split("name=\"form_token\" value=\"").nth(1).and_then(|t| t.split('"').next()).unwrap_or("");
    let form = format!(
        "location={location_id}&phone={phone}&agree=yes&disclosure_version=marketing-2026-11&form_token={token}"
    );
    let resp = app
        .client
        .post(app.url("/consent/optin"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .expect("form posted");
    assert_eq!(resp.status().as_u16(), 200, "{}", resp.text().await.unwrap_or_default());
}

/// A CSR's reply after an SMS customer asked for a person.
async fn csr_reply(app: &TestApp, phone: &str) {
    app.sms(&sid(), phone, "agent").await;
    let open = leafdesk::store::tickets::list_open(&app.state.store).await.expect("tickets");
    let ticket = open.into_iter().find(|t| t.phone == phone).expect("ticket opened").ticket_id;
    let queued =
        leafdesk::store::tickets::queue_reply(&app.state.store, &ticket, "Ready at 3 pm. ¿Algo más? 👍", "sam")
            .await
            .expect("reply queued");
    assert!(queued.is_some(), "the ticket is open");
}

/// Casey's checkout is locked (a text with an upload link); she sends a new recommendation
/// through it and a reviewer approves it (a second text).
async fn lock_then_approve(app: &TestApp, secret: &str) {
    let locked = json!({ "id": "evt_lock", "type": "account.locked", "customer_id": "cus_casey",
        "data": { "reason": "recommendation_expired" } });
    assert_eq!(event(app, secret, &locked).await, 202);
    let rows = all_settled(app).await;
    let notice =
        rows.iter().find(|r| r.to_phone == CASEY && r.body.contains("/u/")).expect("a lock notice with a link");
    let path = notice.body[notice.body.find("/u/").expect("link")..].split_whitespace().next().expect("path");
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01 a new recommendation".to_vec();
    let part = reqwest::multipart::Part::bytes(png).file_name("rec.png").mime_str("image/png").expect("mime");
    let form = reqwest::multipart::Form::new().part("document", part);
    let uploaded = app.client.post(app.url(path)).multipart(form).send().await.expect("upload sent");
    assert_eq!(uploaded.status().as_u16(), 200, "{}", uploaded.text().await.unwrap_or_default());
    let (assets, decision) = (app.state.library.get(), Decision::Approve { expires_on: Some("2027-12-31") });
    review(&app.state.store, &assets, &app.state.uploads, "cus_casey", decision, "csr-ana").await.expect("reviewed");
}

/// Every outbox row, once none is waiting or being sent.
async fn all_settled(app: &TestApp) -> Vec<OutboxRow> {
    let deadline = Instant::now() + SETTLE;
    loop {
        let rows = outbox::list(&app.state.store, 1000).await.expect("outbox rows");
        if rows.iter().all(|r| !matches!(r.status.as_str(), "pending" | "sending")) {
            return rows;
        }
        assert!(Instant::now() < deadline, "rows still waiting after {SETTLE:?}: {rows:#?}");
        tokio::time::sleep(POLL).await;
    }
}

/// A send whose answer was lost: a worker claimed the row and died mid-send. When its lease
/// lapses, the app's worker first looks for the message in the Messages list (GET), then sends.
async fn lost_send(app: &TestApp, location_id: &str) {
    all_settled(app).await; // so the worker that dies takes this row and no other
    let store = &app.state.store;
    // Due an hour from now, so only the worker that dies takes it.
    let later = store.now_ms() + 3_600_000;
    let row = outbox::NewOutbound {
        conversation_id: None,
        location_id,
        to_phone: "+15555550194",
        purpose: "transactional",
        body: "Your order is ready for pickup.",
        reply: None,
    };
    let mut tx = store.begin().await.expect("transaction");
    let id = outbox::enqueue(&mut tx, &row, later).await.expect("queued");
    tx.commit().await.expect("committed");
    let lease_ms = 60_000;
    let claimed = outbox::claim_due(store, later, lease_ms, 10).await.expect("claimed");
    assert_eq!(claimed.iter().map(|r| r.outbox_id.as_str()).collect::<Vec<_>>(), [id.as_str()]);
    app.clock().set(later + lease_ms + 1);
}

/// Every outbox row is sent, each under its own sid, and Prism passed every request: one POST
/// per row and `lookups` GETs of the Messages list.
async fn assert_all_sent_and_valid(prism: &Prism, rows: &[OutboxRow], lookups: usize) {
    let unsent: Vec<&OutboxRow> = rows.iter().filter(|r| r.status != "sent").collect();
    assert!(unsent.is_empty(), "not sent: {unsent:#?}\nPrism reported: {:#?}", violations(&prism.lines()));
    let requests = rows.len() + lookups;
    let log = prism.wait_for(|lines| passed(lines) >= requests).await;
    assert_eq!(passed(&log), requests, "Prism validated each request once:\n{}", log.join("\n"));
    assert!(violations(&log).is_empty(), "Prism reported: {:#?}", violations(&log));
    let gets = log.iter().filter(|l| l.contains("[HTTP SERVER] get /2010-04-01/") && l.contains("Request received"));
    assert_eq!(gets.count(), lookups, "{}", log.join("\n"));
    let mut sids: Vec<&str> = rows.iter().filter_map(|r| r.provider_id.as_deref()).collect();
    sids.sort_unstable();
    sids.dedup();
    assert_eq!(sids.len(), rows.len(), "each send filed under its own sid: {rows:#?}");
}

#[tokio::test]
async fn every_kind_of_text_we_send_passes_twilios_openapi_description_and_a_bad_service_sid_does_not() {
    // Arrange
    let prism = Prism::start().await;
    let app = spawn_with(Options { twilio_api_base: Some(prism.base.clone()), ..Options::default() }).await;
    let secret = integration(&app).await;
    let demo = locations::list(&app.state.store).await.expect("locations").remove(0);
    let by_service = NewLocation {
        name: "Service Dispensary",
        state: "CA",
        timezone: "America/Los_Angeles",
        phone_number: None,
        messaging_service_sid: Some(SERVICE_SID),
    };
    let service = locations::insert(&app.state.store, &by_service).await.expect("service location");

    // Act: a flow's reply to a platform event, a CSR's reply, an opt-in confirmation, a lock
    // notice and a verification result, a text from a store that sends by Messaging Service,
    // and a send whose answer was lost (looked up, then sent).
    let declined = json!({ "id": "evt_declined", "type": "payment.declined", "customer_id": "cus_sam",
        "data": { "order_number": "LD-1004" } });
    assert_eq!(event(&app, &secret, &declined).await, 202);
    csr_reply(&app, "+15555550190").await;
    opt_in(&app, &demo.location_id, "4155550191").await;
    lock_then_approve(&app, &secret).await;
    opt_in(&app, &service.location_id, "4155550192").await;
    lost_send(&app, &demo.location_id).await;
    let rows = all_settled(&app).await;

    // Assert
    assert_eq!(rows.len(), 7, "one row per kind of send: {rows:#?}");
    assert_all_sent_and_valid(&prism, &rows, 1).await;

    // A store whose Messaging Service SID is malformed: Prism refuses the send and names the rule.
    let malformed =
        NewLocation { name: "Typo Dispensary", messaging_service_sid: Some("MGnot-a-real-sid"), ..by_service };
    let typo = locations::insert(&app.state.store, &malformed).await.expect("typo location");
    opt_in(&app, &typo.location_id, "4155550193").await;
    let rows = all_settled(&app).await;
    let refused = rows.iter().find(|r| r.location_id == typo.location_id).expect("the typo store's row");
    assert_eq!(refused.status, "failed", "{refused:#?}");
    assert!(refused.reason.as_deref().is_some_and(|r| r.contains("HTTP 422")), "{refused:#?}");
    let log = prism.wait_for(|lines| lines.iter().any(|l| l.contains("Request terminated with error"))).await;
    let reported = violations(&log);
    assert!(
        reported.iter().any(|l| l.contains(r#"MessagingServiceSid must match pattern "^MG[0-9a-fA-F]{32}$""#)),
        "Prism should name the broken pattern: {reported:#?}"
    );
    let refusals = reported.iter().filter(|l| l.contains("Request terminated with error")).count();
    assert_eq!(refusals, 1, "only the typo store's send is refused: {reported:#?}");
}
