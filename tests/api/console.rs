//! The staff console over HTTP: sign-in (fresh sessions, lockout, expiry, sign-out), CSRF on
//! every form, the role on every route (one table), the exclusive claim under a race, a reply
//! reaching Twilio's API while the bot keeps silent, the wrap-up handing back to the bot, the
//! send gate's refusal, and the live feed.

use std::time::Duration;

use futures_util::StreamExt as _;
use leafdesk::auth::users::{self, Actor};
use leafdesk::domain::staff::{Role, Roles};

use crate::helpers::*;

pub const PASSWORD: &str = "correct horse battery staple";

/// A browser with a session: its cookie and the CSRF token the pages carry.
pub struct Browser {
    pub client: reqwest::Client,
    pub base: String,
    pub cookie: String,
    pub csrf: String,
}

pub struct Page {
    pub status: u16,
    pub location: String,
    pub body: String,
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// An account with these roles and [`PASSWORD`].
pub async fn person(app: &TestApp, email: &str, roles: &[Role]) {
    let by = Actor { name: "test", ip: "" };
    users::add(&app.state.store, &by, email, "", &Roles::new(roles.iter().copied()), PASSWORD).await.unwrap();
}

async fn sign_in_page(app: &TestApp, email: &str, password: &str) -> Page {
    let c = client();
    let form = c.get(app.url("/console/login")).send().await.unwrap().text().await.unwrap();
    let token = value_of(&form, "form_token");
    let resp = c
        .post(app.url("/console/login"))
        .form(&[("form_token", token.as_str()), ("email", email), ("password", password), ("next", "/console")])
        .send()
        .await
        .unwrap();
    page(resp).await
}

pub async fn page(resp: reqwest::Response) -> Page {
    let status = resp.status().as_u16();
    let location = resp.headers().get("location").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    let set_cookie = resp.headers().get("set-cookie").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    let body = resp.text().await.unwrap();
    Page { status, location, body: if set_cookie.is_empty() { body } else { format!("{set_cookie}\n{body}") } }
}

/// The `value` of the hidden input `name` in a page.
pub fn value_of(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).unwrap_or_else(|| panic!("no {name} in {html}")) + marker.len();
    html[start..].split('"').next().unwrap().to_owned()
}

pub async fn sign_in(app: &TestApp, email: &str) -> Browser {
    let c = client();
    let form = c.get(app.url("/console/login")).send().await.unwrap().text().await.unwrap();
    let token = value_of(&form, "form_token");
    let resp = c
        .post(app.url("/console/login"))
        .form(&[("form_token", token.as_str()), ("email", email), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303, "{email} signs in");
    let set = resp.headers().get("set-cookie").unwrap().to_str().unwrap().to_owned();
    let cookie = set.split(';').next().unwrap().to_owned();
    let mut browser = Browser { client: c, base: app.url(""), cookie, csrf: String::new() };
    let home = browser.get("/console/login").await;
    assert_eq!(home.status, 200);
    let any = browser.get("/console/admin/audit").await;
    // Every signed-in page carries the session's CSRF token in the sign-out form.
    browser.csrf = value_of(&any.body, "csrf");
    browser
}

impl Browser {
    pub async fn get(&self, path: &str) -> Page {
        page(self.client.get(format!("{}{path}", self.base)).header("cookie", &self.cookie).send().await.unwrap()).await
    }

    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        let mut all: Vec<(&str, &str)> = vec![("csrf", &self.csrf)];
        all.extend_from_slice(fields);
        page(
            self.client
                .post(format!("{}{path}", self.base))
                .header("cookie", &self.cookie)
                .form(&all)
                .send()
                .await
                .unwrap(),
        )
        .await
    }
}

/// A customer asks for a person: the ticket's id.
async fn hand_off(app: &TestApp, phone: &str) -> String {
    app.sms(&sid(), phone, "I want to talk to a person").await;
    let open = leafdesk::store::tickets::list_open(&app.state.store).await.unwrap();
    open.into_iter().find(|t| t.phone == phone).expect("ticket opened").ticket_id
}

