//! Outbox and send gate speed: deciding consent + gate for one message, and the worker's
//! sustained sends per second to a local stand-in for Twilio's Messages API.
//!
//! Run: `cargo bench --bench outbox`.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use leafdesk::compliance::gate::Recipient;
use leafdesk::metrics::Metrics;
use leafdesk::settings::SqliteSync;
use leafdesk::store::outbox::NewOutbound;
use leafdesk::store::Store;
use leafdesk::twilio::rest::TwilioRest;

mod support;

const ROWS: usize = 10_000;

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(run());
}

async fn run() {
    let dir = std::env::temp_dir().join(format!("leafdesk-outbox-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.join("outbox.db").display());
    let store = Store::connect_server(&url, SqliteSync::Normal).await.unwrap();
    let location = leafdesk::demo::seed(&store, "+15005550006").await.unwrap();

    // Consent + gate per message, as the worker does it: one read for a round of 64 numbers,
    // then a decision per message.
    let n = 20_000;
    let phones: Vec<String> = (0..n).map(|i| format!("+1555{:07}", 1_000_000 + i % 1000)).collect();
    let started = Instant::now();
    for round in phones.chunks(64) {
        let refs: Vec<&str> = round.iter().map(String::as_str).collect();
        let inputs = leafdesk::store::consent::gate_inputs(&store, &refs).await.unwrap();
        for phone in round {
            let gate = inputs.get(phone).cloned().unwrap_or_default();
            let recipient = Recipient::locate(
                phone,
                gate.place.state.as_deref(),
                gate.place.timezone.as_deref(),
                &location.state,
                &location.timezone,
            );
            std::hint::black_box(leafdesk::compliance::gate::decide(
                "marketing",
                gate.consent,
                store.now_ms(),
                &recipient,
                &[],
            ));
        }
    }
    let per = started.elapsed().as_secs_f64() * 1e6 / f64::from(n);
    // One message alone: the same read for a single number.
    let started = Instant::now();
    for phone in phones.iter().take(2_000) {
        std::hint::black_box(leafdesk::store::consent::gate_inputs(&store, &[phone.as_str()]).await.unwrap());
    }
    let single = started.elapsed().as_secs_f64() * 1e6 / 2_000.0;
    let started = Instant::now();
    let consent = leafdesk::compliance::gate::Consent { opted_out: false, marketing_opted_in: true };
    // A Florida number at a California store: two states' windows, the area code's zone.
    let recipient = Recipient::locate("+13055550100", Some("CA"), None, &location.state, &location.timezone);
    for _ in 0..n {
        std::hint::black_box(leafdesk::compliance::gate::decide("marketing", consent, store.now_ms(), &recipient, &[]));
    }
    let pure = started.elapsed().as_secs_f64() * 1e6 / f64::from(n);
    println!(
        "consent lookup + gate decision: {per:.1} µs per message in rounds of 64 \
         (one number read alone: {single:.1} µs; the gate alone: {pure:.2} µs)"
    );

    // A stand-in provider that accepts everything.
    let (base, accepted) = support::stand_in_messages_api().await;

    let mut tx = store.begin().await.unwrap();
    for i in 0..ROWS {
        let phone = format!("+1555{:07}", 2_000_000 + i);
        let row = NewOutbound {
            conversation_id: None,
            location_id: &location.location_id,
            to_phone: &phone,
            purpose: "transactional",
            body: "Your order is ready.",
            reply: None,
        };
        leafdesk::store::outbox::enqueue(&mut tx, &row, store.now_ms()).await.unwrap();
    }
    tx.commit().await.unwrap();
    let rest = TwilioRest::new(
        "AC0123456789abcdef0123456789abcdef",
        "token",
        &base,
        Some("https://bot.example.com/webhooks/twilio/status".into()),
    )
    .unwrap();
    let worker = leafdesk::outbox::Worker {
        store: store.clone(),
        rest,
        metrics: Arc::new(Metrics::default()),
        retry_base_ms: 2000,
    };
    let started = Instant::now();
    let (_wake, handle) = leafdesk::outbox::spawn(worker, Duration::from_millis(10));
    while accepted.load(Ordering::Relaxed) < ROWS as u64 || pending(&store).await > 0 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(started.elapsed() < Duration::from_secs(120), "outbox did not drain");
    }
    let seconds = started.elapsed().as_secs_f64();
    handle.abort();
    println!(
        "outbox worker, SQLite: {ROWS} sends in {seconds:.2} s = {:.0} sends/s (each: claim, gate, HTTP, mark sent)",
        ROWS as f64 / seconds
    );
    let _ = std::fs::remove_dir_all(&dir);
}

async fn pending(store: &Store) -> i64 {
    let (n,): (i64,) =
        sqlx::query_as("select count(*) from outbox where status <> 'sent'").fetch_one(store.pool()).await.unwrap();
    n
}
