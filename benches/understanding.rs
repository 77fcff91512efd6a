//! Understanding speed: classification + entity extraction per message (the target:
//! ≤ 50 µs at p99), and training the model from 3,000 examples (≤ 1 s), deterministic.
//!
//! Messages: every shipped training example and held-out message, plus a 1,600-character one,
//! each read the way a turn reads it (`Understanding::read` — top intents, language, order
//! numbers, quantities, pickup times — then `FlowSet::decide`, patterns first).
//!
//! Run: `cargo bench --bench understanding`. Figures go in BENCHMARKS.md.

use std::path::Path;
use std::time::{Duration, Instant};

use leafdesk::understanding::{eval, Example, Understanding};

/// 20 passes over ~1,450 messages: enough samples for a steady p99.
const ROUNDS: usize = 20;
/// The training-time target is for this many examples.
const TRAIN_EXAMPLES: usize = 3_000;

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let assets = leafdesk::flows::load_assets(&root.join("flows"), &root.join("templates"), leafdesk::actions::NAMES)
        .expect("the shipped flows load");
    let flows = &assets.flows;
    let model = &flows.understanding;
    let holdout = std::fs::read_to_string(root.join("flows/tests/nlu_holdout.yaml")).unwrap();
    let mut messages: Vec<String> = model.examples().iter().map(|e| e.text.clone()).collect();
    messages.extend(eval::read_holdout(&holdout).unwrap().into_iter().map(|(_, t)| t));
    messages.push("where is my order LD-1001, I need it tomorrow after 5 ".repeat(30).chars().take(1600).collect());

    let mut samples = Vec::with_capacity(messages.len() * ROUNDS);
    let mut decided = 0usize;
    for _ in 0..ROUNDS {
        for text in &messages {
            let started = Instant::now();
            let reading = model.read(text);
            let decision = flows.decide(model, text, &reading.guesses, false);
            samples.push(started.elapsed());
            decided += usize::from(decision.intent().is_some());
        }
    }
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
    println!(
        "read + decide, {} messages x {ROUNDS}: p50 {:.1} us, p99 {:.1} us, max {:.1} us ({} decided)",
        messages.len(),
        micros(at(0.50)),
        micros(at(0.99)),
        micros(*samples.last().unwrap()),
        decided / ROUNDS
    );

    // Where the time goes, part by part (p99 over the same messages).
    type Part<'a> = (&'a str, Box<dyn Fn(&str) + 'a>);
    let parts: Vec<Part> = vec![
        ("intents", Box::new(|t: &str| drop(model.rank(t)))),
        ("language", Box::new(|t: &str| drop(model.language(t)))),
        ("entities", Box::new(|t: &str| drop(model.entities(t)))),
    ];
    for (name, part) in &parts {
        let mut times: Vec<Duration> = Vec::with_capacity(messages.len() * 5);
        for _ in 0..5 {
            for text in &messages {
                let started = Instant::now();
                part(text);
                times.push(started.elapsed());
            }
        }
        times.sort();
        let p99 = times[times.len() * 99 / 100];
        println!("  {name}: p50 {:.1} us, p99 {:.1} us", micros(times[times.len() / 2]), micros(p99));
    }

    // 3,000 examples: the shipped ones, then variants of them as customers vary words.
    let shipped = model.examples();
    let suffixes = ["", " pls", " rn", " asap", " ??", " thx"];
    let examples: Vec<Example> = (0..TRAIN_EXAMPLES)
        .map(|i| {
            let e = &shipped[i % shipped.len()];
            let suffix = suffixes[(i / shipped.len()) % suffixes.len()];
            Example { text: format!("{}{suffix}", e.text), ..e.clone() }
        })
        .collect();
    let started = Instant::now();
    let a = Understanding::train(&examples, model.config.clone());
    let took = started.elapsed();
    let b = Understanding::train(&examples, model.config.clone());
    let same = messages.iter().all(|m| a.rank(m) == b.rank(m));
    println!(
        "training on {} examples ({} intents): {:.0} ms; trained twice, the same model: {same}",
        examples.len(),
        a.intents().len(),
        took.as_secs_f64() * 1000.0
    );
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}
