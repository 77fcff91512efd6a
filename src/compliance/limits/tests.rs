//! The calculator against the examples its sources give (cited per test), plus the cases it
//! must refuse to guess.

use super::*;

fn item(category: &str, amount: &str) -> Line {
    let q = Quantity::parse(amount).unwrap();
    let (weight_g, thc_mg) = match q.unit {
        Unit::Mg => (None, Some(q.base())),
        _ => (Some(q.base()), None),
    };
    Line { label: format!("{category} {amount}"), category: category.into(), quantity: 1, weight_g, thc_mg }
}

fn units(label: &str, category: &str, quantity: u32, weight_g: f64) -> Line {
    Line { label: label.into(), category: category.into(), quantity, weight_g: Some(weight_g), thc_mg: None }
}

fn verdict(state: &str, cart: &[Line]) -> Verdict {
    check(&Request { state, customer: CustomerType::AdultUse, non_resident: false, cart, earlier_today: &[] })
}

#[test]
fn california_caps_flower_and_concentrate_separately() {
    // 4 CCR §15409: 28.5 g of flower AND 8 g of concentrate a day, both at once.
    let v = verdict("CA", &[item("flower", "28.5g"), item("concentrate", "8g")]);
    assert!(v.allowed && v.checked, "{v:?}");
    // The issue's own wording of the rule.
    let v = verdict("CA", &[item("concentrate", "10g")]);
    assert!(!v.allowed && v.checked);
    assert_eq!(v.explanation, "In California you can buy up to 8 g of concentrate a day. Your cart has 10 g.");
    assert_eq!(
        v.violations,
        vec![Violation { category: "concentrate".into(), limit: 8.0, amount: 10.0, excess: 2.0, unit: "g".into() }]
    );
    assert!(v.rule_source.contains("15409"));
}

#[test]
fn the_smallest_change_removes_one_wax() {
    // DESIGN: "The explanation names the rule, the amounts and the fix ('remove one 5 g wax')."
    let cart = [units("Wax 5 g", "concentrate", 2, 5.0), units("Flower 3.5 g", "flower", 1, 3.5)];
    let v = verdict("CA", &cart);
    assert!(!v.allowed);
    assert_eq!(v.changes[0].description, "Remove 1 × Wax 5 g");
    assert_eq!(v.changes[0].remove, vec![Removal { line: 0, label: "Wax 5 g".into(), quantity: 1 }]);
    assert_eq!(v.changes.len(), 1, "removing the flower does not help: {:?}", v.changes);
}

fn assert_each_change_fixes(state: &str, cart: &[Line], v: &Verdict) {
    assert!(!v.changes.is_empty());
    for change in &v.changes {
        let mut q: Vec<u32> = cart.iter().map(|l| l.quantity).collect();
        for r in &change.remove {
            q[r.line] -= r.quantity;
        }
        let fixed: Vec<Line> = cart.iter().zip(&q).map(|(l, q)| Line { quantity: *q, ..l.clone() }).collect();
        assert!(verdict(state, &fixed).allowed, "{change:?} should make the cart compliant");
    }
}

#[test]
fn each_proposed_change_makes_the_cart_compliant_smallest_first() {
    // Colorado's shared limit: 28 g flower + 4 g concentrate is 1.49 oz-equivalent; 14 g of
    // flower (4 eighths) or all 4 g of concentrate (0.5 oz) must go.
    let cart = [units("Eighth", "flower", 8, 3.5), units("Shatter 1 g", "concentrate", 4, 1.0)];
    let v = verdict("CO", &cart);
    assert_each_change_fixes("CO", &cart, &v);
    let described: Vec<&str> = v.changes.iter().map(|c| c.description.as_str()).collect();
    assert_eq!(described, ["Remove 4 × Eighth", "Remove all Shatter 1 g"]);
}

#[test]
fn when_no_single_line_fixes_the_cart_one_combined_change_does() {
    // California: 35 g flower and 10 g concentrate are both over their caps.
    let cart = [units("Eighth", "flower", 10, 3.5), units("Wax 5 g", "concentrate", 2, 5.0)];
    let v = verdict("CA", &cart);
    assert_each_change_fixes("CA", &cart, &v);
    assert_eq!(v.changes.len(), 1);
    assert_eq!(v.changes[0].description, "Remove 2 × Eighth and 1 × Wax 5 g");
}

