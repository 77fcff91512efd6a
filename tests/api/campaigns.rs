//! Campaigns end to end: marketing writes one in the console, a lead approves it (never its
//! author), the runner plans the audience and feeds the outbox, and the texts reach a local
//! stand-in for Twilio's REST API exactly once per allowed recipient, through the send gate:
//! quiet hours hold a text until the recipient's morning (injected clock), a state's cap holds
//! it a day, a revoked number is blocked. Pause, resume and cancel take effect on the next claim.

use std::time::{Duration, Instant};

use leafdesk::domain::staff::Role;
use leafdesk::store::consent::{self, NewConsent};

use crate::console::{person, sign_in, Browser};
use crate::helpers::*;

async fn consent_event(app: &TestApp, phone: &str, purpose: &str, action: &str) {
    let mut tx = app.state.store.begin().await.unwrap();
    let c = NewConsent { phone, purpose, action, source: "import", evidence: serde_json::json!({ "test": true }) };
    consent::record(&mut tx, &c, app.clock().now_ms()).await.unwrap();
    tx.commit().await.unwrap();
}

async fn opted_in(app: &TestApp, phones: &[&str]) {
    for phone in phones {
        consent_event(app, phone, "marketing", "opt_in").await;
    }
}

/// Marketing (mia) and a lead (lee), signed in.
async fn team(app: &TestApp) -> (Browser, Browser) {
    person(app, "mia@shop.test", &[Role::Marketing]).await;
    person(app, "lee@shop.test", &[Role::Lead]).await;
    (sign_in(app, "mia@shop.test").await, sign_in(app, "lee@shop.test").await)
}

/// Writes a campaign as marketing does; its id.
async fn write(mia: &Browser, name: &str, body_en: &str, extra: &[(&str, &str)]) -> String {
    let mut fields = vec![("name", name), ("body_en", body_en)];
    fields.extend_from_slice(extra);
    let saved = mia.post("/console/campaigns", &fields).await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    saved.location.trim_start_matches("/console/campaigns/").to_owned()
}

