//! Reports on a seeded history with known answers (the same on SQLite and PostgreSQL), and the
//! reports page: a lead sees each with its chart and downloads its CSV.

use leafdesk::store::reports::{self, Range, TimeOf};

use crate::console::{person, sign_in};
use crate::helpers::*;

const MIN: i64 = 60_000;

async fn exec(app: &TestApp, sql: &str, binds: &[&str], ints: &[i64]) {
    let mut q = sqlx::query(sql);
    for b in binds {
        q = q.bind(*b);
    }
    for i in ints {
        q = q.bind(*i);
    }
    q.execute(app.state.store.pool()).await.unwrap();
}

/// Two days of history at the demo store (Nov 28 and 29, Los Angeles time).
async fn seed(app: &TestApp) -> String {
    let (location,): (String,) =
        sqlx::query_as("select location_id from location limit 1").fetch_one(app.state.store.pool()).await.unwrap();
    let d1 = la("2026-11-28T10:00");
    let d2 = la("2026-11-29T10:00");
    for (i, at) in [d1, d1, d1, d2, d2].iter().enumerate() {
        let (contact, conv) = (format!("rk{i}"), format!("rc{i}"));
        exec(
            app,
            "insert into contact (contact_id, phone, created_at_ms) values ($1, $2, $3)",
            &[&contact, &format!("+1415555090{i}")],
            &[*at],
        )
        .await;
        exec(app, "insert into conversation (conversation_id, contact_id, location_id, channel, last_activity_at_ms, created_at_ms) values ($1, $2, $3, 'sms', $4, $4)", &[&conv, &contact, &location], &[*at]).await;
    }
    // Tickets: general (priority 3, 60 minutes) answered after 10, 30 and 90 minutes, resolved
    // after 100, 200 and 300; payments (priority 2) never answered, opened 2 hours before now.
    for (id, conv, queue, priority, tags, at, reply, done) in [
        ("rt1", "rc0", "general", 3, r#"["payments"]"#, d1, Some(10), Some(100)),
        ("rt2", "rc1", "general", 3, r#"["payments","limits"]"#, d1, Some(30), Some(200)),
        ("rt3", "rc3", "general", 3, "[]", d2, Some(90), Some(300)),
        ("rt4", "rc4", "payments", 2, r#"["payments"]"#, app.clock().now_ms() - 120 * MIN, None, None),
    ] {
        let status = if done.is_some() { "resolved" } else { "open" };
        let mut q = sqlx::query("insert into ticket (ticket_id, conversation_id, queue, priority, tags, reason, summary, status, created_at_ms, first_reply_at_ms, resolved_at_ms) values ($1, $2, $3, $4, $5, 'asked for a person', 's', $6, $7, $8, $9)")
            .bind(id).bind(conv).bind(queue).bind(priority as i64).bind(tags).bind(status).bind(at);
        q = q.bind(reply.map(|m: i64| at + m * MIN)).bind(done.map(|m: i64| at + m * MIN));
        q.execute(app.state.store.pool()).await.unwrap();
    }
    for (flow, outcome, runs, at) in [
        ("payment_declined", "resolved", 8, d1),
        ("payment_declined", "handed_off", 2, d2),
        ("store_info", "resolved", 5, d2),
    ] {
        exec(app, "insert into flow_outcome (outcome_id, flow_id, outcome, tags, runs, ended_at_ms, location_id) values ($1, $2, $3, '[]', $5, $6, $4)", &[&format!("ro-{flow}-{outcome}"), flow, outcome, &location], &[runs, at]).await;
    }
    for i in 0..10 {
        let at = if i < 4 { d1 } else { d2 };
        exec(app, "insert into message (message_id, conversation_id, direction, channel, body, status, created_at_ms, updated_at_ms) values ($1, 'rc0', 'inbound', 'sms', 'hi', 'received', $2, $2)", &[&format!("rm{i}")], &[at + i]).await;
    }
    for i in 0..4 {
        let at = if i < 1 { d1 } else { d2 };
        exec(app, "insert into misread (misread_id, conversation_id, body, normalized, locale, decision, guesses, created_at_ms) values ($1, 'rc0', 'x', 'x', 'en', 'fallback', '[]', $2)", &[&format!("rx{i}")], &[at]).await;
    }
    // Consent: two sign-ups on the 28th; on the 29th a STOP (both purposes at once) and a carrier opt-out.
    for (id, phone, purpose, action, source, at) in [
        ("ce1", "+14155550900", "marketing", "opt_in", "web_form", d1),
        ("ce2", "+14155550901", "marketing", "opt_in", "web_form", d1),
        ("ce3", "+14155550900", "transactional", "opt_out", "sms_keyword", d2),
        ("ce4", "+14155550900", "marketing", "opt_out", "sms_keyword", d2),
        ("ce5", "+14155550902", "transactional", "opt_out", "carrier_21610", d2 + MIN),
    ] {
        exec(app, "insert into consent_event (consent_event_id, phone, purpose, action, source, evidence, created_at_ms) values ($1, $2, $3, $4, $5, '{}', $6)", &[id, phone, purpose, action, source], &[at]).await;
    }
    location
}

fn range(location: Option<String>) -> Range {
    Range { since_ms: la("2026-11-28T00:00"), until_ms: la("2026-12-01T00:00"), location, offset_ms: -8 * 3_600_000 }
}

#[tokio::test]
async fn reports_have_the_known_answers_of_a_seeded_history() {
    let app = spawn_app().await;
    let location = seed(&app).await;
    let store = &app.state.store;
    let r = range(Some(location));
    let nov28 = reports::day_of(la("2026-11-28T10:00"), r.offset_ms);
    let nov30 = nov28 + 2;

    assert_eq!(reports::volume(store, &r).await.unwrap(), [(nov28, 3, 2), (nov28 + 1, 2, 1), (nov30, 0, 1)]);
    let tags = reports::tickets_by_tag(store, &r).await.unwrap();
    assert_eq!(tags[0], ("payments".to_owned(), 3, 1), "{tags:?}");
    assert!(tags.contains(&("untagged".to_owned(), 1, 0)) && tags.contains(&("limits".to_owned(), 1, 0)));

    let flows = reports::outcomes_by_flow(store, &r).await.unwrap();
    let pd = flows.iter().find(|f| f.flow_id == "payment_declined").unwrap();
    assert_eq!((pd.runs, pd.handed_off, pd.resolved), (10, 2, 8), "containment 80%");
    assert_eq!(reports::outcomes_by_day(store, &r).await.unwrap(), [(nov28, 8, 0), (nov28 + 1, 7, 2)]);

    let first = reports::times(store, &r, TimeOf::FirstResponse).await.unwrap();
    assert_eq!(first.len(), 1, "only answered tickets: {first:?}");
    assert_eq!(
        (first[0].queue.as_str(), first[0].tickets, first[0].median_ms, first[0].p90_ms),
        ("general", 3, 30 * MIN, 90 * MIN)
    );
    let done = reports::times(store, &r, TimeOf::Resolution).await.unwrap();
    assert_eq!((done[0].median_ms, done[0].p90_ms), (200 * MIN, 300 * MIN));

    let allowed = vec![("general".to_owned(), 3, 60 * MIN), ("payments".to_owned(), 2, 30 * MIN)];
    let sla = reports::sla_breaches(store, &r, &allowed, app.clock().now_ms()).await.unwrap();
    assert_eq!(
        sla,
        [
            (nov28, "general".to_owned(), 0, 2),
            (nov28 + 1, "general".to_owned(), 1, 1),
            (nov30, "payments".to_owned(), 1, 1)
        ]
    );

    assert_eq!(reports::misunderstood(store, &r).await.unwrap(), [(nov28, 4, 1), (nov28 + 1, 6, 3)]);

    let everywhere = range(None);
    let consent = reports::consent_by_day(store, &everywhere).await.unwrap();
    assert_eq!(
        consent,
        [
            (nov28, "opt_in".to_owned(), "web_form".to_owned(), 2),
            (nov28 + 1, "opt_out".to_owned(), "carrier_21610".to_owned(), 1),
            (nov28 + 1, "opt_out".to_owned(), "sms_keyword".to_owned(), 1),
        ],
        "a STOP counts once, not once per purpose"
    );
    // Another store sees none of it.
    let elsewhere = range(Some("elsewhere".into()));
    assert!(reports::volume(store, &elsewhere).await.unwrap().is_empty());
    assert!(reports::outcomes_by_flow(store, &elsewhere).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_lead_reads_each_report_with_its_chart_and_downloads_it_as_csv() {
    let app = spawn_app().await;
    seed(&app).await;
    person(&app, "lee@shop.test", &[leafdesk::domain::staff::Role::Lead]).await;
    let lee = sign_in(&app, "lee@shop.test").await;
    for (code, shows) in [
        ("volume", "Conversations and tickets per day"),
        ("containment", "payment_declined</td><td>10</td><td>2</td><td>80.0%"),
        ("handoffs", "asked for a person"),
        ("times", "<td>general</td><td>3</td><td>30.0 min</td><td>90.0 min</td>"),
        ("sla", "SLA breaches per day"),
        ("misunderstood", "<td>2026-11-29</td><td>6</td><td>3</td><td>50.0%</td>"),
        ("consent", "Consent per day"),
        ("campaigns", "Campaign results"),
    ] {
        let page = lee.get(&format!("/console/reports?report={code}&since=2026-11-28&until=2026-11-30")).await;
        assert_eq!(page.status, 200, "{code}");
        assert!(page.body.contains("<svg class=\"chart\""), "{code} has a chart");
        assert!(page.body.contains(shows), "{code}: {shows}\n{}", page.body);
    }
    let csv = lee.get("/console/reports?report=misunderstood&since=2026-11-28&until=2026-11-30&format=csv").await;
    assert_eq!(csv.status, 200);
    assert_eq!(csv.body, "day,customer messages,misunderstood,rate\n2026-11-28,4,1,25.0%\n2026-11-29,6,3,50.0%\n");
    let bad = lee.get("/console/reports?since=2026-11-30&until=2026-11-01").await;
    assert_eq!(bad.status, 422);
}

#[tokio::test]
async fn the_demo_history_fills_the_consent_lists_campaigns_and_reports_once() {
    let app = spawn_app().await;
    let store = &app.state.store;
    let location = leafdesk::store::locations::list(store).await.unwrap().remove(0);
    assert!(leafdesk::demo::seed_history(store, &location).await.unwrap());
    assert!(!leafdesk::demo::seed_history(store, &location).await.unwrap(), "once only");
    let since = app.clock().now_ms() - leafdesk::compliance::consent::DOUBLE_OPT_IN_WINDOW_MS;
    let pending = leafdesk::store::consent::pending_requests(store, None, since, 10).await.unwrap();
    assert_eq!(pending.len(), 1, "one double opt-in waits for its YES");
    let campaign = leafdesk::store::campaigns::get(store, "demo-campaign").await.unwrap().unwrap();
    assert_eq!(campaign.status, "finished");
    let p = leafdesk::store::campaigns::progress(store, "demo-campaign").await.unwrap();
    assert_eq!((p.planned, p.sent, p.delivered, p.undelivered, p.opted_out_after), (20, 20, 19, 1, 5), "{p:?}");
    let sources: Vec<String> = sqlx::query_as::<_, (String,)>("select distinct source from consent_event order by 1")
        .fetch_all(store.pool())
        .await
        .unwrap()
        .into_iter()
        .map(|(s,)| s)
        .collect();
    assert_eq!(sources, ["carrier_21610", "import", "sms_keyword", "web_chat", "web_form"]);
    let now = app.clock().now_ms();
    let r = Range {
        since_ms: now - 28 * 86_400_000,
        until_ms: now,
        location: Some(location.location_id.clone()),
        offset_ms: -8 * 3_600_000,
    };
    assert!(reports::volume(store, &r).await.unwrap().len() >= 21, "three weeks of conversations");
    assert!(!reports::times(store, &r, TimeOf::FirstResponse).await.unwrap().is_empty());
    assert!(!reports::misunderstood(store, &r).await.unwrap().is_empty());
    // `consent verify` agrees with the ledger after the seed.
    assert!(leafdesk::store::consent::verify(store).await.unwrap().is_empty());
}
