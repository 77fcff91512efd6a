//! Document uploads: `uploads::sniff`, the magic-number check that decides whether bytes
//! are a JPEG, PNG, HEIC or PDF.

#![no_main]

use leafdesk::uploads::sniff;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = sniff(data);
});
