//! Flow files as written: what a `flows/*.yaml`, `intents.yaml` or `tags.yaml` may say (the
//! `*File` types), each value with its place in the file for error messages. `load` reads files
//! into these; `check` turns them into the checked form (`model`).
//!
//! Owns the YAML vocabulary of flows and how a step's fields decide its kind.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;
use serde_saphyr::Spanned;

/// A flows folder, parsed: what `load` hands `check`.
#[derive(Debug)]
pub struct FlowFiles {
    /// Where `intents.yaml` is, and what it says.
    pub intents: (PathBuf, IntentsFile),
    /// `tags.yaml`, when the folder has one: then a tag not in it is a typo.
    pub tags: Option<TagsFile>,
    /// `queues.yaml`, when the folder has one (where it is, and what it says): then a
    /// hand-off to a queue not in it is a typo.
    pub queues: Option<(PathBuf, QueuesFile)>,
    /// `intents.<locale>.yaml`: the classifier's examples, one file per language.
    pub examples: Vec<(PathBuf, ExamplesFile)>,
    pub flows: Vec<(PathBuf, FlowFile)>,
}

/// One flow file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowFile {
    pub id: Spanned<String>,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub triggers: TriggersFile,
    /// CRM categories of this flow's outcomes (from `flows/tags.yaml`).
    #[serde(default)]
    pub tags: Vec<Spanned<String>>,
    /// Minutes without a message after which an unfinished run of this flow is abandoned.
    pub expire_after_minutes: Option<u32>,
    /// Another question asked in the middle of this flow runs its own flow, then this flow's
    /// question is asked again (default). `false` for a menu: answering something else is
    /// moving on.
    pub resume: Option<bool>,
    pub steps: Vec<StepFile>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TriggersFile {
    #[serde(default)]
    pub intents: Vec<Spanned<String>>,
    /// Intents that start the flow only when no question is open ("no" after "Anything
    /// else?"); in the middle of a question they are its answer, never a new flow.
    #[serde(default)]
    pub when_idle: Vec<Spanned<String>>,
    #[serde(default)]
    pub events: Vec<Spanned<String>>,
}

/// A step as written. `say` may go with any kind; exactly one of `ask`, `action`, `branch`,
/// `set`, `call`, `handoff`, `report`, `end` says what else it does (none: it only says something
/// and moves on). `handoff` gives the conversation to a person; `report` files a ticket for a team
/// (IT, inventory) while the bot keeps the conversation.
///
/// The YAML is flat (`{ id, ask, expect, next }`); `StepFields` reads it and `From` sorts it
/// into `kind`, which holds exactly its own fields. What does not fit (a second kind, another
/// kind's field) is kept by name for `check` to report with the step's place.
#[derive(Debug, Deserialize)]
#[serde(from = "StepFields")]
pub struct StepFile {
    pub id: Spanned<String>,
    pub say: Option<Spanned<String>>,
    pub kind: StepFileKind,
    pub next: Option<Spanned<String>>,
    pub flow: Option<Spanned<String>>,
    /// Kinds written besides `kind` (a step does one thing), dropped.
    pub extra_kinds: Vec<&'static str>,
    /// Fields written that belong to a kind other than `kind`, dropped.
    pub stray_fields: Vec<&'static str>,
}

/// What a step does besides saying something, with the fields of that kind only.
#[derive(Debug)]
pub enum StepFileKind {
    Say,
    Ask(AskFile),
    Action(ActionFile),
    Branch(BranchFile),
    Set(BTreeMap<String, String>),
    Call(Spanned<String>),
    Handoff(HandoffFile),
    Report(HandoffFile),
    End(Spanned<String>),
}

impl StepFileKind {
    /// The key that makes a step this kind (`say` for none), as diagnostics name it.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Say => "say",
            Self::Ask(_) => "ask",
            Self::Action(_) => "action",
            Self::Branch(_) => "branch",
            Self::Set(_) => "set",
            Self::Call(_) => "call",
            Self::Handoff(_) => "handoff",
            Self::Report(_) => "report",
            Self::End(_) => "end",
        }
    }
}

