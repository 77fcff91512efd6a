//! The flow engine: a pure function from (flow set, conversation state, input) to (new state,
//! effects). It performs no I/O: the pipeline renders the templates it names, runs the actions
//! it asks for (feeding their outcome back as [`Input::ActionDone`]), and stores the result.
//!
//! Owns the meaning of steps, global intents, retries, fallbacks and guards.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::json;

use super::model::*;
use crate::understanding::{Guess, Reading, Understanding};

/// The template sent before re-asking when an answer was not understood.
pub const NOT_UNDERSTOOD_TEMPLATE: &str = "common/not_understood";
/// The slot naming the event that started the running flow; a flow the customer starts clears it.
pub const EVENT_SLOT: &str = "event";
/// "Do you mean: 1. … 2. …?": the likeliest intents when the model is not sure.
pub const CLARIFY_TEMPLATE: &str = "common/clarify";
/// Said before a question asked again after another flow interrupted it.
pub const RESUME_TEMPLATE: &str = "common/resume";
/// The slot holding a clarifying question's choices (`[{n, intent}]`) for its template.
pub const CHOICES_SLOT: &str = "clarify_choices";
/// 3: flows paused under one another ("switch, and the step can be resumed"); deeper, the
/// oldest questions are dropped rather than resumed one after another.
const MAX_STACK: usize = 3;
/// Slots the customer's words set when they start a flow; a new start clears the old ones.
const WORD_SLOTS: &[&str] =
    &["said", "pickup_request", "quantity_said", "quantity_unit", "quantity_amount", "quantity_count"];
/// The flow that handles text nothing else understood.
pub const FALLBACK_FLOW: &str = "fallback";
/// The flow a guard hands the conversation to.
pub const HANDOFF_FLOW: &str = "human_handoff";
/// 50: far more than any real turn needs; a flow that runs this long in one turn is looping.
pub const MAX_STEPS_PER_TURN: u32 = 50;
/// 8: a customer asked the same thing eight times is better served by a person.
pub const MAX_VISITS_PER_STEP: u32 = 8;

pub use crate::domain::conversation::{Frame, Slots, State, Wait};

#[derive(Debug, Clone)]
pub enum Input<'a> {
    Text(&'a str),
    Event { name: &'a str, data: Slots },
    ActionDone { outcome: &'a str, slots: Slots },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    Say {
        template: String,
    },
    RunAction {
        name: String,
        args: BTreeMap<String, String>,
    },
    /// A person takes the conversation: a ticket, and the bot falls silent.
    Handoff(Ticket),
    /// A team's ticket; the bot keeps the conversation.
    Report(Ticket),
    FlowEnded {
        flow: String,
        outcome: Outcome,
    },
    /// A guard stopped a runaway flow; the reason goes to the CSR.
    Guard {
        reason: String,
    },
    /// The bot was not sure and asked which of these was meant (for the review inbox).
    Unsure {
        guesses: Vec<Guess>,
    },
    /// Nothing understood the words (for the review inbox).
    NotUnderstood {
        guesses: Vec<Guess>,
    },
}

#[derive(Debug)]
pub struct Turn {
    pub state: State,
    pub effects: Vec<Effect>,
    /// What the model read in the customer's words (a text input only).
    pub reading: Option<Reading>,
}

/// Is a flow waiting for this conversation's next message (started, and not expired by
/// `idle_ms` of silence)? Such a message is the flow's answer, not a consent word that could
/// also be an answer ("yes").
pub fn waiting(flows: &FlowSet, state: &State, idle_ms: i64) -> bool {
    state.stack.first().and_then(|f| flows.flows.get(&f.flow)).is_some_and(|f| idle_ms <= f.expire_after_ms)
}

/// Runs one input through the flows. `idle_ms` is the time since the conversation's last
/// message, for inactivity expiry.
pub fn step(flows: &FlowSet, state: State, input: Input<'_>, idle_ms: i64) -> Turn {
    let model = flows.understanding.clone();
    let mut run = Run { flows, model, state, effects: Vec::new(), steps: 0, reading: None };
    match input {
        Input::Text(text) => run.text(text, idle_ms),
        Input::Event { name, data } => run.event(name, data),
        Input::ActionDone { outcome, slots } => run.action_done(outcome, slots),
    }
    if run.state.stack.is_empty() {
        run.state.visits.clear();
    }
    Turn { state: run.state, effects: run.effects, reading: run.reading }
}

struct Run<'f> {
    flows: &'f FlowSet,
    model: Arc<Understanding>,
    state: State,
    effects: Vec<Effect>,
    steps: u32,
    reading: Option<Reading>,
}

