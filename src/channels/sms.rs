//! SMS/MMS channel: Twilio messaging webhooks in, TwiML replies out.
//!
//! Owns Twilio's inbound messaging fields (`MessageSid`, `From`, `To`, `Body`, `NumMedia`,
//! `MediaUrlN`, …). Everything after [`parse_inbound`] speaks [`Inbound`].

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde_json::json;

use super::{rejection_reason, TwilioForm};
use crate::domain::{mask_phone, Channel, Inbound, Media, PhoneNumber};
use crate::error::{AppError, Result};
use crate::pipeline::Handled;
use crate::state::AppState;
use crate::store::receipts;
use crate::twilio::twiml;
use crate::uploads;

/// 10: Twilio's maximum number of media in one MMS.
const MAX_MEDIA: usize = 10;

pub fn router() -> Router<AppState> {
    Router::new().route("/webhooks/twilio/sms", post(receive_sms))
}

#[tracing::instrument(skip_all, fields(channel = "sms", conversation_id = tracing::field::Empty))]
async fn receive_sms(State(state): State<AppState>, form: TwilioForm) -> Result<Response> {
    let parsed = parse_inbound(&form).inspect_err(|e| {
        state.metrics.inc("leafdesk_webhook_rejections_total", &[("reason", rejection_reason(e))]);
    })?;
    let inbound = match parsed {
        Webhook::Message(inbound) => inbound,
        Webhook::OtherSender { provider_id } => return other_sender(&state, &provider_id).await,
    };
    let service = inbound.messaging_service_sid.clone();
    let Some(location) = state.locations.resolve(&state.store, &inbound.to, service.as_deref()).await? else {
        return unrouted(&state, &inbound).await;
    };
    if !inbound.media.is_empty() {
        let mms = uploads::Mms { from: &inbound.from, location_id: &location.location_id, media: &inbound.media };
        match uploads::file_mms(&state.store, &state.uploads, &state.media, state.commerce.as_ref(), &mms).await {
            Ok(Some(_)) => state.metrics.inc("leafdesk_uploads_total", &[("source", "mms")]),
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "an MMS document was not filed; the flow asks again"),
        }
    }
    let handled = state.pipeline.handle(inbound, location).await?;
    let texts = match &handled {
        Handled::Replied { conversation_id, texts, .. } => {
            tracing::Span::current().record("conversation_id", conversation_id.as_str());
            texts.as_slice()
        }
        Handled::Duplicate { texts } | Handled::Event { texts, .. } => texts.as_slice(),
        Handled::Silent { .. } => &[],
    };
    Ok(twiml_reply(twiml::messaging_response(texts)))
}

fn twiml_reply(xml: String) -> Response {
    ([(header::CONTENT_TYPE, "text/xml; charset=utf-8")], xml).into_response()
}

/// A number we do not serve: acknowledge (Twilio must not retry forever) and record it.
async fn unrouted(state: &AppState, inbound: &Inbound) -> Result<Response> {
    tracing::warn!(to = %mask_phone(&inbound.to), from = %inbound.from.masked(), "message to a number leafdesk does not serve");
    let detail = json!({ "to": inbound.to, "from": mask_phone(inbound.from.as_ref()), "messaging_service_sid": inbound.messaging_service_sid });
    acknowledge(state, &format!("unrouted:{}", inbound.provider_id), "unrouted_message", &detail).await?;
    state.metrics.inc("leafdesk_webhook_rejections_total", &[("reason", "unknown_number")]);
    Ok(twiml_reply(twiml::empty_response()))
}

/// A short code or alphanumeric sender: recorded, answered with nothing (no flow, no consent).
async fn other_sender(state: &AppState, provider_id: &str) -> Result<Response> {
    tracing::info!("message from a short code or alphanumeric sender; recorded, not answered");
    let detail = json!({ "sid": provider_id });
    acknowledge(state, &format!("other_sender:{provider_id}"), "other_sender_message", &detail).await?;
    state.metrics.inc("leafdesk_webhook_rejections_total", &[("reason", "not_a_phone_sender")]);
    Ok(twiml_reply(twiml::empty_response()))
}

async fn acknowledge(state: &AppState, key: &str, kind: &str, detail: &serde_json::Value) -> Result<()> {
    let mut tx = state.store.begin().await?;
    receipts::record(&mut tx, key, kind, detail, state.store.now_ms()).await?;
    tx.commit().await.map_err(crate::store::StoreError::from)?;
    Ok(())
}

