//! `X-Twilio-Signature` checks: `verify_form`, `verify_json` and
//! `Algorithm::from_settings_header` on any token, URL, params and signature.
//!
//! Input, split by this target so seeds stay readable and can carry real signatures:
//! `token \n url \n signature \n settings-header \n rest`, where `rest` is decoded leniently
//! as a form body for the params and is also the raw body for `verify_json`.
//!
//! Oracle beyond "no panic": what `sign` produces for a URL and params, `verify_form`
//! accepts (a correctly signed webhook is never refused, whatever its URL looks like).

#![no_main]

use leafdesk::twilio::signature::{sign, verify_form, verify_json, Algorithm};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut fields = data.splitn(5, |b| *b == b'\n');
    let mut next = || String::from_utf8_lossy(fields.next().unwrap_or_default()).into_owned();
    let (token, url, given, settings) = (next(), next(), next(), next());
    let rest = fields.next().unwrap_or_default();
    let params: Vec<(String, String)> = form_urlencoded::parse(rest).into_owned().collect();

    let header = (!settings.is_empty()).then_some(settings.as_str());
    let asked = Algorithm::from_settings_header(header);
    for algorithm in [Algorithm::Sha1, Algorithm::Sha256] {
        let _ = verify_form(&token, &url, &params, &given, algorithm);
        let _ = verify_json(&token, &url, rest, &given, algorithm);
    }
    let signature = sign(&token, &url, &params, asked);
    assert!(
        verify_form(&token, &url, &params, &signature, asked),
        "a signature made by sign() was refused: url {url:?}, {} params",
        params.len()
    );
});
