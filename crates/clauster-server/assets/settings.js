// The settings editor (config.md §8): the header's pencil button opens a sheet over
// GET/PUT /api/config, and /api/config/advanced when the server offers it. A module of its
// own outside the hydrated app, like notify.js: the wasm bundle stays within its budget.
// Grouped, searchable, typed controls with their ranges checked before a save, the YAML
// key under each label; a save says what applied live and what waits for a restart, and a
// file changed behind the sheet offers Reload or Overwrite.
// It also loads the "Claude config" sheet (claude_config.js, ui.md §5.3) when one of its
// openers — a card's menu item, the User-scope button — is clicked, the CLAUDE.md editor
// (claude_md.js, ui.md §5.2) on "Edit CLAUDE.md" or "Open CLAUDE.md", and the maintenance
// panel's body (maintenance.js, ui.md §10) when its summary is first clicked.

const { root, el } = await import(`./page.js${new URL(import.meta.url).search}`);
const version = new URL(import.meta.url).searchParams.get("v") ?? "";

function api(path, method = "GET", body) {
  return fetch(`${root}${path}`, {
    method,
    credentials: "same-origin",
    headers: body === undefined ? {} : { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

async function answer(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  return { status: response.status, body };
}

let sheet = null;
let counter = 0;

document.addEventListener("click", (event) => {
  const button = event.target instanceof Element ? event.target.closest(".settings-open") : null;
  if (!button) return;
  event.preventDefault();
  open();
});

document.addEventListener("click", (event) => {
  const button =
    event.target instanceof Element ? event.target.closest(".claude-config-open, .open-user-config") : null;
  if (!button) return;
  event.preventDefault();
  import(`./claude_config.js?v=${version}`).then((sheet) =>
    sheet.open({ project: button.dataset.for ?? null, opener: button, root }),
  );
});

document.addEventListener("click", (event) => {
  const button =
    event.target instanceof Element ? event.target.closest(".edit-claude-md, .open-claude-md") : null;
  if (!button?.dataset.for) return;
  event.preventDefault();
  import(`./claude_md.js?v=${version}`).then((editor) =>
    editor.open({ project: button.dataset.for, opener: button, root }),
  );
});

document.addEventListener("click", (event) => {
  const summary = event.target instanceof Element ? event.target.closest(".maintenance summary") : null;
  const section = summary?.closest(".maintenance");
  if (!section) return;
  import(`./maintenance.js?v=${version}`).then((panel) => panel.mount(section, root));
});

document.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && sheet) close();
});

function close() {
  sheet?.remove();
  sheet = null;
  document.querySelector(".settings-open")?.focus();
}

function open() {
  if (sheet) return;
  if (!document.querySelector("link[data-settings-css]")) {
    document.head.append(
      el("link", { rel: "stylesheet", href: `${root}/pkg/settings.css?v=${version}`, "data-settings-css": true }),
    );
  }
  const search = el("input", {
    type: "search",
    class: "settings-search",
    placeholder: "Search settings",
    "aria-label": "Search settings",
    oninput: () => filter(search.value),
  });
  const basic = el("div", { class: "settings-tier basic" }, el("p", { class: "muted", text: "Loading…" }));
  const advanced = el("div", { class: "settings-tier advanced" });
  const panel = el(
    "section",
    { class: "settings-sheet", role: "dialog", "aria-modal": "true", "aria-labelledby": "settings-title" },
    el(
      "header",
      { class: "settings-head" },
      el("h2", { id: "settings-title", text: "Settings" }),
      el("button", { type: "button", class: "settings-close", "aria-label": "Close settings", text: "✕", onclick: close }),
    ),
    search,
    el("nav", { class: "settings-chips", "aria-label": "Sections" }),
    basic,
    advanced,
  );
  sheet = el("div", { class: "settings-backdrop", onclick: (e) => e.target === sheet && close() }, panel);
  document.body.append(sheet);
  search.focus();
  load({ path: "/api/config", box: basic, title: null });
  loadAdvanced(advanced);
}

function filter(text) {
  const q = text.trim().toLowerCase();
  for (const row of sheet.querySelectorAll(".settings-row")) {
    row.hidden = q !== "" && !row.dataset.search.includes(q);
  }
  for (const group of sheet.querySelectorAll(".settings-group")) {
    group.hidden = ![...group.querySelectorAll(".settings-row")].some((row) => !row.hidden);
  }
}

async function load(tier) {
  const { status, body } = await answer(await api(tier.path));
  if (status !== 200) {
    tier.box.replaceChildren(el("p", { class: "alert", text: body?.detail ?? `HTTP ${status}` }));
    return;
  }
  tier.view = body;
  tier.edits = {};
  render(tier);
}

async function loadAdvanced(box) {
  const tier = { path: "/api/config/advanced", box, title: "Advanced settings" };
  const { status, body } = await answer(await api(tier.path));
  if (status === 404) return; // config_write.enabled is off: no advanced list.
  if (status === 403) return unlock(tier);
  if (status !== 200) {
    box.replaceChildren(el("p", { class: "alert", text: body?.detail ?? `HTTP ${status}` }));
    return;
  }
  tier.view = body;
  tier.edits = {};
  render(tier);
}

// The step-up of security.md §3.2: the password again, then the advanced list.
function unlock(tier) {
  const id = `settings-pw-${++counter}`;
  const password = el("input", { type: "password", id, autocomplete: "current-password" });
  const note = el("span", { class: "settings-status", role: "status" });
  const form = el(
    "form",
    {
      class: "settings-unlock",
      onsubmit: async (event) => {
        event.preventDefault();
        const { status, body } = await answer(await api("/api/reauth", "POST", { password: password.value }));
        if (status === 200) return loadAdvanced(tier.box);
        note.textContent =
          status === 429 ? "Too many attempts; wait and try again." : body?.detail ?? `HTTP ${status}`;
      },
    },
    el("label", { for: id, text: "Your password unlocks the advanced settings for ten minutes" }),
    password,
    el("button", { type: "submit", class: "primary settings-unlock-button", text: "Unlock" }),
    note,
  );
  tier.box.replaceChildren(el("h3", { text: tier.title }), form);
}

function rowValue(spec, inputs) {
  switch (spec.type) {
    case "bool":
      return inputs[0].checked;
    case "int":
    case "float": {
      const text = inputs[0].value.trim();
      if (text === "" && spec.nullable) return null;
      return text === "" ? Number.NaN : Number(text);
    }
    case "list":
      return inputs[0].value.split("\n").map((s) => s.trim()).filter((s) => s !== "");
    case "map":
      return Object.fromEntries(inputs.map((box) => [box.dataset.mapKey, box.checked]));
    default: {
      const text = inputs[0].value;
      return text === "" && spec.nullable ? null : text;
    }
  }
}

// The range check the server would make, before anything is sent.
function rangeError(key, spec, value) {
  if (spec.type !== "int" && spec.type !== "float") return null;
  if (value === null) return null;
  if (!Number.isFinite(value)) return `${key} must be a number`;
  if (spec.type === "int" && !Number.isInteger(value)) return `${key} must be a whole number`;
  if (spec.exclusive_min !== undefined && value <= spec.exclusive_min)
    return `${key} must be above ${spec.exclusive_min}`;
  if (spec.min !== undefined && value < spec.min) return `${key} must be at least ${spec.min}`;
  if (spec.max !== undefined && value > spec.max) return `${key} must be at most ${spec.max}`;
  return null;
}

function control(key, spec, value, id) {
  switch (spec.type) {
    case "bool":
      return [el("input", { type: "checkbox", id, checked: value === true })];
    case "int":
    case "float":
      return [
        el("input", {
          type: "number",
          id,
          step: spec.step ?? "any",
          min: spec.min,
          max: spec.max,
          value: value ?? "",
          inputmode: spec.type === "int" ? "numeric" : "decimal",
        }),
      ];
    case "choice": {
      const select = el("select", { id });
      for (const choice of spec.choices ?? []) {
        select.append(el("option", { value: choice, text: choice, selected: choice === value }));
      }
      return [select];
    }
    case "list": {
      const area = el("textarea", { id, rows: 3, "aria-describedby": `${id}-hint` });
      area.value = (value ?? []).join("\n");
      return [area];
    }
    case "map":
      return (spec.map_keys ?? []).map((entry) =>
        el(
          "label",
          { class: "settings-map-key" },
          el("input", { type: "checkbox", "data-map-key": entry.key, checked: value?.[entry.key] === true }),
          ` ${entry.key}`,
        ),
      );
    default:
      return [el("input", { type: "text", id, value: value ?? "", placeholder: spec.nullable ? "(not set)" : null })];
  }
}

function same(a, b) {
  return JSON.stringify(a) === JSON.stringify(b);
}

function render(tier) {
  const { view } = tier;
  const groups = new Map();
  for (const key of view.editable) {
    const spec = view.specs[key];
    if (!groups.has(spec.section)) groups.set(spec.section, { label: spec.section_label, keys: [] });
    groups.get(spec.section).keys.push(key);
  }
  const status = el("span", { class: "settings-status", role: "status" });
  const save = el("button", { type: "button", class: "primary settings-save", text: "Save", disabled: true });
  const conflict = el("div", { class: "settings-conflict" });
  const rows = new Map();
  const changed = () => {
    const n = Object.keys(tier.edits).length;
    save.disabled = n === 0;
    status.textContent = n === 0 ? "" : `${n} unsaved change${n === 1 ? "" : "s"}`;
    status.className = "settings-status";
  };
  const nodes = [];
  if (tier.title) nodes.push(el("h3", { text: tier.title }));
  const chips = sheet.querySelector(".settings-chips");
  for (const [section, group] of groups) {
    const groupId = `settings-group-${section || "general"}`;
    const fieldset = el("fieldset", { class: "settings-group", id: groupId }, el("legend", { text: group.label }));
    if (chips && !chips.querySelector(`[data-group="${groupId}"]`)) {
      chips.append(
        el("button", {
          type: "button",
          class: "settings-chip",
          "data-group": groupId,
          text: group.label,
          onclick: () => document.getElementById(groupId)?.scrollIntoView({ block: "start" }),
        }),
      );
    }
    for (const key of group.keys) {
      const spec = view.specs[key];
      const id = `settings-field-${++counter}`;
      const controls = control(key, spec, view.fields[key], id);
      const inputs = controls.map((c) => (c.matches("input, select, textarea") ? c : c.querySelector("input")));
      const error = el("span", { class: "settings-error", role: "alert" });
      const label = spec.is_group
        ? el("span", { class: "settings-label", text: spec.label })
        : el("label", { class: "settings-label", for: id, text: spec.label });
      const tags = [spec.applies_live ? "applies live" : "after a restart"];
      if (spec.deprecated) tags.push("deprecated");
      const row = el(
        "div",
        {
          class: "settings-row",
          "data-key": key,
          "data-search": `${spec.label} ${key} ${spec.description}`.toLowerCase(),
        },
        label,
        el("span", { class: "settings-control" }, ...controls),
        el("code", { class: "settings-key", text: key }),
        el("span", { class: "settings-tag", text: tags.join(" · ") }),
        el("span", { class: "settings-hint", id: `${id}-hint`, text: spec.description }),
        error,
      );
      const update = () => {
        const value = rowValue(spec, inputs);
        error.textContent = "";
        if (same(value, view.fields[key])) delete tier.edits[key];
        else tier.edits[key] = value;
        changed();
      };
      for (const input of inputs) {
        input.addEventListener("input", update);
        input.addEventListener("change", update);
      }
      rows.set(key, { row, error, spec });
      fieldset.append(row);
    }
    nodes.push(fieldset);
  }
  const submit = async (overwrite) => {
    let blocked = false;
    for (const [key, value] of Object.entries(tier.edits)) {
      const entry = rows.get(key);
      const problem = rangeError(key, entry.spec, value);
      if (problem) {
        entry.error.textContent = problem;
        blocked = true;
      }
    }
    if (blocked) {
      status.textContent = "Fix the values marked below first.";
      status.className = "settings-status bad";
      return;
    }
    let hash = view.hash;
    if (overwrite) {
      const fresh = await answer(await api(tier.path));
      hash = fresh.body?.hash ?? hash;
    }
    save.disabled = true;
    const { status: code, body } = await answer(await api(tier.path, "PUT", { edits: tier.edits, hash }));
    conflict.replaceChildren();
    if (code === 200) {
      const live = body.applied_live ?? [];
      let text = "Saved";
      if (live.length > 0) text += ` — applied live: ${live.join(", ")}`;
      if (body.restart_required) text += `${live.length > 0 ? "; the rest" : " —"} takes effect after a restart of Clauster`;
      const shown = text;
      await load(tier);
      const note = tier.box.querySelector(".settings-status");
      if (note) {
        note.textContent = shown;
        note.className = `settings-status saved${body.restart_required ? " restart" : " live"}`;
      }
      return;
    }
    save.disabled = false;
    const detail = body?.detail ?? `HTTP ${code}`;
    if (code === 409 && detail.startsWith("clauster.yml changed on disk")) {
      conflict.replaceChildren(
        el(
          "div",
          { class: "alert conflict", role: "alert" },
          el("span", { text: "clauster.yml changed on disk since you opened it." }),
          el("button", { type: "button", class: "reload", text: "Reload", onclick: () => load(tier) }),
          el("button", { type: "button", class: "overwrite", text: "Overwrite", onclick: () => submit(true) }),
        ),
      );
      return;
    }
    if (code === 403 && detail === "reauth_required") return unlock(tier);
    const entry = body?.field ? rows.get(body.field) : null;
    if (entry) entry.error.textContent = detail;
    status.textContent = detail;
    status.className = "settings-status bad";
  };
  save.addEventListener("click", () => submit(false));
  nodes.push(conflict, el("div", { class: "settings-actions" }, status, save));
  tier.box.replaceChildren(...nodes);
  const search = sheet.querySelector(".settings-search");
  if (search?.value) filter(search.value);
}
