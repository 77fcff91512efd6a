//! Checking parsed flow files: the [`FlowFiles`] `load` read in, a [`FlowSet`] the engine can
//! run out, or every problem as `file:line:col: reason`.
//!
//! Owns every rule `leafdesk flows check` enforces on well-formed YAML: unknown step, template,
//! action, intent, event, tag or flow; a bad regex; an id used twice; a step that does two
//! things, carries another kind's field or leads nowhere; an unreachable step; a loop with no
//! wait. It reads no files (that is `load`); the server runs both at start and on every reload.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;

use regex::{Regex, RegexBuilder};
use serde_saphyr::Spanned;

use super::file::*;
use super::model::*;
use crate::diagnostic::Diagnostic;
use crate::domain::staff::Role;
use crate::templates::{TemplateCatalog, TemplateStatus};
use crate::understanding::{self, Understanding};
use std::sync::Arc;

/// Default minutes before an unfinished flow run is abandoned.
const DEFAULT_EXPIRE_MINUTES: u32 = 60;

struct Ctx<'a> {
    diags: Vec<Diagnostic>,
    file: PathBuf,
    templates: &'a dyn TemplateCatalog,
    actions: &'a [&'a str],
    intent_ids: HashSet<String>,
    flow_ids: HashSet<String>,
    /// The CRM taxonomy, when `tags.yaml` exists.
    tags: Option<HashSet<String>>,
    /// The CSR queues, when `queues.yaml` exists.
    queues: Option<HashSet<String>>,
}

impl Ctx<'_> {
    fn error<T>(&mut self, at: &Spanned<T>, message: impl Into<String>) {
        self.diags.push(Diagnostic {
            file: self.file.clone(),
            line: at.referenced.line(),
            column: at.referenced.column(),
            message: message.into(),
        });
    }

    fn template(&mut self, name: &Spanned<String>) {
        match self.templates.status(&name.value) {
            TemplateStatus::Found => {}
            TemplateStatus::MissingEnglish => {
                let msg = format!(
                    "template {:?} has no en version (add templates/messages/en/{}.hbs)",
                    name.value, name.value
                );
                self.error(name, msg)
            }
            TemplateStatus::Unknown => {
                let msg =
                    format!("unknown template {:?} (expected templates/messages/en/{}.hbs)", name.value, name.value);
                self.error(name, msg)
            }
        }
    }

    fn tag<T>(&mut self, at: &Spanned<T>, tag: &str) {
        if self.tags.as_ref().is_some_and(|known| !known.contains(tag)) {
            self.error(at, format!("unknown tag {tag:?} (tags are defined in flows/tags.yaml)"));
        }
    }

    fn intent(&mut self, name: &Spanned<String>) {
        if !self.intent_ids.contains(&name.value) {
            let msg = format!("unknown intent {:?} (intents are defined in flows/intents.yaml)", name.value);
            self.error(name, msg);
        }
    }

    fn regex(&mut self, pattern: &Spanned<String>) -> Option<Regex> {
        match RegexBuilder::new(&pattern.value).case_insensitive(true).build() {
            Ok(re) => Some(re),
            Err(e) => {
                let first = e.to_string().lines().last().unwrap_or_default().trim().to_owned();
                self.error(pattern, format!("invalid regex {:?}: {first}", pattern.value));
                None
            }
        }
    }
}

