//! The page context (http-api.md §3.1), built once from the configuration.

use clauster_core::config::Config;
use clauster_wire::{CloneContext, InstanceDefaults, MetricsContext, PageContext, UsageContext};

pub fn page_context(config: &Config, config_file_found: bool) -> PageContext {
    let defaults = &config.instance_defaults;
    PageContext {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        instance_name: config.instance_name.clone(),
        projects_root: config.projects_root.to_string_lossy().into_owned(),
        root_path: config.root_path.clone(),
        config_file_found,
        auth_enabled: config.auth.enabled,
        launch_mode: config.claude.launch_mode.as_token().to_owned(),
        instance_defaults: InstanceDefaults {
            spawn_mode: defaults.spawn_mode.as_token().to_owned(),
            permission_mode: defaults.permission_mode.as_token().to_owned(),
            verbose: defaults.verbose,
            capacity: saturating_u32(defaults.capacity),
            max_bridges: defaults.max_bridges.map(saturating_u32),
            session_name_prefix: defaults.session_name_prefix.clone(),
        },
        // The pty keeper is not part of this build yet: pty requests fall back to standard.
        pty_supported: cfg!(unix),
        pty_screen: config.claude.pty_screen_enabled,
        usage: UsageContext {
            mode: config.usage.mode.as_str().to_owned(),
            currency: config.usage.currency.clone(),
            currency_symbol: config.usage.effective_currency_symbol(),
            fx_rate: config.usage.fx_rate,
            token_total_includes_cache: config.usage.token_total_includes_cache,
        },
        metrics: MetricsContext {
            enabled: config.metrics.enabled,
            show_disk: config.metrics.show_disk,
            normalize_cpu: config.metrics.normalize_cpu,
            poll_seconds: config.metrics.poll_seconds,
        },
        clone: CloneContext {
            enabled: config.clone.enabled,
            allowed_schemes: config.clone.allowed_schemes.clone(),
        },
        reaper_ui: config.reaper.ui_enabled,
        sign_in: config.login_shepherd.enabled,
        setup_token: config.login_shepherd.enabled && config.login_shepherd.allow_setup_token,
        config_write: clauster_wire::ConfigWriteContext {
            enabled: config.config_write.enabled,
            allow_user_scope: config.config_write.allow_user_scope,
        },
    }
}

fn saturating_u32(value: u64) -> u32 {
    u32::try_from(value).unwrap_or(u32::MAX)
}
