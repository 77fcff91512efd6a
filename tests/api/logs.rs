//! Nothing personal reaches the logs: the real binary runs a whole day's traffic — texts, a
//! hand-off, web chat, platform events, customer syncs with errors, a medical upload, sends the
//! provider refuses and fails — and everything it logged at info is scanned for phone numbers,
//! message bodies, tokens and secrets.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::*;

/// Kills the server if the test fails before stopping it.
struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

const BODY: &str = "my secret dosage question about edibles";
const CHAT_BODY: &str = "chat words nobody else should read";
const CARD: &str = "MMJ-4471-2209";
const BIRTHDAY: &str = "1985-07-19";
/// The server's clock starts here (the machine's may be anywhere: tests run on any day).
const NOW: &str = "2026-11-30T20:00:00Z";

/// Unix seconds of [`NOW`]: what signed requests carry (the server's clock has moved on by a
/// few seconds, well inside the windows).
fn now_secs() -> i64 {
    NOW.parse::<jiff::Timestamp>().unwrap().as_second()
}

fn leafdesk(url: &str, twilio: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_leafdesk"));
    command
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", url)
        .env("TWILIO_AUTH_TOKEN", TOKEN)
        .env("TWILIO_ACCOUNT_SID", ACCOUNT_SID)
        .env("TWILIO_API_BASE", twilio)
        .env("LEAFDESK_PUBLIC_URL", PUBLIC_URL)
        .env("LEAFDESK_UPLOAD_KEY", UPLOAD_KEY)
        .env("LEAFDESK_OUTBOX_RETRY_BASE_MS", "20")
        .env("LEAFDESK_NOW", NOW)
        .env("LEAFDESK_LOG", "info");
    command
}

async fn signed(client: &reqwest::Client, base: &str, method: &str, path: &str, secret: &str, body: &str) -> u16 {
    let ts = now_secs();
    let sig = leafdesk::signed::sign_request(secret, ts, method, path, body.as_bytes());
    let req = if method == "PUT" { client.put(format!("{base}{path}")) } else { client.post(format!("{base}{path}")) };
    let resp = req
        .header("content-type", "application/json")
        .header("x-leafdesk-timestamp", ts.to_string())
        .header("x-leafdesk-signature", sig)
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    resp.status().as_u16()
}

