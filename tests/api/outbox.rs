//! The durable outbox against a local stand-in for Twilio's Messages API, which checks every
//! request against `tests/fixtures/twilio/twilio_messages_api.json`: path, Basic auth, form fields.

use std::sync::Arc;
use std::time::Duration;

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
    let status = app.message_status_of(&provider_id).await;
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
#[ignore = "PostgreSQL only; scripts/test runs it with --include-ignored"]
async fn two_outbox_workers_on_one_postgres_never_send_a_row_twice() {
    // one SQLite file has one server process
    require_postgres();
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
        reply: None,
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
        customer_type: Some(leafdesk::domain::commerce::CustomerType::AdultUse),
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

/// A worker driven by the test, with a send timeout of `timeout_ms`.
fn impatient_worker(store: &leafdesk::store::Store, base: &str, timeout_ms: u64) -> Arc<leafdesk::outbox::Worker> {
    let callback = Some(format!("{PUBLIC_URL}/webhooks/twilio/status"));
    let rest = leafdesk::twilio::rest::TwilioRest::new(ACCOUNT_SID, TOKEN, base, callback)
        .unwrap()
        .with_timeout(Duration::from_millis(timeout_ms));
    Arc::new(leafdesk::outbox::Worker { store: store.clone(), rest, metrics: Arc::default(), retry_base_ms: 20 })
}

/// A transactional text to `phone`, queued now; its outbox id.
async fn queue_text(app: &TestApp, phone: &str, body: &str) -> String {
    let store = &app.state.store;
    let location = leafdesk::store::locations::list(store).await.unwrap().remove(0);
    let mut tx = store.begin().await.unwrap();
    let row = leafdesk::store::outbox::NewOutbound {
        conversation_id: None,
        location_id: &location.location_id,
        to_phone: phone,
        purpose: "transactional",
        body,
        reply: None,
    };
    let id = leafdesk::store::outbox::enqueue(&mut tx, &row, store.now_ms()).await.unwrap();
    tx.commit().await.unwrap();
    id
}

async fn row(app: &TestApp, id: &str) -> leafdesk::store::outbox::OutboxRow {
    leafdesk::store::outbox::find(&app.state.store, id).await.unwrap().unwrap()
}

#[tokio::test]
async fn a_send_whose_answer_is_lost_is_looked_up_not_sent_again() {
    let app = spawn_app().await;
    let (fake, base) = fake_twilio(vec![]).await;
    fake.delay_ms.store(400, std::sync::atomic::Ordering::Relaxed); // slower than our patience
    let worker = impatient_worker(&app.state.store, &base, 100);
    let id = queue_text(&app, "+15555550193", "Your order is ready.").await;

    leafdesk::outbox::deliver_due(&worker, app.clock().now_ms()).await.unwrap();
    let unsure = row(&app, &id).await;
    assert_eq!(unsure.status, "pending");
    assert!(unsure.unsure_since_ms.is_some(), "{unsure:?}");

    fake.delay_ms.store(0, std::sync::atomic::Ordering::Relaxed);
    leafdesk::outbox::deliver_due(&worker, app.clock().now_ms() + 60_000).await.unwrap();
    let settled = row(&app, &id).await;
    assert_eq!(settled.status, "sent", "{settled:?}");
    assert_eq!(settled.provider_id.as_deref(), Some(fake.accepted.lock().unwrap()[0].0.as_str()));
    assert_eq!(fake.requests.lock().unwrap().len(), 1, "one text, though the first answer was lost");
}

#[tokio::test]
async fn marketing_whose_answer_is_lost_is_never_resent_on_a_guess() {
    let app = spawn_app().await;
    let (fake, base) = fake_twilio(vec![]).await;
    fake.delay_ms.store(400, std::sync::atomic::Ordering::Relaxed);
    let worker = impatient_worker(&app.state.store, &base, 100);
    let store = app.state.store.clone();
    let location = leafdesk::store::locations::list(&store).await.unwrap().remove(0);
    let mut tx = store.begin().await.unwrap();
    let id = queue_marketing(&mut tx, &location.location_id, "+15555550194", store.now_ms()).await;
    tx.commit().await.unwrap();
    let noon = la("2026-11-30T13:00"); // inside quiet hours' open window
    leafdesk::outbox::deliver_due(&worker, noon).await.unwrap();
    assert!(row(&app, &id).await.unsure_since_ms.is_some());

    fake.list_status.store(503, std::sync::atomic::Ordering::Relaxed); // the provider cannot be asked
    leafdesk::outbox::deliver_due(&worker, noon + 60_000).await.unwrap();
    let failed = row(&app, &id).await;
    assert_eq!(failed.status, "failed");
    assert!(failed.reason.unwrap().contains("never sent twice on a guess"));
    assert_eq!(fake.requests.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_provider_that_repeats_a_sid_gets_each_text_once_and_a_lapsed_lease_asks_before_sending() {
    let app = spawn_app().await;
    let (fake, base) = fake_twilio(vec![]).await;
    *fake.fixed_sid.lock().unwrap() = Some("SM000000000000000000000000000000aa".into());
    let worker = impatient_worker(&app.state.store, &base, 2_000);
    let ticket = open_ticket(&app, "+15555550195").await;
    let first = queue_sms_reply(&app.state.store, &ticket, "One moment.", "sam").await.unwrap().unwrap();
    let second = queue_sms_reply(&app.state.store, &ticket, "Found it.", "sam").await.unwrap().unwrap();
    let now = app.clock().now_ms();
    leafdesk::outbox::deliver_due(&worker, now).await.unwrap();
    assert_eq!((row(&app, &first).await.status, row(&app, &second).await.status), ("sent".into(), "sent".into()));
    // Long after any lease, nothing is due and nothing is sent again.
    assert_eq!(leafdesk::outbox::deliver_due(&worker, now + 3_600_000).await.unwrap(), 0);
    assert_eq!(fake.requests.lock().unwrap().len(), 2);

    // A worker that died mid-send: the row is 'sending' with a lapsed lease. Taken back, it is
    // looked up first (the provider has it) and settled without a second text.
    let lost = queue_text(&app, "+15555550196", "Ready for pickup.").await;
    let later = app.clock().now_ms();
    let claimed = leafdesk::store::outbox::claim_due(&app.state.store, later, 60_000, 64).await.unwrap();
    assert_eq!(claimed.len(), 1, "the dying worker took it");
    *fake.fixed_sid.lock().unwrap() = None;
    fake.accepted.lock().unwrap().push(("SM0000000000000000000000000000dead".into(), {
        let mut form = std::collections::HashMap::new();
        form.insert("To".to_owned(), "+15555550196".to_owned());
        form.insert("Body".to_owned(), "Ready for pickup.".to_owned());
        form
    }));
    leafdesk::outbox::deliver_due(&worker, later + 61_000).await.unwrap();
    let settled = row(&app, &lost).await;
    assert_eq!(
        (settled.status.as_str(), settled.provider_id.as_deref()),
        ("sent", Some("SM0000000000000000000000000000dead"))
    );
    assert_eq!(fake.requests.lock().unwrap().len(), 2, "not sent again");
}

#[tokio::test]
async fn every_kind_of_failure_has_a_bounded_number_of_attempts() {
    let app = spawn_app().await;
    let (fake, base) = fake_twilio(vec![]).await;
    let worker = impatient_worker(&app.state.store, &base, 2_000);
    let id = queue_text(&app, "+15555550197", "Hello again.").await;
    // Nine lapsed leases in a row (a worker that keeps dying): the ninth claim gives up.
    let mut now = app.clock().now_ms();
    for _ in 0..9 {
        leafdesk::store::outbox::claim_due(&app.state.store, now, 60_000, 64).await.unwrap();
        now += 61_000;
    }
    leafdesk::outbox::deliver_due(&worker, now).await.unwrap();
    let given_up = row(&app, &id).await;
    assert_eq!(given_up.status, "failed", "{given_up:?}");
    assert!(given_up.reason.unwrap().contains("gave up after 8 attempts"));
    assert!(fake.requests.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_delivery_report_settles_a_send_whose_answer_was_lost() {
    let app = spawn_app().await;
    let (fake, base) = fake_twilio(vec![]).await;
    fake.delay_ms.store(400, std::sync::atomic::Ordering::Relaxed);
    let worker = impatient_worker(&app.state.store, &base, 100);
    let id = queue_text(&app, "+15555550198", "See you at 5.").await;
    leafdesk::outbox::deliver_due(&worker, app.clock().now_ms()).await.unwrap();
    let sid = fake.accepted.lock().unwrap()[0].0.clone();
    let params: Vec<(String, String)> = [
        ("MessageSid", sid.as_str()),
        ("MessageStatus", "delivered"),
        ("AccountSid", ACCOUNT_SID),
        ("To", "+15555550198"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    let path = format!("/webhooks/twilio/status?outbox={id}");
    assert_eq!(app.post_signed(&path, &params).await.status, 204);
    let settled = row(&app, &id).await;
    assert_eq!((settled.status.as_str(), settled.provider_id.as_deref()), ("sent", Some(sid.as_str())));
    leafdesk::outbox::deliver_due(&worker, app.clock().now_ms() + 3_600_000).await.unwrap();
    assert_eq!(fake.requests.lock().unwrap().len(), 1);
}
