//! Twilio webhook form bodies: `parse_form`, then everything a verified form goes through
//! (`check_sizes`, `message_sid`, `sms::parse_inbound`), error messages included: a message
//! that slices a string inside a character panics only when it is rendered.
//!
//! Input: the raw `application/x-www-form-urlencoded` body, up to 64 KiB (the webhook cap).

#![no_main]

use leafdesk::channels::{parse_form, rejection_reason, sms, TwilioForm};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let params = match parse_form(data) {
        Ok(params) => params,
        Err(e) => {
            let _ = (e.to_string(), rejection_reason(&e));
            return;
        }
    };
    let form = TwilioForm { params };
    if let Err(e) = form.check_sizes() {
        let _ = e.to_string();
    }
    if let Err(e) = form.message_sid() {
        let _ = e.to_string();
    }
    match sms::parse_inbound(&form) {
        Ok(webhook) => {
            let _ = format!("{webhook:?}");
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
