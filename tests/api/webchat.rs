//! The web chat widget end to end: the platform signs who is chatting, messages run the same
//! pipeline as SMS (consent words first), consent given in the chat is recorded with its
//! evidence and confirmed by SMS; bad links and bad input are refused and change nothing.

use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

use crate::helpers::*;

const SAM: &str = "+15555550103";

/// The link fields the platform puts in the widget's URL for a signed-in customer.
pub(crate) fn link(secret: &str, customer: &str, ts: i64) -> Value {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{ts}.chat:{customer}").as_bytes());
    json!({ "customer": customer, "ts": ts.to_string(), "sig": format!("v1={}", hex::encode(mac.finalize().into_bytes())) })
}

async fn post(app: &TestApp, path: &str, body: &Value) -> (u16, Value) {
    let resp = app
        .client
        .post(app.url(path))
        .header("content-type", "application/json")
        .header("user-agent", "TestBrowser/1.0")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap_or(Value::Null))
}

async fn say(app: &TestApp, link: &Value, id: &str, text: &str) -> (u16, Value) {
    let mut body = link.clone();
    body["id"] = json!(id);
    body["text"] = json!(text);
    post(app, "/api/v1/chat/messages", &body).await
}

fn replies(body: &Value) -> Vec<String> {
    body["replies"].as_array().unwrap().iter().map(|f| f["text"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn a_signed_in_customer_chats_with_the_bot_and_a_retry_gets_the_first_answer() {
    let app = spawn_app().await;
    let secret = integration(&app).await;
    let sam = link(&secret, "cus_sam", app.now_secs());
    let query =
        format!("/chat?customer=cus_sam&ts={}&sig={}", sam["ts"].as_str().unwrap(), sam["sig"].as_str().unwrap());
    let page = app.client.get(app.url(&query)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("Demo Dispensary") && html.contains("Hi Sam!") && html.contains("Text me offers"), "{html}");

    let (status, body) = say(&app, &sam, "m1", "where is my order").await;
    assert_eq!(status, 200, "{body}");
    let first = replies(&body);
    assert!(first.iter().any(|t| t.contains("LD-1004")), "the order flow answered: {first:?}");
    let (_, again) = say(&app, &sam, "m1", "where is my order").await;
    assert_eq!((replies(&again), again["duplicate"].clone()), (first, json!(true)), "a retried message runs once");
    assert_eq!(
        app.count("select count(*) from conversation c join contact k on k.contact_id = c.contact_id where c.channel = 'web' and k.phone = '+15555550103'").await,
        1
    );
    assert_eq!(app.count("select count(*) from message where direction = 'inbound' and channel = 'web'").await, 1);
}

#[tokio::test]
async fn stop_typed_in_the_chat_revokes_consent_with_the_chat_as_its_source() {
    let app = spawn_app().await;
    let secret = integration(&app).await;
    let sam = link(&secret, "cus_sam", app.now_secs());
    let (status, body) = say(&app, &sam, "m1", "please stop texting me").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(replies(&body).len(), 1, "one confirmation: {body}");
    let history = leafdesk::store::consent::history(&app.state.store, SAM).await.unwrap();
    let revoked = history.iter().find(|e| e.action == "opt_out").expect("an opt-out is recorded");
    assert_eq!(revoked.source, "web_chat");
    assert!(revoked.evidence.contains("please stop texting me"), "{}", revoked.evidence);
    assert!(leafdesk::store::consent::current(&app.state.store, SAM).await.unwrap().opted_out);
}

#[tokio::test]
async fn text_offers_asked_in_the_chat_are_confirmed_by_sms_and_recorded_with_both_steps() {
    let (app, _twilio) = app_with(vec![]).await;
    let secret = integration(&app).await;
    let mut ask = link(&secret, "cus_sam", app.now_secs());
    let (status, body) = post(&app, "/api/v1/chat/consent", &ask).await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("missing_disclosure_version")), "{body}");
    // The chat shows the words for what the customer does there: a button, their account's number.
    let page_url =
        format!("/chat?customer=cus_sam&ts={}&sig={}", ask["ts"].as_str().unwrap(), ask["sig"].as_str().unwrap());
    let page = app.client.get(app.url(&page_url)).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("By tapping Text me offers") && page.contains("marketing-chat-2026-12"), "{page}");
    assert!(!page.contains("checking this box") && !page.contains("number above"), "{page}");
    ask["disclosure_version"] = json!("marketing-chat-2026-12");
    let (status, body) = post(&app, "/api/v1/chat/consent", &ask).await;
    assert_eq!(status, 202, "{body}");
    assert!(body["message"].as_str().unwrap().contains("Reply YES"), "{body}");
    let (source, user_agent, text): (String, String, String) =
        sqlx::query_as("select source, user_agent, disclosure_text from consent_request where phone = $1")
            .bind(SAM)
            .fetch_one(app.state.store.pool())
            .await
            .unwrap();
    assert_eq!((source.as_str(), user_agent.as_str()), ("web_chat", "TestBrowser/1.0"));
    assert!(text.contains("Demo Dispensary") && text.starts_with("By tapping Text me offers"), "as shown: {text}");
    assert_eq!(app.count("select count(*) from outbox where to_phone = '+15555550103'").await, 1, "the YES request");
    assert!(!leafdesk::store::consent::current(&app.state.store, SAM).await.unwrap().marketing_opted_in);
    let (request_text,): (String,) = sqlx::query_as("select outbox_id from outbox where to_phone = $1")
        .bind(SAM)
        .fetch_one(app.state.store.pool())
        .await
        .unwrap();
    wait_for_status(&app, &request_text, "sent").await;

    app.sms(&sid(), SAM, "YES").await;
    assert!(leafdesk::store::consent::current(&app.state.store, SAM).await.unwrap().marketing_opted_in);
    let history = leafdesk::store::consent::history(&app.state.store, SAM).await.unwrap();
    let given = history.iter().find(|e| e.purpose == "marketing").expect("marketing opt-in");
    assert_eq!(given.source, "web_chat");
    assert!(given.evidence.contains("TestBrowser/1.0") && given.evidence.contains("YES"), "{}", given.evidence);
}

