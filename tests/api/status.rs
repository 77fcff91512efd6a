//! Status callbacks: forward-only delivery status, deduplication, carrier opt-out (21610).

use crate::helpers::*;

const PATH: &str = "/webhooks/twilio/status";

fn callback(sid: &str, status: &str, error_code: Option<&str>) -> Vec<(String, String)> {
    let mut params: Vec<(String, String)> = [
        ("MessageSid", sid),
        ("MessageStatus", status),
        ("AccountSid", ACCOUNT_SID),
        ("From", OUR_NUMBER),
        ("To", "+15555550100"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    if let Some(code) = error_code {
        params.push(("ErrorCode".into(), code.into()));
    }
    params
}

async fn sent_message(app: &TestApp, provider_id: &str) {
    app.sms(&sid(), "+15555550100", "hi").await;
    let (conversation,): (String,) =
        sqlx::query_as("select conversation_id from conversation").fetch_one(app.state.store.pool()).await.unwrap();
    // As the outbox files a message the provider accepted.
    sqlx::query(
        "insert into message (message_id, conversation_id, direction, channel, provider_id, body, status,
            created_at_ms, updated_at_ms) values ($1, $2, 'outbound', 'sms', $3, 'Your order is ready.', 'queued', 0, 0)",
    )
    .bind(leafdesk::new_id())
    .bind(&conversation)
    .bind(provider_id)
    .execute(app.state.store.pool())
    .await
    .unwrap();
}

fn carrier_opt_outs(history: Vec<leafdesk::store::consent::ConsentEvent>) -> usize {
    history.iter().filter(|e| e.source == "carrier_21610" && e.action == "opt_out").count()
}

async fn status(app: &TestApp, provider_id: &str) -> (String, Option<String>) {
    app.message_status_of(provider_id).await
}

#[tokio::test]
async fn statuses_move_forward_and_a_late_callback_never_moves_them_back() {
    let app = spawn_app().await;
    sent_message(&app, "SM00000000000000000000000000000001").await;
    for (given, expected) in
        [("sent", "sent"), ("delivered", "delivered"), ("sent", "delivered"), ("failed", "delivered"), ("read", "read")]
    {
        let reply = app.post_signed(PATH, &callback("SM00000000000000000000000000000001", given, None)).await;
        assert_eq!(reply.status, 204, "{given}: {}", reply.body);
        assert_eq!(status(&app, "SM00000000000000000000000000000001").await.0, expected, "after a {given:?} callback");
    }
}

#[tokio::test]
async fn a_repeated_callback_is_acknowledged_and_recorded_once() {
    let app = spawn_app().await;
    sent_message(&app, "SM00000000000000000000000000000002").await;
    for _ in 0..3 {
        assert_eq!(
            app.post_signed(PATH, &callback("SM00000000000000000000000000000002", "delivered", None)).await.status,
            204
        );
    }
    assert_eq!(app.count("select count(*) from webhook_receipt where kind = 'status_callback'").await, 1);
    assert_eq!(status(&app, "SM00000000000000000000000000000002").await.0, "delivered");
}

#[tokio::test]
async fn error_21610_records_that_the_carrier_has_the_number_opted_out() {
    let app = spawn_app().await;
    sent_message(&app, "SM00000000000000000000000000000003").await;
    assert_eq!(carrier_opt_outs(leafdesk::store::consent::history(&app.state.store, "+15555550100").await.unwrap()), 0);
    let reply = app.post_signed(PATH, &callback("SM00000000000000000000000000000003", "failed", Some("21610"))).await;
    assert_eq!(reply.status, 204);
    assert_eq!(
        status(&app, "SM00000000000000000000000000000003").await,
        ("failed".to_owned(), Some("21610".to_owned()))
    );
    // The consent ledger is the one record of it, for both purposes.
    assert_eq!(carrier_opt_outs(leafdesk::store::consent::history(&app.state.store, "+15555550100").await.unwrap()), 2);
}

#[tokio::test]
async fn status_callbacks_are_verified_and_validated() {
    let app = spawn_app().await;
    let params = callback("SM00000000000000000000000000000004", "delivered", None);
    let unsigned = app.post_raw(PATH, encode(&params).into_bytes(), "application/x-www-form-urlencoded", None).await;
    assert_eq!(unsigned.status, 403);
    let missing_status: Vec<(String, String)> = params.into_iter().filter(|(k, _)| k != "MessageStatus").collect();
    let reply = app.post_signed(PATH, &missing_status).await;
    assert_eq!(reply.status, 400);
    assert!(reply.body.contains("MessageStatus"), "{}", reply.body);
    assert_eq!(app.count("select count(*) from webhook_receipt").await, 0);
}

#[tokio::test]
async fn a_carrier_opt_out_whose_recording_fails_is_recorded_when_twilio_retries() {
    let app = spawn_app().await;
    sent_message(&app, "SM00000000000000000000000000000005").await;
    let pool = app.state.store.pool();
    // Recording the opt-out fails once (a full disk, a lost connection: here a trigger).
    let (arm, disarm): (&[&str], &[&str]) = if is_postgres() {
        (
            &[
                "create function refuse_once() returns trigger language plpgsql as $$ begin raise exception 'disk full'; end $$",
                "create trigger refuse_once before insert on consent_event for each row execute function refuse_once()",
            ],
            &["drop trigger refuse_once on consent_event", "drop function refuse_once()"],
        )
    } else {
        (
            &["create trigger refuse_once before insert on consent_event begin select raise(abort, 'disk full'); end"],
            &["drop trigger refuse_once"],
        )
    };
    for sql in arm {
        sqlx::query(sql).execute(pool).await.unwrap();
    }
    let params = callback("SM00000000000000000000000000000005", "failed", Some("21610"));
    assert_eq!(app.post_signed(PATH, &params).await.status, 500);
    for sql in disarm {
        sqlx::query(sql).execute(pool).await.unwrap();
    }
    // Twilio retries the callback: it is not taken for a duplicate.
    assert_eq!(app.post_signed(PATH, &params).await.status, 204);
    let history = leafdesk::store::consent::history(&app.state.store, "+15555550100").await.unwrap();
    assert_eq!(carrier_opt_outs(history), 2);
    assert_eq!(status(&app, "SM00000000000000000000000000000005").await.0, "failed");
}
