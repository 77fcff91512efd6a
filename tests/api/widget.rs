//! The web widget for every visitor over HTTP: anonymous visitor tokens, chatting through the
//! flows with quick replies, history after a reload, a person's reply delivered live over
//! server-sent events (resumed after the last one seen), forged tokens, and who may frame it.

use serde_json::{json, Value};

use crate::helpers::*;

async fn post(app: &TestApp, path: &str, body: &Value) -> (u16, Value) {
    let resp = app.client.post(app.url(path)).json(body).send().await.unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap_or(Value::Null))
}

async fn demo_location(app: &TestApp) -> String {
    let (id,): (String,) =
        sqlx::query_as("select location_id from location").fetch_one(app.state.store.pool()).await.unwrap();
    id
}

/// A new visitor's session: `(token, location id)`.
async fn visit(app: &TestApp) -> (String, String) {
    let location = demo_location(app).await;
    let (status, session) = post(app, "/api/v1/widget/session", &json!({ "location_id": location })).await;
    assert_eq!(status, 200, "{session}");
    (session["visitor"].as_str().unwrap().to_owned(), location)
}

async fn say(app: &TestApp, location: &str, visitor: &str, id: &str, text: &str) -> Value {
    let body = json!({ "location_id": location, "visitor": visitor, "id": id, "text": text });
    let (status, reply) = post(app, "/api/v1/widget/messages", &body).await;
    assert_eq!(status, 200, "{reply}");
    reply
}

#[tokio::test]
async fn an_anonymous_visitor_chats_with_quick_replies_and_finds_the_history_after_a_reload() {
    let app = spawn_app().await;
    let (visitor, location) = visit(&app).await;
    // Nobody can answer a visitor who has not written: no live stream yet (204: do not retry).
    let query = [("location_id", location.as_str()), ("visitor", visitor.as_str()), ("after", "")];
    let early = app.client.get(app.url("/api/v1/widget/events")).query(&query).send().await.unwrap();
    assert_eq!(early.status(), 204);
    let reply = say(&app, &location, &visitor, "m1", "hi").await;
    let menu = &reply["replies"][0];
    assert!(menu["text"].as_str().unwrap().contains("I can help with"), "{reply}");
    let labels: Vec<&str> = menu["choices"].as_array().unwrap().iter().map(|c| c["label"].as_str().unwrap()).collect();
    assert_eq!(labels[..2], ["Where's my order?", "A declined payment"], "{reply}");
    assert_eq!(menu["choices"][1]["value"], "2");
    // Choosing a quick reply sends its number.
    let chosen = say(&app, &location, &visitor, "m2", "2").await;
    assert!(!chosen["replies"].as_array().unwrap().is_empty(), "{chosen}");
    let retry = say(&app, &location, &visitor, "m2", "2").await;
    assert_eq!(retry["duplicate"], true);
    let texts = |r: &Value| r["replies"].as_array().unwrap().iter().map(|f| f["text"].clone()).collect::<Vec<_>>();
    assert_eq!(texts(&retry), texts(&chosen), "a retry gets the first answer");

    // The next day the visitor comes back with the same token: the conversation is there.
    let (status, again) =
        post(&app, "/api/v1/widget/session", &json!({ "location_id": location, "visitor": visitor })).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["visitor"], visitor.as_str());
    let history: Vec<(&str, &str)> = again["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["from"].as_str().unwrap(), m["text"].as_str().unwrap()))
        .collect();
    assert_eq!(history.len(), 4, "{again}");
    assert_eq!(history[0], ("me", "hi"));
    assert_eq!(history[1].0, "bot");
    assert_eq!(history[2], ("me", "A declined payment"), "a pressed quick reply shows as its label");
    assert_eq!(again["cursor"], again["messages"][3]["id"]);
    // Visitors are keyed by their token, never given a phone: nothing was queued to text them.
    assert_eq!(app.count("select count(*) from contact where phone like 'web:%'").await, 1);
    assert_eq!(app.count("select count(*) from outbox").await, 0);
}

