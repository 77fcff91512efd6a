//! Campaigns and their recipients. A campaign's audience is planned in one statement (the
//! segment intersected with current marketing consent); each recipient row is claimed with a
//! conditional update in the same transaction that writes its outbox row, and the primary key
//! (campaign, phone) means a number is planned once: a campaign never texts a number twice,
//! across restarts and replicas.

use sqlx::FromRow;

use super::consent_lists::{bind_filter, from_where, Filter};
use super::{Placeholders, Store, StoreError, Tx};

#[derive(Debug, Clone, FromRow, serde::Serialize)]
pub struct Campaign {
    pub campaign_id: String,
    pub name: String,
    pub location_id: String,
    /// JSON, see [`Segment`].
    pub segment: String,
    /// JSON: locale → message template.
    pub bodies: String,
    pub status: String,
    pub created_by: String,
    pub created_at_ms: i64,
    pub approved_by: Option<String>,
    pub approved_at_ms: Option<i64>,
    pub send_at_ms: Option<i64>,
    pub started_at_ms: Option<i64>,
    pub finished_at_ms: Option<i64>,
    pub planned: i64,
}

/// Who a campaign is for, beyond its store and marketing consent (every field optional).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Segment {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_type: Option<String>,
    /// A consent source group (`sms`, `web_form`, `chat`, `import`…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opted_in_since_ms: Option<i64>,
}

impl Segment {
    /// The consent list filter of this segment at `location`: numbers opted in to marketing,
    /// tied to this store or to none.
    pub fn filter(&self, location_id: &str) -> Filter {
        Filter {
            purpose: super::consent::MARKETING.into(),
            status: Some("opted_in".into()),
            source: self.source.clone(),
            location: Some(location_id.to_owned()),
            or_unlinked: true,
            since_ms: self.opted_in_since_ms,
            until_ms: None,
            customer_type: self.customer_type.clone(),
        }
    }
}

pub struct NewCampaign<'a> {
    pub name: &'a str,
    pub location_id: &'a str,
    pub segment: &'a Segment,
    pub bodies: &'a serde_json::Value,
    pub created_by: &'a str,
    pub send_at_ms: Option<i64>,
}

const COLUMNS: &str = "campaign_id, name, location_id, segment, bodies, status, created_by, created_at_ms, approved_by,
    approved_at_ms, send_at_ms, started_at_ms, finished_at_ms, planned";

/// A number that revoked everything (a transactional opt-out, e.g. a carrier's) is planned
/// `blocked` with the reason; the send gate re-checks everyone at send time.
const TRANSACTIONAL_OPT_OUT: &str = "exists (select 1 from consent_current t where t.phone = c.phone
    and t.purpose = 'transactional' and t.status = 'opted_out')";

/// # Errors
/// Database failures.
pub async fn create(store: &Store, new: &NewCampaign<'_>) -> Result<String, StoreError> {
    let id = crate::new_id();
    sqlx::query(
        "insert into campaign (campaign_id, name, location_id, segment, bodies, status, created_by, created_at_ms,
            send_at_ms) values ($1, $2, $3, $4, $5, 'draft', $6, $7, $8)",
    )
    .bind(&id)
    .bind(new.name)
    .bind(new.location_id)
    .bind(serde_json::to_string(new.segment).unwrap_or_else(|_| "{}".into()))
    .bind(new.bodies.to_string())
    .bind(new.created_by)
    .bind(store.now_ms())
    .bind(new.send_at_ms)
    .execute(store.pool())
    .await?;
    Ok(id)
}

/// # Errors
/// Database failures.
pub async fn get(store: &Store, campaign_id: &str) -> Result<Option<Campaign>, StoreError> {
    let sql = format!("select {COLUMNS} from campaign where campaign_id = $1");
    Ok(sqlx::query_as(&sql).bind(campaign_id).fetch_optional(store.pool()).await?)
}

/// The newest campaigns first.
///
/// # Errors
/// Database failures.
pub async fn list(store: &Store, limit: i64) -> Result<Vec<Campaign>, StoreError> {
    let sql = format!("select {COLUMNS} from campaign order by created_at_ms desc limit $1");
    Ok(sqlx::query_as(&sql).bind(limit).fetch_all(store.pool()).await?)
}

