//! Every end-to-end test, in one binary (like ripgrep's and uv's): one link, one copy of
//! `support`, one module per area.

mod support;

mod attacks;
mod auth;
mod bad_inputs;
mod bridges;
mod browser;
mod claude_md;
mod cli;
mod cli_verbs;
mod config_editor;
mod config_write;
mod create_clone;
mod descriptors;
mod doctor;
mod engine_trust;
mod events;
mod fake_claude;
mod guide;
mod idle_cpu;
mod log_rotation;
mod log_tail;
mod login_shepherd;
mod mcp;
mod metrics;
mod no_store;
mod notifications;
mod openapi;
mod preflight;
mod project_routes;
mod pty_bridges;
mod pty_keeper;
mod push;
mod readiness;
mod real_claude;
mod reaper;
mod recap;
mod restart_policy;
mod run_server;
mod sessions;
mod slow_clients;
mod tls;
mod torture;
mod transcripts;
mod usage;