#[tokio::test]
async fn a_forged_or_altered_visitor_token_and_an_unknown_location_are_refused() {
    let app = spawn_app().await;
    let (visitor, location) = visit(&app).await;
    let (id, mac) = visitor.rsplit_once('.').unwrap();
    let other_visitor = format!("visitor:{location}:{}", "0".repeat(32));
    for (why, token) in [
        ("a changed id", format!("{}{}.{mac}", &id[..id.len() - 1], if id.ends_with('1') { '2' } else { '1' })),
        ("a made-up token", format!("{other_visitor}.{}", "ab".repeat(16))),
        ("not a token", "hello".to_owned()),
    ] {
        let (status, body) =
            post(&app, "/api/v1/widget/session", &json!({ "location_id": location, "visitor": token })).await;
        assert_eq!(status, 401, "{why}: {body}");
        assert_eq!(body["error"]["code"], "bad_visitor", "{why}");
        let said = json!({ "location_id": location, "visitor": token, "id": "x", "text": "hi" });
        assert_eq!(post(&app, "/api/v1/widget/messages", &said).await.0, 401, "{why}");
    }
    let (status, body) = post(&app, "/api/v1/widget/session", &json!({ "location_id": "nope" })).await;
    assert_eq!(status, 404, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("data-location"), "{body}");
    let empty = json!({ "location_id": location, "visitor": visitor, "id": "x", "text": "   " });
    assert_eq!(post(&app, "/api/v1/widget/messages", &empty).await.0, 422);
    assert_eq!(app.count("select count(*) from message").await, 0, "nothing stored");
}

/// Reads server-sent events from `resp` until `count` `message` events arrived: their ids and data.
async fn events(resp: &mut reqwest::Response, count: usize) -> Vec<(String, Value)> {
    let mut buffer = String::new();
    let mut out = Vec::new();
    while out.len() < count {
        let chunk = tokio::time::timeout(std::time::Duration::from_secs(10), resp.chunk())
            .await
            .expect("an event within 10 s")
            .unwrap()
            .expect("the stream stays open");
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            let field = |name: &str| block.lines().find_map(|l| l.strip_prefix(name)).map(|v| v.trim().to_owned());
            if field("event:").as_deref() == Some("message") {
                out.push((field("id:").unwrap(), serde_json::from_str(&field("data:").unwrap()).unwrap()));
            }
        }
    }
    out
}

#[tokio::test]
async fn a_persons_reply_reaches_an_open_widget_live_and_a_reconnect_shows_nothing_twice() {
    let app = spawn_app().await;
    let (visitor, location) = visit(&app).await;
    say(&app, &location, &visitor, "m1", "I want to talk to a person").await;
    let (ticket,): (String,) = sqlx::query_as("select ticket_id from ticket where status = 'open'")
        .fetch_one(app.state.store.pool())
        .await
        .unwrap();
    let (_, session) =
        post(&app, "/api/v1/widget/session", &json!({ "location_id": location, "visitor": visitor })).await;
    let cursor = session["cursor"].as_str().unwrap().to_owned();
    let query = [("location_id", location.as_str()), ("visitor", visitor.as_str()), ("after", cursor.as_str())];
    let mut live = app.client.get(app.url("/api/v1/widget/events")).query(&query).send().await.unwrap();
    assert_eq!(live.status(), 200);
    assert!(live.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));

    leafdesk::store::tickets::queue_reply(&app.state.store, &ticket, "Hi! Cam here, how can I help?", "Cam Lee")
        .await
        .unwrap()
        .unwrap();
    let got = events(&mut live, 1).await;
    assert_eq!(got[0].1["text"], "Hi! Cam here, how can I help?");
    assert_eq!(got[0].1["from"], "staff");
    assert_eq!(got[0].1["author"], "Cam", "a person's reply carries their first name");
    drop(live);

    // The window was closed; a second reply comes while it is. Reopening (Last-Event-ID: the
    // last one seen) brings only the new one.
    leafdesk::store::tickets::queue_reply(&app.state.store, &ticket, "Are you still there?", "Cam Lee")
        .await
        .unwrap()
        .unwrap();
    let mut again = app
        .client
        .get(app.url("/api/v1/widget/events"))
        .query(&query)
        .header("last-event-id", &got[0].0)
        .send()
        .await
        .unwrap();
    let next = events(&mut again, 1).await;
    assert_eq!(next[0].1["text"], "Are you still there?");
    assert!(next[0].0 > got[0].0, "ordered by id");

    let forged = [("location_id", location.as_str()), ("visitor", "visitor:x.00"), ("after", "")];
    let refused = app.client.get(app.url("/api/v1/widget/events")).query(&forged).send().await.unwrap();
    assert_eq!(refused.status(), 401);
}

