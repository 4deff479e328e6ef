//! The line sanitizer: never panics, and no escape character survives it.
#![no_main]
use clauster_core::sanitize::{sanitize_for_stream, sanitize_line, visible_text};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let line = sanitize_line(&text);
    assert!(!line.contains('\u{1b}'), "an escape survived: {line:?}");
    let _ = sanitize_for_stream(&text, true);
    let _ = sanitize_for_stream(&text, false);
    let _ = visible_text(&text);
});
