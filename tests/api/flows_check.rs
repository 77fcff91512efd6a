//! `flows check`: every kind of error on a purpose-broken fixture, with file:line:col.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A flows dir holding the real intents and tags and one fixture file or, for a fixture folder,
/// exactly that folder's files; templates are the real ones plus a Spanish-only template.
fn fixture(name: &str) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let flows = dir.path().join("flows");
    let broken = root().join("tests/fixtures/broken_flows");
    if broken.join(name).is_dir() {
        crate::ops::copy_dir(&broken.join(name), &flows);
    } else {
        std::fs::create_dir_all(&flows).unwrap();
        for shipped in ["intents.yaml", "tags.yaml", "queues.yaml"] {
            std::fs::copy(root().join("flows").join(shipped), flows.join(shipped)).unwrap();
        }
        std::fs::copy(broken.join(format!("{name}.yaml")), flows.join(format!("{name}.yaml"))).unwrap();
    }
    let templates = dir.path().join("templates");
    crate::ops::copy_dir(&root().join("templates"), &templates);
    let spanish = templates.join("messages/es/only_spanish");
    std::fs::create_dir_all(&spanish).unwrap();
    std::fs::write(spanish.join("hello.hbs"), "Hola").unwrap();
    (dir, flows, templates)
}

/// Loads fixture `name` and asserts one diagnostic reads `{file}:{place}: ` and contains `reason`.
fn assert_reported(name: &str, file: &str, place: &str, reason: &str) {
    let (_dir, flows, templates) = fixture(name);
    let diags = leafdesk::flows::load_assets(&flows, &templates, leafdesk::actions::NAMES).expect_err(name);
    let lines: Vec<String> = diags.iter().map(ToString::to_string).collect();
    let want = format!("{}{file}:{place}: ", std::path::MAIN_SEPARATOR);
    assert!(
        lines.iter().any(|l| l.contains(&want) && l.contains(reason)),
        "{name}: expected {want}{reason}, got {lines:#?}"
    );
}

#[test]
fn each_broken_fixture_is_reported_with_its_place_and_reason() {
    let cases = [
        ("not_utf8", "1:1", "cannot read: stream did not contain valid UTF-8"),
        ("yaml_error", "5:11", "invalid YAML: expected string scalar"),
        ("unknown_field", "4:5", "sya"),
        ("unknown_step", "5:11", "unknown step \"second\""),
        ("unknown_template", "4:10", "unknown template \"menu/no_such_template\""),
        ("unknown_action", "4:13", "unknown action \"launch_rocket\""),
        ("unknown_intent", "3:13", "unknown intent \"teleport\""),
        ("unreachable_step", "6:9", "step \"orphan\" is unreachable"),
        ("invalid_regex", "6:18", "invalid regex"),
        ("missing_en_template", "4:10", "template \"only_spanish/hello\" has no en version"),
        ("loop_without_wait", "6:9", "loop with no wait"),
        ("unknown_tag", "2:23", "unknown tag \"payment isue\" (tags are defined in flows/tags.yaml)"),
        ("unknown_tag", "4:9", "unknown tag \"urgent\" (tags are defined in flows/tags.yaml)"),
        ("unknown_event", "3:30", "unknown event \"pizza.delivered\" (known: payment.declined,"),
        ("no_steps", "1:5", "flow \"no_steps\" has no steps"),
        ("duplicate_step_id", "9:9", "step id \"first\" is used twice in this flow"),
        ("next_and_flow", "6:11", "say either next (a step) or flow (another flow), not both"),
        ("unknown_flow", "4:11", "unknown flow \"order_statuss\""),
        ("unknown_flow", "8:11", "unknown flow \"human_handof\""),
        ("two_kinds", "3:9", "step \"first\" is both action and end; a step does one thing"),
        ("misplaced_field", "3:9", "retries does not belong on a say step"),
        ("missing_queue", "3:9", "report needs a queue"),
        (
            "unknown_outcome",
            "5:10",
            "unknown outcome \"finished\" (use resolved, abandoned, handed_off or misunderstood)",
        ),
        ("dead_end", "6:9", "step \"last\" is the last step and says nowhere to go: add next, flow or end"),
        ("ask_without_expect", "3:9", "an ask step needs at least one expect branch"),
        ("expect_two_matchers", "3:9", "each expect branch needs exactly one of options, intent, pattern, like or any"),
        ("expect_without_target", "3:9", "each expect branch needs next (a step) or flow"),
        ("condition_two_tests", "6:15", "a condition needs exactly one of equals, is_set or at_least"),
        ("branch_without_else", "3:9", "a branch step needs else: the step to take when no condition holds"),
        ("unknown_queue", "3:9", "unknown queue \"genral\" (queues are defined in flows/queues.yaml)"),
    ];
    for (name, place, reason) in cases {
        assert_reported(name, &format!("{name}.yaml"), place, reason);
    }
    // Each fixture reports only what it is about: no knock-on problems (a broken step's
    // stand-in target read as a loop or an unreachable step).
    for (name, _, _) in cases {
        let (_dir, flows, templates) = fixture(name);
        let diags = leafdesk::flows::load_assets(&flows, &templates, leafdesk::actions::NAMES).unwrap_err();
        let want = cases.iter().filter(|c| c.0 == name).count();
        let lines: Vec<String> = diags.iter().map(ToString::to_string).collect();
        assert_eq!(lines.len(), want, "{name}: {lines:#?}");
    }
}

