//! Words for the codes actions and the platform give (an order's status, a limit's category),
//! and how times, dates and store hours are said, per language: `templates/messages/<locale>/terms.yaml`.
//! Rust code hands templates neutral values (codes, instants, hours); these helpers say them in
//! the customer's language:
//!
//! - `{{term "order_status" slots.order_status}}`: the word for a code (else English's, else the
//!   code with spaces for underscores);
//! - `{{when slots.pickup_time}}`: an instant (ms) as "today at 5:00 PM" / "mañana a las 17:00";
//! - `{{day slots.promo_ends}}`: a date (`YYYY-MM-DD`) as "Dec 7" / "07/12";
//! - `{{hours slots.store_opens slots.store_closes}}`: "9 AM to 9 PM" / "9:00 a 21:00";
//! - `{{changes slots.limit_changes}}`, `{{change slots.applied_change ["removed"]}}`: cart changes,
//!   numbered ("1. Remove 1 x Wax 5 g and all Gummies").
//!
//! The language is the data's `locale` (pages) or `contact.locale` (messages); times are in the
//! data's `timezone` (else `location.timezone`), "today" is the data's `now_ms`.
//!
//! Owns the terms files and these helpers; which word a template needs is the template's.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use handlebars::{Context, Handlebars, Helper, HelperDef, RenderContext, RenderError, RenderErrorReason, ScopedJson};
use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde_json::Value;

use super::BASE_LOCALE;
use crate::diagnostic::Diagnostic;

/// A language's words: group → code → word.
type Words = BTreeMap<String, BTreeMap<String, String>>;

/// Every language's words.
#[derive(Debug, Default)]
pub struct Terms {
    by_locale: HashMap<String, Words>,
}

impl Terms {
    /// Reads `<dir>/<locale>/terms.yaml` for every locale folder under `dir`; English's must exist.
    ///
    /// # Errors
    /// A file that cannot be read or parsed, with its place; English's missing.
    pub fn load(dir: &Path) -> Result<Self, Vec<Diagnostic>> {
        let mut terms = Self::default();
        let mut diags = Vec::new();
        let locales = std::fs::read_dir(dir).map(|entries| entries.flatten().map(|e| e.path()).collect::<Vec<_>>());
        for locale_dir in locales.unwrap_or_default().into_iter().filter(|p| p.is_dir()) {
            let file = locale_dir.join("terms.yaml");
            let Some(locale) = locale_dir.file_name().map(|n| n.to_string_lossy().into_owned()) else { continue };
            if !file.exists() {
                continue;
            }
            let text = match std::fs::read_to_string(&file) {
                Ok(text) => text,
                Err(e) => {
                    diags.push(Diagnostic { file, line: 1, column: 1, message: format!("cannot read: {e}") });
                    continue;
                }
            };
            match serde_saphyr::from_str::<Words>(&text) {
                Ok(words) => {
                    terms.by_locale.insert(locale, words);
                }
                Err(e) => {
                    let message = format!("not a map of groups to codes to words: {e}");
                    diags.push(Diagnostic { file, line: 1, column: 1, message });
                }
            }
        }
        if !terms.by_locale.contains_key(BASE_LOCALE) && diags.is_empty() {
            let file = dir.join(BASE_LOCALE).join("terms.yaml");
            diags.push(Diagnostic { file, line: 1, column: 1, message: "the English terms file is missing".into() });
        }
        if diags.is_empty() {
            Ok(terms)
        } else {
            Err(diags)
        }
    }

    /// The word for `code` in `group`, in `locale`, else English's.
    pub fn word(&self, locale: &str, group: &str, code: &str) -> Option<&str> {
        [locale, BASE_LOCALE]
            .iter()
            .find_map(|l| self.by_locale.get(*l).and_then(|w| w.get(group)).and_then(|g| g.get(code)))
            .map(String::as_str)
    }

