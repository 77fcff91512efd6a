//! Console benchmark, against the real release binary in its own process:
//!
//! 1. the queue page (`GET /console`, signed in as a CSR) with 10,000 open tickets, filed by
//!    10,000 customers who each texted "I want to talk to a person" through the signed
//!    webhook; 300 sequential requests after 20 warm-up ones, the time from sending the request
//!    to the last byte of the page (an upper bound of the server's time: loopback adds little);
//!    target p95 ≤ 50 ms;
//! 2. a hand-off reaching 200 connected consoles (`GET /console/events`, 200 sessions): the time
//!    from sending the customer's text to the moment the last console has the `opened` note;
//!    target ≤ 1 s. On PostgreSQL the consoles are on a second server process, so every note
//!    crosses LISTEN/NOTIFY.
//!
//! Run: `cargo bench --bench console` (PostgreSQL too when `BENCH_DATABASE_URL` or
//! 127.0.0.1:5432 answers; `BENCH_ONLY=sqlite|postgres` for one). Figures go in BENCHMARKS.md.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use leafdesk::twilio::signature::{self, Algorithm};
use tokio::sync::mpsc;

mod support;
use support::{drop_database, postgres_database, sign_in, spawn_demo, stop, wait_ready, OUR_NUMBER, PUBLIC_URL, TOKEN};

