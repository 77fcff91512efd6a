//! Customers as the platform knows them: type, medical recommendation, verification status and
//! checkout lock. Read by [`super::DbCommerce`]; kept up to date by the platform's customer sync,
//! the demo data, and medical re-verification.

use sqlx::{AnyConnection, FromRow};

use crate::domain::commerce::{Customer, CustomerType, LockReason, VerificationStatus};
use crate::store::{corrupt, StoreError};

const CUSTOMER: &str = "select customer_id, contact_id, location_id, customer_type, date_of_birth,
        recommendation_expires_on, verification_status, preferred_channel, non_resident, locked_reason
    from customer where contact_id = $1";
const CUSTOMER_BY_ID: &str = "select customer_id, contact_id, location_id, customer_type, date_of_birth,
        recommendation_expires_on, verification_status, preferred_channel, non_resident, locked_reason
    from customer where customer_id = $1";
const UPSERT_CUSTOMER: &str = "insert into customer (customer_id, contact_id, location_id, customer_type,
        date_of_birth, recommendation_expires_on, verification_status, preferred_channel, non_resident, locked_reason,
        created_at_ms, updated_at_ms)
    values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)
    on conflict (customer_id) do update set contact_id = excluded.contact_id, location_id = excluded.location_id,
        customer_type = excluded.customer_type,
        date_of_birth = excluded.date_of_birth, recommendation_expires_on = excluded.recommendation_expires_on,
        verification_status = excluded.verification_status, preferred_channel = excluded.preferred_channel,
        non_resident = excluded.non_resident, locked_reason = excluded.locked_reason,
        updated_at_ms = excluded.updated_at_ms";
const SET_VERIFICATION: &str = "update customer set verification_status = $2, locked_reason = $3, updated_at_ms = $4
    where customer_id = $1";
const SET_NUMBER: &str = "update customer set recommendation_number_sealed = $2 where customer_id = $1";
const SET_EXPIRY: &str = "update customer set recommendation_expires_on = $2 where customer_id = $1";
const EXPIRED_MEDICAL: &str = "select c.customer_id, c.recommendation_expires_on, l.timezone from customer c
    join location l on l.location_id = c.location_id
    where c.customer_type = 'medical' and c.verification_status = 'verified' and c.locked_reason is null
        and c.recommendation_expires_on is not null and c.recommendation_expires_on < $1";

#[derive(FromRow)]
struct CustomerRow {
    customer_id: String,
    contact_id: String,
    location_id: String,
    customer_type: String,
    date_of_birth: Option<String>,
    recommendation_expires_on: Option<String>,
    verification_status: String,
    preferred_channel: String,
    non_resident: i64,
    locked_reason: Option<String>,
}

impl TryFrom<CustomerRow> for Customer {
    type Error = StoreError;

    fn try_from(r: CustomerRow) -> Result<Self, StoreError> {
        let locked_reason = match r.locked_reason.as_deref() {
            None => None,
            Some(raw) => Some(LockReason::parse(raw).ok_or_else(|| corrupt("customer locked_reason", raw))?),
        };
        Ok(Self {
            customer_type: CustomerType::parse(&r.customer_type)
                .ok_or_else(|| corrupt("customer customer_type", &r.customer_type))?,
            verification_status: VerificationStatus::parse(&r.verification_status)
                .ok_or_else(|| corrupt("customer verification_status", &r.verification_status))?,
            customer_id: r.customer_id,
            contact_id: r.contact_id,
            location_id: r.location_id,
            date_of_birth: r.date_of_birth,
            recommendation_expires_on: r.recommendation_expires_on,
            preferred_channel: r.preferred_channel,
            non_resident: r.non_resident != 0,
            locked_reason,
        })
    }
}

/// # Errors
/// Database failures.
pub async fn customer(conn: &mut AnyConnection, contact_id: &str) -> Result<Option<Customer>, StoreError> {
    let row: Option<CustomerRow> = sqlx::query_as(CUSTOMER).bind(contact_id).fetch_optional(conn).await?;
    row.map(Customer::try_from).transpose()
}

/// # Errors
/// Database failures.
pub async fn customer_by_id(conn: &mut AnyConnection, customer_id: &str) -> Result<Option<Customer>, StoreError> {
    let row: Option<CustomerRow> = sqlx::query_as(CUSTOMER_BY_ID).bind(customer_id).fetch_optional(conn).await?;
    row.map(Customer::try_from).transpose()
}

/// Creates or updates a customer record (demo data, the platform's customer sync).
///
/// # Errors
/// Database failures.
pub async fn upsert(conn: &mut AnyConnection, c: &Customer, now_ms: i64) -> Result<(), StoreError> {
    sqlx::query(UPSERT_CUSTOMER)
        .bind(&c.customer_id)
        .bind(&c.contact_id)
        .bind(&c.location_id)
        .bind(c.customer_type.as_str())
        .bind(&c.date_of_birth)
        .bind(&c.recommendation_expires_on)
        .bind(c.verification_status.as_str())
        .bind(&c.preferred_channel)
        .bind(i64::from(c.non_resident))
        .bind(c.locked_reason.map(LockReason::as_str))
        .bind(now_ms)
        .execute(conn)
        .await?;
    Ok(())
}

/// Sets a customer's verification status and why checkout is locked (`None`: unlocked).
///
/// # Errors
/// Database failures.
pub async fn set_verification(
    conn: &mut AnyConnection,
    customer_id: &str,
    status: VerificationStatus,
    locked_reason: Option<LockReason>,
    now_ms: i64,
) -> Result<(), StoreError> {
    sqlx::query(SET_VERIFICATION)
        .bind(customer_id)
        .bind(status.as_str())
        .bind(locked_reason.map(LockReason::as_str))
        .bind(now_ms)
        .execute(conn)
        .await?;
    Ok(())
}

/// Stores the customer's medical recommendation number, already sealed by the caller.
///
/// # Errors
/// Database failures.
pub async fn set_recommendation_number(
    conn: &mut AnyConnection,
    customer_id: &str,
    sealed: &[u8],
) -> Result<(), StoreError> {
    sqlx::query(SET_NUMBER).bind(customer_id).bind(sealed).execute(conn).await?;
    Ok(())
}

/// # Errors
/// Database failures.
pub async fn set_recommendation_expiry(
    conn: &mut AnyConnection,
    customer_id: &str,
    on: &str,
) -> Result<(), StoreError> {
    sqlx::query(SET_EXPIRY).bind(customer_id).bind(on).execute(conn).await?;
    Ok(())
}

/// Medical customers still verified whose recommendation ended before `before` (YYYY-MM-DD,
/// a superset: the caller checks each against its location's date), with their timezone.
///
/// # Errors
/// Database failures.
pub async fn expiring_medical(
    conn: &mut AnyConnection,
    before: &str,
) -> Result<Vec<(String, String, String)>, StoreError> {
    Ok(sqlx::query_as(EXPIRED_MEDICAL).bind(before).fetch_all(conn).await?)
}

/// The customer's sealed recommendation number, if the platform sent one.
///
/// # Errors
/// Database failures.
pub async fn recommendation_number_sealed(
    conn: &mut AnyConnection,
    customer_id: &str,
) -> Result<Option<Vec<u8>>, StoreError> {
    let row: Option<(Option<Vec<u8>>,)> =
        sqlx::query_as("select recommendation_number_sealed from customer where customer_id = $1")
            .bind(customer_id)
            .fetch_optional(conn)
            .await?;
    Ok(row.and_then(|(sealed,)| sealed))
}
