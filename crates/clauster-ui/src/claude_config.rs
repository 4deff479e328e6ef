//! The "Claude config" sheet (ui.md §5.3, config-write.md): Claude Code's settings and env,
//! permission rules, hooks, MCP servers, subagents, skills and the effective view of one
//! project (Project and Local scopes) or of the User scope. Every write goes through the
//! typed confirmation; a 403 `reauth_required` asks for the password and retries; a 409 offers
//! Reload or Overwrite.
#![allow(
    clippy::large_types_passed_by_value,
    reason = "`Sheet` is a Copy bundle of arena signal handles, passed like the `Store` it holds"
)]

use leptos::prelude::*;
use serde_json::{Map, Value, json};

use crate::live::{Failure, Store, call};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tab {
    Settings,
    Permissions,
    Hooks,
    Mcp,
    Subagents,
    Skills,
    Effective,
}

impl Tab {
    fn label(self) -> &'static str {
        match self {
            Self::Settings => "Settings",
            Self::Permissions => "Permissions",
            Self::Hooks => "Hooks",
            Self::Mcp => "MCP",
            Self::Subagents => "Subagents",
            Self::Skills => "Skills",
            Self::Effective => "Effective",
        }
    }

    fn class(self) -> &'static str {
        match self {
            Self::Settings => "tab-settings",
            Self::Permissions => "tab-permissions",
            Self::Hooks => "tab-hooks",
            Self::Mcp => "tab-mcp",
            Self::Subagents => "tab-subagents",
            Self::Skills => "tab-skills",
            Self::Effective => "tab-effective",
        }
    }

    /// The GET path (under `/api/config-write/`) that loads the tab.
    fn path(self) -> &'static str {
        match self {
            Self::Settings => "settings",
            Self::Permissions => "permissions",
            Self::Hooks => "hooks",
            Self::Mcp => "mcp",
            Self::Subagents => "subagents",
            Self::Skills => "skills",
            Self::Effective => "settings/effective",
        }
    }
}

/// The hook events offered (config-write.md §5).
pub const HOOK_EVENTS: &[&str] = &[
    "PreToolUse",
    "PostToolUse",
    "UserPromptSubmit",
    "Notification",
    "Stop",
    "SubagentStop",
    "PreCompact",
    "SessionStart",
    "SessionEnd",
];

/// The text a write's confirmation must be (config-write.md §3).
pub fn confirm_token(scope: &str, project: Option<&str>) -> String {
    match (scope, project) {
        ("user", _) | (_, None) => "USER SCOPE".to_owned(),
        ("local", Some(name)) => format!("{name} (local)"),
        (_, Some(name)) => name.to_owned(),
    }
}

/// One rule a line; blank lines dropped.
pub fn rules(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The `permissions` object a save sends: the loaded object with the lists and mode replaced.
pub fn permissions_body(loaded: &Value, lists: [(&str, &str); 3], mode: &str) -> Value {
    let mut out = loaded.as_object().cloned().unwrap_or_default();
    for (key, text) in lists {
        let list = rules(text);
        if list.is_empty() {
            out.remove(key);
        } else {
            out.insert(key.to_owned(), json!(list));
        }
    }
    if mode.is_empty() {
        out.remove("defaultMode");
    } else {
        out.insert("defaultMode".to_owned(), json!(mode));
    }
    Value::Object(out)
}

/// One hook as a row: its event, matcher and the hook object (its command edited in place).
#[derive(Clone, Debug, PartialEq)]
pub struct HookRow {
    pub event: String,
    pub matcher: String,
    pub hook: Value,
}

/// The rows of a `hooks` object, in file order.
pub fn hook_rows(hooks: &Value) -> Vec<HookRow> {
    let mut out = Vec::new();
    for (event, groups) in hooks.as_object().into_iter().flatten() {
        for group in groups.as_array().into_iter().flatten() {
            let matcher = group.get("matcher").and_then(Value::as_str).unwrap_or("");
            for hook in group
                .get("hooks")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                out.push(HookRow {
                    event: event.clone(),
                    matcher: matcher.to_owned(),
                    hook: hook.clone(),
                });
            }
        }
    }
    out
}

/// The `hooks` object of rows: grouped by event, then by matcher, in row order.
pub fn hooks_body(rows: &[HookRow]) -> Value {
    let mut out: Map<String, Value> = Map::new();
    for row in rows {
        let groups = out
            .entry(row.event.clone())
            .or_insert_with(|| Value::Array(Vec::new()));
        let Value::Array(groups) = groups else {
            continue;
        };
        let found = groups
            .iter_mut()
            .find(|g| g.get("matcher").and_then(Value::as_str).unwrap_or("") == row.matcher);
        if let Some(group) = found {
            if let Some(Value::Array(hooks)) = group.get_mut("hooks") {
                hooks.push(row.hook.clone());
            }
        } else {
            let mut group = Map::new();
            if !row.matcher.is_empty() {
                group.insert("matcher".into(), json!(row.matcher));
            }
            group.insert("hooks".into(), json!([row.hook]));
            groups.push(Value::Object(group));
        }
    }
    Value::Object(out)
}

