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
use crate::startup::AppState;
use crate::store::locations::Location;
use crate::store::{commerce, contacts, conversations, receipts};
use crate::twilio::twiml;
use crate::uploads::{self, Source};

/// 1600: the longest body Twilio delivers; anything longer did not come from Twilio.
const MAX_INBOUND_CHARS: usize = 1600;
/// 10: Twilio's maximum number of media in one MMS.
const MAX_MEDIA: usize = 10;

pub fn router() -> Router<AppState> {
    Router::new().route("/webhooks/twilio/sms", post(receive_sms))
}

#[tracing::instrument(skip_all, fields(channel = "sms", conversation_id = tracing::field::Empty))]
async fn receive_sms(State(state): State<AppState>, form: TwilioForm) -> Result<Response> {
    let inbound = parse_inbound(&form).inspect_err(|e| {
        state.metrics.inc("leafdesk_webhook_rejections_total", &[("reason", rejection_reason(e))]);
    })?;
    let service = inbound.messaging_service_sid.clone();
    let Some(location) = state.locations.resolve(&state.store, &inbound.to, service.as_deref()).await? else {
        return unrouted(&state, &inbound).await;
    };
    if !inbound.media.is_empty() {
        file_mms_document(&state, &inbound, &location).await;
    }
    let handled = state.pipeline.handle(inbound, location).await.map_err(|e| AppError::Internal(e.into()))?;
    let texts = match &handled {
        Handled::Replied { conversation_id, texts } => {
            tracing::Span::current().record("conversation_id", conversation_id.as_str());
            texts.as_slice()
        }
        Handled::Duplicate { texts } => texts.as_slice(),
        Handled::Silent { .. } => &[],
    };
    Ok(twiml_reply(twiml::messaging_response(texts)))
}

/// A photo or PDF sent by MMS while the customer's checkout is locked for re-verification is
/// their new document: downloaded, sealed and filed for review before the turn runs, so the
/// flow can thank them. Anything else about the MMS is the turn's business; a failure here is
/// logged and the flow asks again.
async fn file_mms_document(state: &AppState, inbound: &Inbound, location: &Location) {
    let Ok(Some(contact)) = contacts::find(&state.store, inbound.from.as_ref()).await else { return };
    let customer = match state.store.pool().acquire().await {
        Ok(mut conn) => commerce::customer(&mut conn, &contact.contact_id).await.ok().flatten(),
        Err(_) => None,
    };
    let Some(customer) = customer.filter(|c| c.verification_status != "pending_review" && c.locked_reason.is_some())
    else {
        return;
    };
    let Some(media) =
        inbound.media.iter().find(|m| m.content_type.starts_with("image/") || m.content_type == "application/pdf")
    else {
        return;
    };
    let bytes = match state.media.fetch(&media.url, state.uploads.max_bytes).await {
        Ok(bytes) => bytes,
        Err(e) => {
            tracing::warn!(error = %e, "could not download an MMS document");
            return;
        }
    };
    let conversation = match state.store.begin().await {
        Ok(mut tx) => conversations::find_open(&mut tx, &contact.contact_id, &location.location_id, "sms")
            .await
            .ok()
            .flatten()
            .map(|c| c.conversation_id),
        Err(_) => None,
    };
    let source = Source::Mms { customer_id: &customer.customer_id, conversation_id: conversation.as_deref() };
    match uploads::accept(&state.store, &state.uploads, source, &bytes).await {
        Ok(_) => state.metrics.inc("leafdesk_uploads_total", &[("source", "mms")]),
        Err(e) => tracing::warn!(error = %e, "an MMS document was not accepted"),
    }
}

fn twiml_reply(xml: String) -> Response {
    ([(header::CONTENT_TYPE, "text/xml; charset=utf-8")], xml).into_response()
}