/// Problems between files: each fixture is a whole flows folder.
#[test]
fn each_broken_fixture_folder_is_reported_with_its_file_place_and_reason() {
    let cases = [
        ("missing_intents", "intents.yaml", "1:1", "missing intents file"),
        ("duplicate_intent", "intents.yaml", "6:9", "intent \"greeting\" is defined twice"),
        ("duplicate_flow_id", "b_second.yaml", "1:1", "flow id \"greeting\" is used twice"),
        ("bad_queues", "queues.yaml", "4:18", "unknown role \"cashier\" (roles: csr, lead, verification"),
        ("bad_queues", "queues.yaml", "6:9", "queue \"general\" is defined twice"),
    ];
    for (name, file, place, reason) in cases {
        assert_reported(name, file, place, reason);
        let (_dir, flows, templates) = fixture(name);
        let diags = leafdesk::flows::load_assets(&flows, &templates, leafdesk::actions::NAMES).unwrap_err();
        let want = cases.iter().filter(|c| c.0 == name).count();
        assert_eq!(diags.len(), want, "{name}: only the problems it is about: {diags:#?}");
    }
}

#[test]
fn a_missing_required_template_is_reported_at_its_path() {
    let (_dir, flows, templates) = fixture("unknown_step");
    std::fs::remove_file(flows.join("unknown_step.yaml")).unwrap();
    std::fs::remove_file(templates.join("messages/en/common/technical_problem.hbs")).unwrap();
    let diags = leafdesk::flows::load_assets(&flows, &templates, leafdesk::actions::NAMES).unwrap_err();
    let lines: Vec<String> = diags.iter().map(ToString::to_string).collect();
    let want = "technical_problem.hbs:1:1: required template \"common/technical_problem\" is missing";
    assert!(lines.iter().any(|l| l.ends_with(want)), "{lines:#?}");
}

#[test]
fn a_flows_dir_that_is_not_a_folder_is_named_with_its_setting() {
    let (dir, _flows, templates) = fixture("unknown_step");
    let nowhere = dir.path().join("no_such_folder");
    let Err(diags) = leafdesk::flows::Library::open(&nowhere, &templates, leafdesk::actions::NAMES) else {
        panic!("a missing flows folder must not open");
    };
    let lines: Vec<String> = diags.iter().map(ToString::to_string).collect();
    let want =
        format!("{}:1:1: LEAFDESK_FLOWS_DIR names {}, which is not a folder", nowhere.display(), nowhere.display());
    assert!(lines.iter().any(|l| l.starts_with(&want)), "{lines:#?}");
}

