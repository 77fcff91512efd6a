//! What the e-commerce platform signs, and how: one HMAC-SHA256 scheme shared by the events
//! API, customer sync and web chat links, each under an integration's secret.
//!
//! - **Requests** (`POST /api/v1/events`, `PUT /api/v1/customers/{id}`) carry
//!   `X-Leafdesk-Timestamp: <Unix seconds>` (within [`MAX_SKEW_SECS`] of our clock) and
//!   `X-Leafdesk-Signature: v2=<hex HMAC-SHA256 of "{ts}.{METHOD} {path}.{raw body}">`.
//!   Several values, comma separated, are accepted while a secret is rotated.
//! - The earlier form, `v1=<hex HMAC of "{ts}.{raw body}">`, covers neither method nor path, so
//!   a body signed for one customer could be replayed to another's path within five minutes.
//!   It is refused unless `LEAFDESK_ACCEPT_V1_SIGNATURES=true` (one release, while platforms
//!   move to v2).
//! - **Chat links** carry `ts` and `sig=v1=<hex HMAC of "{ts}.chat:{customer}">`, good for
//!   [`LINK_MAX_AGE_SECS`].
//!
//! Owns the scheme: building and checking signatures, pure functions of keys, clock and bytes;
//! and, in [`keys`], the integrations' secrets those signatures are checked against.

pub mod keys;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::store::integrations::Integration;

/// 300 s: a signed request older (or newer) than this is refused as a possible replay.
pub const MAX_SKEW_SECS: i64 = 300;
/// 12 hours: a chat page left open over a working day keeps working.
pub const LINK_MAX_AGE_SECS: i64 = 12 * 3600;

/// Why a signature was refused; each says what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("X-Leafdesk-Timestamp is required (Unix seconds)")]
    MissingTimestamp,
    #[error("the timestamp {0:?} is not a number of Unix seconds")]
    BadTimestamp(String),
    #[error("the timestamp is {0} s from our clock; more than {MAX_SKEW_SECS} s is refused as a possible replay. Sign each request with the current time")]
    Stale(i64),
    #[error("this chat link has expired; reload the store's page for a fresh one")]
    LinkExpired,
    #[error(
        "X-Leafdesk-Signature is required: v2=<hex HMAC-SHA256 of \"{{timestamp}}.{{METHOD}} {{path}}.{{raw body}}\">"
    )]
    MissingSignature,
    #[error("the signature must be v2=<hex HMAC-SHA256>")]
    Malformed,
    #[error("v1 signatures (without method and path) are no longer accepted; sign \"{{timestamp}}.{{METHOD}} {{path}}.{{raw body}}\" and send it as v2=<hex>")]
    V1Refused,
    #[error("the signature matches no integration's secret; sign \"{{timestamp}}.{{METHOD}} {{path}}.{{raw body}}\" with HMAC-SHA256 under your integration secret")]
    NoMatch,
    #[error("sig must be v1=<hex HMAC-SHA256 of \"{{ts}}.chat:{{customer}}\"> under an integration secret")]
    BadLink,
}

impl Refusal {
    /// The stable code an API answers with.
    pub fn code(&self) -> &'static str {
        match self {
            Self::MissingTimestamp => "missing_timestamp",
            Self::BadTimestamp(_) => "bad_timestamp",
            Self::Stale(_) => "stale_timestamp",
            Self::LinkExpired | Self::BadLink => "bad_chat_link",
            Self::MissingSignature => "missing_signature",
            Self::Malformed | Self::V1Refused | Self::NoMatch => "bad_signature",
        }
    }
}

/// A signed request as it arrived.
pub struct Request<'a> {
    pub timestamp: Option<&'a str>,
    pub signature: Option<&'a str>,
    pub method: &'a str,
    /// The path only, as the client sent it (`/api/v1/customers/cus_1`).
    pub path: &'a str,
    pub body: &'a [u8],
}

/// The integration whose secret signed `req`.
///
/// # Errors
/// A [`Refusal`] naming what is missing, malformed, too old, or wrong.
pub fn verify_request<'k>(
    keys: &'k [Integration],
    req: &Request<'_>,
    now_secs: i64,
    accept_v1: bool,
) -> Result<&'k Integration, Refusal> {
    let ts = req.timestamp.map(str::trim).ok_or(Refusal::MissingTimestamp)?;
    let secs: i64 = ts.parse().map_err(|_| Refusal::BadTimestamp(ts.chars().take(32).collect()))?;
    let skew = now_secs.saturating_sub(secs).saturating_abs();
    if skew > MAX_SKEW_SECS {
        return Err(Refusal::Stale(skew));
    }
    let given = parse_header(req.signature.ok_or(Refusal::MissingSignature)?);
    if given.is_empty() {
        return Err(Refusal::Malformed);
    }
    let v2: Vec<&[u8]> = given.iter().filter(|(v, _)| *v == 2).map(|(_, s)| s.as_slice()).collect();
    let v2_message = [ts.as_bytes(), b".", req.method.as_bytes(), b" ", req.path.as_bytes(), b".", req.body];
    if let Some(key) = find(keys, &v2_message, &v2) {
        return Ok(key);
    }
    let v1: Vec<&[u8]> = given.iter().filter(|(v, _)| *v == 1).map(|(_, s)| s.as_slice()).collect();
    if v1.is_empty() {
        return Err(Refusal::NoMatch);
    }
    match find(keys, &[ts.as_bytes(), b".", req.body], &v1) {
        Some(key) if accept_v1 => Ok(key),
        Some(_) => Err(Refusal::V1Refused),
        None => Err(Refusal::NoMatch),
    }
}

