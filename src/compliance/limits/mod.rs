//! State purchase limits: for a state, a customer and a cart (plus the same day's earlier
//! purchases where the state counts a day), is the cart allowed? If not: which limit, by how
//! much, in plain words naming the rule, and the smallest changes that make it compliant.
//!
//! Owns the calculation. The numbers and their sources are data (`rules/purchase_limits.json`,
//! read by [`rules`]). A state, program or product category the data does not cover is never
//! guessed "allowed": the verdict says it could not be checked.

pub mod rules;

use serde::Serialize;

use rules::{counts_as, Constraint, Measure, Period, Program, RULES};
pub use rules::{Quantity, Unit};

/// The product categories leafdesk knows (the commerce model's, too).
pub const PRODUCT_CATEGORIES: &[&str] =
    &["flower", "pre_roll", "concentrate", "vape_cartridge", "edible", "tincture", "topical"];

pub use crate::domain::commerce::CustomerType;

/// One cart line: `quantity` units, each weighing `weight_g` and holding `thc_mg` (either may
/// be unknown; a limit that needs an unknown measure cannot be checked).
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Line {
    pub label: String,
    pub category: String,
    pub quantity: u32,
    pub weight_g: Option<f64>,
    pub thc_mg: Option<f64>,
}

impl Line {
    /// Parses `category=amount` as the `limits check` command takes it: `flower=28g`,
    /// `concentrate=2g`, `edible=200mg` (an amount in mg is THC content, in g or oz weight).
    ///
    /// # Errors
    /// A message saying what to write instead.
    pub fn parse_item(raw: &str) -> Result<Self, String> {
        let (category, amount) =
            raw.split_once('=').ok_or_else(|| format!("{raw:?}: write an item as category=amount, e.g. flower=28g"))?;
        let category = category.trim().to_ascii_lowercase().replace(['-', ' '], "_");
        if !PRODUCT_CATEGORIES.contains(&category.as_str()) {
            return Err(format!("{raw:?}: unknown category; use one of {}", PRODUCT_CATEGORIES.join(", ")));
        }
        let q = Quantity::parse(amount).map_err(|e| format!("{raw:?}: {e}"))?;
        let (weight_g, thc_mg) = match q.measure() {
            Measure::ThcMg => (None, Some(q.base())),
            Measure::WeightG => (Some(q.base()), None),
        };
        Ok(Self { label: format!("{category} {}", amount.trim()), category, quantity: 1, weight_g, thc_mg })
    }

    fn measured(&self, measure: Measure) -> Option<f64> {
        match measure {
            Measure::WeightG => self.weight_g,
            Measure::ThcMg => self.thc_mg,
        }
    }
}

pub struct Request<'a> {
    pub state: &'a str,
    pub customer: CustomerType,
    pub non_resident: bool,
    pub cart: &'a [Line],
    /// Purchases earlier the same day, counted where the state limits a day.
    pub earlier_today: &'a [Line],
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Violation {
    pub category: String,
    pub limit: f64,
    pub amount: f64,
    pub excess: f64,
    pub unit: String,
}

/// Take `quantity` units of cart line `line` out.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Removal {
    pub line: usize,
    pub label: String,
    pub quantity: u32,
}

/// One way to make the cart compliant, smallest first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    pub description: String,
    pub remove: Vec<Removal>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    pub allowed: bool,
    /// False when the rules do not cover this state, customer or a category in the cart.
    pub checked: bool,
    pub violations: Vec<Violation>,
    /// The verdict in one English paragraph, for staff (tickets, the CLI) and the platform's
    /// logs. Customers are told through templates, from the fields here.
    pub explanation: String,
    pub rule_source: String,
    /// The state's name, for messages.
    pub state_name: String,
    /// What the limit counts: `day` (a day's purchases) or `purchase` (one purchase); none
    /// when unchecked.
    pub period: Option<&'static str>,
    /// The day's earlier purchases were counted with the cart.
    pub counts_earlier: bool,
    pub changes: Vec<Change>,
}

/// 1e-6: amounts are sums of decimal weights; a cart exactly at the limit is allowed.
const EPSILON: f64 = 1e-6;
/// 3: options offered to a customer at once.
const MAX_CHANGES: usize = 3;