/// Checks every flow and intent of a parsed folder against each other, the templates and the
/// actions.
///
/// # Errors
/// Every problem found, in the order found (`load` sorts them with its own by place).
pub fn check_set(
    files: FlowFiles,
    templates: &dyn TemplateCatalog,
    actions: &[&str],
) -> Result<FlowSet, Vec<Diagnostic>> {
    let FlowFiles { intents: (intents_path, mut intents_file), tags, queues: queues_file, examples, flows: flow_files } =
        files;
    let tag_list: Vec<String> = tags.iter().flat_map(|f| f.tags.iter().map(|t| t.value.clone())).collect();
    let mut ctx = Ctx {
        diags: Vec::new(),
        file: intents_path.clone(),
        templates,
        actions,
        intent_ids: HashSet::new(),
        flow_ids: flow_files.iter().map(|(_, f)| f.id.value.clone()).collect(),
        tags: tags.map(|file| file.tags.into_iter().map(|t| t.value).collect()),
        queues: queues_file.as_ref().map(|(_, f)| f.queues.iter().map(|q| q.id.value.clone()).collect()),
    };
    let queues = match queues_file {
        Some((path, file)) => {
            ctx.file = path;
            check_queues(&mut ctx, file)
        }
        None => Vec::new(),
    };
    ctx.file.clone_from(&intents_path);
    let understanding_file = std::mem::take(&mut intents_file.understanding);
    let intents = check_intents(&mut ctx, intents_file);
    let (understanding, floors, warnings) =
        check_examples(&mut ctx, &intents_path, understanding_file, &intents, examples);
    let mut flows = HashMap::new();
    for (path, file) in flow_files {
        ctx.file = path.clone();
        if let Some(flow) = check_flow(&mut ctx, file) {
            if flows.contains_key(&flow.id) {
                ctx.diags.push(Diagnostic {
                    file: path,
                    line: 1,
                    column: 1,
                    message: format!("flow id {:?} is used twice", flow.id),
                });
            } else {
                flows.insert(flow.id.clone(), (path, flow));
            }
        }
    }
    check_loops(&mut ctx, &flows);
    if ctx.diags.is_empty() {
        Ok(FlowSet {
            flows: flows.into_iter().map(|(id, (_, f))| (id, f)).collect(),
            intents,
            tags: tag_list,
            queues,
            understanding,
            warnings,
            floors,
        })
    } else {
        Err(ctx.diags)
    }
}

fn check_queues(ctx: &mut Ctx, file: QueuesFile) -> Vec<Queue> {
    let mut seen = HashSet::new();
    let mut queues = Vec::new();
    for q in file.queues {
        if !seen.insert(q.id.value.clone()) {
            let msg = format!("queue {:?} is defined twice", q.id.value);
            ctx.error(&q.id, msg);
        }
        let mut roles = Vec::new();
        for role in &q.roles {
            match Role::parse(&role.value) {
                Some(r) => roles.push(r),
                None => {
                    let msg = format!("unknown role {:?} (roles: {})", role.value, Role::CODES.join(", "));
                    ctx.error(role, msg);
                }
            }
        }
        queues.push(Queue { id: q.id.value, name: q.name, roles, sla_minutes: q.sla_minutes });
    }
    queues
}

fn check_intents(ctx: &mut Ctx, file: IntentsFile) -> Vec<Intent> {
    let mut intents = Vec::new();
    for intent in file.intents {
        if !ctx.intent_ids.insert(intent.id.value.clone()) {
            let msg = format!("intent {:?} is defined twice", intent.id.value);
            ctx.error(&intent.id, msg);
        }
        let patterns = intent.patterns.iter().filter_map(|p| ctx.regex(p)).collect();
        let at = (intent.id.referenced.line(), intent.id.referenced.column());
        intents.push(Intent { id: intent.id.value, global: intent.global, patterns, at });
    }
    intents
}

