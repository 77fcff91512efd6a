//! How well the bot understands: precision, recall and F1 per intent and a confusion matrix,
//! from k-fold cross-validation on the examples and from a held-out file never trained on.
//!
//! Owns the measuring. What counts as the bot's answer for a message is the caller's `decide`
//! (the flows combine patterns with the model and its thresholds); `None` is "not understood",
//! which is right for a message of the held-out file's `none` group.

use std::collections::BTreeMap;

use super::{Config, Example, Understanding};

/// The label of messages no intent should take.
pub const NONE: &str = "none";

/// One labelled message and what the bot decided.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub expected: String,
    pub predicted: String,
    pub text: String,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Scores {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub support: usize,
}

/// Scores per intent, their macro average, accuracy and the confusion matrix.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    pub per_intent: BTreeMap<String, Scores>,
    pub macro_f1: f64,
    pub accuracy: f64,
    /// expected → predicted → count.
    pub confusion: BTreeMap<String, BTreeMap<String, usize>>,
    /// Messages decided wrongly: (expected, predicted, text).
    pub misses: Vec<(String, String, String)>,
}

impl Report {
    pub fn of(outcomes: &[Outcome]) -> Self {
        let mut confusion: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
        for o in outcomes {
            *confusion.entry(o.expected.clone()).or_default().entry(o.predicted.clone()).or_default() += 1;
        }
        let labels: Vec<&String> = confusion.keys().filter(|l| *l != NONE).collect();
        let mut per_intent = BTreeMap::new();
        for label in labels {
            let tp = outcomes.iter().filter(|o| &o.expected == label && &o.predicted == label).count();
            let predicted = outcomes.iter().filter(|o| &o.predicted == label).count();
            let support = outcomes.iter().filter(|o| &o.expected == label).count();
            let precision = ratio(tp, predicted);
            let recall = ratio(tp, support);
            let f1 = if precision + recall > 0.0 { 2.0 * precision * recall / (precision + recall) } else { 0.0 };
            per_intent.insert(label.clone(), Scores { precision, recall, f1, support });
        }
        let macro_f1 = per_intent.values().map(|s| s.f1).sum::<f64>() / per_intent.len().max(1) as f64;
        let right = outcomes.iter().filter(|o| o.expected == o.predicted).count();
        let misses = outcomes
            .iter()
            .filter(|o| o.expected != o.predicted)
            .map(|o| (o.expected.clone(), o.predicted.clone(), o.text.clone()))
            .collect();
        Self { per_intent, macro_f1, accuracy: ratio(right, outcomes.len()), confusion, misses }
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

/// Each example decided by a model trained on the other `folds - 1` parts (example `i` is in
/// part `i % folds`, so the split is the same on every run).
pub fn cross_validate(
    examples: &[Example],
    config: &Config,
    folds: usize,
    decide: &dyn Fn(&Understanding, &str) -> Option<String>,
) -> Vec<Outcome> {
    let folds = folds.max(2);
    let mut outcomes = Vec::with_capacity(examples.len());
    for fold in 0..folds {
        let train: Vec<Example> =
            examples.iter().enumerate().filter(|(i, _)| i % folds != fold).map(|(_, e)| e.clone()).collect();
        let model = Understanding::train(&train, config.clone());
        for e in examples.iter().enumerate().filter(|(i, _)| i % folds == fold).map(|(_, e)| e) {
            outcomes.push(outcome(&model, &e.intent, &e.text, decide));
        }
    }
    outcomes
}

/// Each held-out message (expected intent or [`NONE`], text) decided by `model`.
pub fn held_out(
    model: &Understanding,
    messages: &[(String, String)],
    decide: &dyn Fn(&Understanding, &str) -> Option<String>,
) -> Vec<Outcome> {
    messages.iter().map(|(intent, text)| outcome(model, intent, text, decide)).collect()
}

fn outcome(
    model: &Understanding,
    expected: &str,
    text: &str,
    decide: &dyn Fn(&Understanding, &str) -> Option<String>,
) -> Outcome {
    let predicted = decide(model, text).unwrap_or_else(|| NONE.to_owned());
    Outcome { expected: expected.to_owned(), predicted, text: text.to_owned() }
}

/// The held-out file: `locale → intent (or none) → messages`.
type HoldoutFile = BTreeMap<String, BTreeMap<String, Vec<String>>>;

/// Reads a held-out file's text into (intent or [`NONE`], message) pairs, locale by locale.
///
/// # Errors
/// YAML that is not `locale: { intent: [messages] }`, with the parser's reason.
pub fn read_holdout(text: &str) -> Result<Vec<(String, String)>, String> {
    let file: HoldoutFile = serde_saphyr::from_str(text).map_err(|e| e.to_string())?;
    Ok(file
        .into_values()
        .flat_map(|by_intent| {
            by_intent.into_iter().flat_map(|(i, texts)| texts.into_iter().map(move |t| (i.clone(), t)))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_count_right_wrong_and_not_understood() {
        let o = |e: &str, p: &str| Outcome { expected: e.into(), predicted: p.into(), text: String::new() };
        let report = Report::of(&[o("a", "a"), o("a", "b"), o("b", "b"), o("none", "none"), o("none", "a")]);
        let a = &report.per_intent["a"];
        assert_eq!((a.precision, a.recall, a.support), (0.5, 0.5, 2));
        let b = &report.per_intent["b"];
        assert_eq!((b.precision, b.recall), (0.5, 1.0));
        assert!(!report.per_intent.contains_key(NONE));
        assert_eq!(report.confusion["a"]["b"], 1);
        assert!((report.accuracy - 0.6).abs() < 1e-9);
        assert_eq!(report.misses.len(), 2);
    }
}
