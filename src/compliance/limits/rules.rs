//! The purchase-limit rules as data: `rules/purchase_limits.json`, read once and turned into
//! linear constraints (a cap, a combined total, or an equivalency is each "the sum of some
//! measured amounts, each times a factor, may not exceed a limit").
//!
//! Owns the file's shape and units. The calculator lives in the parent module.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use serde::Deserialize;

/// Grams in an avoirdupois ounce (the file cites the source).
pub fn oz_in_g() -> f64 {
    RULES.oz_in_g.value
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    G,
    Oz,
    Mg,
}

impl Unit {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::G => "g",
            Self::Oz => "oz",
            Self::Mg => "mg",
        }
    }
}

/// What an amount measures: product weight or THC content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Measure {
    WeightG,
    ThcMg,
}

/// An amount with its unit, written `28.5g`, `1oz` or `200mg`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quantity {
    pub value: f64,
    pub unit: Unit,
}

impl Quantity {
    /// # Errors
    /// When the text is not a non-negative number followed by `g`, `oz` or `mg`.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim().to_ascii_lowercase();
        let (number, unit) = if let Some(n) = raw.strip_suffix("mg") {
            (n, Unit::Mg)
        } else if let Some(n) = raw.strip_suffix("oz") {
            (n, Unit::Oz)
        } else if let Some(n) = raw.strip_suffix('g') {
            (n, Unit::G)
        } else {
            return Err(format!("{raw:?} needs a unit: g, oz or mg (for example 3.5g)"));
        };
        match number.trim().parse::<f64>() {
            Ok(value) if value.is_finite() && value >= 0.0 => Ok(Self { value, unit }),
            _ => Err(format!("{raw:?} is not an amount (for example 3.5g, 1oz or 100mg)")),
        }
    }

    pub fn measure(self) -> Measure {
        match self.unit {
            Unit::Mg => Measure::ThcMg,
            Unit::G | Unit::Oz => Measure::WeightG,
        }
    }

    /// In the measure's base unit: grams of weight, or mg of THC.
    pub fn base(self) -> f64 {
        match self.unit {
            Unit::Oz => self.value * oz_in_g(),
            Unit::G | Unit::Mg => self.value,
        }
    }
}

impl<'de> Deserialize<'de> for Quantity {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, Deserialize)]
struct Sourced {
    value: f64,
}

#[derive(Debug, Deserialize)]
pub struct RulesFile {
    oz_in_g: Sourced,
    default_counts: BTreeMap<String, String>,
    pub states: BTreeMap<String, StateRules>,
}

#[derive(Debug, Deserialize)]
pub struct StateRules {
    pub name: String,
    pub adult_use: Option<Program>,
    pub adult_use_non_resident: Option<Program>,
    pub medical: Option<Program>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    Transaction,
    Day,
}