#[tokio::test]
async fn sign_in_gives_a_fresh_session_and_wrong_passwords_lock_the_account_for_a_while() {
    let app = spawn_app().await;
    person(&app, "cam@shop.test", &[Role::Csr]).await;
    // Signed out: the console sends you to sign in, and back afterwards.
    let away = client().get(app.url("/console/tickets/abc?x=1")).send().await.unwrap();
    assert_eq!(away.status(), 303);
    assert_eq!(away.headers()["location"], "/console/login?next=%2Fconsole%2Ftickets%2Fabc%3Fx%3D1");
    // A good sign-in: an HttpOnly, SameSite cookie for the console only.
    let ok = sign_in_page(&app, "Cam@Shop.test", PASSWORD).await;
    assert_eq!((ok.status, ok.location.as_str()), (303, "/console"));
    assert!(
        ok.body.contains("HttpOnly") && ok.body.contains("SameSite=Lax") && ok.body.contains("Path=/console"),
        "{}",
        ok.body
    );
    let again = sign_in_page(&app, "cam@shop.test", PASSWORD).await;
    assert_ne!(ok.body.lines().next(), again.body.lines().next(), "each sign-in gets its own session");
    // Wrong passwords: the same answer as an unknown account; five in a row lock it.
    let unknown = sign_in_page(&app, "nobody@shop.test", PASSWORD).await;
    assert_eq!(unknown.status, 401);
    assert!(unknown.body.contains("Wrong email or password"), "{}", unknown.body);
    for _ in 0..5 {
        assert_eq!(sign_in_page(&app, "cam@shop.test", "not the password at all").await.status, 401);
    }
    let locked = sign_in_page(&app, "cam@shop.test", PASSWORD).await;
    assert_eq!(locked.status, 429);
    assert!(
        locked.body.contains("Too many failed sign-ins for this account; try again in 1 minute"),
        "{}",
        locked.body
    );
    app.clock().advance(61_000);
    assert_eq!(sign_in_page(&app, "cam@shop.test", PASSWORD).await.status, 303, "the lock ends");
    // Every attempt is in the audit log, without the password.
    let failures = app.count("select count(*) from audit_event where action = 'sign_in_failed'").await;
    assert_eq!(failures, 6);
    assert_eq!(app.count(&format!("select count(*) from audit_event where detail like '%{PASSWORD}%'")).await, 0);
}