#[tokio::test]
async fn only_the_stores_own_sites_may_frame_the_widget_and_the_tag_script_is_served() {
    let shop = ("LEAFDESK_CHAT_EMBED_ORIGINS", "https://shop.example.test".to_owned());
    let app = spawn_with(Options { env: vec![shop], ..Options::default() }).await;
    let location = demo_location(&app).await;
    let page = app.client.get(app.url(&format!("/widget?location={location}&lang=es-MX"))).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.contains("frame-ancestors 'self' https://shop.example.test"), "{csp}");
    let html = page.text().await.unwrap();
    assert!(html.contains("Escriba un mensaje") && html.contains("lang=\"es\""), "in the visitor's language");
    // Other pages still refuse every frame.
    let home = app.client.get(app.url("/console/login")).send().await.unwrap();
    assert!(home.headers()["content-security-policy"].to_str().unwrap().contains("frame-ancestors 'none'"));
    let plain = spawn_app().await;
    let page = plain.client.get(plain.url(&format!("/widget?location={location}"))).send().await.unwrap();
    let csp = page.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(
        csp.contains("frame-ancestors 'self';") || csp.ends_with("frame-ancestors 'self'"),
        "only our demo site: {csp}"
    );
    let unknown = app.client.get(app.url("/widget?location=nope")).send().await.unwrap();
    assert_eq!(unknown.status(), 404);

    let script = app.client.get(app.url("/widget.js")).send().await.unwrap();
    assert!(script.headers()["content-type"].to_str().unwrap().starts_with("text/javascript"));
    assert!(script.text().await.unwrap().contains("data-location"));
}

#[tokio::test]
async fn a_visitor_the_store_signs_in_keeps_the_conversation_and_is_answered_as_the_customer() {
    let app = spawn_app().await;
    let secret = integration(&app).await;
    let (visitor, location) = visit(&app).await;
    say(&app, &location, &visitor, "m1", "hi").await;
    let sam = crate::webchat::link(&secret, "cus_sam", app.now_secs());
    let body = json!({ "location_id": location, "visitor": visitor, "link": sam });
    let (status, session) = post(&app, "/api/v1/widget/session", &body).await;
    assert_eq!(status, 200, "{session}");
    assert_eq!(session["signed_in"], true);
    let token = session["visitor"].as_str().unwrap().to_owned();
    assert_ne!(token, visitor, "a customer's token, not the visitor's");
    assert_eq!(session["messages"][0]["text"], "hi", "what they said before signing in came along: {session}");
    // Now the bot knows whose orders to talk about.
    let reply = say(&app, &location, &token, "m2", "where is my order").await;
    assert!(reply["replies"][0]["text"].as_str().unwrap().contains("LD-1004"), "{reply}");
    let on_sams = "select count(*) from message m join conversation v on v.conversation_id = m.conversation_id
        join contact c on c.contact_id = v.contact_id where c.phone = '+15555550103' and v.channel = 'web'";
    assert_eq!(app.count(on_sams).await, 4, "hi, the menu, the question, the answer");

    // A visitor who typed STOP and then signs in: their number gets no texts either.
    let (other, _) = visit(&app).await;
    say(&app, &location, &other, "s1", "STOP").await;
    let alex = crate::webchat::link(&secret, "cus_alex", app.now_secs());
    let body = json!({ "location_id": location, "visitor": other, "link": alex });
    assert_eq!(post(&app, "/api/v1/widget/session", &body).await.0, 200);
    assert!(leafdesk::store::consent::current(&app.state.store, "+15555550100").await.unwrap().opted_out);

    // A stale sign-in is refused; the widget then starts again as a visitor.
    let old = crate::webchat::link(&secret, "cus_sam", app.now_secs() - 13 * 3600);
    let (status, _) = post(&app, "/api/v1/widget/session", &json!({ "location_id": location, "link": old })).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn a_visitor_who_gave_no_number_is_never_texted_a_reply_they_did_not_see() {
    let app = spawn_app().await;
    let (visitor, location) = visit(&app).await;
    say(&app, &location, &visitor, "m1", "I want to talk to a person").await;
    let (ticket,): (String,) = sqlx::query_as("select ticket_id from ticket where status = 'open'")
        .fetch_one(app.state.store.pool())
        .await
        .unwrap();
    leafdesk::store::tickets::queue_reply(&app.state.store, &ticket, "Still there?", "Cam Lee").await.unwrap();
    app.clock().advance(60 * 60_000);
    let texted = leafdesk::chat_fallback::sweep(&app.state.store, &app.state.library, 10 * 60_000).await.unwrap();
    assert_eq!(texted, 0);
    assert_eq!(app.count("select count(*) from outbox").await, 0);
    // It is there when the chat opens again.
    let (_, session) =
        post(&app, "/api/v1/widget/session", &json!({ "location_id": location, "visitor": visitor })).await;
    let last = session["messages"].as_array().unwrap().last().unwrap().clone();
    assert_eq!((last["text"].as_str(), last["author"].as_str()), (Some("Still there?"), Some("Cam")));
}

/// The code in the last text queued to `phone`.
async fn texted_code(app: &TestApp, phone: &str) -> String {
    let (body,): (String,) =
        sqlx::query_as("select body from outbox where to_phone = $1 order by created_at_ms desc limit 1")
            .bind(phone)
            .fetch_one(app.state.store.pool())
            .await
            .unwrap();
    body.split_whitespace()
        .find(|w| w.trim_end_matches('.').len() == 6 && w.trim_end_matches('.').bytes().all(|b| b.is_ascii_digit()))
        .unwrap_or_else(|| panic!("no code in {body:?}"))
        .trim_end_matches('.')
        .to_owned()
}

#[tokio::test]
async fn a_visitor_who_gives_their_number_and_the_texted_code_gets_the_chat_linked_with_evidence() {
    let app = spawn_app().await;
    let (visitor, location) = visit(&app).await;
    say(&app, &location, &visitor, "m1", "hi").await;
    let give = |phone: &str, version: &str| json!({ "location_id": location, "visitor": visitor, "phone": phone, "disclosure_version": version });
    // The disclosure must be the one shown; the number must be a number.
    let (status, body) = post(&app, "/api/v1/widget/phone", &give("(555) 555-0100", "marketing-2026-11")).await;
    assert_eq!(status, 422, "{body}");
    let (status, body) = post(&app, "/api/v1/widget/phone", &give("call me maybe", "chat-texts-2026-12")).await;
    assert_eq!(status, 422, "{body}");
    let (status, body) = post(&app, "/api/v1/widget/phone", &give("(555) 555-0100", "chat-texts-2026-12")).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["masked_phone"], "+1••••••0100");
    let code = texted_code(&app, "+15555550100").await;
    assert!(texted_code(&app, "+15555550100").await.len() == 6);
    let (status, _) = post(&app, "/api/v1/widget/phone", &give("(555) 555-0100", "chat-texts-2026-12")).await;
    assert_eq!(status, 429, "one code a minute");

    let confirm = |code: &str| json!({ "location_id": location, "visitor": visitor, "code": code });
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let (status, body) = post(&app, "/api/v1/widget/phone/confirm", &confirm(wrong)).await;
    assert_eq!((status, body["error"]["code"].as_str()), (422, Some("wrong_code")), "{body}");
    let (status, linked) = post(&app, "/api/v1/widget/phone/confirm", &confirm(&code)).await;
    assert_eq!(status, 200, "{linked}");
    assert_eq!(linked["signed_in"], true);
    let token = linked["visitor"].as_str().unwrap().to_owned();
    // The chat is now Alex's: the bot knows his order, and his earlier words came along.
    let reply = say(&app, &location, &token, "m2", "where is my order").await;
    assert!(reply["replies"][0]["text"].as_str().unwrap().contains("LD-1001"), "{reply}");
    let (_, session) =
        post(&app, "/api/v1/widget/session", &json!({ "location_id": location, "visitor": token })).await;
    assert_eq!(session["messages"][0]["text"], "hi");
    let (source, evidence): (String, String) = sqlx::query_as(
        "select source, evidence from consent_event where phone = '+15555550100' and action = 'opt_in' order by created_at_ms desc limit 1",
    )
    .fetch_one(app.state.store.pool())
    .await
    .unwrap();
    assert_eq!(source, "web_chat");
    assert!(evidence.contains("By giving your number") && evidence.contains("code texted"), "{evidence}");
    // The code works once.
    let (status, body) = post(&app, "/api/v1/widget/phone/confirm", &confirm(&code)).await;
    assert_eq!((status, body["error"]["code"].as_str()), (404, Some("no_code")), "{body}");
}

