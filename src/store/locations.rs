//! Locations: the stores customers write to, each with its state, timezone and number, and a
//! cache of them by the number (or Messaging Service) they answer on.

use std::collections::HashMap;
use std::sync::RwLock;

use sqlx::{AnyConnection, FromRow};

use super::{Store, StoreError};
use crate::domain::commerce::Hours;

#[derive(Debug, Clone, FromRow, serde::Serialize)]
pub struct Location {
    pub location_id: String,
    pub name: String,
    pub state: String,
    pub timezone: String,
    pub phone_number: Option<String>,
    pub messaging_service_sid: Option<String>,
}

pub struct NewLocation<'a> {
    pub name: &'a str,
    pub state: &'a str,
    pub timezone: &'a str,
    pub phone_number: Option<&'a str>,
    pub messaging_service_sid: Option<&'a str>,
}

const INSERT: &str =
    "insert into location (location_id, name, state, timezone, phone_number, messaging_service_sid, created_at_ms)
    values ($1, $2, $3, $4, $5, $6, $7)";
const FIND_BY_NUMBER: &str = "select location_id, name, state, timezone, phone_number, messaging_service_sid
    from location where phone_number = $1";
const FIND_BY_SERVICE: &str = "select location_id, name, state, timezone, phone_number, messaging_service_sid
    from location where messaging_service_sid = $1";
const LIST: &str = "select location_id, name, state, timezone, phone_number, messaging_service_sid
    from location order by name";

/// # Errors
/// A unique violation when the number or service is already taken.
#[tracing::instrument(skip_all)]
pub async fn insert(store: &Store, new: &NewLocation<'_>) -> Result<Location, StoreError> {
    let id = crate::new_id();
    sqlx::query(INSERT)
        .bind(&id)
        .bind(new.name)
        .bind(new.state)
        .bind(new.timezone)
        .bind(new.phone_number)
        .bind(new.messaging_service_sid)
        .bind(store.now_ms())
        .execute(store.pool())
        .await?;

    Ok(Location {
        location_id: id,
        name: new.name.to_owned(),
        state: new.state.to_owned(),
        timezone: new.timezone.to_owned(),
        phone_number: new.phone_number.map(str::to_owned),
        messaging_service_sid: new.messaging_service_sid.map(str::to_owned),
    })
}

/// The location answering on `number`, else the one owning `service_sid`.
///
/// # Errors
/// Database failures.
#[tracing::instrument(skip_all)]
pub async fn find_by_endpoint(
    store: &Store,
    number: &str,
    service_sid: Option<&str>,
) -> Result<Option<Location>, StoreError> {
    let found: Option<Location> = sqlx::query_as(FIND_BY_NUMBER).bind(number).fetch_optional(store.pool()).await?;
    if found.is_some() {
        return Ok(found);
    }
    match service_sid {
        Some(sid) => Ok(sqlx::query_as(FIND_BY_SERVICE).bind(sid).fetch_optional(store.pool()).await?),
        None => Ok(None),
    }
}

/// Sets where a location is reached: its number and/or Messaging Service (`None` clears it).
/// `false` when there is no such location.
///
/// # Errors
/// Database failures; a unique violation when another location has that number or service.
pub async fn set_endpoints(
    store: &Store,
    location_id: &str,
    phone_number: Option<&str>,
    messaging_service_sid: Option<&str>,
) -> Result<bool, StoreError> {
    let done = sqlx::query("update location set phone_number = $2, messaging_service_sid = $3 where location_id = $1")
        .bind(location_id)
        .bind(phone_number)
        .bind(messaging_service_sid)
        .execute(store.pool())
        .await?;
    Ok(done.rows_affected() > 0)
}

/// # Errors
/// Database failures.
pub async fn list(store: &Store) -> Result<Vec<Location>, StoreError> {
    Ok(sqlx::query_as(LIST).fetch_all(store.pool()).await?)
}

/// # Errors
/// Database failures.
pub async fn get(store: &Store, location_id: &str) -> Result<Option<Location>, StoreError> {
    Ok(sqlx::query_as(
        "select location_id, name, state, timezone, phone_number, messaging_service_sid from location where location_id = $1",
    )
    .bind(location_id)
    .fetch_optional(store.pool())
    .await?)
}

const HOURS: &str = "select open_hour, close_hour from location where location_id = $1";

/// The store's opening and closing hour (location time, 0–24); 9 to 21 when unknown.
///
/// # Errors
/// Database failures.
pub async fn hours(conn: &mut AnyConnection, location_id: &str) -> Result<Hours, StoreError> {
    let row: Option<(i64, i64)> = sqlx::query_as(HOURS).bind(location_id).fetch_optional(conn).await?;
    let (open, close) = row.unwrap_or((9, 21));
    Ok(Hours { open: i8::try_from(open).unwrap_or(9), close: i8::try_from(close).unwrap_or(21) })
}

/// Locations by the number (or Messaging Service) customers write to. Locations change
/// rarely, so hits are cached; a miss always asks the database, so a location added by the
/// CLI while the server runs is found at once.
#[derive(Default)]
pub struct Cache {
    // std RwLock: never held across .await.
    by_endpoint: RwLock<HashMap<String, Location>>,
}

impl Cache {
    /// # Errors
    /// Database failures.
    pub async fn resolve(
        &self,
        store: &Store,
        number: &str,
        service_sid: Option<&str>,
    ) -> Result<Option<Location>, StoreError> {
        if let Some(hit) = self.lookup(number).or_else(|| service_sid.and_then(|s| self.lookup(s))) {
            return Ok(Some(hit));
        }
        let found = find_by_endpoint(store, number, service_sid).await?;
        if let Some(location) = &found {
            let key =
                if location.phone_number.as_deref() == Some(number) { number } else { service_sid.unwrap_or(number) };
            self.by_endpoint.write().unwrap_or_else(|e| e.into_inner()).insert(key.to_owned(), location.clone());
        }
        Ok(found)
    }

    fn lookup(&self, key: &str) -> Option<Location> {
        self.by_endpoint.read().unwrap_or_else(|e| e.into_inner()).get(key).cloned()
    }
}

const DETAILS: &str = "select details from location where location_id = $1";
const SET_DETAILS: &str = "update location set details = $2 where location_id = $1";

/// What a store tells customers besides their order (address, directions, parking, payment
/// methods, ID rules, delivery areas), as set by `location update --detail`; `{}` when unset.
///
/// # Errors
/// Database failures.
pub async fn details(conn: &mut AnyConnection, location_id: &str) -> Result<serde_json::Value, StoreError> {
    let row: Option<(String,)> = sqlx::query_as(DETAILS).bind(location_id).fetch_optional(conn).await?;
    Ok(row.and_then(|(text,)| serde_json::from_str(&text).ok()).unwrap_or_else(|| serde_json::json!({})))
}

/// Replaces a location's details; `false` when there is no such location.
///
/// # Errors
/// Database failures.
pub async fn set_details(store: &Store, location_id: &str, details: &serde_json::Value) -> Result<bool, StoreError> {
    let done = sqlx::query(SET_DETAILS).bind(location_id).bind(details.to_string()).execute(store.pool()).await?;
    Ok(done.rows_affected() == 1)
}