impl<'f> Run<'f> {
    fn text(&mut self, text: &str, idle_ms: i64) {
        self.expire(idle_ms);
        // An exact answer to the open question (one of its options, its pattern) needs no
        // model: most answers are "1" or an order number, and reading costs microseconds.
        let waiting = self.state.stack.last().is_some_and(|f| f.wait == Wait::Answer);
        if waiting
            && self.state.offered.is_empty()
            && self.flows.match_intent(text, true).is_none()
            && self.exact_answer(text)
        {
            return;
        }
        let reading = self.model.read(text);
        let global = self.flows.decide(&self.model, text, &reading.guesses, true);
        self.reading = Some(reading);
        if let Some((intent, flow)) = global.intent().and_then(|i| Some((i, self.flows.flow_for_intent(i)?))) {
            self.end_all(Outcome::Abandoned);
            self.state.offered.clear();
            return self.start_for_customer(intent, &flow.id, text, false);
        }
        if !self.state.offered.is_empty() && self.pick_offered(text) {
            return;
        }
        let waiting = self.state.stack.last().is_some_and(|f| f.wait == Wait::Answer);
        if waiting {
            return self.answer(text);
        }
        if !self.state.stack.is_empty() {
            return; // waiting for an action or callee: nothing to do with text
        }
        let guesses = self.guesses();
        match self.flows.decide(&self.model, text, &guesses, false) {
            Decision::Unsure(choices) => self.clarify(choices),
            decision => match decision.intent().and_then(|i| Some((i, self.flows.flow_for_intent(i)?))) {
                Some((intent, flow)) => self.start_for_customer(intent, &flow.id, text, false),
                None => {
                    self.effects.push(Effect::NotUnderstood { guesses });
                    self.misunderstood();
                }
            },
        }
    }

    fn guesses(&self) -> Vec<Guess> {
        self.reading.as_ref().map(|r| r.guesses.clone()).unwrap_or_default()
    }

    /// "Do you mean: 1. … 2. …?" The answer is read by [`Self::pick_offered`]; nothing is learned
    /// from it automatically.
    fn clarify(&mut self, choices: Vec<Guess>) {
        self.state.offered = choices.iter().map(|g| g.intent.clone()).collect();
        let listed: Vec<_> =
            self.state.offered.iter().enumerate().map(|(i, id)| json!({ "n": i + 1, "intent": id })).collect();
        self.state.slots.insert(CHOICES_SLOT.into(), serde_json::Value::Array(listed));
        self.effects.push(Effect::Unsure { guesses: choices });
        self.say(CLARIFY_TEMPLATE);
    }