#[tokio::test]
async fn a_texted_code_expires_and_wrong_codes_run_out() {
    let app = spawn_app().await;
    let (visitor, location) = visit(&app).await;
    let give = json!({ "location_id": location, "visitor": visitor, "phone": "+15555550104", "disclosure_version": "chat-texts-2026-12" });
    assert_eq!(post(&app, "/api/v1/widget/phone", &give).await.0, 202);
    let code = texted_code(&app, "+15555550104").await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let confirm = |code: &str| json!({ "location_id": location, "visitor": visitor, "code": code });
    for _ in 0..5 {
        assert_eq!(post(&app, "/api/v1/widget/phone/confirm", &confirm(wrong)).await.0, 422);
    }
    let (status, body) = post(&app, "/api/v1/widget/phone/confirm", &confirm(&code)).await;
    assert_eq!((status, body["error"]["code"].as_str()), (429, Some("too_many_tries")), "even the right code, now");
    app.clock().advance(11 * 60_000);
    assert_eq!(post(&app, "/api/v1/widget/phone", &give).await.0, 202, "a new code after a minute");
    let fresh = texted_code(&app, "+15555550104").await;
    app.clock().advance(11 * 60_000);
    let (status, body) = post(&app, "/api/v1/widget/phone/confirm", &confirm(&fresh)).await;
    assert_eq!((status, body["error"]["code"].as_str()), (422, Some("code_expired")), "{body}");
}
