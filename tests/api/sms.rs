//! The SMS webhook end to end: signatures, routing, idempotency, ordering, hand-off silence,
//! MMS and bad input.

use crate::helpers::*;

const ALEX: &str = "+15555550100";

#[tokio::test]
async fn a_signed_text_gets_the_flow_answer_as_twiml() {
    // Arrange
    let app = spawn_app().await;
    // Act
    let reply = app.sms(&sid(), ALEX, "hi").await;
    // Assert
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(reply.body.starts_with("<Response>"), "{}", reply.body);
    assert!(reply.text().starts_with("Hi Alex! This is Demo Dispensary."), "{}", reply.text());
    assert_eq!(app.count("select count(*) from message where direction = 'inbound'").await, 1);
    assert_eq!(app.count("select count(*) from message where direction = 'outbound'").await, 1);
}

#[tokio::test]
async fn bad_or_missing_signatures_are_rejected_with_403_and_nothing_is_stored() {
    let app = spawn_app().await;
    let params = sms_params(&sid(), ALEX, "hi");
    let good = sign("/webhooks/twilio/sms", &params);
    let mut tampered = params.clone();
    tampered[4].1 = "hi there".into();
    let wrong_url = leafdesk::twilio::signature::sign(
        TOKEN,
        "https://evil.example.test/webhooks/twilio/sms",
        &params,
        leafdesk::twilio::signature::Algorithm::Sha1,
    );
    let wrong_token = leafdesk::twilio::signature::sign(
        "other-token",
        &format!("{PUBLIC_URL}/webhooks/twilio/sms"),
        &params,
        leafdesk::twilio::signature::Algorithm::Sha1,
    );
    type Case<'a> = (&'a str, Vec<(String, String)>, Option<&'a str>);
    let cases: [Case; 5] = [
        ("missing signature", params.clone(), None),
        ("empty signature", params.clone(), Some("")),
        ("tampered body", tampered, Some(&good)),
        ("signed for another URL", params.clone(), Some(&wrong_url)),
        ("signed with another token", params.clone(), Some(&wrong_token)),
    ];
    for (why, params, signature) in cases {
        let reply = app
            .post_raw(
                "/webhooks/twilio/sms",
                encode(&params).into_bytes(),
                "application/x-www-form-urlencoded",
                signature,
            )
            .await;
        assert_eq!(reply.status, 403, "{why}: {}", reply.body);
        assert!(reply.body.contains("bad_signature"), "{why}: {}", reply.body);
    }
    assert_eq!(app.count("select count(*) from message").await, 0);
    assert_eq!(app.count("select count(*) from conversation").await, 0);
    let metrics = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("leafdesk_webhook_rejections_total{reason=\"missing_signature\"} 2"), "{metrics}");
    assert!(metrics.contains("leafdesk_webhook_rejections_total{reason=\"bad_signature\"} 3"), "{metrics}");
}