/// An MCP server entry from the add form: stdio (`command` and its arguments, split on
/// blanks) or http (`url`).
pub fn mcp_entry(kind: &str, target: &str, args: &str) -> Value {
    if kind == "http" {
        json!({"type": "http", "url": target.trim()})
    } else {
        let args: Vec<&str> = args.split_whitespace().collect();
        if args.is_empty() {
            json!({"command": target.trim()})
        } else {
            json!({"command": target.trim(), "args": args})
        }
    }
}

/// A Markdown file to start a new subagent or skill from.
pub fn template(kind: &str, name: &str) -> String {
    format!("---\nname: {name}\ndescription: What this {kind} does\n---\n\n")
}

/// A write waiting for its confirmation (then for the step-up, or a conflict choice).
#[derive(Clone, Debug, PartialEq)]
struct Pending {
    method: &'static str,
    /// Under `/api/config-write/`, with its query.
    path: String,
    body: Option<Value>,
    /// What the confirmation dialog says the write does.
    what: String,
}

#[derive(Clone, Debug, PartialEq)]
enum Notice {
    Saved(String),
    Error(String),
    /// 409 on a guarded write: Reload, or Overwrite (the same write without `hash`).
    Conflict(Pending, String),
    /// 403 `reauth_required`: the password, then the write again.
    StepUp(Pending),
}

/// Every signal of one sheet (Copy, for the handlers).
#[derive(Clone, Copy)]
struct Sheet {
    store: Store,
    project: StoredValue<Option<String>>,
    tab: RwSignal<Tab>,
    scope: RwSignal<&'static str>,
    data: RwSignal<Option<Value>>,
    load_error: RwSignal<Option<String>>,
    notice: RwSignal<Option<Notice>>,
    pending: RwSignal<Option<Pending>>,
    typed: RwSignal<String>,
    busy: RwSignal<bool>,
    /// The open subagent or skill: its name and text (`None`: the list).
    doc: RwSignal<Option<(String, String, Option<String>)>>,
}

impl Sheet {
    fn project(self) -> Option<String> {
        self.project.get_value()
    }

    fn query(self) -> String {
        let scope = self.scope.get_untracked();
        match self.project() {
            Some(p) if scope != "user" => format!("scope={scope}&project={p}"),
            _ => "scope=user".to_owned(),
        }
    }

    fn url(self, path: &str) -> String {
        self.store.url(&format!("/api/config-write/{path}"))
    }

    fn token(self) -> String {
        confirm_token(self.scope.get_untracked(), self.project().as_deref())
    }

    /// The body fields naming where a write goes.
    fn target(self) -> Map<String, Value> {
        let mut body = Map::new();
        let scope = self.scope.get_untracked();
        body.insert("scope".into(), json!(scope));
        if let Some(p) = self.project()
            && scope != "user"
        {
            body.insert("project".into(), json!(p));
        }
        body
    }

    fn load(self) {
        let tab = self.tab.get_untracked();
        let path = if tab == Tab::Effective {
            format!(
                "{}?project={}",
                tab.path(),
                self.project().unwrap_or_default()
            )
        } else {
            format!("{}?{}", tab.path(), self.query())
        };
        self.data.set(None);
        self.load_error.set(None);
        call("GET", self.url(&path), None, move |result| match result {
            Ok(body) => self.data.set(serde_json::from_str(&body).ok()),
            Err(failure) => self.load_error.set(Some(failure.detail)),
        });
    }

    /// Asks for the typed confirmation of `pending`.
    fn ask(self, pending: Pending) {
        self.typed.set(String::new());
        self.notice.set(None);
        self.pending.set(Some(pending));
    }

    /// Sends a confirmed write; reloads the tab on success.
    fn send(self, pending: Pending) {
        self.busy.set(true);
        let body = pending.body.as_ref().map(Value::to_string);
        let url = self.url(&pending.path);
        call(pending.method, url, body, move |result| {
            self.busy.set(false);
            match result {
                Ok(_) => {
                    self.notice.set(Some(Notice::Saved(pending.what.clone())));
                    self.doc.set(None);
                    self.load();
                }
                Err(failure) => self.notice.set(Some(failed(pending, &failure))),
            }
        });
    }

