//! `X-Twilio-Signature` verification, exactly as Twilio's helper libraries do it.
//!
//! The signed string is the full URL Twilio called, followed by every form parameter as
//! key + value, sorted by key (repeated keys: their values sorted and de-duplicated). JSON
//! webhooks sign the URL alone, which carries `bodySHA256=<hex sha256 of the raw body>`.
//! HMAC-SHA1 by default; HMAC-SHA256 when `X-Twilio-Webhooks-Signature-Settings` asks for it.
//! A URL with a port may have been signed with or without it, so both forms are tried.

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Digest;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Sha1,
    Sha256,
}

impl Algorithm {
    /// The algorithm a request asks for through `X-Twilio-Webhooks-Signature-Settings`.
    pub fn from_settings_header(value: Option<&str>) -> Self {
        match value {
            Some(v) if v.to_ascii_uppercase().contains("SHA256") => Self::Sha256,
            _ => Self::Sha1,
        }
    }
}

/// The base64 signature of `url` and form `params`.
pub fn sign(token: &str, url: &str, params: &[(String, String)], algorithm: Algorithm) -> String {
    let mut grouped: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (k, v) in params {
        grouped.entry(k.as_str()).or_default().insert(v.as_str());
    }
    let mut data = String::with_capacity(url.len() + 256);
    data.push_str(url);
    for (k, values) in grouped {
        for v in values {
            data.push_str(k);
            data.push_str(v);
        }
    }
    hmac_base64(token, data.as_bytes(), algorithm)
}

fn hmac_base64(token: &str, data: &[u8], algorithm: Algorithm) -> String {
    let bytes = match algorithm {
        Algorithm::Sha1 => {
            let mut mac = Hmac::<sha1::Sha1>::new_from_slice(token.as_bytes()).expect("HMAC takes any key length");
            mac.update(data);
            mac.finalize().into_bytes().to_vec()
        }
        Algorithm::Sha256 => {
            let mut mac = Hmac::<sha2::Sha256>::new_from_slice(token.as_bytes()).expect("HMAC takes any key length");
            mac.update(data);
            mac.finalize().into_bytes().to_vec()
        }
    };
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Does `signature` match a form-encoded request to `url`?
pub fn verify_form(token: &str, url: &str, params: &[(String, String)], signature: &str, algorithm: Algorithm) -> bool {
    !signature.is_empty()
        && url_variants(url).iter().any(|u| constant_time_eq(&sign(token, u, params, algorithm), signature))
}

/// Does `signature` match a JSON request to `url` with raw `body`? The URL must carry
/// `bodySHA256`, and it must be the body's hash.
pub fn verify_json(token: &str, url: &str, body: &[u8], signature: &str, algorithm: Algorithm) -> bool {
    let Some(expected) = query_param(url, "bodySHA256") else {
        return false;
    };
    let actual = hex::encode(sha2::Sha256::digest(body));
    constant_time_eq(&actual, &expected) && verify_form(token, url, &[], signature, algorithm)
}

fn query_param(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    let query = query.split('#').next().unwrap_or(query);
    query.split('&').filter_map(|pair| pair.split_once('=')).find(|(k, _)| *k == name).map(|(_, v)| v.to_owned())
}

/// The URL without its port, and with the scheme's default port when it has none.
fn url_variants(url: &str) -> [String; 2] {
    let Some((scheme, rest)) = url.split_once("://") else {
        return [url.to_owned(), url.to_owned()];
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let (userinfo, hostport) = match authority.rsplit_once('@') {
        Some((u, h)) => (format!("{u}@"), h),
        None => (String::new(), authority),
    };
    // A port follows the last ':' unless that colon is inside an IPv6 literal.
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) if !p.contains(']') && p.chars().all(|c| c.is_ascii_digit()) => (h, Some(p)),
        _ => (hostport, None),
    };
    let default_port = if scheme.eq_ignore_ascii_case("https") { "443" } else { "80" };
    let without = format!("{scheme}://{userinfo}{host}{tail}");
    let with = format!("{scheme}://{userinfo}{host}:{}{tail}", port.unwrap_or(default_port));
    [without, with]
}

fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    struct Vectors {
        vectors: Vec<Vector>,
    }

    #[derive(serde::Deserialize)]
    struct Vector {
        id: String,
        auth_token: String,
        algorithm: String,
        url: String,
        params: Option<Vec<(String, String)>>,
        body: Option<String>,
        signature: String,
        expect_valid: bool,
    }

    /// The official helper libraries' own vectors (copied to `tests/fixtures/twilio/`, sources inside).
    #[test]
    fn every_official_twilio_vector_gets_the_libraries_verdict() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/twilio/twilio_signatures.json");
        let text = std::fs::read_to_string(path).expect("tests/fixtures/twilio/twilio_signatures.json");
        let file: Vectors = serde_json::from_str(&text).expect("vector file parses");
        assert!(file.vectors.len() >= 34, "all vectors present");
        for v in file.vectors {
            let algorithm = if v.algorithm == "HMAC_SHA256" { Algorithm::Sha256 } else { Algorithm::Sha1 };
            let valid = match (&v.params, &v.body) {
                (_, Some(body)) => verify_json(&v.auth_token, &v.url, body.as_bytes(), &v.signature, algorithm),
                (Some(params), None) => verify_form(&v.auth_token, &v.url, params, &v.signature, algorithm),
                (None, None) => verify_form(&v.auth_token, &v.url, &[], &v.signature, algorithm),
            };
            assert_eq!(valid, v.expect_valid, "vector {}", v.id);
        }
    }

    #[test]
    fn sha256_signatures_verify_only_with_the_sha256_setting() {
        let params = vec![("Body".to_owned(), "hi".to_owned()), ("From".to_owned(), "+14155550100".to_owned())];
        let url = "https://bot.example.com/webhooks/twilio/sms";
        let sig = sign("secret", url, &params, Algorithm::Sha256);
        assert!(verify_form("secret", url, &params, &sig, Algorithm::Sha256));
        assert!(!verify_form("secret", url, &params, &sig, Algorithm::Sha1));
        assert_eq!(Algorithm::from_settings_header(Some("v1;HMAC-SHA256")), Algorithm::Sha256);
        assert_eq!(Algorithm::from_settings_header(None), Algorithm::Sha1);
    }

    #[test]
    fn tampering_with_any_part_breaks_the_signature() {
        let params = vec![("Body".to_owned(), "hi".to_owned()), ("To".to_owned(), "+15005550006".to_owned())];
        let url = "https://bot.example.com/webhooks/twilio/sms";
        let sig = sign("secret", url, &params, Algorithm::Sha1);
        assert!(verify_form("secret", url, &params, &sig, Algorithm::Sha1));
        let mut tampered = params.clone();
        tampered[0].1 = "hi!".into();
        assert!(!verify_form("secret", url, &tampered, &sig, Algorithm::Sha1), "changed value");
        assert!(
            !verify_form("secret", "https://evil.example.com/webhooks/twilio/sms", &params, &sig, Algorithm::Sha1),
            "other URL"
        );
        assert!(!verify_form("other", url, &params, &sig, Algorithm::Sha1), "other token");
        assert!(!verify_form("secret", url, &params, "", Algorithm::Sha1), "empty signature");
    }
}
