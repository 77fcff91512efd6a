//! Browser-facing pages in real headless Chromium, driven over WebDriver (chromedriver).
//! `scripts/test` installs the Debian packages `chromium` and `chromium-driver`.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::helpers::*;

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

struct Browser {
    driver: Child,
    base: String,
    session: String,
    client: reqwest::Client,
    _profile: tempfile::TempDir,
}

impl Browser {
    async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver is installed (Debian package chromium-driver; scripts/test installs it)");
        let base = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        while client.get(format!("{base}/status")).send().await.is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let profile = tempfile::tempdir().unwrap();
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=420,900",
        ];
        let mut args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        args.push(format!("--user-data-dir={}", profile.path().display()));
        let caps = json!({ "capabilities": { "alwaysMatch": { "browserName": "chrome", "goog:chromeOptions": { "binary": "/usr/bin/chromium", "args": args } } } });
        let created: Value =
            client.post(format!("{base}/session")).json(&caps).send().await.unwrap().json().await.unwrap();
        let session =
            created["value"]["sessionId"].as_str().unwrap_or_else(|| panic!("no session: {created}")).to_owned();
        Self { driver, base, session, client, _profile: profile }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let mut request = self.client.request(method.clone(), url);
        if method != reqwest::Method::GET {
            request = request.json(&body);
        }
        let resp: Value = request.send().await.unwrap().json().await.unwrap();
        resp["value"].clone()
    }

    async fn goto(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", json!({ "url": url })).await;
    }

    /// The element, waiting up to 10 s for it: after a form submit the next page may still be
    /// loading when the click returns (seen under a loaded CI machine).
    async fn find(&self, css: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let found =
                self.call(reqwest::Method::POST, "/element", json!({ "using": "css selector", "value": css })).await;
            if let Some(id) = found[ELEMENT].as_str() {
                return id.to_owned();
            }
            assert!(Instant::now() < deadline, "no element {css}: {found}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn type_into(&self, css: &str, text: &str) {
        let id = self.find(css).await;
        self.call(reqwest::Method::POST, &format!("/element/{id}/value"), json!({ "text": text })).await;
    }

    async fn click(&self, css: &str) {
        let id = self.find(css).await;
        self.call(reqwest::Method::POST, &format!("/element/{id}/click"), json!({})).await;
    }

    /// Resizes the window (a desk, a tablet, a phone).
    async fn resize(&self, width: u32, height: u32) {
        self.call(reqwest::Method::POST, "/window/rect", json!({ "width": width, "height": height })).await;
    }

    /// Saves a screenshot as `target/screenshots/<name>.png`: the test's artifact, for people
    /// to look at.
    async fn screenshot(&self, name: &str) {
        use base64::Engine as _;
        let shot = self.call(reqwest::Method::GET, "/screenshot", Value::Null).await;
        let png = base64::engine::general_purpose::STANDARD.decode(shot.as_str().unwrap_or_default()).unwrap();
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }

    /// Moves into the frame `css` names (the widget's chat), or back out with `None`.
    async fn frame(&self, css: Option<&str>) {
        match css {
            Some(css) => {
                let id = self.find(css).await;
                self.call(reqwest::Method::POST, "/frame", json!({ "id": { ELEMENT: id } })).await;
            }
            None => {
                self.call(reqwest::Method::POST, "/frame/parent", json!({})).await;
            }
        }
    }

    /// Whether an element is there now (no waiting).
    async fn has(&self, css: &str) -> bool {
        let found =
            self.call(reqwest::Method::POST, "/element", json!({ "using": "css selector", "value": css })).await;
        found[ELEMENT].as_str().is_some()
    }

    /// Waits up to 10 s until the element's text contains `needle` (a click that submits a form
    /// returns before the next page is there), and returns the text.
    async fn wait_text(&self, css: &str, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let text = self.text(css).await;
            if text.contains(needle) {
                return text;
            }
            assert!(Instant::now() < deadline, "{css} never said {needle:?}; it says {text:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn text(&self, css: &str) -> String {
        let id = self.find(css).await;
        self.call(reqwest::Method::GET, &format!("/element/{id}/text"), Value::Null)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}

impl Drop for Browser {
    /// Ends the WebDriver session (which closes Chromium) before stopping the driver: killing
    /// only chromedriver would leave the browser running. Plain blocking HTTP, so it also runs
    /// when a test panics.
    fn drop(&mut self) {
        use std::io::{Read, Write};
        let host = self.base.trim_start_matches("http://");
        if let Ok(mut stream) = std::net::TcpStream::connect(host) {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
            let request = format!(
                "DELETE /session/{} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                self.session
            );
            if stream.write_all(request.as_bytes()).is_ok() {
                let _ = stream.read_to_end(&mut Vec::new());
            }
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

#[tokio::test]
async fn a_customer_signs_up_for_text_offers_in_a_real_browser() {
    let app = spawn_app().await;
    let browser = Browser::start().await;
    browser.goto(&app.url("/consent/optin")).await;
    let heading = browser.text("main h1").await;
    assert!(heading.contains("Get text offers from Demo Dispensary"), "{heading:?}");
    browser.type_into("#phone", "(415) 555-0191").await;
    browser.click("input[name=agree]").await;
    browser.click("button[type=submit]").await;
    let result = browser.text("#result").await;
    assert!(result.contains("Reply YES to confirm"), "{result}");
    let (ua,): (String,) = sqlx::query_as("select user_agent from consent_request where phone = '+14155550191'")
        .fetch_one(app.state.store.pool())
        .await
        .unwrap();
    assert!(ua.contains("Chrome"), "the browser's user agent is the evidence: {ua}");
}

#[tokio::test]
async fn a_customer_uploads_a_new_recommendation_from_a_phone_browser() {
    let app = spawn_app().await;
    let reply = app.sms(&sid(), "+15555550105", "my medical recommendation expired").await.text();
    let path = reply[reply.find("/u/").unwrap()..].split_whitespace().next().unwrap().to_owned();
    let dir = tempfile::tempdir().unwrap();
    let photo = dir.path().join("recommendation.png");
    std::fs::write(&photo, b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01 scanned").unwrap();
    let browser = Browser::start().await;

    browser.goto(&app.url(&path)).await;
    browser.type_into("#document", &photo.display().to_string()).await;
    browser.click("button[type=submit]").await;

    let result = browser.text("#result").await;
    assert!(result.contains("We received your document"), "{result}");
    assert_eq!(app.count("select count(*) from upload").await, 1);
    browser.goto(&app.url(&path)).await;
    assert!(browser.text("#error").await.contains("already used"));
}

#[tokio::test]
async fn a_signed_in_customer_chats_and_asks_for_text_offers_in_a_real_browser() {
    let app = spawn_app().await;
    let secret = integration(&app).await;
    let link = crate::webchat::link(&secret, "cus_sam", app.now_secs());
    let url =
        format!("/chat?customer=cus_sam&ts={}&sig={}", link["ts"].as_str().unwrap(), link["sig"].as_str().unwrap());
    let browser = Browser::start().await;
    browser.goto(&app.url(&url)).await;
    assert!(browser.text("header").await.contains("Demo Dispensary"));

    browser.type_into("#text", "where is my order").await;
    browser.click("#send").await;
    // The greeting, the customer's words, then the bot's answer.
    let answer = browser.text("#log p:nth-of-type(3)").await;
    assert!(answer.contains("LD-1004"), "{answer}");

    browser.click("#offers summary").await;
    browser.click("#agree").await;
    let note = browser.text("#log p.note").await;
    assert!(note.contains("Reply YES"), "{note}");
    let (source, ua): (String, String) =
        sqlx::query_as("select source, user_agent from consent_request where phone = '+15555550103'")
            .fetch_one(app.state.store.pool())
            .await
            .unwrap();
    assert_eq!(source, "web_chat");
    assert!(ua.contains("Chrome"), "{ua}");

    // A person takes over; their reply appears in the open chat window.
    browser.type_into("#text", "talk to a human").await;
    browser.click("#send").await;
    browser.find("#log p:nth-of-type(6)").await; // the hand-off acknowledgement
    let (ticket,): (String,) = sqlx::query_as("select ticket_id from ticket where status = 'open'")
        .fetch_one(app.state.store.pool())
        .await
        .unwrap();
    leafdesk::store::tickets::queue_reply(&app.state.store, &ticket, "Hi Sam, Jo here.", "jo").await.unwrap();
    assert_eq!(browser.text("#log p.staff").await, "Hi Sam, Jo here.");
}

#[tokio::test]
async fn a_spanish_speaking_customer_chats_in_spanish_on_a_phone_and_is_asked_which_she_means() {
    let app = spawn_app().await;
    let secret = integration(&app).await;
    let link = crate::webchat::link(&secret, "cus_marisol", app.now_secs());
    let url =
        format!("/chat?customer=cus_marisol&ts={}&sig={}", link["ts"].as_str().unwrap(), link["sig"].as_str().unwrap());
    let browser = Browser::start().await;
    browser.resize(390, 844).await;
    browser.goto(&app.url(&url)).await;
    assert!(browser.text("#log p:nth-of-type(1)").await.starts_with("¡Hola Marisol!"));

    browser.type_into("#text", "no me deja pagar lo que cuesta").await;
    browser.click("#send").await;
    let asked = browser.text("#log p:nth-of-type(3)").await;
    assert!(asked.contains("¿A qué se refiere?") && asked.contains("1. Un pago rechazado"), "{asked}");
    browser.type_into("#text", "a que hora cierran hoy").await;
    browser.click("#send").await;
    let hours = browser.text("#log p:nth-of-type(5)").await;
    assert!(hours.contains("abre de 9:00 a 21:00"), "read afresh, in Spanish: {hours}");
    browser.screenshot("chat-es-phone").await;
}

/// Signs in on the real sign-in page.
async fn console_sign_in(browser: &Browser, app: &TestApp, email: &str, password: &str) {
    browser.goto(&app.url("/console/login")).await;
    browser.type_into("#email", email).await;
    browser.type_into("#password", password).await;
    browser.click("#sign-in").await;
}

#[tokio::test]
async fn a_csr_sees_a_hand_off_arrive_claims_answers_tags_and_resolves_it_in_a_real_browser() {
    use leafdesk::domain::staff::{Role, Roles};
    let (app, fake) = app_with(vec![]).await;
    let by = leafdesk::auth::users::Actor { name: "test", ip: "" };
    let password = "correct horse battery staple";
    leafdesk::auth::users::add(&app.state.store, &by, "cam@shop.test", "Cam", &Roles::new([Role::Csr]), password)
        .await
        .unwrap();
    let browser = Browser::start().await;
    browser.resize(1280, 900).await;
    console_sign_in(&browser, &app, "cam@shop.test", password).await;
    browser.wait_text("#empty", "No open tickets").await;
    // A customer asks for a person: the row appears without a reload.
    app.sms(&sid(), "+15555550102", "I want to talk to a person").await;
    let row = browser.find("#queue tr[data-ticket]").await;
    assert!(!row.is_empty());
    browser.wait_text("#live", "opened").await;
    browser.screenshot("console-queue").await;
    browser.click("#queue a.open-ticket").await;
    browser.click("#claim").await;
    browser.wait_text("#holder", "Cam").await;
    browser.type_into("#reply", "Hi, this is Cam. How can I help?").await;
    browser.wait_text("#segments", "1 SMS segment").await;
    browser.click("#send").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while fake.requests.lock().unwrap().is_empty() {
        assert!(Instant::now() < deadline, "the reply never reached the provider");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let transcript = browser.wait_text("#transcript", "Hi, this is Cam.").await;
    assert!(transcript.contains("Cam · sms"), "the reply is Cam's, not the customer's: {transcript}");
    browser.screenshot("console-ticket").await;
    // The same page at a phone's width.
    browser.resize(390, 844).await;
    browser.screenshot("console-ticket-phone").await;
    browser.resize(1280, 900).await;
    browser.click("#wrap-up input[name=tag]").await;
    browser.click("#resolve").await;
    browser.wait_text("#empty", "No open tickets").await;
    assert!(!browser.has("#queue").await);
    browser.resize(390, 844).await;
    browser.screenshot("console-queue-phone").await;
    assert_eq!(app.count("select count(*) from ticket where status = 'resolved' and resolved_by = 'Cam'").await, 1);
}

#[tokio::test]
async fn a_reviewer_approves_a_medical_document_in_a_real_browser() {
    use leafdesk::domain::staff::{Role, Roles};
    let app = spawn_app().await;
    let by = leafdesk::auth::users::Actor { name: "test", ip: "" };
    let password = "correct horse battery staple";
    let roles = Roles::new([Role::Verification]);
    leafdesk::auth::users::add(&app.state.store, &by, "val@shop.test", "Val", &roles, password).await.unwrap();
    let reply = app.sms(&sid(), "+15555550105", "my medical recommendation expired").await.text();
    let link = reply[reply.find("/u/").expect("an upload link")..].split_whitespace().next().unwrap().to_owned();
    // A real PNG (1x1), so the browser shows it.
    let png = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkaPhfDwAE/gH+2ZzHxwAAAABJRU5ErkJggg==",
    )
    .unwrap();
    let part = reqwest::multipart::Part::bytes(png).file_name("rec.png").mime_str("image/png").unwrap();
    let form = reqwest::multipart::Form::new().part("document", part);
    assert_eq!(app.client.post(app.url(&link)).multipart(form).send().await.unwrap().status(), 200);
    let browser = Browser::start().await;
    browser.resize(1280, 900).await;
    console_sign_in(&browser, &app, "val@shop.test", password).await;
    browser.click("#queue a.open-ticket").await;
    browser.find("#document img").await;
    browser.screenshot("console-verification").await;
    browser.type_into("#expires-on", "12/31/2027").await;
    browser.click("#approve").await;
    browser.wait_text("#review-status", "approved").await;
    let status: (String,) = sqlx::query_as("select verification_status from customer where customer_id = 'cus_casey'")
        .fetch_one(app.state.store.pool())
        .await
        .unwrap();
    assert_eq!(status.0, "verified");
}

/// A store's website on another origin than leafdesk's: a page with the widget's one tag
/// (and `attributes`, such as a signed-in customer's).
async fn store_site(listener: std::net::TcpListener, app_url: String, location: String, attributes: String) {
    let page = format!(
        "<!doctype html><html><head><meta name=viewport content='width=device-width, initial-scale=1'>\
         <title>Green Leaf Shop</title></head><body><h1>Green Leaf Shop</h1><p>Fresh flower, daily.</p>\
         <script src='{app_url}/widget.js' data-location='{location}' {attributes} async></script></body></html>"
    );
    listener.set_nonblocking(true).unwrap();
    let listener = tokio::net::TcpListener::from_std(listener).unwrap();
    let site = axum::Router::new().route("/", axum::routing::get(move || async move { axum::response::Html(page) }));
    tokio::spawn(async move { axum::serve(listener, site).await.unwrap() });
}

#[tokio::test]
async fn a_visitor_of_the_stores_site_chats_in_the_bubble_reloads_and_gets_a_persons_reply_live() {
    let site = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let site_url = format!("http://127.0.0.1:{}", site.local_addr().unwrap().port());
    let app =
        spawn_with(Options { env: vec![("LEAFDESK_CHAT_EMBED_ORIGINS", site_url.clone())], ..Options::default() })
            .await;
    let (location,): (String,) =
        sqlx::query_as("select location_id from location").fetch_one(app.state.store.pool()).await.unwrap();
    store_site(site, app.url(""), location, String::new()).await;

    let browser = Browser::start().await;
    browser.resize(1280, 860).await;
    browser.goto(&site_url).await;
    browser.click("button[data-leafdesk=bubble]").await;
    browser.frame(Some("iframe[data-leafdesk=chat]")).await;
    assert!(browser.text("header").await.contains("Demo Dispensary"));
    browser.type_into("#text", "hi").await;
    browser.click("#send").await;
    // The menu's numbered choices are buttons; the second is a declined payment.
    let choice = browser.text(".choices button:nth-of-type(2)").await;
    assert_eq!(choice, "A declined payment");
    browser.click(".choices button:nth-of-type(2)").await;
    // A visitor has no order to look up: the bot says so and asks a person to help.
    browser.wait_text("#log", "asking a team member").await;
    browser.frame(None).await;
    browser.screenshot("widget-desktop").await;

    // A reload (or a visit the next day): the bubble opens on the same conversation.
    browser.goto(&site_url).await;
    browser.click("button[data-leafdesk=bubble]").await;
    browser.frame(Some("iframe[data-leafdesk=chat]")).await;
    let history = browser.wait_text("#log", "A declined payment").await;
    assert!(history.contains("hi"), "{history}");

    // The person's reply arrives live, with their name.
    let (ticket,): (String,) = sqlx::query_as("select ticket_id from ticket where status = 'open'")
        .fetch_one(app.state.store.pool())
        .await
        .unwrap();
    leafdesk::store::tickets::queue_reply(
        &app.state.store,
        &ticket,
        "Hi, Cam here. Let's sort out that payment.",
        "Cam Lee",
    )
    .await
    .unwrap();
    let staff = browser.wait_text("#log p.staff", "Cam here").await;
    assert!(staff.starts_with("Cam"), "the reply carries the person's first name: {staff}");

    // Replies by text: the visitor gives a number, sees the disclosure, types the texted code.
    browser.click("#by-text summary").await;
    assert!(browser.text("#phone-disclosure").await.contains("By giving your number"));
    browser.type_into("#phone", "(555) 555-0102").await;
    browser.click("#phone-form button").await;
    browser.wait_text("#log", "We texted a code to").await;
    let (body,): (String,) = sqlx::query_as("select body from outbox where to_phone = '+15555550102'")
        .fetch_one(app.state.store.pool())
        .await
        .unwrap();
    let code: String = body.split_whitespace().find(|w| w.len() == 7 && w.ends_with('.')).unwrap()[..6].to_owned();
    browser.type_into("#code", &code).await;
    browser.click("#code-form button").await;
    browser.wait_text("#log", "replies can reach you by text").await;
    browser.frame(None).await;
    browser.resize(390, 844).await;
    browser.screenshot("widget-phone").await;
}

#[tokio::test]
async fn a_patient_the_store_signed_in_sends_a_new_recommendation_inside_the_chat() {
    let site = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let site_url = format!("http://127.0.0.1:{}", site.local_addr().unwrap().port());
    let app =
        spawn_with(Options { env: vec![("LEAFDESK_CHAT_EMBED_ORIGINS", site_url.clone())], ..Options::default() })
            .await;
    let secret = integration(&app).await;
    let (location,): (String,) =
        sqlx::query_as("select location_id from location").fetch_one(app.state.store.pool()).await.unwrap();
    let casey = crate::webchat::link(&secret, "cus_casey", app.now_secs());
    let signed = format!(
        "data-customer='cus_casey' data-ts='{}' data-sig='{}'",
        casey["ts"].as_str().unwrap(),
        casey["sig"].as_str().unwrap()
    );
    store_site(site, app.url(""), location, signed).await;
    let dir = tempfile::tempdir().unwrap();
    let photo = dir.path().join("recommendation.png");
    std::fs::write(&photo, b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01 scanned").unwrap();

    let browser = Browser::start().await;
    browser.goto(&site_url).await;
    browser.click("button[data-leafdesk=bubble]").await;
    browser.frame(Some("iframe[data-leafdesk=chat]")).await;
    browser.type_into("#text", "my medical recommendation expired").await;
    browser.click("#send").await;
    assert_eq!(browser.text("label.attach").await.lines().next().unwrap(), "Attach a photo or PDF");
    browser.type_into("label.attach input", &photo.display().to_string()).await;
    browser.wait_text("#log", "We got your document").await;
    assert_eq!(app.count("select count(*) from upload").await, 1, "sealed and filed for review");
    browser.frame(None).await;
    browser.screenshot("widget-upload").await;
}

#[tokio::test]
async fn marketing_imports_a_list_writes_a_campaign_a_lead_approves_it_and_reads_a_report_in_a_real_browser() {
    use leafdesk::domain::staff::{Role, Roles};
    let (app, fake) = app_with(vec![]).await;
    let location = leafdesk::store::locations::list(&app.state.store).await.unwrap().remove(0);
    leafdesk::demo::seed_history(&app.state.store, &location).await.unwrap();
    let by = leafdesk::auth::users::Actor { name: "test", ip: "" };
    let password = "correct horse battery staple";
    for (email, role) in [("mia@shop.test", Role::Marketing), ("lee@shop.test", Role::Lead)] {
        leafdesk::auth::users::add(&app.state.store, &by, email, email, &Roles::new([role]), password).await.unwrap();
    }
    let browser = Browser::start().await;
    browser.resize(1280, 1000).await;

    // Marketing lands on the consent lists, checks a file, reads the dry run, imports it.
    console_sign_in(&browser, &app, "mia@shop.test", password).await;
    browser.wait_text("#glance", "numbers").await;
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("counter-signups.csv");
    std::fs::write(&csv, "phone,purpose,action,evidence,consented_at\n(415) 555-0601,marketing,opt_in,counter sign-up sheet 9,2026-11-20\n(415) 555-0602,marketing,opt_in,counter sign-up sheet 9,2026-11-21\n").unwrap();
    browser.type_into("#import-file", csv.to_str().unwrap()).await;
    browser.click("#check-file").await;
    browser.wait_text("#report", "would add 2 consent record(s)").await;
    browser.screenshot("consent-import-check").await;
    assert_eq!(app.count("select count(*) from consent_event where phone like '+1415555060%'").await, 0);
    browser.click("#import-rows").await;
    browser.wait_text("#report", "added 2 consent record(s)").await;
    browser.goto(&app.url("/console/consent")).await;
    browser.wait_text("#pending", "2 h 0 min").await;
    browser.screenshot("consent-lists").await;

    // A campaign, checked as it is typed.
    browser.goto(&app.url("/console/campaigns/new")).await;
    browser.type_into("#c-name", "Thanksgiving hours").await;
    browser.type_into("#body_en", "Hi {{first_name}}, {{store}} is open 9-9 this Thursday.").await;
    browser
        .wait_text(
            "#preview-en",
            "1 SMS segment (GSM-7): Hi Alex, Demo Dispensary is open 9-9 this Thursday. Reply STOP to opt out.",
        )
        .await;
    browser.type_into("#body_es", "Hola {{first_name}}, weed").await;
    browser.wait_text("#preview-es", "filtered by US carriers").await;
    browser.screenshot("campaign-new").await;
    let box_id = browser.find("#body_es").await;
    browser.call(reqwest::Method::POST, &format!("/element/{box_id}/clear"), json!({})).await;
    browser.click("#save").await;
    browser.wait_text("#status", "draft").await;
    browser.click(".signout button").await;

    // The lead approves it and watches it finish.
    console_sign_in(&browser, &app, "lee@shop.test", password).await;
    browser.wait_text(".who", "lee@shop.test").await; // signed in before going on
    browser.goto(&app.url("/console/campaigns")).await;
    browser.click("#campaigns a").await;
    browser.click("#approve").await;
    browser.wait_text("#status", "finished").await;
    let sent = browser.text("#p-sent").await;
    assert!(sent.parse::<usize>().unwrap() > 10, "{sent}");
    assert_eq!(fake.requests.lock().unwrap().len(), sent.parse::<usize>().unwrap(), "each recipient once");
    browser.screenshot("campaign-finished").await;

    // A report with its chart.
    browser.goto(&app.url("/console/reports?report=containment")).await;
    browser.find("#chart svg polyline").await;
    browser.wait_text("#report", "payment_declined").await;
    browser.screenshot("report-containment").await;
    browser.goto(&app.url("/console/reports?report=times")).await;
    browser.find("#chart svg rect").await;
    browser.screenshot("report-times").await;
}
