//! `leafdesk intents …`: what the bot makes of a message (classify), how well it understands
//! (eval: cross-validation and the held-out file, against the floors in `intents.yaml`), and
//! the review inbox of messages it was unsure about (review, `--add-to` an intent's examples).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context as _};
use clap::Subcommand;
use serde_json::json;

use crate::flows::model::FlowSet;
use crate::settings::Settings;
use crate::store::misreads;
use crate::understanding::eval::{self, Report};
use crate::understanding::{features, Understanding};

#[derive(Subcommand)]
pub enum IntentsCommand {
    /// What the bot makes of TEXT: the top three intents, the entities, the language, and
    /// whether a rule or the model decided (JSON).
    Classify {
        text: String,
        /// The language to assume when the text is too short to tell.
        #[arg(long)]
        locale: Option<String>,
    },
    /// Precision, recall and F1 per intent and a confusion matrix: k-fold cross-validation on
    /// the examples, then the held-out file. Exits non-zero under the floors in intents.yaml.
    Eval {
        #[arg(long, default_value_t = 5)]
        folds: usize,
        /// The held-out file [default: FLOWS_DIR/tests/nlu_holdout.yaml]
        #[arg(long)]
        holdout: Option<PathBuf>,
        /// `text` (tables) or `json`.
        #[arg(long, default_value = "text")]
        format: String,
    },
    /// Messages the bot was unsure about or did not understand, most frequent first; with ID
    /// and --add-to, that message becomes an example of INTENT (and its group is closed).
    Review {
        /// A message's id (a unique prefix will do), to act on.
        id: Option<String>,
        #[arg(long, value_name = "INTENT")]
        add_to: Option<String>,
        /// Close the message's group without adding it anywhere.
        #[arg(long)]
        dismiss: bool,
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
}

pub async fn run(cmd: IntentsCommand, settings: &Settings) -> anyhow::Result<ExitCode> {
    let assets = super::load_assets(settings)?;
    let flows = &assets.flows;
    match cmd {
        IntentsCommand::Classify { text, locale } => {
            println!("{}", serde_json::to_string_pretty(&classify(flows, &text, locale.as_deref()))?);
            Ok(ExitCode::SUCCESS)
        }
        IntentsCommand::Eval { folds, holdout, format } => {
            let holdout = holdout.unwrap_or_else(|| settings.flows_dir.join("tests/nlu_holdout.yaml"));
            evaluate(flows, folds, &holdout, &format)
        }
        IntentsCommand::Review { id, add_to, dismiss, limit } => {
            let store = super::connect(settings).await?;
            match id {
                None => list(&store, limit).await?,
                Some(id) => review(&store, settings, flows, &id, add_to.as_deref(), dismiss).await?,
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The decision for one message, as `classify` prints it.
pub fn classify(flows: &FlowSet, text: &str, locale: Option<&str>) -> serde_json::Value {
    let model = &flows.understanding;
    let reading = model.read(text);
    let decision = flows.decide(model, text, &reading.guesses, false);
    let language = reading
        .language
        .clone()
        .map_or_else(|| json!({ "locale": locale, "confidence": null, "by": "given" }), |l| json!(l));
    json!({
        "text": text,
        "intent": decision.intent(),
        "decided_by": decision.by(),
        "top": reading.guesses,
        "entities": reading.entities,
        "language": language,
    })
}

fn decider(flows: &FlowSet) -> impl Fn(&Understanding, &str) -> Option<String> + '_ {
    move |model: &Understanding, text: &str| {
        let guesses = model.rank(text);
        flows.decide(model, text, &guesses, false).intent().map(str::to_owned)
    }
}

fn evaluate(flows: &FlowSet, folds: usize, holdout: &Path, format: &str) -> anyhow::Result<ExitCode> {
    let model = &flows.understanding;
    let decide = decider(flows);
    let cv = Report::of(&eval::cross_validate(model.examples(), &model.config, folds, &decide));
    let text = std::fs::read_to_string(holdout)
        .with_context(|| format!("reading the held-out file {} (pass --holdout FILE)", holdout.display()))?;
    let messages = eval::read_holdout(&text).map_err(|e| anyhow::anyhow!("{}: {e}", holdout.display()))?;
    let held = Report::of(&eval::held_out(model, &messages, &decide));
    let floors = [
        ("cross-validation", cv.macro_f1, flows.floors.cross_validation_macro_f1),
        ("held-out", held.macro_f1, flows.floors.holdout_macro_f1),
    ];
    if format == "json" {
        println!("{}", serde_json::to_string_pretty(&json!({ "cross_validation": cv, "holdout": held }))?);
    } else {
        println!("{}", table(&format!("Cross-validation ({folds} folds, {} examples)", model.examples().len()), &cv));
        println!("{}", table(&format!("Held-out ({}, {} messages)", holdout.display(), messages.len()), &held));
    }
    let mut failed = false;
    for (name, score, floor) in floors {
        if let Some(floor) = floor.filter(|f| score < *f) {
            eprintln!(
                "{name} macro F1 {score:.3} is under the floor {floor:.3} (flows/intents.yaml understanding.floors)"
            );
            failed = true;
        }
    }
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

/// Scores per intent, then the confusion matrix (rows: expected; columns: decided), then the
/// misses.
fn table(title: &str, r: &Report) -> String {
    let mut out = format!("{title}\n  macro F1 {:.3}   accuracy {:.3}\n\n", r.macro_f1, r.accuracy);
    let _ = writeln!(out, "  {:<22} {:>9} {:>6} {:>6} {:>7}", "intent", "precision", "recall", "f1", "support");
    for (intent, s) in &r.per_intent {
        let _ = writeln!(out, "  {intent:<22} {:>9.3} {:>6.3} {:>6.3} {:>7}", s.precision, s.recall, s.f1, s.support);
    }
    let mut labels: Vec<&String> = r.confusion.keys().collect();
    for row in r.confusion.values() {
        labels.extend(row.keys());
    }
    labels.sort();
    labels.dedup();
    let short = |l: &str| l.chars().take(5).collect::<String>();
    let _ = write!(out, "\n  confusion (rows expected, columns decided)\n  {:<22}", "");
    for l in &labels {
        let _ = write!(out, " {:>5}", short(l));
    }
    for (expected, row) in &r.confusion {
        let _ = write!(out, "\n  {expected:<22}");
        for l in &labels {
            let n = row.get(*l).copied().unwrap_or(0);
            let _ = write!(out, " {:>5}", if n == 0 { ".".to_owned() } else { n.to_string() });
        }
    }
    out.push_str("\n\n  misses (expected -> decided: message)\n");
    for (expected, predicted, text) in &r.misses {
        let _ = writeln!(out, "  {expected} -> {predicted}: {text}");
    }
    out
}

async fn list(store: &crate::store::Store, limit: i64) -> anyhow::Result<()> {
    let groups = misreads::open(store, limit).await?;
    if groups.is_empty() {
        println!("Nothing to review: every message was understood.");
        return Ok(());
    }
    println!(
        "{:<10} {:>5}  {:<6} {:<15} {:<32} {:<10} message",
        "id", "times", "lang", "decision", "best guesses", "conv."
    );
    for g in groups {
        let guesses: Vec<String> = g
            .guesses
            .as_array()
            .map(|a| {
                a.iter()
                    .take(2)
                    .map(|x| {
                        format!("{} {:.2}", x["intent"].as_str().unwrap_or(""), x["confidence"].as_f64().unwrap_or(0.0))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let tail = |id: &str| id.chars().rev().take(8).collect::<Vec<_>>().into_iter().rev().collect::<String>();
        let (id, conversation) = (tail(&g.misread_id), tail(&g.conversation_id));
        let guesses = guesses.join(", ");
        println!(
            "{id:<10} {:>5}  {:<6} {:<15} {guesses:<32} {conversation:<10} {}",
            g.count, g.locale, g.decision, g.body
        );
    }
    println!("\nAdd one as an example: leafdesk intents review ID --add-to INTENT (or --dismiss)");
    Ok(())
}

async fn review(
    store: &crate::store::Store,
    settings: &Settings,
    flows: &FlowSet,
    id: &str,
    add_to: Option<&str>,
    dismiss: bool,
) -> anyhow::Result<()> {
    let groups = misreads::open(store, 10_000).await?;
    let found: Vec<_> = groups.iter().filter(|g| g.misread_id.ends_with(id) || g.misread_id.starts_with(id)).collect();
    let group = match found.as_slice() {
        [one] => *one,
        [] => bail!("no open message to review has id {id:?} (leafdesk intents review lists them)"),
        _ => bail!("{} messages match {id:?}; give more of the id", found.len()),
    };
    let now = settings.clock().now_ms();
    match (add_to, dismiss) {
        (Some(intent), false) => {
            if !flows.intents.iter().any(|i| i.id == intent) {
                bail!("unknown intent {intent:?} (intents are defined in flows/intents.yaml)");
            }
            let file = settings.flows_dir.join(format!("intents.{}.yaml", group.locale));
            add_example(&file, intent, &group.body)?;
            crate::flows::load_assets(&settings.flows_dir, &settings.templates_dir, crate::actions::NAMES).map_err(
                |d| {
                    anyhow::anyhow!(
                        "{} no longer checks: {}",
                        file.display(),
                        d.first().map(ToString::to_string).unwrap_or_default()
                    )
                },
            )?;
            let closed = misreads::close(store, &group.misread_id, Some(intent), now).await?;
            println!("Added {:?} to {intent} in {} ({closed} message(s) reviewed).", group.body, file.display());
            println!("The model learns it when the flows are next loaded (a running server reloads by itself).");
        }
        (None, true) => {
            let closed = misreads::close(store, &group.misread_id, None, now).await?;
            println!("Dismissed {closed} message(s).");
        }
        _ => bail!("say what to do with it: --add-to INTENT or --dismiss"),
    }
    Ok(())
}

/// Appends `text` to `intent`'s examples in `file` (creating the list, or the file, if need
/// be), as one double-quoted line; an example already there is refused.
fn add_example(file: &Path, intent: &str, text: &str) -> anyhow::Result<()> {
    let locale = file.file_stem().and_then(|s| s.to_str()).and_then(|s| s.strip_prefix("intents.")).unwrap_or("en");
    let original = std::fs::read_to_string(file).unwrap_or_else(|_| format!("locale: {locale}\nexamples:\n"));
    let wanted = features::normalize(text);
    let item = format!("    - {}", serde_json::to_string(text)?);
    let mut lines: Vec<String> = original.lines().map(str::to_owned).collect();
    if lines.iter().any(|l| l.trim_start().strip_prefix("- ").is_some_and(|e| features::normalize(e) == wanted)) {
        bail!("{:?} is already an example in {}", text, file.display());
    }
    let keys = [format!("  {intent}:"), format!("  \"{intent}\":")];
    match lines.iter().position(|l| keys.iter().any(|k| l.trim_end() == k)) {
        Some(at) => {
            let end = lines[at + 1..].iter().position(|l| !l.starts_with("    ")).map_or(lines.len(), |n| at + 1 + n);
            lines.insert(end, item);
        }
        None => {
            lines.push(format!("  \"{intent}\":"));
            lines.push(item);
        }
    }
    std::fs::write(file, lines.join("\n") + "\n").with_context(|| format!("writing {}", file.display()))
}
