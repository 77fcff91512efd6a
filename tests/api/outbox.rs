//! The durable outbox against a local stand-in for Twilio's Messages API, which checks every
//! request against `tests/fixtures/twilio/twilio_messages_api.json`: path, Basic auth, form fields.

use std::sync::Arc;

use crate::helpers::*;

/// A customer who asked for a person, and the open ticket.
async fn open_ticket(app: &TestApp, phone: &str) -> String {
    app.sms(&sid(), phone, "agent").await;
    let open = leafdesk::store::tickets::list_open(&app.state.store).await.unwrap();
    open.into_iter().find(|t| t.phone == phone).expect("ticket opened").ticket_id
}

#[tokio::test]
async fn a_csr_reply_is_delivered_with_a_status_callback_and_its_status_tracked() {
    let (app, fake) = app_with(vec![]).await;
    let ticket = open_ticket(&app, "+15555550180").await;
    let outbox_id =
        queue_sms_reply(&app.state.store, &ticket, "Your order is ready at 3 pm.", "sam").await.unwrap().unwrap();
    let row = wait_for_status(&app, &outbox_id, "sent").await;
    assert!(fake.violations.lock().unwrap().is_empty(), "{:?}", fake.violations.lock().unwrap());
    let requests = fake.requests.lock().unwrap().clone();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0]["To"], "+15555550180");
    assert_eq!(requests[0]["From"], OUR_NUMBER);
    assert_eq!(requests[0]["Body"], "Your order is ready at 3 pm.");
    // The delivery status callback for that sid moves the transcript's message forward.
    let provider_id = row.provider_id.unwrap();
    let params: Vec<(String, String)> = [
        ("MessageSid", provider_id.as_str()),
        ("MessageStatus", "delivered"),
        ("To", "+15555550180"),
        ("From", OUR_NUMBER),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    assert_eq!(app.post_signed("/webhooks/twilio/status", &params).await.status, 204);
    let status = leafdesk::store::messages::status_of(&app.state.store, &provider_id).await.unwrap().unwrap();
    assert_eq!(status.0, "delivered");
}

#[tokio::test]
async fn server_errors_are_retried_with_backoff_and_client_errors_are_not() {
    let (app, fake) = app_with(vec![(500, 20500), (503, 20503)]).await;
    let ticket = open_ticket(&app, "+15555550181").await;
    let retried = queue_sms_reply(&app.state.store, &ticket, "first", "sam").await.unwrap().unwrap();
    let row = wait_for_status(&app, &retried, "sent").await;
    assert_eq!(row.attempts, 3, "two failures, then success");
    assert_eq!(fake.requests.lock().unwrap().len(), 3);

    fake.script.lock().unwrap().push((400, 21211)); // invalid To: final
    let refused = queue_sms_reply(&app.state.store, &ticket, "second", "sam").await.unwrap().unwrap();
    let row = wait_for_status(&app, &refused, "failed").await;
    assert_eq!(row.attempts, 1);
    assert!(row.reason.unwrap().contains("21211"));
    assert_eq!(fake.requests.lock().unwrap().len(), 4, "no retry after a 4xx");
}

#[tokio::test]
async fn error_21610_blocks_the_row_and_records_the_carrier_opt_out() {
    let (app, _fake) = app_with(vec![(400, 21610)]).await;
    let ticket = open_ticket(&app, "+15555550182").await;
    let id = queue_sms_reply(&app.state.store, &ticket, "hello", "sam").await.unwrap().unwrap();
    let row = wait_for_status(&app, &id, "blocked").await;
    assert!(row.reason.unwrap().contains("21610"));
    let history = leafdesk::store::consent::history(&app.state.store, "+15555550182").await.unwrap();
    assert!(history.iter().any(|e| e.source == "carrier_21610"), "{history:?}");
}

#[tokio::test]
async fn nothing_is_sent_to_a_number_that_opted_out_and_the_row_keeps_its_reason() {
    let (app, fake) = app_with(vec![]).await;
    let ticket = open_ticket(&app, "+15555550183").await;
    app.sms(&sid(), "+15555550183", "STOP").await;
    let id = queue_sms_reply(&app.state.store, &ticket, "are you there?", "sam").await.unwrap().unwrap();
    let row = wait_for_status(&app, &id, "blocked").await;
    assert!(row.reason.unwrap().contains("opted out"));
    assert!(fake.requests.lock().unwrap().is_empty());
}

#[tokio::test]
async fn two_outbox_workers_on_one_postgres_never_send_a_row_twice() {
    if !is_postgres() {
        return; // one SQLite file has one server process
    }
    let (fake, base) = fake_twilio(vec![]).await;
    let first = spawn_with(Options { twilio_api_base: Some(base.clone()), ..Options::default() }).await;
    let second = spawn_with(Options {
        twilio_api_base: Some(base),
        database_url: Some(first.database_url.clone()),
        ..Options::default()
    })
    .await;
    let ticket = open_ticket(&first, "+15555550184").await;
    let mut ids = Vec::new();
    for i in 0..60 {
        ids.push(queue_sms_reply(&first.state.store, &ticket, &format!("update {i}"), "sam").await.unwrap().unwrap());
    }
    for id in &ids {
        wait_for_status(&second, id, "sent").await;
    }
    let bodies: Vec<String> = fake.requests.lock().unwrap().iter().map(|r| r["Body"].clone()).collect();
    let mut unique = bodies.clone();
    unique.sort();
    unique.dedup();
    assert_eq!((bodies.len(), unique.len()), (60, 60), "each row sent exactly once");
}

