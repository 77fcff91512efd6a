//! Contacts: customers by phone number, with locale, customer type and, when the platform
//! knows it, where they live.

use sqlx::{AnyConnection, FromRow};

use super::{corrupt, Store, StoreError, Tx};
use crate::domain::commerce::CustomerType;

#[derive(Debug, Clone)]
pub struct Contact {
    pub contact_id: String,
    pub phone: String,
    pub locale: String,
    pub customer_type: CustomerType,
    pub first_name: Option<String>,
}

#[derive(FromRow)]
pub(super) struct ContactRow {
    pub contact_id: String,
    pub phone: String,
    pub locale: String,
    pub customer_type: String,
    pub first_name: Option<String>,
}

impl TryFrom<ContactRow> for Contact {
    type Error = StoreError;

    fn try_from(r: ContactRow) -> Result<Self, StoreError> {
        Ok(Self {
            customer_type: CustomerType::parse(&r.customer_type)
                .ok_or_else(|| corrupt("contact customer_type", &r.customer_type))?,
            contact_id: r.contact_id,
            phone: r.phone,
            locale: r.locale,
            first_name: r.first_name,
        })
    }
}

const FIND: &str = "select contact_id, phone, locale, customer_type, first_name from contact where phone = $1";
const FIND_BY_ID: &str =
    "select contact_id, phone, locale, customer_type, first_name from contact where contact_id = $1";
const INSERT: &str = "insert into contact (contact_id, phone, created_at_ms) values ($1, $2, $3)";
// A field given as null keeps the stored value (a new contact gets the defaults).
const UPSERT: &str = "insert into contact
        (contact_id, phone, locale, customer_type, first_name, state, timezone, created_at_ms)
    values ($1, $2, coalesce($3, 'en'), coalesce($4, 'adult_use'), $5, $6, $7, $8)
    on conflict (phone) do update set locale = coalesce($3, contact.locale),
        customer_type = coalesce($4, contact.customer_type), first_name = coalesce($5, contact.first_name),
        state = coalesce($6, contact.state), timezone = coalesce($7, contact.timezone)
    returning contact_id";

/// A contact's profile as the platform or the demo gives it; `None` keeps what is stored.
#[derive(Debug, Clone, Copy)]
pub struct Profile<'a> {
    pub phone: &'a str,
    pub locale: Option<&'a str>,
    pub customer_type: Option<CustomerType>,
    pub first_name: Option<&'a str>,
    /// USPS state code of where they live.
    pub state: Option<&'a str>,
    /// IANA timezone of where they live.
    pub timezone: Option<&'a str>,
}

/// Where a contact lives, as far as leafdesk was told.
#[derive(Debug, Clone, Default, FromRow)]
pub struct Place {
    pub state: Option<String>,
    pub timezone: Option<String>,
}

/// A new contact with defaults, on first contact.
///
/// # Errors
/// Database failures; a unique violation if the phone is known already.
#[tracing::instrument(skip_all)]
pub async fn create(tx: &mut Tx<'_>, phone: &str, now_ms: i64) -> Result<Contact, StoreError> {
    let id = crate::new_id();
    sqlx::query(INSERT).bind(&id).bind(phone).bind(now_ms).execute(&mut **tx).await?;
    Ok(Contact {
        contact_id: id,
        phone: phone.to_owned(),
        locale: "en".into(),
        customer_type: CustomerType::AdultUse,
        first_name: None,
    })
}

/// # Errors
/// Database failures.
pub async fn find(store: &Store, phone: &str) -> Result<Option<Contact>, StoreError> {
    let row: Option<ContactRow> = sqlx::query_as(FIND).bind(phone).fetch_optional(store.pool()).await?;
    row.map(Contact::try_from).transpose()
}

/// # Errors
/// Database failures.
pub async fn find_by_id(store: &Store, contact_id: &str) -> Result<Option<Contact>, StoreError> {
    let row: Option<ContactRow> = sqlx::query_as(FIND_BY_ID).bind(contact_id).fetch_optional(store.pool()).await?;
    row.map(Contact::try_from).transpose()
}

/// Creates or updates a contact's profile (demo data, customer sync); returns its id.
///
/// # Errors
/// Database failures.
pub async fn upsert(conn: &mut AnyConnection, p: &Profile<'_>, now_ms: i64) -> Result<String, StoreError> {
    let (contact_id,): (String,) = sqlx::query_as(UPSERT)
        .bind(crate::new_id())
        .bind(p.phone)
        .bind(p.locale)
        .bind(p.customer_type.map(CustomerType::as_str))
        .bind(p.first_name)
        .bind(p.state)
        .bind(p.timezone)
        .bind(now_ms)
        .fetch_one(conn)
        .await?;
    Ok(contact_id)
}

const SET_LOCALE: &str = "update contact set locale = $2 where contact_id = $1";

/// The language the customer is answered in from now on.
///
/// # Errors
/// Database failures.
pub async fn set_locale(tx: &mut Tx<'_>, contact_id: &str, locale: &str) -> Result<(), StoreError> {
    sqlx::query(SET_LOCALE).bind(contact_id).bind(locale).execute(&mut **tx).await?;
    Ok(())
}
