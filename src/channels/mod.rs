//! The HTTP surface: one module per wire format or page — the channels customers write on (SMS,
//! web chat), the platform's APIs (events, customer sync), delivery status callbacks, the opt-in
//! form, upload pages, static assets — and the security headers every response carries. Each
//! verifies its requests, turns them into domain values, calls the layer below and renders the
//! reply in its own format; none holds SQL or business rules.
//!
//! This file holds what Twilio's webhooks share (the verified, bounded form extractor and the
//! form parser), the client address for evidence, and the mapping of a refused signature.

pub mod assets;
pub mod customers;
pub mod events;
pub mod headers;
pub mod optin;
pub mod sms;
pub mod status;
pub mod transcripts;
pub mod upload;
pub mod voice;
pub mod webchat;
pub mod widget;

use std::sync::LazyLock;

use axum::extract::FromRequest;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use regex::Regex;

use crate::error::{AppError, Refused};
use crate::state::AppState;
use crate::twilio::signature::{self, Algorithm};

/// 64 KiB: a real Twilio webhook is a few KiB even with ten media URLs.
pub const MAX_WEBHOOK_BYTES: usize = 64 * 1024;
/// 100: Twilio sends about 20 fields (with ten media, 40); more is not Twilio.
const MAX_FIELDS: usize = 100;
/// 64 bytes: the longest field name Twilio sends is about 20 characters.
const MAX_KEY_BYTES: usize = 64;
/// 2,048 bytes for any value but `Body` (media URLs are the longest, about 150 bytes).
const MAX_VALUE_BYTES: usize = 2048;
use crate::domain::MAX_MESSAGE_CHARS as MAX_BODY_CHARS;

/// Twilio's message SIDs: `SM` (SMS) or `MM` (MMS), then 32 lower-case hex digits.
static MESSAGE_SID: LazyLock<Regex> =
    LazyLock::new(|| Regex::new("^(SM|MM)[0-9a-f]{32}$").expect("message SID pattern compiles"));

/// A Twilio webhook's form parameters, in the order sent, after its signature was verified.
#[derive(Debug)]
pub struct TwilioForm {
    pub params: Vec<(String, String)>,
}

impl TwilioForm {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.params.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// # Errors
    /// `Validation` naming the missing or empty field.
    pub fn require(&self, key: &'static str) -> Result<&str, AppError> {
        self.get(key)
            .filter(|v| !v.trim().is_empty())
            .ok_or_else(|| AppError::Validation { field: key, message: "is required".into() })
    }

    /// The message's SID in Twilio's own format. The deprecated `SmsSid` and `SmsMessageSid`,
    /// when sent, must be the same SID: Twilio signs keys and values run together, so a replay
    /// that shifts the boundary between two fields keeps a valid signature but cannot keep
    /// these three in agreement.
    ///
    /// # Errors
    /// `Validation` naming the field that is missing, malformed or disagrees.
    pub fn message_sid(&self) -> Result<&str, AppError> {
        let sid = self.require("MessageSid")?;
        if !MESSAGE_SID.is_match(sid) {
            let message = "is not a Twilio message SID (SM or MM, then 32 hex digits)".into();
            return Err(AppError::Validation { field: "MessageSid", message });
        }
        for alias in ["SmsSid", "SmsMessageSid"] {
            if self.get(alias).is_some_and(|other| other != sid) {
                return Err(AppError::Validation { field: "MessageSid", message: format!("differs from {alias}") });
            }
        }
        Ok(sid)
    }

