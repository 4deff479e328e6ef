//! The PTY keeper and detached-process plumbing (the only crate allowed `unsafe`).