async fn text(client: &reqwest::Client, base: &str, from: &str, body: &str) -> String {
    let params = sms_params(&sid(), from, body);
    let resp = client
        .post(format!("{base}/webhooks/twilio/sms"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-twilio-signature", sign("/webhooks/twilio/sms", &params))
        .body(encode(&params))
        .send()
        .await
        .unwrap();
    resp.text().await.unwrap()
}

#[tokio::test]
async fn a_days_traffic_leaves_no_phone_body_token_or_secret_in_the_logs() {
    // The provider refuses the first send quoting the number, fails the second, takes the rest.
    let (fake, twilio) = fake_twilio(vec![(400, 21211), (500, 20500)]).await;
    let dir = tempfile::tempdir().unwrap();
    let url = test_database_url(dir.path()).await;
    let added = leafdesk(&url, &twilio).args(["integration", "add", "--name", "shop"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&added.stdout);
    let secret = stdout.lines().find(|l| l.starts_with("ldk_")).expect("a secret").to_owned();
    let mut server = Server(
        leafdesk(&url, &twilio)
            .args(["serve", "--demo", "--bind", "127.0.0.1:0"])
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = server.0.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut logs = Vec::new();
    let addr = loop {
        let line = rx.recv_timeout(Duration::from_secs(30)).expect("the server says where it listens");
        logs.push(line.clone());
        if let Some(rest) = line.split("addr=").nth(1) {
            break rest.split_whitespace().next().unwrap().to_owned();
        }
    };
    let base = format!("http://{addr}");
    let client = reqwest::Client::new();

    // Texts: a question, a hand-off, a bad signature, a message to a number we do not serve.
    assert!(text(&client, &base, "+15555550100", BODY).await.contains("<Message>"));
    text(&client, &base, "+15555550104", "agent please, my card 4111 1111 1111 1111").await;
    let forged = client
        .post(format!("{base}/webhooks/twilio/sms"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-twilio-signature", "forged")
        .body(encode(&sms_params(&sid(), "+15555550101", BODY)))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    // A medical upload through its link (the token is in the path).
    let reply = text(&client, &base, "+15555550105", "my medical recommendation expired").await;
    let start = reply.find("/u/").expect("an upload link");
    let path = reply[start..].split(|c: char| c.is_whitespace() || c == '<').next().unwrap().to_owned();
    let token = path.trim_start_matches("/u/").to_owned();
    let part = reqwest::multipart::Part::bytes(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR scan".to_vec())
        .file_name("card.png")
        .mime_str("image/png")
        .unwrap();
    let uploaded =
        client.post(format!("{base}{path}")).multipart(reqwest::multipart::Form::new().part("document", part));
    assert_eq!(uploaded.send().await.unwrap().status(), 200);
    assert_eq!(client.get(format!("{base}{path}")).send().await.unwrap().status(), 410, "used");
    // Web chat, with a good link and a forged one.
    let now = now_secs();
    let chat_sig = leafdesk::signed::sign_link(&secret, "cus_sam", now);
    let message =
        json!({ "customer": "cus_sam", "ts": now.to_string(), "sig": chat_sig, "id": "m1", "text": CHAT_BODY });
    let chat = client.post(format!("{base}/api/v1/chat/messages")).json(&message).send().await.unwrap();
    assert_eq!(chat.status(), 200);
    let forged_chat =
        json!({ "customer": "cus_sam", "ts": now.to_string(), "sig": "v1=00", "id": "m2", "text": CHAT_BODY });
    assert_eq!(
        client.post(format!("{base}/api/v1/chat/messages")).json(&forged_chat).send().await.unwrap().status(),
        401
    );
    // Platform events, and customer syncs the platform gets wrong.
    let declined = json!({ "id": "evt_1", "type": "payment.declined", "customer_id": "cus_sam", "data": { "order_number": "LD-1004" } });
    assert_eq!(signed(&client, &base, "POST", "/api/v1/events", &secret, &declined.to_string()).await, 202);
    let updated = json!({ "id": "evt_2", "type": "order.updated", "customer_id": "cus_alex", "data": { "order_number": "LD-1001" } });
    assert_eq!(signed(&client, &base, "POST", "/api/v1/events", &secret, &updated.to_string()).await, 202);
    let location: String = {
        let out = leafdesk(&url, &twilio).args(["location", "list"]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).split('\t').next().unwrap().to_owned()
    };
    for bad in [
        json!({ "phone": "+14155550177", "location_id": location, "customer_type": "medical", "date_of_birth": "1985-13-45" }),
        json!({ "phone": "+14155550177", "location_id": location, "customer_type": "medical", "recommendation_number": CARD, "date_of_birth": BIRTHDAY, "shoe_size": 9 }),
        json!({ "phone": "415-555-0177 ext 9", "location_id": location, "customer_type": "adult_use" }),
        json!("+14155550177"),
    ] {
        let status = signed(&client, &base, "PUT", "/api/v1/customers/cus_ana", &secret, &bad.to_string()).await;
        assert!((400..500).contains(&status), "{status}: {bad}");
    }
    // The outbox works through the refusal and the failure.
    let deadline = Instant::now() + Duration::from_secs(20);
    while fake.requests.lock().unwrap().len() < 3 {
        assert!(
            Instant::now() < deadline,
            "the outbox never tried: {:?} {:?}",
            fake.violations.lock().unwrap(),
            rx.try_iter().collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let _ = Command::new("kill").args(["-TERM", &server.0.id().to_string()]).status();
    assert!(server.0.wait().unwrap().success());
    logs.extend(rx.try_iter());
    let all = logs.join("\n");
    assert!(all.contains("webhook rejected") && all.contains("leafdesk stopped"), "{all}");
    for secret_thing in [BODY, CHAT_BODY, CARD, BIRTHDAY, "4111", token.as_str(), secret.as_str(), TOKEN, UPLOAD_KEY] {
        assert!(!all.contains(secret_thing), "{secret_thing:?} leaked into the logs:\n{all}");
    }
    for phone in ["+15555550100", "+15555550101", "+15555550103", "+15555550104", "+15555550105", "+14155550177"] {
        assert!(!all.contains(&phone[2..]), "{phone} leaked into the logs:\n{all}");
    }
    // Any other run of digits long enough to be a phone, but our own store's number and the
    // example in an error message.
    let long_digits = regex::Regex::new(r"\d{7,}").unwrap();
    let ids = regex::Regex::new(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}").unwrap();
    let phones: Vec<&str> = all
        .lines()
        .filter(|line| {
            let line = ids.replace_all(line, "<id>");
            long_digits.find_iter(&line).any(|m| !["15005550006", "14155550123"].contains(&m.as_str()))
        })
        .filter(|line| !line.contains("addr="))
        .collect();
    assert!(phones.is_empty(), "digits that may be phone numbers in the logs:\n{}", phones.join("\n"));
}