    /// Bounds every field, so nothing unbounded is stored or logged.
    pub fn check_sizes(&self) -> Result<(), AppError> {
        if self.params.len() > MAX_FIELDS {
            return Err(AppError::BadRequest(format!("more than {MAX_FIELDS} form fields")));
        }
        for (key, value) in &self.params {
            let too_long =
                if key == "Body" { value.chars().count() > MAX_BODY_CHARS } else { value.len() > MAX_VALUE_BYTES };
            if key.len() > MAX_KEY_BYTES || too_long {
                let field = if key == "Body" { "Body" } else { "form field" };
                let limit = if key == "Body" {
                    format!("{MAX_BODY_CHARS} characters")
                } else {
                    format!("{MAX_VALUE_BYTES} bytes")
                };
                let shown: String = key.chars().take(MAX_KEY_BYTES).collect();
                return Err(AppError::Validation { field, message: format!("{shown:?} is longer than {limit}") });
            }
        }
        Ok(())
    }
}

impl FromRequest<AppState> for TwilioForm {
    type Rejection = AppError;

    async fn from_request(req: axum::extract::Request, state: &AppState) -> Result<Self, AppError> {
        let (parts, body) = req.into_parts();
        let result = async {
            check_content_type(&parts.headers)?;
            let too_large = parts
                .headers
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<usize>().ok())
                .is_some_and(|n| n > MAX_WEBHOOK_BYTES);
            if too_large {
                return Err(AppError::TooLarge(MAX_WEBHOOK_BYTES));
            }
            let bytes = axum::body::to_bytes(body, MAX_WEBHOOK_BYTES)
                .await
                .map_err(|_| AppError::TooLarge(MAX_WEBHOOK_BYTES))?;
            let params = parse_form(&bytes)?;
            verify(state, &parts, &params)?;
            let form = Self { params };
            form.check_sizes()?;
            check_account(state, &form)?;
            Ok(form)
        }
        .await;
        result.inspect_err(|err| {
            let reason = rejection_reason(err);
            state.metrics.inc("leafdesk_webhook_rejections_total", &[("reason", reason)]);
            tracing::warn!(%reason, "webhook rejected");
        })
    }
}

/// The metric label for a rejected webhook.
/// Whether a text is blank as the API's JSON Schema reads it (`\s` of ECMA-262: Unicode's
/// space separators, the line terminators, tab and the other ASCII spaces, and U+FEFF; not
/// U+0085, which Rust's `char::is_whitespace` counts): the server and the published schema must
/// agree on what "not all blank" means.
pub fn is_blank(text: &str) -> bool {
    trim_blank(text).is_empty()
}

/// `text` without the leading and trailing characters [`is_blank`] counts as blank.
pub fn trim_blank(text: &str) -> &str {
    text.trim_matches(|c: char| (c.is_whitespace() && c != '\u{85}') || c == '\u{feff}')
}

pub fn rejection_reason(err: &AppError) -> &'static str {
    match err {
        AppError::BadSignature(reason) => reason,
        AppError::TooLarge(_) => "too_large",
        AppError::UnsupportedMediaType(_) => "unsupported_media_type",
        AppError::BadRequest(_) => "malformed",
        AppError::Validation { .. } => "invalid_field",
        _ => "other",
    }
}

fn check_content_type(headers: &HeaderMap) -> Result<(), AppError> {
    let value = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let mime = value.split(';').next().unwrap_or("").trim();
    if mime.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        Ok(())
    } else {
        Err(AppError::UnsupportedMediaType(value.to_owned()))
    }
}

/// Decodes `application/x-www-form-urlencoded`, refusing bad escapes and non-UTF-8 text
/// rather than guessing (a guessed value would also break the signature).
///
/// # Errors
/// `BadRequest` saying what is wrong.
pub fn parse_form(bytes: &[u8]) -> Result<Vec<(String, String)>, AppError> {
    let text = std::str::from_utf8(bytes).map_err(|_| AppError::BadRequest("form body is not UTF-8".into()))?;
    let mut params = Vec::new();
    for pair in text.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        params.push((decode_component(k)?, decode_component(v)?));
    }
    Ok(params)
}