const TICKETS: usize = 10_000;
const CONSOLES: usize = 200;
const HAND_OFFS: usize = 10;
const PASSWORD: &str = "correct horse battery staple";

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    println!(
        "machine: {} cores; {TICKETS} open tickets, {CONSOLES} consoles, {HAND_OFFS} hand-offs",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    if only.is_empty() || only == "sqlite" {
        let dir = std::env::temp_dir().join(format!("leafdesk-console-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.join("bench.db").display());
        rt.block_on(run("SQLite", &url, false));
        if std::env::var("BENCH_KEEP").is_ok() {
            println!("kept {url}");
        } else {
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
    if only.is_empty() || only == "postgres" {
        match rt.block_on(postgres_database()) {
            Some((admin, url)) => {
                rt.block_on(run("PostgreSQL (consoles on a second process)", &url, true));
                if std::env::var("BENCH_KEEP").is_ok() {
                    println!("kept {url}");
                } else {
                    rt.block_on(drop_database(&admin, &url));
                }
            }
            None => println!("PostgreSQL: not reachable, skipped"),
        }
    }
}

async fn run(name: &str, database_url: &str, second_process: bool) {
    let (server, port) = spawn_demo(database_url);
    wait_ready(port).await;
    let (other, console_port) = if second_process {
        let (child, port) = spawn_demo(database_url);
        wait_ready(port).await;
        (Some(child), port)
    } else {
        (None, port)
    };
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(64)
        .http1_only()
        .build()
        .unwrap();

    let started = Instant::now();
    file_hand_offs(&client, port).await;
    println!("{name}: {TICKETS} hand-offs filed through the webhook in {:.1} s", started.elapsed().as_secs_f64());

    let store =
        leafdesk::store::Store::connect_server(database_url, leafdesk::settings::SqliteSync::Normal).await.unwrap();
    if second_process {
        // Measure the queue as it stands, not PostgreSQL's catching up after the load: until
        // autovacuum (within a minute) refreshes the statistics the planner guesses 40 open
        // tickets and sorts all 10,000 (30 ms instead of 0.3 ms), and its vacuuming takes a
        // core of these two. Do now what it would do.
        sqlx::raw_sql("vacuum analyze").execute(store.pool()).await.unwrap();
    }
    let by = leafdesk::auth::users::Actor { name: "bench", ip: "" };
    let roles = leafdesk::domain::staff::Roles::new([leafdesk::domain::staff::Role::Csr]);
    leafdesk::auth::users::add(&store, &by, "bench-csr@shop.test", "Bench", &roles, PASSWORD).await.unwrap();
    let cookie = sign_in(&client, port, "bench-csr@shop.test", PASSWORD).await;

    // 1. The queue page.
    let page = format!("http://127.0.0.1:{port}/console");
    let first = client.get(&page).header("cookie", &cookie).send().await.unwrap().text().await.unwrap();
    assert!(first.contains(r#"id="count">10"#), "the queue holds the tickets");
    for (label, query) in [("the queue", ""), ("filtered: SLA late", "?sla=late"), ("filtered: mine", "?mine=1")] {
        let url = format!("{page}{query}");
        let before = server_times(&client, port).await;
        let mut times = Vec::new();
        for i in 0..320 {
            let t = Instant::now();
            let resp = client.get(&url).header("cookie", &cookie).send().await.unwrap();
            assert_eq!(resp.status(), 200);
            let bytes = resp.bytes().await.unwrap().len();
            if i >= 20 {
                times.push((t.elapsed(), bytes));
            }
        }
        let size = times[0].1;
        let mut times: Vec<Duration> = times.into_iter().map(|(t, _)| t).collect();
        times.sort();
        let server = server_times(&client, port).await.since(&before);
        println!(
            "{name}: GET /console ({label}, {size} bytes): server {:.1}% within 25 ms, {:.1}% within 50 ms, mean {:.1} ms; at the client p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            server.share(0.025),
            server.share(0.05),
            server.mean_ms(),
            ms(pct(&times, 0.50)),
            ms(pct(&times, 0.95)),
            ms(pct(&times, 0.99)),
            ms(pct(&times, 1.0))
        );
    }

    // 2. A hand-off reaching 200 consoles.
    let t = Instant::now();
    let mut cookies = Vec::with_capacity(CONSOLES);
    for _ in 0..CONSOLES {
        cookies.push(sign_in(&client, console_port, "bench-csr@shop.test", PASSWORD).await);
    }
    println!("{name}: {CONSOLES} sign-ins in {:.1} s (argon2id)", t.elapsed().as_secs_f64());
    let (seen_tx, mut seen_rx) = mpsc::unbounded_channel::<Instant>();
    let (ready_tx, mut ready_rx) = mpsc::unbounded_channel::<()>();
    let stream_client = reqwest::Client::builder().http1_only().build().unwrap();
    let mut consoles = Vec::new();
    for cookie in cookies {
        let (client, seen, ready) = (stream_client.clone(), seen_tx.clone(), ready_tx.clone());
        let url = format!("http://127.0.0.1:{console_port}/console/events");
        consoles.push(tokio::spawn(async move {
            let resp = client.get(url).header("cookie", cookie).send().await.unwrap();
            assert_eq!(resp.status(), 200);
            ready.send(()).unwrap();
            let mut body = resp.bytes_stream();
            let mut buffer = String::new();
            while let Some(Ok(chunk)) = body.next().await {
                buffer.push_str(&String::from_utf8_lossy(&chunk));
                while let Some(end) = buffer.find("\n\n") {
                    let event: String = buffer.drain(..end + 2).collect();
                    if event.contains(r#""kind":"opened""#) && seen.send(Instant::now()).is_err() {
                        return;
                    }
                }
            }
        }));
    }
    for _ in 0..CONSOLES {
        ready_rx.recv().await.unwrap();
    }
    let mut worst = Vec::new();
    let mut all = Vec::new();
    for i in 0..HAND_OFFS {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let sent = Instant::now();
        text(&client, port, &format!("+1555{:07}", 9_000_000 + i), "I want to talk to a person").await;
        let mut arrivals = Vec::with_capacity(CONSOLES);
        while arrivals.len() < CONSOLES {
            let at = tokio::time::timeout(Duration::from_secs(10), seen_rx.recv())
                .await
                .expect("every console hears of the hand-off within 10 s")
                .unwrap();
            arrivals.push(at - sent);
        }
        arrivals.sort();
        worst.push(*arrivals.last().unwrap());
        all.extend(arrivals);
    }
    all.sort();
    worst.sort();
    println!(
        "{name}: a hand-off reaching {CONSOLES} consoles: the last console after p50 {:.1} ms, max {:.1} ms (of {HAND_OFFS}); every arrival p50 {:.1} ms, p95 {:.1} ms",
        ms(pct(&worst, 0.5)),
        ms(pct(&worst, 1.0)),
        ms(pct(&all, 0.5)),
        ms(pct(&all, 0.95))
    );
    for c in consoles {
        c.abort();
    }
    drop(store);
    if let Some(other) = other {
        stop(other);
    }
    stop(server);
}

/// The server's own timing of `GET /console` from its Prometheus histogram: requests per
/// bucket bound, the count and the sum of seconds.
struct ServerTimes {
    buckets: Vec<(f64, u64)>,
    count: u64,
    sum: f64,
}

impl ServerTimes {
    fn since(self, before: &Self) -> Self {
        let buckets = self.buckets.iter().zip(&before.buckets).map(|((le, n), (_, m))| (*le, n - m)).collect();
        Self { buckets, count: self.count - before.count, sum: self.sum - before.sum }
    }

    /// The percentage of requests that took at most `le` seconds (a bucket bound).
    fn share(&self, le: f64) -> f64 {
        let within = self.buckets.iter().find(|(b, _)| (*b - le).abs() < 1e-9).map_or(0, |(_, n)| *n);
        100.0 * within as f64 / self.count.max(1) as f64
    }

    fn mean_ms(&self) -> f64 {
        1000.0 * self.sum / self.count.max(1) as f64
    }
}

async fn server_times(client: &reqwest::Client, port: u16) -> ServerTimes {
    let text = client.get(format!("http://127.0.0.1:{port}/metrics")).send().await.unwrap().text().await.unwrap();
    let series = r#"leafdesk_http_request_duration_seconds"#;
    let route = r#"route="/console""#;
    let mut times = ServerTimes { buckets: Vec::new(), count: 0, sum: 0.0 };
    for line in text.lines().filter(|l| l.starts_with(series) && l.contains(route)) {
        let value = line.rsplit(' ').next().unwrap_or("0");
        if line.starts_with(&format!("{series}_bucket")) {
            let le = line.split("le=\"").nth(1).and_then(|r| r.split('"').next()).unwrap_or("+Inf");
            if let Ok(le) = le.parse::<f64>() {
                times.buckets.push((le, value.parse().unwrap_or(0)));
            }
        } else if line.starts_with(&format!("{series}_count")) {
            times.count = value.parse().unwrap_or(0);
        } else if line.starts_with(&format!("{series}_sum")) {
            times.sum = value.parse().unwrap_or(0.0);
        }
    }
    times
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Files [`TICKETS`] hand-offs, 32 texts at a time.
async fn file_hand_offs(client: &reqwest::Client, port: u16) {
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let (client, next) = (client.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= TICKETS {
                    return;
                }
                text(&client, port, &format!("+1555{:07}", 4_000_000 + i), "I want to talk to a person").await;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

/// A customer's text, signed as Twilio signs it.
async fn text(client: &reqwest::Client, port: u16, from: &str, body: &str) {
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let sid = format!("SM{:032x}", SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    let params: Vec<(String, String)> =
        [("MessageSid", sid.as_str()), ("From", from), ("To", OUR_NUMBER), ("Body", body)]
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
    let sig = signature::sign(TOKEN, &format!("{PUBLIC_URL}/webhooks/twilio/sms"), &params, Algorithm::Sha1);
    let resp = client
        .post(format!("http://127.0.0.1:{port}/webhooks/twilio/sms"))
        .header("x-twilio-signature", sig)
        .form(&params)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap_or_default());
}
