//! The e-commerce platform's signed API: `events::parse_event` and
//! `customers::parse_customer` on the body, `signed::verify_request` on the headers, method,
//! path and body, and `signed::verify_link` on a chat link, against fixed integration keys.
//!
//! Input, split by this target so seeds can carry real signatures:
//! `timestamp \n signature \n method \n path \n body` (an empty timestamp or signature
//! line is a missing header). The path doubles as the chat link's customer.

#![no_main]

use std::sync::LazyLock;

use leafdesk::channels::{customers::parse_customer, events::parse_event};
use leafdesk::signed::{verify_link, verify_request, Request};
use leafdesk::store::integrations::Integration;
use libfuzzer_sys::fuzz_target;

/// The clock the seeds were signed at (the example timestamp in static/openapi.json).
const NOW: i64 = 1_795_885_380;

/// Keys as `channels::integrations` hands them out; an empty and a non-ASCII secret too.
static KEYS: LazyLock<Vec<Integration>> = LazyLock::new(|| {
    [("int_shop", "shop", "whsec_fuzz_shop"), ("int_pos", "pos", ""), ("int_ü", "pösse", "sécret ✓")]
        .into_iter()
        .map(|(id, name, secret)| Integration {
            integration_id: id.to_owned(),
            name: name.to_owned(),
            secret: secret.to_owned(),
        })
        .collect()
});

fuzz_target!(|data: &[u8]| {
    let mut fields = data.splitn(5, |b| *b == b'\n');
    let mut next = || String::from_utf8_lossy(fields.next().unwrap_or_default()).into_owned();
    let (timestamp, signature, method, path) = (next(), next(), next(), next());
    let body = fields.next().unwrap_or_default();

    match parse_event(body) {
        Ok(event) => {
            let _ = format!("{event:?}");
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
    match parse_customer(body) {
        Ok((customer, phone)) => {
            let _ = format!("{customer:?} {phone:?}");
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }

    let request = Request {
        timestamp: (!timestamp.is_empty()).then_some(timestamp.as_str()),
        signature: (!signature.is_empty()).then_some(signature.as_str()),
        method: &method,
        path: &path,
        body,
    };
    for accept_v1 in [false, true] {
        if let Err(refusal) = verify_request(&KEYS, &request, NOW, accept_v1) {
            let _ = (refusal.code(), refusal.to_string());
        }
    }
    if let Err(refusal) = verify_link(&KEYS, &path, &timestamp, &signature, NOW) {
        let _ = (refusal.code(), refusal.to_string());
    }
});
