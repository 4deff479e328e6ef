// The "Claude config" sheet (ui.md §5.3, config-write.md): Claude Code's settings and env,
// permission rules, hooks, MCP servers and their approvals, subagents, skills, CLAUDE.md and
// the effective view of one project (Project and Local scopes) or of the User scope. A module
// outside the hydrated app, imported by settings.js when a "Claude config" button is clicked,
// so the wasm bundle stays within its budget (issue 19). Every write goes through the typed
// confirmation; a 403 `reauth_required` asks for the password and retries the write; a 409 on
// a guarded write offers Reload or Overwrite. Data from the server is only ever set as text.

const version = new URL(import.meta.url).searchParams.get("v") ?? "";
const { el, request: fetchJson, UNREACHABLE } = await import(`./page.js${new URL(import.meta.url).search}`);

/// What the server shows in place of a secret (config-write.md §4).
const MASK = "********";

const HOOK_EVENTS = [
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

const TABS = [
  { id: "settings", label: "Settings", path: "settings" },
  { id: "permissions", label: "Permissions", path: "permissions" },
  { id: "hooks", label: "Hooks", path: "hooks" },
  { id: "mcp", label: "MCP", path: "mcp" },
  { id: "subagents", label: "Subagents", path: "subagents" },
  { id: "skills", label: "Skills", path: "skills" },
  { id: "claude-md", label: "CLAUDE.md", path: "claude-md" },
  { id: "effective", label: "Effective", path: "settings/effective" },
];

/// The text a write's confirmation must be (config-write.md §3).
export function confirmToken(scope, project) {
  if (scope === "user" || !project) return "USER SCOPE";
  return scope === "local" ? `${project} (local)` : project;
}

/// One rule a line; blank lines dropped.
export function rules(text) {
  return text
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "");
}

/// The `permissions` object a save sends: the loaded object with the lists and mode replaced.
export function permissionsBody(loaded, lists, mode) {
  const out = { ...(loaded ?? {}) };
  for (const [key, text] of Object.entries(lists)) {
    const list = rules(text);
    if (list.length === 0) delete out[key];
    else out[key] = list;
  }
  if (mode === "") delete out.defaultMode;
  else out.defaultMode = mode;
  return out;
}

/// The rows of a `hooks` object, in file order: `{event, matcher, hook}`.
export function hookRows(hooks) {
  const out = [];
  for (const [event, groups] of Object.entries(hooks ?? {})) {
    for (const group of Array.isArray(groups) ? groups : []) {
      for (const hook of Array.isArray(group?.hooks) ? group.hooks : []) {
        out.push({ event, matcher: typeof group.matcher === "string" ? group.matcher : "", hook });
      }
    }
  }
  return out;
}

/// The `hooks` object of rows: grouped by event, then by matcher, in row order.
export function hooksBody(rows) {
  const out = {};
  for (const row of rows) {
    const groups = (out[row.event] ??= []);
    const group = groups.find((g) => (g.matcher ?? "") === row.matcher);
    if (group) group.hooks.push(row.hook);
    else groups.push(row.matcher === "" ? { hooks: [row.hook] } : { matcher: row.matcher, hooks: [row.hook] });
  }
  return out;
}

/// An MCP server entry from the add form: stdio (a command and its blank-separated
/// arguments) or http (a URL).
export function mcpEntry(kind, target, args) {
  if (kind === "http") return { type: "http", url: target.trim() };
  const list = args.split(/\s+/).filter((a) => a !== "");
  return list.length === 0 ? { command: target.trim() } : { command: target.trim(), args: list };
}

/// The `env` keys shown masked: named by the answer's `masked` member (`env.NAME`) or, where
/// the server does not send one, recognised by the mask itself.
export function maskedEnvKeys(data) {
  const keys = new Set();
  for (const name of Array.isArray(data?.masked) ? data.masked : []) {
    if (typeof name === "string" && name.startsWith("env.")) keys.add(name.slice(4));
  }
  for (const [key, value] of Object.entries(data?.settings?.env ?? {})) {
    if (value === MASK) keys.add(key);
  }
  return [...keys];
}

function template(kind, name) {
  return `---\nname: ${name}\ndescription: What this ${kind} does\n---\n\n`;
}

let current = null;

/// Opens the sheet of `project` (`null`: the User scope). `opener` gets the focus back.
export function open({ project, opener, root }) {
  if (current) current.close();
  current = new Sheet(project || null, opener, root ?? "");
}