#[tokio::test]
async fn a_sha256_signature_is_accepted_when_the_settings_header_asks_for_it() {
    let app = spawn_app().await;
    let params = sms_params(&sid(), ALEX, "hi");
    let url = format!("{PUBLIC_URL}/webhooks/twilio/sms");
    let sig = leafdesk::twilio::signature::sign(TOKEN, &url, &params, leafdesk::twilio::signature::Algorithm::Sha256);
    let resp = app
        .client
        .post(app.url("/webhooks/twilio/sms"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-twilio-signature", &sig)
        .header("x-twilio-webhooks-signature-settings", "v1;HMAC-SHA256")
        .body(encode(&params))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let without_header = app
        .post_raw("/webhooks/twilio/sms", encode(&params).into_bytes(), "application/x-www-form-urlencoded", Some(&sig))
        .await;
    assert_eq!(without_header.status, 403, "a SHA-256 signature is not a SHA-1 one");
}

#[tokio::test]
async fn a_retried_message_sid_never_runs_the_flow_twice_and_gets_the_stored_reply() {
    let app = spawn_app().await;
    let id = sid();
    // "blorp" twice would move the fallback on ("Would you like a person") if it ran twice.
    let first = app.sms(&id, ALEX, "blorp").await;
    let retry = app.sms(&id, ALEX, "blorp").await;
    assert_eq!(first.status, 200);
    assert_eq!(retry.status, 200);
    assert!(first.text().contains("not sure what you mean"), "{}", first.text());
    assert_eq!(retry.body, first.body);
    assert_eq!(app.count("select count(*) from message where direction = 'inbound'").await, 1);
    assert_eq!(app.count("select count(*) from message where direction = 'outbound'").await, 1);
}

#[tokio::test]
async fn simultaneous_copies_of_one_message_run_the_flow_once() {
    let app = spawn_app().await;
    let id = sid();
    let copies = join_all((0..8).map(|_| app.sms(&id, ALEX, "blorp")).collect()).await;
    for reply in &copies {
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert_eq!(reply.body, copies[0].body, "every copy gets the same reply");
    }
    assert!(copies[0].text().contains("not sure what you mean"));
    assert_eq!(app.count("select count(*) from message where direction = 'inbound'").await, 1);
    assert_eq!(app.count("select count(*) from conversation").await, 1);
}

pub async fn join_all<F: std::future::Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut pinned: Vec<_> = futures.into_iter().map(Box::pin).collect();
    let mut results: Vec<Option<F::Output>> = (0..pinned.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in pinned.iter_mut().enumerate() {
            if results[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => results[i] = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    results.into_iter().map(|r| r.expect("every future finished")).collect()
}

/// Serial processing of N unknown texts gives exactly one "not sure what you mean" (the first;
/// later ones see two or more misses in a row). A race would let several see a fresh state.
fn assert_processed_one_at_a_time(replies: &[Reply]) {
    let firsts = replies.iter().filter(|r| r.text().contains("not sure what you mean")).count();
    assert_eq!(firsts, 1, "replies: {:?}", replies.iter().map(Reply::text).collect::<Vec<_>>());
}

#[tokio::test]
async fn simultaneous_messages_of_one_conversation_are_processed_one_at_a_time() {
    let app = spawn_app().await;
    let bodies: Vec<String> = (0..10).map(|i| format!("gibberish {i}")).collect();
    let replies = join_all(bodies.iter().map(|b| app.sms_owned(sid(), ALEX, b.clone())).collect()).await;
    assert!(replies.iter().all(|r| r.status == 200));
    assert_processed_one_at_a_time(&replies);
    assert_eq!(app.count("select count(*) from message where direction = 'inbound'").await, 10);
    assert_eq!(app.count("select count(*) from conversation").await, 1);
}

#[tokio::test]
#[ignore = "PostgreSQL only; scripts/test runs it with --include-ignored"]
async fn two_server_processes_on_one_postgres_keep_a_conversation_in_order() {
    // SQLite is one process's embedded database; this case is PostgreSQL's.
    require_postgres();
    let first = spawn_app().await;
    let second = spawn_with(Options { database_url: Some(first.database_url.clone()), ..Options::default() }).await;
    let mut futures = Vec::new();
    for i in 0..12 {
        let app = if i % 2 == 0 { &first } else { &second };
        futures.push(app.sms_owned(sid(), ALEX, format!("gibberish {i}")));
    }
    let replies = join_all(futures).await;
    assert!(replies.iter().all(|r| r.status == 200), "{:?}", replies.iter().map(|r| &r.body).collect::<Vec<_>>());
    assert_processed_one_at_a_time(&replies);
    assert_eq!(first.count("select count(*) from message where direction = 'inbound'").await, 12);
    assert_eq!(first.count("select count(*) from conversation").await, 1);
}

#[tokio::test]
async fn after_a_hand_off_the_bot_is_silent_until_the_ticket_is_resolved() {
    let app = spawn_app().await;
    let ack = app.sms(&sid(), ALEX, "I want to talk to a human").await;
    assert!(ack.text().contains("connecting you with a team member"), "{}", ack.text());
    for text in ["hello?", "agent", "menu"] {
        let reply = app.sms(&sid(), ALEX, text).await;
        assert_eq!(reply.status, 200);
        assert!(reply.messages().is_empty(), "bot spoke after hand-off: {}", reply.body);
    }
    let open = leafdesk::store::tickets::list_open(&app.state.store).await.unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].queue, "general");
    assert!(open[0].summary.contains("customer: I want to talk to a human"), "{}", open[0].summary);
    let waiting = leafdesk::store::messages::of_ticket(&app.state.store, &open[0].ticket_id).await.unwrap();
    assert_eq!(waiting.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(), ["hello?", "agent", "menu"]);
    // Hand back: the next message starts afresh with the bot.
    assert!(leafdesk::store::tickets::resolve(&app.state.store, &open[0].ticket_id, "done").await.unwrap());
    let again = app.sms(&sid(), ALEX, "hi").await;
    assert!(again.text().starts_with("Hi Alex!"), "{}", again.text());
    assert_eq!(app.count("select count(*) from conversation_event where kind = 'handed_off'").await, 1);
    assert_eq!(app.count("select count(*) from conversation_event where kind = 'handed_back'").await, 1);
}

#[tokio::test]
async fn a_number_leafdesk_does_not_serve_gets_an_empty_response_and_is_recorded() {
    let app = spawn_app().await;
    let mut params = sms_params(&sid(), ALEX, "hi");
    params[3].1 = "+15005550999".into();
    let reply = app.post_signed("/webhooks/twilio/sms", &params).await;
    assert_eq!(reply.status, 200);
    assert!(reply.messages().is_empty(), "{}", reply.body);
    assert!(reply.body.starts_with("<Response"), "{}", reply.body);
    assert_eq!(app.count("select count(*) from webhook_receipt where kind = 'unrouted_message'").await, 1);
    assert_eq!(app.count("select count(*) from message").await, 0);
}

#[tokio::test]
async fn a_messaging_service_routes_to_its_location() {
    let app = spawn_app().await;
    let new = leafdesk::store::locations::NewLocation {
        name: "Service Store",
        state: "CO",
        timezone: "America/Denver",
        phone_number: None,
        messaging_service_sid: Some("MG123"),
    };
    leafdesk::store::locations::insert(&app.state.store, &new).await.unwrap();
    let mut params = sms_params(&sid(), ALEX, "hi");
    params[3].1 = "+17205550100".into();
    params.push(("MessagingServiceSid".into(), "MG123".into()));
    let reply = app.post_signed("/webhooks/twilio/sms", &params).await;
    assert!(reply.text().contains("This is Service Store"), "{}", reply.body);
}

#[tokio::test]
async fn mms_media_is_stored_with_the_message() {
    let app = spawn_app().await;
    let mut params = sms_params(&sid(), ALEX, "");
    params[5].1 = "2".into();
    params.extend([
        ("MediaUrl0".into(), "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME0".into()),
        ("MediaContentType0".into(), "image/jpeg".into()),
        ("MediaUrl1".into(), "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1".into()),
        ("MediaContentType1".into(), "application/pdf".into()),
    ]);
    let reply = app.post_signed("/webhooks/twilio/sms", &params).await;
    assert_eq!(reply.status, 200);
    let (media,): (String,) = sqlx::query_as("select media from message where direction = 'inbound'")
        .fetch_one(app.state.store.pool())
        .await
        .unwrap();
    let media: Vec<leafdesk::domain::Media> = serde_json::from_str(&media).unwrap();
    assert_eq!(media.len(), 2);
    assert_eq!(media[0].content_type, "image/jpeg");
    assert!(media[1].url.ends_with("/ME1"));
}

#[tokio::test]
async fn bad_input_gets_a_clear_4xx_and_nothing_is_stored() {
    let app = spawn_app().await;
    let path = "/webhooks/twilio/sms";
    let form = "application/x-www-form-urlencoded";
    let signed = |params: Vec<(String, String)>| (encode(&params).into_bytes(), sign(path, &params));
    let without = |key: &str| sms_params(&sid(), ALEX, "hi").into_iter().filter(|(k, _)| k != key).collect::<Vec<_>>();
    let long_body = sms_params(&sid(), ALEX, &"x".repeat(1601));
    let mut bad_from = sms_params(&sid(), ALEX, "hi");
    bad_from[2].1 = "0800-FLOWERS".into();
    let (no_sid, no_sid_sig) = signed(without("MessageSid"));
    let (no_from, no_from_sig) = signed(without("From"));
    let (no_to, no_to_sig) = signed(without("To"));
    let (bad_from, bad_from_sig) = signed(bad_from);
    let (long_body, long_body_sig) = signed(long_body);
    /// why, body, content type, signature, status, what the message says.
    type Case<'a> = (&'a str, Vec<u8>, &'a str, Option<String>, u16, &'a str);
    let cases: Vec<Case> = vec![
        ("missing MessageSid", no_sid, form, Some(no_sid_sig), 400, "MessageSid"),
        ("missing From", no_from, form, Some(no_from_sig), 400, "From"),
        ("missing To", no_to, form, Some(no_to_sig), 400, "To"),
        ("From not a phone number", bad_from, form, Some(bad_from_sig), 400, "From"),
        ("absurdly long Body", long_body, form, Some(long_body_sig), 400, "Body"),
        ("truncated escape", b"MessageSid=SM1&Body=%E".to_vec(), form, Some("x".into()), 400, "escape"),
        ("non-UTF-8 value", b"MessageSid=SM1&Body=%FF%FE".to_vec(), form, Some("x".into()), 400, "UTF-8"),
        (
            "JSON instead of a form",
            b"{\"Body\":\"hi\"}".to_vec(),
            "application/json",
            Some("x".into()),
            415,
            "x-www-form-urlencoded",
        ),
        ("no content type", b"Body=hi".to_vec(), "", Some("x".into()), 415, "content type"),
        ("oversized body", vec![b'a'; 70 * 1024], form, Some("x".into()), 413, "larger than"),
    ];
    for (why, body, content_type, signature, status, says) in cases {
        let reply = app.post_raw(path, body, content_type, signature.as_deref()).await;
        assert_eq!(reply.status, status, "{why}: {}", reply.body);
        let error: serde_json::Value =
            serde_json::from_str(&reply.body).unwrap_or_else(|_| panic!("{why}: JSON error body, got {}", reply.body));
        let message = error["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(says), "{why}: message {message:?} should mention {says:?}");
    }
    assert_eq!(app.count("select count(*) from message").await, 0);
    assert_eq!(app.count("select count(*) from conversation").await, 0);
    assert_eq!(
        app.count("select count(*) from contact where phone = '+15555550100'").await,
        1,
        "only the demo contact"
    );
}

impl TestApp {
    pub async fn sms_owned(&self, sid: String, from: &'static str, body: String) -> Reply {
        self.sms(&sid, from, &body).await
    }
}

#[tokio::test]
async fn an_unfinished_flow_is_abandoned_after_an_hour_of_silence() {
    let app = spawn_app().await;
    let asked = app.sms(&sid(), "+15555550160", "where is my order").await;
    assert!(asked.text().contains("order number"), "{}", asked.text());
    // Two hours pass.
    sqlx::query("update conversation set last_activity_at_ms = last_activity_at_ms - 7200000")
        .execute(app.state.store.pool())
        .await
        .unwrap();
    let late = app.sms(&sid(), "+15555550160", "LD-1001").await;
    // The old question no longer applies; the order number alone is read afresh, as a new
    // order-status question (this number has no orders, so it is asked for again).
    assert!(late.text().contains("couldn't find a recent order"), "{}", late.text());
    let metrics = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(
        metrics.contains("leafdesk_flow_outcomes_total{flow=\"order_status\",outcome=\"abandoned\"} 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_replay_that_shifts_the_signed_boundary_into_the_message_sid_is_refused() {
    let app = spawn_app().await;
    let phone = "+15555550188";
    app.sms(&sid(), phone, "STOP").await;
    // The customer's START, as Twilio signed it: keys sorted, key and value run together.
    let original = sms_params(&sid(), phone, "START");
    let signature = sign("/webhooks/twilio/sms", &original);
    // Replayed with MessageSid swallowing the next key (NumMedia) and its value: the signed
    // text is the same, so the signature still holds — a "new" message for the pipeline.
    let mut shifted: Vec<(String, String)> = original.iter().filter(|(k, _)| k != "NumMedia").cloned().collect();
    let sid_value = &mut shifted.iter_mut().find(|(k, _)| k == "MessageSid").unwrap().1;
    sid_value.push_str("NumMedia0");
    assert_eq!(sign("/webhooks/twilio/sms", &shifted), signature, "the replay carries a valid signature");
    let replay = app
        .post_raw(
            "/webhooks/twilio/sms",
            encode(&shifted).into_bytes(),
            "application/x-www-form-urlencoded",
            Some(&signature),
        )
        .await;
    assert_eq!(replay.status, 400, "{}", replay.body);
    assert!(replay.body.contains("MessageSid"), "{}", replay.body);
    assert!(leafdesk::store::consent::current(&app.state.store, phone).await.unwrap().opted_out, "still opted out");
    // A 60,000-character MessageSid is refused too, and stored nowhere.
    let mut huge = sms_params(&sid(), phone, "START");
    huge[0].1 = format!("SM{}", "a".repeat(60_000));
    let reply = app.post_signed("/webhooks/twilio/sms", &huge).await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert_eq!(app.count("select count(*) from message where length(provider_id) > 64").await, 0);
}

#[tokio::test]
async fn a_webhook_for_another_account_is_refused() {
    let (app, _twilio) = app_with(vec![]).await; // TWILIO_ACCOUNT_SID is configured
    let mut params = sms_params(&sid(), ALEX, "hi");
    params[1].1 = "AC99999999999999999999999999999999".into();
    let reply = app.post_signed("/webhooks/twilio/sms", &params).await;
    assert_eq!(reply.status, 403, "{}", reply.body);
    assert_eq!(app.count("select count(*) from message").await, 0);
}

#[tokio::test]
async fn a_text_from_a_short_code_or_sender_id_is_recorded_and_answered_with_nothing() {
    let app = spawn_app().await;
    for (n, sender) in ["12345", "MyBank"].into_iter().enumerate() {
        let id = format!("SM{n:032x}");
        let mut params = sms_params(&id, ALEX, "Your verification code is 123456");
        params[2].1 = sender.into();
        let reply = app.post_signed("/webhooks/twilio/sms", &params).await;
        assert_eq!(reply.status, 200, "{sender}: {}", reply.body);
        assert!(reply.messages().is_empty(), "{sender}: {}", reply.body);
        let key = format!("other_sender:{id}");
        let recorded = app.count(&format!("select count(*) from webhook_receipt where receipt_key = '{key}'")).await;
        assert_eq!(recorded, 1, "{sender}");
    }
    assert_eq!(app.count("select count(*) from contact where phone not like '+%'").await, 0);
    assert_eq!(app.count("select count(*) from consent_event").await, 0);
}
