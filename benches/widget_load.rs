//! Load benchmark for the web widget, against the real release binary in its own process:
//!
//! 1. **Idle**: 10,000 visitors each with the widget open — a session, a first message, then the
//!    live event stream (`GET /api/v1/widget/events`) held open — and the server's resident memory
//!    (VmRSS) before and with them all connected.
//! 2. **Active**: 1,000 chatters, each with its event stream open, sending a message every few
//!    seconds (`BENCH_THINK_MS`, default 3,000 — people read and type; 0 drives it flat out) and
//!    timing the round trip: message sent → the bot's reply received (it comes back with the POST).
//!
//! Run: `cargo bench --bench widget_load` (`BENCH_ONLY=idle|active`). SQLite only: the widget
//! path is the SMS path's turn, which `sms_load` measures on PostgreSQL too.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod support;
use support::{spawn_demo_with, stop, wait_ready};

const IDLE: usize = 10_000;
const CHATTERS: usize = 1_000;
const WARMUP: Duration = Duration::from_secs(3);
const MEASURE: Duration = Duration::from_secs(15);
const SAID: &[&str] = &["hi", "what are your hours?", "do you have blue dream?", "thanks"];

fn think() -> Duration {
    Duration::from_millis(std::env::var("BENCH_THINK_MS").ok().and_then(|t| t.parse().ok()).unwrap_or(3_000))
}

/// The process's resident memory in KiB (Linux), if it can be read.
fn rss_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find(|l| l.starts_with(field))?.split_whitespace().nth(1)?.parse().ok()
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    println!("machine: {} cores", std::thread::available_parallelism().map_or(0, |n| n.get()));
    let dir = std::env::temp_dir().join(format!("leafdesk-widget-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.join("bench.db").display());
    let (child, port) = spawn_demo_with(&url, &[("LEAFDESK_MAX_CONNECTIONS", "24000")]);
    let pid = child.id();
    rt.block_on(async {
        wait_ready(port).await;
        let base = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::builder().http1_only().pool_max_idle_per_host(2_000).build().unwrap();
        let location = location(&client, &base).await;
        if only.is_empty() || only == "idle" {
            idle(&client, &base, &location, pid).await;
        }
        if only.is_empty() || only == "active" {
            active(&client, &base, &location).await;
        }
    });
    stop(child);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The demo location's id, from the demo site page's tag.
async fn location(client: &reqwest::Client, base: &str) -> String {
    let page = client.get(format!("{base}/demo/site")).send().await.unwrap().text().await.unwrap();
    let start = page.find("data-location=\"").unwrap() + "data-location=\"".len();
    page[start..].split('"').next().unwrap().to_owned()
}

async fn session(client: &reqwest::Client, base: &str, location: &str) -> String {
    let body = serde_json::json!({ "location_id": location });
    let resp: serde_json::Value =
        client.post(format!("{base}/api/v1/widget/session")).json(&body).send().await.unwrap().json().await.unwrap();
    resp["visitor"].as_str().unwrap().to_owned()
}

async fn open_stream(client: &reqwest::Client, base: &str, location: &str, visitor: &str) -> reqwest::Response {
    let query = [("location_id", location), ("visitor", visitor), ("after", "")];
    let resp = client.get(format!("{base}/api/v1/widget/events")).query(&query).send().await.unwrap();
    assert!(resp.status().is_success(), "{}", resp.status());
    resp
}

async fn idle(client: &reqwest::Client, base: &str, location: &str, pid: u32) {
    let before = (rss_kib(pid, "VmRSS:"), rss_kib(pid, "RssAnon:"));
    let started = Instant::now();
    let mut streams = Vec::with_capacity(IDLE);
    for chunk in 0..IDLE / 500 {
        let opened = futures_util::future::join_all((0..500).map(|_| async {
            // A stream opens once the visitor has written (nobody can answer them before).
            let visitor = session(client, base, location).await;
            let hi = serde_json::json!({ "location_id": location, "visitor": visitor, "id": "m0", "text": "hi" });
            client.post(format!("{base}/api/v1/widget/messages")).json(&hi).send().await.unwrap();
            open_stream(client, base, location, &visitor).await
        }))
        .await;
        streams.extend(opened);
        let _ = chunk;
    }
    let opened_in = started.elapsed();
    tokio::time::sleep(Duration::from_secs(5)).await; // let every stream reach its first wait
    let with = (rss_kib(pid, "VmRSS:"), rss_kib(pid, "RssAnon:"));
    let mib = |k: Option<u64>| k.map_or("?".to_owned(), |k| format!("{:.1} MiB", k as f64 / 1024.0));
    println!(
        "idle: {} widget streams open (sessions and streams opened in {:.1} s); server VmRSS {} before, {} with them (anonymous {} → {})",
        streams.len(),
        opened_in.as_secs_f64(),
        mib(before.0),
        mib(with.0),
        mib(before.1),
        mib(with.1)
    );
    drop(streams);
}

async fn active(client: &reqwest::Client, base: &str, location: &str) {
    let (measuring, done) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
    let errors = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for chatter in 0..CHATTERS {
        let (client, base, location) = (client.clone(), base.to_owned(), location.to_owned());
        let (measuring, done, errors) = (measuring.clone(), done.clone(), errors.clone());
        tasks.push(tokio::spawn(async move {
            let visitor = session(&client, &base, &location).await;
            let hi = serde_json::json!({ "location_id": location, "visitor": visitor, "id": "start", "text": "hi" });
            client.post(format!("{base}/api/v1/widget/messages")).json(&hi).send().await.unwrap();
            let _stream = open_stream(&client, &base, &location, &visitor).await;
            tokio::time::sleep(think() * u32::try_from(chatter).unwrap_or(0) / u32::try_from(CHATTERS).unwrap_or(1))
                .await;
            let mut latencies = Vec::new();
            let mut i = 0usize;
            while !done.load(Ordering::Relaxed) {
                let body = serde_json::json!({
                    "location_id": location, "visitor": visitor, "id": format!("m{i}"), "text": SAID[i % SAID.len()],
                });
                i += 1;
                let started = Instant::now();
                let ok = match client.post(format!("{base}/api/v1/widget/messages")).json(&body).send().await {
                    Ok(r) if r.status().is_success() => r.bytes().await.is_ok_and(|b| b.starts_with(b"{")),
                    _ => false,
                };
                if measuring.load(Ordering::Relaxed) {
                    if ok {
                        latencies.push(u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX));
                    } else {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
                tokio::time::sleep(think()).await;
            }
            latencies
        }));
    }
    tokio::time::sleep(WARMUP + think()).await;
    measuring.store(true, Ordering::Relaxed);
    let started = Instant::now();
    tokio::time::sleep(MEASURE).await;
    measuring.store(false, Ordering::Relaxed);
    let seconds = started.elapsed().as_secs_f64();
    done.store(true, Ordering::Relaxed);
    let mut all: Vec<u32> = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all.sort_unstable();
    let p = |q: f64| {
        f64::from(all.get(((all.len().max(1) - 1) as f64 * q).round() as usize).copied().unwrap_or(0)) / 1000.0
    };
    println!(
        "active: {CHATTERS} chatters (each with its stream open), {} ms between messages: {:.0} msg/s, round trip p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms, {} errors",
        think().as_millis(),
        all.len() as f64 / seconds,
        p(0.5),
        p(0.99),
        p(1.0),
        errors.load(Ordering::Relaxed)
    );
}
