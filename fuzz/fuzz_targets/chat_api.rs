//! Web chat API bodies: `webchat::parse_json` as a `ChatMessage` (then `check_message`) and
//! as a `Link`, the two shapes every chat call's body is read as.

#![no_main]

use leafdesk::channels::webchat::{check_message, parse_json, ChatMessage, Link};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match parse_json::<ChatMessage>(data) {
        Ok(m) => {
            if let Err(e) = check_message(&m) {
                let _ = e.to_string();
            }
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
    match parse_json::<Link>(data) {
        Ok(link) => {
            let _ = format!("{link:?}");
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
