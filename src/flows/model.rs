//! The checked, indexed form of flows the engine runs (`FlowSet`, `Flow`, `Step`, intents and
//! their matchers), and how an answer is compared to an option ([`normalize_answer`]).
//!
//! Owns the runtime vocabulary of flows. What files say is `file`; reading them is `load`,
//! checking them `check`, running them `engine`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use regex::Regex;

use crate::diagnostic::Diagnostic;
use crate::understanding::{Guess, Understanding};

/// How a flow ends, for reports and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Resolved,
    Abandoned,
    HandedOff,
    Misunderstood,
}

impl Outcome {
    pub const ALL: [Outcome; 4] = [Self::Resolved, Self::Abandoned, Self::HandedOff, Self::Misunderstood];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Resolved => "resolved",
            Self::Abandoned => "abandoned",
            Self::HandedOff => "handed_off",
            Self::Misunderstood => "misunderstood",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == raw)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A step of the same flow, by index.
    Step(usize),
    /// Another flow, which replaces the current one.
    Flow(String),
}

#[derive(Debug)]
pub struct Intent {
    pub id: String,
    pub global: bool,
    pub patterns: Vec<Regex>,
    /// Line and column of its id in `intents.yaml`, for diagnostics.
    pub at: (u64, u64),
}

impl Intent {
    pub fn matches(&self, text: &str) -> bool {
        self.patterns.iter().any(|p| p.is_match(text))
    }
}

#[derive(Debug)]
pub enum Matcher {
    Options(Vec<String>),
    Intent(String),
    Pattern(Regex),
    /// Phrases a choice in words resembles ("the bank one").
    Like(Vec<String>),
    Any,
}

/// Lower-cased, trimmed, without trailing punctuation: how answers are compared to options
/// (`check` normalizes the options once, the engine each answer).
pub fn normalize_answer(text: &str) -> String {
    text.trim().trim_end_matches(['.', '!', '?', ',']).trim().to_lowercase()
}

/// Ordinal words as a choice's number, English and Spanish.
const ORDINALS: [&[&str]; 6] = [
    &["first", "1st", "primera", "primero", "primer"],
    &["second", "2nd", "segunda", "segundo"],
    &["third", "3rd", "tercera", "tercero", "tercer"],
    &["fourth", "4th", "cuarta", "cuarto"],
    &["fifth", "5th", "quinta", "quinto"],
    &["sixth", "6th", "sexta", "sexto"],
];

/// 5: "the second one please" is a choice; a longer sentence with "first" in it is not.
const MAX_ORDINAL_WORDS: usize = 5;

/// "the second one", "la primera" → "2", "1": a numbered choice said as an ordinal (one ordinal
/// word in a short answer).
pub fn ordinal_choice(text: &str) -> Option<String> {
    let answer = normalize_answer(text);
    let words: Vec<&str> = answer.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).collect();
    if words.len() > MAX_ORDINAL_WORDS {
        return None;
    }
    let mut found = ORDINALS.iter().enumerate().filter(|(_, names)| words.iter().any(|w| names.contains(w)));
    match (found.next(), found.next()) {
        (Some((i, _)), None) => Some((i + 1).to_string()),
        _ => None,
    }
}

#[derive(Debug)]
pub struct Expect {
    pub matcher: Matcher,
    pub save_as: Option<String>,
    /// What to save; default: the first capture group, else the whole answer.
    pub value: Option<String>,
    pub target: Target,
}

#[derive(Debug, Clone)]
pub struct Condition {
    pub slot: String,
    pub equals: Option<String>,
    pub is_set: Option<bool>,
    pub at_least: Option<i64>,
}

#[derive(Debug)]
pub enum StepKind {
    Say,
    Ask {
        template: String,
        expect: Vec<Expect>,
        retries: u32,
        reprompt: Option<String>,
        fallback: Option<Target>,
    },
    Action {
        name: String,
        args: BTreeMap<String, String>,
        on: HashMap<String, Target>,
    },
    Branch {
        cases: Vec<(Condition, Target)>,
        otherwise: Target,
    },
    Set(BTreeMap<String, String>),
    Call {
        flow: String,
    },
    /// A person takes the conversation; the flow ends handed off.
    Handoff(Ticket),
    /// A team's ticket; the conversation stays with the bot and the flow ends resolved.
    Report(Ticket),
    End(Outcome),
}