/// How many numbers a segment at a store reaches now (marketing consent, not revoked).
///
/// # Errors
/// Database failures.
pub async fn audience(store: &Store, location_id: &str, segment: &Segment) -> Result<i64, StoreError> {
    let filter = segment.filter(location_id);
    let sql = format!("select count(*) {} and not {TRANSACTIONAL_OPT_OUT}", from_where(&filter));
    let (n,): (i64,) = bind_filter!(sqlx::query_as(&sql), filter).fetch_one(store.pool()).await?;
    Ok(n)
}

/// Approves a draft; false when it is not a draft, or `by` wrote it (nobody approves their own).
///
/// # Errors
/// Database failures.
pub async fn approve(store: &Store, campaign_id: &str, by: &str) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "update campaign set status = 'approved', approved_by = $2, approved_at_ms = $3
        where campaign_id = $1 and status = 'draft' and created_by <> $2",
    )
    .bind(campaign_id)
    .bind(by)
    .bind(store.now_ms())
    .execute(store.pool())
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Moves a campaign from one of `from` to `to`; false when it was in none of them.
///
/// # Errors
/// Database failures.
pub async fn transition(store: &Store, campaign_id: &str, from: &[&str], to: &str) -> Result<bool, StoreError> {
    let list: Vec<String> = from.iter().map(|s| format!("'{s}'")).collect();
    let sql = format!("update campaign set status = $2 where campaign_id = $1 and status in ({})", list.join(", "));
    let done = sqlx::query(&sql).bind(campaign_id).bind(to).execute(store.pool()).await?;
    Ok(done.rows_affected() == 1)
}

/// Cancels a campaign that has not finished: what was not sent never will be. False when it
/// had finished or was cancelled already.
///
/// # Errors
/// Database failures.
pub async fn cancel(store: &Store, campaign_id: &str) -> Result<bool, StoreError> {
    let now = store.now_ms();
    let mut tx = store.begin().await?;
    let done = sqlx::query(
        "update campaign set status = 'cancelled', finished_at_ms = $2
        where campaign_id = $1 and status in ('draft', 'approved', 'sending', 'paused')",
    )
    .bind(campaign_id)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    sqlx::query(
        "update campaign_recipient set state = 'cancelled', reason = 'campaign cancelled'
        where campaign_id = $1 and state = 'planned'",
    )
    .bind(campaign_id)
    .execute(&mut *tx)
    .await?;
    super::outbox::cancel_campaign(&mut tx, campaign_id, "campaign cancelled").await?;
    tx.commit().await?;
    Ok(true)
}

