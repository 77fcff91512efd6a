//! Flows and templates as one loaded, checked set ([`Assets`]), and hot reload of that set.
//!
//! Owns the swap: readers take an `Arc<Assets>` for a whole turn; a reload builds a complete
//! new set and replaces the old one atomically, or logs what is wrong and keeps the old one.

mod check;
pub mod engine;
pub mod file;
pub mod load;
pub mod model;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use model::FlowSet;

use crate::diagnostic::Diagnostic;
use crate::templates::Templates;

/// Templates the engine and pipeline use by name, whatever the flows say.
pub const REQUIRED_TEMPLATES: &[&str] = &[
    engine::NOT_UNDERSTOOD_TEMPLATE,
    "common/technical_problem",
    "webchat/greeting",
    "consent/opted_out",
    "consent/opted_in",
    "consent/help",
    "consent/confirm_optin",
    "consent/optin_confirmed",
];

#[derive(Debug)]
pub struct Assets {
    pub flows: FlowSet,
    pub templates: Templates,
}

/// Loads and checks templates (`templates_dir/messages`) and flows (`flows_dir`).
///
/// # Errors
/// Every problem in either, as `file:line:col: reason`.
pub fn load_assets(flows_dir: &Path, templates_dir: &Path, actions: &[&str]) -> Result<Assets, Vec<Diagnostic>> {
    let templates = Templates::load(&templates_dir.join("messages"))?;
    let mut diags = Vec::new();
    for name in REQUIRED_TEMPLATES {
        if templates.resolve(name, "en", crate::domain::Channel::Sms).is_none() {
            let file = templates_dir.join("messages/en").join(format!("{name}.hbs"));
            diags.push(Diagnostic {
                file,
                line: 1,
                column: 1,
                message: format!("required template {name:?} is missing"),
            });
        }
    }
    match load::load_dir(flows_dir, &templates, actions) {
        Ok(flows) if diags.is_empty() => Ok(Assets { flows, templates }),
        Ok(_) => Err(diags),
        Err(more) => {
            diags.extend(more);
            Err(diags)
        }
    }
}

/// The live asset set plus what is needed to reload it.
pub struct Library {
    current: RwLock<Arc<Assets>>,
    flows_dir: PathBuf,
    templates_dir: PathBuf,
    actions: &'static [&'static str],
    fingerprint: Mutex<Vec<(PathBuf, SystemTime, u64)>>,
}

impl Library {
    /// # Errors
    /// The diagnostics of the first load: the server must not start on a broken set.
    pub fn open(
        flows_dir: &Path,
        templates_dir: &Path,
        actions: &'static [&'static str],
    ) -> Result<Self, Vec<Diagnostic>> {
        for (dir, key, holds) in [
            (flows_dir, "LEAFDESK_FLOWS_DIR", "intents.yaml and the flow files"),
            (templates_dir, "LEAFDESK_TEMPLATES_DIR", "messages/ and pages/"),
        ] {
            if !dir.is_dir() {
                let message = format!(
                    "{key} names {}, which is not a folder; point it at the folder with {holds}",
                    dir.display()
                );
                return Err(vec![Diagnostic { file: dir.to_owned(), line: 1, column: 1, message }]);
            }
        }
        let fingerprint = fingerprint(&[flows_dir, templates_dir]);
        let assets = load_assets(flows_dir, templates_dir, actions)?;
        Ok(Self {
            current: RwLock::new(Arc::new(assets)),
            flows_dir: flows_dir.to_owned(),
            templates_dir: templates_dir.to_owned(),
            actions,
            fingerprint: Mutex::new(fingerprint),
        })
    }

    /// The set to use for one whole turn.
    pub fn get(&self) -> Arc<Assets> {
        // std RwLock, not tokio's: never held across .await. Poisoning means a panic while
        // swapping an Arc, which cannot leave it half-written, so the value is still good.
        self.current.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Reloads when a file changed. `Some(Ok(()))`: swapped; `Some(Err)`: kept the old set.
    pub fn reload_if_changed(&self) -> Option<Result<(), Vec<Diagnostic>>> {
        let now = fingerprint(&[&self.flows_dir, &self.templates_dir]);
        {
            let mut last = self.fingerprint.lock().unwrap_or_else(|e| e.into_inner());
            if *last == now {
                return None;
            }
            *last = now;
        }
        Some(load_assets(&self.flows_dir, &self.templates_dir, self.actions).map(|assets| {
            *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(assets);
        }))
    }
}

/// Polls for edits every `interval` and swaps in a good new set; logs a bad one with places.
pub fn spawn_reloader(library: Arc<Library>, interval: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tick.tick().await;
            let lib = library.clone();
            let result = tokio::task::spawn_blocking(move || lib.reload_if_changed()).await;
            match result {
                Ok(Some(Ok(()))) => tracing::info!("flows and templates reloaded"),
                Ok(Some(Err(diags))) => {
                    for d in &diags {
                        tracing::error!(problem = %d, "flow or template edit rejected; the last good set keeps serving");
                    }
                }
                Ok(None) => {}
                Err(e) => tracing::error!(error = %e, "reload task failed"),
            }
        }
    })
}

/// Path, modification time and size of every file below `dirs`, sorted: cheap change detection.
fn fingerprint(dirs: &[&Path]) -> Vec<(PathBuf, SystemTime, u64)> {
    fn walk(dir: &Path, out: &mut Vec<(PathBuf, SystemTime, u64)>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                walk(&path, out);
            } else {
                out.push((path, meta.modified().unwrap_or(SystemTime::UNIX_EPOCH), meta.len()));
            }
        }
    }
    let mut out = Vec::new();
    for dir in dirs {
        walk(dir, &mut out);
    }
    out.sort();
    out
}
