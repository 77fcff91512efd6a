//! Load benchmark for calls: 500 concurrent calls against the real release binary in its own
//! process, each a signed Twilio conversation — the call comes in (greeting and `<Gather>`), the
//! caller says three things ("What are your hours?", "Where is my order?", "thanks", each a speech
//! gather turn through consent, the flows and one committed transaction), then hangs up (status
//! callback) and calls again with a new CallSid. The figure is the gather turn's latency: how long
//! a caller waits for the bot's answer after speaking.
//!
//! Callers pause between turns as people do while Twilio listens and recognizes (2 s, a brisk
//! caller; `BENCH_THINK_MS` changes it, `BENCH_THINK_MS=0` drives the server flat out to find its
//! throughput ceiling, where the latency is queueing).
//!
//! Run: `cargo bench --bench voice_load` (PostgreSQL too when `BENCH_DATABASE_URL` or
//! 127.0.0.1:5432 answers; `BENCH_ONLY=sqlite` skips it). Figures go in BENCHMARKS.md.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use leafdesk::twilio::signature::{self, Algorithm};

mod support;
use support::{drop_database, postgres_database, spawn_demo, stop, wait_ready, OUR_NUMBER, PUBLIC_URL, TOKEN};

const CALLS: usize = 500;
const WARMUP: Duration = Duration::from_secs(3);
const MEASURE: Duration = Duration::from_secs(15);
const SAID: &[&str] = &["What are your hours?", "Where is my order?", "thanks"];

fn think() -> Duration {
    Duration::from_millis(std::env::var("BENCH_THINK_MS").ok().and_then(|t| t.parse().ok()).unwrap_or(2_000))
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    println!(
        "machine: {} cores; load generator: {CALLS} concurrent calls, {} gather turns per call, {} ms between turns, {}s measured after {}s warm-up",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        SAID.len(),
        think().as_millis(),
        MEASURE.as_secs(),
        WARMUP.as_secs()
    );
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    let dir = std::env::temp_dir().join(format!("leafdesk-voice-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    if only.is_empty() || only == "sqlite" {
        let url = format!("sqlite://{}?mode=rwc", dir.join("bench.db").display());
        report("leafdesk on SQLite (WAL, synchronous=normal)", &run(&rt, &url));
    }
    if only.is_empty() || only == "postgres" {
        match rt.block_on(postgres_database()) {
            Some((admin, url)) => {
                report("leafdesk on PostgreSQL (synchronous_commit=on)", &run(&rt, &url));
                rt.block_on(drop_database(&admin, &url));
            }
            None => println!("PostgreSQL: not reachable, skipped"),
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

struct Measured {
    turns: u64,
    calls: u64,
    errors: u64,
    seconds: f64,
    latencies_us: Vec<u32>,
}

fn report(name: &str, m: &Measured) {
    let p = |q: f64| {
        let i = ((m.latencies_us.len().max(1) - 1) as f64 * q).round() as usize;
        f64::from(m.latencies_us.get(i).copied().unwrap_or(0)) / 1000.0
    };
    println!(
        "{name}: {:.0} gather turns/s ({} calls started), p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms, {} errors",
        m.turns as f64 / m.seconds,
        m.calls,
        p(0.5),
        p(0.99),
        p(1.0),
        m.errors
    );
}

fn run(rt: &tokio::runtime::Runtime, database_url: &str) -> Measured {
    let (child, port) = spawn_demo(database_url);
    let measured = rt.block_on(async {
        wait_ready(port).await;
        load(port).await
    });
    stop(child);
    measured
}

fn sign(path: &str, params: &[(String, String)]) -> String {
    signature::sign(TOKEN, &format!("{PUBLIC_URL}{path}"), params, Algorithm::Sha1)
}

fn form(params: &[(String, String)]) -> String {
    form_urlencoded::Serializer::new(String::new()).extend_pairs(params.iter()).finish()
}

async fn load(port: u16) -> Measured {
    let client = reqwest::Client::builder().pool_max_idle_per_host(CALLS).http1_only().build().unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let (measuring, done) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
    let (errors, calls, seq) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let mut tasks = Vec::new();
    for caller in 0..CALLS {
        let (client, base) = (client.clone(), base.clone());
        let (measuring, done, errors, calls, seq) =
            (measuring.clone(), done.clone(), errors.clone(), calls.clone(), seq.clone());
        tasks.push(tokio::spawn(async move {
            let from = format!("+1555{:07}", 2_000_000 + caller);
            let mut latencies = Vec::with_capacity(1 << 12);
            // Calls start spread over one pause, not all at once.
            tokio::time::sleep(think() * u32::try_from(caller).unwrap_or(0) / u32::try_from(CALLS).unwrap_or(1)).await;
            let post = |path: String, params: Vec<(String, String)>| {
                let signature = sign(&path, &params);
                client
                    .post(format!("{base}{path}"))
                    .header("content-type", "application/x-www-form-urlencoded")
                    .header("x-twilio-signature", signature)
                    .body(form(&params))
                    .send()
            };
            while !done.load(Ordering::Relaxed) {
                let sid = format!("CA{:032x}", seq.fetch_add(1, Ordering::Relaxed));
                let fields = |extra: &[(&str, &str)]| -> Vec<(String, String)> {
                    [("CallSid", sid.as_str()), ("From", from.as_str()), ("To", OUR_NUMBER)]
                        .iter()
                        .chain(extra)
                        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                        .collect()
                };
                let ok = |r: Result<reqwest::Response, reqwest::Error>| r.is_ok_and(|r| r.status().is_success());
                if !ok(post("/webhooks/twilio/voice".into(), fields(&[])).await) {
                    errors.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                calls.fetch_add(1, Ordering::Relaxed);
                for (turn, said) in SAID.iter().enumerate() {
                    tokio::time::sleep(think()).await;
                    let path = format!("/webhooks/twilio/voice/gather?turn={}&quiet=0&unclear=0", turn + 1);
                    let started = Instant::now();
                    let resp = post(path, fields(&[("SpeechResult", said), ("Confidence", "0.9")])).await;
                    let answered = match resp {
                        Ok(r) if r.status().is_success() => {
                            r.bytes().await.is_ok_and(|b| b.windows(4).any(|w| w == b"<Say"))
                        }
                        _ => false,
                    };
                    if measuring.load(Ordering::Relaxed) {
                        if answered {
                            latencies.push(u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX));
                        } else {
                            errors.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                let _ = post("/webhooks/twilio/voice/status".into(), fields(&[("CallStatus", "completed")])).await;
            }
            latencies
        }));
    }
    tokio::time::sleep(WARMUP + think()).await;
    measuring.store(true, Ordering::Relaxed);
    let (started, calls_before) = (Instant::now(), calls.load(Ordering::Relaxed));
    tokio::time::sleep(MEASURE).await;
    measuring.store(false, Ordering::Relaxed);
    let seconds = started.elapsed().as_secs_f64();
    let calls_during = calls.load(Ordering::Relaxed) - calls_before;
    done.store(true, Ordering::Relaxed);
    let mut latencies_us = Vec::new();
    for t in tasks {
        latencies_us.extend(t.await.unwrap());
    }
    latencies_us.sort_unstable();
    Measured {
        turns: latencies_us.len() as u64,
        calls: calls_during,
        errors: errors.load(Ordering::Relaxed),
        seconds,
        latencies_us,
    }
}
