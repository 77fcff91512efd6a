//! Consent import: a CSV of opt-ins and opt-outs gathered elsewhere, each row with its evidence.
//! Every row is checked first; one bad row rejects the file, listing every bad row by line, and
//! nothing is imported. A good file is imported in one transaction.
//!
//! Columns (header required): `phone,purpose,action,evidence[,consented_at]` where purpose is
//! `transactional` or `marketing`, action `opt_in` or `opt_out`, evidence says how consent was
//! given or withdrawn (a form id, a signed paper, a recorded call).

use serde_json::json;

use crate::domain::PhoneNumber;
use crate::store::consent::{self, NewConsent};
use crate::store::{Store, StoreError};

pub const COLUMNS: &[&str] = &["phone", "purpose", "action", "evidence"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub line: u64,
    pub phone: String,
    pub purpose: String,
    pub action: String,
    pub evidence: String,
    pub consented_at: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{}", .0.join("\n"))]
    Rejected(Vec<String>),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Parses and checks a whole file. `Err` lists every problem as `line N: reason`.
///
/// # Errors
/// `Rejected` with one line per problem.
pub fn parse(text: &str) -> Result<Vec<Row>, ImportError> {
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
    let mut rows = Vec::new();
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
        let field = |i: Option<usize>| i.and_then(|i| record.get(i)).unwrap_or("").to_owned();
        let mut why = Vec::new();
        let phone = match PhoneNumber::parse(&field(phone_i)) {
            Ok(p) => p.to_string(),
            Err(e) => {
                why.push(e.to_string());
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
        if why.is_empty() {
            let consented_at = Some(field(at_i)).filter(|s| !s.is_empty());
            rows.push(Row { line, phone, purpose, action, evidence, consented_at });
        } else {
            problems.push(format!("line {line}: {}", why.join("; ")));
        }
    }
    if problems.is_empty() {
        Ok(rows)
    } else {
        Err(ImportError::Rejected(problems))
    }
}

/// Imports checked rows in one transaction; returns how many.
///
/// # Errors
/// Database failures (nothing is imported then).
pub async fn import(store: &Store, file: &str, rows: &[Row]) -> Result<usize, ImportError> {
    let mut tx = store.begin().await?;
    for row in rows {
        let evidence =
            json!({ "file": file, "line": row.line, "evidence": row.evidence, "consented_at": row.consented_at });
        let consent =
            NewConsent { phone: &row.phone, purpose: &row.purpose, action: &row.action, source: "import", evidence };
        consent::record(&mut tx, &consent, store.now_ms()).await?;
    }
    tx.commit().await.map_err(StoreError::from)?;
    Ok(rows.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_good_file_parses_with_line_numbers() {
        let rows = parse("phone,purpose,action,evidence,consented_at\n+14155550100,marketing,opt_in,web form 2024-03 v2,2024-03-01\n\"+1 (415) 555-0101\",transactional,opt_out,\"call, recorded\",\n").unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!((rows[0].line, rows[1].line), (2, 3));
        assert_eq!(rows[1].phone, "+14155550101");
        assert_eq!(rows[1].evidence, "call, recorded");
    }

    #[test]
    fn every_bad_row_is_listed_by_line_and_nothing_passes() {
        let text = "phone,purpose,action,evidence\n+14155550100,marketing,opt_in,form\n12345,marketing,opt_in,form\n+14155550102,promo,opt_in,form\n+14155550103,marketing,subscribe,form\n+14155550104,marketing,opt_in,\n";
        let Err(ImportError::Rejected(problems)) = parse(text) else { panic!("should be rejected") };
        let lines: Vec<&str> = problems.iter().map(|p| p.split(':').next().unwrap()).collect();
        assert_eq!(lines, ["line 3", "line 4", "line 5", "line 6"], "{problems:#?}");
        assert!(problems[0].contains("E.164"));
        assert!(problems[3].contains("evidence is required"));
    }

    #[test]
    fn wrong_columns_are_named() {
        let Err(ImportError::Rejected(problems)) = parse("number,purpose,action\n+14155550100,marketing,opt_in\n")
        else {
            panic!()
        };
        assert!(problems[0].contains("missing column(s) phone, evidence"), "{problems:?}");
    }
}