#[test]
fn the_shipped_flows_pass_the_check() {
    let assets =
        leafdesk::flows::load_assets(&root().join("flows"), &root().join("templates"), leafdesk::actions::NAMES);
    assert!(assets.is_ok(), "{:#?}", assets.err());
}

#[test]
fn every_shipped_template_renders_for_every_locale_and_channel() {
    let assets =
        leafdesk::flows::load_assets(&root().join("flows"), &root().join("templates"), leafdesk::actions::NAMES)
            .unwrap();
    let change = serde_json::json!([{ "label": "Wax 5 g", "quantity": 1, "all": false }]);
    let data = serde_json::json!({
        "contact": { "first_name": "Alex", "locale": "en", "customer_type": "adult_use" },
        "location": { "name": "Demo Dispensary", "state": "CA", "timezone": "America/Los_Angeles" },
        "now_ms": 1_796_068_800_000_i64,
        // Every slot a shipped template reads, as the actions fill them.
        "slots": {
            "order_number": "LD-1001", "order_status": "ready_for_pickup", "order_total": "$40.00",
            "pickup_time": 1_796_086_800_000_i64, "store_opens": 9, "store_closes": 21,
            "ach_url": "https://pay.example.com/ach", "state_name": "California",
            "limit_category": "concentrate", "limit_period": "day", "limit_counts_earlier": false,
            "limit_limit": "8", "limit_amount": "10", "limit_unit": "g",
            "limit_changes": [change], "applied_change": change,
            "product_name": "Blue Dream 3.5 g", "product_query": "blue dream", "regular_price": "$40.00",
            "promo_price": "$32.00", "promo_description": "20% off", "promo_ends": "2026-12-05", "web_only": "yes",
            "location_name": "Demo Dispensary", "locked_reason": "recommendation_expired",
            "recommendation_expired_on": "2026-01-31", "upload_url": "https://leafdesk.example/u/t.s",
            "upload_expires": 1_796_155_200_000_i64, "released_orders": 1, "reason": "the photo is blurry",
        },
        "misses": 0,
        "channel": "sms",
        // What the web chat's consent answer reads.
        "masked_phone": "(•••) •••-0100",
        // A person's chat reply nobody saw, sent by text (chat_fallback); what calls add.
        "author": "Jo", "body": "Your refund is on its way.", "code": "042917",
        "link_texted": true, "callback": { "at_ms": 1_796_115_600_000_i64 },
    });
    // What understanding, general answers and store facts add (a second literal: one would
    // pass the json! macro's recursion limit).
    let more = serde_json::json!({
        "clarify_choices": [{ "n": 1, "intent": "payment_declined" }, { "n": 2, "intent": "order_status" }],
        "limit_who": "adult_use", "limit_source": "4 CCR §15409",
        "limit_list": [{ "category": "flower", "max": "28.5 g" }, { "category": "concentrate", "max": "8 g" }],
        "asked_said": "3 ounces", "asked_amount": "85 g", "asked_category": "flower",
        "asked_over": true, "asked_within": false, "asked_unchecked": false,
        "store_has_it": true, "online_has_it": true, "address": "1 Test St", "directions": "Corner of 2nd.",
        "parking": "Lot behind.", "payment_methods": "cash", "id_rules": "Any US ID.",
        "delivery_areas": "Sacramento", "delivery_note": "$50 minimum.",
    });
    let mut data = data;
    data["slots"].as_object_mut().unwrap().extend(more.as_object().unwrap().clone());
    for name in assets.templates.names() {
        let (locale, logical) = name.split_once('/').unwrap();
        let logical = logical.split('.').next().unwrap();
        for channel in
            [leafdesk::domain::Channel::Sms, leafdesk::domain::Channel::Voice, leafdesk::domain::Channel::Web]
        {
            let text =
                assets.templates.render(logical, locale, channel, &data).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(!text.trim().is_empty(), "{name} renders empty");
        }
    }
}

