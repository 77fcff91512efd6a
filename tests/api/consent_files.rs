//! `leafdesk consent import` and `export` through the real binary.

use std::process::Command;

use crate::helpers::*;

fn leafdesk(database_url: &str, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_leafdesk"))
        .args(args)
        .env("DATABASE_URL", database_url)
        .output()
        .expect("binary runs")
}

#[tokio::test]
async fn a_bad_csv_is_rejected_row_by_row_and_nothing_is_imported() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("consent.csv");
    std::fs::write(&file, "phone,purpose,action,evidence\n+14155550100,marketing,opt_in,store sign-up sheet #12\nnot-a-phone,marketing,opt_in,x\n+14155550102,marketing,opt_in,\n").unwrap();
    let out = leafdesk(&app.database_url, &["consent", "import", file.to_str().unwrap()]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("line 3:") && stderr.contains("line 4:") && stderr.contains("evidence is required"),
        "{stderr}"
    );
    assert!(!stderr.contains("line 2:"));
    assert_eq!(app.count("select count(*) from consent_event").await, 0, "nothing half-imported");
}

#[tokio::test]
async fn a_good_csv_imports_with_evidence_and_exports_as_csv() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("consent.csv");
    std::fs::write(
        &file,
        "phone,purpose,action,evidence,consented_at\n+14155550100,marketing,opt_in,\"web form v3, double opt-in\",2025-06-01\n+14155550101,marketing,opt_in,paper form 88,\n+14155550102,marketing,opt_out,called to cancel,\n",
    )
    .unwrap();
    let dry = leafdesk(&app.database_url, &["consent", "import", "--dry-run", file.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&dry.stdout).contains("3 rows are valid"));
    assert_eq!(app.count("select count(*) from consent_event").await, 0, "dry run imports nothing");
    let out = leafdesk(&app.database_url, &["consent", "import", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let history = leafdesk::store::consent::history(&app.state.store, "+14155550100").await.unwrap();
    let evidence: serde_json::Value = serde_json::from_str(&history[0].evidence).unwrap();
    assert_eq!((history[0].source.as_str(), evidence["line"].as_i64()), ("import", Some(2)));
    assert_eq!(evidence["evidence"], "web form v3, double opt-in");

    let export = leafdesk(&app.database_url, &["consent", "export", "--purpose", "marketing", "--status", "opted_in"]);
    assert!(export.status.success(), "{}", String::from_utf8_lossy(&export.stderr));
    let csv = String::from_utf8_lossy(&export.stdout);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "phone,purpose,status,since,source,evidence");
    assert_eq!(lines.len(), 3, "two opted in: {csv}");
    assert!(lines[1].starts_with("+14155550100,marketing,opted_in,20"), "{csv}");
    assert!(!csv.contains("+14155550102"));
}

#[tokio::test]
async fn an_export_larger_than_one_chunk_keeps_every_row_once_in_phone_order() {
    let app = spawn_app().await;
    // 9,000 numbers (SQLite exports in chunks of 4,096), every third one opted out.
    let seed = "insert into consent_event (consent_event_id, phone, purpose, action, source, evidence, created_at_ms)
        with recursive n(i) as (select 1 union all select i + 1 from n where i < 9000)
        select 'ev' || i, '+1555' || (2000000 + (i * 7919) % 9000), 'marketing',
            case when i % 3 = 0 then 'opt_out' else 'opt_in' end, 'import', '{\"line\":' || i || '}', 1700000000000 + i
        from n";
    let current = "insert into consent_current (phone, purpose, status, consent_event_id, updated_at_ms)
        select phone, purpose, case when action = 'opt_out' then 'opted_out' else 'opted_in' end, consent_event_id,
            created_at_ms from consent_event";
    sqlx::query(seed).execute(app.state.store.pool()).await.unwrap();
    sqlx::query(current).execute(app.state.store.pool()).await.unwrap();

    let phones = |args: &[&str]| -> Vec<String> {
        let out = leafdesk(&app.database_url, args);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).lines().skip(1).map(|l| l.split(',').next().unwrap().to_owned()).collect()
    };
    let all = phones(&["consent", "export", "--purpose", "marketing"]);
    let mut expected = all.clone();
    expected.sort();
    expected.dedup();
    assert_eq!((all.len(), expected.len()), (9000, 9000), "every number once");
    assert_eq!(all, expected, "in phone order across chunks");
    let out = phones(&["consent", "export", "--purpose", "marketing", "--status", "opted_out"]);
    assert_eq!(out.len(), 3000);
    assert!(out.windows(2).all(|w| w[0] < w[1]));
    assert!(phones(&["consent", "export", "--purpose", "transactional"]).is_empty());
}