    /// The answer to a clarifying question: a number offered, or words that mean one of the
    /// choices. `false`: it is neither, and the message is read afresh.
    fn pick_offered(&mut self, text: &str) -> bool {
        let offered = std::mem::take(&mut self.state.offered);
        self.state.slots.remove(CHOICES_SLOT);
        let number = normalize_answer(text).trim_start_matches('#').parse::<usize>().ok();
        let by_number = number.and_then(|n| n.checked_sub(1)).and_then(|i| offered.get(i));
        let guesses = self.guesses();
        let by_meaning = || {
            let decided = self.flows.decide(&self.model, text, &guesses, false);
            let unsure_pick = match &decided {
                Decision::Unsure(choices) => choices.first().map(|g| g.intent.clone()),
                _ => None,
            };
            decided.intent().map(str::to_owned).or(unsure_pick).filter(|i| offered.contains(i))
        };
        let Some(intent) = by_number.cloned().or_else(by_meaning) else {
            return false;
        };
        match self.flows.flow_for_intent(&intent) {
            Some(flow) => {
                let id = flow.id.clone();
                self.start_for_customer(&intent, &id, text, false);
                true
            }
            None => false,
        }
    }

    fn event(&mut self, name: &str, data: Slots) {
        let Some(flow) = self.flows.flow_for_event(name) else {
            return;
        };
        self.end_all(Outcome::Abandoned);
        self.state.slots.extend(data);
        self.state.slots.insert(EVENT_SLOT.into(), serde_json::Value::String(name.to_owned()));
        self.start(&flow.id);
        self.run();
    }

    fn action_done(&mut self, outcome: &str, slots: Slots) {
        let Some((flow, idx)) = self.current() else {
            return;
        };
        let Some(frame) = self.state.stack.last_mut().filter(|f| f.wait == Wait::Action) else {
            return;
        };
        frame.wait = Wait::Running;
        self.state.slots.extend(slots);
        let step = &flow.steps[idx];
        let target = match &step.kind {
            StepKind::Action { on, .. } => on.get(outcome).cloned().or_else(|| step.next.clone()),
            _ => step.next.clone(),
        };
        self.follow(target);
        self.run();
    }

    fn expire(&mut self, idle_ms: i64) {
        let expired = self
            .state
            .stack
            .first()
            .and_then(|f| self.flows.flows.get(&f.flow))
            .is_some_and(|f| idle_ms > f.expire_after_ms);
        if expired {
            self.end_all(Outcome::Abandoned);
            self.state.attempts = 0;
            self.state.misses = 0;
        }
    }

    /// Takes `text` when it is exactly one of the open question's options or fits its pattern.
    fn exact_answer(&mut self, text: &str) -> bool {
        let Some((flow, idx)) = self.current() else {
            return false;
        };
        let StepKind::Ask { expect, .. } = &flow.steps[idx].kind else {
            return false;
        };
        let exact = |e: &&Expect| matches!(e.matcher, Matcher::Options(_) | Matcher::Pattern(_));
        // "the second one" is "2".
        let text = ordinal_choice(text).unwrap_or_else(|| text.to_owned());
        for e in expect.iter().filter(exact) {
            if let Some(value) = self.matches(&e.matcher, &text) {
                self.accept(e, value);
                return true;
            }
        }
        false
    }

    /// The open question is answered by branch `e` with `value`: saved, and the flow goes on.
    fn accept(&mut self, e: &Expect, value: String) {
        if let Some(slot) = &e.save_as {
            let value = e.value.clone().unwrap_or(value);
            self.state.slots.insert(slot.clone(), serde_json::Value::String(value));
        }
        self.state.misses = 0;
        self.state.attempts = 0;
        self.set_wait(Wait::Running);
        self.goto(&e.target);
        self.run();
    }

