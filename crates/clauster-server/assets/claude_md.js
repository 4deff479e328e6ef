// The CLAUDE.md editor of a project card (ui.md §5.2, data.md §2): load, edit with a byte
// counter against the cap, save with the lost-update guard, and the conflict, trust and error
// answers with their choices. A module outside the hydrated app, imported by settings.js when
// a card's "Edit CLAUDE.md" (or the new-project panel's "Open CLAUDE.md") is clicked, so the
// wasm bundle stays within its budget (issue 19). The file's text is only set as a value.

/// The server's size cap in UTF-8 bytes (data.md §2).
export const CAP = 65536;

const { el, panelRequest: request } = await import(`./page.js${new URL(import.meta.url).search}`);

const encoder = new TextEncoder();

/// The counter under the text: `N / 65536 bytes`.
export function counterText(bytes) {
  return `${bytes} / ${CAP} bytes`;
}

/// The `PUT` body: `base_sha256` only when the file existed at load (or the conflict named a
/// current hash to overwrite).
export function saveBody(content, base) {
  return typeof base === "string" ? { content, base_sha256: base } : { content };
}

/// Opens the editor of `project` in its card (at most one per project).
export function open({ project, opener, root }) {
  const card = [...document.querySelectorAll("li.project[data-project]")].find((c) => c.dataset.project === project);
  const existing = card?.querySelector(".claude-md-editor");
  if (existing) {
    existing.querySelector("textarea")?.focus();
    return;
  }
  editor(card ?? document.body, project, opener, root ?? "");
}