#[derive(Debug, Deserialize)]
pub struct Program {
    pub period: Period,
    #[serde(default)]
    pub caps: BTreeMap<String, Cap>,
    pub total: Option<Total>,
    pub equivalency: Option<Equivalency>,
    #[serde(default)]
    pub counts: BTreeMap<String, String>,
    #[serde(default)]
    pub applies_to_non_residents: bool,
    pub source: String,
    /// What the rules leave out, for staff.
    pub note: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Cap {
    pub max: Quantity,
    pub source: String,
}

#[derive(Debug, Deserialize)]
pub struct Total {
    pub max: Quantity,
    pub of: Vec<String>,
    pub source: String,
}

#[derive(Debug, Deserialize)]
pub struct Equivalency {
    pub max: Quantity,
    pub label: String,
    pub each: BTreeMap<String, Each>,
}

#[derive(Debug, Deserialize)]
pub struct Each {
    pub amount: Quantity,
}

pub static RULES: LazyLock<RulesFile> = LazyLock::new(|| {
    serde_json::from_str(include_str!("../../../rules/purchase_limits.json"))
        .expect("rules/purchase_limits.json is valid")
});

/// "exempt": a category the program explicitly leaves out of its limits.
pub const EXEMPT: &str = "exempt";

/// The limit category a product category counts against in `program`: its own mapping, else
/// the file's default, else the category itself.
pub fn counts_as<'a>(program: &'a Program, category: &'a str) -> &'a str {
    program
        .counts
        .get(category)
        .or_else(|| RULES.default_counts.get(category).filter(|_| category != "source"))
        .map_or(category, String::as_str)
}

/// One limit as a linear constraint: `Σ amount(category, measure) × factor ≤ limit`.
#[derive(Debug, Clone)]
pub struct Constraint {
    /// For reports: `concentrate`, `flower+concentrate`, `flower_equivalent`, `mme`.
    pub category: String,
    /// Customer words for what is limited: "concentrate", "flower and concentrate together".
    pub what: String,
    pub terms: Vec<(String, Measure, f64)>,
    /// In base units (g or mg), or flower-equivalent grams for an equivalency.
    pub limit: f64,
    /// Shown as `value / divisor` in `unit`.
    pub divisor: f64,
    pub unit: String,
    pub source: String,
    /// For an equivalency: how the categories compare, in customer words.
    pub equivalency: Option<String>,
}

impl Program {
    pub fn constraints(&self) -> Vec<Constraint> {
        let mut out = Vec::new();
        for (category, cap) in &self.caps {
            let measure = cap.max.measure();
            out.push(Constraint {
                category: category.clone(),
                what: describe(category, measure),
                terms: vec![(category.clone(), measure, 1.0)],
                limit: cap.max.base(),
                divisor: if cap.max.unit == Unit::Oz { oz_in_g() } else { 1.0 },
                unit: cap.max.unit.as_str().to_owned(),
                source: cap.source.clone(),
                equivalency: None,
            });
        }
        if let Some(total) = &self.total {
            out.push(Constraint {
                category: total.of.join("+"),
                what: format!("{} together", total.of.join(" and ")),
                terms: total.of.iter().map(|c| (c.clone(), Measure::WeightG, 1.0)).collect(),
                limit: total.max.base(),
                divisor: if total.max.unit == Unit::Oz { oz_in_g() } else { 1.0 },
                unit: total.max.unit.as_str().to_owned(),
                source: total.source.clone(),
                equivalency: None,
            });
        }
        if let Some(eq) = &self.equivalency {
            out.push(eq.constraint(&self.source));
        }
        out
    }

    /// Whether `category` is limited by any of the program's rules.
    pub fn limits(&self, category: &str) -> bool {
        self.caps.contains_key(category)
            || self.total.as_ref().is_some_and(|t| t.of.iter().any(|c| c == category))
            || self.equivalency.as_ref().is_some_and(|e| e.each.contains_key(category))
    }
}

impl Equivalency {
    /// Every category in flower-equivalent grams: `amount / each[c] × each[flower]`.
    fn constraint(&self, source: &str) -> Constraint {
        let flower = self.each.get("flower").map_or(oz_in_g(), |e| e.amount.base());
        let terms = self.each.iter().map(|(c, e)| (c.clone(), e.amount.measure(), flower / e.amount.base())).collect();
        let mme = self.label == "MME";
        let amount =
            |c: &str| self.each.get(c).map(|e| format!("{} {}", super::number(e.amount.value), e.amount.unit.as_str()));
        let (f, c, e) = (
            amount("flower").unwrap_or_default(),
            amount("concentrate").unwrap_or_default(),
            amount("edible").unwrap_or_default(),
        );
        let note = if mme {
            format!("1 MME is {f} of flower, {c} of concentrate or {e} of THC in edibles")
        } else {
            format!("{f} of flower counts the same as {c} of concentrate or {e} of THC in edibles")
        };
        Constraint {
            category: if mme { "mme".into() } else { "flower_equivalent".into() },
            what: "flower, concentrate and edibles together".into(),
            terms,
            limit: self.max.base(),
            divisor: if mme { flower } else { oz_in_g() },
            unit: if mme { "MME".into() } else { "oz".into() },
            source: source.to_owned(),
            equivalency: Some(note),
        }
    }
}

fn describe(category: &str, measure: Measure) -> String {
    match (category, measure) {
        ("edible", Measure::ThcMg) => "THC in edibles".into(),
        ("edible", Measure::WeightG) => "solid edibles".into(),
        ("tincture", _) => "liquid products like tinctures".into(),
        (other, _) => other.replace('_', " "),
    }
}
