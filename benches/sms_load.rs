//! Load benchmark for the SMS path: signed inbound SMS through the whole server (verify, claim,
//! flow step, one committed transaction, TwiML), against the real release binary in its own
//! process. 64 concurrent keep-alive connections, 1,000 distinct phone numbers each doing a
//! two-step dialog ("hi" → menu, "1" → order status). Also measures the ceiling: an axum
//! handler returning fixed TwiML, in its own process the same way.
//!
//! Run: `cargo bench --bench sms_load` (PostgreSQL is measured too when
//! `BENCH_DATABASE_URL` or 127.0.0.1:5432 answers). Figures go in BENCHMARKS.md.
//!
//! A soak: `BENCH_SECS=60 BENCH_DIALOG=3 BENCH_ONLY=sqlite cargo bench --bench sms_load` measures
//! for 60 s a three-step dialog ("hi", "1", "thanks") and samples the server's anonymous memory
//! (RssAnon) every 5 s; every answer that is not a 200 with TwiML counts as an error. With
//! `BENCH_PORT`, `BENCH_PID` names the server process to sample.

use std::process::{Child, Command};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use leafdesk::twilio::signature::{self, Algorithm};

mod support;
use support::{
    drop_database, free_port, postgres_database, spawn_demo, stop, wait_ready, OUR_NUMBER, PUBLIC_URL, TOKEN,
};

const CONNECTIONS: usize = 64;
const NUMBERS: usize = 1_000;
const WARMUP: Duration = Duration::from_secs(3);
const MEASURE: Duration = Duration::from_secs(15);
/// How often the server's memory is sampled while measuring.
const MEMORY_EVERY: Duration = Duration::from_secs(5);

fn measure_for() -> Duration {
    std::env::var("BENCH_SECS").ok().and_then(|s| s.parse().ok()).map_or(MEASURE, Duration::from_secs)
}

fn dialog() -> &'static [&'static str] {
    if std::env::var("BENCH_DIALOG").is_ok_and(|d| d == "3") {
        &["hi", "1", "thanks"]
    } else {
        &["hi", "1"]
    }
}