/// The ticket a `handoff` or `report` step opens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    pub queue: String,
    /// 1 (most urgent) to 5.
    pub priority: u8,
    pub tags: Vec<String>,
    /// Why, for whoever picks it up.
    pub reason: String,
}

#[derive(Debug)]
pub struct Step {
    pub id: String,
    /// Line and column of the step's id in its file, for diagnostics.
    pub at: (u64, u64),
    pub say: Option<String>,
    pub kind: StepKind,
    /// Where to go after `Say`, `Set`, `Call` and unlisted action outcomes.
    pub next: Option<Target>,
}

#[derive(Debug)]
pub struct Flow {
    pub id: String,
    pub description: String,
    pub intents: Vec<String>,
    /// Intents that start this flow only when no question is open (`triggers.when_idle`).
    pub idle_intents: Vec<String>,
    pub events: Vec<String>,
    pub tags: Vec<String>,
    pub expire_after_ms: i64,
    /// Asked again after another flow interrupts it (`resume:` in the file).
    pub resume: bool,
    pub steps: Vec<Step>,
}

impl Flow {
    pub fn step_index(&self, id: &str) -> Option<usize> {
        self.steps.iter().position(|s| s.id == id)
    }

    /// The ticket this flow's first hand-off (or report) step opens: flows that never need a
    /// person (the menu, small talk) have none.
    pub fn handoff_ticket(&self) -> Option<Ticket> {
        self.steps.iter().find_map(|s| match &s.kind {
            StepKind::Handoff(t) | StepKind::Report(t) => Some(t.clone()),
            _ => None,
        })
    }

    /// The description's first line, for a ticket's reason.
    pub fn description_line(&self) -> String {
        let line = self.description.lines().next().unwrap_or(&self.id).trim().trim_end_matches('.');
        if line.is_empty() {
            self.id.clone()
        } else {
            line.to_owned()
        }
    }

    /// Every word its questions take as an option ("order", "payment", "1"), in order.
    pub fn option_words(&self) -> Vec<String> {
        let options = self.steps.iter().flat_map(|s| match &s.kind {
            StepKind::Ask { expect, .. } => expect.as_slice(),
            _ => &[],
        });
        options
            .flat_map(|e| match &e.matcher {
                Matcher::Options(words) => words.clone(),
                _ => Vec::new(),
            })
            .collect()
    }
}

/// Every flow and intent, checked, and the classifier trained on the intents' examples. Swapped
/// whole on reload.
#[derive(Debug, Default)]
pub struct FlowSet {
    /// The classifier and its thresholds.
    pub understanding: Arc<Understanding>,
    /// Problems that do not stop the set from serving (too few examples, shared examples).
    pub warnings: Vec<Diagnostic>,
    /// Floors `leafdesk intents eval` holds the model to.
    pub floors: Floors,
    pub flows: HashMap<String, Flow>,
    pub intents: Vec<Intent>,
    /// The CRM taxonomy (`tags.yaml`), in its order; empty when the folder has none.
    pub tags: Vec<String>,
    /// The CSR queues (`queues.yaml`), in its order; empty when the folder has none.
    pub queues: Vec<Queue>,
}

/// A CSR queue: who works it and how soon a ticket should get its first answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queue {
    pub id: String,
    pub name: String,
    pub roles: Vec<crate::domain::staff::Role>,
    /// Minutes to a first answer, by priority.
    pub sla_minutes: BTreeMap<u8, u32>,
}

impl Queue {
    /// The time a ticket of this priority has for its first answer, if the queue sets one.
    pub fn sla_ms(&self, priority: i64) -> Option<i64> {
        let priority = u8::try_from(priority).ok()?;
        self.sla_minutes.get(&priority).map(|m| i64::from(*m) * 60_000)
    }
}

/// `leafdesk intents eval` fails under these macro F1 scores.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Floors {
    pub holdout_macro_f1: Option<f64>,
    pub cross_validation_macro_f1: Option<f64>,
}