fn run(app: &TestApp, args: &[&str]) -> (bool, String, String) {
    let out = app.command().args(args).output().expect("binary runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn importing_a_file_twice_adds_nothing_the_second_time_and_dates_come_from_the_file() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("consent.csv");
    // A BOM, Windows line endings, a national number, a repeated row.
    std::fs::write(
        &file,
        "\u{feff}phone,purpose,action,evidence,consented_at\r\n(415) 555-0177,marketing,opt_in,paper form 12,2025-06-01\r\n+14155550178,marketing,opt_in,paper form 13,2025-06-02T10:30:00-07:00\r\n+1 415 555 0177,marketing,opt_in,paper form 12,2025-06-01\r\n",
    )
    .unwrap();
    let path = file.to_str().unwrap();
    let (ok, dry, err) = run(&app, &["consent", "import", "--dry-run", path]);
    assert!(ok, "{err}");
    assert!(
        dry.contains("would add 2 consent record(s); 0 already imported") && dry.contains("line 4 repeats line 2"),
        "{dry}"
    );
    assert_eq!(app.count("select count(*) from consent_event").await, 0, "a dry run writes nothing");
    let (ok, first, err) = run(&app, &["consent", "import", path]);
    assert!(ok, "{err}");
    assert!(first.starts_with("added 2 consent record(s); 0 already imported"), "{first}");
    let (ok, second, err) = run(&app, &["consent", "import", path]);
    assert!(ok, "{err}");
    assert!(second.starts_with("added 0 consent record(s); 2 already imported"), "{second}");
    assert_eq!(app.count("select count(*) from consent_event").await, 2, "no duplicate ledger events");

    // The export's "since" is when consent was given, not when it was imported.
    let (ok, csv, _) = run(&app, &["consent", "export", "--purpose", "marketing"]);
    assert!(ok);
    assert!(csv.contains("+14155550177,marketing,opted_in,2025-06-01T00:00:00Z,import"), "{csv}");
    assert!(csv.contains("+14155550178,marketing,opted_in,2025-06-02T17:30:00Z,import"), "{csv}");
    // `consent show` prints dates people read, with who imported.
    let (ok, show, _) = run(&app, &["consent", "show", "(415) 555-0177"]);
    assert!(ok);
    assert!(show.starts_with("2025-05-31 17:00:00 PDT (recorded 2026-11-30 12:0"), "{show}");
    assert!(show.contains(" PST)\tmarketing\topt_in\timport"), "{show}");
    assert!(show.contains("\"imported_by\":\"cli\""), "{show}");
    assert!(!show.contains("1748736000000"), "no epoch milliseconds: {show}");
}

#[tokio::test]
async fn an_older_imported_opt_out_never_overrides_a_newer_opt_in_and_the_conflict_is_reported() {
    let app = spawn_app().await;
    let phone = "+14155550179";
    let mut tx = app.state.store.begin().await.unwrap();
    let opt_in = leafdesk::store::consent::NewConsent {
        phone,
        purpose: "marketing",
        action: "opt_in",
        source: "web_form",
        evidence: serde_json::json!({ "request": "double opt-in" }),
    };
    leafdesk::store::consent::record(&mut tx, &opt_in, app.clock().now_ms()).await.unwrap();
    tx.commit().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("old.csv");
    std::fs::write(
        &file,
        "phone,purpose,action,evidence,consented_at\n+14155550179,marketing,opt_out,old CRM export,2025-03-01\n",
    )
    .unwrap();
    let (ok, out, err) = run(&app, &["consent", "import", file.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert!(out.contains("1 conflict(s)"), "{out}");
    assert!(
        out.contains("conflict: line 2: opt_out dated 2025-03-01 is older than this number's marketing opt-in of 2026-11-30 (web_form); kept as history, current consent stays opted_in"),
        "{out}"
    );
    assert!(leafdesk::store::consent::current(&app.state.store, phone).await.unwrap().marketing_opted_in);
    assert_eq!(app.count("select count(*) from consent_event").await, 2, "the old opt-out is kept as history");
    let (ok, _, _) = run(&app, &["consent", "verify"]);
    assert!(ok, "consent_current still matches the ledger");
}

#[tokio::test]
async fn bad_dates_and_numbers_are_named_by_line_and_nothing_is_imported() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.csv");
    std::fs::write(
        &file,
        "phone,purpose,action,evidence,consented_at\n+14155550170,marketing,opt_in,form,yesterday\n+14155550171,marketing,opt_in,form,2099-01-01\n555-0172,marketing,opt_in,form,\n+14155550173,marketing,opt_in,form,2025-01-01\n",
    )
    .unwrap();
    let (ok, _, err) = run(&app, &["consent", "import", file.to_str().unwrap()]);
    assert!(!ok);
    assert!(err.contains("line 2: consented_at \"yesterday\" must be a date"), "{err}");
    assert!(err.contains("line 3: consented_at 2099-01-01 is in the future"), "{err}");
    assert!(err.contains("line 4: phone \"555-0172\" is not a phone number"), "{err}");
    assert!(!err.contains("line 5"), "{err}");
    assert_eq!(app.count("select count(*) from consent_event").await, 0, "nothing half-imported");
    // A Latin-1 file is refused as a whole, saying how to save it.
    std::fs::write(&file, b"phone,purpose,action,evidence\n+14155550170,marketing,opt_in,caf\xe9 sign-up\n").unwrap();
    let (ok, _, err) = run(&app, &["consent", "import", file.to_str().unwrap()]);
    assert!(!ok && err.contains("not UTF-8"), "{err}");
}

#[tokio::test]
async fn pending_double_opt_ins_are_listed_with_their_age_and_the_evidence_pack_holds_the_whole_record() {
    let (app, _twilio) = app_with(vec![]).await;
    let token_page = app.client.get(app.url("/consent/optin")).send().await.unwrap().text().await.unwrap();
    assert!(
        token_page.contains("href=\"/demo/site#privacy\"") && token_page.contains("href=\"/demo/site#terms\""),
        "the form links its privacy policy and terms"
    );
    let start = token_page.find("name=\"form_token\" value=\"").unwrap() + 25;
    let token = token_page[start..].split('"').next().unwrap();
    let form = format!("phone=%28415%29+555-0190&agree=yes&disclosure_version=marketing-2026-11&form_token={token}");
    let resp = app
        .client
        .post(app.url("/consent/optin"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("user-agent", "TestBrowser/1.0")
        .body(form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let rows = leafdesk::store::outbox::list(&app.state.store, 5).await.unwrap();
    wait_for_status(&app, &rows[0].outbox_id, "sent").await;
    app.clock().advance(90 * 60_000);
    let (ok, pending, _) = run(&app, &["consent", "pending"]);
    assert!(ok);
    assert!(
        pending.contains("+1••••••0190\tmarketing") && pending.contains("pending for 1 h 30 min\tweb_form"),
        "{pending}"
    );

    // YES, then STOP: the pack holds the request, both ledger events, the revocation and its confirmation.
    app.sms(&sid(), "+14155550190", "YES").await;
    app.clock().advance(60_000);
    let stop = app.sms(&sid(), "+14155550190", "stop texting me please").await;
    assert!(!stop.text().is_empty());
    let (ok, pending, _) = run(&app, &["consent", "pending"]);
    assert!(ok && pending.contains("no double opt-ins are waiting"), "{pending}");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("pack.zip");
    let (ok, said, err) =
        run(&app, &["consent", "evidence", "--phone", "+14155550190", "--out", out.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert!(said.contains("1 opt-in requests") && said.contains("1 revocations"), "{said}");
    let mut zip = zip::ZipArchive::new(std::fs::File::open(&out).unwrap()).unwrap();
    let mut read = |name: &str| {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut zip.by_name(name).unwrap(), &mut text).unwrap();
        text
    };
    let html = read("evidence.html");
    assert!(html.contains("Consent evidence for +14155550190") && html.contains("TestBrowser/1.0"), "{html}");
    let ledger = read("ledger.csv");
    assert!(ledger.lines().count() >= 4, "opt-in, then opt-out of both purposes: {ledger}");
    assert!(ledger.contains("web_form") && ledger.contains("sms_keyword"), "{ledger}");
    let requests = read("opt_in_requests.csv");
    assert!(requests.contains("marketing-2026-11") && requests.contains("127.0.0.1"), "{requests}");
    let revocations = read("revocations.csv");
    assert!(revocations.contains("stop texting me please"), "{revocations}");
    assert!(!revocations.contains("(none sent)"), "the confirmation is in the pack: {revocations}");
    assert!(read("marketing_texts.csv").starts_with("queued,text,send gate / outcome"));
}
