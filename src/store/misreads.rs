//! The review inbox: messages the bot was unsure about or did not understand, masked, with the
//! model's guesses; listed by how often the same words came, and closed when a flow author
//! reviews one (and perhaps adds it as an example).

use std::sync::LazyLock;

use super::{Store, StoreError, Tx};
use regex::Regex;

/// One message to file.
pub struct NewMisread<'a> {
    pub conversation_id: &'a str,
    pub body: &'a str,
    /// The words as the classifier reads them: equal words group together.
    pub normalized: &'a str,
    pub locale: &'a str,
    /// `unsure` or `not_understood`.
    pub decision: &'a str,
    /// The model's guesses as JSON.
    pub guesses: &'a serde_json::Value,
}

/// Words that came in, grouped, with how often and one id to act on.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Group {
    /// The newest message of the group (the one `--add-to` adds).
    pub misread_id: String,
    /// Its conversation, for reading the rest (`leafdesk ticket`, the console).
    pub conversation_id: String,
    pub body: String,
    pub locale: String,
    pub decision: String,
    pub guesses: serde_json::Value,
    pub count: i64,
    pub last_at_ms: i64,
}

const INSERT: &str = "insert into misread (misread_id, conversation_id, body, normalized, locale, decision, guesses,
    created_at_ms) values ($1, $2, $3, $4, $5, $6, $7, $8)";
const OPEN: &str = "select m.misread_id, m.conversation_id, m.body, m.locale, m.decision, m.guesses, g.n, g.last_at_ms
    from (select normalized, count(*) as n, max(created_at_ms) as last_at_ms from misread
          where reviewed_at_ms is null group by normalized) g
    join misread m on m.normalized = g.normalized and m.created_at_ms = g.last_at_ms and m.reviewed_at_ms is null
    order by g.n desc, g.last_at_ms desc, m.misread_id limit $1";
const CLOSE: &str = "update misread set reviewed_at_ms = $2, added_to = $3
    where reviewed_at_ms is null and normalized = (select normalized from misread where misread_id = $1)";

type GroupRow = (String, String, String, String, String, String, i64, i64);

fn group(r: GroupRow) -> Group {
    let guesses = serde_json::from_str(&r.5).unwrap_or_default();
    Group {
        misread_id: r.0,
        conversation_id: r.1,
        body: r.2,
        locale: r.3,
        decision: r.4,
        guesses,
        count: r.6,
        last_at_ms: r.7,
    }
}

/// Email addresses and phone-length digit runs: what must not sit in a table authors read.
pub fn mask(body: &str) -> String {
    static EMAIL: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"[\w.+-]+@[\w-]+\.[\w.]+").expect("email pattern compiles"));
    crate::domain::mask_phones(&EMAIL.replace_all(body, "[email]"))
}

/// Files one message (its body masked here).
///
/// # Errors
/// Database failures.
pub async fn insert(tx: &mut Tx<'_>, m: &NewMisread<'_>, now_ms: i64) -> Result<(), StoreError> {
    sqlx::query(INSERT)
        .bind(crate::new_id())
        .bind(m.conversation_id)
        .bind(mask(m.body))
        .bind(m.normalized)
        .bind(m.locale)
        .bind(m.decision)
        .bind(m.guesses.to_string())
        .bind(now_ms)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Open groups, the most frequent first.
///
/// # Errors
/// Database failures.
pub async fn open(store: &Store, limit: i64) -> Result<Vec<Group>, StoreError> {
    let rows: Vec<GroupRow> = sqlx::query_as(OPEN).bind(limit).fetch_all(store.pool()).await?;
    Ok(rows.into_iter().map(group).collect())
}

/// Closes the message's whole group as reviewed (`added_to`: the intent it became an example
/// of, if any). The number of messages closed.
///
/// # Errors
/// Database failures.
pub async fn close(store: &Store, misread_id: &str, added_to: Option<&str>, now_ms: i64) -> Result<u64, StoreError> {
    let done = sqlx::query(CLOSE).bind(misread_id).bind(now_ms).bind(added_to).execute(store.pool()).await?;
    Ok(done.rows_affected())
}