/// The classifier's settings and examples: every intent has examples, every example names a
/// known intent in a known language, none is written twice; then the model is trained.
/// Returns it, the eval floors, and warnings (too few examples, one example in two intents).
fn check_examples(
    ctx: &mut Ctx,
    intents_path: &std::path::Path,
    file: UnderstandingFile,
    intents: &[Intent],
    files: Vec<(PathBuf, ExamplesFile)>,
) -> (Arc<Understanding>, Floors, Vec<Diagnostic>) {
    let mut config = understanding::Config::default();
    config.confident = file.confident.unwrap_or(config.confident);
    config.unsure = file.unsure.unwrap_or(config.unsure);
    config.order_number = file.order_number.as_ref().and_then(|p| ctx.regex(p));
    let mut warnings = Vec::new();
    let mut examples = Vec::new();
    // Normalized text → (intent, locale, file, line) of each place it was seen.
    let mut seen: HashMap<String, Vec<(String, String, PathBuf, u64)>> = HashMap::new();
    for (path, f) in files {
        ctx.file = path.clone();
        let locale = f.locale.value.clone();
        if !crate::templates::LOCALES.contains(&locale.as_str()) {
            let msg = format!("unknown locale {locale:?} (templates have {})", crate::templates::LOCALES.join(", "));
            ctx.error(&f.locale, msg);
        }
        for (intent, texts) in f.examples {
            let Some(first) = texts.first() else { continue };
            if !intents.iter().any(|i| i.id == intent) {
                let msg = format!("examples for unknown intent {intent:?} (intents are defined in flows/intents.yaml)");
                ctx.error(first, msg);
                continue;
            }
            let min = file.min_examples.get(&locale).copied().unwrap_or(0);
            if texts.len() < min {
                let message =
                    format!("intent {intent:?} has {} {locale} examples; at least {min} keep it reliable", texts.len());
                warnings.push(Diagnostic { file: path.clone(), line: first.referenced.line(), column: 1, message });
            }
            for text in texts {
                let key = understanding::features::normalize(&text.value);
                let line = text.referenced.line();
                let earlier = seen.get(&key).and_then(|all| {
                    // The same words in the same intent and language; else in another intent.
                    all.iter()
                        .find(|(i, l, ..)| *i == intent && *l == locale)
                        .or_else(|| all.iter().find(|(i, ..)| *i != intent))
                });
                match earlier {
                    Some((other, _, at, at_line)) if *other == intent => {
                        let msg =
                            format!("example {:?} is written twice (also {}:{at_line})", text.value, at.display());
                        ctx.error(&text, msg);
                    }
                    Some((other, _, at, at_line)) => {
                        let message = format!(
                            "example {:?} is also an example of {other:?} ({}:{at_line}); the model cannot tell them apart",
                            text.value,
                            at.display()
                        );
                        warnings.push(Diagnostic {
                            file: path.clone(),
                            line,
                            column: text.referenced.column(),
                            message,
                        });
                    }
                    None => {
                        seen.entry(key).or_default().push((intent.clone(), locale.clone(), path.clone(), line));
                        examples.push(understanding::Example {
                            intent: intent.clone(),
                            locale: locale.clone(),
                            text: text.value,
                        });
                    }
                }
            }
        }
    }
    ctx.file = intents_path.to_owned();
    for intent in intents {
        if !examples.is_empty() && !examples.iter().any(|e| e.intent == intent.id) {
            let msg = format!(
                "intent {:?} has no examples (add some under examples: in flows/intents.<locale>.yaml)",
                intent.id
            );
            ctx.diags.push(Diagnostic {
                file: intents_path.to_owned(),
                line: intent.at.0,
                column: intent.at.1,
                message: msg,
            });
        }
    }
    let floors = Floors {
        holdout_macro_f1: file.floors.holdout_macro_f1,
        cross_validation_macro_f1: file.floors.cross_validation_macro_f1,
    };
    (Understanding::trained(&examples, config), floors, warnings)
}

fn check_flow(ctx: &mut Ctx, file: FlowFile) -> Option<Flow> {
    for intent in file.triggers.intents.iter().chain(&file.triggers.when_idle) {
        ctx.intent(intent);
    }
    for event in &file.triggers.events {
        if !KNOWN_EVENTS.contains(&event.value.as_str()) && !OWN_EVENTS.contains(&event.value.as_str()) {
            let known = KNOWN_EVENTS.iter().chain(OWN_EVENTS).copied().collect::<Vec<_>>().join(", ");
            let msg = format!("unknown event {:?} (known: {known})", event.value);
            ctx.error(event, msg);
        }
    }
    for tag in &file.tags {
        ctx.tag(tag, &tag.value);
    }
    if file.steps.is_empty() {
        ctx.error(&file.id, format!("flow {:?} has no steps", file.id.value));
        return None;
    }
    let mut index: HashMap<String, usize> = HashMap::new();
    for (i, step) in file.steps.iter().enumerate() {
        if index.insert(step.id.value.clone(), i).is_some() {
            let msg = format!("step id {:?} is used twice in this flow", step.id.value);
            ctx.error(&step.id, msg);
        }
    }
    let count = file.steps.len();
    let before = ctx.diags.len();
    let steps: Vec<Step> = file
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| check_step(ctx, s, &index, (i + 1 < count).then_some(i + 1)))
        .collect();
    if ctx.diags.len() > before {
        // A broken step stands in for its missing targets; the graph checks would report
        // loops and unreachable steps that are not there. They run once the steps are right.
        return None;
    }
    check_reachable(ctx, &file, &steps);
    Some(Flow {
        id: file.id.value,
        description: file.description,
        intents: file.triggers.intents.into_iter().map(|s| s.value).collect(),
        idle_intents: file.triggers.when_idle.into_iter().map(|s| s.value).collect(),
        events: file.triggers.events.into_iter().map(|s| s.value).collect(),
        tags: file.tags.into_iter().map(|t| t.value).collect(),
        expire_after_ms: i64::from(file.expire_after_minutes.unwrap_or(DEFAULT_EXPIRE_MINUTES)) * 60_000,
        resume: file.resume.unwrap_or(true),
        steps,
    })
}