/// The `X-Leafdesk-Signature` value for a request: `v2=<hex>`.
pub fn sign_request(secret: &str, ts: i64, method: &str, path: &str, body: &[u8]) -> String {
    let ts = ts.to_string();
    format!(
        "v2={}",
        hex::encode(mac(secret, &[ts.as_bytes(), b".", method.as_bytes(), b" ", path.as_bytes(), b".", body]))
    )
}

/// The integration that signed a chat link for `customer` at `ts`, if the link is still good.
///
/// # Errors
/// `BadTimestamp`, `LinkExpired` or `BadLink`.
pub fn verify_link<'k>(
    keys: &'k [Integration],
    customer: &str,
    ts: &str,
    sig: &str,
    now_secs: i64,
) -> Result<&'k Integration, Refusal> {
    let ts = ts.trim();
    let secs: i64 = ts.parse().map_err(|_| Refusal::BadTimestamp(ts.chars().take(32).collect()))?;
    if secs > now_secs.saturating_add(MAX_SKEW_SECS) || now_secs.saturating_sub(secs) > LINK_MAX_AGE_SECS {
        return Err(Refusal::LinkExpired);
    }
    let given: Vec<Vec<u8>> = parse_header(sig).into_iter().filter(|(v, _)| *v == 1).map(|(_, s)| s).collect();
    let given: Vec<&[u8]> = given.iter().map(Vec::as_slice).collect();
    find(keys, &[ts.as_bytes(), b".chat:", customer.as_bytes()], &given).ok_or(Refusal::BadLink)
}

/// A chat link's `sig` value for `customer` at `ts`.
pub fn sign_link(secret: &str, customer: &str, ts: i64) -> String {
    let ts = ts.to_string();
    format!("v1={}", hex::encode(mac(secret, &[ts.as_bytes(), b".chat:", customer.as_bytes()])))
}

/// `v1=…, v2=…` into (version, signature bytes); anything else is skipped.
fn parse_header(value: &str) -> Vec<(u8, Vec<u8>)> {
    value
        .split(',')
        .filter_map(|part| {
            let (version, hex_sig) = part.trim().split_once('=')?;
            let version = match version {
                "v1" => 1,
                "v2" => 2,
                _ => return None,
            };
            // 64 hex digits: SHA-256; anything longer is not ours and is not decoded.
            (hex_sig.len() == 64).then(|| hex::decode(hex_sig).ok()).flatten().map(|s| (version, s))
        })
        .take(8)
        .collect()
}

/// The key among `keys` whose MAC of `message` is one of `given` (compared in constant time).
fn find<'k>(keys: &'k [Integration], message: &[&[u8]], given: &[&[u8]]) -> Option<&'k Integration> {
    if given.is_empty() {
        return None;
    }
    keys.iter().find(|key| {
        let mut m = Hmac::<Sha256>::new_from_slice(key.secret.as_bytes()).expect("HMAC takes any key");
        for part in message {
            m.update(part);
        }
        given.iter().any(|sig| m.clone().verify_slice(sig).is_ok())
    })
}

