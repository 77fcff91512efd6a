//! Reports for leads: every figure is computed in SQL (counts, rates' parts, medians and 90th
//! percentiles by window functions), the same statements on SQLite and PostgreSQL. Days are the
//! store's days: a time is shifted by the store's UTC offset before it is cut into days of
//! 86,400,000 ms (the offset of the range's end; a range across a DST change is off by an hour
//! at one end).

use sqlx::FromRow;

use super::{Store, StoreError};

/// The range and store every report is cut to.
#[derive(Debug, Clone)]
pub struct Range {
    pub since_ms: i64,
    pub until_ms: i64,
    /// Only this store's conversations, tickets and numbers.
    pub location: Option<String>,
    /// The store's offset from UTC, for days.
    pub offset_ms: i64,
}

const DAY: i64 = 86_400_000;

/// `(day, conversations, tickets)` per day (days as numbers since 1970 in the store's time).
///
/// # Errors
/// Database failures.
pub async fn volume(store: &Store, r: &Range) -> Result<Vec<(i64, i64, i64)>, StoreError> {
    let rows: Vec<(i64, String, i64)> = sqlx::query_as(
        "select (created_at_ms + $3) / 86400000 as day, 'c' as kind, count(*) from conversation
            where created_at_ms >= $1 and created_at_ms < $2 and ($4 = '' or location_id = $4)
            group by (created_at_ms + $3) / 86400000
        union all
        select (t.created_at_ms + $3) / 86400000, 't', count(*) from ticket t join conversation v
            on v.conversation_id = t.conversation_id
            where t.created_at_ms >= $1 and t.created_at_ms < $2 and ($4 = '' or v.location_id = $4)
            group by (t.created_at_ms + $3) / 86400000",
    )
    .bind(r.since_ms)
    .bind(r.until_ms)
    .bind(r.offset_ms)
    .bind(r.location.as_deref().unwrap_or(""))
    .fetch_all(store.pool())
    .await?;
    Ok(two_counts_per_day(rows, "c"))
}

/// Tickets per tag (a ticket with two tags counts for both; none: `untagged`), and how many of
/// them are open.
///
/// # Errors
/// Database failures.
pub async fn tickets_by_tag(store: &Store, r: &Range) -> Result<Vec<(String, i64, i64)>, StoreError> {
    let rows: Vec<(String, i64, i64)> = sqlx::query_as(
        "select t.tags, count(*), coalesce(sum(case when t.status = 'open' then 1 else 0 end), 0)
        from ticket t join conversation v on v.conversation_id = t.conversation_id
        where t.created_at_ms >= $1 and t.created_at_ms < $2 and ($3 = '' or v.location_id = $3)
        group by t.tags",
    )
    .bind(r.since_ms)
    .bind(r.until_ms)
    .bind(r.location.as_deref().unwrap_or(""))
    .fetch_all(store.pool())
    .await?;
    let mut tags: Vec<(String, i64, i64)> = Vec::new();
    for (json, n, open) in rows {
        let list: Vec<String> = serde_json::from_str(&json).unwrap_or_default();
        let list = if list.is_empty() { vec!["untagged".to_owned()] } else { list };
        for tag in list {
            match tags.iter_mut().find(|(t, _, _)| *t == tag) {
                Some((_, all, o)) => {
                    *all += n;
                    *o += open;
                }
                None => tags.push((tag, n, open)),
            }
        }
    }
    tags.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    Ok(tags)
}

/// How flow runs ended, per flow: `(flow, runs, handed off, resolved)`.
#[derive(Debug, Clone, FromRow, serde::Serialize)]
pub struct FlowOutcomes {
    pub flow_id: String,
    pub runs: i64,
    pub handed_off: i64,
    pub resolved: i64,
}

/// # Errors
/// Database failures.
pub async fn outcomes_by_flow(store: &Store, r: &Range) -> Result<Vec<FlowOutcomes>, StoreError> {
    Ok(sqlx::query_as(
        "select flow_id, cast(sum(runs) as bigint) as runs,
            cast(coalesce(sum(case when outcome = 'handed_off' then runs else 0 end), 0) as bigint) as handed_off,
            cast(coalesce(sum(case when outcome = 'resolved' then runs else 0 end), 0) as bigint) as resolved
        from flow_outcome where ended_at_ms >= $1 and ended_at_ms < $2 and ($3 = '' or location_id = $3)
        group by flow_id order by 2 desc, 1",
    )
    .bind(r.since_ms)
    .bind(r.until_ms)
    .bind(r.location.as_deref().unwrap_or(""))
    .fetch_all(store.pool())
    .await?)
}

