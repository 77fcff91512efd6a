//! The events API end to end: a signed platform event starts the customer's conversation with
//! its reply in the outbox; the customer answers by SMS; retries, replays and bad input change
//! nothing.

use serde_json::{json, Value};

use crate::helpers::*;

const SAM: &str = "+15555550103";

struct Sent {
    status: u16,
    body: Value,
}

async fn send_at(app: &TestApp, secret: &str, body: &str, ts: i64) -> Sent {
    let (status, body) = post_signed_json(app, secret, "/api/v1/events", body, ts).await;
    Sent { status, body }
}

async fn send(app: &TestApp, secret: &str, body: &Value) -> Sent {
    send_at(app, secret, &body.to_string(), app.now_secs()).await
}

fn declined(id: &str) -> Value {
    json!({ "id": id, "type": "payment.declined", "customer_id": "cus_sam", "data": { "order_number": "LD-1004" } })
}

#[tokio::test]
async fn a_declined_payment_event_queues_the_offer_and_the_customer_answers_by_sms() {
    // Arrange
    let app = spawn_app().await;
    let secret = integration(&app).await;
    // Act
    let sent = send(&app, &secret, &declined("evt_1")).await;
    // Assert
    assert_eq!(sent.status, 202, "{}", sent.body);
    assert_eq!(sent.body["flow"], "payment_declined");
    assert_eq!(sent.body["messages_queued"], 1);
    assert_eq!(sent.body["channel"], "sms");
    let queued = leafdesk::store::outbox::list(&app.state.store, 10).await.unwrap();
    assert_eq!(queued.len(), 1);
    assert_eq!((queued[0].to_phone.as_str(), queued[0].purpose.as_str()), (SAM, "transactional"));
    assert!(queued[0].body.contains("federal banking rules"), "{}", queued[0].body);
    // The customer's SMS answer continues the same conversation.
    let reply = app.sms(&sid(), SAM, "2").await;
    assert!(reply.text().contains("Order LD-1004 is now pay at pickup"), "{}", reply.text());
    let method: (String,) = sqlx::query_as("select payment_method from customer_order where order_number = 'LD-1004'")
        .fetch_one(app.state.store.pool())
        .await
        .unwrap();
    assert_eq!(method.0, "pay_at_pickup");
    assert_eq!(app.count("select count(*) from conversation").await, 1);
}

#[tokio::test]
async fn a_retried_event_gets_the_first_answer_and_sends_nothing_more() {
    let app = spawn_app().await;
    let secret = integration(&app).await;
    let first = send(&app, &secret, &declined("evt_retry")).await;
    let again = send(&app, &secret, &declined("evt_retry")).await;
    assert_eq!((first.status, again.status), (202, 200));
    assert_eq!(again.body["duplicate"], true);
    assert_eq!(again.body["conversation_id"], first.body["conversation_id"]);
    assert_eq!(app.count("select count(*) from outbox").await, 1);
    assert_eq!(app.count("select count(*) from event_received").await, 1);
}

#[tokio::test]
async fn bad_signatures_and_old_timestamps_are_refused_and_nothing_is_stored() {
    let app = spawn_app().await;
    let secret = integration(&app).await;
    let body = declined("evt_bad").to_string();
    let cases = [
        ("a secret that is not ours", send_at(&app, "ldk_wrong", &body, app.now_secs()).await, "bad_signature"),
        ("six minutes old: a replay", send_at(&app, &secret, &body, app.now_secs() - 360).await, "stale_timestamp"),
        ("from the future", send_at(&app, &secret, &body, app.now_secs() + 360).await, "stale_timestamp"),
    ];
    for (why, sent, code) in cases {
        assert_eq!(sent.status, 401, "{why}");
        assert_eq!(sent.body["error"]["code"], code, "{why}");
    }
    let unsigned = app
        .client
        .post(app.url("/api/v1/events"))
        .header("content-type", "application/json")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 401);
    // A revoked integration's signature no longer counts (within the 2 s the keys are cached).
    assert!(leafdesk::store::integrations::revoke(&app.state.store, "shop").await.unwrap());
    app.clock().advance(2_000);
    assert_eq!(send_at(&app, &secret, &body, app.now_secs()).await.status, 401);
    assert_eq!(app.count("select count(*) from event_received").await, 0);
    assert_eq!(app.count("select count(*) from outbox").await, 0);
}

