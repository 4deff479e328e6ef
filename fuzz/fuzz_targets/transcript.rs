//! Transcript record parsing: any bytes, fed whole or in two chunks, never panic.
#![no_main]
use clauster_core::usage::FileState;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut whole = FileState::with_max_line(4096);
    whole.feed(data);
    let _ = whole.entries().len();
    let cut = data.len() / 2;
    let mut split = FileState::with_max_line(4096);
    split.feed(&data[..cut]);
    split.feed(&data[cut..]);
    let _ = split.problems();
});