/// A number we do not serve: acknowledge (Twilio must not retry forever) and record it.
async fn unrouted(state: &AppState, inbound: &Inbound) -> Result<Response> {
    tracing::warn!(to = %inbound.to, from = %inbound.from.masked(), "message to a number leafdesk does not serve");
    let detail = json!({ "to": inbound.to, "from": mask_phone(inbound.from.as_ref()), "messaging_service_sid": inbound.messaging_service_sid });
    receipts::record(&state.store, &format!("unrouted:{}", inbound.provider_id), "unrouted_message", &detail).await?;
    state.metrics.inc("leafdesk_webhook_rejections_total", &[("reason", "unknown_number")]);
    Ok(twiml_reply(twiml::empty_response()))
}

/// Turns a verified messaging webhook into an [`Inbound`].
///
/// # Errors
/// `Validation` naming the missing or malformed field.
pub fn parse_inbound(form: &TwilioForm) -> Result<Inbound> {
    let provider_id = form.require("MessageSid")?.trim().to_owned();
    let phone = |field: &'static str| -> Result<PhoneNumber> {
        let raw = form.require(field)?;
        let raw = raw.strip_prefix("whatsapp:").unwrap_or(raw);
        PhoneNumber::parse(raw).map_err(|e| {
            // A '+' sent unencoded in a form body arrives as a space.
            let hint = if raw.starts_with(' ') { "; encode '+' as %2B in a form body" } else { "" };
            AppError::Validation { field, message: format!("{e}{hint}") }
        })
    };
    let from = phone("From")?;
    let to = phone("To")?.as_ref().to_owned();
    let body = form.get("Body").unwrap_or("").to_owned();
    if body.chars().count() > MAX_INBOUND_CHARS {
        return Err(AppError::Validation {
            field: "Body",
            message: format!("is longer than {MAX_INBOUND_CHARS} characters"),
        });
    }
    Ok(Inbound {
        channel: Channel::Sms,
        provider_id,
        from,
        to,
        messaging_service_sid: form.get("MessagingServiceSid").filter(|s| !s.is_empty()).map(str::to_owned),
        body,
        media: parse_media(form)?,
        opt_out_type: form.get("OptOutType").filter(|t| !t.is_empty()).map(str::to_ascii_uppercase),
    })
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

    const GOOD: &[(&str, &str)] =
        &[("MessageSid", "SM1"), ("From", "+14155550100"), ("To", "+15005550006"), ("Body", "hi")];

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
        let inbound = parse_inbound(&form(&pairs)).unwrap();
        assert_eq!(inbound.media.len(), 2);
        assert_eq!(inbound.media[1].content_type, "application/pdf");
        assert_eq!(inbound.body, "hi");
    }

    #[test]
    fn missing_or_bad_fields_are_named() {
        let cases: &[(&str, &[(&str, &str)])] = &[
            ("MessageSid", &[("From", "+14155550100"), ("To", "+15005550006")]),
            ("From", &[("MessageSid", "SM1"), ("To", "+15005550006")]),
            ("To", &[("MessageSid", "SM1"), ("From", "+14155550100")]),
            ("From", &[("MessageSid", "SM1"), ("From", "not-a-number"), ("To", "+15005550006")]),
            (
                "NumMedia",
                &[("MessageSid", "SM1"), ("From", "+14155550100"), ("To", "+15005550006"), ("NumMedia", "99")],
            ),
            (
                "MediaUrlN",
                &[("MessageSid", "SM1"), ("From", "+14155550100"), ("To", "+15005550006"), ("NumMedia", "1")],
            ),
        ];
        for (field, pairs) in cases {
            match parse_inbound(&form(pairs)) {
                Err(AppError::Validation { field: f, .. }) => assert_eq!(f, *field, "{pairs:?}"),
                other => panic!("{pairs:?} should be rejected naming {field}, got {other:?}"),
            }
        }
        let unencoded_plus = [("MessageSid", "SM1"), ("From", " 14155550100"), ("To", "+15005550006")];
        match parse_inbound(&form(&unencoded_plus)) {
            Err(AppError::Validation { message, .. }) => assert!(message.contains("%2B"), "{message}"),
            other => panic!("{other:?}"),
        }
        let long = "x".repeat(1601);
        let mut pairs = GOOD.to_vec();
        pairs[3] = ("Body", &long);
        assert!(matches!(parse_inbound(&form(&pairs)), Err(AppError::Validation { field: "Body", .. })));
    }
}
