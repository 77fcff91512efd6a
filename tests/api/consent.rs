//! Consent end to end: the ledger and its evidence, Twilio's Advanced Opt-Out, immutability,
//! and carrier opt-outs (21610).

use crate::helpers::*;

async fn events(app: &TestApp, phone: &str) -> Vec<leafdesk::store::consent::ConsentEvent> {
    leafdesk::store::consent::history(&app.state.store, phone).await.unwrap()
}

#[tokio::test]
async fn a_revocation_is_recorded_for_every_purpose_with_its_evidence() {
    let app = spawn_app().await;
    let id = sid();
    let reply = app.sms(&id, "+15555550170", "Please stop texting me.").await;
    assert!(reply.text().contains("unsubscribed"), "{}", reply.text());
    let history = events(&app, "+15555550170").await;
    assert_eq!(history.len(), 2);
    for (event, purpose) in history.iter().zip(["transactional", "marketing"]) {
        assert_eq!(
            (event.purpose.as_str(), event.action.as_str(), event.source.as_str()),
            (purpose, "opt_out", "sms_keyword")
        );
        let evidence: serde_json::Value = serde_json::from_str(&event.evidence).unwrap();
        assert_eq!(evidence["provider_id"], id.as_str());
        assert_eq!(evidence["text"], "Please stop texting me.");
        assert!(evidence["rule"].as_str().unwrap().contains("stop messaging"));
    }
    let metrics = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(
        metrics.contains("leafdesk_consent_changes_total{action=\"opt_out\",source=\"sms_keyword\"} 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn when_twilio_already_answered_stop_we_record_it_and_send_nothing() {
    let app = spawn_app().await;
    let mut params = sms_params(&sid(), "+15555550171", "STOP");
    params.push(("OptOutType".into(), "STOP".into()));
    let reply = app.post_signed("/webhooks/twilio/sms", &params).await;
    assert_eq!(reply.status, 200);
    assert!(reply.messages().is_empty(), "{}", reply.body);
    let history = events(&app, "+15555550171").await;
    assert!(history.iter().all(|e| e.action == "opt_out" && e.source == "twilio_opt_out"), "{history:?}");
    assert!(app.sms(&sid(), "+15555550171", "hi").await.messages().is_empty(), "silent after opt-out");
}

#[tokio::test]
async fn the_consent_ledger_refuses_updates_and_deletes() {
    let app = spawn_app().await;
    app.sms(&sid(), "+15555550172", "STOP").await;
    let pool = app.state.store.pool();
    let update = sqlx::query("update consent_event set action = 'opt_in'").execute(pool).await;
    let delete = sqlx::query("delete from consent_event").execute(pool).await;
    for (what, result) in [("update", update), ("delete", delete)] {
        let err = result.expect_err(what).to_string();
        assert!(err.contains("append-only"), "{what}: {err}");
    }
    assert_eq!(app.count("select count(*) from consent_event").await, 2);
}

#[tokio::test]
async fn a_carrier_opt_out_21610_lands_in_the_ledger_and_silences_the_bot() {
    let app = spawn_app().await;
    let params: Vec<(String, String)> = [
        ("MessageSid", "SM00000000000000000000000000021610"),
        ("MessageStatus", "failed"),
        ("ErrorCode", "21610"),
        ("From", OUR_NUMBER),
        ("To", "+15555550173"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    assert_eq!(app.post_signed("/webhooks/twilio/status", &params).await.status, 204);
    let history = events(&app, "+15555550173").await;
    assert_eq!(history.len(), 2);
    assert!(history.iter().all(|e| e.source == "carrier_21610" && e.action == "opt_out"));
    assert!(app.sms(&sid(), "+15555550173", "hi").await.messages().is_empty());
}

#[test]
fn the_classify_command_prints_the_verdict_and_why() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_leafdesk"))
        .args(["consent", "classify", "--explain", "unsubscribe me"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(stdout.starts_with("opt_out\nbecause"), "{stdout}");
    let none = std::process::Command::new(env!("CARGO_BIN_EXE_leafdesk"))
        .args(["consent", "classify", "I'll stop by after work"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&none.stdout), "none\n");
}

#[tokio::test]
async fn stop_in_disguise_revokes_consent_by_text_and_in_the_chat() {
    let app = spawn_app().await;
    for (n, disguised) in
        ["S\u{200B}TOP", "ＳＴＯＰ", "𝐒𝐓𝐎𝐏", "\u{405}\u{422}\u{41E}\u{420}", "S.T.O.P", "wrong number"]
            .into_iter()
            .enumerate()
    {
        let phone = format!("+1555555018{n}");
        let reply = app.sms(&sid(), &phone, disguised).await;
        assert!(reply.text().contains("unsubscribed"), "{disguised:?}: {}", reply.text());
        let evidence = &events(&app, &phone).await[0];
        assert_eq!(evidence.action, "opt_out", "{disguised:?}");
        assert!(evidence.evidence.contains(disguised), "the raw text is the evidence: {}", evidence.evidence);
    }
    let secret = integration(&app).await;
    let mut chat = crate::webchat::link(&secret, "cus_sam", app.now_secs());
    chat["id"] = serde_json::json!("m1");
    chat["text"] = serde_json::json!("ya no quiero mensajes");
    let resp = app.client.post(app.url("/api/v1/chat/messages")).json(&chat).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(leafdesk::store::consent::current(&app.state.store, "+15555550103").await.unwrap().opted_out);
}

#[tokio::test]
async fn an_edited_current_consent_row_fools_neither_the_gate_nor_the_verify_command() {
    let app = spawn_app().await;
    let phone = "+15555550190";
    app.sms(&sid(), phone, "STOP").await;
    // Someone with database access flips the row the export reads, without a ledger event.
    sqlx::query("update consent_current set status = 'opted_in' where phone = $1")
        .bind(phone)
        .execute(app.state.store.pool())
        .await
        .unwrap();
    let gate = leafdesk::store::consent::current(&app.state.store, phone).await.unwrap();
    assert!(gate.opted_out, "the gate reads the ledger");
    assert!(app.sms(&sid(), phone, "hi").await.messages().is_empty(), "and the bot stays silent");

    let out = app.command().args(["consent", "verify"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("transactional\tledger opted_out") && stdout.contains("current opted_in"), "{stdout}");
    assert!(!stdout.contains(phone), "phones are masked: {stdout}");
    let repaired = app.command().args(["consent", "verify", "--repair"]).output().unwrap();
    assert!(repaired.status.success(), "{}", String::from_utf8_lossy(&repaired.stderr));
    let again = app.command().args(["consent", "verify"]).output().unwrap();
    assert!(again.status.success(), "{}", String::from_utf8_lossy(&again.stdout));
}

#[tokio::test]
#[ignore = "PostgreSQL only; scripts/test runs it with --include-ignored"]
async fn postgres_refuses_to_truncate_the_ledger() {
    // SQLite has no TRUNCATE; its triggers refuse update and delete (tested above).
    require_postgres();
    let app = spawn_app().await;
    app.sms(&sid(), "+15555550191", "STOP").await;
    let err = sqlx::query("truncate consent_event cascade").execute(app.state.store.pool()).await.unwrap_err();
    assert!(err.to_string().contains("append-only"), "{err}");
    assert_eq!(app.count("select count(*) from consent_event").await, 2);
}