/// Checks a cart against the state's limits.
pub fn check(req: &Request<'_>) -> Verdict {
    let Some(state) = RULES.states.get(&req.state.to_ascii_uppercase()) else {
        let why = format!("I don't have the purchase limits for {}, so I can't check this cart.", req.state);
        return unchecked(why, req.state, String::new());
    };
    let program = match (req.customer, req.non_resident) {
        (CustomerType::Medical, _) => state.medical.as_ref(),
        (CustomerType::AdultUse, false) => state.adult_use.as_ref(),
        (CustomerType::AdultUse, true) => {
            state.adult_use_non_resident.as_ref().or(state.adult_use.as_ref().filter(|p| p.applies_to_non_residents))
        }
    };
    let Some(program) = program else {
        let who = match (req.customer, req.non_resident) {
            (CustomerType::Medical, _) => "medical patients",
            (_, true) => "visitors from out of state",
            _ => "adult-use customers",
        };
        let why = format!("I don't have {}'s purchase limits for {who}, so I can't check this cart.", state.name);
        return unchecked(why, &state.name, String::new());
    };
    let earlier = if program.period == Period::Day { req.earlier_today } else { &[] };
    let constraints = program.constraints();
    if let Some(why) = uncountable(program, &constraints, req.cart.iter().chain(earlier), &state.name) {
        return unchecked(why, &state.name, program.source.clone());
    }
    let quantities: Vec<u32> = req.cart.iter().map(|l| l.quantity).collect();
    let violations = violations(&constraints, program, req.cart, &quantities, earlier);
    let explanation = match violations.first() {
        None => format!("This cart is within {}'s purchase limits.", state.name),
        Some((c, v)) => explain(c, v, &state.name, program.period, !earlier.is_empty()),
    };
    let changes = if violations.is_empty() { Vec::new() } else { changes(&constraints, program, req.cart, earlier) };
    Verdict {
        allowed: violations.is_empty(),
        checked: true,
        violations: violations.into_iter().map(|(_, v)| v).collect(),
        explanation,
        rule_source: program.source.clone(),
        state_name: state.name.clone(),
        period: Some(match program.period {
            Period::Day => "day",
            Period::Transaction => "purchase",
        }),
        counts_earlier: !earlier.is_empty(),
        changes,
    }
}

fn unchecked(explanation: String, state_name: &str, rule_source: String) -> Verdict {
    Verdict {
        allowed: false,
        checked: false,
        violations: Vec::new(),
        explanation,
        rule_source,
        state_name: state_name.to_owned(),
        period: None,
        counts_earlier: false,
        changes: Vec::new(),
    }
}

/// Why a line cannot be counted: a category the rules do not limit (and do not exempt), or a
/// limit that needs a measure the line lacks.
fn uncountable<'a>(
    program: &Program,
    constraints: &[Constraint],
    lines: impl Iterator<Item = &'a Line>,
    state: &str,
) -> Option<String> {
    for line in lines.filter(|l| l.quantity > 0) {
        let category = counts_as(program, &line.category);
        if category == rules::EXEMPT {
            continue;
        }
        if !program.limits(category) {
            let what = plural(&line.category);
            let note = program.note.as_deref().map(|n| format!(" {n}")).unwrap_or_default();
            return Some(format!("I can't check {what} against {state}'s purchase limits.{note}"));
        }
        let needs = constraints.iter().flat_map(|c| &c.terms).filter(|(c, _, _)| c == category);
        if let Some((_, measure, _)) = needs.into_iter().find(|(_, m, _)| line.measured(*m).is_none()) {
            let unit = if *measure == Measure::ThcMg { "its THC in mg" } else { "its weight" };
            return Some(format!("I need {unit} to check {} against {state}'s purchase limits.", line.label));
        }
    }
    None
}

/// The category as people say it of several items.
fn plural(category: &str) -> String {
    match category {
        "flower" | "concentrate" => category.to_owned(),
        other => format!("{}s", other.replace('_', " ")),
    }
}

fn amount(c: &Constraint, program: &Program, line: &Line) -> f64 {
    let category = counts_as(program, &line.category);
    c.terms
        .iter()
        .filter(|(cat, _, _)| cat == category)
        .map(|(_, measure, factor)| line.measured(*measure).unwrap_or(0.0) * factor)
        .sum()
}

fn violations<'c>(
    constraints: &'c [Constraint],
    program: &Program,
    cart: &[Line],
    quantities: &[u32],
    earlier: &[Line],
) -> Vec<(&'c Constraint, Violation)> {
    constraints
        .iter()
        .filter_map(|c| {
            let in_cart: f64 = cart.iter().zip(quantities).map(|(l, q)| amount(c, program, l) * f64::from(*q)).sum();
            let before: f64 = earlier.iter().map(|l| amount(c, program, l) * f64::from(l.quantity)).sum();
            let total = in_cart + before;
            (total > c.limit + EPSILON).then(|| {
                let violation = Violation {
                    category: c.category.clone(),
                    limit: round(c.limit / c.divisor),
                    amount: round(total / c.divisor),
                    excess: round((total - c.limit) / c.divisor),
                    unit: c.unit.clone(),
                };
                (c, violation)
            })
        })
        .collect()
}