/// A CSR's reply on an SMS ticket: the id of its outbox row.
async fn queue_sms_reply(
    store: &leafdesk::store::Store,
    ticket: &str,
    text: &str,
    staff: &str,
) -> Result<Option<String>, leafdesk::store::StoreError> {
    use leafdesk::store::tickets::{queue_reply, Delivery};
    Ok(queue_reply(store, ticket, text, staff).await?.map(|delivery| match delivery {
        Delivery::Outbox(id) => id,
        other => panic!("an SMS ticket's reply goes through the outbox, not {other:?}"),
    }))
}

/// A marketing opt-in for `phone` and a marketing text to it, queued in one transaction.
async fn queue_marketing(tx: &mut leafdesk::store::Tx<'_>, location_id: &str, phone: &str, now_ms: i64) -> String {
    let consent = leafdesk::store::consent::NewConsent {
        phone,
        purpose: "marketing",
        action: "opt_in",
        source: "import",
        evidence: serde_json::json!({ "evidence": "signed form" }),
    };
    leafdesk::store::consent::record(tx, &consent, now_ms).await.unwrap();
    let row = leafdesk::store::outbox::NewOutbound {
        conversation_id: None,
        location_id,
        to_phone: phone,
        purpose: "marketing",
        body: "New arrivals this week.",
    };
    leafdesk::store::outbox::enqueue(tx, &row, now_ms).await.unwrap()
}

/// An outbox worker the test drives with its own clock, sending to `base`.
fn clock_worker(store: &leafdesk::store::Store, base: &str) -> Arc<leafdesk::outbox::Worker> {
    let callback = Some(format!("{PUBLIC_URL}/webhooks/twilio/status"));
    let rest = leafdesk::twilio::rest::TwilioRest::new(ACCOUNT_SID, TOKEN, base, callback).unwrap();
    Arc::new(leafdesk::outbox::Worker { store: store.clone(), rest, metrics: Arc::default(), retry_base_ms: 20 })
}

#[tokio::test]
async fn a_marketing_text_queued_at_night_is_held_and_sent_when_the_window_opens() {
    let app = spawn_app().await; // no worker of its own: this test drives one with its own clock
    let (fake, base) = fake_twilio(vec![]).await;
    let store = app.state.store.clone();
    let location = leafdesk::store::locations::list(&store).await.unwrap().remove(0);
    let mut tx = store.begin().await.unwrap();
    let id = queue_marketing(&mut tx, &location.location_id, "+15555550185", store.now_ms()).await;
    tx.commit().await.unwrap();
    let worker = clock_worker(&store, &base);

    leafdesk::outbox::deliver_due(&worker, la("2026-11-30T22:00")).await.unwrap();
    let held = leafdesk::store::outbox::find(&store, &id).await.unwrap().unwrap();
    assert_eq!(held.status, "held");
    assert_eq!(held.next_attempt_at_ms, la("2026-12-01T08:00"));
    assert!(held.reason.unwrap().contains("quiet hours"));

    assert_eq!(leafdesk::outbox::deliver_due(&worker, la("2026-12-01T07:59")).await.unwrap(), 0, "still night");
    assert!(fake.requests.lock().unwrap().is_empty());

    leafdesk::outbox::deliver_due(&worker, la("2026-12-01T08:00")).await.unwrap();
    assert_eq!(leafdesk::store::outbox::find(&store, &id).await.unwrap().unwrap().status, "sent");
    assert_eq!(fake.requests.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_marketing_text_waits_for_the_recipients_own_quiet_hours_not_the_stores() {
    let app = spawn_app().await; // no worker of its own: this test drives one with its own clock
    let (fake, base) = fake_twilio(vec![]).await;
    let store = app.state.store.clone();
    let location = leafdesk::store::locations::list(&store).await.unwrap().remove(0);
    // A Miami number (305: Florida, Eastern time in NANPA's report) at the California store,
    // and a second Miami number whose owner lives in Los Angeles.
    let (miami, moved) = ("+13055550186", "+13055550187");
    let mut tx = store.begin().await.unwrap();
    let profile = leafdesk::store::contacts::Profile {
        phone: moved,
        locale: Some("en"),
        customer_type: Some("adult_use"),
        first_name: None,
        state: Some("CA"),
        timezone: Some("America/Los_Angeles"),
    };
    leafdesk::store::contacts::upsert(&mut tx, &profile, store.now_ms()).await.unwrap();
    let mut ids = Vec::new();
    for phone in [miami, moved] {
        ids.push(queue_marketing(&mut tx, &location.location_id, phone, store.now_ms()).await);
    }
    tx.commit().await.unwrap();
    let worker = clock_worker(&store, &base);

    // 5:30 p.m. in Los Angeles is 8:30 p.m. in Miami, after Florida's 8 p.m. close.
    leafdesk::outbox::deliver_due(&worker, la("2026-11-30T17:30")).await.unwrap();
    let held = leafdesk::store::outbox::find(&store, &ids[0]).await.unwrap().unwrap();
    assert_eq!(held.status, "held");
    assert_eq!(held.next_attempt_at_ms, la("2026-12-01T05:00"), "8 a.m. in Miami");
    assert!(held.reason.unwrap().starts_with("FL quiet hours"));
    let sent = leafdesk::store::outbox::find(&store, &ids[1]).await.unwrap().unwrap();
    assert_eq!(sent.status, "sent", "its owner's evening in Los Angeles is inside the window");
    assert_eq!(fake.requests.lock().unwrap().len(), 1);
}
