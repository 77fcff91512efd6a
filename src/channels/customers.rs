//! Customer sync: `PUT /api/v1/customers/{id}`, the platform telling leafdesk who a customer
//! is (phone, store, adult-use or medical, recommendation expiry, language), so its events can
//! reach them. Signed exactly as events are (see `crate::signed`), the signature checked first.
//!
//! Owns the customer wire format; storing is `store::contacts` and `store::commerce`.

use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::put;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::events::{signed_body, MAX_ID_CHARS};
use crate::commerce::Customer;
use crate::domain::commerce::{CustomerType, VerificationStatus};
use crate::domain::PhoneNumber;
use crate::error::{AppError, Refused};
use crate::state::AppState;
use crate::store::commerce::{customers, orders};
use crate::store::{contacts, locations, StoreError};

pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/customers/{id}", put(put_customer))
}

/// A customer as the platform syncs it. Only `phone` and `location_id` are always required
/// (and `customer_type` for a new customer): a field left out keeps its stored value, so a
/// partial sync never unlocks an account or forgets a recommendation's expiry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomerPayload {
    phone: String,
    /// leafdesk's id of the customer's store (`leafdesk location list`).
    location_id: String,
    customer_type: Option<String>,
    first_name: Option<String>,
    locale: Option<String>,
    date_of_birth: Option<String>,
    /// Medical data: sealed before it is stored, never logged.
    recommendation_number: Option<String>,
    recommendation_expires_on: Option<String>,
    /// `verified` given explicitly also releases a checkout lock and the orders it held.
    verification_status: Option<String>,
    preferred_channel: Option<String>,
    non_resident: Option<bool>,
    /// Where the customer lives: USPS state code and IANA timezone. Quiet hours follow these
    /// when given, else the phone's area code.
    address_state: Option<String>,
    timezone: Option<String>,
}

/// The record a sync leaves: the stored one with the payload's fields laid over it, and
/// whether a checkout lock is released (an explicit `verification_status: verified`).
///
/// # Errors
/// 422 when a new customer has no `customer_type`.
fn merge(
    existing: Option<&Customer>,
    p: &CustomerPayload,
    customer_id: &str,
    contact_id: &str,
) -> Result<(Customer, bool), AppError> {
    let kept = |given: &Option<String>, stored: Option<&String>| given.clone().or_else(|| stored.cloned());
    // `check` has refused any other code.
    let customer_type = p.customer_type.as_deref().and_then(CustomerType::parse);
    let customer_type = customer_type
        .or(existing.map(|c| c.customer_type))
        .ok_or_else(|| invalid("customer_type is required for a new customer: adult_use or medical".into()))?;
    let status = p.verification_status.as_deref().and_then(VerificationStatus::parse);
    let locked = existing.and_then(|c| c.locked_reason);
    let release = locked.is_some() && status == Some(VerificationStatus::Verified);
    let customer = Customer {
        customer_id: customer_id.to_owned(),
        contact_id: contact_id.to_owned(),
        location_id: p.location_id.clone(),
        customer_type,
        date_of_birth: kept(&p.date_of_birth, existing.and_then(|c| c.date_of_birth.as_ref())),
        recommendation_expires_on: kept(
            &p.recommendation_expires_on,
            existing.and_then(|c| c.recommendation_expires_on.as_ref()),
        ),
        verification_status: status.or(existing.map(|c| c.verification_status)).unwrap_or(VerificationStatus::Verified),
        preferred_channel: kept(&p.preferred_channel, existing.map(|c| &c.preferred_channel))
            .unwrap_or_else(|| "sms".into()),
        non_resident: p.non_resident.or(existing.map(|c| c.non_resident)).unwrap_or(false),
        locked_reason: if release { None } else { locked },
    };
    Ok((customer, release))
}

fn invalid(message: String) -> AppError {
    AppError::rejected(Refused::Unprocessable, "invalid_field", message)
}

/// The payload's values, checked; the phone in E.164 form.
fn check(p: &CustomerPayload) -> Result<PhoneNumber, AppError> {
    // The message leaves the number out: error messages reach the logs.
    let phone = PhoneNumber::parse(&p.phone).map_err(|_| {
        invalid("phone must be in E.164 form: + then country code and number, e.g. +14155550123".into())
    })?;
    let one_of = |field: &str, value: &str, allowed: &[&str]| {
        if allowed.contains(&value) {
            Ok(())
        } else {
            Err(invalid(format!("{field} {value:?} must be one of {}", allowed.join(", "))))
        }
    };
    let given = |value: &Option<String>, field, allowed| value.as_deref().map_or(Ok(()), |v| one_of(field, v, allowed));
    given(&p.customer_type, "customer_type", CustomerType::CODES)?;
    given(&p.locale, "locale", crate::templates::LOCALES)?;
    // What the platform may say; `id_failed` comes only from a lock leafdesk makes.
    let platform_statuses = [
        VerificationStatus::Verified,
        VerificationStatus::PendingReview,
        VerificationStatus::Expired,
        VerificationStatus::Rejected,
    ]
    .map(VerificationStatus::as_str);
    given(&p.verification_status, "verification_status", &platform_statuses)?;
    given(&p.preferred_channel, "preferred_channel", &["sms", "web", "voice"])?;
    if let Some(state) = p.address_state.as_deref().filter(|s| !crate::compliance::area_codes::is_us_state(s)) {
        return Err(invalid(format!("address_state {state:?} must be a US state or territory code like CA")));
    }
    if let Some(tz) = p.timezone.as_deref().filter(|tz| jiff::tz::TimeZone::get(tz).is_err()) {
        return Err(invalid(format!("timezone {tz:?} must be an IANA timezone like America/Los_Angeles")));
    }
    for (field, value) in
        [("date_of_birth", &p.date_of_birth), ("recommendation_expires_on", &p.recommendation_expires_on)]
    {
        if let Some(v) = value {
            // The value is not quoted back: a date of birth is personal data, and errors are logged.
            v.parse::<jiff::civil::Date>().map_err(|_| invalid(format!("{field} must be a date like 2027-01-31")))?;
        }
    }
    for (field, value, max) in [
        ("first_name", p.first_name.as_deref(), 100),
        ("recommendation_number", p.recommendation_number.as_deref(), 64),
        ("location_id", Some(p.location_id.as_str()), 64),
    ] {
        if value.is_some_and(|v| v.chars().count() > max) {
            return Err(invalid(format!("{field} is longer than {max} characters")));
        }
        if value.is_some_and(|v| v.contains('\0')) {
            return Err(invalid(format!("{field}: {}", super::events::NUL_REFUSED)));
        }
    }
    Ok(phone)
}