/// Resolves a `next` / `flow` pair into a target, reporting both given or an unknown step or flow.
fn target(
    ctx: &mut Ctx,
    index: &HashMap<String, usize>,
    next: Option<&Spanned<String>>,
    flow: Option<&Spanned<String>>,
) -> Option<Target> {
    match (next, flow) {
        (Some(_), Some(f)) => {
            ctx.error(f, "say either next (a step) or flow (another flow), not both");
            None
        }
        (Some(n), None) => match index.get(&n.value) {
            Some(i) => Some(Target::Step(*i)),
            None => {
                let msg = format!("unknown step {:?} in this flow", n.value);
                ctx.error(n, msg);
                None
            }
        },
        (None, Some(f)) => {
            if !ctx.flow_ids.contains(&f.value) {
                let msg = format!("unknown flow {:?}", f.value);
                ctx.error(f, msg);
            }
            Some(Target::Flow(f.value.clone()))
        }
        (None, None) => None,
    }
}

fn step_target(ctx: &mut Ctx, index: &HashMap<String, usize>, name: &Spanned<String>) -> Option<Target> {
    target(ctx, index, Some(name), None)
}

fn check_step(ctx: &mut Ctx, s: &StepFile, index: &HashMap<String, usize>, fallthrough: Option<usize>) -> Step {
    let kind_name = s.kind.name();
    if !s.extra_kinds.is_empty() {
        let kinds: Vec<&str> = std::iter::once(kind_name).chain(s.extra_kinds.iter().copied()).collect();
        let msg = format!("step {:?} is both {}; a step does one thing", s.id.value, kinds.join(" and "));
        ctx.error(&s.id, msg);
    }
    for field in &s.stray_fields {
        let article = if kind_name.starts_with(['a', 'e', 'i', 'o', 'u']) { "an" } else { "a" };
        ctx.error(&s.id, format!("{field} does not belong on {article} {kind_name} step"));
    }
    if let Some(say) = &s.say {
        ctx.template(say);
    }
    let explicit = target(ctx, index, s.next.as_ref(), s.flow.as_ref());
    let next = explicit.clone().or(fallthrough.map(Target::Step));
    let kind = match &s.kind {
        StepFileKind::Say => StepKind::Say,
        StepFileKind::Ask(ask) => check_ask(ctx, &s.id, ask, index),
        StepFileKind::Action(action) => check_action(ctx, action, index),
        StepFileKind::Branch(branch) => check_branch(ctx, &s.id, branch, index),
        StepFileKind::Set(slots) => StepKind::Set(slots.clone()),
        StepFileKind::Call(flow) => {
            if !ctx.flow_ids.contains(&flow.value) {
                let msg = format!("unknown flow {:?}", flow.value);
                ctx.error(flow, msg);
            }
            StepKind::Call { flow: flow.value.clone() }
        }
        StepFileKind::Handoff(h) => StepKind::Handoff(check_ticket(ctx, &s.id, kind_name, h)),
        StepFileKind::Report(h) => StepKind::Report(check_ticket(ctx, &s.id, kind_name, h)),
        StepFileKind::End(raw) => StepKind::End(Outcome::parse(&raw.value).unwrap_or_else(|| {
            let msg = format!("unknown outcome {:?} (use resolved, abandoned, handed_off or misunderstood)", raw.value);
            ctx.error(raw, msg);
            Outcome::Resolved
        })),
    };
    let needs_next = matches!(kind, StepKind::Say | StepKind::Set(_) | StepKind::Call { .. });
    let gave_target = s.next.is_some() || s.flow.is_some();
    if needs_next && next.is_none() && !gave_target {
        let msg = format!("step {:?} is the last step and says nowhere to go: add next, flow or end", s.id.value);
        ctx.error(&s.id, msg);
    }
    let next = if matches!(
        kind,
        StepKind::Ask { .. } | StepKind::Branch { .. } | StepKind::End(_) | StepKind::Handoff(_) | StepKind::Report(_)
    ) {
        explicit
    } else {
        next
    };
    Step {
        id: s.id.value.clone(),
        at: (s.id.referenced.line(), s.id.referenced.column()),
        say: s.say.as_ref().map(|t| t.value.clone()),
        kind,
        next,
    }
}

