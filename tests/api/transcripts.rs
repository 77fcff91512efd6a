//! Call transcripts end to end: Twilio's Real-Time Transcription callbacks on a call a person
//! takes, and finished calls from any platform through `POST /api/v1/transcripts` — stored in
//! order, never twice, through the consent check, and on a ticket.

use serde_json::{json, Value};

use crate::helpers::*;

const ALEX: &str = "+15555550100";
const SAM: &str = "+15555550103";

fn form(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

async fn post_transcript(app: &TestApp, secret: &str, body: &Value) -> (u16, Value) {
    post_signed_json(app, secret, "/api/v1/transcripts", &body.to_string(), app.now_secs()).await
}

#[tokio::test]
async fn a_call_a_person_takes_is_transcribed_onto_their_ticket_and_a_spoken_revocation_counts() {
    let env = vec![
        ("LEAFDESK_VOICE_WHEN_NOBODY", "enqueue".to_owned()),
        ("LEAFDESK_VOICE_TRANSCRIBE_CALLS", "true".to_owned()),
    ];
    let app = spawn_with(Options { env, ..Options::default() }).await;
    let call = format!("CA{}", uuid::Uuid::new_v4().simple());
    let base = [("CallSid", call.as_str()), ("AccountSid", ACCOUNT_SID), ("From", ALEX), ("To", OUR_NUMBER)];
    let greeting = app.post_signed("/webhooks/twilio/voice", &form(&base)).await;
    assert_eq!(greeting.status, 200);
    let mut asked = base.to_vec();
    asked.extend([("SpeechResult", "I want to talk to an agent"), ("Confidence", "0.9")]);
    let held = app.post_signed("/webhooks/twilio/voice/gather?turn=1&quiet=0&unclear=0", &form(&asked)).await;
    let start = r#"<Start><Transcription languageCode="en-US" statusCallbackMethod="POST" statusCallbackUrl="https://bot.example.test/webhooks/twilio/voice/transcription" track="both_tracks"/></Start><Enqueue>leafdesk-general</Enqueue>"#;
    assert!(held.body.contains(start), "{}", held.body);

    let path = "/webhooks/twilio/voice/transcription";
    let callback = |event: &'static str, extra: Vec<(&'static str, String)>| {
        let mut pairs = vec![
            ("TranscriptionEvent".to_owned(), event.to_owned()),
            ("CallSid".to_owned(), call.clone()),
            ("AccountSid".to_owned(), ACCOUNT_SID.to_owned()),
            ("TranscriptionSid".to_owned(), "GT0123456789abcdef0123456789abcdef".to_owned()),
        ];
        pairs.extend(extra.into_iter().map(|(k, v)| (k.to_owned(), v)));
        pairs
    };
    let content = |seq: &str, track: &str, text: &str, fin: &str, at: &str| {
        let data = json!({ "transcript": text, "confidence": 0.87 }).to_string();
        callback(
            "transcription-content",
            vec![
                ("SequenceId", seq.to_owned()),
                ("Track", track.to_owned()),
                ("Final", fin.to_owned()),
                ("Timestamp", at.to_owned()),
                ("TranscriptionData", data),
            ],
        )
    };
    assert_eq!(app.post_signed(path, &callback("transcription-started", vec![])).await.status, 204);
    let segments = [
        content("1", "inbound_track", "Hi, my order never showed up", "true", "2026-11-30T20:01:00.000Z"),
        content("2", "outbound_track", "Sorry about that, let me look", "true", "2026-11-30T20:01:04.000Z"),
        content("3", "inbound_track", "my order never", "false", "2026-11-30T20:01:05.000Z"), // partial
        content("1", "inbound_track", "Hi, my order never showed up", "true", "2026-11-30T20:01:00.000Z"), // retry
        content("4", "inbound_track", "and please stop calling me", "true", "2026-11-30T20:01:09.000Z"),
    ];
    for segment in &segments {
        let reply = app.post_signed(path, segment).await;
        assert_eq!(reply.status, 204, "{}", reply.body);
    }
    assert_eq!(app.post_signed(path, &callback("transcription-stopped", vec![])).await.status, 204);

    let on_ticket: Vec<(String, String, Option<f64>)> = sqlx::query_as(
        "select m.direction, m.body, m.confidence from message m join ticket t on t.ticket_id = m.ticket_id
         where m.provider_id like 'twilio:%' order by m.created_at_ms",
    )
    .fetch_all(app.state.store.pool())
    .await
    .unwrap();
    let said: Vec<(&str, &str)> = on_ticket.iter().map(|(d, b, _)| (d.as_str(), b.as_str())).collect();
    assert_eq!(
        said,
        [
            ("inbound", "Hi, my order never showed up"),
            ("outbound", "Sorry about that, let me look"),
            ("inbound", "and please stop calling me")
        ]
    );
    assert_eq!(on_ticket[0].2, Some(0.87));
    let revoked =
        "select count(*) from consent_event where phone = '+15555550100' and action = 'opt_out' and source = 'voice'";
    assert!(app.count(revoked).await >= 1, "the spoken revocation is in the ledger");

    // A malformed callback is refused naming the field; nothing more is stored.
    let mut bad = content("5", "inbound_track", "x", "true", "2026-11-30T20:01:10.000Z");
    bad.iter_mut().find(|(k, _)| k == "TranscriptionData").unwrap().1 = "{not json".into();
    let reply = app.post_signed(path, &bad).await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(reply.body.contains("TranscriptionData"), "{}", reply.body);
}

