//! The dashboard page: the Leptos app rendered to HTML inside a small shell that carries the
//! bootstrap data hydration starts from.

use crate::http::escape_html;
use std::fmt::Write as _;

use clauster_ui::{App, BOOTSTRAP_ELEMENT_ID, is_live, page_title};
use clauster_wire::Bootstrap;
use leptos::prelude::*;

use crate::assets::BUNDLE_VERSION;

/// Renders the whole document. The `<body>` holds only the app, so the hydrate entry can
/// attach to `<body>` directly. Every `<script>` carries `nonce`, the response's CSP nonce
/// (security.md §6).
pub fn render(bootstrap: &Bootstrap, nonce: &str) -> String {
    let root = bootstrap.context.root_path.as_str();
    let running = bootstrap.instances.iter().filter(|i| is_live(i)).count();
    let title = page_title(bootstrap.context.instance_name.as_deref(), running);
    let data = bootstrap_json(bootstrap);
    let body = render_app(bootstrap.clone());
    let v = BUNDLE_VERSION;
    let mut html = document_start(root, nonce, &title);
    html.reserve(body.len() + data.len() + 1024);
    // Writing into a String cannot fail.
    let _ = write!(
        html,
        "<link rel=\"modulepreload\" href=\"{root}/pkg/clauster.js?v={v}\">\
         <script id=\"{BOOTSTRAP_ELEMENT_ID}\" type=\"application/json\" nonce=\"{nonce}\">{data}</script>\
         <script type=\"module\" nonce=\"{nonce}\" src=\"{root}/pkg/boot.js?v={v}\"></script>\
         <script type=\"module\" nonce=\"{nonce}\" src=\"{root}/pkg/notify.js?v={v}\"></script>\
         <script type=\"module\" nonce=\"{nonce}\" src=\"{root}/pkg/settings.js?v={v}\"></script>\
         </head><body>{body}</body></html>"
    );
    html
}

/// The start of a server-rendered page in the dashboard's look, up to its own head elements:
/// doctype, viewport, `title` (escaped here), the theme script with the response's CSP `nonce`,
/// the style sheet and the icon. The caller adds the rest of the head and the body.
pub(crate) fn document_start(root: &str, nonce: &str, title: &str) -> String {
    let v = BUNDLE_VERSION;
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title>\
         <script nonce=\"{nonce}\" src=\"{root}/pkg/theme.js?v={v}\"></script>\
         <link rel=\"stylesheet\" href=\"{root}/pkg/style.css?v={v}\">\
         <link rel=\"icon\" href=\"{root}/favicon.svg\" type=\"image/svg+xml\">",
        title = escape_html(title),
    )
}

fn render_app(bootstrap: Bootstrap) -> String {
    let owner = Owner::new();
    owner.with(|| view! { <App bootstrap=bootstrap /> }.to_html())
}

/// The bootstrap JSON, safe inside a `<script>` element: `<` is written as `\u003c` so no
/// value can close the element or open a comment.
fn bootstrap_json(bootstrap: &Bootstrap) -> String {
    serde_json::to_string(bootstrap)
        .expect("wire types always serialise")
        .replace('<', "\\u003c")
}

#[cfg(test)]
mod tests {
    use clauster_wire::{
        Bootstrap, CloneContext, Instance, InstanceDefaults, ListView, MetricsContext, PageContext,
        Project, UsageContext,
    };

    use super::{BUNDLE_VERSION, render};

    fn context(instance_name: Option<&str>) -> PageContext {
        PageContext {
            version: "0.1.0".into(),
            instance_name: instance_name.map(Into::into),
            projects_root: "/srv/projects".into(),
            root_path: String::new(),
            config_file_found: false,
            auth_enabled: false,
            launch_mode: "standard".into(),
            instance_defaults: InstanceDefaults {
                spawn_mode: "same-dir".into(),
                permission_mode: "default".into(),
                verbose: false,
                capacity: 32,
                max_bridges: None,
                session_name_prefix: None,
            },
            pty_supported: true,
            pty_screen: false,
            usage: UsageContext {
                mode: "cost".into(),
                currency: "USD".into(),
                currency_symbol: "$".into(),
                fx_rate: 1.0,
                token_total_includes_cache: true,
            },
            metrics: MetricsContext {
                enabled: true,
                show_disk: true,
                normalize_cpu: false,
                poll_seconds: 4.0,
            },
            clone: CloneContext {
                enabled: true,
                allowed_schemes: vec!["https".into(), "ssh".into()],
            },
            reaper_ui: false,
            sign_in: false,
            setup_token: false,
            config_write: clauster_wire::ConfigWriteContext::default(),
        }
    }

    fn project(name: &str, git: bool, trusted: bool) -> Project {
        crate::test_fixtures::project(name, &format!("/srv/projects/{name}"), git, trusted)
    }

