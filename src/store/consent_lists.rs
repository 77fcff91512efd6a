//! Consent lists: current consent per number for a purpose, filtered (status, where consent came
//! from, store, when it was given), counted at a glance, listed a page at a time and exported in
//! chunks that keep memory flat at any size. Read by the console's consent page and
//! `leafdesk consent export`; the ledger itself is [`super::consent`]'s.

use sqlx::FromRow;

use super::{Backend, Store, StoreError};

/// Where consent came from, as people filter it, and the ledger sources each covers.
pub const SOURCE_GROUPS: &[(&str, &str, &[&str])] = &[
    ("sms", "SMS keyword", &["sms_keyword", "twilio_opt_out"]),
    ("web_form", "Web form", &["web_form"]),
    ("chat", "Chat", &["web_chat"]),
    ("voice", "Voice call", &["voice"]),
    ("import", "Import", &["import"]),
    ("carrier", "Carrier", &["carrier_21610"]),
    ("staff", "Staff", &["staff"]),
];

/// The group a ledger source belongs to (its own name when no group has it).
pub fn group_of(source: &str) -> &str {
    SOURCE_GROUPS.iter().find(|(_, _, sources)| sources.contains(&source)).map_or(source, |(code, _, _)| code)
}

/// Which numbers to list. `purpose` is required; `None` means any.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub purpose: String,
    pub status: Option<String>,
    /// A code of [`SOURCE_GROUPS`].
    pub source: Option<String>,
    /// Numbers tied to this store: its customers, its sign-ups, its conversations.
    pub location: Option<String>,
    /// With `location`: numbers tied to no store at all too (an imported list, say).
    pub or_unlinked: bool,
    /// When consent was given or withdrawn: from (inclusive), until (exclusive).
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
    /// Only customers of this type (`adult_use`, `medical`), as the platform synced them.
    pub customer_type: Option<String>,
}

/// One number's current consent for a purpose, and the event that set it.
#[derive(Debug, Clone, FromRow, serde::Serialize)]
pub struct Entry {
    pub phone: String,
    pub purpose: String,
    pub status: String,
    /// When the event was (consent given or withdrawn), not when it was recorded.
    pub since_ms: i64,
    pub source: String,
    pub evidence: String,
}

/// Counts at a glance: numbers per status and per source group.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Counts {
    pub total: i64,
    pub opted_in: i64,
    pub opted_out: i64,
    /// `(group code, count)` in [`SOURCE_GROUPS`] order, then any other source.
    pub by_source: Vec<(String, i64)>,
}

const COLUMNS: &str = "c.phone, c.purpose, c.status, e.created_at_ms as since_ms, e.source, e.evidence";

/// The `from … where …` of a filtered list; binds $1..$6 (see `bind_filter!`). The source group is
/// written in from [`SOURCE_GROUPS`], never from input.
pub(super) fn from_where(filter: &Filter) -> String {
    let source = filter
        .source
        .as_deref()
        .and_then(|code| SOURCE_GROUPS.iter().find(|(c, _, _)| *c == code))
        .map(|(_, _, sources)| {
            let list: Vec<String> = sources.iter().map(|s| format!("'{s}'")).collect();
            format!(" and e.source in ({})", list.join(", "))
        })
        .unwrap_or_default();
    let unlinked = if filter.or_unlinked {
        " or not exists (select 1 from contact k join customer u on u.contact_id = k.contact_id where k.phone = c.phone)
            and not exists (select 1 from consent_request r where r.phone = c.phone)
            and not exists (select 1 from contact k join conversation v on v.contact_id = k.contact_id
                where k.phone = c.phone)"
    } else {
        ""
    };
    format!(
        "from consent_current c join consent_event e on e.consent_event_id = c.consent_event_id
        where c.purpose = $1 and ($2 = '' or c.status = $2) and e.created_at_ms >= $3 and e.created_at_ms < $4
          and ($5 = ''
            or exists (select 1 from contact k join customer u on u.contact_id = k.contact_id
                where k.phone = c.phone and u.location_id = $5)
            or exists (select 1 from consent_request r where r.phone = c.phone and r.location_id = $5)
            or exists (select 1 from contact k join conversation v on v.contact_id = k.contact_id
                where k.phone = c.phone and v.location_id = $5){unlinked})
          and ($6 = '' or exists (select 1 from contact k join customer u on u.contact_id = k.contact_id
                where k.phone = c.phone and u.customer_type = $6)){source}"
    )
}