#[tokio::test]
async fn malformed_events_get_a_4xx_naming_the_problem() {
    let app = spawn_app().await;
    let secret = integration(&app).await;
    let cases: Vec<(&str, String, u16, &str)> = vec![
        ("not JSON", "{not json".into(), 400, "malformed_body"),
        ("no customer", json!({ "id": "e", "type": "payment.declined" }).to_string(), 400, "malformed_body"),
        (
            "unknown type",
            json!({ "id": "e", "type": "cart.abandoned", "customer_id": "cus_sam" }).to_string(),
            422,
            "unknown_event_type",
        ),
        (
            "no order number",
            json!({ "id": "e", "type": "payment.declined", "customer_id": "cus_sam", "data": {} }).to_string(),
            422,
            "missing_field",
        ),
        (
            "bad lock reason",
            json!({ "id": "e", "type": "account.locked", "customer_id": "cus_sam", "data": { "reason": "bored" } })
                .to_string(),
            422,
            "invalid_field",
        ),
        (
            "unknown customer",
            json!({ "id": "e", "type": "payment.declined", "customer_id": "cus_404", "data": { "order_number": "X" } })
                .to_string(),
            404,
            "unknown_customer",
        ),
    ];
    for (why, body, status, code) in cases {
        let sent = send_at(&app, &secret, &body, app.now_secs()).await;
        assert_eq!(sent.status, status, "{why}: {}", sent.body);
        assert_eq!(sent.body["error"]["code"], code, "{why}");
        assert!(!sent.body["error"]["message"].as_str().unwrap().is_empty(), "{why}");
    }
    let form = app
        .client
        .post(app.url("/api/v1/events"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("a=b")
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 415);
    let huge = format!("{{\"id\":\"{}\"}}", "x".repeat(300 * 1024));
    assert_eq!(send_at(&app, &secret, &huge, app.now_secs()).await.status, 413);
    assert_eq!(app.count("select count(*) from event_received").await, 0);
    assert_eq!(app.count("select count(*) from conversation").await, 0);
}

#[tokio::test]
async fn an_event_for_a_conversation_a_person_owns_is_recorded_for_them_not_answered() {
    let app = spawn_app().await;
    let secret = integration(&app).await;
    app.sms(&sid(), SAM, "agent").await;
    let sent = send(&app, &secret, &declined("evt_human")).await;
    assert_eq!(sent.status, 202);
    assert_eq!(sent.body["messages_queued"], 0);
    assert!(sent.body["note"].as_str().unwrap().contains("a person is handling"));
    assert_eq!(app.count("select count(*) from outbox").await, 0);
    assert_eq!(app.count("select count(*) from conversation_event where kind = 'platform_event'").await, 1);
}

#[tokio::test]
async fn the_openapi_document_describes_every_event_type_with_an_example() {
    let app = spawn_app().await;
    let doc: Value = app.client.get(app.url("/api/v1/openapi.json")).send().await.unwrap().json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let post = &doc["paths"]["/api/v1/events"]["post"];
    let examples = post["requestBody"]["content"]["application/json"]["examples"].as_object().unwrap();
    let types: Vec<&str> = examples.values().map(|e| e["value"]["type"].as_str().unwrap()).collect();
    for known in leafdesk::flows::model::KNOWN_EVENTS {
        assert!(types.contains(known), "no example for {known}");
    }
    for status in ["200", "202", "400", "401", "404", "413", "415", "422"] {
        assert!(post["responses"][status].is_object(), "no response {status}");
    }
    // One schema per event type, chosen by `type`, each refusing fields serde refuses.
    let mapping = doc["components"]["schemas"]["Event"]["discriminator"]["mapping"].as_object().unwrap();
    let mut mapped: Vec<&str> = mapping.keys().map(String::as_str).collect();
    mapped.sort_unstable();
    let mut known = leafdesk::flows::model::KNOWN_EVENTS.to_vec();
    known.sort_unstable();
    assert_eq!(mapped, known, "the discriminator maps exactly the known event types");
    for (event_type, target) in mapping {
        let variant = &doc["components"]["schemas"][target.as_str().unwrap().rsplit('/').next().unwrap()];
        assert_eq!(variant["properties"]["type"]["const"], event_type.as_str());
        assert_eq!(variant["additionalProperties"], false, "{event_type}: the server denies unknown fields");
    }
    let max_id = leafdesk::channels::events::MAX_ID_CHARS;
    for id in [&doc["components"]["schemas"]["EventId"], &doc["components"]["schemas"]["CustomerId"]] {
        assert_eq!(id["maxLength"], max_id);
    }
    let accepted = &doc["components"]["schemas"]["EventAccepted"]["properties"];
    assert!(accepted["handed_off_to"].is_object() && accepted["reported_to"].is_object());
}

#[tokio::test]
async fn the_openapi_document_says_how_to_sign_and_what_a_customer_sync_accepts() {
    let app = spawn_app().await;
    let doc: Value = app.client.get(app.url("/api/v1/openapi.json")).send().await.unwrap().json().await.unwrap();
    // The worked example in the signature scheme is the one our own signer gives.
    let scheme = &doc["components"]["securitySchemes"]["LeafdeskSignature"];
    assert_eq!((scheme["in"].as_str(), scheme["name"].as_str()), (Some("header"), Some("X-Leafdesk-Signature")));
    let example = leafdesk::signed::sign_request("s3cret", 1_700_000_000, "POST", "/api/v1/events", br#"{"id":"e1"}"#);
    let description = scheme["description"].as_str().unwrap();
    assert!(description.contains(&example), "{description}");
    assert!(description.contains("{timestamp}.{METHOD} {path}.{raw body}"), "{description}");
    let put = &doc["paths"]["/api/v1/customers/{id}"]["put"];
    for status in ["200", "201", "400", "401", "404", "409", "413", "415", "422"] {
        assert!(put["responses"][status].is_object(), "no response {status}");
    }
    let path_id = &put["parameters"][0]["schema"];
    assert_eq!(path_id["maxLength"], leafdesk::channels::events::MAX_ID_CHARS);
    let sync = &doc["components"]["schemas"]["CustomerSync"];
    assert_eq!(sync["required"], json!(["phone", "location_id"]));
    let enum_of = |name: &str| -> Vec<String> {
        let values = sync["properties"][name]["enum"].as_array().unwrap_or_else(|| panic!("{name} has an enum"));
        values.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect()
    };
    assert_eq!(enum_of("locale"), leafdesk::templates::LOCALES);
    // Exactly the codes the server takes: every pair of capitals, asked both ways.
    let states = enum_of("address_state");
    for (a, b) in ('A'..='Z').flat_map(|a| ('A'..='Z').map(move |b| (a, b))) {
        let code = format!("{a}{b}");
        let accepted = leafdesk::compliance::area_codes::is_us_state(&code);
        assert_eq!(states.contains(&code), accepted, "address_state {code}");
    }
    // Every documented timezone resolves, so a valid sync is never refused over one.
    let zones = doc["components"]["schemas"]["TimeZoneName"]["enum"].as_array().unwrap();
    assert!(zones.len() > 300, "the tz database's canonical zones are listed");
    for zone in zones {
        let zone = zone.as_str().unwrap();
        assert!(jiff::tz::TimeZone::get(zone).is_ok(), "timezone {zone} does not resolve");
    }
}

async fn put_customer(app: &TestApp, secret: &str, id: &str, body: &Value) -> Sent {
    let ts = app.now_secs();
    let body = body.to_string();
    let path = format!("/api/v1/customers/{id}");
    let signature = leafdesk::signed::sign_request(secret, ts, "PUT", &path, body.as_bytes());
    let resp = app
        .client
        .put(app.url(&path))
        .header("content-type", "application/json")
        .header("x-leafdesk-timestamp", ts.to_string())
        .header("x-leafdesk-signature", signature)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    Sent { status, body: resp.json().await.unwrap_or(Value::Null) }
}

#[tokio::test]
async fn a_customer_synced_by_the_platform_can_be_reached_by_its_events() {
    let app = spawn_app().await;
    let secret = integration(&app).await;
    let location = leafdesk::store::locations::list(&app.state.store).await.unwrap().remove(0).location_id;
    let ana = json!({ "phone": "+1 (415) 555-0177", "location_id": location, "customer_type": "medical",
        "first_name": "Ana", "locale": "es", "recommendation_number": "MMJ-4471-2209", "recommendation_expires_on": "2027-03-31" });
    let created = put_customer(&app, &secret, "cus_ana", &ana).await;
    assert_eq!((created.status, created.body["created"].clone()), (201, json!(true)), "{}", created.body);
    assert_eq!(put_customer(&app, &secret, "cus_ana", &ana).await.status, 200);
    let (sealed,): (Vec<u8>,) =
        sqlx::query_as("select recommendation_number_sealed from customer where customer_id = 'cus_ana'")
            .fetch_one(app.state.store.pool())
            .await
            .unwrap();
    assert!(!sealed.windows(4).any(|w| w == b"4471"), "the number is stored sealed");
    let context = leafdesk::channels::customers::recommendation_context("cus_ana");
    assert_eq!(app.state.uploads.sealer.open(&context, &sealed).unwrap(), b"MMJ-4471-2209");
    let event = json!({ "id": "evt_ana", "type": "inventory.sync_error", "customer_id": "cus_ana",
        "data": { "sku": "FL-OG-28", "error_codes": ["INV-409"] } });
    let sent = send(&app, &secret, &event).await;
    assert_eq!(sent.status, 202, "{}", sent.body);
    assert_eq!(
        (&sent.body["reported_to"], &sent.body["handed_off_to"]),
        (&json!("it"), &json!(null)),
        "IT gets a report; the bot keeps the conversation"
    );
    let body: (String,) = sqlx::query_as("select body from outbox where to_phone = '+14155550177'")
        .fetch_one(app.state.store.pool())
        .await
        .unwrap();
    assert!(body.0.contains("Nuestro equipo de TI"), "answered in the customer's language: {}", body.0);
    let cases = [
        (json!({ "phone": "555-0100", "location_id": location, "customer_type": "adult_use" }), 422, "invalid_field"),
        (
            json!({ "phone": "+14155550178", "location_id": "nowhere", "customer_type": "adult_use" }),
            422,
            "unknown_location",
        ),
        (json!({ "phone": "+14155550178", "location_id": location, "customer_type": "tourist" }), 422, "invalid_field"),
        (json!({ "phone": "+14155550177", "location_id": location, "customer_type": "adult_use" }), 409, "phone_taken"),
        (json!({ "phone": "+14155550178" }), 400, "malformed_body"),
        (
            json!({ "phone": "+14155550178", "location_id": location, "customer_type": "adult_use", "address_state": "Calif." }),
            422,
            "invalid_field",
        ),
        (
            json!({ "phone": "+14155550178", "location_id": location, "customer_type": "adult_use", "timezone": "PST" }),
            422,
            "invalid_field",
        ),
    ];
    for (body, status, code) in cases {
        let sent = put_customer(&app, &secret, "cus_other", &body).await;
        assert_eq!((sent.status, sent.body["error"]["code"].as_str()), (status, Some(code)), "{body}");
    }
    assert_eq!(put_customer(&app, "ldk_wrong", "cus_ana", &ana).await.status, 401);
    let (locale,): (String,) = sqlx::query_as("select locale from contact where phone = '+14155550177'")
        .fetch_one(app.state.store.pool())
        .await
        .unwrap();
    assert_eq!(locale, "es", "a refused update changes nothing");

    // Where the customer lives reaches the contact, for the send gate's quiet hours.
    let moved = json!({ "phone": "+14155550177", "location_id": location, "customer_type": "medical",
        "locale": "es", "address_state": "NV", "timezone": "America/Los_Angeles" });
    assert_eq!(put_customer(&app, &secret, "cus_ana", &moved).await.status, 200);
    let place: (Option<String>, Option<String>) =
        sqlx::query_as("select state, timezone from contact where phone = '+14155550177'")
            .fetch_one(app.state.store.pool())
            .await
            .unwrap();
    assert_eq!(place, (Some("NV".into()), Some("America/Los_Angeles".into())));
}

#[tokio::test]
async fn outcomes_and_tickets_are_reported_by_crm_tag() {
    let app = spawn_app().await;
    let secret = integration(&app).await;
    send(&app, &secret, &declined("evt_tags")).await;
    app.sms(&sid(), SAM, "2").await; // pay at pickup: the flow ends resolved
    app.sms(&sid(), "+15555550104", "is my order over the purchase limit?").await;
    app.sms(&sid(), "+15555550104", "agent").await; // a ticket tagged "human requested"
    let out = app.command().args(["report", "tags", "--days", "1"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("payment issue\tresolved\t1"), "{text}");
    assert!(text.contains("purchase limit\tabandoned\t1"), "{text}");
    assert!(text.contains("human requested\thanded_off\t1"), "{text}");
    assert!(text.contains("human requested\topen\t1"), "{text}");
}

async fn casey(app: &TestApp) -> leafdesk::commerce::Customer {
    let mut conn = app.state.store.pool().acquire().await.unwrap();
    leafdesk::store::commerce::customers::customer_by_id(&mut conn, "cus_casey").await.unwrap().unwrap()
}

async fn order_status(app: &TestApp, number: &str) -> String {
    let (status,): (String,) = sqlx::query_as("select status from customer_order where order_number = $1")
        .bind(number)
        .fetch_one(app.state.store.pool())
        .await
        .unwrap();
    status
}

#[tokio::test]
async fn a_sync_that_leaves_fields_out_never_unlocks_a_locked_medical_account() {
    let app = spawn_app().await;
    let secret = integration(&app).await;
    app.sms(&sid(), "+15555550105", "my medical recommendation expired").await;
    let locked = casey(&app).await;
    assert!(locked.locked_reason.is_some());
    assert_eq!(order_status(&app, "LD-1006").await, "on_hold");
    let location = leafdesk::store::locations::list(&app.state.store).await.unwrap().remove(0).location_id;

    // The platform syncs Casey with only what it has at hand.
    let partial = json!({ "phone": "+15555550105", "location_id": location, "first_name": "Casey" });
    assert_eq!(put_customer(&app, &secret, "cus_casey", &partial).await.status, 200);
    let after = casey(&app).await;
    assert_eq!(after.locked_reason, locked.locked_reason, "still locked");
    assert_eq!(after.verification_status, locked.verification_status);
    assert_eq!(after.recommendation_expires_on, locked.recommendation_expires_on, "the expiry is kept for the sweep");
    assert_eq!(after.customer_type, leafdesk::domain::commerce::CustomerType::Medical);
    assert_eq!(order_status(&app, "LD-1006").await, "on_hold");

    // Said explicitly, verified unlocks and the held order is released with it.
    let verified = json!({ "phone": "+15555550105", "location_id": location, "verification_status": "verified",
        "recommendation_expires_on": "2027-11-30" });
    assert_eq!(put_customer(&app, &secret, "cus_casey", &verified).await.status, 200);
    let unlocked = casey(&app).await;
    assert_eq!((unlocked.locked_reason, unlocked.verification_status.as_str()), (None, "verified"));
    assert_ne!(order_status(&app, "LD-1006").await, "on_hold");
}

#[tokio::test]
async fn signatures_cover_method_and_path_and_v1_is_refused_unless_allowed() {
    let app = spawn_app().await;
    let secret = integration(&app).await;
    let location = leafdesk::store::locations::list(&app.state.store).await.unwrap().remove(0).location_id;
    let body = json!({ "phone": "+14155550179", "location_id": location, "customer_type": "adult_use" }).to_string();
    let ts = app.now_secs();
    // Signed for cus_a, sent to cus_b: refused.
    let for_a = leafdesk::signed::sign_request(&secret, ts, "PUT", "/api/v1/customers/cus_a", body.as_bytes());
    let moved = app
        .client
        .put(app.url("/api/v1/customers/cus_b"))
        .header("content-type", "application/json")
        .header("x-leafdesk-timestamp", ts.to_string())
        .header("x-leafdesk-signature", for_a)
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(moved.status(), 401);
    // The old v1 form (timestamp and body only) is refused by default, naming the fix.
    let refused = put_v1(&app, &secret, "cus_b", &body).await;
    assert_eq!(refused.status(), 401);
    assert!(refused.text().await.unwrap().contains("send it as v2="));
    assert_eq!(app.count("select count(*) from customer where customer_id = 'cus_b'").await, 0);
    // Accepted while platforms move to v2, when the operator says so.
    let legacy =
        spawn_with(Options { env: vec![("LEAFDESK_ACCEPT_V1_SIGNATURES", "true".into())], ..Options::default() }).await;
    let legacy_secret = integration(&legacy).await;
    let location = leafdesk::store::locations::list(&legacy.state.store).await.unwrap().remove(0).location_id;
    let body = json!({ "phone": "+14155550179", "location_id": location, "customer_type": "adult_use" }).to_string();
    assert_eq!(put_v1(&legacy, &legacy_secret, "cus_b", &body).await.status(), 201);
}

/// A customer sync signed the old way: HMAC of "{timestamp}.{body}", without method and path.
async fn put_v1(app: &TestApp, secret: &str, id: &str, body: &str) -> reqwest::Response {
    use hmac::Mac as _;
    let ts = app.now_secs();
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{ts}.{body}").as_bytes());
    let signature = format!("v1={}", hex::encode(mac.finalize().into_bytes()));
    app.client
        .put(app.url(&format!("/api/v1/customers/{id}")))
        .header("content-type", "application/json")
        .header("x-leafdesk-timestamp", ts.to_string())
        .header("x-leafdesk-signature", signature)
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
}
