//! `leafdesk consent export` at scale: seeds N consent rows (in the database, by a recursive
//! query), then runs the real binary and reports wall time and peak memory for 100,000 and
//! 1,000,000 rows. Flat memory: the peak should not grow with N.
//!
//! Run: `cargo bench --bench consent_export` (needs /usr/bin/time).

use std::process::{Command, Stdio};
use std::time::Instant;

const SEED: &str = "insert into consent_event (consent_event_id, phone, purpose, action, source, evidence, created_at_ms)
    with recursive n(i) as (select 1 union all select i + 1 from n where i < $1)
    select 'ev' || i, '+1555' || (1000000 + i), 'marketing', 'opt_in', 'import',
        '{\"file\":\"bench.csv\",\"line\":' || i || ',\"evidence\":\"web form v3, double opt-in\"}', 1700000000000 + i from n";
const CURRENT: &str = "insert into consent_current (phone, purpose, status, consent_event_id, updated_at_ms)
    select phone, purpose, 'opted_in', consent_event_id, created_at_ms from consent_event";

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    for n in [100_000i64, 1_000_000] {
        let dir = std::env::temp_dir().join(format!("leafdesk-export-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.join("export.db").display());
        rt.block_on(async {
            let store = leafdesk::store::Store::connect(&url, leafdesk::settings::SqliteSync::Normal).await.unwrap();
            sqlx::query(SEED).bind(n).execute(store.pool()).await.unwrap();
            sqlx::query(CURRENT).execute(store.pool()).await.unwrap();
            store.close().await;
        });
        let started = Instant::now();
        let out = Command::new("/usr/bin/time")
            .args(["-f", "%M", env!("CARGO_BIN_EXE_leafdesk"), "consent", "export", "--purpose", "marketing"])
            .env("DATABASE_URL", &url)
            .env("LEAFDESK_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()
            .expect("leafdesk runs under /usr/bin/time");
        let seconds = started.elapsed().as_secs_f64();
        let lines = out.stdout.iter().filter(|b| **b == b'\n').count() - 1;
        let peak_kib: u64 =
            String::from_utf8_lossy(&out.stderr).lines().last().and_then(|l| l.trim().parse().ok()).unwrap_or(0);
        println!(
            "consent export, SQLite: {lines} rows in {seconds:.2} s ({:.0} rows/s), peak RSS {:.1} MiB",
            lines as f64 / seconds,
            peak_kib as f64 / 1024.0
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
