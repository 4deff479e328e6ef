//! The page header: name, version, instance name and the projects root.

use clauster_wire::PageContext;
use leptos::prelude::*;

#[component]
pub fn Header(context: PageContext) -> impl IntoView {
    let PageContext {
        version,
        instance_name,
        projects_root,
        ..
    } = context;
    view! {
        <header class="top">
            <span class="logo" aria-hidden="true">"◆"</span>
            <h1 class="brand">"Clauster"</h1>
            <span class="version">{format!("v{version}")}</span>
            {instance_name.map(|name| view! { <span class="instance-name">{name}</span> })}
            <span class="root wide-only" title="projects_root">{projects_root}</span>
        </header>
    }
}