/// What a verified messaging webhook carries.
#[derive(Debug)]
pub enum Webhook {
    /// A customer's message from a phone number.
    Message(Inbound),
    /// A message from a short code or an alphanumeric sender (a carrier, a bank): nobody to
    /// answer and no consent to change. Recorded, answered with an empty `<Response/>`.
    OtherSender { provider_id: String },
}

/// Turns a verified messaging webhook into an [`Inbound`].
///
/// # Errors
/// `Validation` naming the missing or malformed field.
pub fn parse_inbound(form: &TwilioForm) -> Result<Webhook> {
    let provider_id = form.message_sid()?.to_owned();
    let raw_from = form.require("From")?;
    let raw_from = raw_from.strip_prefix("whatsapp:").unwrap_or(raw_from);
    let from = match PhoneNumber::parse(raw_from) {
        Ok(from) => from,
        Err(_) if is_other_sender(raw_from) => return Ok(Webhook::OtherSender { provider_id }),
        Err(e) => return Err(phone_error("From", raw_from, &e)),
    };
    let raw_to = form.require("To")?;
    let raw_to = raw_to.strip_prefix("whatsapp:").unwrap_or(raw_to);
    let to = PhoneNumber::parse(raw_to).map_err(|e| phone_error("To", raw_to, &e))?.as_ref().to_owned();
    let body = form.get("Body").unwrap_or("").to_owned();
    Ok(Webhook::Message(Inbound {
        channel: Channel::Sms,
        provider_id,
        from,
        to,
        messaging_service_sid: form.get("MessagingServiceSid").filter(|s| !s.is_empty()).map(str::to_owned),
        body,
        media: parse_media(form)?,
        opt_out_type: form.get("OptOutType").filter(|t| !t.is_empty()).map(str::to_ascii_uppercase),
    }))
}

fn phone_error(field: &'static str, raw: &str, e: &crate::domain::DomainError) -> AppError {
    // A '+' sent unencoded in a form body arrives as a space.
    let hint = if raw.starts_with(' ') { "; encode '+' as %2B in a form body" } else { "" };
    AppError::Validation { field, message: format!("{e}{hint}") }
}

/// A short code (3 to 8 digits, as US and other carriers use) or an alphanumeric sender ID
/// (up to 11 letters, digits and spaces, with at least one letter).
fn is_other_sender(raw: &str) -> bool {
    let short_code = (3..=8).contains(&raw.len()) && raw.bytes().all(|b| b.is_ascii_digit());
    let alphanumeric = (1..=11).contains(&raw.len())
        && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b' ')
        && raw.bytes().any(|b| b.is_ascii_alphabetic())
        && !raw.starts_with(' ');
    short_code || alphanumeric
}

