//! Understanding a customer's words: which intent they most likely mean (a classifier trained
//! from the examples in `flows/intents.<locale>.yaml` at load), how sure that is, the language
//! they wrote in, and the entities in them (order numbers, quantities, pickup times).
//!
//! Owns the model and the reading of one message ([`Reading`]). The rules (regex patterns) and
//! what a reading makes the bot do are the flows': `flows::model` combines patterns with the
//! model, the engine decides (start, ask which, fall back). Pure and deterministic: the same
//! examples give the same model, the same text the same reading.

mod classifier;
pub mod entities;
pub mod eval;
pub mod features;

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, LazyLock, Mutex};

use regex::Regex;

use classifier::Model;
use features::{Sparse, Vocabulary};

/// One training example.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Example {
    pub intent: String,
    pub locale: String,
    pub text: String,
}

/// How sure is sure: set in `flows/intents.yaml` (`understanding:`).
#[derive(Debug, Clone)]
pub struct Config {
    /// At or above: start the intent's flow.
    pub confident: f32,
    /// At or above (and below `confident`): ask which of the likeliest intents is meant.
    pub unsure: f32,
    /// The platform's order numbers (e.g. `LD-1005`), found anywhere in a message.
    pub order_number: Option<Regex>,
}

impl Default for Config {
    fn default() -> Self {
        Self { confident: 0.55, unsure: 0.25, order_number: None }
    }
}

/// An intent and how likely the model finds it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Guess {
    pub intent: String,
    pub confidence: f32,
}

/// A language and how likely it is.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Language {
    pub locale: String,
    pub confidence: f32,
    /// `whatlang` (a reliable statistical detection) or `model` (the examples' own words).
    pub by: &'static str,
}

/// What one message says, as far as the model can tell.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Reading {
    /// The three likeliest intents, likeliest first.
    pub guesses: Vec<Guess>,
    pub language: Option<Language>,
    pub entities: Entities,
}

/// Entities found in a message, as flows receive them in slots.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Entities {
    pub order_number: Option<String>,
    /// Each quantity as said, with its amount ("3 ounces" = 85.05 g).
    pub quantities: Vec<QuantitySaid>,
    /// A pickup day and time in the form the pickup action reads ("tomorrow 17:00").
    pub pickup_request: Option<String>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct QuantitySaid {
    pub said: String,
    /// `g`, `mg` or `items`.
    pub unit: &'static str,
    pub amount: f64,
}

/// The trained models: intents and languages over one vocabulary.
#[derive(Debug)]
pub struct Understanding {
    /// What it was trained on, for cross-validation.
    examples: Vec<Example>,
    vocabulary: Vocabulary,
    intents: Vec<String>,
    intent_model: Model,
    locales: Vec<String>,
    locale_model: Model,
    pub config: Config,
}

/// 4: a server has one set; tests and `intents eval` a few. Training is the slow part of a
/// reload, and conversation tests load the same examples hundreds of times.
const CACHED_MODELS: usize = 4;

/// Trained models by a hash of what they were trained on, newest first.
type Cache = Mutex<Vec<(u64, Arc<Understanding>)>>;

static TRAINED: LazyLock<Cache> = LazyLock::new(|| Mutex::new(Vec::new()));