class Sheet {
  constructor(project, opener, root) {
    this.project = project;
    this.opener = opener;
    this.root = root;
    this.tab = "permissions";
    this.scope = project ? "project" : "user";
    this.data = null;
    this.pending = null;
    this.doc = null;
    this.localClaudeMd = null;
    const title = project ? `Claude config · ${project}` : "Claude config · User (all projects)";
    this.tabs = new Map();
    const tablist = el("div", { class: "tabs", role: "tablist", "aria-label": "Surfaces", onkeydown: (e) => this.arrow(e) });
    for (const tab of TABS) {
      if (!project && tab.id === "effective") continue;
      const button = el("button", {
        type: "button",
        role: "tab",
        id: `cc-tab-${tab.id}`,
        class: `tab tab-${tab.id}`,
        "aria-controls": "cc-panel",
        onclick: () => this.select(tab.id),
      });
      button.textContent = tab.label;
      this.tabs.set(tab.id, button);
      tablist.append(button);
    }
    this.scopeSlot = el("div", { class: "scope-slot" });
    this.body = el("div", { class: "tab-body", id: "cc-panel", role: "tabpanel", tabindex: "-1" });
    this.notice = el("div", { class: "notice-slot" });
    this.dialog = el("div", { class: "dialog-slot" });
    this.backdrop = el("div", { class: "sheet-backdrop", "aria-hidden": "true" });
    this.section = el(
      "section",
      {
        class: "claude-config sheet",
        role: "dialog",
        "aria-modal": "true",
        "aria-label": title,
      },
      el(
        "div",
        { class: "editor-head" },
        el("h3", { text: title }),
        el("button", {
          type: "button",
          class: "icon close-x",
          "aria-label": "Close Claude config",
          text: "×",
          onclick: () => this.close(),
        }),
      ),
      tablist,
      this.scopeSlot,
      this.body,
      this.notice,
      this.dialog,
    );
    // On the document, so Escape and the Tab trap work wherever the focus fell (a write's
    // dialog that closed, a list re-rendered under it).
    this.onKey = (event) => this.key(event);
    this.mount();
  }

  async mount() {
    await stylesheet(this.root);
    if (current !== this) return;
    document.body.append(this.backdrop, this.section);
    document.addEventListener("keydown", this.onKey, true);
    this.select(this.tab);
    this.tabs.get(this.tab)?.focus();
  }

  close() {
    document.removeEventListener("keydown", this.onKey, true);
    this.backdrop.remove();
    this.section.remove();
    if (current === this) current = null;
    // The card's item sits in a menu that closed when it was clicked: its summary gets the
    // focus back (the card found again by name should the list have redrawn it).
    const opener = this.opener;
    if (shown(opener)) {
      opener.focus();
      return;
    }
    const card = [...document.querySelectorAll("li.project[data-project]")].find(
      (c) => c.dataset.project === this.project,
    );
    const back = this.project ? card?.querySelector("details.menu > summary") : document.querySelector(".open-user-config");
    back?.focus();
  }

  key(event) {
    if (event.key === "Escape") {
      event.stopPropagation();
      if (this.pending) this.cancel();
      else this.close();
      return;
    }
    if (event.key !== "Tab") return;
    // A modal dialog: Tab and Shift+Tab stay inside it.
    const focusable = [...this.section.querySelectorAll("button, input, select, textarea, [tabindex='0']")].filter(
      (n) => !n.disabled && n.tabIndex >= 0 && n.getClientRects().length > 0,
    );
    if (focusable.length === 0) return;
    const first = focusable[0];
    const last = focusable[focusable.length - 1];
    if (!this.section.contains(document.activeElement)) {
      event.preventDefault();
      (event.shiftKey ? last : first).focus();
    } else if (event.shiftKey && document.activeElement === first) {
      event.preventDefault();
      last.focus();
    } else if (!event.shiftKey && document.activeElement === last) {
      event.preventDefault();
      first.focus();
    }
  }

  /// Left and Right move between tabs (the ARIA tabs pattern).
  arrow(event) {
    if (event.key !== "ArrowLeft" && event.key !== "ArrowRight") return;
    const ids = [...this.tabs.keys()];
    const at = ids.indexOf(this.tab);
    const next = ids[(at + (event.key === "ArrowRight" ? 1 : ids.length - 1)) % ids.length];
    event.preventDefault();
    this.select(next);
    this.tabs.get(next)?.focus();
  }

  select(tab) {
    this.tab = tab;
    this.doc = null;
    this.notice.replaceChildren();
    if (this.scope === "local" && (tab === "subagents" || tab === "skills")) this.scope = "project";
    for (const [id, button] of this.tabs) {
      const on = id === tab;
      button.setAttribute("aria-selected", String(on));
      button.tabIndex = on ? 0 : -1;
    }
    this.body.setAttribute("aria-labelledby", `cc-tab-${tab}`);
    this.load();
  }

  url(path) {
    return `${this.root}/api/config-write/${path}`;
  }