    fn answer(&mut self, text: &str) {
        let Some((flow, idx)) = self.current() else {
            return;
        };
        let StepKind::Ask { template, expect, retries, reprompt, fallback } = &flow.steps[idx].kind else {
            return;
        };
        let choice = ordinal_choice(text);
        for e in expect {
            if let Some(value) = self.matches(&e.matcher, choice.as_deref().unwrap_or(text)) {
                return self.accept(e, value);
            }
        }
        // Another question, clearly: its flow runs, and this question is asked again after.
        let guesses = self.guesses();
        let decision = self.flows.decide(&self.model, text, &guesses, false);
        let other = decision
            .intent()
            .and_then(|i| Some((i, self.flows.flow_interrupting(i)?)))
            .filter(|(_, f)| f.id != flow.id);
        if let Some((intent, other)) = other {
            return self.start_for_customer(intent, &other.id, text, flow.resume);
        }
        self.state.misses += 1;
        self.state.attempts += 1;
        if self.state.attempts <= *retries {
            match reprompt {
                Some(r) => self.say(r),
                None => {
                    self.say(NOT_UNDERSTOOD_TEMPLATE);
                    self.say(template);
                }
            }
            return;
        }
        self.state.attempts = 0;
        self.set_wait(Wait::Running);
        match fallback {
            Some(t) => {
                self.goto(t);
                self.run();
            }
            None => {
                self.end_all(Outcome::Misunderstood);
                self.misunderstood_flow();
            }
        }
    }

    fn misunderstood(&mut self) {
        self.state.misses += 1;
        self.misunderstood_flow();
    }

    fn misunderstood_flow(&mut self) {
        if self.flows.flows.contains_key(FALLBACK_FLOW) {
            self.start(FALLBACK_FLOW);
            self.run();
        }
    }

    /// `Some(value to save)` when `text` answers this way.
    fn matches(&self, matcher: &Matcher, text: &str) -> Option<String> {
        let trimmed = text.trim();
        match matcher {
            Matcher::Options(options) => {
                let answer = normalize_answer(text);
                options.contains(&answer).then(|| trimmed.to_owned())
            }
            Matcher::Intent(id) => {
                let guesses = self.guesses();
                let decided = self.flows.decide(&self.model, text, &guesses, false);
                (decided.intent() == Some(id.as_str())).then(|| trimmed.to_owned())
            }
            Matcher::Like(phrases) => {
                // 0.8: nearly all of a phrase's words and their pieces must be in the answer.
                let best =
                    phrases.iter().map(|p| crate::understanding::features::containment(text, p)).fold(0.0, f32::max);
                (best >= 0.8).then(|| trimmed.to_owned())
            }
            Matcher::Pattern(re) => {
                re.captures(trimmed).map(|c| c.get(1).or_else(|| c.get(0)).map_or("", |m| m.as_str()).to_owned())
            }
            Matcher::Any => (!trimmed.is_empty()).then(|| trimmed.to_owned()),
        }
    }

    fn current(&self) -> Option<(&'f Flow, usize)> {
        let frame = self.state.stack.last()?;
        let flow = self.flows.flows.get(&frame.flow)?;
        Some((flow, flow.step_index(&frame.step)?))
    }

    fn set_wait(&mut self, wait: Wait) {
        if let Some(frame) = self.state.stack.last_mut() {
            frame.wait = wait;
        }
    }

    fn say(&mut self, template: &str) {
        self.effects.push(Effect::Say { template: template.to_owned() });
    }

    /// The customer's words, meaning `intent`, start `flow`: the miss count resets, and the
    /// intent and the entities in the words become slots (`intent`, `said`, `order_number`,
    /// `pickup_request`, `quantity_*`). Afresh, the slot naming an event that started an
    /// earlier flow goes; with `pause`, the running flow waits below, its question asked again
    /// when `flow` ends.
    fn start_for_customer(&mut self, intent: &str, flow: &str, text: &str, pause: bool) {
        self.state.misses = 0;
        if !pause || self.state.stack.len() >= MAX_STACK {
            self.end_all(Outcome::Abandoned);
            self.state.slots.remove(EVENT_SLOT);
        }
        self.take_entities(intent, text);
        self.start(flow);
        self.run();
    }