#[test]
fn the_cli_prints_problems_and_exits_non_zero() {
    let (_dir, flows, templates) = fixture("unknown_step");
    let out = Command::new(env!("CARGO_BIN_EXE_leafdesk"))
        .args(["flows", "check", flows.to_str().unwrap()])
        .env("LEAFDESK_TEMPLATES_DIR", &templates)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("unknown_step.yaml:5:11: unknown step \"second\""), "{stdout}");
    let ok =
        Command::new(env!("CARGO_BIN_EXE_leafdesk")).args(["flows", "check"]).current_dir(root()).output().unwrap();
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stdout));
}

/// The README's reference flow (every step kind) must stay a valid flow.
#[test]
fn the_readme_reference_flow_passes_the_check() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let section = readme.split("### A flow, with every step kind").nth(1).expect("README has the reference flow");
    let yaml = section.split("```yaml\n").nth(1).and_then(|s| s.split("```").next()).expect("a yaml block");
    let dir = tempfile::tempdir().unwrap();
    let flows = dir.path().join("flows");
    crate::ops::copy_dir(&root().join("flows"), &flows);
    std::fs::write(flows.join("order_lookup.yaml"), yaml).unwrap();
    let loaded = leafdesk::flows::load_assets(&flows, &root().join("templates"), leafdesk::actions::NAMES);
    assert!(loaded.is_ok(), "{:#?}", loaded.err());
}

#[test]
fn flows_check_warns_about_sms_text_carriers_filter_without_failing() {
    let (_dir, flows, templates) = fixture("unknown_step");
    std::fs::remove_file(flows.join("unknown_step.yaml")).unwrap();
    crate::ops::copy_dir(&root().join("flows"), &flows);
    std::fs::write(templates.join("messages/en/menu/promo.hbs"), "Fresh edibles today! See bit.ly/deal").unwrap();
    std::fs::write(templates.join("messages/en/menu/promo.voice.hbs"), "Fresh edibles today!").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_leafdesk"))
        .args(["flows", "check", flows.to_str().unwrap()])
        .env("LEAFDESK_TEMPLATES_DIR", &templates)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "warnings do not fail the check: {stdout}");
    assert!(stdout.contains("promo.hbs:1:7: warning: \"edibles\""), "{stdout}");
    assert!(stdout.contains("bit.ly"), "{stdout}");
    assert!(!stdout.contains("promo.voice.hbs"), "voice templates are not SMS: {stdout}");
    let shipped = leafdesk::compliance::content::check_dir(&root().join("templates/messages"));
    assert!(shipped.is_empty(), "shipped templates are clean: {shipped:?}");
}

#[test]
fn spanish_messages_keep_one_register_usted_never_tu() {
    // The familiar (tú) forms that slipped in before ("Abre nuestra app" beside "Pague"): its
    // pronouns and second-person verbs anywhere, its imperatives at the start of a sentence
    // (elsewhere "abre" is usted's "it opens").
    let anywhere = ["tu", "tus", "te", "contigo", "puedes", "tienes", "quieres", "necesitas", "debes"];
    let opening = ["abre", "paga", "responde", "escribe", "envía", "elige", "llama", "sube", "toca", "mira"];
    let mut found = Vec::new();
    let mut stack = vec![root().join("templates/messages/es")];
    while let Some(dir) = stack.pop() {
        for path in std::fs::read_dir(&dir).unwrap().flatten().map(|e| e.path()) {
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "hbs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap().to_lowercase();
            let words: Vec<&str> = text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).collect();
            found.extend(anywhere.iter().filter(|w| words.contains(w)).map(|w| format!("{}: {w}", path.display())));
            for sentence in text.split(['.', '!', '?', '\n', '¡', '¿', ':']) {
                let first = sentence.split(|c: char| !c.is_alphanumeric()).find(|w| !w.is_empty()).unwrap_or("");
                if opening.contains(&first) {
                    found.push(format!("{}: {first}…", path.display()));
                }
            }
        }
    }
    assert!(found.is_empty(), "familiar forms in Spanish messages: {found:#?}");
}