  query() {
    if (this.project && this.scope !== "user") {
      return `scope=${this.scope}&project=${encodeURIComponent(this.project)}`;
    }
    return "scope=user";
  }

  token(scope = this.scope) {
    return confirmToken(scope, this.project);
  }

  /// The body fields naming where a write goes.
  target() {
    return this.project && this.scope !== "user" ? { scope: this.scope, project: this.project } : { scope: "user" };
  }

  async load() {
    const tab = TABS.find((t) => t.id === this.tab);
    const path =
      tab.id === "effective"
        ? `${tab.path}?project=${encodeURIComponent(this.project ?? "")}`
        : `${tab.path}?${this.query()}`;
    this.data = null;
    if (tab.id === "claude-md" && this.project && this.localClaudeMd === null) {
      // Whether this server edits CLAUDE.local.md: the Local choice appears only if it does.
      const probe = await request("GET", this.url(`claude-md?scope=local&project=${encodeURIComponent(this.project)}`));
      this.localClaudeMd = probe.status === 200;
    }
    if (tab.id === "claude-md" && this.scope === "local" && !this.localClaudeMd) this.scope = "project";
    this.renderScope();
    this.body.replaceChildren(el("p", { class: "note", text: "Loading…" }));
    const asked = { tab: this.tab, scope: this.scope };
    const { status, body } = await request("GET", this.url(path));
    if (current !== this || asked.tab !== this.tab || asked.scope !== this.scope) return;
    if (status !== 200) {
      this.body.replaceChildren(alert(detail(status, body)));
      return;
    }
    this.data = body;
    this.render();
  }

  renderScope() {
    const tab = this.tab;
    if (!this.project || tab === "effective") {
      this.scopeSlot.replaceChildren();
      return;
    }
    const md = tab === "claude-md";
    const local = md ? this.localClaudeMd === true : tab !== "subagents" && tab !== "skills";
    const select = el(
      "select",
      {
        name: "scope",
        onchange: () => {
          this.scope = select.value === "local" ? "local" : "project";
          this.doc = null;
          this.notice.replaceChildren();
          this.load();
        },
      },
      el("option", { value: "project", text: md ? "Project (CLAUDE.md)" : "Project (.claude/settings.json, .mcp.json)" }),
      local
        ? el("option", {
            value: "local",
            text: md ? "Local (CLAUDE.local.md, only you)" : "Local (settings.local.json, only you)",
          })
        : null,
    );
    select.value = this.scope;
    this.scopeSlot.replaceChildren(el("label", { class: "scope-picker" }, "Scope ", select));
  }

  render() {
    const data = this.data;
    const parts = [];
    if (typeof data?.error === "string") parts.push(alert(data.error, "read-only"));
    const tabs = {
      settings: () => this.settingsTab(data),
      permissions: () => this.permissionsTab(data),
      hooks: () => this.hooksTab(data),
      mcp: () => this.mcpTab(data),
      subagents: () => this.docsTab(data, "subagent"),
      skills: () => this.docsTab(data, "skill"),
      "claude-md": () => this.claudeMdTab(data),
    };
    parts.push(...(tabs[this.tab] ?? (() => effectiveTab(data)))());
    this.body.replaceChildren(...parts);
  }

  // ---- writes ----

  /// Asks for the typed confirmation of a write going to the sheet's scope.
  write(method, path, fields, what, extra = {}) {
    this.ask({ method, path, body: { ...this.target(), ...fields }, what, ...extra });
  }