#[tokio::test]
async fn sessions_end_when_idle_when_signed_out_and_everywhere_at_once() {
    let app = spawn_app().await;
    person(&app, "cam@shop.test", &[Role::Csr]).await;
    let first = sign_in(&app, "cam@shop.test").await;
    let second = sign_in(&app, "cam@shop.test").await;
    assert_eq!(first.get("/console").await.status, 200);
    // Two hours without a request end a session.
    app.clock().advance(2 * 3_600_000);
    let idle = first.get("/console").await;
    assert_eq!((idle.status, idle.location.as_str()), (303, "/console/login?next=%2Fconsole"));
    let third = sign_in(&app, "cam@shop.test").await;
    // A form posted without the session's token changes nothing.
    let forged = third
        .client
        .post(app.url("/console/logout"))
        .header("cookie", &third.cookie)
        .form(&[("csrf", "guess")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    assert_eq!(third.get("/console").await.status, 200);
    // Sign out everywhere: every session of the account ends.
    let out = third.post("/console/logout", &[("everywhere", "yes")]).await;
    assert_eq!((out.status, out.location.as_str()), (303, "/console/login"));
    assert_eq!(third.get("/console").await.status, 303);
    assert_eq!(second.get("/console").await.status, 303);
}

/// Which roles may use each console route (admins may use all; signed out, none).
#[tokio::test]
async fn every_console_route_checks_the_role_on_the_server() {
    let app = spawn_app().await;
    for role in Role::CODES {
        person(&app, &format!("{role}@shop.test"), &[Role::parse(role).unwrap()]).await;
    }
    let general = hand_off(&app, "+15555550102").await;
    let ticket = format!("/console/tickets/{general}");
    let note = format!("{ticket}/note");
    let table: &[(&str, &str, &[&str])] = &[
        // Marketing is sent on to the consent lists.
        ("GET", "/console", &["csr", "lead", "verification", "inventory", "it", "marketing", "admin"]),
        ("GET", &ticket, &["csr", "lead", "admin"]),
        ("POST", &note, &["csr", "lead", "admin"]),
        ("GET", "/console/admin/users", &["admin"]),
        ("POST", "/console/admin/users", &["admin"]),
        ("GET", "/console/admin/audit", &["admin"]),
        ("GET", "/console/admin/audit?format=csv", &["admin"]),
        ("GET", "/console/consent", &["marketing", "admin"]),
        ("GET", "/console/consent/export?purpose=marketing", &["marketing", "admin"]),
        ("POST", "/console/consent/number", &["marketing", "admin"]),
        ("POST", "/console/consent/evidence", &["marketing", "admin"]),
        ("POST", "/console/consent/import", &["marketing", "admin"]),
        ("GET", "/console/campaigns", &["lead", "marketing", "admin"]),
        ("GET", "/console/campaigns/new", &["marketing", "admin"]),
        ("POST", "/console/campaigns", &["marketing", "admin"]),
        ("POST", "/console/campaigns/preview", &["marketing", "admin"]),
        ("GET", "/console/reports", &["lead", "admin"]),
        ("GET", "/console/reports?report=times&format=csv", &["lead", "admin"]),
    ];
    let browsers: Vec<(&str, Browser)> = {
        let mut all = Vec::new();
        for role in Role::CODES {
            all.push((*role, sign_in(&app, &format!("{role}@shop.test")).await));
        }
        all
    };
    for (method, path, allowed) in table {
        for (role, browser) in &browsers {
            let got = if *method == "GET" {
                browser.get(path).await
            } else {
                browser.post(path, &[("note", "checking"), ("email", "x@shop.test"), ("password", "short")]).await
            };
            if allowed.contains(role) {
                assert!(matches!(got.status, 200 | 303 | 422), "{role} may {method} {path}: {}", got.status);
            } else {
                assert_eq!(got.status, 403, "{role} may not {method} {path}");
                assert!(got.body.contains("You do not have access to this page"), "{role} {path}");
                assert!(!got.body.contains("+1555") && !got.body.contains("@shop.test</td>"), "a 403 shows no data");
            }
        }
        let anonymous = if *method == "GET" {
            client().get(app.url(path)).send().await.unwrap()
        } else {
            client().post(app.url(path)).form(&[("note", "x")]).send().await.unwrap()
        };
        assert_eq!(anonymous.status(), 303, "signed out: {method} {path}");
        assert!(anonymous.headers()["location"].to_str().unwrap().starts_with("/console/login"));
    }
    // The live feed too.
    for (role, browser) in &browsers {
        let resp =
            browser.client.get(app.url("/console/events")).header("cookie", &browser.cookie).send().await.unwrap();
        let want = if *role == "marketing" { 403 } else { 200 };
        assert_eq!(resp.status(), want, "{role} and the live feed");
    }
}

#[tokio::test]
async fn twenty_people_claiming_one_ticket_at_once_leave_exactly_one_holder() {
    let app = spawn_app().await;
    let ticket = hand_off(&app, "+15555550102").await;
    let mut browsers = Vec::new();
    for i in 0..20 {
        person(&app, &format!("csr{i}@shop.test"), &[Role::Csr]).await;
        browsers.push(sign_in(&app, &format!("csr{i}@shop.test")).await);
    }
    let path = format!("/console/tickets/{ticket}/claim");
    let claims = futures_util::future::join_all(browsers.iter().map(|b| b.post(&path, &[]))).await;
    let won: Vec<&Page> = claims.iter().filter(|p| p.status == 303).collect();
    let lost: Vec<&Page> = claims.iter().filter(|p| p.status == 409).collect();
    assert_eq!((won.len(), lost.len()), (1, 19), "{:?}", claims.iter().map(|p| p.status).collect::<Vec<_>>());
    assert!(lost.iter().all(|p| p.body.contains(" has this ticket.")), "the others are told who has it");
    assert_eq!(app.count("select count(*) from conversation_event where kind = 'claimed'").await, 1);
    assert_eq!(app.count("select count(*) from conversation where ownership = 'agent'").await, 1);
}

#[tokio::test]
async fn a_reply_reaches_the_customer_the_bot_stays_silent_and_the_wrap_up_hands_back() {
    let (app, fake) = app_with(vec![]).await;
    person(&app, "cam@shop.test", &[Role::Csr]).await;
    let cam = sign_in(&app, "cam@shop.test").await;
    let riley = "+15555550102";
    let ticket = hand_off(&app, riley).await;
    let path = format!("/console/tickets/{ticket}");
    // Not claimed: no reply.
    assert_eq!(cam.post(&format!("{path}/reply"), &[("text", "Hi")]).await.status, 409);
    assert_eq!(cam.post(&format!("{path}/claim"), &[]).await.status, 303);
    // The customer writes: the bot says nothing, the page shows it.
    let silent = app.sms(&sid(), riley, "hello? anyone?").await;
    assert!(silent.messages().is_empty(), "{}", silent.body);
    assert!(cam.get(&path).await.body.contains("hello? anyone?"));
    // The reply goes out on the customer's channel, through the outbox, to Twilio's API.
    let sent = cam.post(&format!("{path}/reply"), &[("text", "Hi Riley, this is Cam. How can I help?")]).await;
    assert_eq!((sent.status, sent.location.as_str()), (303, format!("{path}?sent=1").as_str()));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while fake.requests.lock().unwrap().is_empty() {
        assert!(std::time::Instant::now() < deadline, "the reply never reached the provider");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let request = fake.requests.lock().unwrap()[0].clone();
    assert_eq!(request["To"], riley);
    assert_eq!(request["Body"], "Hi Riley, this is Cam. How can I help?");
    // A wrap-up needs a tag; then the conversation is the bot's again.
    let untagged = cam.post(&format!("{path}/resolve"), &[]).await;
    assert_eq!(untagged.status, 422);
    assert!(untagged.body.contains("Choose at least one tag for the wrap-up."), "{}", untagged.body);
    let note = cam.post(&format!("{path}/note"), &[("note", "Asked about pickup hours; answered.")]).await;
    assert_eq!(note.status, 303);
    let done = cam.post(&format!("{path}/resolve"), &[("tag", "order status"), ("tag", "human requested")]).await;
    assert_eq!((done.status, done.location.as_str()), (303, "/console"));
    let back = app.sms(&sid(), riley, "hi").await;
    assert!(!back.messages().is_empty(), "the bot answers again");
    let (tags, by, disposition): (String, String, String) =
        sqlx::query_as("select tags, resolved_by, disposition from ticket where ticket_id = $1")
            .bind(&ticket)
            .fetch_one(app.state.store.pool())
            .await
            .unwrap();
    assert!(tags.contains("order status") && tags.contains("human requested"), "{tags}");
    assert_eq!((by.as_str(), disposition.as_str()), ("cam", "resolved"));
    assert_eq!(
        app.count("select count(*) from message where body like '%Asked about pickup%'").await,
        0,
        "notes stay inside"
    );
}

#[tokio::test]
async fn a_customer_who_opted_out_cannot_be_texted_from_the_console_and_it_says_why() {
    let app = spawn_app().await;
    person(&app, "cam@shop.test", &[Role::Csr]).await;
    let cam = sign_in(&app, "cam@shop.test").await;
    let ticket = hand_off(&app, "+15555550102").await;
    let path = format!("/console/tickets/{ticket}");
    assert_eq!(cam.post(&format!("{path}/claim"), &[]).await.status, 303);
    app.sms(&sid(), "+15555550102", "STOP").await;
    let refused = cam.post(&format!("{path}/reply"), &[("text", "Are you still there?")]).await;
    assert_eq!(refused.status, 422);
    assert!(
        refused.body.contains("This customer cannot be texted: the number opted out of our messages."),
        "{}",
        refused.body
    );
    assert_eq!(app.count("select count(*) from outbox where body = 'Are you still there?'").await, 0);
}

/// Reads an event stream for up to 5 s until it mentions `needle`: whether it did, and what
/// came.
async fn read_until<B: AsRef<[u8]>>(
    stream: &mut (impl futures_util::Stream<Item = reqwest::Result<B>> + Unpin),
    needle: &str,
) -> (bool, String) {
    let mut seen = String::new();
    let got = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(chunk) = stream.next().await {
            seen.push_str(&String::from_utf8_lossy(chunk.unwrap().as_ref()));
            if seen.contains(needle) {
                return;
            }
        }
    })
    .await;
    (got.is_ok(), seen)
}

#[tokio::test]
async fn a_hand_off_reaches_an_open_console_at_once() {
    let app = spawn_app().await;
    person(&app, "cam@shop.test", &[Role::Csr]).await;
    let cam = sign_in(&app, "cam@shop.test").await;
    let resp = cam.client.get(app.url("/console/events")).header("cookie", &cam.cookie).send().await.unwrap();
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let mut stream = resp.bytes_stream();
    let ticket = hand_off(&app, "+15555550102").await;
    let (got, seen) = read_until(&mut stream, &ticket).await;
    assert!(got, "no event for the hand-off: {seen:?}");
    assert!(seen.contains("event: queue") && seen.contains(r#""kind":"opened""#), "{seen}");
}

#[tokio::test]
#[ignore = "PostgreSQL only; scripts/test runs it with --include-ignored"]
async fn a_hand_off_on_one_server_reaches_a_console_on_another() {
    // Two server processes share one database: the feed goes through NOTIFY/LISTEN.
    require_postgres();
    let first = spawn_app().await;
    let second = spawn_with(Options { database_url: Some(first.database_url.clone()), ..Options::default() }).await;
    person(&second, "cam@shop.test", &[Role::Csr]).await;
    let cam = sign_in(&second, "cam@shop.test").await;
    let resp = cam.client.get(second.url("/console/events")).header("cookie", &cam.cookie).send().await.unwrap();
    let mut stream = resp.bytes_stream();
    // The listener needs a moment to start listening after the server starts.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let ticket = hand_off(&first, "+15555550102").await;
    let (got, seen) = read_until(&mut stream, &ticket).await;
    assert!(got, "the other server's console heard nothing: {seen:?}");
}

#[tokio::test]
async fn the_user_command_reads_the_password_from_standard_input_and_refuses_a_weak_one() {
    use std::io::Write as _;
    let app = spawn_app().await;
    let add = |password: &'static str| {
        let mut child = app
            .command()
            .args(["user", "add", "--email", "Dee@Shop.test", "--role", "csr", "--role", "verification"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(format!("{password}\n").as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    };
    let weak = add("password2024!");
    assert!(!weak.status.success());
    assert!(String::from_utf8_lossy(&weak.stderr).contains("one of the most common passwords"), "{weak:?}");
    let ok = add(PASSWORD);
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    assert!(String::from_utf8_lossy(&ok.stdout).contains("added dee@shop.test (csr, verification)"), "{ok:?}");
    let list = app.command().args(["user", "list"]).output().unwrap();
    assert!(
        String::from_utf8_lossy(&list.stdout).contains("dee@shop.test\tdee\tcsr, verification\tactive"),
        "{list:?}"
    );
    let stored: (String,) =
        sqlx::query_as("select password_hash from staff_user").fetch_one(app.state.store.pool()).await.unwrap();
    assert!(stored.0.starts_with("$argon2id$") && !stored.0.contains(PASSWORD));
    assert_eq!(sign_in_page(&app, "dee@shop.test", PASSWORD).await.status, 303);
}

#[tokio::test]
async fn a_ticket_shows_details_masks_personal_data_and_reveals_it_only_with_a_reason() {
    let app = spawn_app().await;
    person(&app, "ira@shop.test", &[Role::It]).await;
    let ira = sign_in(&app, "ira@shop.test").await;
    let alex = "+15555550100";
    app.sms(&sid(), alex, "the website says OG Kush is out of stock but the store has it").await;
    app.sms(&sid(), alex, "og kush").await;
    let open = leafdesk::store::tickets::list_open(&app.state.store).await.unwrap();
    let ticket = open.iter().find(|t| t.queue == "it").expect("an IT report").ticket_id.clone();
    let path = format!("/console/tickets/{ticket}");
    let view = ira.get(&path).await;
    assert_eq!(view.status, 200);
    // What the bot knew, as details; the customer's profile and orders; the phone masked.
    assert!(view.body.contains("OG Kush 28 g"), "details name the product");
    assert!(view.body.contains("LD-1001"), "the customer's orders");
    let at = view.body.find(alex).map(|i| &view.body[i.saturating_sub(200)..(i + 60).min(view.body.len())]);
    assert!(view.body.contains("+1••••••0100") && at.is_none(), "the phone is masked: {at:?}");
    assert!(view.body.contains("Copy as report"));
    // Canned replies, filled in for Alex, once the ticket is Ira's.
    assert_eq!(ira.post(&format!("{path}/claim"), &[]).await.status, 303);
    let mine = ira.get(&path).await.body;
    assert!(mine.contains("Hi Alex, this is ira at Demo Dispensary."), "a canned greeting filled in");
    assert!(mine.contains("Your order LD-1001 is"), "a canned order update filled in");
    // Revealing needs a reason and is audited; a recommendation number is not IT's to see.
    let no_reason = ira.post(&format!("{path}/reveal"), &[("field", "phone"), ("reason", "")]).await;
    assert_eq!(no_reason.status, 422);
    let medical =
        ira.post(&format!("{path}/reveal"), &[("field", "recommendation_number"), ("reason", "curious")]).await;
    assert_eq!(medical.status, 403);
    let shown =
        ira.post(&format!("{path}/reveal"), &[("field", "phone"), ("reason", "calling the customer back")]).await;
    assert_eq!(shown.status, 200);
    assert!(shown.body.contains(alex), "the phone, revealed");
    let (actor, detail): (String, String) =
        sqlx::query_as("select actor, detail from audit_event where action = 'pii_revealed'")
            .fetch_one(app.state.store.pool())
            .await
            .unwrap();
    assert_eq!(actor, "ira@shop.test");
    assert!(detail.contains("calling the customer back") && detail.contains("\"field\":\"phone\""), "{detail}");
    assert!(!ira.get(&path).await.body.contains(alex), "masked again on the next view");
}

#[tokio::test]
async fn verification_staff_review_a_medical_document_in_the_browser() {
    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01 a new recommendation";
    let app = spawn_app().await;
    person(&app, "val@shop.test", &[Role::Verification]).await;
    person(&app, "cam@shop.test", &[Role::Csr]).await;
    // Casey's recommendation expired: the bot locks checkout and texts a link; Casey uploads.
    let reply = app.sms(&sid(), "+15555550105", "my medical recommendation expired").await.text();
    let link = reply[reply.find("/u/").expect("an upload link")..].split_whitespace().next().unwrap().to_owned();
    let part = reqwest::multipart::Part::bytes(PNG.to_vec()).file_name("rec.png").mime_str("image/png").unwrap();
    let sent = app
        .client
        .post(app.url(&link))
        .multipart(reqwest::multipart::Form::new().part("document", part))
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 200);
    let (upload_id, ticket): (String, String) =
        sqlx::query_as("select upload_id, ticket_id from upload").fetch_one(app.state.store.pool()).await.unwrap();
    // The reviewer sees the document in the ticket; a CSR may not open it at all.
    let val = sign_in(&app, "val@shop.test").await;
    let view = val.get(&format!("/console/tickets/{ticket}")).await;
    assert_eq!(view.status, 200);
    assert!(view.body.contains(&format!("<img src=\"/console/uploads/{upload_id}\"")), "shown inline");
    let document = val
        .client
        .get(app.url(&format!("/console/uploads/{upload_id}")))
        .header("cookie", &val.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(document.headers()["content-type"], "image/png");
    assert_eq!(document.headers()["cache-control"], "no-store");
    assert_eq!(document.bytes().await.unwrap().as_ref(), PNG, "decrypted for the reviewer");
    let cam = sign_in(&app, "cam@shop.test").await;
    assert_eq!(cam.get(&format!("/console/uploads/{upload_id}")).await.status, 403);
    assert_eq!(app.count("select count(*) from audit_event where action = 'document_viewed'").await, 1);
    // Approving runs the whole workflow: checkout unlocks, held orders resume, Casey is told.
    let approved = val
        .post(&format!("/console/uploads/{upload_id}/review"), &[("decision", "approve"), ("expires_on", "2027-12-31")])
        .await;
    assert_eq!((approved.status, approved.location.as_str()), (303, format!("/console/tickets/{ticket}").as_str()));
    let status: (String, Option<String>) = sqlx::query_as(
        "select verification_status, recommendation_expires_on from customer where customer_id = 'cus_casey'",
    )
    .fetch_one(app.state.store.pool())
    .await
    .unwrap();
    assert_eq!(status, ("verified".to_owned(), Some("2027-12-31".to_owned())));
    assert_eq!(app.count("select count(*) from customer_order where status = 'on_hold'").await, 0);
    assert_eq!(app.count("select count(*) from outbox where to_phone = '+15555550105'").await, 1, "Casey is told");
    assert_eq!(
        app.count(&format!("select count(*) from ticket where ticket_id = '{ticket}' and status = 'open'")).await,
        0
    );
    let twice = val.post(&format!("/console/uploads/{upload_id}/review"), &[("decision", "approve")]).await;
    assert_eq!(twice.status, 422, "a second decision finds nothing waiting");
}

#[tokio::test]
async fn the_ticket_command_names_tickets_by_short_ids_and_says_who_spoke() {
    let app = spawn_app().await;
    let run = |args: &[&str]| {
        let out = app.command().arg("ticket").args(args).output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let alex = "+15555550100";
    app.sms(&sid(), alex, "I want to talk to a person").await;
    app.sms(&sid(), "+15555550102", "I want to talk to a person").await;
    let open = leafdesk::store::tickets::list_open(&app.state.store).await.unwrap();
    let mine = open.iter().find(|t| t.phone == alex).unwrap().ticket_id.clone();
    leafdesk::store::tickets::queue_reply(&app.state.store, &mine, "Hi Alex, Jo here.", "Jo").await.unwrap();
    app.clock().advance(3 * 60_000);
    app.sms(&sid(), alex, "thanks, one more thing").await;

    let (ok, list, err) = run(&["list"]);
    assert!(ok, "{err}");
    assert!(list.starts_with("ID "), "a header: {list}");
    let row = list.lines().find(|l| l.contains("Alex")).unwrap_or_else(|| panic!("Alex's ticket: {list}"));
    assert!(
        row.contains("general") && row.contains("3 min") && row.contains(" sms ") && row.contains("+1••••••0100"),
        "{row}"
    );
    assert!(!list.contains(alex), "phones are masked: {list}");
    // One new message: the customer's last; the reply Jo queued is not the customer's.
    let short = row.split_whitespace().next().unwrap();
    assert!(short.len() >= 8 && short.len() < 36 && mine.starts_with(short), "{short} for {mine}");
    assert!(row.split("+1••••••0100").nth(1).unwrap().split_whitespace().nth(1) == Some("1"), "one unanswered: {row}");

    let (ok, show, err) = run(&["show", short]);
    assert!(ok, "{err}");
    assert!(show.contains("customer: I want to talk to a person"), "{show}");
    assert!(show.contains("Jo: Hi Alex, Jo here. [pending]"), "the reply waiting in the outbox, as Jo's: {show}");
    assert!(!show.contains("customer: Hi Alex"), "{show}");
    assert!(show.contains("bot: I'm connecting you"), "the bot's words as the bot's: {show}");
    assert!(show.contains("1 unanswered") && !show.contains(alex), "{show}");

    // A prefix two tickets share, a made-up id and an unknown queue are refused, saying why.
    let shared: String = mine.chars().take(4).collect();
    let (ok, _, err) = run(&["show", &shared]);
    assert!(!ok && err.contains("more than one"), "{err}");
    let (ok, _, err) = run(&["show", "ffffffff"]);
    assert!(!ok && err.contains("no ticket ffffffff"), "{err}");
    let (ok, _, err) = run(&["list", "--queue", "billing"]);
    assert!(!ok && err.contains("the queues are general, payments"), "{err}");
    let (ok, list, _) = run(&["list", "--queue", "payments"]);
    assert!(ok && list.trim() == "no open tickets", "{list}");
    let (ok, out, err) = run(&["resolve", short]);
    assert!(ok && out.contains(&mine), "{err}");
}

#[tokio::test]
async fn queue_filters_see_every_open_ticket_sla_and_snooze_included_and_the_count_is_the_whole_queue() {
    let app = spawn_app().await;
    person(&app, "cam@shop.test", &[Role::Csr]).await;
    let cam = sign_in(&app, "cam@shop.test").await;
    let minute = 60_000;
    let mut ids = Vec::new();
    for (phone, wait) in [("+15555550170", 50), ("+15555550171", 6), ("+15555550172", 5)] {
        app.sms(&sid(), phone, "I want to talk to a person").await;
        let open = leafdesk::store::tickets::list_open(&app.state.store).await.unwrap();
        ids.push(open.iter().find(|t| t.phone == phone).unwrap().ticket_id.clone());
        app.clock().advance(wait * minute);
    }
    // Now: the first waited 61 min of its 60 (late), the second 11, the third 5.
    let (late, snoozed, answered) = (&ids[0], &ids[1], &ids[2]);
    for id in [snoozed, answered] {
        assert_eq!(cam.post(&format!("/console/tickets/{id}/claim"), &[]).await.status, 303);
    }
    assert_eq!(cam.post(&format!("/console/tickets/{answered}/reply"), &[("text", "Hi, Cam here.")]).await.status, 303);
    assert_eq!(cam.post(&format!("/console/tickets/{snoozed}/snooze"), &[("minutes", "60")]).await.status, 303);
    let shown = |body: &str| -> Vec<&str> {
        ids.iter().filter(|id| body.contains(&format!("data-ticket=\"{id}\""))).map(String::as_str).collect()
    };
    let all = cam.get("/console").await;
    assert_eq!(shown(&all.body), [late.as_str(), answered.as_str()], "the snoozed ticket waits");
    assert!(all.body.contains(r#"id="count">2<"#), "{}", all.body);
    let with_snoozed = cam.get("/console?snoozed=1").await;
    assert_eq!(shown(&with_snoozed.body).len(), 3);
    assert_eq!(shown(&cam.get("/console?sla=late").await.body), [late.as_str()]);
    assert_eq!(shown(&cam.get("/console?sla=answered").await.body), [answered.as_str()]);
    let ok = cam.get("/console?sla=ok&snoozed=1").await;
    assert_eq!(shown(&ok.body), [snoozed.as_str()]);
    assert!(ok.body.contains(r#"id="count">1<"#));
    assert_eq!(shown(&cam.get("/console?sla=late&mine=1").await.body), Vec::<&str>::new());
    app.clock().advance(40 * minute);
    // 9 min left of the snoozed ticket's 60 (still snoozed for 20 min).
    assert_eq!(shown(&cam.get("/console?sla=soon&snoozed=1").await.body), [snoozed.as_str()]);
    app.clock().advance(20 * minute);
    assert_eq!(shown(&cam.get("/console").await.body).len(), 3, "the snooze is over");
}