    fn confirm(self) {
        let Some(mut pending) = self.pending.get_untracked() else {
            return;
        };
        let token = self.typed.get_untracked();
        if token != self.token() {
            return;
        }
        self.pending.set(None);
        if let Some(Value::Object(body)) = &mut pending.body {
            body.insert("confirm".into(), json!(token));
        } else {
            let sep = if pending.path.contains('?') { '&' } else { '?' };
            pending.path = format!("{}{sep}confirm={}", pending.path, encode(&token));
        }
        self.send(pending);
    }
}

fn failed(pending: Pending, failure: &Failure) -> Notice {
    let guarded = pending
        .body
        .as_ref()
        .is_some_and(|b| b.get("hash").is_some_and(|h| !h.is_null()));
    match failure.status {
        403 if failure.detail == "reauth_required" => Notice::StepUp(pending),
        409 if guarded => Notice::Conflict(pending, failure.detail.clone()),
        _ => Notice::Error(failure.detail.clone()),
    }
}

/// Percent-encodes a query value (the confirmation text has blanks and parentheses).
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The sheet of `project` (`None`: the User scope).
// Tabs, dialogs and their handlers share the sheet's signals; splitting scatters them.
#[allow(clippy::too_many_lines, clippy::needless_pass_by_value)]
#[component]
pub fn ClaudeConfigSheet(
    store: Store,
    project: Option<String>,
    on_close: Callback<()>,
) -> impl IntoView {
    let user_only = project.is_none();
    let title = match &project {
        Some(name) => format!("Claude config · {name}"),
        None => "Claude config · User (all projects)".to_owned(),
    };
    let sheet = Sheet {
        store,
        project: StoredValue::new(project),
        tab: RwSignal::new(Tab::Permissions),
        scope: RwSignal::new(if user_only { "user" } else { "project" }),
        data: RwSignal::new(None),
        load_error: RwSignal::new(None),
        notice: RwSignal::new(None),
        pending: RwSignal::new(None),
        typed: RwSignal::new(String::new()),
        busy: RwSignal::new(false),
        doc: RwSignal::new(None),
    };
    sheet.load();
    let tabs = [
        Tab::Settings,
        Tab::Permissions,
        Tab::Hooks,
        Tab::Mcp,
        Tab::Subagents,
        Tab::Skills,
        Tab::Effective,
    ]
    .into_iter()
    .filter(move |t| !(user_only && *t == Tab::Effective))
    .map(|t| {
        view! {
            <button
                type="button"
                role="tab"
                class=format!("tab {}", t.class())
                aria-selected=move || (sheet.tab.get() == t).to_string()
                on:click=move |_| {
                    sheet.tab.set(t);
                    sheet.doc.set(None);
                    sheet.notice.set(None);
                    if sheet.scope.get_untracked() == "local"
                        && matches!(t, Tab::Subagents | Tab::Skills)
                    {
                        sheet.scope.set("project");
                    }
                    sheet.load();
                }
            >
                {t.label()}
            </button>
        }
    })
    .collect_view();
    let scope_picker = move || {
        let tab = sheet.tab.get();
        (!user_only && tab != Tab::Effective).then(|| {
            let local_ok = !matches!(tab, Tab::Subagents | Tab::Skills);
            view! {
                <label class="scope-picker">
                    "Scope "
                    <select
                        name="scope"
                        prop:value=move || sheet.scope.get()
                        on:change=move |ev| {
                            let scope = if event_target_value(&ev) == "local" { "local" } else { "project" };
                            sheet.scope.set(scope);
                            sheet.doc.set(None);
                            sheet.load();
                        }
                    >
                        <option value="project">"Project (.claude/settings.json, .mcp.json)"</option>
                        {local_ok.then(|| view! { <option value="local">"Local (settings.local.json, only you)"</option> })}
                    </select>
                </label>
            }
        })
    };
    let body = move || {
        if let Some(detail) = sheet.load_error.get() {
            return view! { <div class="alert" role="alert"><span>{detail}</span></div> }
                .into_any();
        }
        let Some(data) = sheet.data.get() else {
            return view! { <p class="note">"Loading…"</p> }.into_any();
        };
        let read_only = data.get("error").and_then(Value::as_str).map(|e| {
            view! { <div class="alert read-only" role="alert"><span>{e.to_owned()}</span></div> }
        });
        let tab = match sheet.tab.get_untracked() {
            Tab::Settings => settings_tab(sheet, &data).into_any(),
            Tab::Permissions => permissions_tab(sheet, &data).into_any(),
            Tab::Hooks => hooks_tab(sheet, &data).into_any(),
            Tab::Mcp => mcp_tab(sheet, &data).into_any(),
            Tab::Subagents => docs_tab(sheet, &data, "subagent").into_any(),
            Tab::Skills => docs_tab(sheet, &data, "skill").into_any(),
            Tab::Effective => effective_tab(&data).into_any(),
        };
        view! { {read_only} {tab} }.into_any()
    };
    let notice = move || {
        sheet.notice.get().map(|n| match n {
            Notice::Saved(what) => view! {
                <p class="saved" role="status"><span aria-hidden="true">"✓ "</span>{format!("Saved: {what}")}</p>
            }
            .into_any(),
            Notice::Error(detail) => view! {
                <div class="alert" role="alert"><span>{detail}</span></div>
            }
            .into_any(),
            Notice::Conflict(pending, detail) => {
                let overwrite = pending.clone();
                view! {
                    <div class="alert conflict" role="alert">
                        <span>{detail}</span>
                        <button type="button" class="reload" on:click=move |_| {
                            sheet.notice.set(None);
                            sheet.load();
                        }>"Reload"</button>
                        <button type="button" class="danger overwrite" on:click=move |_| {
                            let mut again = overwrite.clone();
                            if let Some(Value::Object(b)) = &mut again.body {
                                b.remove("hash");
                            }
                            sheet.send(again);
                        }>"Overwrite"</button>
                    </div>
                }
                .into_any()
            }
            Notice::StepUp(pending) => step_up(sheet, pending).into_any(),
        })
    };
    let dialog = move || {
        sheet.pending.get().map(|p| {
            let token = sheet.token();
            let expected = token.clone();
            view! {
                <div class="confirm typed-confirm" role="alertdialog" aria-label="Confirm the change">
                    <p>{p.what.clone()}</p>
                    <p class="note">
                        "Claude Code may run what this changes. Type "
                        <code>{token.clone()}</code>
                        " to confirm."
                    </p>
                    <input
                        type="text"
                        name="confirm"
                        autocomplete="off"
                        aria-label="Confirmation text"
                        prop:value=move || sheet.typed.get()
                        on:input=move |ev| sheet.typed.set(event_target_value(&ev))
                    />
                    <div class="actions">
                        <button
                            type="button"
                            class="danger confirm-write"
                            disabled=move || sheet.typed.get() != expected
                            on:click=move |_| sheet.confirm()
                        >
                            "Confirm"
                        </button>
                        <button type="button" class="cancel" on:click=move |_| sheet.pending.set(None)>
                            "Cancel"
                        </button>
                    </div>
                </div>
            }
        })
    };
    let on_keydown = move |ev: leptos::ev::KeyboardEvent| {
        if ev.key() == "Escape" {
            ev.stop_propagation();
            if sheet.pending.get_untracked().is_some() {
                sheet.pending.set(None);
            } else {
                on_close.run(());
            }
        }
    };
    view! {
        <div class="sheet-backdrop" aria-hidden="true"></div>
        <section
            class="claude-config sheet"
            role="dialog"
            aria-modal="true"
            aria-label=title.clone()
            on:keydown=on_keydown
        >
            <div class="editor-head">
                <h3>{title.clone()}</h3>
                <button
                    type="button"
                    class="icon close-x"
                    aria-label="Close Claude config"
                    on:click=move |_| on_close.run(())
                >
                    "×"
                </button>
            </div>
            <div class="tabs" role="tablist">{tabs}</div>
            {scope_picker}
            <div class="tab-body">{body}</div>
            {notice}
            {dialog}
        </section>
    }
}

