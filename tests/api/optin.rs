//! The web opt-in form and double opt-in: step 1 on the web (disclosure, IP, user agent), step
//! 2 by replying YES; both steps end up in the consent ledger's evidence.

use crate::helpers::*;

async fn post_form(app: &TestApp, body: &str) -> (u16, String) {
    let resp = app
        .client
        .post(app.url("/consent/optin"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("user-agent", "TestBrowser/1.0")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

#[tokio::test]
async fn the_form_rejects_bad_input_with_a_clear_message_and_stores_nothing() {
    let app = spawn_app().await;
    let page = app.client.get(app.url("/consent/optin")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Consent is not a condition of any purchase") && page.contains("Demo Dispensary"), "{page}");
    for (body, says) in [
        ("phone=4155550190&agree=yes", "missing its disclosure version"),
        ("phone=4155550190&agree=yes&disclosure_version=marketing-1999", "out of date"),
        ("phone=12&agree=yes&disclosure_version=marketing-2026-11", "Enter your mobile number"),
        ("phone=4155550190&disclosure_version=marketing-2026-11", "Check the box"),
    ] {
        let (status, page) = post_form(&app, body).await;
        assert_eq!(status, 400, "{body}");
        assert!(page.contains(says), "{body}: {page}");
    }
    assert_eq!(app.count("select count(*) from consent_request").await, 0);
    assert_eq!(app.count("select count(*) from outbox").await, 0);
}

#[tokio::test]
async fn web_form_then_yes_records_a_marketing_opt_in_with_both_steps() {
    let app = spawn_app().await;
    let (status, page) =
        post_form(&app, "phone=%28415%29+555-0190&agree=yes&disclosure_version=marketing-2026-11").await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Reply <strong>YES</strong>"), "{page}");
    let (body,): (String,) = sqlx::query_as("select body from outbox where to_phone = '+14155550190'")
        .fetch_one(app.state.store.pool())
        .await
        .unwrap();
    assert!(body.contains("reply YES to confirm"), "{body}");
    assert!(
        !leafdesk::store::consent::current(&app.state.store, "+14155550190").await.unwrap().marketing_opted_in,
        "not before YES"
    );

    let reply = app.sms(&sid(), "+14155550190", "Yes").await;
    assert!(reply.text().contains("subscribed to Demo Dispensary offers"), "{}", reply.text());
    assert!(leafdesk::store::consent::current(&app.state.store, "+14155550190").await.unwrap().marketing_opted_in);
    let history = leafdesk::store::consent::history(&app.state.store, "+14155550190").await.unwrap();
    let event = history.iter().find(|e| e.purpose == "marketing").expect("marketing opt-in");
    assert_eq!((event.action.as_str(), event.source.as_str()), ("opt_in", "web_form"));
    let evidence: serde_json::Value = serde_json::from_str(&event.evidence).unwrap();
    assert_eq!(evidence["request"]["user_agent"], "TestBrowser/1.0");
    assert_eq!(evidence["request"]["ip"], "127.0.0.1");
    assert_eq!(evidence["request"]["disclosure_version"], "marketing-2026-11");
    assert!(evidence["request"]["disclosure_text"].as_str().unwrap().contains("from Demo Dispensary"));
    assert_eq!(evidence["confirmation"]["text"], "Yes");
    // A second YES is an ordinary answer again.
    let again = app.sms(&sid(), "+14155550190", "yes").await;
    assert!(!again.text().contains("subscribed"), "{}", again.text());
}
