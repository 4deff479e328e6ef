//! The clone-URL validator (data.md §3.3): any text is accepted or refused, never a panic;
//! an accepted URL is accepted again with the same host.
#![no_main]
use clauster_core::clone::CloneUrl;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let schemes: Vec<String> = ["https", "ssh", "git", "http"].map(String::from).to_vec();
    if let Ok(url) = CloneUrl::parse(text, &schemes) {
        let again = CloneUrl::parse(url.as_str(), &schemes).expect("an accepted URL re-parses");
        assert_eq!(again.host(), url.host());
    }
});
