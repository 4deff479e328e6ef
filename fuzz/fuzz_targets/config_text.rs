//! Config loading from YAML text: any text is a config or a config error, never a panic.
#![no_main]
use clauster_core::config::{ConfigInput, load};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = load(&ConfigInput {
        text: Some(text.to_owned()),
        home: Some("/home/fuzz".into()),
        ..ConfigInput::default()
    });
});
