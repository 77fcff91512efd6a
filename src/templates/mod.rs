//! Customer-facing text: message templates (handlebars, strict mode, per locale and channel),
//! and [`Pages`], the HTML pages customers open (opt-in form, upload page, web chat).
//!
//! Owns template lookup and its fallback order. A template `menu/offer` lives at
//! `templates/messages/<locale>/menu/offer.hbs`, with optional channel variants beside it
//! (`offer.sms.hbs`, `offer.voice.hbs`, `offer.web.hbs`). Lookup for locale `es` on SMS tries
//! `es/menu/offer.sms`, `es/menu/offer`, `en/menu/offer.sms`, `en/menu/offer`.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use handlebars::Handlebars;

use crate::diagnostic::Diagnostic;
pub mod terms;

use std::sync::Arc;

pub use terms::Terms;

use crate::domain::Channel;

/// What checking flows needs to know about templates: does `name` exist, and in English?
pub trait TemplateCatalog {
    fn status(&self, name: &str) -> TemplateStatus;
}

#[derive(Debug, PartialEq, Eq)]
pub enum TemplateStatus {
    Found,
    MissingEnglish,
    Unknown,
}

/// The locale every template must exist in; every other falls back to it.
pub const BASE_LOCALE: &str = "en";
pub const LOCALES: &[&str] = &["en", "es"];

pub struct Templates {
    registry: Handlebars<'static>,
    names: HashSet<String>,
    terms: Arc<Terms>,
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Templates").field("count", &self.names.len()).finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("no template {0:?} in any locale")]
    Missing(String),
    #[error("rendering {name}: {source}")]
    Render { name: String, source: Box<handlebars::RenderError> },
}

impl Templates {
    /// Loads every `*.hbs` under `dir` (the `messages` folder of the templates directory), and
    /// each language's `terms.yaml` for the helpers.
    ///
    /// # Errors
    /// Every file that cannot be read or parsed, with its line and column.
    pub fn load(dir: &Path) -> Result<Self, Vec<Diagnostic>> {
        let terms = Arc::new(Terms::load(dir)?);
        let mut registry = Handlebars::new();
        registry.set_strict_mode(true);
        terms.register(&mut registry);
        // Plain text: each channel escapes for its own markup (TwiML is escaped when built).
        registry.register_escape_fn(handlebars::no_escape);
        let mut names = HashSet::new();
        let mut diags = Vec::new();
        let mut files = Vec::new();
        collect_hbs(dir, &mut files).map_err(|e| {
            vec![Diagnostic {
                file: dir.to_owned(),
                line: 1,
                column: 1,
                message: format!("cannot read templates: {e}"),
            }]
        })?;
        files.sort();
        for path in files {
            let name = template_name(dir, &path);
            let text = match std::fs::read_to_string(&path) {
                Ok(text) => text,
                Err(e) => {
                    diags.push(Diagnostic { file: path, line: 1, column: 1, message: format!("cannot read: {e}") });
                    continue;
                }
            };
            if let Err(e) = registry.register_template_string(&name, text.trim_end()) {
                let (line, column) = e.pos().unwrap_or((1, 1));
                let message = e.reason().to_string();
                diags.push(Diagnostic { file: path, line: line as u64, column: column as u64, message });
                continue;
            }
            names.insert(name);
        }
        if diags.is_empty() {
            Ok(Self { registry, names, terms })
        } else {
            Err(diags)
        }
    }

    /// Renders `template` for a locale and channel, falling back as the module doc says.
    ///
    /// # Errors
    /// `Missing` when no candidate exists; `Render` when strict mode finds a missing value.
    pub fn render(
        &self,
        template: &str,
        locale: &str,
        channel: Channel,
        data: &serde_json::Value,
    ) -> Result<String, TemplateError> {
        let name =
            self.resolve(template, locale, channel).ok_or_else(|| TemplateError::Missing(template.to_owned()))?;
        let text =
            self.registry.render(&name, data).map_err(|e| TemplateError::Render { name, source: Box::new(e) })?;
        Ok(text.trim().to_owned())
    }

    /// The registered name `render` would use.
    pub fn resolve(&self, template: &str, locale: &str, channel: Channel) -> Option<String> {
        let ch = channel.as_str();
        [
            format!("{locale}/{template}.{ch}"),
            format!("{locale}/{template}"),
            format!("{BASE_LOCALE}/{template}.{ch}"),
            format!("{BASE_LOCALE}/{template}"),
        ]
        .into_iter()
        .find(|n| self.names.contains(n))
    }

    /// Each language's words, for pages rendered with the same helpers.
    pub fn terms(&self) -> Arc<Terms> {
        self.terms.clone()
    }

    /// Every registered name (`en/menu/offer.sms`), sorted.
    pub fn names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.names.iter().map(String::as_str).collect();
        names.sort_unstable();
        names
    }
}

impl TemplateCatalog for Templates {
    fn status(&self, name: &str) -> TemplateStatus {
        if self.names.contains(&format!("{BASE_LOCALE}/{name}")) {
            return TemplateStatus::Found;
        }
        let exists_elsewhere = self.names.iter().any(|n| {
            let logical = n.split_once('/').map_or("", |(_, rest)| rest);
            logical == name || logical.rsplit_once('.').is_some_and(|(base, _)| base == name)
        });
        if exists_elsewhere {
            TemplateStatus::MissingEnglish
        } else {
            TemplateStatus::Unknown
        }
    }
}

fn collect_hbs(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect_hbs(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "hbs") {
            out.push(path);
        }
    }
    Ok(())
}

fn template_name(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path).with_extension("");
    rel.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/")
}

/// Web pages (`templates/pages/*.hbs`): handlebars with HTML escaping, strict mode. Separate
/// from message templates, which are plain text.
pub struct Pages {
    registry: Handlebars<'static>,
}

impl Pages {
    /// # Errors
    /// Every page that cannot be read or parsed, with its place.
    pub fn load(dir: &Path, terms: &Arc<Terms>) -> Result<Self, Vec<Diagnostic>> {
        let mut registry = Handlebars::new();
        registry.set_strict_mode(true);
        terms.register(&mut registry);
        let mut files = Vec::new();
        collect_hbs(dir, &mut files).map_err(|e| {
            vec![Diagnostic { file: dir.to_owned(), line: 1, column: 1, message: format!("cannot read pages: {e}") }]
        })?;
        let mut diags = Vec::new();
        for path in files {
            let name = template_name(dir, &path);
            let result = std::fs::read_to_string(&path).map_err(|e| (1, 1, e.to_string())).and_then(|text| {
                registry.register_template_string(&name, text).map_err(|e| {
                    let (line, column) = e.pos().unwrap_or((1, 1));
                    (line, column, e.reason().to_string())
                })
            });
            if let Err((line, column, message)) = result {
                diags.push(Diagnostic { file: path, line: line as u64, column: column as u64, message });
            }
        }
        if diags.is_empty() {
            Ok(Self { registry })
        } else {
            Err(diags)
        }
    }

    /// # Errors
    /// A missing page or value (strict mode).
    pub fn render(&self, name: &str, data: &serde_json::Value) -> Result<String, handlebars::RenderError> {
        self.registry.render(name, data)
    }
}
