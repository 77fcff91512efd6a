//! Consent keywords: `compliance::keywords::classify` on any text (bytes read as lossy
//! UTF-8, so every Unicode case mapping, width and joiner the fuzzer builds reaches it).

#![no_main]

use leafdesk::compliance::keywords::classify;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let verdict = classify(&text);
    let _ = (verdict.keyword.as_str(), verdict.reason.len(), verdict.soft);
});