#[derive(Debug)]
pub struct AskFile {
    pub template: Spanned<String>,
    pub expect: Vec<ExpectFile>,
    pub retries: Option<u32>,
    pub reprompt: Option<Spanned<String>>,
    pub fallback: Option<Spanned<String>>,
}

#[derive(Debug)]
pub struct ActionFile {
    pub name: Spanned<String>,
    pub args: BTreeMap<String, String>,
    pub on: BTreeMap<String, Spanned<String>>,
}

#[derive(Debug)]
pub struct BranchFile {
    pub cases: Vec<CaseFile>,
    /// Required; `None` is reported by `check`.
    pub otherwise: Option<Spanned<String>>,
}

/// A step's keys as the YAML has them, every kind's side by side; only [`StepFile`] uses it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StepFields {
    id: Spanned<String>,
    say: Option<Spanned<String>>,
    ask: Option<Spanned<String>>,
    #[serde(default)]
    expect: Vec<ExpectFile>,
    retries: Option<u32>,
    reprompt: Option<Spanned<String>>,
    fallback: Option<Spanned<String>>,
    action: Option<Spanned<String>>,
    #[serde(default)]
    args: BTreeMap<String, String>,
    #[serde(default)]
    on: BTreeMap<String, Spanned<String>>,
    branch: Option<Vec<CaseFile>>,
    #[serde(rename = "else")]
    otherwise: Option<Spanned<String>>,
    set: Option<BTreeMap<String, String>>,
    call: Option<Spanned<String>>,
    handoff: Option<HandoffFile>,
    report: Option<HandoffFile>,
    end: Option<Spanned<String>>,
    next: Option<Spanned<String>>,
    flow: Option<Spanned<String>>,
}

impl From<StepFields> for StepFile {
    fn from(f: StepFields) -> Self {
        // Each kind-only field, the kind it belongs to, and whether it was written.
        let written = [
            ("expect", "ask", !f.expect.is_empty()),
            ("retries", "ask", f.retries.is_some()),
            ("reprompt", "ask", f.reprompt.is_some()),
            ("fallback", "ask", f.fallback.is_some()),
            ("args", "action", !f.args.is_empty()),
            ("on", "action", !f.on.is_empty()),
            ("else", "branch", f.otherwise.is_some()),
        ];
        // Every kind written, each with its own fields, in this order; the first is the step's.
        // A second kind is dropped with its fields (and reported by name).
        let mut kinds = Vec::new();
        if let Some(template) = f.ask {
            let (expect, retries, reprompt, fallback) = (f.expect, f.retries, f.reprompt, f.fallback);
            kinds.push(StepFileKind::Ask(AskFile { template, expect, retries, reprompt, fallback }));
        }
        if let Some(name) = f.action {
            kinds.push(StepFileKind::Action(ActionFile { name, args: f.args, on: f.on }));
        }
        if let Some(cases) = f.branch {
            kinds.push(StepFileKind::Branch(BranchFile { cases, otherwise: f.otherwise }));
        }
        kinds.extend(f.set.map(StepFileKind::Set));
        kinds.extend(f.call.map(StepFileKind::Call));
        kinds.extend(f.handoff.map(StepFileKind::Handoff));
        kinds.extend(f.report.map(StepFileKind::Report));
        kinds.extend(f.end.map(StepFileKind::End));
        let mut kinds = kinds.into_iter();
        let kind = kinds.next().unwrap_or(StepFileKind::Say);
        let extra_kinds = kinds.map(|k| k.name()).collect();
        let stray_fields = written
            .into_iter()
            .filter(|(_, owner, on)| *on && *owner != kind.name())
            .map(|(field, ..)| field)
            .collect();
        StepFile { id: f.id, say: f.say, kind, next: f.next, flow: f.flow, extra_kinds, stray_fields }
    }
}