fn declined_call(segments: Value, ended: bool) -> Value {
    let mut call = json!({
        "call_id": "pbx-7781",
        "from": SAM,
        "to": OUR_NUMBER,
        "started_at": "2026-11-30T11:50:00-08:00",
        "segments": segments,
    });
    if ended {
        call["ended_at"] = json!("2026-11-30T11:53:00-08:00");
    }
    call
}

#[tokio::test]
async fn a_finished_call_from_another_platform_is_stored_in_order_once_and_opens_a_ticket_for_its_flow() {
    let app = spawn_app().await;
    let secret = integration(&app).await;
    // Out of order, with an overlapping repeat.
    let first = json!([
        { "speaker": "agent", "text": "Demo Dispensary, how can I help?", "start": 0.0, "end": 2.1, "confidence": 0.95 },
        { "speaker": "customer", "text": "My card payment got declined for my order", "start": 9.5, "end": 12.0, "confidence": 0.9 },
        { "speaker": "customer", "text": "Hi there", "start": 2.5, "end": 3.0 },
        { "speaker": "agent", "text": "Demo Dispensary, how can I help?", "start": 0.0, "end": 2.1, "confidence": 0.95 }
    ]);
    let (status, answer) = post_transcript(&app, &secret, &declined_call(first.clone(), true)).await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["result"]["stored"], 3, "{answer}");
    assert_eq!(answer["result"]["ticket_opened"], true, "{answer}");
    let (queue, reason, tags): (String, String, String) =
        sqlx::query_as("select queue, reason, tags from ticket where status = 'open'")
            .fetch_one(app.state.store.pool())
            .await
            .unwrap();
    assert_eq!(queue, "payments");
    assert!(reason.contains("check it was resolved"), "{reason}");
    assert!(tags.contains("payment issue"), "{tags}");

    // The platform retries with the same segments: nothing is stored twice, no second ticket.
    let (status, again) = post_transcript(&app, &secret, &declined_call(first, true)).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["result"]["stored"], 0);
    assert_eq!(app.count("select count(*) from ticket").await, 1);
    let bodies: Vec<(String,)> =
        sqlx::query_as("select body from message where provider_id like 'api:pbx-7781:%' order by created_at_ms")
            .fetch_all(app.state.store.pool())
            .await
            .unwrap();
    let bodies: Vec<&str> = bodies.iter().map(|(b,)| b.as_str()).collect();
    assert_eq!(bodies, ["Demo Dispensary, how can I help?", "Hi there", "My card payment got declined for my order"]);
}

#[tokio::test]
async fn malformed_transcripts_are_refused_naming_what_to_fix_and_nothing_is_stored() {
    let app = spawn_app().await;
    let secret = integration(&app).await;
    let ok_segment = json!([{ "speaker": "customer", "text": "hello", "start": 0.0, "end": 1.0 }]);
    let mut no_location = declined_call(ok_segment.clone(), true);
    no_location["to"] = json!("+15005550099");
    let mut bad_from = declined_call(ok_segment.clone(), true);
    bad_from["from"] = json!("not a number");
    let cases = [
        (
            "end before start",
            declined_call(json!([{ "speaker": "customer", "text": "x", "start": 5.0, "end": 1.0 }]), true),
            422,
            "segments[0]",
        ),
        (
            "empty text",
            declined_call(json!([{ "speaker": "agent", "text": " ", "start": 0.0, "end": 1.0 }]), true),
            422,
            "segments[0].text",
        ),
        (
            "confidence over 1",
            declined_call(
                json!([{ "speaker": "customer", "text": "x", "start": 0.0, "end": 1.0, "confidence": 7 }]),
                true,
            ),
            422,
            "confidence",
        ),
        (
            "unknown speaker",
            declined_call(json!([{ "speaker": "robot", "text": "x", "start": 0.0, "end": 1.0 }]), true),
            400,
            "expected one of `customer`, `agent`, `bot`",
        ),
        ("no segments", declined_call(json!([]), true), 422, "segments"),
        ("a number we do not serve", no_location, 422, "location_id"),
        ("bad from", bad_from, 422, "from"),
    ];
    for (why, body, status, names) in cases {
        let (got, answer) = post_transcript(&app, &secret, &body).await;
        assert_eq!(got, status, "{why}: {answer}");
        assert!(answer.to_string().contains(names), "{why}: {answer}");
    }
    let (unsigned, _) = post_transcript(&app, "wrong-secret", &declined_call(ok_segment, true)).await;
    assert_eq!(unsigned, 401);
    assert_eq!(app.count("select count(*) from message where channel = 'voice'").await, 0);
}