/// The smallest changes: each line alone, with the fewest units taken out; if no single line
/// will do, one combined change that takes a unit at a time from the biggest contributor.
fn changes(constraints: &[Constraint], program: &Program, cart: &[Line], earlier: &[Line]) -> Vec<Change> {
    let full: Vec<u32> = cart.iter().map(|l| l.quantity).collect();
    let ok = |q: &[u32]| violations(constraints, program, cart, q, earlier).is_empty();
    let mut singles: Vec<(u32, usize)> = Vec::new();
    for (i, line) in cart.iter().enumerate() {
        let mut q = full.clone();
        for k in 1..=line.quantity {
            q[i] = line.quantity - k;
            if ok(&q) {
                singles.push((k, i));
                break;
            }
        }
    }
    singles.sort_by_key(|(k, i)| (*k, *i));
    let mut out: Vec<Change> = singles.into_iter().take(MAX_CHANGES).map(|(k, i)| change(cart, vec![(i, k)])).collect();
    if out.is_empty() {
        let mut q = full.clone();
        while !ok(&q) {
            let worst = violations(constraints, program, cart, &q, earlier);
            let Some((c, _)) = worst.first() else { break };
            let biggest = (0..cart.len())
                .filter(|i| q[*i] > 0 && amount(c, program, &cart[*i]) > 0.0)
                .max_by(|a, b| amount(c, program, &cart[*a]).total_cmp(&amount(c, program, &cart[*b])));
            let Some(i) = biggest else { return Vec::new() }; // earlier purchases alone are over
            q[i] -= 1;
        }
        let removed: Vec<(usize, u32)> =
            full.iter().zip(&q).enumerate().filter(|(_, (f, q))| f > q).map(|(i, (f, q))| (i, f - q)).collect();
        out.push(change(cart, removed));
    }
    out
}

fn change(cart: &[Line], removed: Vec<(usize, u32)>) -> Change {
    let remove: Vec<Removal> = removed
        .into_iter()
        .map(|(line, quantity)| Removal { line, label: cart[line].label.clone(), quantity })
        .collect();
    let parts: Vec<String> = remove
        .iter()
        .map(|r| {
            if r.quantity == cart[r.line].quantity {
                format!("all {}", r.label)
            } else {
                format!("{} × {}", r.quantity, r.label)
            }
        })
        .collect();
    Change { description: format!("Remove {}", parts.join(" and ")), remove }
}

fn explain(c: &Constraint, v: &Violation, state: &str, period: Period, with_earlier: bool) -> String {
    let when = match period {
        Period::Day => "a day",
        Period::Transaction => "in one purchase",
    };
    let (limit, amount, unit) = (number(v.limit), number(v.amount), &v.unit);
    let has = if with_earlier { "Your cart and today's earlier purchases come to" } else { "Your cart has" };
    if let Some(note) = &c.equivalency {
        format!("In {state}, {} share one limit {when}: {limit} {unit} ({note}). {has} {amount} {unit}.", c.what)
    } else {
        format!("In {state} you can buy up to {limit} {unit} of {} {when}. {has} {amount} {unit}.", c.what)
    }
}

/// A state's limits for a kind of customer, as a customer is told them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    pub state_name: String,
    /// `day` or `purchase`.
    pub period: &'static str,
    /// Each limit: its category (`flower`, `flower+concentrate`, …) and maximum ("28.5 g").
    pub limits: Vec<(String, String)>,
    /// The rule, as the data cites it.
    pub source: String,
}

/// The limits of `state` for `customer`, or `None` when the data does not cover them.
pub fn summary(state: &str, customer: CustomerType) -> Option<Summary> {
    let rules = RULES.states.get(&state.to_ascii_uppercase())?;
    let program = match customer {
        CustomerType::Medical => rules.medical.as_ref(),
        CustomerType::AdultUse => rules.adult_use.as_ref(),
    }?;
    let mut limits: Vec<(String, String)> = program
        .constraints()
        .into_iter()
        .map(|c| (c.category, format!("{} {}", number(c.limit / c.divisor), c.unit)))
        .collect();
    // Flower first, as people ask: the product categories' order, totals after.
    let rank = |c: &str| PRODUCT_CATEGORIES.iter().position(|p| *p == c).unwrap_or(PRODUCT_CATEGORIES.len());
    limits.sort_by_key(|(c, _)| rank(c));
    let period = match program.period {
        Period::Day => "day",
        Period::Transaction => "purchase",
    };
    Some(Summary { state_name: rules.name.clone(), period, limits, source: program.source.clone() })
}

fn round(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// `8`, `28.5`, `1.25`: no trailing zeros.
pub fn number(x: f64) -> String {
    let s = format!("{:.2}", round(x));
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

#[cfg(test)]
mod tests;