  ask(pending) {
    this.notice.replaceChildren();
    this.pending = { scope: this.scope, ...pending, from: document.activeElement };
    const token = this.token(this.pending.scope);
    const input = el("input", {
      type: "text",
      name: "confirm",
      autocomplete: "off",
      spellcheck: "false",
      "aria-label": "Confirmation text",
    });
    const confirm = el("button", {
      type: "button",
      class: "danger confirm-write",
      text: "Confirm",
      disabled: true,
      onclick: () => this.confirm(input.value),
    });
    input.addEventListener("input", () => {
      confirm.disabled = input.value !== token;
    });
    input.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && input.value === token) this.confirm(input.value);
    });
    this.dialog.replaceChildren(
      el(
        "div",
        { class: "confirm typed-confirm", role: "alertdialog", "aria-label": "Confirm the change" },
        el("p", { text: pending.what }),
        el(
          "p",
          { class: "note" },
          pending.note ?? "Claude Code may run what this changes.",
          " Type ",
          el("code", { text: token }),
          " to confirm.",
        ),
        input,
        el(
          "div",
          { class: "actions" },
          confirm,
          el("button", { type: "button", class: "cancel", text: "Cancel", onclick: () => this.cancel() }),
        ),
      ),
    );
    input.focus();
  }

  cancel() {
    const from = this.pending?.from;
    this.pending = null;
    this.dialog.replaceChildren();
    if (from?.isConnected) from.focus();
    else this.tabs.get(this.tab)?.focus();
  }

  confirm(typed) {
    const pending = this.pending;
    if (!pending || typed !== this.token(pending.scope)) return;
    this.pending = null;
    this.dialog.replaceChildren();
    // The dialog and its button are gone: the panel keeps the focus inside the sheet.
    this.body.focus();
    if (pending.body) pending.body.confirm = typed;
    else {
      const sep = pending.path.includes("?") ? "&" : "?";
      pending.path = `${pending.path}${sep}confirm=${encodeURIComponent(typed)}`;
    }
    this.send(pending);
  }

  /// Sends a confirmed write; on success says so and reloads the tab (or calls `done`).
  async send(pending) {
    const { status, body } = await request(pending.method, this.url(pending.path), pending.body);
    if (current !== this) return;
    if (status >= 200 && status < 300) {
      if (pending.done) {
        this.notice.replaceChildren();
        pending.done(body);
        return;
      }
      this.notice.replaceChildren(
        el("p", { class: "saved", role: "status" }, el("span", { "aria-hidden": "true", text: "✓ " }), `Saved: ${pending.what}`),
      );
      this.doc = null;
      this.load();
      return;
    }
    const text = detail(status, body);
    const guarded = typeof pending.body?.hash === "string";
    if (status === 403 && text === "reauth_required") this.stepUp(pending);
    else if (status === 409 && guarded) this.conflict(pending, text);
    else this.notice.replaceChildren(alert(text));
  }

  conflict(pending, text) {
    this.notice.replaceChildren(
      el(
        "div",
        { class: "alert conflict", role: "alert" },
        el("span", { text }),
        el("button", {
          type: "button",
          class: "reload",
          text: "Reload",
          onclick: () => {
            this.notice.replaceChildren();
            this.doc = null;
            this.load();
          },
        }),
        el("button", {
          type: "button",
          class: "danger overwrite",
          text: "Overwrite",
          onclick: () => {
            const again = { ...pending, body: { ...pending.body } };
            delete again.body.hash;
            this.send(again);
          },
        }),
      ),
    );
  }

  // The step-up of security.md §3.2: the password again, then the same write.
  stepUp(pending) {
    const password = el("input", {
      type: "password",
      name: "password",
      autocomplete: "current-password",
      "aria-label": "Password",
    });
    const form = el(
      "form",
      {
        class: "alert step-up",
        role: "alert",
        onsubmit: async (event) => {
          event.preventDefault();
          const { status, body } = await request("POST", `${this.root}/api/reauth`, { password: password.value });
          if (status === 200) this.send(pending);
          else {
            this.notice.replaceChildren(
              alert(status === 429 ? "Too many attempts; wait and try again." : detail(status, body)),
            );
          }
        },
      },
      el("span", { text: "Enter your password again to change Claude Code's configuration." }),
      password,
      el("button", { type: "submit", class: "primary unlock", text: "Unlock" }),
    );
    this.notice.replaceChildren(form);
    password.focus();
  }

  // ---- tabs ----

  settingsTab(data) {
    const text = el("textarea", {
      class: "json-text",
      name: "settings",
      rows: 12,
      spellcheck: "false",
      "aria-label": "Settings as JSON",
      value: JSON.stringify(data?.settings ?? {}, null, 2),
    });
    const error = el("p", { class: "alert", role: "alert", hidden: true });
    const save = () => {
      let settings = null;
      try {
        settings = JSON.parse(text.value);
      } catch {
        settings = null;
      }
      if (settings === null || typeof settings !== "object" || Array.isArray(settings)) {
        error.textContent = "The settings must be a JSON object.";
        error.hidden = false;
        return;
      }
      error.hidden = true;
      this.write("PUT", "settings", { settings, hash: data?.hash ?? null }, "settings and env");
    };
    const masked = maskedEnvKeys(data);
    return [
      el("p", {
        class: "note",
        text: `Keys of settings.json other than permissions and hooks. Values shown as ${MASK} are kept as they are unless you replace them.`,
      }),
      masked.length > 0 ? this.maskedList(masked) : null,
      text,
      error,
      el(
        "div",
        { class: "actions" },
        el("button", { type: "button", class: "primary save-settings", text: "Save settings", onclick: save }),
      ),
    ].filter(Boolean);
  }

  /// The masked env values, each with Reveal: `POST settings/reveal` behind the typed
  /// confirmation (and the step-up); the value is shown here and nowhere else.
  maskedList(keys) {
    const list = el("ul", { class: "masked-list", "aria-label": "Masked values" });
    for (const key of keys) {
      const shown = el("code", { class: "revealed-value", hidden: true });
      const button = el("button", { type: "button", class: "reveal-value", text: "Reveal", "aria-label": `Reveal env.${key}` });
      button.addEventListener("click", () => {
        if (!shown.hidden) {
          shown.hidden = true;
          shown.textContent = "";
          button.textContent = "Reveal";
          button.setAttribute("aria-label", `Reveal env.${key}`);
          return;
        }
        this.write("POST", "settings/reveal", { key }, `reveal env.${key}`, {
          note: "The stored value will be shown in clear on this screen.",
          done: (body) => {
            const value = body?.value;
            shown.textContent = typeof value === "string" ? value : JSON.stringify(value);
            shown.hidden = false;
            button.textContent = "Hide";
            button.setAttribute("aria-label", `Hide env.${key}`);
            button.focus();
          },
        });
      });
      list.append(el("li", { class: "masked-value", "data-key": key }, el("code", { text: `env.${key}` }), shown, button));
    }
    return el("div", { class: "masked" }, el("p", { class: "note masked-note", text: `Masked: ${keys.map((k) => `env.${k}`).join(", ")}` }), list);
  }

  permissionsTab(data) {
    const loaded = data?.permissions ?? {};
    const areas = {};
    const area = (label, key) => {
      const textarea = el("textarea", {
        name: key,
        rows: 4,
        spellcheck: "false",
        placeholder: "One rule a line, e.g. Bash(npm test:*)",
        value: (Array.isArray(loaded[key]) ? loaded[key] : []).filter((r) => typeof r === "string").join("\n"),
      });
      areas[key] = textarea;
      return el("label", { class: `rules ${key}` }, el("span", { text: label }), textarea);
    };
    const mode = el(
      "select",
      { name: "defaultMode" },
      ...["", "default", "acceptEdits", "plan", "dontAsk"].map((m) => el("option", { value: m, text: m || "(not set)" })),
    );
    mode.value = typeof loaded.defaultMode === "string" ? loaded.defaultMode : "";
    const save = () => {
      const permissions = permissionsBody(
        loaded,
        { allow: areas.allow.value, ask: areas.ask.value, deny: areas.deny.value },
        mode.value,
      );
      this.write("PUT", "permissions", { permissions, hash: data?.hash ?? null }, "permission rules");
    };
    return [
      area("Allow", "allow"),
      area("Ask", "ask"),
      area("Deny", "deny"),
      el("label", { class: "default-mode" }, "Default mode ", mode),
      el(
        "div",
        { class: "actions" },
        el("button", { type: "button", class: "primary save-permissions", text: "Save rules", onclick: save }),
      ),
    ];
  }

  hooksTab(data) {
    const rows = hookRows(data?.hooks);
    const hash = data?.hash ?? null;
    const save = (all, what) => this.write("PUT", "hooks", { hooks: hooksBody(all), hash }, what);
    const list = el("ul", { class: "hook-list" });
    rows.forEach((row, i) => {
      const cmd = typeof row.hook?.command === "string" ? row.hook.command : "";
      list.append(
        el(
          "li",
          { class: "hook-row" },
          el("span", { class: "event", text: row.event }),
          el("span", { class: "matcher", text: row.matcher === "" ? "(any)" : row.matcher }),
          el("code", { class: "command", text: cmd }),
          el("button", {
            type: "button",
            class: "remove-hook",
            text: "Remove",
            "aria-label": `Remove the hook running ${cmd}`,
            onclick: () => save(rows.filter((_, j) => j !== i), `remove the hook running \`${cmd}\``),
          }),
        ),
      );
    });
    const event = el(
      "select",
      { name: "hook-event", "aria-label": "Event" },
      ...HOOK_EVENTS.map((e) => el("option", { value: e, text: e })),
    );
    const matcher = el("input", {
      type: "text",
      name: "hook-matcher",
      placeholder: "Matcher (e.g. Bash), optional",
      "aria-label": "Matcher",
    });
    const command = el("input", {
      type: "text",
      name: "hook-command",
      placeholder: "Command",
      autocomplete: "off",
      "aria-label": "Command",
    });
    const add = () => {
      const cmd = command.value;
      if (cmd.trim() === "") return;
      const all = [...rows, { event: event.value, matcher: matcher.value, hook: { type: "command", command: cmd } }];
      save(all, `add a ${event.value} hook running \`${cmd}\``);
    };
    return [
      list,
      el(
        "fieldset",
        { class: "add-hook" },
        el("legend", { text: "Add a hook" }),
        event,
        matcher,
        command,
        el("button", { type: "button", class: "primary add-hook-button", text: "Add hook", onclick: add }),
      ),
    ];
  }

  mcpTab(data) {
    const list = el("ul", { class: "mcp-list" });
    for (const [server, entry] of Object.entries(data?.servers ?? {})) {
      const summary = entry?.url ?? entry?.command ?? "";
      list.append(
        el(
          "li",
          { class: "mcp-server", "data-server": server },
          el("span", { class: "name", text: server }),
          el("code", { text: typeof summary === "string" ? summary : "" }),
          el("button", {
            type: "button",
            class: "remove-server",
            text: "Remove",
            "aria-label": `Remove the MCP server ${server}`,
            onclick: () =>
              this.write("POST", "mcp/server", { op: "remove", name: server }, `remove the MCP server '${server}'`),
          }),
        ),
      );
    }
    const name = el("input", { type: "text", name: "server-name", placeholder: "Name", autocomplete: "off", "aria-label": "Server name" });
    const kind = el(
      "select",
      { name: "server-kind", "aria-label": "Kind" },
      el("option", { value: "stdio", text: "Command (stdio)" }),
      el("option", { value: "http", text: "URL (http)" }),
    );
    const target = el("input", {
      type: "text",
      name: "server-target",
      placeholder: "Command or URL",
      autocomplete: "off",
      "aria-label": "Command or URL",
    });
    const args = el("input", {
      type: "text",
      name: "server-args",
      placeholder: "Arguments (stdio), separated by spaces",
      "aria-label": "Arguments",
    });
    const add = () => {
      const n = name.value.trim();
      if (n === "" || target.value.trim() === "") return;
      this.write(
        "POST",
        "mcp/server",
        { op: "add", name: n, entry: mcpEntry(kind.value, target.value, args.value) },
        `add the MCP server '${n}'`,
      );
    };
    const approvals = this.project && this.scope === "project" ? el("section", { class: "mcp-approvals" }) : null;
    if (approvals) this.loadApprovals(approvals);
    return [
      list,
      el(
        "fieldset",
        { class: "add-server" },
        el("legend", { text: "Add an MCP server" }),
        name,
        kind,
        target,
        args,
        el("button", { type: "button", class: "primary add-server-button", text: "Add server", onclick: add }),
      ),
      approvals,
    ].filter(Boolean);
  }

  /// The project's `.mcp.json` servers and whether claude may start them: Approve, Reject,
  /// and Reset choices (`mcp/approvals`, `mcp/reset-project-choices`).
  async loadApprovals(box) {
    const heading = el("h4", { id: "cc-approvals", text: "Approvals of .mcp.json servers" });
    box.setAttribute("aria-labelledby", "cc-approvals");
    box.replaceChildren(heading, el("p", { class: "note", text: "Loading…" }));
    const { status, body } = await request("GET", this.url(`mcp/approvals?project=${encodeURIComponent(this.project)}`));
    if (!box.isConnected) return;
    if (status !== 200) {
      box.replaceChildren(heading, alert(detail(status, body)));
      return;
    }
    const enabled = (body.enabled ?? []).filter((n) => typeof n === "string");
    const disabled = (body.disabled ?? []).filter((n) => typeof n === "string");
    const servers = Array.isArray(body.servers) ? body.servers : [];
    // `~/.claude.json` unreadable: the decisions are unknown and cannot be saved.
    const readOnly = body.read_only === true;
    const decide = (name, approve) => {
      const on = enabled.filter((n) => n !== name);
      const off = disabled.filter((n) => n !== name);
      (approve ? on : off).push(name);
      this.ask({
        scope: "project",
        method: "PUT",
        path: "mcp/approvals",
        body: { scope: "project", project: this.project, enabled: on, disabled: off },
        what: `${approve ? "approve" : "reject"} the MCP server '${name}' of .mcp.json`,
      });
    };
    const list = el("ul", { class: "approval-list" });
    for (const server of servers) {
      const name = String(server?.name ?? "");
      const state = String(server?.approval ?? "pending");
      list.append(
        el(
          "li",
          { class: "approval", "data-server": name, "data-state": state },
          el("span", { class: "name", text: name }),
          el("span", { class: `badge approval-state ${state}`, text: state }),
          state === "approved" || readOnly
            ? null
            : el("button", {
                type: "button",
                class: "approve-server",
                text: "Approve",
                "aria-label": `Approve ${name}`,
                onclick: () => decide(name, true),
              }),
          state === "rejected" || readOnly
            ? null
            : el("button", {
                type: "button",
                class: "danger reject-server",
                text: "Reject",
                "aria-label": `Reject ${name}`,
                onclick: () => decide(name, false),
              }),
        ),
      );
    }
    const reset = el("button", {
      type: "button",
      class: "reset-approvals",
      text: "Reset choices",
      onclick: () =>
        this.ask({
          scope: "project",
          method: "POST",
          path: "mcp/reset-project-choices",
          body: { scope: "project", project: this.project },
          what: "forget every approval and rejection of this project's .mcp.json servers",
        }),
    });
    box.replaceChildren(
      heading,
      el("p", { class: "note", text: "claude starts a server of the project's .mcp.json only once it is approved." }),
      typeof body.error === "string" ? alert(body.error, "read-only") : null,
      servers.length === 0 ? el("p", { class: "note", text: "This project has no .mcp.json servers." }) : list,
      servers.length === 0 || readOnly ? null : el("div", { class: "actions" }, reset),
    );
  }

  /// Subagents and skills: the list, or the open file's editor.
  docsTab(data, kind) {
    if (this.doc) return [this.docEditor(kind)];
    const items = Array.isArray(data?.[kind === "skill" ? "skills" : "agents"]) ? data[kind === "skill" ? "skills" : "agents"] : [];
    const list = el("ul", { class: "doc-list" });
    for (const item of items) {
      const name = String(item?.name ?? "");
      const source = typeof item?.source === "string" ? item.source : "";
      const described = item?.error ?? item?.description ?? "";
      list.append(
        el(
          "li",
          { class: "doc-item", "data-name": name },
          el("span", { class: "name", text: name }),
          source ? el("span", { class: "badge", text: source }) : null,
          el("span", { class: "description", text: typeof described === "string" ? described : "" }),
          item?.editable === true
            ? el("button", {
                type: "button",
                class: "edit-doc",
                text: "Edit",
                "aria-label": `Edit ${name}`,
                onclick: () => this.openDoc(kind, name),
              })
            : null,
        ),
      );
    }
    const newName = el("input", {
      type: "text",
      name: "new-doc-name",
      placeholder: `New ${kind} name (lower-case, -)`,
      "aria-label": `New ${kind} name`,
    });
    return [
      list,
      el(
        "div",
        { class: "new-doc" },
        newName,
        el("button", {
          type: "button",
          class: "new-doc-button",
          text: `New ${kind}`,
          onclick: () => {
            const name = newName.value.trim();
            if (name === "") return;
            this.doc = { name, content: template(kind, name), hash: null };
            this.render();
          },
        }),
      ),
    ];
  }

  async openDoc(kind, name) {
    const path =
      kind === "skill"
        ? `skills/file?${this.query()}&name=${encodeURIComponent(name)}`
        : `subagents/${encodeURIComponent(name)}?${this.query()}`;
    const { status, body } = await request("GET", this.url(path));
    if (current !== this) return;
    if (status !== 200) {
      this.notice.replaceChildren(alert(detail(status, body)));
      return;
    }
    const content = typeof body?.content === "string" && body.content !== "" ? body.content : template(kind, name);
    this.doc = { name, content, hash: typeof body?.hash === "string" ? body.hash : null };
    this.render();
    this.body.querySelector("textarea.doc-text")?.focus();
  }

  docEditor(kind) {
    const { name, content, hash } = this.doc;
    const text = el("textarea", {
      class: "doc-text",
      name: "doc",
      rows: 14,
      spellcheck: "false",
      "aria-label": `The ${kind} ${name}`,
      value: content,
    });
    const save = () => {
      if (kind === "skill") {
        this.write("PUT", "skills", { name, files: { "SKILL.md": text.value }, hash }, `save the skill '${name}'`);
      } else {
        this.write("PUT", `subagents/${encodeURIComponent(name)}`, { content: text.value, hash }, `save the subagent '${name}'`);
      }
    };
    const remove = () => {
      if (kind === "skill") {
        this.write("POST", "skills/delete", { name }, `delete the skill '${name}'`);
      } else {
        this.ask({
          method: "DELETE",
          path: `subagents/${encodeURIComponent(name)}?${this.query()}`,
          body: null,
          what: `delete the subagent '${name}'`,
        });
      }
    };
    return el(
      "div",
      { class: "doc-editor" },
      el("h4", { text: `${kind}: ${name}` }),
      text,
      el(
        "div",
        { class: "actions" },
        el("button", { type: "button", class: "primary save-doc", text: "Save", onclick: save }),
        el("button", { type: "button", class: "danger delete-doc", text: "Delete", onclick: remove }),
        el("button", {
          type: "button",
          class: "back",
          text: "Back to the list",
          onclick: () => {
            this.doc = null;
            this.render();
          },
        }),
      ),
    );
  }

  /// CLAUDE.md of the scope (`CLAUDE.local.md` for Local, `~/.claude/CLAUDE.md` for User).
  claudeMdTab(data) {
    const file = this.scope === "local" ? "CLAUDE.local.md" : "CLAUDE.md";
    const text = el("textarea", {
      class: "claude-md-doc",
      name: "claude-md",
      rows: 14,
      spellcheck: "false",
      "aria-label": `The ${file} of the ${this.scope} scope`,
      value: typeof data?.content === "string" ? data.content : "",
    });
    const save = () =>
      this.write("PUT", "claude-md", { content: text.value, hash: data?.hash ?? null }, `save ${file} (${this.scope} scope)`, {
        note: "Claude Code reads this file in every session here.",
      });
    return [
      el("p", {
        class: "note",
        text:
          data?.exists === false
            ? `${file} does not exist yet; saving creates it.`
            : this.scope === "local"
              ? `${file}: your own instructions for this project, kept out of git.`
              : `${file}: instructions Claude Code reads in every session.`,
      }),
      text,
      el(
        "div",
        { class: "actions" },
        el("button", { type: "button", class: "primary save-claude-md", text: `Save ${file}`, onclick: save }),
      ),
    ];
  }
}