macro_rules! bind_filter {
    ($query:expr, $filter:expr) => {
        $query
            .bind($filter.purpose.as_str())
            .bind($filter.status.as_deref().unwrap_or(""))
            .bind($filter.since_ms.unwrap_or(i64::MIN))
            .bind($filter.until_ms.unwrap_or(i64::MAX))
            .bind($filter.location.as_deref().unwrap_or(""))
            .bind($filter.customer_type.as_deref().unwrap_or(""))
    };
}
pub(super) use bind_filter;

/// How many numbers the filter keeps, by status and by where consent came from.
///
/// # Errors
/// Database failures.
pub async fn counts(store: &Store, filter: &Filter) -> Result<Counts, StoreError> {
    let sql = format!("select c.status, e.source, count(*) {} group by c.status, e.source", from_where(filter));
    let rows: Vec<(String, String, i64)> = bind_filter!(sqlx::query_as(&sql), filter).fetch_all(store.pool()).await?;
    let mut counts = Counts::default();
    let mut by_source: Vec<(String, i64)> = SOURCE_GROUPS.iter().map(|(c, _, _)| ((*c).to_owned(), 0)).collect();
    for (status, source, n) in rows {
        counts.total += n;
        if status == "opted_in" {
            counts.opted_in += n;
        } else {
            counts.opted_out += n;
        }
        let group = group_of(&source);
        match by_source.iter_mut().find(|(c, _)| c == group) {
            Some((_, count)) => *count += n,
            None => by_source.push((group.to_owned(), n)),
        }
    }
    counts.by_source = by_source;
    Ok(counts)
}

/// A page of the filtered list, newest consent first.
///
/// # Errors
/// Database failures.
pub async fn page(store: &Store, filter: &Filter, limit: i64, offset: i64) -> Result<Vec<Entry>, StoreError> {
    let sql =
        format!("select {COLUMNS} {} order by e.created_at_ms desc, c.phone limit $7 offset $8", from_where(filter));
    Ok(bind_filter!(sqlx::query_as(&sql), filter).bind(limit).bind(offset).fetch_all(store.pool()).await?)
}

/// Rows per export chunk.
pub const EXPORT_CHUNK: i64 = 4096;

/// The next chunk of the filtered list in phone order, after `after` (`""` to begin): at most
/// [`EXPORT_CHUNK`] rows; empty at the end. An export reads chunk after chunk, so memory stays
/// flat however many numbers there are, and a slow reader holds no database cursor.
///
/// # Errors
/// Database failures.
pub async fn export_chunk(store: &Store, filter: &Filter, after: &str) -> Result<Vec<Entry>, StoreError> {
    let inner = format!("select {COLUMNS} {} and c.phone > $7 order by c.phone limit $8", from_where(filter));
    if store.backend() == Backend::Sqlite {
        return export_chunk_sqlite(store, filter, after, &inner).await;
    }
    Ok(bind_filter!(sqlx::query_as(&inner), filter).bind(after).bind(EXPORT_CHUNK).fetch_all(store.pool()).await?)
}

// SQLite packs a chunk of rows into one JSON array: handing rows one by one from SQLite's
// worker thread to the async side cost more than SQLite's own work (BENCHMARKS.md).
async fn export_chunk_sqlite(
    store: &Store,
    filter: &Filter,
    after: &str,
    inner: &str,
) -> Result<Vec<Entry>, StoreError> {
    type Packed = (String, String, String, i64, String, String);
    let sql = format!(
        "select json_group_array(json_array(phone, purpose, status, since_ms, source, evidence)) from ({inner})"
    );
    let (json,): (String,) =
        bind_filter!(sqlx::query_as(&sql), filter).bind(after).bind(EXPORT_CHUNK).fetch_one(store.pool()).await?;
    let mut rows: Vec<Packed> = serde_json::from_str(&json)
        .map_err(|e| StoreError::Corrupt { what: "consent export chunk", detail: e.to_string() })?;
    // json_group_array keeps no order of its own: put the chunk back in phone order.
    rows.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    Ok(rows
        .into_iter()
        .map(|(phone, purpose, status, since_ms, source, evidence)| Entry {
            phone,
            purpose,
            status,
            since_ms,
            source,
            evidence,
        })
        .collect())
}