#[tokio::test]
async fn bad_links_and_bad_messages_are_refused_and_change_nothing() {
    let app = spawn_app().await;
    let secret = integration(&app).await;
    let now = app.now_secs();
    let cases = [
        (link("ldk_wrong", "cus_sam", now), 401, "bad_chat_link"),
        (link(&secret, "cus_sam", now - 13 * 3600), 401, "bad_chat_link"),
        (link(&secret, "cus_sam", now + 3600), 401, "bad_chat_link"),
        (link(&secret, "cus_nobody", now), 404, "unknown_customer"),
    ];
    for (link, status, code) in cases {
        let (got, body) = say(&app, &link, "m1", "hello").await;
        assert_eq!((got, body["error"]["code"].as_str()), (status, Some(code)), "{link}");
    }
    let sam = link(&secret, "cus_sam", now);
    for (id, text, status) in [("m2", "   ", 422), ("", "hi", 422), ("m3", &"x".repeat(1601), 422)] {
        assert_eq!(say(&app, &sam, id, text).await.0, status, "{id:?} {}", text.len());
    }
    assert_eq!(post(&app, "/api/v1/chat/messages", &json!({ "text": "hi" })).await.0, 400);
    let huge = json!({ "customer": "cus_sam", "ts": "1", "sig": "v1=00", "id": "m4", "text": "x".repeat(20_000) });
    assert_eq!(post(&app, "/api/v1/chat/messages", &huge).await.0, 413);
    let expired = format!("/chat?customer=cus_sam&ts={}&sig=v1=00", now - 13 * 3600);
    let page = app.client.get(app.url(&expired)).send().await.unwrap();
    assert_eq!(page.status(), 401);
    assert!(page.text().await.unwrap().contains("This chat link has expired."));
    let bare = app.client.get(app.url("/chat")).send().await.unwrap();
    assert_eq!(bare.status(), 400);
    assert!(bare.text().await.unwrap().contains("when you are signed in"));
    assert_eq!(app.count("select count(*) from message").await, 0, "nothing was stored");
}

#[tokio::test]
async fn after_a_hand_off_the_persons_reply_reaches_the_chat_window_not_a_text() {
    let app = spawn_app().await;
    let secret = integration(&app).await;
    let sam = link(&secret, "cus_sam", app.now_secs());
    let (status, body) = say(&app, &sam, "m1", "I want to talk to a human").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(replies(&body).len(), 1, "one hand-off acknowledgement: {body}");
    let (ticket,): (String,) = sqlx::query_as(
        "select t.ticket_id from ticket t join conversation v on v.conversation_id = t.conversation_id
         where v.channel = 'web' and t.status = 'open'",
    )
    .fetch_one(app.state.store.pool())
    .await
    .unwrap();
    let (_, quiet) = say(&app, &sam, "m2", "are you there?").await;
    assert!(replies(&quiet).is_empty(), "the bot keeps quiet while a person owns the chat: {quiet}");

    let delivery = leafdesk::store::tickets::queue_reply(&app.state.store, &ticket, "Hi Sam, Jo here.", "jo")
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(delivery, leafdesk::store::tickets::Delivery::WebChat(_)), "{delivery:?}");
    assert_eq!(app.count("select count(*) from outbox").await, 0, "no text message for a chat reply");

    let mut ask = sam.clone();
    ask["after"] = json!("");
    let (status, update) = post(&app, "/api/v1/chat/updates", &ask).await;
    assert_eq!(status, 200, "{update}");
    assert_eq!(update["messages"][0]["text"], "Hi Sam, Jo here.");
    ask["after"] = update["cursor"].clone();
    let (_, none) = post(&app, "/api/v1/chat/updates", &ask).await;
    assert_eq!(none["messages"], json!([]), "shown once");
    let other = link(&secret, "cus_alex", app.now_secs());
    let (_, theirs) = post(&app, "/api/v1/chat/updates", &other).await;
    assert_eq!(theirs["messages"], json!([]), "another customer sees none of it");
}