/// `(day, runs, handed off)` per day: containment over time.
///
/// # Errors
/// Database failures.
pub async fn outcomes_by_day(store: &Store, r: &Range) -> Result<Vec<(i64, i64, i64)>, StoreError> {
    Ok(sqlx::query_as(
        "select (ended_at_ms + $3) / 86400000 as day, cast(sum(runs) as bigint),
            cast(coalesce(sum(case when outcome = 'handed_off' then runs else 0 end), 0) as bigint)
        from flow_outcome where ended_at_ms >= $1 and ended_at_ms < $2 and ($4 = '' or location_id = $4)
        group by (ended_at_ms + $3) / 86400000 order by 1",
    )
    .bind(r.since_ms)
    .bind(r.until_ms)
    .bind(r.offset_ms)
    .bind(r.location.as_deref().unwrap_or(""))
    .fetch_all(store.pool())
    .await?)
}

/// Why conversations went to a person: `(queue, reason, tickets)`, most first.
///
/// # Errors
/// Database failures.
pub async fn handoff_reasons(store: &Store, r: &Range) -> Result<Vec<(String, String, i64)>, StoreError> {
    Ok(sqlx::query_as(
        "select t.queue, t.reason, count(*) from ticket t join conversation v on v.conversation_id = t.conversation_id
        where t.created_at_ms >= $1 and t.created_at_ms < $2 and ($3 = '' or v.location_id = $3)
        group by t.queue, t.reason order by 3 desc, 1, 2 limit 50",
    )
    .bind(r.since_ms)
    .bind(r.until_ms)
    .bind(r.location.as_deref().unwrap_or(""))
    .fetch_all(store.pool())
    .await?)
}

/// First-response or resolution times of one queue, in milliseconds.
#[derive(Debug, Clone, FromRow, serde::Serialize)]
pub struct Times {
    pub queue: String,
    pub tickets: i64,
    pub median_ms: i64,
    pub p90_ms: i64,
}

/// Median and 90th percentile per queue of `end - created_at` for tickets that have an end
/// (`first_reply_at_ms` or `resolved_at_ms`): the nearest-rank percentile, by window functions.
///
/// # Errors
/// Database failures.
pub async fn times(store: &Store, r: &Range, end: TimeOf) -> Result<Vec<Times>, StoreError> {
    let end = match end {
        TimeOf::FirstResponse => "t.first_reply_at_ms",
        TimeOf::Resolution => "t.resolved_at_ms",
    };
    let sql = format!(
        "with d as (
            select t.queue, {end} - t.created_at_ms as took from ticket t
                join conversation v on v.conversation_id = t.conversation_id
            where t.created_at_ms >= $1 and t.created_at_ms < $2 and ($3 = '' or v.location_id = $3)
                and {end} is not null),
        ranked as (select queue, took, row_number() over (partition by queue order by took) as n,
            count(*) over (partition by queue) as total from d)
        select queue, max(total) as tickets,
            max(case when n = (total + 1) / 2 then took end) as median_ms,
            max(case when n = (total * 9 + 9) / 10 then took end) as p90_ms
        from ranked group by queue order by queue"
    );
    Ok(sqlx::query_as(&sql)
        .bind(r.since_ms)
        .bind(r.until_ms)
        .bind(r.location.as_deref().unwrap_or(""))
        .fetch_all(store.pool())
        .await?)
}

/// Which time [`times`] measures.
#[derive(Debug, Clone, Copy)]
pub enum TimeOf {
    FirstResponse,
    Resolution,
}

/// Tickets answered late or not yet answered past their time, per day and queue:
/// `(day, queue, breaches, tickets with a time)`. `allowed` is `(queue, priority, ms)` from the
/// queues' settings.
///
/// # Errors
/// Database failures.
pub async fn sla_breaches(
    store: &Store,
    r: &Range,
    allowed: &[(String, i64, i64)],
    now_ms: i64,
) -> Result<Vec<(i64, String, i64, i64)>, StoreError> {
    if allowed.is_empty() {
        return Ok(Vec::new());
    }
    // The allowed time as a CASE over queue and priority: numbers from the settings, queue
    // names bound.
    let mut case = String::from("case");
    for (i, (_, priority, ms)) in allowed.iter().enumerate() {
        case.push_str(&format!(" when t.queue = ${} and t.priority = {priority} then {ms}", i + 6));
    }
    case.push_str(" end");
    let sql = format!(
        "select (t.created_at_ms + $3) / 86400000 as day, t.queue,
            coalesce(sum(case when coalesce(t.first_reply_at_ms, $5) - t.created_at_ms > {case} then 1 else 0 end), 0),
            count(*)
        from ticket t join conversation v on v.conversation_id = t.conversation_id
        where t.created_at_ms >= $1 and t.created_at_ms < $2 and ($4 = '' or v.location_id = $4) and {case} is not null
        group by (t.created_at_ms + $3) / 86400000, t.queue order by 1, 2"
    );
    let mut query = sqlx::query_as(&sql)
        .bind(r.since_ms)
        .bind(r.until_ms)
        .bind(r.offset_ms)
        .bind(r.location.as_deref().unwrap_or(""))
        .bind(now_ms);
    for (queue, _, _) in allowed {
        query = query.bind(queue.as_str());
    }
    Ok(query.fetch_all(store.pool()).await?)
}