/// The process's anonymous resident memory in KiB (Linux), if it can be read.
fn rss_anon_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("RssAnon:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn main() {
    if std::env::args().any(|a| a == "--ceiling-server") {
        return ceiling_server();
    }
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo bench -- --list` compatibility
    }
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    // BENCH_PORT: load a server that is already running (for profiling it), then stop.
    if let Some(port) = std::env::var("BENCH_PORT").ok().and_then(|p| p.parse().ok()) {
        let pid = std::env::var("BENCH_PID").ok().and_then(|p| p.parse().ok());
        let result = rt.block_on(load(port, true, pid));
        return print_result(&format!("server on port {port}"), &result, None);
    }
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    println!(
        "machine: {} cores; load generator: {CONNECTIONS} connections, {NUMBERS} numbers, a {}-step dialog, {}s measured after {}s warm-up",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        dialog().len(),
        measure_for().as_secs(),
        WARMUP.as_secs()
    );
    let ceiling = {
        let (child, port) = spawn_ceiling();
        let result = rt.block_on(load(port, false, None));
        stop(child);
        result
    };
    print_result("ceiling (axum, fixed TwiML)", &ceiling, None);
    let dir = std::env::temp_dir().join(format!("leafdesk-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let sqlite_url = format!("sqlite://{}?mode=rwc", dir.join("bench.db").display());
    if only.is_empty() || only == "sqlite" {
        let sqlite = run_leafdesk(&rt, &sqlite_url);
        print_result("leafdesk on SQLite (WAL, synchronous=normal)", &sqlite, Some(&ceiling));
    }
    if !(only.is_empty() || only == "postgres") {
    } else if let Some(pg) = rt.block_on(postgres_database()) {
        let result = run_leafdesk(&rt, &pg.1);
        print_result("leafdesk on PostgreSQL (synchronous_commit=on)", &result, Some(&ceiling));
        rt.block_on(drop_database(&pg.0, &pg.1));
    } else {
        println!("PostgreSQL: not reachable, skipped");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

struct LoadResult {
    requests: u64,
    errors: u64,
    seconds: f64,
    latencies_us: Vec<u32>,
    /// The server's anonymous memory (KiB), sampled every [`MEMORY_EVERY`] while measuring.
    rss_anon_kib: Vec<u64>,
}

impl LoadResult {
    fn rate(&self) -> f64 {
        self.requests as f64 / self.seconds
    }

    fn percentile(&self, p: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return 0.0;
        }
        let i = ((self.latencies_us.len() as f64 - 1.0) * p).round() as usize;
        f64::from(self.latencies_us[i]) / 1000.0
    }
}

fn print_result(name: &str, r: &LoadResult, ceiling: Option<&LoadResult>) {
    let ratio = ceiling.map(|c| format!(", {:.0}% of the ceiling", 100.0 * r.rate() / c.rate())).unwrap_or_default();
    println!(
        "{name}: {:.0} msg/s, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms, {} errors{ratio}",
        r.rate(),
        r.percentile(0.50),
        r.percentile(0.99),
        r.percentile(1.0),
        r.errors
    );
    if let (Some(first), Some(last), Some(max)) =
        (r.rss_anon_kib.first(), r.rss_anon_kib.last(), r.rss_anon_kib.iter().max())
    {
        let mib = |k: &u64| *k as f64 / 1024.0;
        println!(
            "  anonymous memory: {:.1} MiB at the start, {:.1} MiB at the end, {:.1} MiB at most ({} samples)",
            mib(first),
            mib(last),
            mib(max),
            r.rss_anon_kib.len()
        );
        let series: Vec<String> = r.rss_anon_kib.iter().map(|k| format!("{:.1}", mib(k))).collect();
        println!("  every {} s: {} MiB", MEMORY_EVERY.as_secs(), series.join(" "));
    }
}

fn run_leafdesk(rt: &tokio::runtime::Runtime, database_url: &str) -> LoadResult {
    let (child, port) = spawn_demo(database_url);
    let pid = child.id();
    let result = rt.block_on(async {
        wait_ready(port).await;
        load(port, true, Some(pid)).await
    });
    stop(child);
    result
}

async fn load(port: u16, signed: bool, pid: Option<u32>) -> LoadResult {
    let client = reqwest::Client::builder().pool_max_idle_per_host(CONNECTIONS).http1_only().build().unwrap();
    let url = format!("http://127.0.0.1:{port}/webhooks/twilio/sms");
    let measuring = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let errors = Arc::new(AtomicU64::new(0));
    let seq = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for conn in 0..CONNECTIONS {
        let (client, url, measuring, stop, errors, seq) =
            (client.clone(), url.clone(), measuring.clone(), stop.clone(), errors.clone(), seq.clone());
        tasks.push(tokio::spawn(async move {
            let numbers: Vec<String> = (0..NUMBERS)
                .filter(|n| n % CONNECTIONS == conn)
                .map(|n| format!("+1555{:07}", 1_000_000 + n))
                .collect();
            let mut latencies = Vec::with_capacity(1 << 16);
            let mut i = 0usize;
            let steps = dialog();
            while !stop.load(Ordering::Relaxed) {
                let from = &numbers[(i / steps.len()) % numbers.len()];
                let body = steps[i % steps.len()];
                i += 1;
                let sid = format!("SM{:032x}", seq.fetch_add(1, Ordering::Relaxed));
                let params: Vec<(String, String)> = [
                    ("MessageSid", sid.as_str()),
                    ("From", from.as_str()),
                    ("To", OUR_NUMBER),
                    ("Body", body),
                    ("NumMedia", "0"),
                ]
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
                let form =
                    params.iter().map(|(k, v)| format!("{k}={}", v.replace('+', "%2B"))).collect::<Vec<_>>().join("&");
                let sig = if signed {
                    signature::sign(TOKEN, &format!("{PUBLIC_URL}/webhooks/twilio/sms"), &params, Algorithm::Sha1)
                } else {
                    String::new()
                };
                let started = Instant::now();
                let resp = client
                    .post(&url)
                    .header("content-type", "application/x-www-form-urlencoded")
                    .header("x-twilio-signature", sig)
                    .body(form)
                    .send()
                    .await;
                let ok = match resp {
                    Ok(r) => r.status().is_success() && r.bytes().await.is_ok_and(|b| b.starts_with(b"<Response>")),
                    Err(_) => false,
                };
                if measuring.load(Ordering::Relaxed) {
                    if ok {
                        latencies.push(u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX));
                    } else {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            latencies
        }));
    }
    tokio::time::sleep(WARMUP).await;
    measuring.store(true, Ordering::Relaxed);
    let started = Instant::now();
    let mut memory = Vec::new();
    while started.elapsed() < measure_for() {
        memory.extend(pid.and_then(rss_anon_kib));
        tokio::time::sleep(MEMORY_EVERY.min(measure_for().saturating_sub(started.elapsed()))).await;
    }
    memory.extend(pid.and_then(rss_anon_kib));
    measuring.store(false, Ordering::Relaxed);
    let seconds = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let mut latencies_us = Vec::new();
    for t in tasks {
        latencies_us.extend(t.await.unwrap());
    }
    latencies_us.sort_unstable();
    LoadResult {
        requests: latencies_us.len() as u64,
        errors: errors.load(Ordering::Relaxed),
        seconds,
        latencies_us,
        rss_anon_kib: memory,
    }
}

fn spawn_ceiling() -> (Child, u16) {
    let port = free_port();
    let child =
        Command::new(std::env::current_exe().unwrap()).args(["--ceiling-server", &port.to_string()]).spawn().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let deadline = Instant::now() + Duration::from_secs(10);
        while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
            assert!(Instant::now() < deadline, "ceiling server did not start");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    (child, port)
}

/// The ceiling: the cheapest axum handler that answers a webhook with TwiML.
fn ceiling_server() {
    let port: u16 =
        std::env::args().skip_while(|a| a != "--ceiling-server").nth(1).and_then(|p| p.parse().ok()).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async move {
        let app = axum::Router::new().route(
            "/webhooks/twilio/sms",
            axum::routing::post(|| async {
                ([("content-type", "text/xml")], "<Response><Message><Body>Hi!</Body></Message></Response>")
            }),
        );
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        axum::serve(listener, app).with_graceful_shutdown(leafdesk::startup::shutdown_signal()).await.unwrap();
    });
}
