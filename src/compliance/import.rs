//! Consent import: a CSV of opt-ins and opt-outs gathered elsewhere, each row with its evidence.
//! Every row is checked first; one bad row rejects the file, listing every bad row by line, and
//! nothing is imported. A good file is imported in one transaction, and importing it again adds
//! nothing (each row is keyed by a hash of its fields).
//!
//! Columns (header required, any order, a BOM and Windows line endings are fine):
//! `phone,purpose,action,evidence[,consented_at]` where purpose is `transactional` or
//! `marketing`, action `opt_in` or `opt_out`, evidence says how consent was given or withdrawn (a
//! form id, a signed paper, a recorded call), and `consented_at` when (a date, `2025-06-01`, or a
//! time with its offset, `2025-06-01T14:03:00-07:00`; empty: the moment of the import). Numbers
//! may be E.164 or national in the default country ("(415) 555-0177").
//!
//! Current consent follows the latest event *in time*: a row older than what the ledger already
//! knows of its number joins the ledger as history and, if it disagrees, is reported as a conflict
//! — never applied silently.

use std::collections::{HashMap, HashSet};

use serde_json::json;
use sha2::{Digest, Sha256};

use crate::domain::{Country, PhoneNumber};
use crate::store::audit::{self, NewAudit};
use crate::store::consent::{self, NewConsent, When};
use crate::store::{Store, StoreError};

pub const COLUMNS: &[&str] = &["phone", "purpose", "action", "evidence"];

/// The TCPA's enactment (Pub. L. 102-243, 1991-12-20): no consent under it is older.
const OLDEST_MS: i64 = 693_187_200_000;
/// Rows read from the ledger per query while planning.
const CHUNK: usize = 500;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub line: u64,
    pub phone: String,
    pub purpose: String,
    pub action: String,
    pub evidence: String,
    /// `consented_at` as written, if given.
    pub consented_at: Option<String>,
    /// When consent was given or withdrawn; the import's moment when the file does not say.
    pub at_ms: i64,
    /// A hash of the row's fields: the same row imported twice is one ledger event.
    pub key: String,
}

/// A checked file: its rows, and the lines that repeat an earlier line (imported once).
#[derive(Debug, Default)]
pub struct Checked {
    pub rows: Vec<Row>,
    pub repeated: Vec<String>,
}

/// What an import did, or (dry run) would do.
#[derive(Debug, Default, serde::Serialize)]
pub struct Report {
    /// Rows added to the ledger (or that would be).
    pub added: usize,
    /// Rows the ledger already holds from an earlier import.
    pub already: usize,
    /// Rows that change a number's current consent.
    pub changes: usize,
    /// `line N: …` for each row that changes a number's current consent.
    pub changed: Vec<String>,
    /// `line N repeats line M`.
    pub repeated: Vec<String>,
    /// Rows older than a disagreeing event already known: kept as history, not current.
    pub conflicts: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{}", .0.join("\n"))]
    Rejected(Vec<String>),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How to read a file: the country of numbers written without `+`, and the import's moment.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub country: Country,
    pub now_ms: i64,
}