fn parse_media(form: &TwilioForm) -> Result<Vec<Media>> {
    let count = match form.get("NumMedia").map(str::trim).filter(|s| !s.is_empty()) {
        None => 0,
        Some(raw) => raw.parse::<usize>().ok().filter(|n| *n <= MAX_MEDIA).ok_or_else(|| AppError::Validation {
            field: "NumMedia",
            message: format!("{raw:?} is not a number from 0 to {MAX_MEDIA}"),
        })?,
    };
    (0..count)
        .map(|i| {
            let url =
                form.get(&format!("MediaUrl{i}")).filter(|u| u.starts_with("https://") || u.starts_with("http://"));
            let url = url.ok_or_else(|| AppError::Validation {
                field: "MediaUrlN",
                message: format!("MediaUrl{i} is missing or not a URL"),
            })?;
            let content_type = form.get(&format!("MediaContentType{i}")).unwrap_or("application/octet-stream");
            Ok(Media { url: url.to_owned(), content_type: content_type.to_owned() })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> TwilioForm {
        TwilioForm { params: pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect() }
    }

    const SID: &str = "SM0123456789abcdef0123456789abcdef";
    const GOOD: &[(&str, &str)] =
        &[("MessageSid", SID), ("From", "+14155550100"), ("To", "+15005550006"), ("Body", "hi")];

    fn message(pairs: &[(&str, &str)]) -> Inbound {
        match parse_inbound(&form(pairs)) {
            Ok(Webhook::Message(inbound)) => inbound,
            other => panic!("{pairs:?} should parse as a message, got {other:?}"),
        }
    }

    #[test]
    fn a_complete_webhook_parses_with_its_media() {
        let mut pairs = GOOD.to_vec();
        pairs.extend([
            ("NumMedia", "2"),
            ("MediaUrl0", "https://api.twilio.com/m/0"),
            ("MediaContentType0", "image/jpeg"),
            ("MediaUrl1", "https://api.twilio.com/m/1"),
            ("MediaContentType1", "application/pdf"),
        ]);
        let inbound = message(&pairs);
        assert_eq!(inbound.media.len(), 2);
        assert_eq!(inbound.media[1].content_type, "application/pdf");
        assert_eq!(inbound.body, "hi");
    }

    #[test]
    fn missing_or_bad_fields_are_named() {
        let (from, to) = (("From", "+14155550100"), ("To", "+15005550006"));
        let sid = ("MessageSid", SID);
        let cases: &[(&str, &[(&str, &str)])] = &[
            ("MessageSid", &[from, to]),
            ("MessageSid", &[("MessageSid", "SM1"), from, to]),
            ("MessageSid", &[("MessageSid", "SM0123456789ABCDEF0123456789ABCDEF"), from, to]),
            ("MessageSid", &[("MessageSid", "SM0123456789abcdef0123456789abcdefTo+1"), from, to]),
            ("MessageSid", &[sid, ("SmsSid", "SM99999999999999999999999999999999"), from, to]),
            ("MessageSid", &[sid, ("SmsMessageSid", "SMffffffffffffffffffffffffffffffff"), from, to]),
            ("From", &[sid, to]),
            ("To", &[sid, from]),
            ("From", &[sid, ("From", "not-a-number"), to]),
            ("NumMedia", &[sid, from, to, ("NumMedia", "99")]),
            ("MediaUrlN", &[sid, from, to, ("NumMedia", "1")]),
        ];
        for (field, pairs) in cases {
            match parse_inbound(&form(pairs)) {
                Err(AppError::Validation { field: f, .. }) => assert_eq!(f, *field, "{pairs:?}"),
                other => panic!("{pairs:?} should be rejected naming {field}, got {other:?}"),
            }
        }
        let unencoded_plus = [sid, ("From", " 14155550100"), to];
        match parse_inbound(&form(&unencoded_plus)) {
            Err(AppError::Validation { message, .. }) => assert!(message.contains("%2B"), "{message}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_deprecated_sid_fields_are_accepted_when_they_agree() {
        let mut pairs = GOOD.to_vec();
        pairs.extend([("SmsSid", SID), ("SmsMessageSid", SID)]);
        assert_eq!(message(&pairs).provider_id, SID);
        let mms = [("MessageSid", "MM0123456789abcdef0123456789abcdef"), GOOD[1], GOOD[2]];
        assert!(message(&mms).provider_id.starts_with("MM"));
    }

    #[test]
    fn short_codes_and_alphanumeric_senders_are_not_customers() {
        for sender in ["12345", "898211", "MyBank", "ACME Alerts"] {
            let pairs = [GOOD[0], ("From", sender), GOOD[2], GOOD[3]];
            assert!(
                matches!(parse_inbound(&form(&pairs)), Ok(Webhook::OtherSender { .. })),
                "{sender:?} should be taken for a short code or sender ID"
            );
        }
    }

    #[test]
    fn oversized_fields_are_refused() {
        let long_body = "x".repeat(1601);
        let long_value = "y".repeat(2049);
        let long_key = "K".repeat(65);
        let many: Vec<(String, String)> = (0..101).map(|i| (format!("F{i}"), String::new())).collect();
        for (why, params) in [
            ("a body over 1600 characters", vec![("Body".to_owned(), long_body)]),
            ("a value over 2048 bytes", vec![("MessageSid".to_owned(), long_value)]),
            ("a key over 64 bytes", vec![(long_key, "v".to_owned())]),
            ("over 100 fields", many),
        ] {
            assert!(TwilioForm { params }.check_sizes().is_err(), "{why} should be refused");
        }
        let emoji_body = "🌿".repeat(1600); // 1600 characters, 6400 bytes: Twilio's limit is characters
        assert!(TwilioForm { params: vec![("Body".to_owned(), emoji_body)] }.check_sizes().is_ok());
    }
}