fn decode_component(raw: &str) -> Result<String, AppError> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                let Some(byte) = hex else {
                    // Bytes, not a str slice: the escape may be cut inside a UTF-8 character.
                    let near = String::from_utf8_lossy(&bytes[i..bytes.len().min(i + 3)]);
                    return Err(AppError::BadRequest(format!("malformed form body: bad %-escape near {near:?}")));
                };
                out.push(byte);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    let text =
        String::from_utf8(out).map_err(|_| AppError::BadRequest("form value is not UTF-8 after decoding".into()))?;
    // PostgreSQL's text cannot hold U+0000, and no real form sends it: refused on both backends.
    if text.contains('\0') {
        return Err(AppError::BadRequest("form value contains the NUL character (%00)".into()));
    }
    Ok(text)
}

/// The URL Twilio signed: the configured public URL plus the path and query, else what the
/// request itself says (Host, and X-Forwarded-Proto from a proxy).
fn signed_url(state: &AppState, parts: &Parts) -> String {
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    if let Some(base) = &state.settings.public_url {
        return format!("{base}{path}");
    }
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
    let scheme = header("x-forwarded-proto").unwrap_or("http");
    let host = header("host").unwrap_or("localhost");
    format!("{scheme}://{host}{path}")
}

fn verify(state: &AppState, parts: &Parts, params: &[(String, String)]) -> Result<(), AppError> {
    if state.settings.skip_twilio_signature {
        return Ok(());
    }
    let token = state.settings.twilio_auth_token.as_ref().ok_or(AppError::BadSignature("no_auth_token"))?;
    let given = parts.headers.get("x-twilio-signature").and_then(|v| v.to_str().ok()).unwrap_or("");
    if given.is_empty() {
        return Err(AppError::BadSignature("missing_signature"));
    }
    let settings_header = parts.headers.get("x-twilio-webhooks-signature-settings").and_then(|v| v.to_str().ok());
    let algorithm = Algorithm::from_settings_header(settings_header);
    let url = signed_url(state, parts);
    if signature::verify_form(token.expose(), &url, params, given, algorithm) {
        Ok(())
    } else {
        Err(AppError::BadSignature("bad_signature"))
    }
}

/// A webhook for another account, though signed (a subaccount's token, say), is not ours.
fn check_account(state: &AppState, form: &TwilioForm) -> Result<(), AppError> {
    match (&state.settings.twilio_account_sid, form.get("AccountSid")) {
        (Some(ours), Some(theirs)) if ours != theirs => Err(AppError::BadSignature("wrong_account")),
        _ => Ok(()),
    }
}

/// Maps a refused signature to the API's 401.
pub fn refused(refusal: &crate::signed::Refusal) -> AppError {
    AppError::rejected(Refused::Unauthorized, refusal.code(), refusal.to_string())
}