function effectiveTab(data) {
  const rows = [];
  const row = (key, value, source) => {
    const shown = typeof value === "string" ? value : JSON.stringify(value ?? null);
    rows.push(
      el(
        "tr",
        {},
        el("th", { scope: "row", text: key }),
        el("td", {}, el("code", { text: shown })),
        el("td", { class: "source", text: typeof source === "string" ? source : "" }),
      ),
    );
  };
  // `settings` is `effective` without `env`, which comes key by key in `env`.
  for (const section of [data?.settings ? "settings" : "effective", "env"]) {
    for (const [key, v] of Object.entries(data?.[section] ?? {})) {
      if (section === "effective" && key === "env") continue;
      row(section === "env" ? `env.${key}` : key, v?.value, v?.source);
    }
  }
  for (const list of ["allow", "ask", "deny"]) {
    for (const r of data?.permissions?.[list] ?? []) row(`permissions.${list}`, r?.rule, r?.source);
  }
  for (const h of data?.hooks ?? []) row(`hook ${h?.event ?? ""} ${h?.matcher ?? ""}`, h?.command, h?.source);
  for (const s of data?.mcp_servers ?? []) {
    const approval = typeof s?.approval === "string" ? ` (${s.approval})` : "";
    row(`mcp ${s?.name ?? ""}`, `${s?.type ?? ""}${approval}`, s?.source);
  }
  // A scope whose file could not be read is named with its error, never shown as empty.
  const errors = (data?.errors ?? []).map((e) =>
    el("p", { class: "error", role: "alert", text: `${e?.scope ?? "?"}: ${e?.error ?? ""} (left out of this view)` }),
  );
  return [
    el("p", { class: "note", text: "What a new session in this project sees: Local over Project over User." }),
    ...errors,
    el(
      "table",
      { class: "effective" },
      el(
        "thead",
        {},
        el(
          "tr",
          {},
          el("th", { scope: "col", text: "Setting" }),
          el("th", { scope: "col", text: "Value" }),
          el("th", { scope: "col", text: "From" }),
        ),
      ),
      el("tbody", {}, ...rows),
    ),
  ];
}