/// What the bot makes of a message before any flow sees it.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// A pattern matched: high precision, it wins.
    Rule(String),
    /// The classifier is sure enough.
    Model(Guess),
    /// The classifier leans but is not sure: the likeliest intents that start a flow, to ask.
    Unsure(Vec<Guess>),
    NotUnderstood,
}

impl Decision {
    /// The intent decided, if one was.
    pub fn intent(&self) -> Option<&str> {
        match self {
            Self::Rule(id) => Some(id),
            Self::Model(g) => Some(&g.intent),
            _ => None,
        }
    }

    /// `rule`, `model`, `unsure` or `not_understood`, as tools and the review inbox say it.
    pub fn by(&self) -> &'static str {
        match self {
            Self::Rule(_) => "rule",
            Self::Model(_) => "model",
            Self::Unsure(_) => "unsure",
            Self::NotUnderstood => "not_understood",
        }
    }
}

impl FlowSet {
    /// Patterns first; then `model`'s `guesses` (likeliest first) against its thresholds. With
    /// `global_only`, only an intent that interrupts any step counts.
    pub fn decide(&self, model: &Understanding, text: &str, guesses: &[Guess], global_only: bool) -> Decision {
        if let Some(intent) = self.match_intent(text, global_only) {
            return Decision::Rule(intent.id.clone());
        }
        let config = &model.config;
        let Some(top) = guesses.first() else { return Decision::NotUnderstood };
        let global = |id: &str| self.intents.iter().any(|i| i.id == id && i.global);
        if top.confidence >= config.confident {
            return if global_only && !global(&top.intent) {
                Decision::NotUnderstood
            } else {
                Decision::Model(top.clone())
            };
        }
        if global_only || top.confidence < config.unsure {
            return Decision::NotUnderstood;
        }
        // The likeliest few that lead somewhere, each at least half as likely as "unsure".
        let choices: Vec<Guess> = guesses
            .iter()
            .filter(|g| g.confidence >= config.unsure / 2.0 && self.flow_interrupting(&g.intent).is_some())
            .take(3)
            .cloned()
            .collect();
        // One choice is no choice: "Do you mean: 1. Ways to pay" reads as a guess, not a question.
        if choices.len() < 2 {
            Decision::NotUnderstood
        } else {
            Decision::Unsure(choices)
        }
    }

    /// The first intent, in priority order, that matches `text`.
    pub fn match_intent(&self, text: &str, global_only: bool) -> Option<&Intent> {
        self.intents.iter().filter(|i| !global_only || i.global).find(|i| i.matches(text))
    }

    /// The flow an intent starts when no question is open, if any.
    pub fn flow_for_intent(&self, intent: &str) -> Option<&Flow> {
        let mut flows: Vec<&Flow> =
            self.flows.values().filter(|f| f.intents.iter().chain(&f.idle_intents).any(|i| i == intent)).collect();
        flows.sort_by(|a, b| a.id.cmp(&b.id));
        flows.into_iter().next()
    }

    /// The flow an intent starts in the middle of another flow's question, if any: a "yes" or
    /// "no" there answers the question, it starts nothing.
    pub fn flow_interrupting(&self, intent: &str) -> Option<&Flow> {
        self.flow_for_intent(intent).filter(|f| f.intents.iter().any(|i| i == intent))
    }

    /// The flow an event starts, if any.
    pub fn flow_for_event(&self, event: &str) -> Option<&Flow> {
        let mut flows: Vec<&Flow> = self.flows.values().filter(|f| f.events.iter().any(|e| e == event)).collect();
        flows.sort_by(|a, b| a.id.cmp(&b.id));
        flows.into_iter().next()
    }
}

/// Events the platform may send (see the events API); a trigger naming another is a typo.
pub const KNOWN_EVENTS: &[&str] =
    &["payment.declined", "account.locked", "limit.exceeded", "inventory.sync_error", "order.updated"];
/// Events leafdesk raises itself (a phone call starting); flows may start on them too.
pub const OWN_EVENTS: &[&str] = &["call.started"];
