// The maintenance panel's body (ui.md §10), shown only with `reaper.ui_enabled`: leftover
// claude.ai bridge environments from `GET /api/environments/ghosts`, archived or deleted with
// `POST /api/environments/reap` (http-api.md §7, bridges.md §15). The app renders the
// collapsed section; settings.js imports this module on the first click of its summary, so
// the wasm bundle stays within its budget (issue 19). Server data is only set as text.

/// The word the delete confirmation must be typed as.
export const DELETE_WORD = "DELETE";

const { el, panelRequest } = await import(`./page.js${new URL(import.meta.url).search}`);

/// The line under the heading once a scan answered.
export function summaryLine(view) {
  if (view.ghosts.length === 0) return "Nothing to clean up.";
  return `${view.ghosts.length} leftover, ${view.live_dirs} in use and kept (cloud environments are never listed)`;
}

/// An environment id as listed: its first 12 characters, then `…`.
export function shortId(id) {
  const chars = [...id];
  return chars.length > 12 ? `${chars.slice(0, 12).join("")}…` : id;
}

/// "Archived N, skipped k, failed e" (or "Deleted …") after a reap.
export function resultLine(result) {
  const verb = result.action === "delete" ? "Deleted" : "Archived";
  const errors = Object.keys(result.errors ?? {}).length;
  return `${verb} ${result.reaped.length}, skipped ${result.skipped.length}, failed ${errors}`;
}

/// `panelRequest`, answered `{ ok: true, body }` only with a JSON body.
async function request(method, url, body) {
  const answer = await panelRequest(method, url, body);
  if (answer.ok && answer.body !== null) return { ok: true, body: answer.body };
  return { ok: false, detail: answer.ok ? "The server's answer could not be read." : answer.detail };
}

/// Fills `section`'s body once; later calls do nothing.
export function mount(section, root) {
  const body = section.querySelector(".maintenance-body");
  if (!body || body.dataset.mounted) return;
  body.dataset.mounted = "true";
  let view = null;
  let busy = false;
  const unchecked = new Set();
  const content = el("div", { class: "maintenance-content" });
  const outcome = el("div", { class: "maintenance-outcome" });
  const refresh = el("button", {
    type: "button",
    class: "refresh",
    text: "Refresh",
    onclick: () => {
      outcome.replaceChildren();
      unchecked.clear();
      scan();
    },
  });
  body.replaceChildren(content, outcome, refresh);

  const selected = () => (view ? view.ghosts.map((g) => g.id).filter((id) => !unchecked.has(id)) : []);

  async function scan() {
    busy = true;
    refresh.disabled = true;
    content.replaceChildren(el("p", { class: "scan-note", text: "Scanning…" }));
    const answer = await request("GET", `${root}/api/environments/ghosts`);
    busy = false;
    refresh.disabled = false;
    if (answer.ok && Array.isArray(answer.body?.ghosts)) {
      view = answer.body;
      list();
    } else {
      view = null;
      content.replaceChildren(
        el("p", { class: "alert scan-error", role: "alert", text: answer.ok ? "The server's answer could not be read." : answer.detail }),
      );
    }
  }

  function list() {
    const ghosts = el("ul", { class: "ghosts" });
    for (const g of view.ghosts) {
      const box = el("input", { type: "checkbox", name: "ghost", value: g.id });
      box.checked = !unchecked.has(g.id);
      box.addEventListener("change", () => {
        if (box.checked) unchecked.delete(g.id);
        else unchecked.add(g.id);
        update();
      });
      ghosts.append(
        el(
          "li",
          { class: "ghost" },
          el(
            "label",
            { class: "ghost-pick" },
            box,
            el("code", { title: g.id, text: shortId(g.id) }),
            el("span", { class: "ghost-dir", text: g.directory }),
            el("span", { class: "ghost-name", text: g.name }),
          ),
        ),
      );
    }
    const parts = [el("p", { class: "scan-summary", text: summaryLine(view) }), ghosts];
    let update = () => {};
    if (view.ghosts.length > 0) {
      const archive = el("button", { type: "button", class: "primary archive", onclick: () => reap("archive") });
      const typed = el("input", { type: "text", name: "delete_confirm", autocomplete: "off" });
      const remove = el("button", {
        type: "button",
        class: "danger delete",
        text: "Delete permanently",
        onclick: () => reap("delete"),
      });
      typed.addEventListener("input", () => update());
      update = () => {
        const n = selected().length;
        archive.textContent = `Archive ${n} (can be undone)`;
        archive.disabled = busy || n === 0;
        remove.disabled = busy || n === 0 || typed.value !== DELETE_WORD;
      };
      parts.push(
        el(
          "div",
          { class: "actions reap-actions" },
          archive,
          el("label", { class: "field delete-confirm" }, el("span", { text: "Type DELETE to enable permanent deletion" }), typed),
          remove,
        ),
      );
    }
    content.replaceChildren(...parts);
    update();

    async function reap(action) {
      const ids = selected();
      if (ids.length === 0 || busy) return;
      busy = true;
      update();
      refresh.disabled = true;
      const answer = await request("POST", `${root}/api/environments/reap`, {
        action,
        ids,
        confirm: action === "delete" ? DELETE_WORD : "archive",
      });
      busy = false;
      refresh.disabled = false;
      if (answer.ok && Array.isArray(answer.body?.reaped) && Array.isArray(answer.body?.skipped)) {
        const result = answer.body;
        // What was reaped or is no longer a ghost leaves the list.
        view.ghosts = view.ghosts.filter((g) => !result.reaped.includes(g.id) && !result.skipped.includes(g.id));
        const errors = el("ul", { class: "reap-errors" });
        for (const [id, message] of Object.entries(result.errors ?? {})) {
          errors.append(el("li", { text: `${shortId(id)}: ${message}` }));
        }
        outcome.replaceChildren(el("div", { class: "reap-result", role: "status" }, el("p", { text: resultLine(result) }), errors));
      } else {
        outcome.replaceChildren(
          el("p", { class: "alert reap-error", role: "alert", text: answer.ok ? "The server's answer could not be read." : answer.detail }),
        );
      }
      list();
    }
  }

  scan();
}
