//! Reading flow files: a flows folder (or texts already read) in, the parsed `*File` types out
//! and handed to `check`, which turns them into a [`FlowSet`].
//!
//! Owns the folder's layout (`intents.yaml` and its examples `intents.<locale>.yaml`, optional
//! `tags.yaml` and `queues.yaml`, every other `*.yaml` or
//! `*.yml` a flow; sub-folders are not read) and the problems of getting a file into its type: a
//! file that cannot be read, YAML that is not what that file may say, no `intents.yaml`. The
//! rules a well-formed file must still meet are `check`'s.

use std::path::{Path, PathBuf};

use super::check::check_set;
use super::file::{ExamplesFile, FlowFile, FlowFiles, IntentsFile, QueuesFile, TagsFile};
use super::model::FlowSet;

pub use crate::diagnostic::Diagnostic;
pub use crate::templates::{TemplateCatalog, TemplateStatus};

/// Loads and checks every flow in `dir` (and `dir/intents.yaml`).
///
/// # Errors
/// Every problem found, each with file, line and column; nothing is half-loaded.
pub fn load_dir(dir: &Path, templates: &dyn TemplateCatalog, actions: &[&str]) -> Result<FlowSet, Vec<Diagnostic>> {
    let mut sources = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|e| vec![io_diag(dir, &e)])?;
    for entry in entries.flatten() {
        let path = entry.path();
        let is_yaml = path.extension().is_some_and(|e| e == "yaml" || e == "yml");
        if is_yaml && path.is_file() {
            let text = std::fs::read_to_string(&path).map_err(|e| vec![io_diag(&path, &e)])?;
            sources.push((path, text));
        }
    }
    sources.sort();
    load_sources(&sources, templates, actions)
}

/// Parses and checks already-read files: `(path, text)`, one of them named `intents.yaml`.
///
/// # Errors
/// Every problem found, sorted by place.
pub fn load_sources(
    sources: &[(PathBuf, String)],
    templates: &dyn TemplateCatalog,
    actions: &[&str],
) -> Result<FlowSet, Vec<Diagnostic>> {
    let (files, mut diags) = parse_sources(sources);
    let Some(files) = files else {
        return Err(diags);
    };
    match check_set(files, templates, actions) {
        Ok(set) if diags.is_empty() => return Ok(set),
        Ok(_) => {}
        Err(more) => diags.extend(more),
    }
    diags.sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
    Err(diags)
}

/// Every file parsed into its type, and a diagnostic for each that would not parse. No
/// `FlowFiles` without an intents file: flows name its intents, so nothing can be checked.
fn parse_sources(sources: &[(PathBuf, String)]) -> (Option<FlowFiles>, Vec<Diagnostic>) {
    let mut diags = Vec::new();
    let mut intents = None;
    let mut tags = None;
    let mut queues = None;
    let mut examples = Vec::new();
    let mut flows = Vec::new();
    for (path, text) in sources {
        let stem = path.file_stem();
        if stem.is_some_and(|s| s == "tags") {
            tags = parse::<TagsFile>(path, text, &mut diags);
        } else if stem.is_some_and(|s| s == "queues") {
            queues = parse::<QueuesFile>(path, text, &mut diags).map(|file| (path.clone(), file));
        } else if stem.is_some_and(|s| s.to_string_lossy().starts_with("intents.")) {
            examples.extend(parse::<ExamplesFile>(path, text, &mut diags).map(|file| (path.clone(), file)));
        } else if stem.is_some_and(|s| s == "intents") {
            intents = parse::<IntentsFile>(path, text, &mut diags).map(|file| (path.clone(), file));
        } else if let Some(file) = parse::<FlowFile>(path, text, &mut diags) {
            flows.push((path.clone(), file));
        }
    }
    let Some(intents) = intents else {
        let dir = sources.first().and_then(|(p, _)| p.parent()).unwrap_or(Path::new("flows"));
        let file = dir.join("intents.yaml");
        diags.push(Diagnostic { file, line: 1, column: 1, message: "missing intents file".into() });
        return (None, diags);
    };
    (Some(FlowFiles { intents, tags, queues, examples, flows }), diags)
}

fn parse<T: serde::de::DeserializeOwned>(path: &Path, text: &str, diags: &mut Vec<Diagnostic>) -> Option<T> {
    serde_saphyr::from_str::<T>(text).map_err(|e| diags.push(yaml_diag(path, &e))).ok()
}

fn io_diag(path: &Path, err: &std::io::Error) -> Diagnostic {
    Diagnostic { file: path.to_owned(), line: 1, column: 1, message: format!("cannot read: {err}") }
}

fn yaml_diag(path: &Path, err: &serde_saphyr::Error) -> Diagnostic {
    let (line, column) = err.location().map_or((1, 1), |l| (l.line(), l.column()));
    let text = err.to_string();
    // The library's message may carry a source snippet after the first line; keep the reason.
    let first = text.lines().next().unwrap_or("invalid YAML").trim();
    let first = first.strip_prefix("error: ").unwrap_or(first);
    // The place is already in front of the message; drop the library's own "line N column M: ".
    let message = match first.split_once(": ") {
        Some((place, rest)) if place.starts_with("line ") && place.contains(" column ") => rest,
        _ => first,
    };
    let message = format!("invalid YAML: {message}");
    Diagnostic { file: path.to_owned(), line, column, message }
}
