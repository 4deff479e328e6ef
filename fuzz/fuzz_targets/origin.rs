//! Origin normalisation (security.md §5): total, and idempotent.
#![no_main]
use clauster_core::config::normalize_origin;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let once = normalize_origin(&text);
    assert_eq!(normalize_origin(&once), once, "not idempotent for {text:?}");
});
