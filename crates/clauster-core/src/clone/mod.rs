//! The pure parts of create/clone (data.md §3): clone-URL validation, the address
//! classification behind the SSRF guard (the URL policy), and the git progress-line parser.
//! The server resolves names, runs git and owns the jobs; everything here is a function of
//! the values handed in.

mod address;
mod progress;
mod url;

pub use address::{AddressClass, BlockedAddress, UrlPolicy, classify};
pub use progress::{PHASES, Progress};
pub use url::{CloneHost, CloneUrl, CloneUrlError, MAX_URL_CHARS};