/// Parses and checks a whole file. `Err` lists every problem as `line N: reason`.
///
/// # Errors
/// `Rejected` with one line per problem.
pub fn parse(text: &str, opts: Options) -> Result<Checked, ImportError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // The csv reader reads Windows line endings but numbers their lines wrong: one ending for all.
    let text = if text.contains('\r') { std::borrow::Cow::Owned(text.replace("\r\n", "\n")) } else { text.into() };
    let mut reader = csv::ReaderBuilder::new().flexible(true).trim(csv::Trim::All).from_reader(text.as_bytes());
    let headers: Vec<String> = match reader.headers() {
        Ok(h) => h.iter().map(str::to_ascii_lowercase).collect(),
        Err(e) => return Err(ImportError::Rejected(vec![format!("line 1: cannot read the header: {e}")])),
    };
    let missing: Vec<&str> = COLUMNS.iter().copied().filter(|c| !headers.iter().any(|h| h == c)).collect();
    if !missing.is_empty() {
        return Err(ImportError::Rejected(vec![format!(
            "line 1: missing column(s) {}; the header must be {},consented_at (consented_at optional)",
            missing.join(", "),
            COLUMNS.join(",")
        )]));
    }
    let col = |name: &str| headers.iter().position(|h| h == name);
    let (phone_i, purpose_i, action_i, evidence_i) = (col("phone"), col("purpose"), col("action"), col("evidence"));
    let at_i = col("consented_at");
    let mut checked = Checked::default();
    let mut seen: HashMap<String, u64> = HashMap::new();
    let mut problems = Vec::new();
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                problems.push(format!("line {line}: {e}"));
                continue;
            }
        };
        let line = record.position().map_or(0, csv::Position::line);
        if record.iter().all(str::is_empty) {
            continue;
        }
        let field = |i: Option<usize>| i.and_then(|i| record.get(i)).unwrap_or("").to_owned();
        let mut why = Vec::new();
        let raw_phone = field(phone_i);
        let phone = match PhoneNumber::parse_national(&raw_phone, opts.country) {
            Ok(p) => p.to_string(),
            Err(_) => {
                why.push(format!(
                    "phone {raw_phone:?} is not a phone number (E.164, or national in {})",
                    opts.country.iso
                ));
                String::new()
            }
        };
        let purpose = field(purpose_i);
        if !matches!(purpose.as_str(), "transactional" | "marketing") {
            why.push(format!("purpose {purpose:?} must be transactional or marketing"));
        }
        let action = field(action_i);
        if !matches!(action.as_str(), "opt_in" | "opt_out") {
            why.push(format!("action {action:?} must be opt_in or opt_out"));
        }
        let evidence = field(evidence_i);
        if evidence.is_empty() {
            why.push("evidence is required: say how consent was given or withdrawn".into());
        }
        let consented_at = Some(field(at_i)).filter(|s| !s.is_empty());
        let at_ms = match consented_at.as_deref().map(|raw| consented_at_ms(raw, opts.now_ms)).transpose() {
            Ok(at) => at.unwrap_or(opts.now_ms),
            Err(e) => {
                why.push(e);
                opts.now_ms
            }
        };
        if !why.is_empty() {
            problems.push(format!("line {line}: {}", why.join("; ")));
            continue;
        }
        let key = row_key(&[&phone, &purpose, &action, &evidence, consented_at.as_deref().unwrap_or("")]);
        if let Some(first) = seen.get(&key) {
            checked.repeated.push(format!("line {line} repeats line {first}; imported once"));
            continue;
        }
        seen.insert(key.clone(), line);
        checked.rows.push(Row { line, phone, purpose, action, evidence, consented_at, at_ms, key });
    }
    if problems.is_empty() {
        Ok(checked)
    } else {
        Err(ImportError::Rejected(problems))
    }
}

/// `consented_at` as milliseconds: a date (midnight UTC) or an RFC 3339 time with its offset,
/// not in the future and not before the TCPA.
fn consented_at_ms(raw: &str, now_ms: i64) -> Result<i64, String> {
    let parsed = raw.parse::<jiff::Timestamp>().ok().map(jiff::Timestamp::as_millisecond).or_else(|| {
        let date = raw.parse::<jiff::civil::Date>().ok()?;
        let midnight = jiff::civil::DateTime::from_parts(date, jiff::civil::Time::midnight());
        Some(midnight.to_zoned_datetime(jiff::tz::TimeZone::UTC).ok()?.timestamp().as_millisecond())
    });
    match parsed {
        None => Err(format!(
            "consented_at {raw:?} must be a date (2025-06-01) or a time with its offset (2025-06-01T14:03:00-07:00)"
        )),
        Some(ms) if ms > now_ms => Err(format!("consented_at {raw} is in the future")),
        Some(ms) if ms < OLDEST_MS => Err(format!("consented_at {raw} is before the TCPA (1991-12-20)")),
        Some(ms) => Ok(ms),
    }
}

fn row_key(fields: &[&str]) -> String {
    let mut hash = Sha256::new();
    for f in fields {
        hash.update(f.as_bytes());
        hash.update([0x1f]);
    }
    format!("import:{}", hex::encode(hash.finalize()))
}

/// Who imports and from what file, as the evidence of each row says.
pub struct Source<'a> {
    pub file: &'a str,
    /// A staff member's email, or `cli`.
    pub by: &'a str,
    /// Where the import came from (the browser's address; empty from the command line).
    pub ip: &'a str,
}