/// The ticket of a `handoff` or `report` step (`kind` names which, for the message).
fn check_ticket(ctx: &mut Ctx, id: &Spanned<String>, kind: &str, h: &HandoffFile) -> Ticket {
    if h.queue.trim().is_empty() {
        ctx.error(id, format!("{kind} needs a queue"));
    } else if ctx.queues.as_ref().is_some_and(|known| !known.contains(&h.queue)) {
        ctx.error(id, format!("unknown queue {:?} (queues are defined in flows/queues.yaml)", h.queue));
    }
    for tag in &h.tags {
        ctx.tag(id, tag);
    }
    Ticket { queue: h.queue.clone(), priority: h.priority.clamp(1, 5), tags: h.tags.clone(), reason: h.reason.clone() }
}

fn check_ask(ctx: &mut Ctx, id: &Spanned<String>, ask: &AskFile, index: &HashMap<String, usize>) -> StepKind {
    ctx.template(&ask.template);
    if let Some(r) = &ask.reprompt {
        ctx.template(r);
    }
    if ask.expect.is_empty() {
        ctx.error(id, "an ask step needs at least one expect branch");
    }
    let mut expect = Vec::new();
    for e in &ask.expect {
        let matchers = [e.options.is_some(), e.intent.is_some(), e.pattern.is_some(), e.like.is_some(), e.any]
            .iter()
            .filter(|b| **b)
            .count();
        if matchers != 1 {
            ctx.error(id, "each expect branch needs exactly one of options, intent, pattern, like or any");
            continue;
        }
        let matcher = if let Some(options) = &e.options {
            Matcher::Options(options.iter().map(|o| normalize_answer(o)).collect())
        } else if let Some(intent) = &e.intent {
            ctx.intent(intent);
            Matcher::Intent(intent.value.clone())
        } else if let Some(pattern) = &e.pattern {
            match ctx.regex(pattern) {
                Some(re) => Matcher::Pattern(re),
                None => continue,
            }
        } else if let Some(like) = &e.like {
            Matcher::Like(like.clone())
        } else {
            Matcher::Any
        };
        let Some(target) = target(ctx, index, e.next.as_ref(), e.flow.as_ref()) else {
            if e.next.is_none() && e.flow.is_none() {
                ctx.error(id, "each expect branch needs next (a step) or flow");
            }
            continue;
        };
        expect.push(Expect { matcher, save_as: e.save_as.clone(), value: e.value.clone(), target });
    }
    let fallback = ask.fallback.as_ref().and_then(|f| step_target(ctx, index, f));
    StepKind::Ask {
        template: ask.template.value.clone(),
        expect,
        retries: ask.retries.unwrap_or(1),
        reprompt: ask.reprompt.as_ref().map(|r| r.value.clone()),
        fallback,
    }
}

fn check_action(ctx: &mut Ctx, action: &ActionFile, index: &HashMap<String, usize>) -> StepKind {
    let name = &action.name;
    if !ctx.actions.contains(&name.value.as_str()) {
        let msg = format!("unknown action {:?} (known: {})", name.value, ctx.actions.join(", "));
        ctx.error(name, msg);
    }
    let on = action
        .on
        .iter()
        .filter_map(|(outcome, step)| step_target(ctx, index, step).map(|t| (outcome.clone(), t)))
        .collect();
    StepKind::Action { name: name.value.clone(), args: action.args.clone(), on }
}

