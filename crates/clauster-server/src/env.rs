//! Where environment variables come from: the server process's own environment in
//! production, a map in tests. A leaf: it imports nothing of the crate.

/// A source of environment variables.
pub trait Env {
    fn var(&self, name: &str) -> Option<String>;
}

/// The server process's own environment, read where Claude's file locations depend on it.
#[derive(Debug)]
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.is_empty())
    }
}