/// Checks `rows` against the ledger without writing: what [`import`] would do.
///
/// # Errors
/// Database failures.
pub async fn plan(store: &Store, checked: &Checked) -> Result<Report, ImportError> {
    // A read transaction: a long check never holds SQLite's write lock from inbound texts.
    let mut tx = store.begin_read().await?;
    let report = apply(&mut tx, checked, None, store.now_ms()).await?;
    tx.rollback().await.map_err(StoreError::from)?;
    Ok(report)
}

/// Imports checked rows in one transaction: each row not imported before becomes a ledger event
/// dated `consented_at`; current consent follows the latest event in time.
///
/// # Errors
/// Database failures (nothing is imported then).
pub async fn import(store: &Store, source: &Source<'_>, checked: &Checked) -> Result<Report, ImportError> {
    let mut tx = store.begin().await?;
    let report = apply(&mut tx, checked, Some(source), store.now_ms()).await?;
    let detail = json!({
        "file": source.file, "added": report.added, "already": report.already, "changes": report.changes,
        "conflicts": report.conflicts.len(),
    });
    let entry = NewAudit { actor: source.by, action: "consent_imported", target: source.file, detail, ip: source.ip };
    audit::record(&mut tx, &entry, store.now_ms()).await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(report)
}

/// The one walk behind [`plan`] and [`import`]: rows in time order against what the ledger knows.
async fn apply(
    tx: &mut crate::store::Tx<'_>,
    checked: &Checked,
    write: Option<&Source<'_>>,
    now_ms: i64,
) -> Result<Report, ImportError> {
    let mut report = Report { repeated: checked.repeated.clone(), ..Report::default() };
    let mut rows: Vec<&Row> = checked.rows.iter().collect();
    rows.sort_by(|a, b| (&a.phone, &a.purpose, a.at_ms, a.line).cmp(&(&b.phone, &b.purpose, b.at_ms, b.line)));
    // What is current per number and purpose as the walk goes: (status, at, what said so).
    let mut current: HashMap<(String, String), (String, i64, String)> = HashMap::new();
    for chunk in rows.chunks(CHUNK) {
        let phones: Vec<&str> = chunk.iter().map(|r| r.phone.as_str()).collect::<HashSet<_>>().into_iter().collect();
        for (key, e) in consent::newest_among(tx, &phones).await? {
            current.entry(key).or_insert_with(|| (status_of(&e.action).to_owned(), e.created_at_ms, e.source.clone()));
        }
        let keys: Vec<&str> = chunk.iter().map(|r| r.key.as_str()).collect();
        let done = consent::imported_among(tx, &keys).await?;
        for row in chunk {
            if done.contains(&row.key) {
                report.already += 1;
                continue;
            }
            report.added += 1;
            let status = status_of(&row.action);
            let slot = (row.phone.clone(), row.purpose.clone());
            match current.get(&slot) {
                Some((now, at, said)) if *at > row.at_ms && now != status => {
                    report.conflicts.push(format!(
                        "line {}: {} dated {} is older than this number's {} {} of {} ({said}); kept as history, current consent stays {now}",
                        row.line,
                        row.action,
                        day(row.at_ms),
                        row.purpose,
                        if now == "opted_in" { "opt-in" } else { "opt-out" },
                        day(*at),
                    ));
                }
                Some((_, at, _)) if *at > row.at_ms => {}
                found => {
                    if let Some((now, at, said)) = found.filter(|(now, _, _)| now != status) {
                        report.changes += 1;
                        report.changed.push(format!(
                            "line {}: changes current {} consent from {} ({said}, {}) to {}",
                            row.line,
                            row.purpose,
                            now.replace('_', " "),
                            day(*at),
                            status.replace('_', " ")
                        ));
                    }
                    current.insert(slot, (status.to_owned(), row.at_ms, format!("line {}", row.line)));
                }
            }
            if let Some(source) = write {
                let evidence = json!({
                    "file": source.file, "line": row.line, "evidence": row.evidence,
                    "consented_at": row.consented_at, "imported_by": source.by,
                });
                let consent = NewConsent {
                    phone: &row.phone,
                    purpose: &row.purpose,
                    action: &row.action,
                    source: "import",
                    evidence,
                };
                consent::record_at(tx, &consent, &When { at_ms: row.at_ms, import_key: Some(&row.key) }, now_ms)
                    .await?;
            }
        }
    }
    Ok(report)
}

fn status_of(action: &str) -> &'static str {
    if action == "opt_out" {
        "opted_out"
    } else {
        "opted_in"
    }
}

fn day(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms).map(|t| t.strftime("%Y-%m-%d").to_string()).unwrap_or_default()
}

