//! The web opt-in form and double opt-in: step 1 on the web (disclosure, IP, user agent), step
//! 2 by replying YES by text after the confirmation text went out; both steps end up in the
//! consent ledger's evidence. And what abuse of the form gets: nothing sent.

use crate::helpers::*;

const GOOD: &str = "phone=%28415%29+555-0190&agree=yes&disclosure_version=marketing-2026-11";

/// The form's token, as a browser gets it with the page.
async fn form_token(app: &TestApp) -> String {
    let page = app.client.get(app.url("/consent/optin")).send().await.unwrap().text().await.unwrap();
    let start = page.find("name=\"form_token\" value=\"").expect("the form carries a token") + 25;
    page[start..].split('"').next().unwrap().to_owned()
}

async fn post_form_with(app: &TestApp, body: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let mut req =
        app.client.post(app.url("/consent/optin")).header("content-type", "application/x-www-form-urlencoded");
    if !headers.iter().any(|(name, _)| *name == "user-agent") {
        req = req.header("user-agent", "TestBrowser/1.0");
    }
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let resp = req.body(body.to_owned()).send().await.unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

/// Posts the form as the page would (with a fresh token).
async fn post_form(app: &TestApp, body: &str) -> (u16, String) {
    let body = format!("{body}&form_token={}", form_token(app).await);
    post_form_with(app, &body, &[]).await
}

async fn marketing_opted_in(app: &TestApp, phone: &str) -> bool {
    leafdesk::store::consent::current(&app.state.store, phone).await.unwrap().marketing_opted_in
}

/// The confirmation text to `phone`, once the outbox worker sent it.
async fn confirmation_sent(app: &TestApp, phone: &str) -> String {
    let rows = leafdesk::store::outbox::list(&app.state.store, 50).await.unwrap();
    let row = rows.into_iter().find(|r| r.to_phone == phone).expect("a confirmation text is queued");
    wait_for_status(app, &row.outbox_id, "sent").await.body
}

#[tokio::test]
async fn the_form_rejects_bad_input_with_a_clear_message_and_stores_nothing() {
    let app = spawn_app().await;
    let page = app.client.get(app.url("/consent/optin")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Consent is not a condition of any purchase") && page.contains("Demo Dispensary"), "{page}");
    for (body, says) in [
        ("phone=4155550190&agree=yes", "missing its disclosure version"),
        ("phone=4155550190&agree=yes&disclosure_version=marketing-1999", "out of date"),
        ("phone=12&agree=yes&disclosure_version=marketing-2026-11", "Enter your mobile number"),
        ("phone=4155550190&disclosure_version=marketing-2026-11", "Check the box"),
    ] {
        let (status, page) = post_form(&app, body).await;
        assert_eq!(status, 400, "{body}");
        assert!(page.contains(says), "{body}: {page}");
    }
    assert_eq!(app.count("select count(*) from consent_request").await, 0);
    assert_eq!(app.count("select count(*) from outbox").await, 0);
}

#[tokio::test]
async fn web_form_then_yes_records_a_marketing_opt_in_with_both_steps() {
    let (app, _twilio) = app_with(vec![]).await;
    let (status, page) = post_form(&app, GOOD).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Reply <strong>YES</strong>"), "{page}");
    assert!(confirmation_sent(&app, "+14155550190").await.contains("reply YES to confirm"));
    assert!(!marketing_opted_in(&app, "+14155550190").await, "not before YES");

    let yes_sid = sid();
    let reply = app.sms(&yes_sid, "+14155550190", "Yes").await;
    assert!(reply.text().contains("subscribed to Demo Dispensary offers"), "{}", reply.text());
    assert!(marketing_opted_in(&app, "+14155550190").await);
    let history = leafdesk::store::consent::history(&app.state.store, "+14155550190").await.unwrap();
    let event = history.iter().find(|e| e.purpose == "marketing").expect("marketing opt-in");
    assert_eq!((event.action.as_str(), event.source.as_str()), ("opt_in", "web_form"));
    let evidence: serde_json::Value = serde_json::from_str(&event.evidence).unwrap();
    assert_eq!(evidence["request"]["user_agent"], "TestBrowser/1.0");
    assert_eq!(evidence["request"]["ip"], "127.0.0.1");
    assert_eq!(evidence["request"]["disclosure_version"], "marketing-2026-11");
    assert!(evidence["request"]["disclosure_text"].as_str().unwrap().contains("from Demo Dispensary"));
    assert_eq!(evidence["confirmation"]["text"], "Yes");
    assert_eq!(evidence["confirmation"]["message_sid"], yes_sid.as_str(), "the confirming MessageSid");
    // A second YES is an ordinary answer again.
    let again = app.sms(&sid(), "+14155550190", "yes").await;
    assert!(!again.text().contains("subscribed"), "{}", again.text());
}

#[tokio::test]
async fn a_yes_before_the_confirmation_text_went_out_confirms_nothing() {
    let app = spawn_app().await; // no outbox worker: the text waits in the outbox
    assert_eq!(post_form(&app, GOOD).await.0, 200);
    let reply = app.sms(&sid(), "+14155550190", "YES").await;
    assert!(!reply.text().contains("subscribed"), "{}", reply.text());
    assert!(!marketing_opted_in(&app, "+14155550190").await);
}

#[tokio::test]
async fn a_yes_answering_a_flows_question_is_the_flows_answer_not_a_subscription() {
    let (app, _twilio) = app_with(vec![]).await;
    let sam = "+15555550103";
    let body = "phone=%2B15555550103&agree=yes&disclosure_version=marketing-2026-11";
    assert_eq!(post_form(&app, body).await.0, 200);
    confirmation_sent(&app, sam).await;
    app.sms(&sid(), sam, "my card got declined").await;
    let asked = app.sms(&sid(), sam, "1").await; // no bank link configured: "pay at pickup instead?"
    assert!(!asked.text().is_empty());
    let answer = app.sms(&sid(), sam, "yes").await;
    assert!(answer.text().contains("pay at pickup"), "the flow got its answer: {}", answer.text());
    assert!(!answer.text().contains("subscribed"), "{}", answer.text());
    assert!(!marketing_opted_in(&app, sam).await);
}

#[tokio::test]
async fn a_yes_typed_in_web_chat_confirms_nothing() {
    let (app, _twilio) = app_with(vec![]).await;
    let secret = integration(&app).await;
    let sam = "+15555550103";
    assert_eq!(post_form(&app, "phone=%2B15555550103&agree=yes&disclosure_version=marketing-2026-11").await.0, 200);
    confirmation_sent(&app, sam).await;
    let link = crate::webchat::link(&secret, "cus_sam", app.now_secs());
    let mut message = link.clone();
    message["id"] = serde_json::json!("m1");
    message["text"] = serde_json::json!("YES");
    let resp = app.client.post(app.url("/api/v1/chat/messages")).json(&message).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(!resp.text().await.unwrap().contains("subscribed"));
    assert!(!marketing_opted_in(&app, sam).await, "no text came from the phone");
}

#[tokio::test]
async fn a_foreign_origin_or_a_missing_forged_or_stale_token_is_refused_and_nothing_is_sent() {
    let app = spawn_app().await;
    let token = form_token(&app).await;
    let with = |t: &str| format!("{GOOD}&form_token={t}");
    let forged = format!("form{}.{}", app.now_secs(), "0".repeat(32));
    let cases = [
        ("another site's page", with(&token), vec![("origin", "https://evil.example")], 403),
        ("no token", GOOD.to_owned(), vec![], 403),
        ("a forged token", with(&forged), vec![], 403),
    ];
    for (why, body, headers, status) in cases {
        let (got, page) = post_form_with(&app, &body, &headers).await;
        assert_eq!(got, status, "{why}: {page}");
    }
    app.clock().advance(3 * 3_600_000);
    let (got, page) = post_form_with(&app, &with(&token), &[]).await;
    assert_eq!(got, 403, "a token three hours old");
    assert!(page.contains("expired. Reload the page"), "{page}");
    assert_eq!(app.count("select count(*) from consent_request").await, 0);
    assert_eq!(app.count("select count(*) from outbox").await, 0);
    // Our own page's origin is fine.
    let ours = [("origin", PUBLIC_URL)];
    let body = with(&form_token(&app).await);
    assert_eq!(post_form_with(&app, &body, &ours).await.0, 200);
}

#[tokio::test]
async fn thirty_sign_ups_for_one_number_send_one_text_and_one_network_is_limited() {
    let app = spawn_app().await;
    for _ in 0..30 {
        let (status, _) = post_form(&app, GOOD).await;
        assert!(status == 200 || status == 429, "{status}");
    }
    assert_eq!(app.count("select count(*) from outbox where to_phone = '+14155550190'").await, 1);
    assert_eq!(app.count("select count(*) from consent_request").await, 1);
    // Five different numbers from one address in an hour, then no more.
    for n in 1..=5 {
        let body = format!("phone=415555020{n}&agree=yes&disclosure_version=marketing-2026-11");
        let (status, page) = post_form(&app, &body).await;
        assert_eq!(status, if n < 5 { 200 } else { 429 }, "request {n}: {page}");
    }
    let (_, page) = post_form(&app, "phone=4155550299&agree=yes&disclosure_version=marketing-2026-11").await;
    assert!(page.contains("Too many sign-ups came from your network"), "{page}");
    assert_eq!(app.count("select count(*) from consent_request").await, 5);
}

#[tokio::test]
async fn evidence_ignores_a_strangers_forwarded_for_and_is_capped() {
    let app = spawn_app().await;
    let body = format!("{GOOD}&form_token={}", form_token(&app).await);
    let huge_agent = "A".repeat(7000);
    let headers = [("x-forwarded-for", "198.51.100.23"), ("user-agent", huge_agent.as_str())];
    assert_eq!(post_form_with(&app, &body, &headers).await.0, 200);
    let (ip, agent): (String, String) =
        sqlx::query_as("select ip, user_agent from consent_request").fetch_one(app.state.store.pool()).await.unwrap();
    assert_eq!(ip, "127.0.0.1", "the peer, not what the client claims");
    assert_eq!(agent.len(), 512);
}
