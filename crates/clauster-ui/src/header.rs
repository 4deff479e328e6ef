//! The page header (ui.md §2): name, version, instance name, projects root, the running
//! count, the claude login badge and the theme toggle.

use leptos::prelude::*;

use crate::live::{Store, is_live};

/// "Switch to light theme" / "Switch to dark theme" for the theme in effect.
pub fn theme_toggle_label(current: &str) -> &'static str {
    if current == "dark" {
        "Switch to light theme"
    } else {
        "Switch to dark theme"
    }
}

/// The pencil that opens the settings sheet: `assets/settings.js`, a module outside the app,
/// listens for its clicks (config.md §8).
#[component]
fn SettingsButton() -> impl IntoView {
    view! {
        <button type="button" class="settings-open" aria-label="Edit settings" title="Edit settings">
            <crate::icons::Icon icon=crate::icons::SETTINGS />
        </button>
    }
}

#[component]
pub fn Header(store: Store) -> impl IntoView {
    let (version, instance_name, projects_root, auth_enabled) = store.context.with_untracked(|c| {
        (
            c.version.clone(),
            c.instance_name.clone(),
            c.projects_root.clone(),
            c.auth_enabled,
        )
    });
    // A plain form POST: it works before hydration and without JavaScript (ui.md §2).
    let log_out = auth_enabled.then(|| {
        view! {
            <form class="log-out" method="post" action=store.url("/logout")>
                <button type="submit" class="log-out-button">"Log out"</button>
            </form>
        }
    });
    let running = move || {
        store
            .instances
            .with(|list| list.iter().filter(|i| is_live(i)).count())
    };
    let running_badge = move || {
        let n = running();
        (n > 0).then(|| {
            view! {
                <span class="badge running-badge" title="Bridges running on this host">
                    {format!("● {n} running")}
                </span>
            }
        })
    };
    let login_badge = move || {
        store
            .login
            .get()
            .filter(|l| !l.claude_login_ok)
            .map(|_| {
                view! {
                    <span
                        class="badge login-badge"
                        tabindex="0"
                        title="Sign claude in on this host once, as the service user: run `claude auth login`"
                    >
                        "claude: not logged in"
                    </span>
                }
            })
    };
    // The server cannot know the stored choice; the label is settled after hydration.
    let theme = RwSignal::new(None::<&'static str>);
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| theme.set(Some(crate::dom::current_theme())));
    let toggle = move |_| {
        let next = if crate::dom::current_theme() == "dark" {
            "light"
        } else {
            "dark"
        };
        crate::dom::set_theme(next);
        theme.set(Some(next));
    };
    let toggle_label = move || theme.get().map_or("Switch theme", theme_toggle_label);
    let icon = move || {
        let glyph = if theme.get() == Some("dark") {
            crate::icons::SUN
        } else {
            crate::icons::MOON
        };
        view! { <crate::icons::Icon icon=glyph /> }
    };
    view! {
        <header class="top">
            <svg class="logo" viewBox="0 0 32 32" width="24" height="24" aria-hidden="true">
                // The same drawing as /favicon.svg.
                <rect width="32" height="32" rx="7" fill="#c2410c"></rect>
                <g fill="#fff">
                    <circle cx="11" cy="12" r="3.6"></circle>
                    <circle cx="21" cy="12" r="3.6"></circle>
                    <circle cx="16" cy="21.5" r="3.6"></circle>
                </g>
            </svg>
            <h1 class="brand">"Clauster"</h1>
            <span class="version">{format!("v{version}")}</span>
            {instance_name.map(|name| view! { <span class="instance-name">{name}</span> })}
            <span class="root wide-only" title="projects_root">{projects_root}</span>
            <span class="header-badges">
                {running_badge} {login_badge}
                <crate::host_readiness::HostReadiness store=store />
            </span>
            <SettingsButton />
            <crate::help::HelpButton store=store />
            <button
                type="button"
                class="theme-toggle"
                aria-label=toggle_label
                title=toggle_label
                on:click=toggle
            >
                {icon}
            </button>
            {log_out}
        </header>
    }
}

#[cfg(test)]
mod tests {
    use super::theme_toggle_label;

    #[test]
    fn the_toggle_names_the_theme_it_switches_to() {
        assert_eq!(theme_toggle_label("dark"), "Switch to light theme");
        assert_eq!(theme_toggle_label("light"), "Switch to dark theme");
    }
}
