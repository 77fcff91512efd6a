//! Flow files: `flows::load::load_sources` on fuzzed YAML, as the server loads it at start
//! and on every reload (YAML parsing, every check, regex compilation, loop detection), and
//! every diagnostic rendered.
//!
//! Input: one selector byte, then the file's text (lossy UTF-8). The selector says what the
//! text is: `0` a flow beside a fixed small `intents.yaml` and `tags.yaml` and a fixed flow;
//! `1` the `intents.yaml` itself beside the fixed flow; `2` the `tags.yaml`. Other values
//! count as `0`, so most mutations of the selector keep fuzzing flows.

#![no_main]

use std::path::PathBuf;
use std::sync::LazyLock;

use leafdesk::flows::load::{load_sources, TemplateCatalog, TemplateStatus};
use libfuzzer_sys::fuzz_target;

/// Every template exists: the fuzzer explores the flow checks, not template names.
struct AllTemplates;

impl TemplateCatalog for AllTemplates {
    fn status(&self, _name: &str) -> TemplateStatus {
        TemplateStatus::Found
    }
}

/// The shape of flows/intents.yaml, small. It names every intent the repo's flows use, so
/// seeds from flows/ load without errors, but with no patterns: each pattern is compiled on
/// every run (a full DFA, about 0.5 ms instrumented); one per intent made runs 15 times slower.
/// Intent patterns are fuzzed in mode `1`, where the seed is the repo's own intents.yaml.
const INTENTS: &str = r#"intents:
  - id: human
    global: true
    patterns: []
  - { id: restart, global: true, patterns: [] }
  - { id: change_pickup, patterns: [] }
  - { id: reverification, patterns: [] }
  - { id: payment_declined, patterns: [] }
  - { id: purchase_limit, patterns: [] }
  - { id: price_discrepancy, patterns: [] }
  - { id: inventory_discrepancy, patterns: [] }
  - { id: order_status, patterns: [] }
  - { id: menu, patterns: [] }
  - { id: "yes", patterns: [] }
  - { id: "no", patterns: [] }
"#;

/// flows/tags.yaml's taxonomy, so the repo's flows (the seeds) use only known tags.
const TAGS: &str = "tags: [payment issue, ID verification failure, inventory discrepancy, price discrepancy, \
                    purchase limit, order status, human requested, not understood]\n";

/// A valid flow for the intents and tags files to be checked against (no regex, for speed).
const FLOW: &str = r#"id: human_handoff
description: Hands the conversation to a person.
tags: [human requested]
triggers:
  intents: [human]
steps:
  - id: ask
    ask: human_handoff/ask
    expect:
      - intent: "yes"
        next: handoff
      - options: ["no", "no thanks"]
        next: done
    retries: 1
    fallback: handoff
  - id: handoff
    say: human_handoff/connecting
    handoff: { queue: general, priority: 2, tags: [human requested], reason: asked }
  - id: done
    say: human_handoff/bye
    end: resolved
"#;

/// `FLOW_LOADER_DEBUG=1` prints each input's diagnostics (to check that seeds load).
static DEBUG: LazyLock<bool> = LazyLock::new(|| std::env::var_os("FLOW_LOADER_DEBUG").is_some());

fn source(name: &str, text: &str) -> (PathBuf, String) {
    (PathBuf::from("flows").join(name), text.to_owned())
}

fuzz_target!(|data: &[u8]| {
    let Some((selector, text)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(text);
    let sources = match selector {
        1 => vec![source("human_handoff.yaml", FLOW), source("intents.yaml", &text)],
        2 => vec![source("human_handoff.yaml", FLOW), source("intents.yaml", INTENTS), source("tags.yaml", &text)],
        _ => vec![
            source("fuzzed.yaml", &text),
            source("human_handoff.yaml", FLOW),
            source("intents.yaml", INTENTS),
            source("tags.yaml", TAGS),
        ],
    };
    match load_sources(&sources, &AllTemplates, leafdesk::actions::NAMES) {
        Ok(set) => {
            let shown = format!("{set:?}");
            if *DEBUG {
                eprintln!("loaded: {} bytes of FlowSet", shown.len());
            }
        }
        Err(diags) => {
            for d in &diags {
                let line = d.to_string();
                if *DEBUG {
                    eprintln!("{line}");
                }
            }
        }
    }
});
