//! The PTY keeper and detached-process plumbing (the only crate allowed `unsafe`).
#![deny(unsafe_code)]

#[cfg(unix)]
pub mod atomic_write;
#[cfg(target_os = "linux")]
pub mod keeper;
#[cfg(unix)]
pub mod proc;
#[cfg(target_os = "linux")]
pub mod signin;
