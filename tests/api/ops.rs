//! Running it: health, readiness, metrics, the conversation tests, and the real binary
//! (start with demo data, answer, keep PII out of logs, shut down gracefully).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use crate::helpers::*;

#[tokio::test]
async fn health_readiness_and_metrics_answer() {
    let app = spawn_app().await;
    app.sms(&sid(), "+15555550100", "hi").await;
    let health = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let ready: serde_json::Value = app.client.get(app.url("/readyz")).send().await.unwrap().json().await.unwrap();
    assert_eq!(ready["database"], "ok");
    assert_eq!(ready["flows"], 14);
    let metrics = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    for line in [
        "leafdesk_messages_total{channel=\"sms\",direction=\"inbound\"} 1",
        "leafdesk_messages_total{channel=\"sms\",direction=\"outbound\"} 1",
        "leafdesk_http_request_duration_seconds_count{route=\"/webhooks/twilio/sms\"} 1",
    ] {
        assert!(metrics.contains(line), "missing {line:?} in\n{metrics}");
    }
    let missing = app.client.get(app.url("/nope")).send().await.unwrap();
    assert_eq!(missing.status(), 404);
}

#[tokio::test]
async fn a_flow_outcome_is_counted() {
    let app = spawn_app().await;
    app.sms(&sid(), "+15555550100", "where is my order").await;
    let metrics = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(
        metrics.contains("leafdesk_flow_outcomes_total{flow=\"order_status\",outcome=\"resolved\"} 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn every_conversation_test_in_flows_tests_passes() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let report = leafdesk::flowtest::run_dir(&root.join("flows"), &root.join("templates")).await.expect("flows load");
    assert!(report.failed.is_empty(), "{:#?}", report.failed);
    assert!(report.passed.len() >= 12, "{}", report.summary());
}

#[tokio::test]
async fn graceful_shutdown_lets_the_server_finish() {
    let app = spawn_app().await;
    let reply = app.sms(&sid(), "+15555550100", "hi").await;
    assert_eq!(reply.status, 200);
    app.stop().await; // panics if the server task failed
}

/// The real binary, as a newcomer runs it: `leafdesk serve --demo` on a fresh data dir.
#[tokio::test]
async fn the_binary_serves_demo_data_keeps_pii_out_of_logs_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let root = env!("CARGO_MANIFEST_DIR");
    let mut child = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_leafdesk"))
            .args(["serve", "--demo", "--bind", "127.0.0.1:0"])
            .current_dir(root)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("LEAFDESK_DATA_DIR", dir.path())
            .env("TWILIO_AUTH_TOKEN", TOKEN)
            .env("LEAFDESK_PUBLIC_URL", PUBLIC_URL)
            .env("LEAFDESK_LOG", "info")
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("binary starts"),
    );
    let stderr = child.0.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut logs = Vec::new();
    let addr = loop {
        let line = rx.recv_timeout(std::time::Duration::from_secs(30)).expect("server logs that it listens");
        logs.push(line.clone());
        if let Some(rest) = line.split("addr=").nth(1) {
            break rest.split_whitespace().next().unwrap().to_owned();
        }
    };
    let client = reqwest::Client::new();
    assert!(text_binary(&client, &addr, "+15555550100", "my secret dosage question").await, "answered");
    assert!(dir.path().join("leafdesk.db").exists(), "SQLite file created under LEAFDESK_DATA_DIR");
    // SIGTERM: graceful shutdown, exit 0.
    let _ = Command::new("kill").args(["-TERM", &child.0.id().to_string()]).status();
    let status = child.0.wait().unwrap();
    assert!(status.success(), "exit status {status:?}");
    logs.extend(rx.try_iter());
    let all = logs.join("\n");
    assert!(all.contains("leafdesk stopped"), "{all}");
    assert!(!all.contains("my secret dosage question"), "message body leaked into logs:\n{all}");
    assert!(!all.contains("5555550100"), "full phone number leaked into logs:\n{all}");
    assert!(!all.contains(TOKEN), "token leaked into logs");
}

