//! The debug-log marker parser, over whole logs and over the same bytes fed in two chunks.
#![no_main]
use clauster_core::markers::{MarkerParser, parse_log};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = parse_log(data);
    let cut = data.first().map_or(0, |b| usize::from(*b)).min(data.len());
    let mut parser = MarkerParser::new();
    parser.feed(&data[..cut]);
    parser.feed(&data[cut..]);
    parser.flush_partial();
    let _ = parser.facts().ready_by_markers();
});