fn check_branch(ctx: &mut Ctx, id: &Spanned<String>, branch: &BranchFile, index: &HashMap<String, usize>) -> StepKind {
    let mut cases = Vec::new();
    for case in &branch.cases {
        let c = &case.condition;
        if [c.equals.is_some(), c.is_set.is_some(), c.at_least.is_some()].iter().filter(|b| **b).count() != 1 {
            ctx.error(&case.then, "a condition needs exactly one of equals, is_set or at_least");
        }
        if let Some(t) = step_target(ctx, index, &case.then) {
            cases.push((
                Condition { slot: c.slot.clone(), equals: c.equals.clone(), is_set: c.is_set, at_least: c.at_least },
                t,
            ));
        }
    }
    let otherwise = match &branch.otherwise {
        Some(o) => step_target(ctx, index, o),
        None => {
            ctx.error(id, "a branch step needs else: the step to take when no condition holds");
            None
        }
    };
    StepKind::Branch { cases, otherwise: otherwise.unwrap_or(Target::Step(0)) }
}

/// Steps a step can lead to within its flow.
fn successors(step: &Step) -> Vec<&Target> {
    let mut out: Vec<&Target> = step.next.iter().collect();
    match &step.kind {
        StepKind::Ask { expect, fallback, .. } => {
            out.extend(expect.iter().map(|e| &e.target));
            out.extend(fallback.iter());
        }
        StepKind::Action { on, .. } => out.extend(on.values()),
        StepKind::Branch { cases, otherwise } => {
            out.extend(cases.iter().map(|(_, t)| t));
            out.push(otherwise);
        }
        _ => {}
    }
    out
}

fn check_reachable(ctx: &mut Ctx, file: &FlowFile, steps: &[Step]) {
    let mut seen = vec![false; steps.len()];
    let mut todo = vec![0usize];
    while let Some(i) = todo.pop() {
        if std::mem::replace(&mut seen[i], true) {
            continue;
        }
        for t in successors(&steps[i]) {
            if let Target::Step(j) = t {
                todo.push(*j);
            }
        }
    }
    for (i, reached) in seen.iter().enumerate() {
        if !reached {
            let at = &file.steps[i].id;
            ctx.error(at, format!("step {:?} is unreachable: no step leads to it", at.value));
        }
    }
}

/// A cycle through steps none of which waits for the customer would spin forever (the engine
/// also caps steps per turn, but a flow author should hear of it before a customer does).
fn check_loops(ctx: &mut Ctx, flows: &HashMap<String, (PathBuf, Flow)>) {
    type Node = (String, usize);
    let mut edges: BTreeMap<Node, Vec<Node>> = BTreeMap::new();
    for (id, (_, flow)) in flows {
        for (i, step) in flow.steps.iter().enumerate() {
            if matches!(step.kind, StepKind::Ask { .. }) {
                continue; // waits for the customer: no loop runs through it in one turn
            }
            let mut out = Vec::new();
            for t in successors(step) {
                match t {
                    Target::Step(j) => out.push((id.clone(), *j)),
                    Target::Flow(f) if flows.contains_key(f) => out.push((f.clone(), 0)),
                    Target::Flow(_) => {}
                }
            }
            if let StepKind::Call { flow: callee } = &step.kind {
                if flows.contains_key(callee) {
                    out.push((callee.clone(), 0));
                }
            }
            edges.insert((id.clone(), i), out);
        }
    }
    // Iterative DFS with colours; report each cycle once, at the step that closes it.
    let mut colour: HashMap<Node, u8> = HashMap::new();
    let mut reported = HashSet::new();
    for start in edges.keys() {
        if colour.contains_key(start) {
            continue;
        }
        let mut stack: Vec<(Node, usize)> = vec![(start.clone(), 0)];
        colour.insert(start.clone(), 1);
        while let Some((node, child)) = stack.pop() {
            let next = edges.get(&node).and_then(|e| e.get(child)).cloned();
            let Some(next) = next else {
                colour.insert(node, 2);
                continue;
            };
            stack.push((node.clone(), child + 1));
            match colour.get(&next) {
                None if edges.contains_key(&next) => {
                    colour.insert(next.clone(), 1);
                    stack.push((next, 0));
                }
                Some(1) if reported.insert(next.clone()) => {
                    let (path, flow) = &flows[&node.0];
                    let step = &flow.steps[node.1];
                    let target = &flows[&next.0].1.steps[next.1];
                    ctx.diags.push(Diagnostic {
                        file: path.clone(),
                        line: step.at.0,
                        column: step.at.1,
                        message: format!(
                            "loop with no wait: step {:?} of flow {:?} leads back to {:?} of flow {:?} without an ask step between",
                            step.id, node.0, target.id, next.0
                        ),
                    });
                }
                _ => {}
            }
        }
    }
}