    fn take_entities(&mut self, intent: &str, text: &str) {
        let slots = &mut self.state.slots;
        for name in WORD_SLOTS {
            slots.remove(*name);
        }
        slots.insert("intent".into(), json!(intent));
        slots.insert("said".into(), json!(text.trim()));
        let Some(entities) = self.reading.as_ref().map(|r| &r.entities) else { return };
        if let Some(number) = &entities.order_number {
            slots.insert("order_number".into(), json!(number));
        }
        if let Some(request) = &entities.pickup_request {
            slots.insert("pickup_request".into(), json!(request));
        }
        if let Some(q) = entities.quantities.first() {
            slots.insert("quantity_count".into(), json!(entities.quantities.len()));
            slots.insert("quantity_said".into(), json!(q.said));
            slots.insert("quantity_unit".into(), json!(q.unit));
            slots.insert("quantity_amount".into(), json!(q.amount));
        }
    }

    fn start(&mut self, flow: &str) {
        let Some(first) = self.flows.flows.get(flow).and_then(|f| f.steps.first()) else {
            return;
        };
        self.state.attempts = 0;
        if self.state.stack.is_empty() {
            // A new run: the repeat guard counts visits within one run, not across runs.
            self.state.visits.clear();
        }
        self.state.stack.push(Frame { flow: flow.to_owned(), step: first.id.clone(), wait: Wait::Running });
    }

    fn end_top(&mut self, outcome: Outcome) {
        if let Some(frame) = self.state.stack.pop() {
            self.effects.push(Effect::FlowEnded { flow: frame.flow, outcome });
        }
    }

    fn end_all(&mut self, outcome: Outcome) {
        while !self.state.stack.is_empty() {
            self.end_top(outcome);
        }
    }

    fn goto(&mut self, target: &Target) {
        match target {
            Target::Step(i) => {
                let Some((flow, _)) = self.current() else {
                    return;
                };
                if let Some(frame) = self.state.stack.last_mut() {
                    frame.step = flow.steps[*i].id.clone();
                    frame.wait = Wait::Running;
                }
            }
            Target::Flow(id) => {
                self.state.stack.pop();
                self.start(id);
            }
        }
    }

    /// Moves on after a step; no target ends the flow as resolved and resumes its caller.
    fn follow(&mut self, target: Option<Target>) {
        match target {
            Some(t) => self.goto(&t),
            None => self.finish(Outcome::Resolved),
        }
    }

    fn finish(&mut self, outcome: Outcome) {
        self.end_top(outcome);
        let Some((flow, idx)) = self.current() else {
            return;
        };
        match self.state.stack.last().map(|f| f.wait) {
            Some(Wait::Callee) => {
                self.set_wait(Wait::Running);
                self.follow(flow.steps[idx].next.clone());
            }
            Some(Wait::Answer) => {
                // A question another flow interrupted: back to it.
                if let StepKind::Ask { template, .. } = &flow.steps[idx].kind {
                    self.say(RESUME_TEMPLATE);
                    self.say(template);
                }
            }
            _ => {}
        }
    }

    fn guard(&mut self, reason: String) {
        self.effects.push(Effect::Guard { reason });
        self.end_all(Outcome::Abandoned);
        self.start(HANDOFF_FLOW);
        self.steps = 0;
        self.state.visits.clear();
    }

    /// Runs steps until the flow waits or the stack is empty.
    fn run(&mut self) {
        let mut guarded = false;
        while let Some(frame) = self.state.stack.last() {
            if frame.wait != Wait::Running {
                return;
            }
            let Some((flow, idx)) = self.current() else {
                self.end_top(Outcome::Abandoned); // the flow or step vanished in a reload
                continue;
            };
            let step = &flow.steps[idx];
            self.steps += 1;
            let visits = self.state.visits.entry(format!("{}/{}", flow.id, step.id)).or_default();
            *visits += 1;
            let runaway = if self.steps > MAX_STEPS_PER_TURN {
                Some(format!(
                    "flow {:?} ran more than {MAX_STEPS_PER_TURN} steps in one turn (at step {:?})",
                    flow.id, step.id
                ))
            } else if *visits > MAX_VISITS_PER_STEP {
                Some(format!(
                    "step {:?} of flow {:?} was repeated more than {MAX_VISITS_PER_STEP} times",
                    step.id, flow.id
                ))
            } else {
                None
            };
            if let Some(reason) = runaway {
                if guarded || flow.id == HANDOFF_FLOW {
                    self.end_all(Outcome::Abandoned);
                    return;
                }
                guarded = true;
                self.guard(reason);
                continue;
            }
            self.execute(step);
        }
    }