/// What a customer's sealed recommendation number is bound to (as associated data).
pub fn recommendation_context(customer_id: &str) -> String {
    format!("recommendation:{customer_id}")
}

/// The customer in a body, its values checked; the phone in E.164 form.
///
/// # Errors
/// 400 for a body that is not a customer, 422 naming the invalid field.
pub fn parse_customer(body: &[u8]) -> Result<(CustomerPayload, PhoneNumber), AppError> {
    // serde's message quotes the rejected value (a phone, a date of birth): it is not passed on.
    let p: CustomerPayload = serde_json::from_slice(body).map_err(|e| {
        let message = format!(
            "the body is not a valid customer ({} at line {}, column {}); see the CustomerSync schema in /api/v1/openapi.json",
            serde_category(&e),
            e.line(),
            e.column()
        );
        AppError::rejected(Refused::Malformed, "malformed_body", message)
    })?;
    let phone = check(&p)?;
    Ok((p, phone))
}

/// What kind of JSON error, without the value that caused it.
fn serde_category(e: &serde_json::Error) -> &'static str {
    match e.classify() {
        serde_json::error::Category::Io => "unreadable",
        serde_json::error::Category::Syntax => "not JSON",
        serde_json::error::Category::Data => "a field is unknown, missing or of the wrong type",
        serde_json::error::Category::Eof => "cut short",
    }
}

#[tracing::instrument(skip_all, fields(channel = "customers"), err(level = "warn"))]
async fn put_customer(
    State(state): State<AppState>,
    Path(customer_id): Path<String>,
    request: Request,
) -> Result<Response, AppError> {
    let (_, body) = signed_body(&state, request).await?;
    if super::is_blank(&customer_id) || customer_id.chars().count() > MAX_ID_CHARS || customer_id.contains('\0') {
        let message = format!("the customer id in the path must be 1 to {MAX_ID_CHARS} characters, without NUL");
        return Err(AppError::rejected(Refused::Unprocessable, "invalid_field", message));
    }
    let (p, phone) = parse_customer(&body)?;
    if locations::get(&state.store, &p.location_id).await?.is_none() {
        let message = format!("no location {:?}; `leafdesk location list` shows the ids", p.location_id);
        return Err(AppError::rejected(Refused::Unprocessable, "unknown_location", message));
    }
    // One transaction: the contact and the customer record change together or not at all.
    let mut tx = state.store.begin().await?;
    if let Some(known) = contacts::find(&state.store, phone.as_ref()).await? {
        let owner = state.commerce.open(&mut tx).customer(&known.contact_id).await?;
        if owner.is_some_and(|c| c.customer_id != customer_id) {
            return Err(AppError::rejected(
                Refused::Conflict,
                "phone_taken",
                "another customer already has this phone number; update or remove that customer first",
            ));
        }
    }
    let now = state.store.now_ms();
    let profile = contacts::Profile {
        phone: phone.as_ref(),
        locale: p.locale.as_deref(),
        customer_type: p.customer_type.as_deref().and_then(CustomerType::parse),
        first_name: p.first_name.as_deref(),
        state: p.address_state.as_deref(),
        timezone: p.timezone.as_deref(),
    };
    let contact_id = contacts::upsert(&mut tx, &profile, now).await?;
    let existing = state.commerce.open(&mut tx).customer_by_id(&customer_id).await?;
    let existed = existing.is_some();
    let (customer, release) = merge(existing.as_ref(), &p, &customer_id, &contact_id)?;
    if release {
        orders::release_orders(&mut tx, &contact_id).await?;
    }
    customers::upsert(&mut tx, &customer, now).await?;
    if let Some(number) = p.recommendation_number.as_deref().map(str::trim).filter(|n| !n.is_empty()) {
        let sealed = state.uploads.sealer.seal(&recommendation_context(&customer_id), number.as_bytes());
        customers::set_recommendation_number(&mut tx, &customer_id, &sealed).await?;
    }
    tx.commit().await.map_err(StoreError::from)?;
    let status = if existed { StatusCode::OK } else { StatusCode::CREATED };
    Ok((status, Json(json!({ "customer_id": customer_id, "contact_id": contact_id, "created": !existed })))
        .into_response())
}