/// Starts approved campaigns whose time has come: each is claimed (one replica wins) and its
/// audience planned in the same transaction. Returns the ids started.
///
/// # Errors
/// Database failures.
pub async fn start_due(store: &Store) -> Result<Vec<String>, StoreError> {
    let now = store.now_ms();
    let due: Vec<(String,)> = sqlx::query_as(
        "select campaign_id from campaign where status = 'approved' and coalesce(send_at_ms, 0) <= $1
        order by approved_at_ms",
    )
    .bind(now)
    .fetch_all(store.pool())
    .await?;
    let mut started = Vec::new();
    for (id,) in due {
        let mut tx = store.begin().await?;
        let claimed = sqlx::query(
            "update campaign set status = 'sending', started_at_ms = $2 where campaign_id = $1 and status = 'approved'",
        )
        .bind(&id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if claimed.rows_affected() == 0 {
            continue;
        }
        let planned = plan(&mut tx, &id).await?;
        sqlx::query("update campaign set planned = $2 where campaign_id = $1")
            .bind(&id)
            .bind(planned)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        started.push(id);
    }
    Ok(started)
}

/// Writes the audience of a campaign as recipients, in one statement; returns how many.
async fn plan(tx: &mut Tx<'_>, campaign_id: &str) -> Result<i64, StoreError> {
    let (location_id, segment): (String, String) =
        sqlx::query_as("select location_id, segment from campaign where campaign_id = $1")
            .bind(campaign_id)
            .fetch_one(&mut **tx)
            .await?;
    let segment: Segment = serde_json::from_str(&segment)
        .map_err(|e| StoreError::Corrupt { what: "campaign segment", detail: e.to_string() })?;
    let filter = segment.filter(&location_id);
    let sql = format!(
        "insert into campaign_recipient (campaign_id, phone, state, reason)
        select $7, c.phone,
            case when {TRANSACTIONAL_OPT_OUT} then 'blocked' else 'planned' end,
            case when {TRANSACTIONAL_OPT_OUT} then 'the number opted out of our messages' end
        {}
        on conflict do nothing",
        from_where(&filter)
    );
    let done = bind_filter!(sqlx::query(&sql), filter).bind(campaign_id).execute(&mut **tx).await?;
    Ok(i64::try_from(done.rows_affected()).unwrap_or(i64::MAX))
}

/// Campaigns that are sending now.
///
/// # Errors
/// Database failures.
pub async fn sending(store: &Store) -> Result<Vec<Campaign>, StoreError> {
    let sql = format!("select {COLUMNS} from campaign where status = 'sending'");
    Ok(sqlx::query_as(&sql).fetch_all(store.pool()).await?)
}

/// A planned recipient: the number, the contact's language and first name.
#[derive(Debug, Clone, FromRow)]
pub struct Planned {
    pub phone: String,
    pub locale: Option<String>,
    pub first_name: Option<String>,
}

/// Up to `limit` recipients still to queue, in number order after `after` (`""` to begin): a
/// walk along the primary key that never passes the rows already queued (on PostgreSQL their
/// old versions linger in an index on the state until vacuumed, which made every batch slower).
///
/// # Errors
/// Database failures.
pub async fn planned(store: &Store, campaign_id: &str, after: &str, limit: i64) -> Result<Vec<Planned>, StoreError> {
    Ok(sqlx::query_as(
        "select r.phone, k.locale, k.first_name from campaign_recipient r left join contact k on k.phone = r.phone
        where r.campaign_id = $1 and r.phone > $2 and r.state = 'planned' order by r.phone limit $3",
    )
    .bind(campaign_id)
    .bind(after)
    .bind(limit)
    .fetch_all(store.pool())
    .await?)
}

/// Claims planned recipients of a sending campaign for their outbox rows, in the caller's
/// transaction; returns the numbers claimed (not those someone else queued or cancelled first,
/// nor any once the campaign is paused or cancelled). Each row's outbox id is
/// [`outbox_id`] of the campaign and number.
///
/// # Errors
/// Database failures.
pub async fn claim(tx: &mut Tx<'_>, campaign_id: &str, phones: &[&str]) -> Result<Vec<String>, StoreError> {
    if phones.is_empty() {
        return Ok(Vec::new());
    }
    let mut marks = Placeholders::for_tx(tx);
    let first = marks.list(1);
    let sql = format!(
        "update campaign_recipient set state = 'queued', outbox_id = campaign_id || ':' || phone
        where campaign_id = {first} and state = 'planned' and phone in ({})
          and exists (select 1 from campaign c where c.campaign_id = campaign_recipient.campaign_id
              and c.status = 'sending')
        returning phone",
        marks.list(phones.len())
    );
    let mut query = sqlx::query_as::<_, (String,)>(&sql).bind(campaign_id);
    for phone in phones {
        query = query.bind(*phone);
    }
    Ok(query.fetch_all(&mut **tx).await?.into_iter().map(|(p,)| p).collect())
}

/// The outbox row id of a campaign's text to a number: one per pair, so the outbox's primary
/// key refuses a second.
pub fn outbox_id(campaign_id: &str, phone: &str) -> String {
    format!("{campaign_id}:{phone}")
}

/// Marks a planned recipient blocked with the reason (its text could not be made).
///
/// # Errors
/// Database failures.
pub async fn block(tx: &mut Tx<'_>, campaign_id: &str, phone: &str, reason: &str) -> Result<(), StoreError> {
    sqlx::query(
        "update campaign_recipient set state = 'blocked', reason = $3
        where campaign_id = $1 and phone = $2 and state = 'planned'",
    )
    .bind(campaign_id)
    .bind(phone)
    .bind(reason)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Marks a sending campaign finished when nothing of it is left to queue or to send.
///
/// # Errors
/// Database failures.
pub async fn finish_if_done(store: &Store, campaign_id: &str) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "update campaign set status = 'finished', finished_at_ms = $2
        where campaign_id = $1 and status = 'sending'
          and not exists (select 1 from campaign_recipient r where r.campaign_id = $1 and r.state = 'planned')
          and not exists (select 1 from outbox o where o.campaign_id = $1 and o.status in ('pending', 'held', 'sending'))",
    )
    .bind(campaign_id)
    .bind(store.now_ms())
    .execute(store.pool())
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Where a campaign's texts are, for its live progress.
#[derive(Debug, Clone, Default, FromRow, serde::Serialize)]
pub struct Progress {
    pub planned: i64,
    /// Waiting to be queued (not yet in the outbox).
    pub to_queue: i64,
    pub queued: i64,
    pub held: i64,
    pub sent: i64,
    pub delivered: i64,
    pub blocked: i64,
    /// The provider refused it, or it was given up on.
    pub failed: i64,
    /// Sent, but the carrier reports it was not delivered.
    pub undelivered: i64,
    pub cancelled: i64,
    /// Recipients who opted out after the campaign started.
    pub opted_out_after: i64,
}

/// # Errors
/// Database failures.
pub async fn progress(store: &Store, campaign_id: &str) -> Result<Progress, StoreError> {
    Ok(sqlx::query_as(
        "select count(*) as planned,
            coalesce(sum(case when r.state = 'planned' then 1 else 0 end), 0) as to_queue,
            coalesce(sum(case when o.status in ('pending', 'sending') then 1 else 0 end), 0) as queued,
            coalesce(sum(case when o.status = 'held' then 1 else 0 end), 0) as held,
            coalesce(sum(case when o.status = 'sent' then 1 else 0 end), 0) as sent,
            coalesce(sum(case when o.delivery in ('delivered', 'read') then 1 else 0 end), 0) as delivered,
            coalesce(sum(case when r.state = 'blocked' or o.status = 'blocked' then 1 else 0 end), 0) as blocked,
            coalesce(sum(case when o.status = 'failed' then 1 else 0 end), 0) as failed,
            coalesce(sum(case when o.status = 'sent' and o.delivery in ('failed', 'undelivered') then 1 else 0 end), 0)
                as undelivered,
            coalesce(sum(case when r.state = 'cancelled' or o.status = 'cancelled' then 1 else 0 end), 0) as cancelled,
            coalesce(sum(case when exists (select 1 from consent_event e where e.phone = r.phone
                and e.action = 'opt_out' and e.created_at_ms >= c.started_at_ms) then 1 else 0 end), 0) as opted_out_after
        from campaign_recipient r join campaign c on c.campaign_id = r.campaign_id
            left join outbox o on o.outbox_id = r.outbox_id
        where r.campaign_id = $1",
    )
    .bind(campaign_id)
    .fetch_one(store.pool())
    .await?)
}

/// Why a campaign's texts were blocked, held or failed, with how many of each.
///
/// # Errors
/// Database failures.
pub async fn reasons(store: &Store, campaign_id: &str) -> Result<Vec<(String, String, i64)>, StoreError> {
    Ok(sqlx::query_as(
        "select coalesce(o.status, r.state) as status, coalesce(o.reason, r.reason, '') as reason, count(*)
        from campaign_recipient r left join outbox o on o.outbox_id = r.outbox_id
        where r.campaign_id = $1 and (r.state = 'blocked' or o.status in ('blocked', 'held', 'failed'))
        group by coalesce(o.status, r.state), coalesce(o.reason, r.reason, '') order by 3 desc",
    )
    .bind(campaign_id)
    .fetch_all(store.pool())
    .await?)
}