    /// Registers the helpers on a registry.
    pub fn register(self: &Arc<Self>, registry: &mut Handlebars<'static>) {
        for name in ["term", "when", "day", "hours", "changes", "change"] {
            registry.register_helper(name, Box::new(TermHelper { terms: self.clone(), name }));
        }
    }
}

/// One of the helpers the module doc lists, with the terms it reads.
struct TermHelper {
    terms: Arc<Terms>,
    name: &'static str,
}

impl HelperDef for TermHelper {
    fn call_inner<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        _: &'reg Handlebars<'reg>,
        ctx: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
    ) -> Result<ScopedJson<'rc>, RenderError> {
        let data = ctx.data();
        let locale = data["locale"].as_str().or_else(|| data["contact"]["locale"].as_str()).unwrap_or(BASE_LOCALE);
        let say = Say { terms: &self.terms, locale };
        let param = |i: usize| h.param(i).map(|p| p.value().clone()).unwrap_or(Value::Null);
        let text = match self.name {
            "term" => say.term(param(0).as_str().unwrap_or(""), &param(1)),
            "when" => {
                let tz = data["timezone"].as_str().or_else(|| data["location"]["timezone"].as_str()).unwrap_or("UTC");
                let tz = TimeZone::get(tz).unwrap_or(TimeZone::UTC);
                let now = data["now_ms"].as_i64().unwrap_or(0);
                let at = param(0).as_i64().ok_or_else(|| bad(self.name, "an instant in milliseconds"))?;
                say.when(at, now, &tz)
            }
            "day" => {
                let date: Date = param(0).as_str().and_then(|d| d.parse().ok()).ok_or_else(|| bad("day", "a date"))?;
                date.strftime(say.pattern("day", "%b %-d")).to_string()
            }
            "hours" => {
                let hour = |v: Value| v.as_i64().and_then(|h| i8::try_from(h.rem_euclid(24)).ok());
                let (open, close) = hour(param(0)).zip(hour(param(1))).ok_or_else(|| bad("hours", "two hours"))?;
                say.hours(open, close)
            }
            "changes" => {
                let list = param(0);
                let lines: Vec<String> = list
                    .as_array()
                    .into_iter()
                    .flatten()
                    .enumerate()
                    .map(|(i, change)| format!("{}. {}", i + 1, say.change(change, "remove")))
                    .collect();
                lines.join("\n")
            }
            // An optional second parameter names the sentence: `removed` says it was done.
            _ => say.change(&param(0), param(1).as_str().unwrap_or("remove")),
        };
        Ok(ScopedJson::Derived(Value::String(text)))
    }
}

fn bad(helper: &str, wanted: &str) -> RenderError {
    RenderErrorReason::Other(format!("{{{{{helper}}}}} needs {wanted}")).into()
}

/// Saying things in one language.
struct Say<'a> {
    terms: &'a Terms,
    locale: &'a str,
}