fn step_up(sheet: Sheet, pending: Pending) -> impl IntoView {
    let password = RwSignal::new(String::new());
    let unlock = move || {
        let pending = pending.clone();
        let body = json!({"password": password.get_untracked()}).to_string();
        call(
            "POST",
            sheet.store.url("/api/reauth"),
            Some(body),
            move |result| match result {
                Ok(_) => sheet.send(pending),
                Err(failure) => sheet.notice.set(Some(Notice::Error(failure.detail))),
            },
        );
    };
    view! {
        <div class="alert step-up" role="alert">
            <span>"Enter your password again to change Claude Code's configuration."</span>
            <input
                type="password"
                name="password"
                autocomplete="current-password"
                aria-label="Password"
                prop:value=move || password.get()
                on:input=move |ev| password.set(event_target_value(&ev))
            />
            <button type="button" class="primary unlock" on:click=move |_| unlock()>"Unlock"</button>
        </div>
    }
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

fn write(sheet: Sheet, method: &'static str, path: String, fields: Value, what: String) {
    let mut body = sheet.target();
    if let Value::Object(extra) = fields {
        body.extend(extra);
    }
    sheet.ask(Pending {
        method,
        path,
        body: Some(Value::Object(body)),
        what,
    });
}

fn settings_tab(sheet: Sheet, data: &Value) -> impl IntoView {
    let text = RwSignal::new(pretty(data.get("settings").unwrap_or(&json!({}))));
    let masked = data
        .get("masked")
        .and_then(Value::as_array)
        .map(|m| {
            m.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();
    let hash = data.get("hash").cloned().unwrap_or(Value::Null);
    let error = RwSignal::new(None::<String>);
    let save = move || match serde_json::from_str::<Value>(&text.get_untracked()) {
        Ok(settings @ Value::Object(_)) => {
            error.set(None);
            write(
                sheet,
                "PUT",
                "settings".into(),
                json!({"settings": settings, "hash": hash}),
                "settings and env".into(),
            );
        }
        _ => error.set(Some("The settings must be a JSON object.".into())),
    };
    view! {
        <p class="note">
            "Keys of settings.json other than permissions and hooks. Values shown as ******** are kept as they are unless you replace them."
        </p>
        {(!masked.is_empty()).then(|| view! { <p class="note masked">{format!("Masked: {masked}")}</p> })}
        <textarea
            class="json-text"
            name="settings"
            rows="12"
            spellcheck="false"
            aria-label="Settings as JSON"
            prop:value=move || text.get()
            on:input=move |ev| text.set(event_target_value(&ev))
        ></textarea>
        {move || error.get().map(|e| view! { <p class="alert" role="alert">{e}</p> })}
        <div class="actions">
            <button type="button" class="primary save-settings" on:click=move |_| save()>"Save settings"</button>
        </div>
    }
}

fn permissions_tab(sheet: Sheet, data: &Value) -> impl IntoView {
    let loaded = data
        .get("permissions")
        .cloned()
        .unwrap_or_else(|| json!({}));
    let list = |key: &str| {
        RwSignal::new(
            loaded
                .get(key)
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join("\n")
                })
                .unwrap_or_default(),
        )
    };
    let (allow, ask, deny) = (list("allow"), list("ask"), list("deny"));
    let mode = RwSignal::new(
        loaded
            .get("defaultMode")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned(),
    );
    let hash = data.get("hash").cloned().unwrap_or(Value::Null);
    let save = move || {
        let permissions = permissions_body(
            &loaded,
            [
                ("allow", &allow.get_untracked()),
                ("ask", &ask.get_untracked()),
                ("deny", &deny.get_untracked()),
            ],
            &mode.get_untracked(),
        );
        write(
            sheet,
            "PUT",
            "permissions".into(),
            json!({"permissions": permissions, "hash": hash}),
            "permission rules".into(),
        );
    };
    let area = move |label: &'static str, class: &'static str, signal: RwSignal<String>| {
        view! {
            <label class=format!("rules {class}")>
                <span>{label}</span>
                <textarea
                    name=class
                    rows="4"
                    spellcheck="false"
                    placeholder="One rule a line, e.g. Bash(npm test:*)"
                    prop:value=move || signal.get()
                    on:input=move |ev| signal.set(event_target_value(&ev))
                ></textarea>
            </label>
        }
    };
    view! {
        {area("Allow", "allow", allow)}
        {area("Ask", "ask", ask)}
        {area("Deny", "deny", deny)}
        <label class="default-mode">
            "Default mode "
            <select name="defaultMode" prop:value=move || mode.get() on:change=move |ev| mode.set(event_target_value(&ev))>
                <option value="">"(not set)"</option>
                <option value="default">"default"</option>
                <option value="acceptEdits">"acceptEdits"</option>
                <option value="plan">"plan"</option>
                <option value="dontAsk">"dontAsk"</option>
            </select>
        </label>
        <div class="actions">
            <button type="button" class="primary save-permissions" on:click=move |_| save()>"Save rules"</button>
        </div>
    }
}

fn hooks_tab(sheet: Sheet, data: &Value) -> impl IntoView {
    let rows = RwSignal::new(hook_rows(data.get("hooks").unwrap_or(&json!({}))));
    let hash = data.get("hash").cloned().unwrap_or(Value::Null);
    let event = RwSignal::new("PreToolUse".to_owned());
    let matcher = RwSignal::new(String::new());
    let command = RwSignal::new(String::new());
    let save = {
        let hash = hash.clone();
        move |rows: Vec<HookRow>, what: String| {
            write(
                sheet,
                "PUT",
                "hooks".into(),
                json!({"hooks": hooks_body(&rows), "hash": hash}),
                what,
            );
        }
    };
    let add = {
        let save = save.clone();
        move || {
            let cmd = command.get_untracked();
            if cmd.trim().is_empty() {
                return;
            }
            let mut all = rows.get_untracked();
            all.push(HookRow {
                event: event.get_untracked(),
                matcher: matcher.get_untracked(),
                hook: json!({"type": "command", "command": cmd}),
            });
            save(
                all,
                format!("add a {} hook running `{cmd}`", event.get_untracked()),
            );
        }
    };
    let list = move || {
        let save = save.clone();
        rows.get()
            .into_iter()
            .enumerate()
            .map(|(i, row)| {
                let save = save.clone();
                let cmd = row.hook.get("command").and_then(Value::as_str).unwrap_or("").to_owned();
                let shown = cmd.clone();
                view! {
                    <li class="hook-row">
                        <span class="event">{row.event.clone()}</span>
                        <span class="matcher">{if row.matcher.is_empty() { "(any)".to_owned() } else { row.matcher.clone() }}</span>
                        <code class="command">{shown}</code>
                        <button type="button" class="remove-hook" on:click=move |_| {
                            let mut all = rows.get_untracked();
                            all.remove(i);
                            save(all, format!("remove the hook running `{cmd}`"));
                        }>"Remove"</button>
                    </li>
                }
            })
            .collect_view()
    };
    let events = HOOK_EVENTS
        .iter()
        .map(|e| view! { <option value=*e>{*e}</option> })
        .collect_view();
    view! {
        <ul class="hook-list">{list}</ul>
        <fieldset class="add-hook">
            <legend>"Add a hook"</legend>
            <select name="hook-event" prop:value=move || event.get() on:change=move |ev| event.set(event_target_value(&ev))>
                {events}
            </select>
            <input type="text" name="hook-matcher" placeholder="Matcher (e.g. Bash), optional"
                prop:value=move || matcher.get() on:input=move |ev| matcher.set(event_target_value(&ev)) />
            <input type="text" name="hook-command" placeholder="Command" autocomplete="off"
                prop:value=move || command.get() on:input=move |ev| command.set(event_target_value(&ev)) />
            <button type="button" class="primary add-hook-button" on:click=move |_| add()>"Add hook"</button>
        </fieldset>
    }
}

fn mcp_tab(sheet: Sheet, data: &Value) -> impl IntoView {
    let servers: Vec<(String, Value)> = data
        .get("servers")
        .and_then(Value::as_object)
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    let name = RwSignal::new(String::new());
    let kind = RwSignal::new("stdio".to_owned());
    let target = RwSignal::new(String::new());
    let args = RwSignal::new(String::new());
    let add = move || {
        let n = name.get_untracked();
        if n.trim().is_empty() || target.get_untracked().trim().is_empty() {
            return;
        }
        let entry = mcp_entry(
            &kind.get_untracked(),
            &target.get_untracked(),
            &args.get_untracked(),
        );
        write(
            sheet,
            "POST",
            "mcp/server".into(),
            json!({"op": "add", "name": n.trim(), "entry": entry}),
            format!("add the MCP server '{}'", n.trim()),
        );
    };
    let rows = servers
        .into_iter()
        .map(|(server, entry)| {
            let summary = entry
                .get("url")
                .or_else(|| entry.get("command"))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            let removing = server.clone();
            view! {
                <li class="mcp-server" data-server=server.clone()>
                    <span class="name">{server.clone()}</span>
                    <code>{summary}</code>
                    <button type="button" class="remove-server" on:click=move |_| {
                        write(
                            sheet,
                            "POST",
                            "mcp/server".into(),
                            json!({"op": "remove", "name": removing.clone()}),
                            format!("remove the MCP server '{removing}'"),
                        );
                    }>"Remove"</button>
                </li>
            }
        })
        .collect_view();
    view! {
        <ul class="mcp-list">{rows}</ul>
        <fieldset class="add-server">
            <legend>"Add an MCP server"</legend>
            <input type="text" name="server-name" placeholder="Name" autocomplete="off"
                prop:value=move || name.get() on:input=move |ev| name.set(event_target_value(&ev)) />
            <select name="server-kind" prop:value=move || kind.get() on:change=move |ev| kind.set(event_target_value(&ev))>
                <option value="stdio">"Command (stdio)"</option>
                <option value="http">"URL (http)"</option>
            </select>
            <input type="text" name="server-target" placeholder="Command or URL" autocomplete="off"
                prop:value=move || target.get() on:input=move |ev| target.set(event_target_value(&ev)) />
            <input type="text" name="server-args" placeholder="Arguments (stdio), separated by spaces"
                prop:value=move || args.get() on:input=move |ev| args.set(event_target_value(&ev)) />
            <button type="button" class="primary add-server-button" on:click=move |_| add()>"Add server"</button>
        </fieldset>
    }
}

/// Subagents and skills: the list, or the open file's editor.
fn docs_tab(sheet: Sheet, data: &Value, kind: &'static str) -> impl IntoView {
    let key = if kind == "skill" { "skills" } else { "agents" };
    let items: Vec<Value> = data
        .get(key)
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let new_name = RwSignal::new(String::new());
    let open = move |name: String| {
        let path = if kind == "skill" {
            format!("skills/file?{}&name={name}", sheet.query())
        } else {
            format!("subagents/{name}?{}", sheet.query())
        };
        call("GET", sheet.url(&path), None, move |result| match result {
            Ok(body) => {
                let doc: Value = serde_json::from_str(&body).unwrap_or_default();
                let content = doc
                    .get("content")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned();
                let hash = doc.get("hash").and_then(Value::as_str).map(str::to_owned);
                let content = if content.is_empty() {
                    template(kind, &name)
                } else {
                    content
                };
                sheet.doc.set(Some((name, content, hash)));
            }
            Err(failure) => sheet.notice.set(Some(Notice::Error(failure.detail))),
        });
    };
    move || {
        if let Some((name, content, hash)) = sheet.doc.get() {
            return doc_editor(sheet, kind, &name, content, hash);
        }
        let rows = items
            .clone()
            .into_iter()
            .map(|item| {
                let name = item.get("name").and_then(Value::as_str).unwrap_or("").to_owned();
                let editable = item.get("editable").and_then(Value::as_bool).unwrap_or(false);
                let source = item.get("source").and_then(Value::as_str).unwrap_or("").to_owned();
                let described = item
                    .get("error")
                    .or_else(|| item.get("description"))
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned();
                let opening = name.clone();
                view! {
                    <li class="doc-item" data-name=name.clone()>
                        <span class="name">{name.clone()}</span>
                        {(!source.is_empty()).then(|| view! { <span class="badge">{source.clone()}</span> })}
                        <span class="description">{described}</span>
                        {editable.then(|| view! {
                            <button type="button" class="edit-doc" on:click=move |_| open(opening.clone())>"Edit"</button>
                        })}
                    </li>
                }
            })
            .collect_view();
        view! {
            <ul class="doc-list">{rows}</ul>
            <div class="new-doc">
                <input type="text" name="new-doc-name" placeholder=format!("New {kind} name (lower-case, -)")
                    prop:value=move || new_name.get() on:input=move |ev| new_name.set(event_target_value(&ev)) />
                <button type="button" class="new-doc-button" on:click=move |_| {
                    let name = new_name.get_untracked();
                    if !name.trim().is_empty() {
                        sheet.doc.set(Some((name.trim().to_owned(), template(kind, name.trim()), None)));
                    }
                }>{format!("New {kind}")}</button>
            </div>
        }
        .into_any()
    }
}

/// The open subagent or skill: its text, Save, Delete, Back.
fn doc_editor(
    sheet: Sheet,
    kind: &'static str,
    name: &str,
    content: String,
    hash: Option<String>,
) -> AnyView {
    let text = RwSignal::new(content);
    let save_name = name.to_owned();
    let save = move || {
        let content = text.get_untracked();
        if kind == "skill" {
            write(
                sheet,
                "PUT",
                "skills".into(),
                json!({"name": save_name.clone(), "files": {"SKILL.md": content}, "hash": hash.clone()}),
                format!("save the skill '{save_name}'"),
            );
        } else {
            write(
                sheet,
                "PUT",
                format!("subagents/{save_name}"),
                json!({"content": content, "hash": hash.clone()}),
                format!("save the subagent '{save_name}'"),
            );
        }
    };
    let delete_name = name.to_owned();
    let delete = move || {
        if kind == "skill" {
            write(
                sheet,
                "POST",
                "skills/delete".into(),
                json!({"name": delete_name.clone()}),
                format!("delete the skill '{delete_name}'"),
            );
        } else {
            sheet.ask(Pending {
                method: "DELETE",
                path: format!("subagents/{delete_name}?{}", sheet.query()),
                body: None,
                what: format!("delete the subagent '{delete_name}'"),
            });
        }
    };
    view! {
            <div class="doc-editor">
                <h4>{format!("{kind}: {name}")}</h4>
                <textarea
                    class="doc-text"
                    name="doc"
                    rows="14"
                    spellcheck="false"
                    aria-label=format!("The {kind} {name}")
                    prop:value=move || text.get()
                    on:input=move |ev| text.set(event_target_value(&ev))
                ></textarea>
                <div class="actions">
                    <button type="button" class="primary save-doc" on:click=move |_| save()>"Save"</button>
                    <button type="button" class="danger delete-doc" on:click=move |_| delete()>"Delete"</button>
                    <button type="button" class="back" on:click=move |_| sheet.doc.set(None)>"Back to the list"</button>
                </div>
            </div>
        }
    .into_any()
}

fn effective_tab(data: &Value) -> impl IntoView {
    let row = |key: String, value: &Value, source: &str| {
        let shown = match value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        view! { <tr><th scope="row">{key}</th><td><code>{shown}</code></td><td class="source">{source.to_owned()}</td></tr> }
    };
    let mut rows = Vec::new();
    for section in ["effective", "env"] {
        for (key, v) in data
            .get(section)
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            let label = if section == "env" {
                format!("env.{key}")
            } else {
                key.clone()
            };
            rows.push(row(label, &v["value"], v["source"].as_str().unwrap_or("")));
        }
    }
    for list in ["allow", "ask", "deny"] {
        for r in data["permissions"][list].as_array().into_iter().flatten() {
            rows.push(row(
                format!("permissions.{list}"),
                &r["rule"],
                r["source"].as_str().unwrap_or(""),
            ));
        }
    }
    for h in data["hooks"].as_array().into_iter().flatten() {
        let label = format!(
            "hook {} {}",
            h["event"].as_str().unwrap_or(""),
            h["matcher"].as_str().unwrap_or("")
        );
        rows.push(row(
            label,
            &h["command"],
            h["source"].as_str().unwrap_or(""),
        ));
    }
    for s in data["mcp_servers"].as_array().into_iter().flatten() {
        let approval = s["approval"]
            .as_str()
            .map(|a| format!(" ({a})"))
            .unwrap_or_default();
        let label = format!("mcp {}", s["name"].as_str().unwrap_or(""));
        rows.push(row(
            label,
            &json!(format!("{}{approval}", s["type"].as_str().unwrap_or(""))),
            s["source"].as_str().unwrap_or(""),
        ));
    }
    view! {
        <p class="note">"What a new session in this project sees: Local over Project over User."</p>
        <table class="effective">
            <thead><tr><th scope="col">"Setting"</th><th scope="col">"Value"</th><th scope="col">"From"</th></tr></thead>
            <tbody>{rows}</tbody>
        </table>
    }
}

