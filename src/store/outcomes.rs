//! Flow outcomes with their CRM tags: how each run of a flow ended, for reports by category.

use super::{StoreError, Tx};

/// A flow run that ended.
#[derive(Debug, Clone)]
pub struct NewOutcome {
    pub flow_id: String,
    /// The store of the conversation.
    pub location_id: String,
    pub outcome: &'static str,
    pub tags: Vec<String>,
}

const INSERT: &str = "insert into flow_outcome (outcome_id, flow_id, outcome, tags, runs, ended_at_ms, location_id)
    values ($1, $2, $3, $4, $5, $6, $7)";
const TICKETS_BY_TAG: &str =
    "select tags, status, count(*) from ticket where created_at_ms >= $1 group by tags, status";
const COUNT_BY_TAG: &str = "select tags, outcome, cast(sum(runs) as bigint) from flow_outcome where ended_at_ms >= $1
    group by tags, outcome";

/// Stores a batch's outcomes counted per flow and outcome: a few rows of one cached statement,
/// whatever the batch size.
///
/// # Errors
/// Database failures.
pub async fn insert_many(tx: &mut Tx<'_>, outcomes: &[NewOutcome], now_ms: i64) -> Result<(), StoreError> {
    let mut counted: Vec<(&NewOutcome, i64)> = Vec::new();
    for o in outcomes {
        match counted
            .iter_mut()
            .find(|(c, _)| c.flow_id == o.flow_id && c.outcome == o.outcome && c.location_id == o.location_id)
        {
            Some((_, n)) => *n += 1,
            None => counted.push((o, 1)),
        }
    }
    let now = now_ms;
    for (o, runs) in counted {
        sqlx::query(INSERT)
            .bind(crate::new_id())
            .bind(o.flow_id.as_str())
            .bind(o.outcome)
            .bind(serde_json::to_string(&o.tags).expect("tags serialize"))
            .bind(runs)
            .bind(now)
            .bind(o.location_id.as_str())
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Outcomes since `since_ms` counted per tag and outcome (a run with two tags counts for both;
/// one without tags counts as `untagged`).
///
/// # Errors
/// Database failures.
pub async fn count_by_tag(tx: &mut Tx<'_>, since_ms: i64) -> Result<Vec<(String, String, i64)>, StoreError> {
    let rows: Vec<(String, String, i64)> = sqlx::query_as(COUNT_BY_TAG).bind(since_ms).fetch_all(&mut **tx).await?;
    per_tag(rows)
}

/// Tickets opened since `since_ms`, counted per tag and status, as [`count_by_tag`] counts.
///
/// # Errors
/// Database failures.
pub async fn tickets_by_tag(tx: &mut Tx<'_>, since_ms: i64) -> Result<Vec<(String, String, i64)>, StoreError> {
    let rows: Vec<(String, String, i64)> = sqlx::query_as(TICKETS_BY_TAG).bind(since_ms).fetch_all(&mut **tx).await?;
    per_tag(rows)
}

/// Splits `(tags JSON, key, count)` rows into one count per tag and key.
fn per_tag(rows: Vec<(String, String, i64)>) -> Result<Vec<(String, String, i64)>, StoreError> {
    let mut counts: std::collections::BTreeMap<(String, String), i64> = std::collections::BTreeMap::new();
    for (tags, outcome, n) in rows {
        let tags: Vec<String> = serde_json::from_str(&tags).map_err(|e| super::corrupt("tags", e))?;
        let tags = if tags.is_empty() { vec!["untagged".to_owned()] } else { tags };
        for tag in tags {
            *counts.entry((tag, outcome.clone())).or_default() += n;
        }
    }
    Ok(counts.into_iter().map(|((tag, outcome), n)| (tag, outcome, n)).collect())
}
