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