/// The User scope's opener, for the page (only with `allow_user_scope`).
#[component]
pub fn UserConfigPanel(store: Store) -> impl IntoView {
    let open = RwSignal::new(false);
    view! {
        <section class="user-claude-config">
            <button type="button" class="open-user-config" on:click=move |_| open.set(true)>
                "Claude config for all projects (User scope)"
            </button>
            {move || open.get().then(|| view! {
                <ClaudeConfigSheet store=store project=None on_close=Callback::new(move |()| open.set(false)) />
            })}
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_and_bodies() {
        assert_eq!(confirm_token("project", Some("alpha")), "alpha");
        assert_eq!(confirm_token("local", Some("alpha")), "alpha (local)");
        assert_eq!(confirm_token("user", Some("alpha")), "USER SCOPE");
        assert_eq!(encode("alpha (local)"), "alpha%20%28local%29");
        let loaded =
            json!({"allow": ["Read"], "additionalDirectories": ["../x"], "defaultMode": "plan"});
        // Sorted: serde_json's key order depends on the features the build unifies.
        let body = permissions_body(
            &loaded,
            [
                ("allow", "Read\n\nBash(ls)\n"),
                ("ask", ""),
                ("deny", " Bash(rm:*) "),
            ],
            "",
        );
        insta::with_settings!({sort_maps => true}, {
            insta::assert_json_snapshot!(body);
        });
        assert_eq!(
            mcp_entry("stdio", " npx ", "-y fs-mcp"),
            json!({"command": "npx", "args": ["-y", "fs-mcp"]})
        );
        assert_eq!(
            mcp_entry("http", "https://x/mcp", "ignored"),
            json!({"type": "http", "url": "https://x/mcp"})
        );
    }

    #[test]
    fn hooks_round_trip_through_rows() {
        let hooks = json!({
            "PreToolUse": [
                {"matcher": "Bash", "hooks": [{"type": "command", "command": "a", "timeout": 5},
                                               {"type": "command", "command": "b"}]},
                {"matcher": "Edit", "hooks": [{"type": "command", "command": "c"}]}
            ],
            "Stop": [{"hooks": [{"type": "command", "command": "d"}]}]
        });
        let rows = hook_rows(&hooks);
        assert_eq!(rows.len(), 4);
        assert_eq!(hooks_body(&rows), hooks);
        let mut fewer = rows.clone();
        fewer.remove(1);
        insta::with_settings!({sort_maps => true}, {
            insta::assert_json_snapshot!(hooks_body(&fewer));
        });
    }
}