impl Understanding {
    /// Trains on `examples`; the same examples and config give the same (shared) model.
    pub fn trained(examples: &[Example], config: Config) -> Arc<Self> {
        let mut h = DefaultHasher::new();
        examples.hash(&mut h);
        (config.confident.to_bits(), config.unsure.to_bits(), config.order_number.as_ref().map(Regex::as_str))
            .hash(&mut h);
        let key = h.finish();
        // std Mutex: never held across .await; a poisoned cache is only a cache.
        let mut cache = TRAINED.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, model)) = cache.iter().find(|(k, _)| *k == key) {
            return model.clone();
        }
        let model = Arc::new(Self::train(examples, config));
        cache.insert(0, (key, model.clone()));
        cache.truncate(CACHED_MODELS);
        model
    }

    /// Trains both models from scratch.
    pub fn train(examples: &[Example], config: Config) -> Self {
        let vocabulary = Vocabulary::build(examples.iter().map(|e| e.text.as_str()));
        let intents = distinct(examples.iter().map(|e| &e.intent));
        let locales = distinct(examples.iter().map(|e| &e.locale));
        let vectors: Vec<Sparse> = examples.iter().map(|e| vocabulary.vectorize(&e.text)).collect();
        let labelled = |labels: &[String], of: fn(&Example) -> &String| -> Vec<(Sparse, usize)> {
            examples
                .iter()
                .zip(&vectors)
                .map(|(e, v)| (v.clone(), labels.iter().position(|l| l == of(e)).unwrap_or(0)))
                .collect()
        };
        let intent_model = Model::train(&labelled(&intents, |e| &e.intent), intents.len(), vocabulary.len());
        let locale_model = Model::train(&labelled(&locales, |e| &e.locale), locales.len(), vocabulary.len());
        Self { examples: examples.to_vec(), vocabulary, intents, intent_model, locales, locale_model, config }
    }

    /// An untrained model: every guess is empty (a flows folder without examples).
    pub fn empty() -> Self {
        Self::train(&[], Config::default())
    }

    /// The examples it was trained on.
    pub fn examples(&self) -> &[Example] {
        &self.examples
    }

    /// Every intent the model knows, in the examples' order.
    pub fn intents(&self) -> &[String] {
        &self.intents
    }

    /// Intents by likelihood, all of them.
    pub fn rank(&self, text: &str) -> Vec<Guess> {
        self.rank_vector(&self.vocabulary.vectorize(text))
    }

    fn rank_vector(&self, x: &Sparse) -> Vec<Guess> {
        if x.is_empty() || self.intents.is_empty() {
            return Vec::new();
        }
        let p = self.intent_model.probabilities(x);
        let mut guesses: Vec<Guess> =
            self.intents.iter().zip(p).map(|(i, confidence)| Guess { intent: i.clone(), confidence }).collect();
        guesses.sort_by(|a, b| b.confidence.total_cmp(&a.confidence));
        guesses
    }

    /// The whole reading of one message.
    pub fn read(&self, text: &str) -> Reading {
        let x = self.vocabulary.vectorize(text);
        let mut guesses = self.rank_vector(&x);
        guesses.truncate(3);
        Reading { guesses, language: self.language_of(text, &x), entities: self.entities(text) }
    }

    /// The message's language among the examples' locales: unknown under two words ("menu",
    /// "ok" and "hi" are written in both languages); else `whatlang` when it is sure; else the
    /// examples' own words when they are clear (0.9); else unknown.
    pub fn language(&self, text: &str) -> Option<Language> {
        self.language_of(text, &self.vocabulary.vectorize(text))
    }

    fn language_of(&self, text: &str, x: &Sparse) -> Option<Language> {
        if features::normalize(text).split(' ').filter(|w| w.chars().any(char::is_alphabetic)).count() < 2 {
            return None;
        }
        // Only our languages are candidates, and 300 bytes tell as well as 1,600: detection
        // costs microseconds, not tens of them (BENCHMARKS.md).
        static DETECTOR: LazyLock<whatlang::Detector> =
            LazyLock::new(|| whatlang::Detector::with_allowlist(vec![whatlang::Lang::Eng, whatlang::Lang::Spa]));
        let cut = (0..=text.len().min(300)).rev().find(|i| text.is_char_boundary(*i)).unwrap_or(0);
        let head = &text[..cut];
        if let Some(info) = DETECTOR.detect(head).filter(|i| i.is_reliable()) {
            let locale = match info.lang() {
                whatlang::Lang::Eng => "en",
                whatlang::Lang::Spa => "es",
                _ => "",
            };
            if self.locales.iter().any(|l| l == locale) {
                return Some(Language { locale: locale.into(), confidence: info.confidence() as f32, by: "whatlang" });
            }
        }
        if x.is_empty() || self.locales.is_empty() {
            return None;
        }
        let p = self.locale_model.probabilities(x);
        let (best, confidence) = p.iter().copied().enumerate().max_by(|a, b| a.1.total_cmp(&b.1))?;
        (confidence >= 0.9).then(|| Language { locale: self.locales[best].clone(), confidence, by: "model" })
    }

    /// Order numbers, quantities and pickup times in `text`.
    pub fn entities(&self, text: &str) -> Entities {
        let order_number =
            self.config.order_number.as_ref().and_then(|re| re.find(text)).map(|m| m.as_str().to_uppercase());
        let quantities = entities::quantities(text)
            .into_iter()
            .map(|q| {
                let (unit, amount) = match q.amount {
                    entities::Amount::Grams(g) => ("g", g),
                    entities::Amount::Milligrams(mg) => ("mg", mg),
                    entities::Amount::Items { count, .. } => ("items", f64::from(count)),
                };
                QuantitySaid { said: q.said, unit, amount }
            })
            .collect();
        let pickup_request = entities::when(text).and_then(|w| w.to_request());
        Entities { order_number, quantities, pickup_request }
    }
}

impl Default for Understanding {
    fn default() -> Self {
        Self::empty()
    }
}

fn distinct<'a>(values: impl Iterator<Item = &'a String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for v in values {
        if !out.contains(v) {
            out.push(v.clone());
        }
    }
    out
}

/// 2: one message in another language may be a quote or a name; two in a row is a preference.
const MESSAGES_TO_SWITCH: u32 = 2;

/// The language to answer in from now on, if it changes: a new conversation takes the
/// language of its first message; a known one the language its customer keeps writing in
/// (`streak` counts messages in a row in another language; messages too short to tell leave
/// it as it is).
pub fn switch_language(
    current: &str,
    streak: &mut Option<(String, u32)>,
    language: Option<&Language>,
    new_conversation: bool,
) -> Option<String> {
    let language = language?;
    if language.locale == current {
        *streak = None;
        return None;
    }
    let count = match streak {
        Some((locale, n)) if *locale == language.locale => *n + 1,
        _ => 1,
    };
    if new_conversation || count >= MESSAGES_TO_SWITCH {
        *streak = None;
        Some(language.locale.clone())
    } else {
        *streak = Some((language.locale.clone(), count));
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lang(locale: &str) -> Option<Language> {
        Some(Language { locale: locale.into(), confidence: 0.9, by: "model" })
    }

    #[test]
    fn a_new_conversation_answers_in_its_first_language_and_a_known_one_after_two_messages() {
        let mut streak = None;
        assert_eq!(switch_language("en", &mut streak, lang("es").as_ref(), true), Some("es".into()));
        assert_eq!(switch_language("en", &mut streak, lang("es").as_ref(), false), None);
        assert_eq!(switch_language("en", &mut streak, None, false), None, "too short to tell");
        assert_eq!(switch_language("en", &mut streak, lang("es").as_ref(), false), Some("es".into()));
        assert_eq!(streak, None);
        assert_eq!(switch_language("en", &mut streak, lang("es").as_ref(), false), None);
        assert_eq!(switch_language("en", &mut streak, lang("en").as_ref(), false), None);
        assert_eq!(streak, None, "back in the contact's language: the count starts over");
    }
}