/// `(day, customer messages, misunderstood)` per day: how often the bot did not understand.
///
/// # Errors
/// Database failures.
pub async fn misunderstood(store: &Store, r: &Range) -> Result<Vec<(i64, i64, i64)>, StoreError> {
    // Without a store to keep, messages are counted from their time index alone: joining a
    // million of them to their conversations would cost most of the report.
    let messages = if r.location.is_some() {
        "select (m.created_at_ms + $3) / 86400000 as day, 'm' as kind, count(*) from message m
            join conversation v on v.conversation_id = m.conversation_id
            where m.direction = 'inbound' and m.created_at_ms >= $1 and m.created_at_ms < $2 and v.location_id = $4
            group by (m.created_at_ms + $3) / 86400000"
    } else {
        "select (m.created_at_ms + $3) / 86400000 as day, 'm' as kind, count(*) from message m
            where m.direction = 'inbound' and m.created_at_ms >= $1 and m.created_at_ms < $2 and $4 = ''
            group by (m.created_at_ms + $3) / 86400000"
    };
    let sql = format!(
        "{messages}
        union all
        select (x.created_at_ms + $3) / 86400000, 'x', count(*) from misread x
            join conversation v on v.conversation_id = x.conversation_id
            where x.created_at_ms >= $1 and x.created_at_ms < $2 and ($4 = '' or v.location_id = $4)
            group by (x.created_at_ms + $3) / 86400000"
    );
    let rows: Vec<(i64, String, i64)> = sqlx::query_as(&sql)
        .bind(r.since_ms)
        .bind(r.until_ms)
        .bind(r.offset_ms)
        .bind(r.location.as_deref().unwrap_or(""))
        .fetch_all(store.pool())
        .await?;
    Ok(two_counts_per_day(rows, "m"))
}

/// `(day, action, source, events)`: opt-ins and opt-outs per day and source (marketing consent,
/// and transactional opt-outs: revocations).
///
/// # Errors
/// Database failures.
pub async fn consent_by_day(store: &Store, r: &Range) -> Result<Vec<(i64, String, String, i64)>, StoreError> {
    // Two index range scans (marketing events; transactional opt-outs that came without a
    // marketing one, i.e. a carrier's), merged and counted.
    let linked = "($4 = '' or exists (select 1 from contact k join customer u on u.contact_id = k.contact_id
                    where k.phone = e.phone and u.location_id = $4)
                or exists (select 1 from consent_request q where q.phone = e.phone and q.location_id = $4)
                or exists (select 1 from contact k join conversation v on v.contact_id = k.contact_id
                    where k.phone = e.phone and v.location_id = $4))";
    let sql = format!(
        "select day, action, source, count(*) from (
            select (e.created_at_ms + $3) / 86400000 as day, e.action, e.source from consent_event e
            where e.purpose = 'marketing' and e.created_at_ms >= $1 and e.created_at_ms < $2 and {linked}
            union all
            select (e.created_at_ms + $3) / 86400000, e.action, e.source from consent_event e
            where e.purpose = 'transactional' and e.created_at_ms >= $1 and e.created_at_ms < $2
                and e.action = 'opt_out' and {linked}
                and not exists (select 1 from consent_event m where m.phone = e.phone and m.purpose = 'marketing'
                    and m.created_at_ms = e.created_at_ms)
        ) events group by day, action, source order by 1, 2, 3"
    );
    Ok(sqlx::query_as(&sql)
        .bind(r.since_ms)
        .bind(r.until_ms)
        .bind(r.offset_ms)
        .bind(r.location.as_deref().unwrap_or(""))
        .fetch_all(store.pool())
        .await?)
}

/// `(day, kind, count)` rows of two kinds as `(day, count of `first`, count of the other)`, by day.
fn two_counts_per_day(rows: Vec<(i64, String, i64)>, first: &str) -> Vec<(i64, i64, i64)> {
    let mut days: Vec<(i64, i64, i64)> = Vec::new();
    for (day, kind, n) in rows {
        let at = match days.iter().position(|d| d.0 == day) {
            Some(i) => i,
            None => {
                days.push((day, 0, 0));
                days.len() - 1
            }
        };
        if kind == first {
            days[at].1 += n;
        } else {
            days[at].2 += n;
        }
    }
    days.sort_unstable();
    days
}

/// The day number of a time, as the reports cut days.
pub fn day_of(ms: i64, offset_ms: i64) -> i64 {
    (ms + offset_ms).div_euclid(DAY)
}