async fn wait_until(what: &str, mut done: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !done().await {
        assert!(Instant::now() < deadline, "{what} never happened");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn sent_to(twilio: &FakeTwilio) -> Vec<(String, String)> {
    let requests = twilio.requests.lock().unwrap();
    requests.iter().map(|f| (f["To"].clone(), f["Body"].clone())).collect()
}

async fn status_of(app: &TestApp, id: &str) -> String {
    leafdesk::store::campaigns::get(&app.state.store, id).await.unwrap().unwrap().status
}

#[tokio::test]
async fn a_campaign_reaches_each_allowed_recipient_once_through_the_send_gate() {
    let (app, twilio) = app_with(vec![]).await;
    opted_in(&app, &["+14155550301", "+14155550302", "+13055550303", "+14155550304"]).await;
    // +14155550304 revoked everything at the carrier after opting in: planned as blocked.
    consent_event(&app, "+14155550304", "transactional", "opt_out").await;
    // +13055550303 is in Florida, which allows 3 marketing texts a day: it had 3 today.
    for n in 0..3 {
        sqlx::query(
            "insert into outbox (outbox_id, location_id, to_phone, purpose, body, status, next_attempt_at_ms,
                created_at_ms, sent_at_ms) select $1, location_id, '+13055550303', 'marketing', 'earlier offer', 'sent', $2, $2, $2
            from location limit 1",
        )
        .bind(format!("earlier{n}"))
        .bind(app.clock().now_ms() - 3_600_000)
        .execute(app.state.store.pool())
        .await
        .unwrap();
    }
    let (mia, lee) = team(&app).await;

    // Refused with the reason: content carriers filter, nobody in the audience.
    let filtered = mia.post("/console/campaigns", &[("name", "x"), ("body_en", "Fresh weed deals today")]).await;
    assert_eq!(filtered.status, 422);
    assert!(filtered.body.contains("en message: &quot;weed&quot; is filtered by US carriers"), "{}", filtered.body);
    let nobody = mia
        .post("/console/campaigns", &[("name", "x"), ("body_en", "Deals today"), ("customer_type", "medical")])
        .await;
    assert_eq!(nobody.status, 422);
    assert!(nobody.body.contains("Nobody in this audience has agreed to marketing texts"), "{}", nobody.body);
    let unknown = mia.post("/console/campaigns", &[("name", "x"), ("body_en", "Hi {{name}}")]).await;
    assert!(unknown.body.contains("{{name}} is not a merge field"), "{}", unknown.body);

    let id =
        write(&mia, "Weekend pre-rolls", "Hi {{first_name}}, 20% off everything this weekend at {{store}}.", &[]).await;
    let page = mia.get(&format!("/console/campaigns/{id}")).await;
    assert!(
        page.body.contains("<strong id=\"audience\">3</strong>"),
        "three numbers with marketing consent: {}",
        page.body
    );
    assert!(page.body.contains("1 SMS segment(s), GSM-7"), "{}", page.body);
    // Its author cannot approve it; nothing is sent before a lead does.
    let own = mia.post(&format!("/console/campaigns/{id}/approve"), &[]).await;
    assert_eq!(own.status, 403, "{}", own.body);
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(sent_to(&twilio).is_empty());
    assert_eq!(status_of(&app, &id).await, "draft");

    let approved = lee.post(&format!("/console/campaigns/{id}/approve"), &[]).await;
    assert_eq!(approved.status, 303, "{}", approved.body);
    wait_until("two texts sent", async || sent_to(&twilio).len() >= 2).await;
    wait_until("the held text counted", async || {
        leafdesk::store::campaigns::progress(&app.state.store, &id).await.unwrap().held == 1
    })
    .await;
    let mut sent = sent_to(&twilio);
    sent.sort();
    assert_eq!(
        sent,
        [
            (
                "+14155550301".into(),
                "Hi there, 20% off everything this weekend at Demo Dispensary. Reply STOP to opt out.".into()
            ),
            (
                "+14155550302".into(),
                "Hi there, 20% off everything this weekend at Demo Dispensary. Reply STOP to opt out.".into()
            ),
        ]
    );
    // The carrier reports one delivered.
    let sid = twilio.accepted.lock().unwrap()[0].0.clone();
    let params: Vec<(String, String)> = [
        ("MessageSid", sid.as_str()),
        ("MessageStatus", "delivered"),
        ("AccountSid", ACCOUNT_SID),
        ("From", OUR_NUMBER),
        ("To", "+14155550301"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    assert_eq!(app.post_signed("/webhooks/twilio/status", &params).await.status, 204);
    let progress = leafdesk::store::campaigns::progress(&app.state.store, &id).await.unwrap();
    assert_eq!(progress.delivered, 1, "{progress:?}");
    // Four recipients: two sent, one held by Florida's cap, one blocked (revoked everything).
    assert_eq!((progress.planned, progress.sent, progress.held, progress.blocked), (4, 2, 1, 1), "{progress:?}");
    let page = lee.get(&format!("/console/campaigns/{id}")).await;
    assert!(page.body.contains("FL allows at most 3 marketing texts per 24 hours"), "{}", page.body);
    assert!(page.body.contains("the number opted out of our messages"), "{}", page.body);

    // Another round of the runner, and four replicas at once, queue nothing twice.
    let rounds = (0..4).map(|_| leafdesk::campaigns::run_once(&app.state.store, &app.state.library));
    for queued in futures_util::future::join_all(rounds).await {
        assert_eq!(queued.unwrap(), 0);
    }
    let rows = app.count(&format!("select count(*) from outbox where campaign_id = '{id}'")).await;
    assert_eq!(rows, 3, "one outbox row per recipient not blocked when planned");

    // A day after the earliest of its three texts, Florida's cap lets it go, once.
    app.clock().advance(23 * 3_600_000);
    wait_until("the Florida text sent", async || sent_to(&twilio).len() == 3).await;
    wait_until("the campaign finished", async || status_of(&app, &id).await == "finished").await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(sent_to(&twilio).len(), 3, "never twice");
    assert!(twilio.violations.lock().unwrap().is_empty());
}

#[tokio::test]
async fn quiet_hours_hold_texts_until_the_recipients_morning_and_pause_and_cancel_stop_them() {
    // 20:30 in Los Angeles is 23:30 in New York: a New York number waits for 8:00 its time.
    let (fake, base) = fake_twilio(vec![]).await;
    let clock = leafdesk::clock::Clock::starting_at(la("2026-11-30T20:30"));
    let app = spawn_with(Options { twilio_api_base: Some(base), clock, ..Options::default() }).await;
    opted_in(&app, &["+12125550401", "+14155550402"]).await;
    let (mia, lee) = team(&app).await;
    let id = write(&mia, "Evening", "New arrivals at {{store}} tomorrow.", &[]).await;
    assert_eq!(lee.post(&format!("/console/campaigns/{id}/approve"), &[]).await.status, 303);
    wait_until("the California text sent", async || sent_to(&fake).len() == 1).await;
    assert_eq!(sent_to(&fake)[0].0, "+14155550402");
    wait_until("the New York text held", async || {
        leafdesk::store::campaigns::progress(&app.state.store, &id).await.unwrap().held == 1
    })
    .await;
    let held: (i64, String) = sqlx::query_as(&format!(
        "select next_attempt_at_ms, reason from outbox where campaign_id = '{id}' and status = 'held'"
    ))
    .fetch_one(app.state.store.pool())
    .await
    .unwrap();
    assert_eq!(held.0, la("2026-12-01T05:00"), "8:00 in New York");
    assert!(held.1.contains("quiet hours"), "{}", held.1);

    // Paused, the morning comes and nothing goes; resumed, it goes at once.
    assert_eq!(mia.post(&format!("/console/campaigns/{id}/pause"), &[]).await.status, 303);
    app.clock().advance(la("2026-12-01T05:01") - app.clock().now_ms());
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(sent_to(&fake).len(), 1, "a paused campaign sends nothing");
    // (The night ended the sessions: sign in again.)
    let mia = sign_in(&app, "mia@shop.test").await;
    assert_eq!(mia.post(&format!("/console/campaigns/{id}/resume"), &[]).await.status, 303);
    wait_until("the New York text sent after resume", async || sent_to(&fake).len() == 2).await;
    assert_eq!(sent_to(&fake)[1].0, "+12125550401");

    // A second campaign in the evening: cancelled while its text is held, it never goes.
    app.clock().advance(la("2026-12-01T20:30") - app.clock().now_ms());
    let (mia, lee) = (sign_in(&app, "mia@shop.test").await, sign_in(&app, "lee@shop.test").await);
    let second = write(&mia, "Second", "Doors open early at {{store}} tomorrow.", &[]).await;
    assert_eq!(lee.post(&format!("/console/campaigns/{second}/approve"), &[]).await.status, 303);
    wait_until("one sent, one held", async || {
        let p = leafdesk::store::campaigns::progress(&app.state.store, &second).await.unwrap();
        p.sent == 1 && p.held == 1
    })
    .await;
    assert_eq!(lee.post(&format!("/console/campaigns/{second}/cancel"), &[]).await.status, 303);
    assert_eq!(status_of(&app, &second).await, "cancelled");
    app.clock().advance(12 * 3_600_000);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(sent_to(&fake).len(), 3, "the cancelled campaign's held text never went");
    let p = leafdesk::store::campaigns::progress(&app.state.store, &second).await.unwrap();
    assert_eq!((p.sent, p.cancelled), (1, 1), "{p:?}");
}

#[tokio::test]
async fn a_test_send_goes_only_to_the_staff_test_numbers_marked_as_a_test() {
    let (fake, base) = fake_twilio(vec![]).await;
    let env = vec![("LEAFDESK_TEST_NUMBERS", "+14155550199,+14155550198".to_owned())];
    let app = spawn_with(Options { twilio_api_base: Some(base), env, ..Options::default() }).await;
    opted_in(&app, &["+14155550501"]).await;
    let (mia, lee) = team(&app).await;
    let id = write(
        &mia,
        "Tested",
        "Hi {{first_name}}, deals at {{store}}.",
        &[("body_es", "Hola {{first_name}}, ofertas en {{store}}.")],
    )
    .await;
    let page = mia.get(&format!("/console/campaigns/{id}")).await;
    assert!(page.body.contains("value=\"+14155550199\"") && page.body.contains("+1••••••0198"), "{}", page.body);
    // Any other number is refused: a test is no way around approval.
    let other = mia.post(&format!("/console/campaigns/{id}/test"), &[("phone", "+14155550501")]).await;
    assert_eq!(other.status, 422);
    assert!(other.body.contains("staff test numbers"), "{}", other.body);
    let done = mia.post(&format!("/console/campaigns/{id}/test"), &[("phone", "+14155550199")]).await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(done.body.contains("2 test text(s) queued"));
    wait_until("both test texts sent", async || sent_to(&fake).len() == 2).await;
    let mut bodies: Vec<String> = sent_to(&fake)
        .into_iter()
        .map(|(to, body)| {
            assert_eq!(to, "+14155550199");
            body
        })
        .collect();
    bodies.sort();
    assert_eq!(bodies[0], "[TEST Tested] Hi Alex, deals at Demo Dispensary. Reply STOP to opt out.");
    assert_eq!(bodies[1], "[TEST Tested] Hola Alex, ofertas en Demo Dispensary. Responda STOP para cancelar.");
    assert_eq!(status_of(&app, &id).await, "draft", "a test sends nothing to the audience");
    // Once it is sending, no more tests.
    assert_eq!(lee.post(&format!("/console/campaigns/{id}/approve"), &[]).await.status, 303);
    wait_until("the campaign finished", async || status_of(&app, &id).await == "finished").await;
    let late = mia.post(&format!("/console/campaigns/{id}/test"), &[("phone", "+14155550199")]).await;
    assert_eq!(late.status, 409);
}

#[tokio::test]
async fn a_scheduled_campaign_waits_for_its_time_and_a_message_saying_how_to_stop_gets_no_second_line() {
    let (app, twilio) = app_with(vec![]).await;
    opted_in(&app, &["+14155550601"]).await;
    let (mia, lee) = team(&app).await;
    // Tomorrow at 10:00, store time.
    let id = write(
        &mia,
        "Tomorrow",
        "Doors open at 9 tomorrow at {{store}}. Text STOP to end.",
        &[("send_at", "2026-12-01T10:00")],
    )
    .await;
    assert_eq!(lee.post(&format!("/console/campaigns/{id}/approve"), &[]).await.status, 303);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(status_of(&app, &id).await, "approved", "waits for its time");
    assert!(sent_to(&twilio).is_empty());
    app.clock().advance(la("2026-12-01T10:00") - app.clock().now_ms());
    wait_until("sent at its time", async || sent_to(&twilio).len() == 1).await;
    assert_eq!(sent_to(&twilio)[0].1, "Doors open at 9 tomorrow at Demo Dispensary. Text STOP to end.");
    let mia = sign_in(&app, "mia@shop.test").await; // (the day ended the session)
    let past =
        mia.post("/console/campaigns", &[("name", "x"), ("body_en", "Deals"), ("send_at", "2026-11-01T10:00")]).await;
    assert!(past.body.contains("The send time is in the past"), "{}", past.body);
}