impl Report {
    /// The report as lines for a terminal or a page: the counts, then every repeat and conflict.
    pub fn lines(&self, dry_run: bool) -> Vec<String> {
        let verb = if dry_run { "would add" } else { "added" };
        let mut lines = vec![format!(
            "{verb} {} consent record(s); {} already imported; {} change a number's current consent; {} conflict(s)",
            self.added,
            self.already,
            self.changes,
            self.conflicts.len()
        )];
        lines.extend(self.repeated.iter().cloned());
        lines.extend(self.changed.iter().cloned());
        lines.extend(self.conflicts.iter().map(|c| format!("conflict: {c}")));
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_796_083_200_000; // 2026-12-01T00:00:00Z

    fn opts() -> Options {
        Options { country: Country::US, now_ms: NOW }
    }

    #[test]
    fn a_good_file_parses_with_line_numbers_bom_and_windows_line_endings() {
        let text = "\u{feff}phone,purpose,action,evidence,consented_at\r\n+14155550100,marketing,opt_in,web form 2024-03 v2,2024-03-01\r\n\"(415) 555-0101\",transactional,opt_out,\"call, recorded\",\r\n";
        let rows = parse(text, opts()).unwrap().rows;
        assert_eq!(rows.len(), 2);
        assert_eq!((rows[0].line, rows[1].line), (2, 3));
        assert_eq!(rows[1].phone, "+14155550101");
        assert_eq!(rows[1].evidence, "call, recorded");
        assert_eq!(rows[0].at_ms, 1_709_251_200_000, "2024-03-01 at midnight UTC");
        assert_eq!(rows[1].at_ms, NOW, "no date: the import's moment");
    }

    #[test]
    fn every_bad_row_is_listed_by_line_and_nothing_passes() {
        let text = "phone,purpose,action,evidence\n+14155550100,marketing,opt_in,form\n12345,marketing,opt_in,form\n+14155550102,promo,opt_in,form\n+14155550103,marketing,subscribe,form\n+14155550104,marketing,opt_in,\n";
        let Err(ImportError::Rejected(problems)) = parse(text, opts()) else { panic!("should be rejected") };
        let lines: Vec<&str> = problems.iter().map(|p| p.split(':').next().unwrap()).collect();
        assert_eq!(lines, ["line 3", "line 4", "line 5", "line 6"], "{problems:#?}");
        assert!(problems[0].contains("not a phone number"), "{}", problems[0]);
        assert!(problems[3].contains("evidence is required"));
    }

    #[test]
    fn consented_at_must_be_a_real_past_date() {
        let text = "phone,purpose,action,evidence,consented_at\n+14155550100,marketing,opt_in,form,yesterday\n+14155550101,marketing,opt_in,form,2099-01-01\n+14155550102,marketing,opt_in,form,1970-01-01\n+14155550103,marketing,opt_in,form,2025-06-01T14:03:00-07:00\n+14155550104,marketing,opt_in,form,2026-02-30\n";
        let Err(ImportError::Rejected(problems)) = parse(text, opts()) else { panic!("should be rejected") };
        assert_eq!(problems.len(), 4, "{problems:#?}");
        assert!(problems[0].starts_with("line 2:") && problems[0].contains("must be a date"), "{}", problems[0]);
        assert!(problems[1].starts_with("line 3:") && problems[1].contains("in the future"), "{}", problems[1]);
        assert!(problems[2].starts_with("line 4:") && problems[2].contains("before the TCPA"), "{}", problems[2]);
        assert!(problems[3].starts_with("line 6:"), "{}", problems[3]);
    }

    #[test]
    fn a_repeated_row_is_named_and_kept_once() {
        let text = "phone,purpose,action,evidence\n+14155550100,marketing,opt_in,form\n(415) 555-0100,marketing,opt_in,form\n+14155550100,marketing,opt_out,called\n";
        let checked = parse(text, opts()).unwrap();
        assert_eq!(checked.rows.len(), 2);
        assert_eq!(checked.repeated, ["line 3 repeats line 2; imported once"]);
    }

    #[test]
    fn wrong_columns_are_named() {
        let Err(ImportError::Rejected(problems)) =
            parse("number,purpose,action\n+14155550100,marketing,opt_in\n", opts())
        else {
            panic!()
        };
        assert!(problems[0].contains("missing column(s) phone, evidence"), "{problems:?}");
    }
}
