//! The consent lists in the console: what marketing sees (masked lists, counts, filters, a
//! number's history with its evidence, the evidence pack, the CSV export) and the import in the
//! browser, checked before anything is written.

use leafdesk::domain::staff::Role;
use leafdesk::store::consent::{self, NewConsent};

use crate::console::{person, sign_in, Browser};
use crate::helpers::*;

async fn consent_event(
    app: &TestApp,
    phone: &str,
    purpose: &str,
    action: &str,
    source: &str,
    evidence: serde_json::Value,
) {
    let mut tx = app.state.store.begin().await.unwrap();
    let c = NewConsent { phone, purpose, action, source, evidence };
    consent::record(&mut tx, &c, app.clock().now_ms()).await.unwrap();
    tx.commit().await.unwrap();
}

async fn marketer(app: &TestApp) -> Browser {
    person(app, "mia@shop.test", &[Role::Marketing]).await;
    sign_in(app, "mia@shop.test").await
}

async fn upload(browser: &Browser, name: &str, csv: Vec<u8>) -> (u16, String) {
    let form = reqwest::multipart::Form::new()
        .text("csrf", browser.csrf.clone())
        .text("country", "US")
        .part("file", reqwest::multipart::Part::bytes(csv).file_name(name.to_owned()));
    let resp = browser
        .client
        .post(format!("{}/console/consent/import", browser.base))
        .header("cookie", &browser.cookie)
        .multipart(form)
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

#[tokio::test]
async fn marketing_reads_masked_lists_a_numbers_evidence_and_downloads_the_pack_and_the_csv() {
    let app = spawn_app().await;
    let form_evidence = serde_json::json!({ "request": { "ip": "203.0.113.9", "user_agent": "Safari/17",
        "disclosure_version": "marketing-2026-11", "disclosure_text": "Get offers by text…" } });
    consent_event(&app, "+14155550181", "marketing", "opt_in", "web_form", form_evidence).await;
    consent_event(
        &app,
        "+14155550182",
        "marketing",
        "opt_in",
        "import",
        serde_json::json!({ "file": "crm.csv", "line": 2 }),
    )
    .await;
    consent_event(
        &app,
        "+14155550183",
        "marketing",
        "opt_out",
        "sms_keyword",
        serde_json::json!({ "text": "STOP", "provider_id": "SM123" }),
    )
    .await;
    let mia = marketer(&app).await;

    let home = mia.get("/console").await;
    assert_eq!(
        (home.status, home.location.as_str()),
        (303, "/console/consent"),
        "marketing lands on the consent lists"
    );
    let list = mia.get("/console/consent").await;
    assert_eq!(list.status, 200);
    assert!(
        list.body.contains("<strong>3</strong> numbers · <strong>2</strong> opted in · <strong>1</strong> opted out"),
        "{}",
        list.body
    );
    assert!(list.body.contains("+1••••••0181") && !list.body.contains("+14155550181"), "numbers are masked in lists");
    let by_source = mia.get("/console/consent?purpose=marketing&status=opted_in&source=import").await;
    assert!(by_source.body.contains("+1••••••0182") && !by_source.body.contains("+1••••••0181"), "{}", by_source.body);

    let history = mia.post("/console/consent/number", &[("phone", "(415) 555-0181")]).await;
    assert_eq!(history.status, 200, "{}", history.body);
    for shown in ["Consent history of +14155550181", "203.0.113.9", "Safari/17", "marketing-2026-11", "Web form"] {
        assert!(history.body.contains(shown), "{shown}: {}", history.body);
    }
    let bad = mia.post("/console/consent/number", &[("phone", "555-01")]).await;
    assert_eq!(bad.status, 422);
    assert!(bad.body.contains("Type the whole number"));

    let pack = mia
        .client
        .post(format!("{}/console/consent/evidence", mia.base))
        .header("cookie", &mia.cookie)
        .form(&[("csrf", mia.csrf.as_str()), ("phone", "+14155550181")])
        .send()
        .await
        .unwrap();
    assert_eq!(pack.status(), 200);
    assert_eq!(pack.headers()["content-type"], "application/zip");
    assert!(pack.headers()["content-disposition"].to_str().unwrap().contains("consent-evidence-0181-"));
    let bytes = pack.bytes().await.unwrap();
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let names: Vec<String> = zip.file_names().map(str::to_owned).collect();
    for name in ["evidence.html", "ledger.csv", "opt_in_requests.csv", "marketing_texts.csv", "revocations.csv"] {
        assert!(names.iter().any(|n| n == name), "{name} in {names:?}");
    }
    let mut ledger = String::new();
    std::io::Read::read_to_string(&mut zip.by_name("ledger.csv").unwrap(), &mut ledger).unwrap();
    assert!(ledger.contains("203.0.113.9") && ledger.contains("web_form"), "{ledger}");

    let csv = mia.get("/console/consent/export?purpose=marketing&status=opted_in").await;
    assert_eq!(csv.status, 200);
    let lines: Vec<&str> = csv.body.lines().collect();
    assert_eq!(lines[0], "phone,purpose,status,since,source,evidence");
    assert_eq!(lines.len(), 3, "{}", csv.body);
    assert!(lines[1].starts_with("+14155550181,marketing,opted_in,2026-11-30T20:0"), "{}", lines[1]);

    let audit = app.count("select count(*) from audit_event where actor = 'mia@shop.test' and action in ('consent_history_viewed', 'consent_evidence_downloaded', 'consent_exported')").await;
    assert_eq!(audit, 3, "every look at a number and every download is audited");
    let viewed: (String,) = sqlx::query_as("select target from audit_event where action = 'consent_history_viewed'")
        .fetch_one(app.state.store.pool())
        .await
        .unwrap();
    assert_eq!(viewed.0, "+1••••••0181", "the audit log keeps the number masked");
}

#[tokio::test]
async fn an_import_in_the_browser_shows_its_dry_run_and_writes_only_when_confirmed() {
    let app = spawn_app().await;
    let mia = marketer(&app).await;
    // A bad file: every bad row named, nothing written.
    let (status, page) = upload(&mia, "bad.csv", b"phone,purpose,action,evidence,consented_at\n+14155550191,marketing,opt_in,form,2099-01-01\nnope,marketing,opt_in,form,\n".to_vec()).await;
    assert_eq!(status, 422);
    assert!(
        page.contains("Nothing was imported")
            && page.contains("line 2: consented_at 2099-01-01 is in the future")
            && page.contains("line 3: phone"),
        "{page}"
    );
    let (status, page) = upload(&mia, "header.csv", b"number,consent\n+14155550191,yes\n".to_vec()).await;
    assert_eq!(status, 422);
    assert!(page.contains("missing column(s) phone, purpose, action, evidence"), "{page}");
    assert_eq!(app.count("select count(*) from consent_event").await, 0);

    // A good file (BOM, CRLF, a national number, a repeated row): the dry run, then the import.
    let good = "\u{feff}phone,purpose,action,evidence,consented_at\r\n(415) 555-0192,marketing,opt_in,store sign-up sheet 4,2026-10-01\r\n+14155550193,marketing,opt_out,asked at the counter,2026-10-02\r\n(415) 555-0192,marketing,opt_in,store sign-up sheet 4,2026-10-01\r\n";
    let (status, page) = upload(&mia, "sheet.csv", good.as_bytes().to_vec()).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("would add 2 consent record(s)") && page.contains("line 4 repeats line 2"), "{page}");
    assert_eq!(app.count("select count(*) from consent_event").await, 0, "the check writes nothing");
    let action = page.split("action=\"/console/consent/import/").nth(1).unwrap().split('"').next().unwrap().to_owned();

    // Only the person who checked it may import it.
    person(&app, "max@shop.test", &[Role::Marketing]).await;
    let max = sign_in(&app, "max@shop.test").await;
    assert_eq!(max.post(&format!("/console/consent/import/{action}"), &[]).await.status, 404);
    let csr = {
        person(&app, "cam@shop.test", &[Role::Csr]).await;
        sign_in(&app, "cam@shop.test").await
    };
    assert_eq!(csr.post(&format!("/console/consent/import/{action}"), &[]).await.status, 403);

    let done = mia.post(&format!("/console/consent/import/{action}"), &[]).await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(done.body.contains("added 2 consent record(s)"), "{}", done.body);
    assert_eq!(app.count("select count(*) from consent_event").await, 2);
    assert_eq!(mia.post(&format!("/console/consent/import/{action}"), &[]).await.status, 409, "not twice");
    let who: (String,) = sqlx::query_as("select evidence from consent_event where phone = '+14155550192'")
        .fetch_one(app.state.store.pool())
        .await
        .unwrap();
    assert!(who.0.contains("\"imported_by\":\"mia@shop.test\"") && who.0.contains("sheet.csv"), "{}", who.0);
    // The same file again: nothing new to import.
    let (_, again) = upload(&mia, "sheet.csv", good.as_bytes().to_vec()).await;
    assert!(
        again.contains("would add 0 consent record(s); 2 already imported") && again.contains("nothing to import"),
        "{again}"
    );
}
