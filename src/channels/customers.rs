//! Customer sync: `PUT /api/v1/customers/{id}`, the platform telling leafdesk who a customer
//! is (phone, store, adult-use or medical, recommendation expiry, language), so its events can
//! reach them. Signed exactly as events are (see `channels::events`).
//!
//! Owns the customer wire format; storing is `store::contacts` and `store::commerce`.

use axum::body::{to_bytes, Body};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::put;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::events::{check_json, verify, MAX_EVENT_BYTES};
use crate::commerce::Customer;
use crate::domain::PhoneNumber;
use crate::error::AppError;
use crate::startup::AppState;
use crate::store::{commerce, contacts, integrations, locations, StoreError};

pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/customers/{id}", put(put_customer))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CustomerPayload {
    phone: String,
    /// leafdesk's id of the customer's store (`leafdesk location list`).
    location_id: String,
    customer_type: String,
    first_name: Option<String>,
    #[serde(default = "default_locale")]
    locale: String,
    date_of_birth: Option<String>,
    /// Medical data: sealed before it is stored, never logged.
    recommendation_number: Option<String>,
    recommendation_expires_on: Option<String>,
    #[serde(default = "default_status")]
    verification_status: String,
    #[serde(default = "default_channel")]
    preferred_channel: String,
    #[serde(default)]
    non_resident: bool,
    /// Where the customer lives: USPS state code and IANA timezone. Quiet hours follow these
    /// when given, else the phone's area code.
    address_state: Option<String>,
    timezone: Option<String>,
}

fn default_locale() -> String {
    "en".into()
}
fn default_status() -> String {
    "verified".into()
}
fn default_channel() -> String {
    "sms".into()
}

fn invalid(message: String) -> AppError {
    AppError::rejected(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", message)
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
    one_of("customer_type", &p.customer_type, &["adult_use", "medical"])?;
    one_of("locale", &p.locale, crate::templates::LOCALES)?;
    one_of("verification_status", &p.verification_status, &["verified", "pending_review", "expired", "rejected"])?;
    one_of("preferred_channel", &p.preferred_channel, &["sms", "web", "voice"])?;
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
            v.parse::<jiff::civil::Date>()
                .map_err(|_| invalid(format!("{field} {v:?} must be a date like 2027-01-31")))?;
        }
    }
    Ok(phone)
}

/// What a customer's sealed recommendation number is bound to (as associated data).
pub fn recommendation_context(customer_id: &str) -> String {
    format!("recommendation:{customer_id}")
}

#[tracing::instrument(skip_all, fields(channel = "customers"), err(level = "warn"))]
async fn put_customer(
    State(state): State<AppState>,
    Path(customer_id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, AppError> {
    check_json(&headers)?;
    let body = to_bytes(body, MAX_EVENT_BYTES).await.map_err(|_| AppError::TooLarge(MAX_EVENT_BYTES))?;
    verify(&integrations::active(&state.store).await?, &headers, &body, state.store.now_ms() / 1000)?;
    let p: CustomerPayload = serde_json::from_slice(&body).map_err(|e| {
        AppError::rejected(StatusCode::BAD_REQUEST, "malformed_body", format!("the body is not a valid customer: {e}"))
    })?;
    let phone = check(&p)?;
    if locations::get(&state.store, &p.location_id).await?.is_none() {
        let message = format!("no location {:?}; `leafdesk location list` shows the ids", p.location_id);
        return Err(AppError::rejected(StatusCode::UNPROCESSABLE_ENTITY, "unknown_location", message));
    }
    // One transaction: the contact and the customer record change together or not at all.
    let mut tx = state.store.begin().await?;
    if let Some(known) = contacts::find(&state.store, phone.as_ref()).await? {
        let owner = commerce::customer(&mut tx, &known.contact_id).await?;
        if owner.is_some_and(|c| c.customer_id != customer_id) {
            return Err(AppError::rejected(
                StatusCode::CONFLICT,
                "phone_taken",
                "another customer already has this phone number; update or remove that customer first",
            ));
        }
    }
    let profile = contacts::Profile {
        phone: phone.as_ref(),
        locale: &p.locale,
        customer_type: &p.customer_type,
        first_name: p.first_name.as_deref(),
        state: p.address_state.as_deref(),
        timezone: p.timezone.as_deref(),
    };
    let contact_id = contacts::upsert(&mut tx, &profile, state.store.now_ms()).await?;
    let existed = commerce::customer_by_id(&mut tx, &customer_id).await?.is_some();
    let customer = Customer {
        customer_id: customer_id.clone(),
        contact_id: contact_id.clone(),
        location_id: p.location_id,
        customer_type: p.customer_type,
        date_of_birth: p.date_of_birth,
        recommendation_expires_on: p.recommendation_expires_on,
        verification_status: p.verification_status,
        preferred_channel: p.preferred_channel,
        non_resident: p.non_resident,
        locked_reason: None,
    };
    commerce::upsert_customer(&mut tx, &customer, state.store.now_ms()).await?;
    if let Some(number) = p.recommendation_number.as_deref().map(str::trim).filter(|n| !n.is_empty()) {
        let sealed = state.uploads.sealer.seal(&recommendation_context(&customer_id), number.as_bytes());
        commerce::set_recommendation_number(&mut tx, &customer_id, &sealed).await?;
    }
    tx.commit().await.map_err(StoreError::from)?;
    let status = if existed { StatusCode::OK } else { StatusCode::CREATED };
    Ok((status, Json(json!({ "customer_id": customer_id, "contact_id": contact_id, "created": !existed })))
        .into_response())
}