    fn execute(&mut self, step: &'f Step) {
        if let (Some(say), false) = (&step.say, matches!(step.kind, StepKind::Ask { .. })) {
            self.say(say);
        }
        match &step.kind {
            StepKind::Say => self.follow(step.next.clone()),
            StepKind::Ask { template, .. } => {
                if let Some(say) = &step.say {
                    self.say(say);
                }
                self.say(template);
                self.set_wait(Wait::Answer);
            }
            StepKind::Action { name, args, .. } => {
                let args = args.iter().map(|(k, v)| (k.clone(), self.resolve(v))).collect();
                self.effects.push(Effect::RunAction { name: name.clone(), args });
                self.set_wait(Wait::Action);
            }
            StepKind::Branch { cases, otherwise } => {
                let target = cases.iter().find(|(c, _)| self.holds(c)).map_or(otherwise, |(_, t)| t).clone();
                self.goto(&target);
            }
            StepKind::Set(values) => {
                for (k, v) in values {
                    let value = serde_json::Value::String(self.resolve(v));
                    self.state.slots.insert(k.clone(), value);
                }
                self.follow(step.next.clone());
            }
            StepKind::Call { flow: callee } => {
                self.set_wait(Wait::Callee);
                self.start(callee);
            }
            StepKind::Handoff(ticket) => {
                self.effects.push(Effect::Handoff(ticket.clone()));
                self.end_all(Outcome::HandedOff);
            }
            StepKind::Report(ticket) => {
                self.effects.push(Effect::Report(ticket.clone()));
                self.end_all(Outcome::Resolved);
            }
            StepKind::End(outcome) => self.finish(*outcome),
        }
    }

    /// `$slot` reads a slot; anything else is literal.
    fn resolve(&self, value: &str) -> String {
        match value.strip_prefix('$') {
            Some(slot) => self.slot_text(slot).unwrap_or_default(),
            None => value.to_owned(),
        }
    }

    fn slot_text(&self, name: &str) -> Option<String> {
        if name == "_misses" {
            return Some(self.state.misses.to_string());
        }
        match self.state.slots.get(name)? {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Null => None,
            other => Some(other.to_string()),
        }
    }