#[test]
fn colorado_counts_8_g_of_concentrate_or_800_mg_as_one_ounce() {
    // Rule R 402(C)(1.5): one ounce of flower = 8 g of concentrate = 80 ten-milligram servings.
    for cart in [vec![item("flower", "1oz")], vec![item("concentrate", "8g")], vec![item("edible", "800mg")]] {
        assert!(verdict("CO", &cart).allowed, "{cart:?}");
    }
    // Half of each limit twice is the whole limit: allowed; a little more is not.
    assert!(verdict("CO", &[item("concentrate", "4g"), item("edible", "400mg")]).allowed);
    let v = verdict("CO", &[item("concentrate", "4g"), item("edible", "500mg")]);
    assert!(!v.allowed);
    assert_eq!(v.violations[0].category, "flower_equivalent");
    assert_eq!((v.violations[0].limit, v.violations[0].amount, v.violations[0].unit.as_str()), (1.0, 1.13, "oz"));
    assert_eq!(
        v.explanation,
        "In Colorado, flower, concentrate and edibles together share one limit a day: 1 oz (1 oz of flower counts \
         the same as 8 g of concentrate or 800 mg of THC in edibles). Your cart has 1.13 oz."
    );
    // HB 1216 §8: non-psychoactive topicals are not subject to the 1 oz limit.
    assert!(verdict("CO", &[item("flower", "1oz"), item("topical", "100g")]).allowed);
}

#[test]
fn new_jersey_mix_and_match_examples_from_the_sources_are_allowed() {
    // ohmtheory.com FAQ (cited in purchase_limits.json): 1/2 oz flower + 2 g concentrate, and
    // 5 gummy packages (100 mg each) + 1/2 oz flower, both within one transaction's limit.
    assert!(verdict("NJ", &[item("flower", "0.5oz"), item("concentrate", "2g")]).allowed);
    let gummies = Line {
        label: "Gummies 100 mg".into(),
        category: "edible".into(),
        quantity: 5,
        weight_g: None,
        thc_mg: Some(100.0),
    };
    assert!(verdict("NJ", &[gummies.clone(), item("flower", "0.5oz")]).allowed);
    // NJ-CRC release: 10 packages of 100 mg is the whole limit, so one more package is over.
    let eleven = Line { quantity: 11, ..gummies };
    assert!(!verdict("NJ", &[eleven]).allowed);
}

#[test]
fn massachusetts_counts_tinctures_as_concentrate_and_exempts_topicals() {
    // 935 CMR 500.140(3)(a): 1 oz = 5 g concentrate (including tinctures) = 500 mg edibles;
    // topicals are not subject to a daily limit.
    assert!(verdict("MA", &[item("concentrate", "5g"), item("topical", "50g")]).allowed);
    assert!(!verdict("MA", &[item("concentrate", "3g"), item("tincture", "3g")]).allowed);
    assert!(verdict("MA", &[item("edible", "250mg"), item("flower", "0.5oz")]).allowed);
}

#[test]
fn illinois_halves_the_limits_for_visitors() {
    // 410 ILCS 705/10-10: residents 30 g / 5 g / 500 mg; non-residents half that.
    let cart = [item("flower", "30g"), item("concentrate", "5g"), item("edible", "500mg")];
    assert!(verdict("IL", &cart).allowed);
    let visitor = check(&Request {
        state: "IL",
        customer: CustomerType::AdultUse,
        non_resident: true,
        cart: &cart,
        earlier_today: &[],
    });
    assert!(!visitor.allowed && visitor.checked);
    let over: Vec<(&str, f64)> = visitor.violations.iter().map(|v| (v.category.as_str(), v.excess)).collect();
    assert_eq!(over, vec![("concentrate", 2.5), ("edible", 250.0), ("flower", 15.0)]);
}

#[test]
fn michigan_counts_concentrate_inside_the_two_and_a_half_ounces() {
    // MCL 333.27955(1)(a): 2.5 oz, of which not more than 15 g concentrate.
    assert!(verdict("MI", &[item("flower", "2oz"), item("concentrate", "10g")]).allowed);
    let v = verdict("MI", &[item("flower", "2oz"), item("concentrate", "15g")]);
    assert_eq!(v.violations[0].category, "flower+concentrate", "{v:?}");
    let v = verdict("MI", &[item("concentrate", "20g")]);
    assert_eq!(v.explanation, "In Michigan you can buy up to 15 g of concentrate in one purchase. Your cart has 20 g.");
}

