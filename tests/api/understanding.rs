//! Understanding as flow authors see it: `leafdesk intents eval` holds the model to its floors,
//! `intents classify` says what it makes of a message and why, the review inbox keeps what the
//! bot could not read (masked) and turns one into an example with one command, and `flows
//! check` reports examples written twice or missing with their place.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::helpers::*;
use crate::ops::copy_dir;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The shipped flows and templates, copied so a test may edit them.
fn copies() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&root().join("flows"), &dir.path().join("flows"));
    copy_dir(&root().join("templates"), &dir.path().join("templates"));
    let (flows, templates) = (dir.path().join("flows"), dir.path().join("templates"));
    (dir, flows, templates)
}

fn leafdesk(flows: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_leafdesk"))
        .args(args)
        .env("LEAFDESK_FLOWS_DIR", flows)
        .env("LEAFDESK_TEMPLATES_DIR", root().join("templates"))
        .output()
        .unwrap()
}

#[test]
fn the_model_meets_its_floors_and_a_higher_floor_fails_the_command() {
    let out = leafdesk(&root().join("flows"), &["intents", "eval", "--format", "json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let held_out = report["holdout"]["macro_f1"].as_f64().unwrap();
    assert!(held_out >= 0.9, "held-out macro F1 {held_out}");
    assert!(
        report["holdout"]["confusion"]["none"]["none"].as_u64().unwrap() >= 10,
        "unrelated messages stay unmatched"
    );
    assert!(report["cross_validation"]["per_intent"]["payment_declined"]["support"].as_u64().unwrap() >= 50);

    let (_dir, flows, _) = copies();
    let intents = std::fs::read_to_string(flows.join("intents.yaml")).unwrap();
    let strict = intents.replace("holdout_macro_f1: 0.9,", "holdout_macro_f1: 0.99,");
    assert_ne!(strict, intents, "the floor is where this test expects it");
    std::fs::write(flows.join("intents.yaml"), strict).unwrap();
    let out = leafdesk(&flows, &["intents", "eval"]);
    assert!(!out.status.success(), "under the floor is a failure");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("held-out macro F1") && stderr.contains("under the floor 0.990"), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("confusion (rows expected, columns decided)"), "{stdout}");
}

#[test]
fn classify_prints_the_likeliest_intents_the_entities_the_language_and_who_decided() {
    let run = |text: &str| -> serde_json::Value {
        let out = leafdesk(&root().join("flows"), &["intents", "classify", text]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let spanish = run("mi tarjeta no funciona");
    assert_eq!((spanish["intent"].as_str(), spanish["decided_by"].as_str()), (Some("payment_declined"), Some("model")));
    assert_eq!(spanish["language"]["locale"], "es");
    assert_eq!(spanish["top"].as_array().unwrap().len(), 3);
    assert!(spanish["top"][0]["confidence"].as_f64().unwrap() > 0.5);

    let pickup = run("move my pickup to tomorrow after 5, order LD-1001");
    assert_eq!((pickup["intent"].as_str(), pickup["decided_by"].as_str()), (Some("change_pickup"), Some("rule")));
    assert_eq!(pickup["entities"]["pickup_request"], "tomorrow 17:00");
    assert_eq!(pickup["entities"]["order_number"], "LD-1001");

    let weight = run("can i get an eighth and 2 ounces");
    let amounts: Vec<f64> =
        weight["entities"]["quantities"].as_array().unwrap().iter().map(|q| q["amount"].as_f64().unwrap()).collect();
    assert_eq!(amounts.len(), 2, "{weight}");
    assert!((amounts[0] - 3.5).abs() < 1e-9 && (amounts[1] - 56.7).abs() < 0.01, "{amounts:?}");

    let nothing = run("asdfgh qwerty");
    assert_eq!(
        (nothing["intent"].clone(), nothing["decided_by"].as_str()),
        (serde_json::Value::Null, Some("not_understood"))
    );
}

#[tokio::test]
async fn what_the_bot_could_not_read_is_reviewed_by_frequency_and_added_as_an_example() {
    let (_dir, flows, templates) = copies();
    let app = spawn_with(Options { flows_dir: flows.clone(), templates_dir: templates, ..Options::default() }).await;
    let words = "can you check something for me, call 916 555 0123";
    for phone in ["+15555550170", "+15555550171"] {
        let reply = app.sms(&sid(), phone, words).await;
        assert!(reply.text().contains("not sure what you mean"), "{}", reply.text());
    }
    app.sms(&sid(), "+15555550172", "something wrong with the price and payment").await;
    assert_eq!(app.count("select count(*) from misread").await, 3);
    assert_eq!(
        app.count("select count(*) from misread where body like '%0123%' and body not like '%555 0123%'").await,
        2
    );

    let list = app.command().args(["intents", "review"]).env("LEAFDESK_FLOWS_DIR", &flows).output().unwrap();
    let listing = String::from_utf8(list.stdout).unwrap();
    let lines: Vec<&str> = listing.lines().collect();
    assert!(lines[1].contains("    2  en") && lines[1].contains("not_understood"), "most frequent first: {listing}");
    assert!(lines[2].contains("unsure") && lines[2].contains("payment_declined"), "{listing}");
    assert!(!listing.contains("555 0123"), "the number is masked: {listing}");
    let id = lines[1].split_whitespace().next().unwrap();

    let add = app
        .command()
        .args(["intents", "review", id, "--add-to", "human"])
        .env("LEAFDESK_FLOWS_DIR", &flows)
        .output()
        .unwrap();
    assert!(add.status.success(), "{}", String::from_utf8_lossy(&add.stderr));
    let examples = std::fs::read_to_string(flows.join("intents.en.yaml")).unwrap();
    let human = examples.split("\n  restart:").next().unwrap();
    assert!(human.contains("can you check something for me, call 91••••••0123"), "added, masked, under human: {human}");
    assert_eq!(app.count("select count(*) from misread where reviewed_at_ms is null").await, 1, "the group is closed");
    let again = app
        .command()
        .args(["intents", "review", id, "--add-to", "human"])
        .env("LEAFDESK_FLOWS_DIR", &flows)
        .output()
        .unwrap();
    assert!(!again.status.success(), "a reviewed message cannot be added twice");

    // The running server learns it at its next reload.
    assert!(matches!(app.state.library.reload_if_changed(), Some(Ok(()))));
    let reply = app.sms(&sid(), "+15555550173", "can you check something for me").await;
    assert!(reply.text().contains("connecting you"), "{}", reply.text());
}

#[test]
fn flows_check_names_examples_written_twice_or_missing_and_warns_about_thin_or_shared_ones() {
    let check = |flows: &Path| leafdesk::flows::load_assets(flows, &root().join("templates"), leafdesk::actions::NAMES);

    let (_dir, flows, _) = copies();
    let file = flows.join("intents.en.yaml");
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, text.replacen("  restart:\n", "    - \"LEMME talk to your supervisor!!\"\n  restart:\n", 1))
        .unwrap();
    let line = std::fs::read_to_string(&file).unwrap().lines().position(|l| l.contains("LEMME")).unwrap() + 1;
    let diags: Vec<String> = check(&flows).expect_err("a duplicate").iter().map(ToString::to_string).collect();
    let want = format!("intents.en.yaml:{line}:7: example \"LEMME talk to your supervisor!!\" is written twice");
    assert!(diags.iter().any(|d| d.contains(&want)), "{diags:#?}");

    let (_dir, flows, _) = copies();
    let intents = std::fs::read_to_string(flows.join("intents.yaml")).unwrap();
    std::fs::write(
        flows.join("intents.yaml"),
        intents.replace("  - id: product_info\n", "  - id: product_info\n  - id: teleport\n"),
    )
    .unwrap();
    let line = std::fs::read_to_string(flows.join("intents.yaml"))
        .unwrap()
        .lines()
        .position(|l| l.contains("teleport"))
        .unwrap()
        + 1;
    let diags: Vec<String> = check(&flows).expect_err("no examples").iter().map(ToString::to_string).collect();
    assert!(
        diags.iter().any(|d| d.contains(&format!("intents.yaml:{line}:9: intent \"teleport\" has no examples"))),
        "{diags:#?}"
    );

    let (_dir, flows, _) = copies();
    let intents = std::fs::read_to_string(flows.join("intents.yaml")).unwrap();
    std::fs::write(
        flows.join("intents.yaml"),
        intents.replace("min_examples: { en: 30, es: 20 }", "min_examples: { en: 30, es: 40 }"),
    )
    .unwrap();
    let file = flows.join("intents.es.yaml");
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(
        &file,
        text.replacen("  restart:\n", "  restart:\n    - \"quiero hablar con alguien de verdad\"\n", 1),
    )
    .unwrap();
    let set = check(&flows).expect("warnings do not stop the set");
    let warnings: Vec<String> = set.flows.warnings.iter().map(ToString::to_string).collect();
    assert!(
        warnings.iter().any(|w| w.contains("intent \"human\" has") && w.contains("es examples; at least 40")),
        "{warnings:#?}"
    );
    assert!(warnings.iter().any(|w| w.contains("is also an example of \"human\"")), "{warnings:#?}");
}