/// Whether `node` can take the focus: in the page, rendered, not inside a closed `<details>`
/// (whose content Chromium keeps laid out but skipped).
function shown(node) {
  if (!node?.isConnected || node.closest("details:not([open])")) return false;
  return node.checkVisibility ? node.checkVisibility() : node.getClientRects().length > 0;
}

function alert(text, extra = "") {
  return el("div", { class: `alert ${extra}`.trim(), role: "alert" }, el("span", { text }));
}

function detail(status, body) {
  const d = body?.detail;
  if (typeof d === "string") return d;
  if (d !== undefined && d !== null) return JSON.stringify(d);
  return `The server answered HTTP ${status}.`;
}

/// `fetchJson`, with the unreachable server's `detail` in the body.
async function request(method, url, body) {
  const answer = await fetchJson(method, url, body);
  return answer.status === 0 ? { status: 0, body: { detail: UNREACHABLE } } : answer;
}

/// The sheet's stylesheet, loaded once on the first open; resolves when it applies (or
/// failed to load: the sheet is usable unstyled).
function stylesheet(root) {
  const existing = document.querySelector("link[data-claude-config-css]");
  if (existing) return existing.loaded;
  const link = el("link", {
    rel: "stylesheet",
    href: `${root}/pkg/claude_config.css?v=${version}`,
    "data-claude-config-css": true,
  });
  link.loaded = new Promise((resolve) => {
    link.addEventListener("load", resolve, { once: true });
    link.addEventListener("error", resolve, { once: true });
  });
  document.head.append(link);
  return link.loaded;
}
