//! Phone calls end to end: Twilio's voice webhooks signed as Twilio signs them, the greeting and
//! speech `<Gather>`, turns through the same flows as texts, silence and unsure transcripts, a
//! spoken revocation, links texted during a call, hand-offs to the hold queue or a callback
//! ticket, and a call's end closing its conversation.

use crate::helpers::*;

const ALEX: &str = "+15555550100";
const SAM: &str = "+15555550103";
const CASEY: &str = "+15555550105";
const GATHER: &str = "/webhooks/twilio/voice/gather";

fn call_sid() -> String {
    format!("CA{}", uuid::Uuid::new_v4().simple())
}

fn call_params(sid: &str, from: &str, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let base = [
        ("CallSid", sid),
        ("AccountSid", ACCOUNT_SID),
        ("From", from),
        ("To", OUR_NUMBER),
        ("CallStatus", "in-progress"),
        ("Direction", "inbound"),
    ];
    let overridden = |k: &&str| extra.iter().any(|(e, _)| e == k);
    let base = base.iter().filter(|(k, _)| !overridden(k));
    base.chain(extra).map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

/// What a voice document says, in order (entities decoded).
fn says(xml: &str) -> Vec<String> {
    xml.split("<Say")
        .skip(1)
        .filter_map(|part| part.split_once('>').and_then(|(_, rest)| rest.split("</Say>").next()))
        .map(|t| {
            t.replace("&amp;", "&")
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&apos;", "'")
                .replace("&quot;", "\"")
        })
        .collect()
}

/// The `action` of the document's `<Gather>`, as the path and query Twilio would post to.
fn next_gather(xml: &str) -> String {
    let start = xml.find("<Gather").unwrap_or_else(|| panic!("no Gather in {xml}"));
    let attrs = &xml[start..xml[start..].find('>').unwrap() + start];
    let action = attrs.split("action=\"").nth(1).unwrap().split('"').next().unwrap().replace("&amp;", "&");
    action.strip_prefix(PUBLIC_URL).expect("an absolute action on our public URL").to_owned()
}

struct Caller<'a> {
    app: &'a TestApp,
    sid: String,
    from: &'a str,
    next: String,
}

impl<'a> Caller<'a> {
    async fn dial(app: &'a TestApp, from: &'a str) -> (Caller<'a>, Reply) {
        let sid = call_sid();
        let reply = app.post_signed("/webhooks/twilio/voice", &call_params(&sid, from, &[])).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        let next = next_gather(&reply.body);
        (Caller { app, sid, from, next }, reply)
    }

    /// Says `words` as Twilio heard them with `confidence`; follows the next `<Gather>`.
    async fn say(&mut self, words: &str, confidence: &str) -> Reply {
        let params = call_params(&self.sid, self.from, &[("SpeechResult", words), ("Confidence", confidence)]);
        let reply = self.app.post_signed(&self.next, &params).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        if reply.body.contains("<Gather") {
            self.next = next_gather(&reply.body);
        }
        reply
    }

    async fn silence(&mut self) -> Reply {
        let reply = self.app.post_signed(&self.next, &call_params(&self.sid, self.from, &[])).await;
        if reply.body.contains("<Gather") {
            self.next = next_gather(&reply.body);
        }
        reply
    }

    async fn hang_up(&self) -> Reply {
        let params = call_params(&self.sid, self.from, &[("CallStatus", "completed"), ("CallDuration", "42")]);
        self.app.post_signed("/webhooks/twilio/voice/status", &params).await
    }
}