/// One way to answer an `ask`: by option list, intent, regex or anything at all.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectFile {
    pub options: Option<Vec<String>>,
    pub intent: Option<Spanned<String>>,
    pub pattern: Option<Spanned<String>>,
    /// Phrases an answer in words may resemble ("the bank one", "pay in store"): a choice by
    /// meaning.
    pub like: Option<Vec<String>>,
    #[serde(default)]
    pub any: bool,
    pub save_as: Option<String>,
    pub value: Option<String>,
    pub next: Option<Spanned<String>>,
    pub flow: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseFile {
    #[serde(rename = "if")]
    pub condition: ConditionFile,
    pub then: Spanned<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConditionFile {
    pub slot: String,
    pub equals: Option<String>,
    pub is_set: Option<bool>,
    pub at_least: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HandoffFile {
    pub queue: String,
    /// 1 is the most urgent; the queue orders by priority, then age.
    #[serde(default = "default_priority")]
    pub priority: u8,
    #[serde(default)]
    pub tags: Vec<String>,
    pub reason: String,
}

fn default_priority() -> u8 {
    3
}

/// `flows/tags.yaml`: the CRM categories flows and hand-offs may use (the taxonomy is
/// configuration; a tag not listed is a typo).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TagsFile {
    pub tags: Vec<Spanned<String>>,
}

/// `flows/queues.yaml`: the CSR queues, who works each and how soon its tickets should get a
/// first answer, by priority.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueuesFile {
    pub queues: Vec<QueueFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueFile {
    pub id: Spanned<String>,
    /// What the console calls it.
    pub name: String,
    /// Roles that work it (leads and admins see every queue).
    pub roles: Vec<Spanned<String>>,
    /// Minutes to a first answer, by priority (1 most urgent).
    pub sla_minutes: BTreeMap<u8, u32>,
}

/// `flows/intents.yaml`: intents in priority order (the first pattern that matches wins), and
/// how sure the classifier must be.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntentsFile {
    #[serde(default)]
    pub understanding: UnderstandingFile,
    pub intents: Vec<IntentFile>,
}

/// `understanding:` in `intents.yaml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnderstandingFile {
    /// At or above: the intent's flow starts (default 0.55).
    pub confident: Option<f32>,
    /// At or above, below `confident`: the bot asks which (default 0.25).
    pub unsure: Option<f32>,
    /// The platform's order numbers, a regex.
    pub order_number: Option<Spanned<String>>,
    /// Fewer examples than this for an intent in a language is a warning, by locale.
    #[serde(default)]
    pub min_examples: BTreeMap<String, usize>,
    /// `leafdesk intents eval` fails under these (macro F1 of the held-out file and of
    /// cross-validation).
    #[serde(default)]
    pub floors: FloorsFile,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FloorsFile {
    pub holdout_macro_f1: Option<f64>,
    pub cross_validation_macro_f1: Option<f64>,
}

/// `flows/intents.<locale>.yaml`: training examples by intent, written as customers write.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExamplesFile {
    pub locale: Spanned<String>,
    pub examples: BTreeMap<String, Vec<Spanned<String>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntentFile {
    pub id: Spanned<String>,
    /// A global intent interrupts any step (a human, restart), not only an idle conversation.
    #[serde(default)]
    pub global: bool,
    /// High-precision rules: one matching wins over the classifier.
    #[serde(default)]
    pub patterns: Vec<Spanned<String>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(yaml: &str) -> StepFile {
        serde_saphyr::from_str(yaml).expect("a step's YAML")
    }

    #[test]
    fn a_step_is_the_first_kind_written_and_keeps_what_does_not_fit_by_name() {
        let cases = [
            ("id: a\nsay: x\nnext: b\n", "say", vec![], vec![]),
            ("id: a\nask: x\nexpect: [{ any: true, next: b }]\nretries: 2\n", "ask", vec![], vec![]),
            ("id: a\nask: x\naction: find_order\nargs: { k: v }\n", "ask", vec!["action"], vec!["args"]),
            ("id: a\naction: find_order\nend: resolved\nelse: b\n", "action", vec!["end"], vec!["else"]),
            ("id: a\nsay: x\nretries: 2\non: { found: b }\n", "say", vec![], vec!["retries", "on"]),
            (
                "id: a\nhandoff: { queue: q, reason: r }\nreport: { queue: q, reason: r }\n",
                "handoff",
                vec!["report"],
                vec![],
            ),
        ];
        for (yaml, kind, extra, stray) in cases {
            let s = step(yaml);
            assert_eq!((s.kind.name(), s.extra_kinds, s.stray_fields), (kind, extra, stray), "{yaml:?}");
        }
    }
}