#[tokio::test]
async fn the_chat_link_command_prints_a_link_the_widget_accepts() {
    let app = spawn_app().await;
    integration(&app).await;
    let out = app
        .command()
        .args(["integration", "chat-link", "--name", "shop", "--customer", "cus_sam"])
        .env("LEAFDESK_PUBLIC_URL", "https://chat.example.com")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let url = String::from_utf8(out.stdout).unwrap();
    let path = url.trim().strip_prefix("https://chat.example.com").expect("starts with the public URL");
    let page = app.client.get(app.url(path)).send().await.unwrap();
    assert_eq!(page.status(), 200, "{path}");
    assert!(page.text().await.unwrap().contains("Hi Sam!"));
}

#[tokio::test]
async fn the_chat_link_follows_the_bind_address_when_there_is_no_public_url() {
    let app = spawn_app().await;
    integration(&app).await;
    let out = app
        .command()
        .args(["integration", "chat-link", "--name", "shop", "--customer", "cus_sam"])
        .env("LEAFDESK_BIND", "0.0.0.0:9123")
        .env_remove("LEAFDESK_PUBLIC_URL")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("http://localhost:9123/chat?customer=cus_sam"));
    assert!(String::from_utf8_lossy(&out.stderr).contains("LEAFDESK_PUBLIC_URL is not set"));
}

#[tokio::test]
async fn a_two_megabyte_chat_body_is_refused_while_it_is_read() {
    let app = spawn_app().await;
    let secret = integration(&app).await;
    let mut message = link(&secret, "cus_sam", app.now_secs());
    message["id"] = json!("m1");
    message["text"] = json!("x".repeat(2 * 1024 * 1024));
    let (status, body) = post(&app, "/api/v1/chat/messages", &message).await;
    assert_eq!((status, body["error"]["code"].as_str()), (413, Some("too_large")), "{body}");
    assert_eq!(app.count("select count(*) from message").await, 0);
}

#[tokio::test]
async fn a_spanish_speaking_customer_is_greeted_and_answered_in_spanish_in_the_chat() {
    let app = spawn_app().await;
    let secret = integration(&app).await;
    let marisol = link(&secret, "cus_marisol", app.now_secs());
    let query = format!(
        "/chat?customer=cus_marisol&ts={}&sig={}",
        marisol["ts"].as_str().unwrap(),
        marisol["sig"].as_str().unwrap()
    );
    let html = app.client.get(app.url(&query)).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("¡Hola Marisol! ¿En qué le podemos ayudar?"), "{html}");
    assert!(html.contains(r#"<html lang="es">"#) && html.contains("Escriba un mensaje"), "{html}");
    assert!(!html.contains("How can we help"), "no English beside it: {html}");

    let (_, body) = say(&app, &marisol, "m1", "a que hora cierran hoy").await;
    let answer = replies(&body).join(" ");
    assert!(answer.contains("abre de 9:00 a 21:00"), "the store's hours, in Spanish: {answer}");
}

#[tokio::test]
async fn a_persons_reply_nobody_saw_goes_by_text_after_the_delay_and_a_seen_one_does_not() {
    let app = spawn_app().await;
    let secret = integration(&app).await;
    let sam = link(&secret, "cus_sam", app.now_secs());
    say(&app, &sam, "m1", "I want to talk to a human").await;
    let (ticket,): (String,) = sqlx::query_as("select ticket_id from ticket where status = 'open'")
        .fetch_one(app.state.store.pool())
        .await
        .unwrap();
    let reply = |text: &'static str| {
        let (store, ticket) = (app.state.store.clone(), ticket.clone());
        async move { leafdesk::store::tickets::queue_reply(&store, &ticket, text, "Jo Park").await.unwrap().unwrap() }
    };
    let sweep = || leafdesk::chat_fallback::sweep(&app.state.store, &app.state.library, 10 * 60_000);
    reply("Your refund is on its way.").await;
    assert_eq!(sweep().await.unwrap(), 0, "not yet: the chat may still be open");
    app.clock().advance(11 * 60_000);
    assert_eq!(sweep().await.unwrap(), 1);
    let (to, body): (String, String) =
        sqlx::query_as("select to_phone, body from outbox").fetch_one(app.state.store.pool()).await.unwrap();
    assert_eq!(to, SAM);
    assert_eq!(body, "Jo from Demo Dispensary replied in your chat: Your refund is on its way.");
    assert_eq!(sweep().await.unwrap(), 0, "texted once");

    // A reply the chat window showed is read, and stays in the chat.
    reply("Anything else?").await;
    let mut ask = sam.clone();
    ask["after"] = json!("");
    let (_, shown) = post(&app, "/api/v1/chat/updates", &ask).await;
    assert_eq!(shown["messages"].as_array().unwrap().len(), 2, "{shown}");
    app.clock().advance(11 * 60_000);
    assert_eq!(sweep().await.unwrap(), 0);
    assert_eq!(app.count("select count(*) from outbox").await, 1);
}