#[tokio::test]
async fn the_server_refuses_to_start_on_a_broken_flow_and_names_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let flows = dir.path().join("flows");
    copy_dir(std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/flows")), &flows);
    std::fs::write(flows.join("menu.yaml"), "id: menu\nsteps:\n  - id: offer\n    ask: menu/offer\n    expect:\n      - options: [\"1\"]\n        next: nowhere\n").unwrap();
    let url = test_database_url(dir.path()).await;
    let settings =
        test_settings(&url, &flows, std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/templates")), 0);
    let err = leafdesk::startup::build(settings).await.err().expect("build fails on a broken flow").to_string();
    assert!(err.contains("menu.yaml:7:15: unknown step \"nowhere\""), "{err}");
}

/// Texts a server started from the binary at `addr`; `true` when it answered with a message.
async fn text_binary(client: &reqwest::Client, addr: &str, from: &str, body: &str) -> bool {
    let params = sms_params(&sid(), from, body);
    let resp = client
        .post(format!("http://{addr}/webhooks/twilio/sms"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-twilio-signature", sign("/webhooks/twilio/sms", &params))
        .body(encode(&params))
        .send()
        .await
        .unwrap();
    resp.status() == 200 && resp.text().await.unwrap().contains("<Message>")
}

/// Kills the child process if the test fails before stopping it.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let path = entry.path();
        let target = to.join(entry.file_name());
        if path.is_dir() {
            copy_dir(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}

/// kill -9 right after answers: every answered message is in the database afterwards
/// (SQLite WAL, synchronous=normal: a commit is in the log before the reply is sent).
#[tokio::test]
async fn a_crash_never_loses_an_answered_message() {
    let dir = tempfile::tempdir().unwrap();
    let url = test_database_url(dir.path()).await;
    let mut child = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_leafdesk"))
            .args(["serve", "--demo", "--bind", "127.0.0.1:0"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("DATABASE_URL", &url)
            .env("TWILIO_AUTH_TOKEN", TOKEN)
            .env("LEAFDESK_PUBLIC_URL", PUBLIC_URL)
            .env("LEAFDESK_LOG", "info")
            .env_remove("RUST_LOG")
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("binary starts"),
    );
    let stderr = BufReader::new(child.0.stderr.take().unwrap());
    let addr = stderr
        .lines()
        .map_while(Result::ok)
        .find_map(|l| l.split("addr=").nth(1).map(|a| a.split_whitespace().next().unwrap().to_owned()))
        .expect("server logs its address");
    let client = reqwest::Client::new();
    let mut answered = 0;
    for i in 0..40 {
        if text_binary(&client, &addr, &format!("+1555555{:04}", 3000 + i % 7), "hi").await {
            answered += 1;
        }
    }
    assert_eq!(answered, 40);
    child.0.kill().unwrap(); // SIGKILL: no shutdown, no checkpoint
    child.0.wait().unwrap();
    let store = leafdesk::store::Store::connect(&url, leafdesk::settings::SqliteSync::Normal).await.unwrap();
    // The demo's own conversations (seeded at start, provider ids `demo-…`) are not counted.
    let (inbound,): (i64,) =
        sqlx::query_as("select count(*) from message where direction = 'inbound' and provider_id not like 'demo-%'")
            .fetch_one(store.pool())
            .await
            .unwrap();
    let (replies,): (i64,) = sqlx::query_as(
        "select count(*) from message o join message i on o.reply_to = i.message_id
         where o.direction = 'outbound' and i.provider_id not like 'demo-%'",
    )
    .fetch_one(store.pool())
    .await
    .unwrap();
    assert_eq!((inbound, replies), (40, 40));
}

/// Runs `leafdesk <args>` with only these settings; its exit status, stderr, and how long it took.
fn run_binary(args: &[&str], env: &[(&str, &str)]) -> (bool, String, std::time::Duration) {
    let started = std::time::Instant::now();
    let mut command = Command::new(env!("CARGO_BIN_EXE_leafdesk"));
    command.args(args).current_dir(env!("CARGO_MANIFEST_DIR")).env_clear();
    command.env("PATH", std::env::var("PATH").unwrap_or_default()).env("LEAFDESK_UPLOAD_KEY", UPLOAD_KEY);
    for (k, v) in env {
        command.env(k, v);
    }
    let out = command.output().expect("binary runs");
    (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned(), started.elapsed())
}

/// Arguments, settings, and what the error must say.
type OperatorCase<'a> = (&'a [&'a str], Vec<(&'a str, &'a str)>, &'a [&'a str]);

#[tokio::test]
async fn operator_errors_name_the_value_and_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = format!("sqlite://{}?mode=rwc", dir.path().join("ok.db").display());
    let cases: [OperatorCase<'_>; 4] = [
        (
            &["migrate"],
            vec![("DATABASE_URL", "postgres://leafdesk:hunter2@127.0.0.1:1/nowhere")],
            &["postgres://leafdesk@127.0.0.1:1/nowhere", "Check that PostgreSQL runs"],
        ),
        (
            &["migrate"],
            vec![("DATABASE_URL", "sqlite:///proc/no/such/dir/x.db?mode=rwc")],
            &["/proc/no/such/dir/x.db", "folder exists and is writable"],
        ),
        (
            &["serve"],
            vec![("DATABASE_URL", &sqlite), ("TWILIO_AUTH_TOKEN", "t"), ("LEAFDESK_FLOWS_DIR", "/nonexistent")],
            &["LEAFDESK_FLOWS_DIR names /nonexistent", "intents.yaml"],
        ),
        (&["serve"], vec![("LEAFDESK_BIND", "nowhere.invalid:8080")], &["LEAFDESK_BIND", "host:port"]),
    ];
    for (args, env, says) in cases {
        let (ok, stderr, took) = run_binary(args, &env);
        assert!(!ok, "{args:?} {env:?} should fail");
        for part in says {
            assert!(stderr.contains(part), "{args:?} {env:?}: {part:?} not in\n{stderr}");
        }
        assert!(!stderr.contains("hunter2"), "the password is not shown: {stderr}");
        assert!(took < std::time::Duration::from_secs(8), "{args:?} took {took:?}");
    }
    // A name is fine as a bind address.
    let (ok, stderr, _) = run_binary(&["migrate"], &[("DATABASE_URL", &sqlite), ("LEAFDESK_BIND", "localhost:8080")]);
    assert!(ok, "{stderr}");
}

#[tokio::test]
async fn commands_do_not_chatter_about_existing_migrations() {
    let dir = tempfile::tempdir().unwrap();
    let url = test_database_url(dir.path()).await;
    for _ in 0..2 {
        let (ok, stderr, _) = run_binary(&["migrate"], &[("DATABASE_URL", &url)]);
        assert!(ok, "{stderr}");
        assert!(!stderr.contains("_sqlx_migrations"), "{stderr}");
    }
}

#[cfg(unix)]
#[tokio::test]
async fn the_data_folder_and_database_files_are_owner_only() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data_dir = data.display().to_string();
    let (ok, stderr, _) = run_binary(&["integration", "add", "--name", "shop"], &[("LEAFDESK_DATA_DIR", &data_dir)]);
    assert!(ok, "{stderr}");
    let mode = |name: &str| std::fs::metadata(data.join(name)).unwrap().permissions().mode() & 0o777;
    assert_eq!(std::fs::metadata(&data).unwrap().permissions().mode() & 0o777, 0o700, "the folder");
    assert_eq!(mode("leafdesk.db"), 0o600);
    for name in ["leafdesk.db-wal", "leafdesk.db-shm"] {
        if data.join(name).exists() {
            assert_eq!(mode(name), 0o600, "{name}");
        }
    }
    // And the integration's secret is not in the database in the clear.
    let printed = Command::new(env!("CARGO_BIN_EXE_leafdesk"))
        .args(["integration", "add", "--name", "pos"])
        .env("LEAFDESK_DATA_DIR", &data_dir)
        .env("LEAFDESK_UPLOAD_KEY", UPLOAD_KEY)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&printed.stdout);
    let secret = stdout.lines().find(|l| l.starts_with("ldk_")).expect("the secret is printed once");
    let db = std::fs::read(data.join("leafdesk.db")).unwrap();
    let wal = std::fs::read(data.join("leafdesk.db-wal")).unwrap_or_default();
    let hex_secret = secret.as_bytes();
    assert!(!db.windows(hex_secret.len()).any(|w| w == hex_secret), "the secret is stored sealed");
    assert!(!wal.windows(hex_secret.len()).any(|w| w == hex_secret), "nor in the write-ahead log");
}

#[tokio::test]
async fn a_malformed_messaging_service_sid_is_refused_by_the_command_and_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let url = test_database_url(dir.path()).await;
    let env = [("DATABASE_URL", url.as_str())];
    let add = ["location", "add", "--name", "Pool", "--state", "CA", "--timezone", "America/Los_Angeles"];
    let (ok, stderr, _) = run_binary(&[&add[..], &["--messaging-service-sid", "MGnot-a-real-sid"]].concat(), &env);
    assert!(!ok);
    assert!(stderr.contains("MGnot-a-real-sid") && stderr.contains("MG, then 32"), "{stderr}");
    // One stored before the check existed: the server will not start on it, and says how to fix it.
    let store = leafdesk::store::Store::connect(&url, leafdesk::settings::SqliteSync::Normal).await.unwrap();
    let bad = leafdesk::store::locations::NewLocation {
        name: "Pool",
        state: "CA",
        timezone: "America/Los_Angeles",
        phone_number: None,
        messaging_service_sid: Some("MGnot-a-real-sid"),
    };
    let location = leafdesk::store::locations::insert(&store, &bad).await.unwrap();
    let (ok, stderr, _) = run_binary(&["serve"], &[("DATABASE_URL", &url), ("TWILIO_AUTH_TOKEN", "t")]);
    assert!(!ok);
    assert!(stderr.contains("leafdesk location update --id"), "{stderr}");
    let fix = ["location", "update", "--id", &location.location_id, "--messaging-service-sid"];
    let (ok, stderr, _) = run_binary(&[&fix[..], &["MG0123456789abcdef0123456789abcdef"]].concat(), &env);
    assert!(ok, "{stderr}");
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let settings = test_settings(&url, &root.join("flows"), &root.join("templates"), 0);
    assert!(leafdesk::startup::build(settings).await.is_ok(), "starts once fixed");
}
