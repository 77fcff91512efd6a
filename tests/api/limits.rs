//! `leafdesk limits check`: the calculator as compliance staff ask it, JSON out.

use std::process::Command;

fn limits_check(args: &[&str]) -> (i32, serde_json::Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_leafdesk")).args(["limits", "check"]).args(args).output().unwrap();
    let json = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    (out.status.code().unwrap_or(-1), json, String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn limits_check_prints_the_violation_the_explanation_and_the_source() {
    let (code, v, _) = limits_check(&[
        "--state",
        "CA",
        "--customer",
        "adult-use",
        "--item",
        "flower=28g",
        "--item",
        "concentrate=10g",
    ]);
    assert_eq!(code, 0);
    assert_eq!(v["allowed"], false);
    assert_eq!(
        v["violations"],
        serde_json::json!([{ "category": "concentrate", "limit": 8.0, "amount": 10.0, "excess": 2.0, "unit": "g" }])
    );
    assert_eq!(v["explanation"], "In California you can buy up to 8 g of concentrate a day. Your cart has 10 g.");
    assert!(v["rule_source"].as_str().unwrap().contains("4 CCR §15409"));
}

#[test]
fn limits_check_handles_visitors_ounces_and_medical_customers() {
    let (_, v, _) =
        limits_check(&["--state", "IL", "--non-resident", "--item", "flower=0.5oz", "--item", "edible=250mg"]);
    assert_eq!(v["allowed"], true, "{v}");
    let (_, v, _) = limits_check(&["--state", "OR", "--customer", "medical", "--item", "flower=8oz"]);
    assert_eq!(v["allowed"], true, "{v}");
    let (_, v, _) = limits_check(&["--state", "MI", "--customer", "medical", "--item", "flower=1g"]);
    assert_eq!((v["allowed"].clone(), v["checked"].clone()), (false.into(), false.into()), "{v}");
}

#[test]
fn limits_check_rejects_bad_items_with_how_to_write_them() {
    for (item, hint) in
        [("flower", "category=amount"), ("flower=1lb", "needs a unit"), ("seeds=3g", "unknown category")]
    {
        let (code, _, err) = limits_check(&["--state", "CA", "--item", item]);
        assert_eq!(code, 2, "{item}");
        assert!(err.contains(hint), "{item}: {err}");
    }
    let (code, _, err) = limits_check(&["--state", "CA", "--customer", "tourist", "--item", "flower=1g"]);
    assert_eq!(code, 2);
    assert!(err.contains("adult-use or medical"), "{err}");
}