/// The visitor's IP for consent evidence and rate limits: the peer address, unless the peer
/// is one of our own proxies (`LEAFDESK_TRUSTED_PROXIES`); then the nearest `X-Forwarded-For`
/// hop that is not one of them. Anyone else's `X-Forwarded-For` is ignored: a client can write
/// anything there.
pub fn client_ip(headers: &HeaderMap, peer: std::net::SocketAddr, trusted: &[crate::settings::IpRange]) -> String {
    let is_trusted = |ip: &std::net::IpAddr| trusted.iter().any(|range| range.contains(ip));
    if !is_trusted(&peer.ip()) {
        return peer.ip().to_string();
    }
    let hops = headers.get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(','));
    let hops: Vec<std::net::IpAddr> = hops.filter_map(|hop| hop.trim().parse().ok()).collect();
    hops.into_iter().rev().find(|ip| !is_trusted(ip)).unwrap_or(peer.ip()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_means_what_the_json_schema_means() {
        for blank in ["", " \t\n", "\u{a0}\u{3000}", "\u{feff} "] {
            assert!(is_blank(blank), "{blank:?}");
        }
        for text in ["a", "\u{85}", " x "] {
            assert!(!is_blank(text), "{text:?}");
        }
        assert_eq!(trim_blank("\u{feff} hi \u{2028}"), "hi");
    }

    #[test]
    fn forms_decode_plus_percent_and_repeated_keys() {
        let params = parse_form(b"Body=It%27s+5%25+off&To=%2B15005550006&A=1&A=2&Empty=").unwrap();
        assert_eq!(params[0], ("Body".into(), "It's 5% off".into()));
        assert_eq!(params[1], ("To".into(), "+15005550006".into()));
        assert_eq!(params.iter().filter(|(k, _)| k == "A").count(), 2);
        assert_eq!(params[4], ("Empty".into(), String::new()));
    }

    #[derive(serde::Deserialize)]
    struct Payloads {
        payloads: Vec<Payload>,
    }

    #[derive(serde::Deserialize)]
    struct Payload {
        name: String,
        url: String,
        raw_body: String,
        x_twilio_signature: String,
        auth_token_used: String,
    }

    /// Realistic Twilio payloads with their real signatures (`tests/fixtures/twilio/twilio_webhooks.json`):
    /// each decodes, verifies, and every inbound message parses.
    #[test]
    fn every_shared_webhook_payload_decodes_verifies_and_parses() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/twilio/twilio_webhooks.json");
        let file: Payloads = serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("parses");
        assert_eq!(file.payloads.len(), 21);
        for p in file.payloads {
            let params = parse_form(p.raw_body.as_bytes()).unwrap_or_else(|e| panic!("{}: {e}", p.name));
            let ok =
                signature::verify_form(&p.auth_token_used, &p.url, &params, &p.x_twilio_signature, Algorithm::Sha1);
            assert!(ok, "{}: signature should verify", p.name);
            if p.name.starts_with("inbound_") {
                let form = TwilioForm { params };
                form.check_sizes().unwrap_or_else(|e| panic!("{}: {e}", p.name));
                match sms::parse_inbound(&form) {
                    Ok(sms::Webhook::Message(inbound)) if p.name == "inbound_mms_2_media" => {
                        assert_eq!(inbound.media.len(), 2);
                    }
                    Ok(sms::Webhook::Message(_)) => {}
                    other => panic!("{}: {other:?}", p.name),
                }
            }
        }
    }

    #[test]
    fn forwarded_for_counts_only_behind_our_own_proxies() {
        let proxy: std::net::SocketAddr = "10.0.0.5:41000".parse().unwrap();
        let stranger: std::net::SocketAddr = "203.0.113.9:41000".parse().unwrap();
        let trusted = vec![crate::settings::IpRange::parse("10.0.0.0/8").unwrap()];
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", "1.2.3.4, 198.51.100.7, 10.0.0.9".parse().unwrap());
        assert_eq!(client_ip(&headers, proxy, &trusted), "198.51.100.7", "the nearest hop not ours");
        assert_eq!(client_ip(&headers, stranger, &trusted), "203.0.113.9", "a stranger's header is ignored");
        assert_eq!(client_ip(&headers, proxy, &[]), "10.0.0.5", "no proxies configured");
        headers.insert("x-forwarded-for", "not an ip".parse().unwrap());
        assert_eq!(client_ip(&headers, proxy, &trusted), "10.0.0.5");
    }

    #[test]
    fn malformed_forms_are_rejected_with_a_reason() {
        for (raw, why) in [
            (&b"Body=%ZZ"[..], "bad escape"),
            (b"Body=%F", "truncated escape"),
            (b"Body=%FF%FE", "not UTF-8"),
            (b"\xff=1", "raw non-UTF-8"),
            ("Body=%aé".as_bytes(), "an escape cut inside a UTF-8 character"),
            ("%é=1".as_bytes(), "an escape cut inside a UTF-8 character, in a key"),
            (b"Body=a%00b", "a NUL character"),
        ] {
            assert!(parse_form(raw).is_err(), "{why}: {raw:?} should be rejected");
        }
    }
}