#[tokio::test]
async fn a_caller_is_greeted_and_answered_by_voice_through_the_same_flows() {
    let app = spawn_app().await;
    let (mut call, greeting) = Caller::dial(&app, ALEX).await;
    assert!(greeting.body.contains(r#"input="speech""#), "{}", greeting.body);
    assert!(greeting.body.contains(r#"speechTimeout="auto""#) && greeting.body.contains(r#"language="en-US""#));
    assert!(greeting.body.contains("Blue Dream"), "product names are hints: {}", greeting.body);
    assert!(greeting.body.contains("payment"), "the menu's words are hints");
    assert_eq!(call.next, "/webhooks/twilio/voice/gather?turn=1&quiet=0&unclear=0");
    let hello = says(&greeting.body).join(" ");
    assert!(hello.starts_with("Hi! This is Demo Dispensary.") && hello.contains("Say one for your order"), "{hello}");

    let answer = call.say("One.", "0.91").await;
    let said = says(&answer.body).join(" ");
    assert!(said.contains("L D, 1 0 0 1"), "the order number is spelled out: {said}");
    assert!(!said.contains("http") && !said.contains('\n'), "{said}");
    assert_eq!(call.next, "/webhooks/twilio/voice/gather?turn=2&quiet=0&unclear=0");

    // Twilio retrying the same turn gets the same answer, and nothing is stored twice.
    let messages = "select count(*) from message where channel = 'voice'";
    let before = app.count(messages).await;
    let params = call_params(&call.sid, ALEX, &[("SpeechResult", "One."), ("Confidence", "0.91")]);
    let retry = app.post_signed("/webhooks/twilio/voice/gather?turn=1&quiet=0&unclear=0", &params).await;
    assert_eq!(says(&retry.body), says(&answer.body));
    assert_eq!(app.count(messages).await, before);
    assert_eq!(before, 3, "the greeting, what Alex said and the answer");
}

#[tokio::test]
async fn unsigned_or_wrongly_signed_voice_requests_are_refused_and_nothing_is_stored() {
    let app = spawn_app().await;
    let sid = call_sid();
    for path in ["/webhooks/twilio/voice", GATHER, "/webhooks/twilio/voice/status"] {
        let params = call_params(&sid, ALEX, &[("SpeechResult", "hi")]);
        let body = encode(&params).into_bytes();
        let form = "application/x-www-form-urlencoded";
        let unsigned = app.post_raw(path, body.clone(), form, None).await;
        assert_eq!(unsigned.status, 403, "{path}: {}", unsigned.body);
        let other = sign("/webhooks/twilio/sms", &params);
        let wrong = app.post_raw(path, body, form, Some(&other)).await;
        assert_eq!(wrong.status, 403, "{path} signed for another URL: {}", wrong.body);
    }
    let forged = call_params("CA-not-a-sid", ALEX, &[]);
    let reply = app.post_signed("/webhooks/twilio/voice", &forged).await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(reply.body.contains("CallSid"), "{}", reply.body);
    assert_eq!(app.count("select count(*) from conversation where channel = 'voice'").await, 0);
}

#[tokio::test]
async fn silence_is_asked_again_then_the_call_ends_politely() {
    let app = spawn_app().await;
    let (mut call, _) = Caller::dial(&app, ALEX).await;
    let first = call.silence().await;
    assert!(says(&first.body)[0].starts_with("Are you still there?"), "{}", first.body);
    assert_eq!(call.next, "/webhooks/twilio/voice/gather?turn=2&quiet=1&unclear=0");
    let second = call.silence().await;
    assert!(says(&second.body)[0].contains("I'll hang up now"), "{}", second.body);
    assert!(second.body.ends_with("<Hangup/></Response>"), "{}", second.body);
}

#[tokio::test]
async fn speech_twilio_is_unsure_of_is_asked_again_then_a_person_is_offered() {
    let app = spawn_app().await;
    let (mut call, _) = Caller::dial(&app, ALEX).await;
    let first = call.say("whirr blip order", "0.12").await;
    assert_eq!(says(&first.body), ["Sorry, I didn't catch that. Could you say it again?"]);
    let second = call.say("mumble", "0.2").await;
    assert!(says(&second.body)[0].contains("You can say \"person\""), "{}", second.body);
    assert_eq!(call.next, "/webhooks/twilio/voice/gather?turn=3&quiet=0&unclear=2");
    assert_eq!(app.count("select count(*) from message where direction = 'inbound'").await, 0, "not a turn");
    // Heard clearly at last: the flows answer, and the counters start again.
    let clear = call.say("Where is my order?", "0.88").await;
    assert!(says(&clear.body).join(" ").contains("L D, 1 0 0 1"), "{}", clear.body);
    assert_eq!(call.next, "/webhooks/twilio/voice/gather?turn=4&quiet=0&unclear=0");
}

#[tokio::test]
async fn stop_calling_me_revokes_calls_and_texts_with_source_voice_and_ends_the_call() {
    let app = spawn_app().await;
    let (mut call, _) = Caller::dial(&app, ALEX).await;
    // However unsure Twilio is, a revocation counts.
    let reply = call.say("Stop calling me.", "0.2").await;
    assert!(says(&reply.body)[0].starts_with("Okay. We won't call or text you again"), "{}", reply.body);
    assert!(reply.body.ends_with("<Hangup/></Response>"), "{}", reply.body);
    let revoked =
        "select count(*) from consent_event where phone = '+15555550100' and action = 'opt_out' and source = 'voice'";
    assert!(app.count(revoked).await >= 2, "transactional and marketing both revoked");
    // A text from the bot is now refused by the gate; an SMS from Alex gets no flow answer.
    let text = app.sms(&sid(), ALEX, "where is my order").await;
    assert!(text.messages().is_empty(), "{}", text.body);
}

#[tokio::test]
async fn a_link_is_texted_during_the_call_when_consent_allows_and_explained_when_it_does_not() {
    let ach = ("LEAFDESK_ACH_PAYMENT_URL", "https://pay.example.test/ach?order={order}".to_owned());
    let app = spawn_with(Options { env: vec![ach], ..Options::default() }).await;
    let (mut call, _) = Caller::dial(&app, SAM).await;
    let offer = call.say("My card payment got declined.", "0.9").await;
    assert!(says(&offer.body).join(" ").contains("Say one to pay by bank transfer"), "{}", offer.body);
    let link = call.say("One.", "0.93").await;
    let said = says(&link.body).join(" ");
    assert!(said.contains("I've texted you a secure link to pay for order L D, 1 0 0 4"), "{said}");
    let queued: (String, String) =
        sqlx::query_as("select to_phone, body from outbox where body like '%pay.example.test%'")
            .fetch_one(app.state.store.pool())
            .await
            .expect("the link is in the outbox");
    assert_eq!(queued.0, SAM);
    assert!(queued.1.contains("https://pay.example.test/ach?order=LD-1004"), "{}", queued.1);

    // Casey opted out of texts: the upload link cannot be texted, and the bot says how to get it.
    let stop = app.sms(&sid(), CASEY, "STOP").await;
    assert_eq!(stop.status, 200);
    let (mut call, _) = Caller::dial(&app, CASEY).await;
    let reply = call.say("My medical recommendation expired, I need to upload a new one.", "0.9").await;
    let said = says(&reply.body).join(" ");
    assert!(said.contains("I can't text you the upload link"), "{said}");
    assert!(said.contains("Text START"), "{said}");
    assert_eq!(app.count("select count(*) from outbox where to_phone = '+15555550105'").await, 0);
}

#[tokio::test]
async fn a_hand_off_holds_the_caller_in_the_queue_with_the_transcript_on_the_ticket() {
    let enqueue = ("LEAFDESK_VOICE_WHEN_NOBODY", "enqueue".to_owned());
    let app = spawn_with(Options { env: vec![enqueue], ..Options::default() }).await;
    let (mut call, _) = Caller::dial(&app, ALEX).await;
    call.say("Is my order ready?", "0.9").await;
    let reply = call.say("I want to talk to a person.", "0.9").await;
    assert!(says(&reply.body).join(" ").contains("Please hold"), "{}", reply.body);
    assert!(reply.body.ends_with("<Enqueue>leafdesk-general</Enqueue></Response>"), "{}", reply.body);
    let (summary, reason): (String, String) =
        sqlx::query_as("select summary, reason from ticket where status = 'open'")
            .fetch_one(app.state.store.pool())
            .await
            .unwrap();
    assert!(summary.contains("customer: Is my order ready?"), "{summary}");
    assert!(summary.contains("customer: I want to talk to a person"), "{summary}");
    assert!(!reason.contains("CALL BACK"), "{reason}");
    // Calling again while the ticket is open: straight to the queue.
    let (_, again) = Caller::dial_any(&app, ALEX).await;
    assert!(again.body.contains("<Enqueue>leafdesk-general</Enqueue>"), "{}", again.body);
}

#[tokio::test]
async fn a_hand_off_nobody_can_take_becomes_a_callback_ticket_and_the_call_ends() {
    let app = spawn_app().await; // no one is signed in to the console
    let (mut call, _) = Caller::dial(&app, ALEX).await;
    let reply = call.say("Agent please", "0.9").await;
    let said = says(&reply.body).join(" ");
    assert!(said.contains("call you back at this number as soon as someone is free"), "{said}");
    assert!(reply.body.ends_with("<Hangup/></Response>"), "{}", reply.body);
    let (reason,): (String,) = sqlx::query_as("select reason from ticket where status = 'open'")
        .fetch_one(app.state.store.pool())
        .await
        .unwrap();
    assert!(reason.contains("CALL BACK"), "{reason}");

    // After hours, the caller hears when the phones open.
    let late = spawn_with(Options {
        clock: leafdesk::clock::Clock::starting_at(la("2026-11-30T22:15")),
        ..Options::default()
    })
    .await;
    let (mut call, _) = Caller::dial(&late, ALEX).await;
    let reply = call.say("Agent please", "0.9").await;
    assert!(says(&reply.body).join(" ").contains("call you back at this number tomorrow at 9:00 AM"), "{}", reply.body);
}

#[tokio::test]
async fn a_call_that_ends_closes_its_conversation_so_the_next_call_starts_afresh() {
    let app = spawn_app().await;
    let (mut call, _) = Caller::dial(&app, SAM).await;
    let offer = call.say("My card payment got declined.", "0.9").await;
    assert!(says(&offer.body).join(" ").contains("Say one"), "{}", offer.body);
    // Sam hangs up in the middle of the question.
    assert_eq!(call.hang_up().await.status, 204);
    assert_eq!(call.hang_up().await.status, 204, "a retried callback is a no-op");
    let open = "select count(*) from conversation where channel = 'voice' and closed_at_ms is null";
    assert_eq!(app.count(open).await, 0);
    let (_, greeting) = Caller::dial(&app, SAM).await;
    assert!(says(&greeting.body).join(" ").starts_with("Hi! This is Demo Dispensary."), "{}", greeting.body);
    assert_eq!(app.count("select count(*) from conversation where channel = 'voice'").await, 2, "one per call");
}

impl<'a> Caller<'a> {
    /// Dials without expecting a `<Gather>` (the call may go straight to a queue).
    async fn dial_any(app: &'a TestApp, from: &'a str) -> (String, Reply) {
        let sid = call_sid();
        let reply = app.post_signed("/webhooks/twilio/voice", &call_params(&sid, from, &[])).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        (sid, reply)
    }
}