    fn running_instance(project: &str) -> Instance {
        Instance {
            instance_id: "f2c456fd-3c1e-4d6b-9a55-0f3a7c2d9e10".into(),
            project: project.into(),
            label: project.into(),
            channel: "remote-control".into(),
            status: "running".into(),
            alive: true,
            resume_mode: "standard".into(),
            spawn_mode: "same-dir".into(),
            permission_mode: "default".into(),
            sandbox_mode: "default".into(),
            intentional_stop: false,
            started_at: Some("2026-11-25T15:02:22.123Z".into()),
            bridge_pid: Some(81750),
            bridge_proc_start: Some(1_764_083_000.42),
            bridge_start_ticks: Some(2_590_192),
            bridge_boot_id: None,
            keeper_pid: None,
            keeper_proc_start: None,
            keeper_start_ticks: None,
            worktree_name: None,
            bridge_id: None,
            environment_id: Some("env_01J".into()),
            starter_session_id: None,
            url: Some("https://claude.ai/code?environment=env_01J".into()),
            session_url: Some("https://claude.ai/code/session_01J?from=cli".into()),
            bridge_debug_log_path: None,
            bridge_raw_log_path: None,
            error_detail: None,
            notice: None,
            claude_version: Some("2.1.328".into()),
            error_kind: None,
            error_hint: None,
            ready_at: Some("2026-11-25T15:02:23.002Z".into()),
            ended_at: None,
            stopping: false,
            resumed_conversation: false,
            launch_count: 1,
            claude_session_uuid: None,
            claude_session_uuid_usable: false,
            claustrum_process_id: None,
            agent_pid: None,
            agent_proc_start: None,
            agent_start_ticks: None,
            agent_boot_id: None,
            daemon_last_seq: 0,
            hosted_log_path: None,
            is_orphan: false,
            restarts: 0,
            next_restart_at: None,
        }
    }

    /// The page with the bundle version (which changes with every build) masked.
    fn rendered(bootstrap: &Bootstrap) -> String {
        render(bootstrap, "TEST-NONCE")
            .replace(BUNDLE_VERSION, "<v>")
            .replace("><", ">\n<")
    }

    #[test]
    fn page_with_two_projects() {
        let bootstrap = Bootstrap {
            context: context(None),
            projects: vec![project("alpha", true, true), project("beta", false, false)],
            instances: vec![running_instance("alpha")],
            view: ListView::default(),
            badges: clauster_wire::BadgeData::default(),
        };
        insta::assert_snapshot!(rendered(&bootstrap));
    }

    #[test]
    fn empty_root_shows_getting_started_and_the_defaults_note() {
        let bootstrap = Bootstrap {
            context: context(None),
            projects: vec![],
            instances: vec![],
            view: ListView::default(),
            badges: clauster_wire::BadgeData::default(),
        };
        let html = rendered(&bootstrap);
        assert!(html.contains("Getting started"));
        assert!(html.contains("Running with built-in defaults"));
        assert!(html.contains("/srv/projects"));
    }

    #[test]
    fn the_count_speaks_of_one_project_in_the_singular() {
        let bootstrap = Bootstrap {
            context: context(None),
            projects: vec![project("solo", false, false)],
            instances: vec![],
            view: ListView::default(),
            badges: clauster_wire::BadgeData::default(),
        };
        let page = rendered(&bootstrap);
        assert!(page.contains(">1 project<"), "{page}");
        assert!(!page.contains("1 projects"), "{page}");
    }

    #[test]
    fn first_paint_is_the_visible_set_and_the_live_rows() {
        let projects: Vec<Project> = (1..=30)
            .map(|n| project(&format!("p{n:02}"), false, true))
            .collect();
        let bootstrap = Bootstrap {
            context: context(None),
            projects,
            instances: vec![running_instance("p28")],
            view: ListView::default(),
            badges: clauster_wire::BadgeData::default(),
        };
        let html = render(&bootstrap, "TEST-NONCE");
        let cards: Vec<&str> = html
            .split("data-project=\"")
            .skip(1)
            .map(|rest| rest.split('"').next().unwrap())
            .collect();
        let mut expected: Vec<String> = (1..=24).map(|n| format!("p{n:02}")).collect();
        expected.push("p28".into());
        assert_eq!(cards, expected);
        assert!(html.contains("Show all 30"));
        assert!(html.contains("data-instance-id=\"f2c456fd-3c1e-4d6b-9a55-0f3a7c2d9e10\""));
        assert!(html.contains("<title>(1) Clauster</title>"));
        assert!(!html.contains("data-hydrated"));
    }

    #[test]
    fn dead_rows_say_what_happened() {
        let mut failed = running_instance("alpha");
        failed.instance_id = "0b1d".into();
        failed.status = "error".into();
        failed.alive = false;
        failed.error_kind = Some("auth".into());
        failed.error_hint = Some("Sign claude in on this host: run `claude auth login`.".into());
        failed.error_detail = Some("claude exited with status 1 <before ready>".into());
        let mut crashed = running_instance("alpha");
        crashed.instance_id = "9c2e".into();
        crashed.status = "crashed".into();
        crashed.alive = false;
        crashed.started_at = Some("2026-11-25T14:00:00.000Z".into());
        let bootstrap = Bootstrap {
            context: context(None),
            projects: vec![project("alpha", true, true)],
            instances: vec![failed, crashed],
            view: ListView::default(),
            badges: clauster_wire::BadgeData::default(),
        };
        let html = rendered(&bootstrap);
        let recent = html
            .split("<details class=\"recent\">")
            .nth(1)
            .expect("the recent list")
            .split("</details>\n</section>")
            .next()
            .unwrap();
        insta::assert_snapshot!(recent);
    }

    #[test]
    fn bootstrap_data_cannot_close_its_script_element() {
        let mut bootstrap = Bootstrap {
            context: context(Some("x</script><b>")),
            projects: vec![],
            instances: vec![],
            view: ListView::default(),
            badges: clauster_wire::BadgeData::default(),
        };
        bootstrap.context.projects_root = "/srv/</script>".into();
        let html = render(&bootstrap, "N");
        let data = html
            .split("type=\"application/json\" nonce=\"N\">")
            .nth(1)
            .unwrap();
        let data = data.split("</script>").next().unwrap();
        assert!(
            !data.contains('<'),
            "raw '<' inside the bootstrap JSON: {data}"
        );
        let parsed: Bootstrap = serde_json::from_str(data).unwrap();
        assert_eq!(parsed, bootstrap);
        assert!(html.contains("<title>Clauster · x&lt;/script&gt;&lt;b&gt;</title>"));
    }
}