function editor(host, name, opener, root) {
  const url = `${root}/api/projects/${encodeURIComponent(name)}/claude-md`;
  const label = `CLAUDE.md of ${name}`;
  let doc = null;
  let clean = "";
  let base = null;
  let busy = false;
  let saved = false;
  let asking = false;

  const head = el("span", { class: "editor-head-info" });
  const counter = el("span", { class: "byte-counter", "aria-live": "polite" });
  const running = el("div", { class: "running-slot" });
  const body = el("div", { class: "editor-body" }, el("p", { class: "note", text: "Loading…" }));
  const notice = el("div", { class: "notice-slot" });
  const confirmSlot = el("div", { class: "confirm-slot" });
  const area = el("textarea", {
    class: "claude-md-text",
    name: "claude-md",
    rows: 16,
    spellcheck: "false",
    "aria-label": label,
  });
  const save = el("button", {
    type: "button",
    class: "primary save",
    "aria-keyshortcuts": "Control+S Meta+S",
    text: "Save",
    onclick: () => trySave(),
  });
  const backdrop = el("div", { class: "sheet-backdrop", "aria-hidden": "true" });
  // A sheet over the page on every width (a card-wide textarea is too narrow to edit in): the
  // backdrop is inert (a stray click must not discard edits); Close and Escape close.
  const section = el(
    "section",
    { class: "claude-md-editor sheet", role: "dialog", "aria-modal": "true", "aria-label": label },
    el(
      "div",
      { class: "editor-head" },
      el("h3", { text: `CLAUDE.md · ${name}` }),
      head,
      el("button", { type: "button", class: "icon close-x", "aria-label": "Close the editor", text: "×", onclick: () => close() }),
    ),
    running,
    body,
    notice,
    confirmSlot,
  );

  const bytes = () => encoder.encode(area.value).length;
  const over = () => bytes() > CAP;
  const dirty = () => area.value !== clean;
  const refresh = () => {
    counter.textContent = counterText(bytes());
    counter.classList.toggle("over", over());
    save.disabled = busy || over();
  };

  const take = (loaded) => {
    doc = loaded;
    clean = loaded.content;
    base = typeof loaded.sha256 === "string" ? loaded.sha256 : null;
    head.replaceChildren(...(loaded.exists ? [] : [el("span", { class: "badge new-file", text: "new file" })]), counter);
    running.replaceChildren(
      loaded.bridge_running
        ? el("p", {
            class: "note bridge-note",
            text: "Running sessions keep the version they started with; new sessions read your changes.",
          })
        : "",
    );
    refresh();
  };

  const show = (node) => {
    saved = false;
    notice.replaceChildren(node ?? "");
  };

  async function load() {
    busy = true;
    refresh();
    const answer = await request("GET", url);
    busy = false;
    if (answer.ok && typeof answer.body?.content === "string") {
      show(null);
      const first = doc === null;
      take(answer.body);
      area.value = answer.body.content;
      if (first) {
        body.replaceChildren(
          area,
          el(
            "div",
            { class: "actions" },
            save,
            el("button", { type: "button", class: "close", text: "Close", onclick: () => close() }),
          ),
        );
      }
      refresh();
      area.focus();
    } else {
      body.replaceChildren(
        el("div", { class: "alert", role: "alert" }, el("span", { text: answer.ok ? "The server's answer was not a CLAUDE.md document." : answer.detail })),
      );
    }
  }

  // `base_sha256` is whatever the caller decides: the loaded hash, or the conflict's.
  async function put(baseSha) {
    if (busy) return;
    busy = true;
    refresh();
    const answer = await request("PUT", url, saveBody(area.value, baseSha));
    busy = false;
    refresh();
    if (answer.ok) {
      const written = answer.body;
      if (typeof written?.content === "string") {
        // What the server wrote (CRLF normalised) is the new clean text; keep what is in the
        // box unless it is only that normalisation.
        if (area.value.replace(/\r\n/g, "\n") === written.content) area.value = written.content;
        take(written);
        refresh();
      }
      show(el("p", { class: "saved", role: "status" }, el("span", { "aria-hidden": "true", text: "✓ " }), "Saved"));
      saved = true;
      return;
    }
    if (answer.status === 409) {
      const current = typeof answer.body?.current_sha256 === "string" ? answer.body.current_sha256 : null;
      show(
        el(
          "div",
          { class: "alert conflict", role: "alert" },
          el("span", { text: "CLAUDE.md changed on disk since you opened it." }),
          el("button", { type: "button", class: "reload", text: "Reload", onclick: () => load() }),
          el("button", { type: "button", class: "danger overwrite", text: "Overwrite", onclick: () => put(current) }),
        ),
      );
    } else if (answer.status === 403) {
      show(
        el(
          "div",
          { class: "alert untrusted", role: "alert" },
          el("span", { text: answer.detail }),
          el("button", { type: "button", class: "trust", text: "Trust", onclick: () => trustThenSave() }),
        ),
      );
    } else {
      show(el("div", { class: "alert", role: "alert" }, el("span", { text: answer.detail })));
    }
  }

  function trySave() {
    if (!over()) put(base);
  }

  async function trustThenSave() {
    busy = true;
    refresh();
    const answer = await request("POST", `${root}/api/projects/${encodeURIComponent(name)}/trust`);
    busy = false;
    refresh();
    if (answer.ok) trySave();
    else show(el("div", { class: "alert", role: "alert" }, el("span", { text: answer.detail })));
  }

  function remove() {
    backdrop.remove();
    section.remove();
    // The item sits in the card's menu, closed when it was clicked: its summary gets the
    // focus back.
    // (Chromium keeps a closed `<details>`'s content laid out but skipped: not focusable.)
    const visible =
      opener?.isConnected &&
      !opener.closest("details:not([open])") &&
      (opener.checkVisibility ? opener.checkVisibility() : opener.getClientRects().length > 0);
    const back = visible ? opener : host.querySelector?.("details.menu > summary") ?? opener;
    back?.focus();
  }

  function close() {
    if (!dirty()) {
      remove();
      return;
    }
    asking = true;
    const text = "Discard your unsaved changes to CLAUDE.md?";
    const cancel = () => {
      asking = false;
      confirmSlot.replaceChildren();
      area.focus();
    };
    const discard = el("button", {
      type: "button",
      class: "danger discard",
      text: "Discard",
      onclick: () => {
        asking = false;
        remove();
      },
    });
    confirmSlot.replaceChildren(
      el(
        "div",
        {
          class: "confirm",
          role: "alertdialog",
          "aria-label": text,
          onkeydown: (event) => {
            if (event.key === "Escape") {
              event.stopPropagation();
              cancel();
            }
          },
        },
        el("p", { text }),
        el("div", { class: "actions" }, discard, el("button", { type: "button", class: "cancel", text: "Cancel", onclick: cancel })),
      ),
    );
    discard.focus();
  }

  area.addEventListener("input", () => {
    refresh();
    if (saved) show(null);
  });
  section.addEventListener("keydown", (event) => {
    if ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === "s") {
      event.preventDefault();
      trySave();
    } else if (event.key === "Escape" && !asking) {
      event.stopPropagation();
      close();
    }
  });

  host.append(backdrop, section);
  load();
}