    fn holds(&self, c: &Condition) -> bool {
        let value = self.slot_text(&c.slot).filter(|v| !v.is_empty());
        if let Some(want) = &c.equals {
            return value.is_some_and(|v| v.eq_ignore_ascii_case(want));
        }
        if let Some(set) = c.is_set {
            return value.is_some() == set;
        }
        if let Some(min) = c.at_least {
            return value.and_then(|v| v.parse::<f64>().ok()).is_some_and(|v| v >= min as f64);
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flows::load::load_sources;
    use crate::templates::{TemplateCatalog, TemplateStatus};
    use std::path::PathBuf;

    struct AnyTemplate;
    impl TemplateCatalog for AnyTemplate {
        fn status(&self, _: &str) -> TemplateStatus {
            TemplateStatus::Found
        }
    }

    const INTENTS: &str = "intents:\n  - id: human\n    global: true\n    patterns: ['agent']\n  - id: menu\n    patterns: ['^hi$']\n  - id: order\n    patterns: ['order']\n";

    /// The test flows (menu, order, human_handoff) beside intents file `intents`.
    fn sources(intents: String) -> Vec<(PathBuf, String)> {
        vec![
            (PathBuf::from("intents.yaml"), intents),
            (PathBuf::from("menu.yaml"), "id: menu\ntriggers: { intents: [menu] }\nsteps:\n  - id: offer\n    ask: menu/offer\n    expect:\n      - options: ['1']\n        flow: order\n".into()),
            (PathBuf::from("order.yaml"), "id: order\ntriggers: { intents: [order] }\nsteps:\n  - id: ask\n    ask: order/ask\n    expect:\n      - pattern: '^([0-9]+)$'\n        save_as: number\n        next: done\n  - id: done\n    say: order/done\n    end: resolved\n".into()),
            (PathBuf::from("human_handoff.yaml"), "id: human_handoff\ntriggers: { intents: [human] }\nsteps:\n  - id: go\n    handoff: { queue: general, reason: asked }\n".into()),
        ]
    }

    fn flows(extra: &[(&str, &str)]) -> FlowSet {
        let mut sources = sources(INTENTS.to_owned());
        for (name, text) in extra {
            sources.push((PathBuf::from(*name), (*text).to_owned()));
        }
        load_sources(&sources, &AnyTemplate, &[]).expect("test flows load")
    }

    /// The flows of [`flows`] plus a `pay` intent the classifier learns from examples (no
    /// patterns), with thresholds `confident` / `unsure`.
    fn learned(confident: f32, unsure: f32) -> FlowSet {
        let intents = format!("understanding: {{ confident: {confident}, unsure: {unsure} }}\n{INTENTS}  - id: pay\n");
        let examples = "locale: en\nexamples:\n  order:\n    - where is my package\n    - is my stuff ready yet\n    - when does it get here\n    - has it shipped\n  pay:\n    - my card was declined\n    - the payment failed\n    - card did not work at checkout\n    - it would not take my card\n  human:\n    - let me talk to someone\n  menu:\n    - hello there\n";
        let mut sources = sources(intents);
        sources.push((PathBuf::from("intents.en.yaml"), examples.to_owned()));
        let pay = "id: pay\ntriggers: { intents: [pay] }\nsteps:\n  - id: ok\n    say: pay/ok\n    end: resolved\n";
        sources.push((PathBuf::from("pay.yaml"), pay.to_owned()));
        load_sources(&sources, &AnyTemplate, &[]).expect("test flows load")
    }

    #[test]
    fn an_unsure_reading_asks_which_and_a_number_picks_the_flow() {
        let set = learned(0.99, 0.05);
        let turn = step(&set, State::default(), Input::Text("card trouble, is my package ready"), 0);
        assert_eq!(says(&turn), [CLARIFY_TEMPLATE], "{:?}", turn.effects);
        assert!(turn.effects.iter().any(|e| matches!(e, Effect::Unsure { guesses } if guesses.len() >= 2)));
        let offered = turn.state.offered.clone();
        assert!(offered.contains(&"pay".to_owned()) && offered.contains(&"order".to_owned()), "{offered:?}");
        let second = &offered[1];
        let turn = step(&set, turn.state, Input::Text("2"), 0);
        let want = if second == "pay" { "pay/ok" } else { "order/ask" };
        assert_eq!(says(&turn), [want]);
        assert!(turn.state.offered.is_empty() && !turn.state.slots.contains_key(CHOICES_SLOT));
    }

    #[test]
    fn a_confident_other_question_mid_flow_runs_and_the_open_question_is_asked_again() {
        let set = learned(0.5, 0.3);
        let turn = step(&set, State::default(), Input::Text("order"), 0);
        assert_eq!(says(&turn), ["order/ask"]);
        let turn = step(&set, turn.state, Input::Text("my card was declined"), 0);
        assert_eq!(says(&turn), ["pay/ok", RESUME_TEMPLATE, "order/ask"], "{:?}", turn.effects);
        assert!(turn.effects.contains(&Effect::FlowEnded { flow: "pay".into(), outcome: Outcome::Resolved }));
        assert_eq!((turn.state.flow_id(), turn.state.step_id()), (Some("order"), Some("ask")));
        let turn = step(&set, turn.state, Input::Text("1234"), 0);
        assert_eq!(says(&turn), ["order/done"], "the resumed question takes its answer");
    }

    fn says(turn: &Turn) -> Vec<&str> {
        turn.effects
            .iter()
            .filter_map(|e| if let Effect::Say { template } = e { Some(template.as_str()) } else { None })
            .collect()
    }

    #[test]
    fn a_customer_who_restarts_many_times_is_never_taken_for_a_loop() {
        let set = flows(&[]);
        let mut state = State::default();
        for _ in 0..20 {
            for text in ["hi", "1"] {
                let turn = step(&set, state, Input::Text(text), 0);
                assert!(
                    !turn.effects.iter().any(|e| matches!(e, Effect::Guard { .. } | Effect::Handoff(_))),
                    "{:?}",
                    turn.effects
                );
                state = turn.state;
            }
        }
    }

    #[test]
    fn an_answer_is_saved_and_the_flow_ends_resolved() {
        let set = flows(&[]);
        let turn = step(&set, State::default(), Input::Text("where is my order"), 0);
        assert_eq!(says(&turn), ["order/ask"]);
        let turn = step(&set, turn.state, Input::Text("1234"), 0);
        assert_eq!(says(&turn), ["order/done"]);
        assert_eq!(turn.state.slots["number"], "1234");
        assert!(turn.effects.contains(&Effect::FlowEnded { flow: "order".into(), outcome: Outcome::Resolved }));
        assert!(turn.state.stack.is_empty());
    }

    #[test]
    fn a_global_intent_interrupts_a_question() {
        let set = flows(&[]);
        let turn = step(&set, State::default(), Input::Text("order"), 0);
        let turn = step(&set, turn.state, Input::Text("agent please"), 0);
        assert!(turn.state.stack.is_empty());
        assert!(turn.effects.iter().any(|e| matches!(e, Effect::Handoff(t) if t.queue == "general")));
        assert!(turn.effects.contains(&Effect::FlowEnded { flow: "order".into(), outcome: Outcome::Abandoned }));
    }

    #[test]
    fn an_unfinished_flow_expires_after_its_inactivity_limit() {
        let set = flows(&[]);
        let turn = step(&set, State::default(), Input::Text("order"), 0);
        let hour = 60 * 60_000;
        let turn = step(&set, turn.state, Input::Text("1234"), hour + 1);
        assert!(turn.effects.contains(&Effect::FlowEnded { flow: "order".into(), outcome: Outcome::Abandoned }));
        assert!(says(&turn).is_empty(), "1234 alone starts nothing: {:?}", turn.effects);
    }

    #[test]
    fn a_runaway_loop_is_stopped_by_the_step_guard_and_handed_off() {
        // Checked flows cannot loop without a wait; a flow swapped in by an older check could.
        let mut set = flows(&[]);
        let looping = Flow {
            id: "spin".into(),
            description: String::new(),
            intents: vec!["menu".into()],
            idle_intents: vec![],
            events: vec![],
            tags: vec![],
            expire_after_ms: 60_000,
            resume: true,
            steps: vec![Step {
                id: "a".into(),
                at: (1, 1),
                say: None,
                kind: StepKind::Set(Default::default()),
                next: Some(Target::Step(0)),
            }],
        };
        set.flows.remove("menu");
        set.flows.insert("spin".into(), looping);
        let turn = step(&set, State::default(), Input::Text("hi"), 0);
        assert!(turn.effects.iter().any(|e| matches!(e, Effect::Guard { .. })), "{:?}", turn.effects);
        assert!(turn.effects.iter().any(|e| matches!(e, Effect::Handoff(_))));
    }
}