#[test]
fn missouri_counts_in_mme() {
    // Mo. Const. Art. XIV §2: at least 3 oz; DHSS MME: 3.5 g flower = 1 g concentrate = 100 mg.
    assert!(verdict("MO", &[item("flower", "3oz")]).allowed);
    let v = verdict("MO", &[item("concentrate", "25g")]);
    assert_eq!((v.violations[0].limit, v.violations[0].unit.as_str()), (24.3, "MME"));
    assert!(
        v.explanation.contains("1 MME is 3.5 g of flower, 1 g of concentrate or 100 mg of THC in edibles"),
        "{}",
        v.explanation
    );
}

#[test]
fn washington_allows_any_combination_of_its_amounts() {
    // RCW 69.50.360(3): "any combination of" 1 oz, 16 oz solid, 72 oz liquid, 7 g concentrate.
    let cart = [item("flower", "1oz"), item("edible", "16oz"), item("tincture", "72oz"), item("concentrate", "7g")];
    assert!(verdict("WA", &cart).allowed);
    assert!(!verdict("WA", &[item("concentrate", "7.5g")]).allowed);
}

#[test]
fn a_day_limit_counts_earlier_purchases_but_a_transaction_limit_does_not() {
    let earlier = [item("concentrate", "6g")];
    let day = Request {
        state: "CA",
        customer: CustomerType::AdultUse,
        non_resident: false,
        cart: &[item("concentrate", "3g")],
        earlier_today: &earlier,
    };
    let v = check(&day);
    assert!(!v.allowed);
    assert!(v.explanation.ends_with("Your cart and today's earlier purchases come to 9 g."), "{}", v.explanation);
    let transaction = Request { state: "NV", ..day };
    assert!(check(&transaction).allowed, "Nevada limits a transaction");
}

#[test]
fn what_the_rules_do_not_cover_is_never_called_allowed() {
    let cases: Vec<(Request<'_>, &str)> = vec![
        (
            Request {
                state: "TX",
                customer: CustomerType::AdultUse,
                non_resident: false,
                cart: &[],
                earlier_today: &[],
            },
            "don't have the purchase limits for TX",
        ),
        (
            Request {
                state: "CO",
                customer: CustomerType::Medical,
                non_resident: false,
                cart: &[],
                earlier_today: &[],
            },
            "for medical patients",
        ),
        (
            Request {
                state: "NV",
                customer: CustomerType::AdultUse,
                non_resident: true,
                cart: &[],
                earlier_today: &[],
            },
            "visitors from out of state",
        ),
    ];
    for (req, why) in cases {
        let v = check(&req);
        assert!(!v.allowed && !v.checked, "{}: {v:?}", req.state);
        assert!(v.explanation.contains(why), "{}: {}", req.state, v.explanation);
    }
    // Michigan's rule does not say how edibles count; an NJ edible needs its THC.
    let v = verdict("MI", &[item("edible", "100mg")]);
    assert!(!v.checked && v.explanation.contains("can't check edibles against Michigan"), "{v:?}");
    let v = verdict("NJ", &[item("edible", "50g")]);
    assert!(!v.checked && v.explanation.contains("its THC in mg"), "{v:?}");
}

#[test]
fn amounts_parse_with_their_units_and_bad_ones_say_how_to_write_them() {
    assert_eq!(Quantity::parse("28g").unwrap().base(), 28.0);
    assert!((Quantity::parse("1oz").unwrap().base() - 28.3495).abs() < 1e-9);
    assert_eq!(Quantity::parse("200MG").unwrap().measure(), rules::Measure::ThcMg);
    for raw in ["28", "g", "-1g", "lots", "1lb"] {
        assert!(Quantity::parse(raw).is_err(), "{raw:?} should be rejected");
    }
}

#[test]
fn every_state_in_the_rules_loads_with_a_source_for_each_limit() {
    for (code, state) in &RULES.states {
        let programs = [&state.adult_use, &state.adult_use_non_resident, &state.medical];
        for program in programs.into_iter().flatten() {
            assert!(!program.constraints().is_empty(), "{code}");
            assert!(program.constraints().iter().all(|c| !c.source.is_empty()), "{code}");
        }
    }
    assert_eq!(RULES.states.len(), 13);
}