impl Say<'_> {
    fn pattern<'p>(&'p self, code: &str, default: &'p str) -> &'p str {
        self.terms.word(self.locale, "when", code).unwrap_or(default)
    }

    fn term(&self, group: &str, code: &Value) -> String {
        let code = match code {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        self.terms.word(self.locale, group, &code).map_or_else(|| code.replace('_', " "), str::to_owned)
    }

    /// "today at 5:00 PM", "tomorrow at 9:30 AM", "Mon, Dec 7 at 9:00 AM".
    fn when(&self, at_ms: i64, now_ms: i64, tz: &TimeZone) -> String {
        let zoned =
            |ms: i64| Timestamp::from_millisecond(ms).unwrap_or(Timestamp::UNIX_EPOCH).to_zoned_datetime(tz.clone());
        let (when, today) = (zoned(at_ms), zoned(now_ms).date());
        let form = if when.date() == today {
            "today"
        } else if Some(when.date()) == today.tomorrow().ok() {
            "tomorrow"
        } else {
            "other"
        };
        let time = when.strftime(self.pattern("time", "%-I:%M %p")).to_string();
        let date = when.strftime(self.pattern("date", "%a, %b %-d")).to_string();
        self.pattern(form, "{date} at {time}").replace("{time}", &time).replace("{date}", &date)
    }

    /// "9 AM to 9 PM".
    fn hours(&self, open: i8, close: i8) -> String {
        let say = |h: i8| {
            let time = jiff::civil::Time::new(h, 0, 0, 0).unwrap_or(jiff::civil::Time::midnight());
            time.strftime(self.terms.word(self.locale, "hours", "hour").unwrap_or("%-I %p")).to_string()
        };
        let range = self.terms.word(self.locale, "hours", "range").unwrap_or("{open} to {close}");
        range.replace("{open}", &say(open)).replace("{close}", &say(close))
    }

    /// "Remove 1 x Wax 5 g and all Gummies" (`form` `remove`; `removed`: "I took … out"): a
    /// change is a list of `{quantity, label, all}`.
    fn change(&self, change: &Value, form: &str) -> String {
        let word =
            |code: &str, default: &'static str| self.terms.word(self.locale, "limit_change", code).unwrap_or(default);
        let items: Vec<String> = change
            .as_array()
            .into_iter()
            .flatten()
            .map(|item| {
                let label = item["label"].as_str().unwrap_or("");
                let form = if item["all"].as_bool() == Some(true) {
                    word("all", "all {label}")
                } else {
                    word("some", "{quantity} x {label}")
                };
                form.replace("{label}", label).replace("{quantity}", &item["quantity"].to_string())
            })
            .collect();
        let sentence =
            if form == "removed" { word("removed", "I took {items} out") } else { word("remove", "Remove {items}") };
        sentence.replace("{items}", &items.join(word("and", " and ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms() -> Arc<Terms> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates/messages");
        Arc::new(Terms::load(&root).expect("the terms files load"))
    }

    fn render(template: &str, data: &Value) -> String {
        let mut registry = Handlebars::new();
        registry.set_strict_mode(true);
        terms().register(&mut registry);
        registry.render_template(template, data).unwrap()
    }

    #[test]
    fn codes_times_hours_and_changes_are_said_in_the_customers_language() {
        // Monday 30 November 2026, noon in Los Angeles.
        let now = 1_796_068_800_000_i64;
        let hour = 3_600_000;
        let change = serde_json::json!([{ "quantity": 1, "label": "Wax 5 g", "all": false }, { "quantity": 2, "label": "Gummies", "all": true }]);
        let data = |locale: &str| {
            serde_json::json!({ "contact": { "locale": locale }, "location": { "timezone": "America/Los_Angeles" }, "now_ms": now,
                "slots": { "status": "awaiting_pickup", "odd": "on_the_moon", "at": now + 5 * hour, "later": now + 22 * hour,
                    "far": now + 7 * 24 * hour, "ends": "2026-12-07", "change": change, "changes": [change] } })
        };
        let t = "{{term \"order_status\" slots.status}}|{{term \"order_status\" slots.odd}}|{{when slots.at}}|{{when slots.later}}|{{when slots.far}}|{{day slots.ends}}|{{hours 9 21}}|{{change slots.change}}|{{changes slots.changes}}";
        assert_eq!(
            render(t, &data("en")),
            "reserved for pickup|on the moon|today at 5:00 PM|tomorrow at 10:00 AM|Mon, Dec 7 at 12:00 PM|Dec 7|9 AM to 9 PM|Remove 1 x Wax 5 g and all Gummies|1. Remove 1 x Wax 5 g and all Gummies"
        );
        assert_eq!(
            render(t, &data("es")),
            "reservado para recoger|on the moon|hoy a las 17:00|mañana a las 10:00|el 07/12 a las 12:00|07/12|9:00 a 21:00|Quitar 1 x Wax 5 g y todo Gummies|1. Quitar 1 x Wax 5 g y todo Gummies"
        );
        assert_eq!(
            render("{{term \"order_status\" slots.status}}", &data("fr")),
            "reserved for pickup",
            "English when a language lacks it"
        );
    }
}