fn mac(secret: &str, message: &[&[u8]]) -> Vec<u8> {
    let mut m = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    for part in message {
        m.update(part);
    }
    m.finalize().into_bytes().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> Vec<Integration> {
        vec![
            Integration { integration_id: "i0".into(), name: "pos".into(), secret: "other".into() },
            Integration { integration_id: "i1".into(), name: "shop".into(), secret: "s3cret".into() },
        ]
    }

    fn request<'a>(ts: &'a str, sig: &'a str, path: &'a str, body: &'a [u8]) -> Request<'a> {
        Request { timestamp: Some(ts), signature: Some(sig), method: "PUT", path, body }
    }

    const PATH: &str = "/api/v1/customers/cus_1";

    #[test]
    fn a_v2_signature_within_five_minutes_names_its_integration() {
        let sig = sign_request("s3cret", 1000, "PUT", PATH, b"{}");
        let keys = keys();
        let found = verify_request(&keys, &request("1000", &sig, PATH, b"{}"), 1000 + MAX_SKEW_SECS, false);
        assert_eq!(found.unwrap().name, "shop");
        // While rotating, the old and the new signature both travel.
        let both = format!("v2={}, {sig}", "00".repeat(32));
        assert!(verify_request(&keys, &request("1000", &both, PATH, b"{}"), 1000, false).is_ok());
    }

    #[test]
    fn a_known_key_gives_a_known_signature() {
        // Pinned (computed with `openssl dgst -sha256 -hmac`): platforms sign with their own
        // code, so the scheme must never drift.
        let sig = sign_request("s3cret", 1_700_000_000, "POST", "/api/v1/events", br#"{"id":"e1"}"#);
        assert_eq!(sig, "v2=855b830bd5e66a0a0c98043b227dc18bbd7ecee32b81bbd77f6a68ff6fa33c1e");
    }

    #[test]
    fn a_body_signed_for_one_path_or_method_does_not_pass_on_another() {
        let sig = sign_request("s3cret", 1000, "PUT", PATH, b"{}");
        let keys = keys();
        let other_path = verify_request(&keys, &request("1000", &sig, "/api/v1/customers/cus_2", b"{}"), 1000, false);
        assert_eq!(other_path.unwrap_err(), Refusal::NoMatch);
        let post = Request { method: "POST", ..request("1000", &sig, PATH, b"{}") };
        assert_eq!(verify_request(&keys, &post, 1000, false).unwrap_err(), Refusal::NoMatch);
    }

    #[test]
    fn v1_signatures_pass_only_when_allowed() {
        let v1 = format!("v1={}", hex::encode(mac("s3cret", &[b"1000", b".", b"{}"])));
        let (req, keys) = (request("1000", &v1, PATH, b"{}"), keys());
        assert_eq!(verify_request(&keys, &req, 1000, false).unwrap_err(), Refusal::V1Refused);
        assert_eq!(verify_request(&keys, &req, 1000, true).unwrap().name, "shop");
    }

    #[test]
    fn every_bad_request_signature_is_refused_with_its_reason() {
        let good = sign_request("s3cret", 1000, "PUT", PATH, b"{}");
        let wrong_key = sign_request("wrong", 1000, "PUT", PATH, b"{}");
        let cases: [(Request<'_>, i64, &str); 7] = [
            (request("1000", &wrong_key, PATH, b"{}"), 1000, "bad_signature"),
            (request("1000", &good, PATH, b"{ }"), 1000, "bad_signature"),
            (request("999", &good, PATH, b"{}"), 1000, "bad_signature"),
            (request("1000", &good, PATH, b"{}"), 1000 + MAX_SKEW_SECS + 1, "stale_timestamp"),
            (request("1000", &good, PATH, b"{}"), 1000 - MAX_SKEW_SECS - 1, "stale_timestamp"),
            (request("soon", &good, PATH, b"{}"), 1000, "bad_timestamp"),
            (request("1000", "sha256=abc", PATH, b"{}"), 1000, "bad_signature"),
        ];
        let keys = keys();
        for (req, now, want) in cases {
            assert_eq!(verify_request(&keys, &req, now, false).unwrap_err().code(), want, "{:?}", req.timestamp);
        }
        let missing = Request { signature: None, ..request("1000", &good, PATH, b"{}") };
        assert_eq!(verify_request(&keys, &missing, 1000, false).unwrap_err(), Refusal::MissingSignature);
        let missing = Request { timestamp: None, ..missing };
        assert_eq!(verify_request(&keys, &missing, 1000, false).unwrap_err(), Refusal::MissingTimestamp);
        let extreme = request("-9223372036854775808", &good, PATH, b"{}");
        assert_eq!(verify_request(&keys, &extreme, i64::MAX, false).unwrap_err().code(), "stale_timestamp");
    }

    #[test]
    fn chat_links_are_good_for_twelve_hours_for_their_customer_only() {
        let (sig, keys) = (sign_link("s3cret", "cus_sam", 1000), keys());
        assert_eq!(verify_link(&keys, "cus_sam", "1000", &sig, 1000 + LINK_MAX_AGE_SECS).unwrap().name, "shop");
        assert_eq!(verify_link(&keys, "cus_alex", "1000", &sig, 1000).unwrap_err(), Refusal::BadLink);
        assert_eq!(
            verify_link(&keys, "cus_sam", "1000", &sig, 1001 + LINK_MAX_AGE_SECS).unwrap_err(),
            Refusal::LinkExpired
        );
        assert_eq!(verify_link(&keys, "cus_sam", "x", &sig, 1000).unwrap_err().code(), "bad_timestamp");
    }
}
