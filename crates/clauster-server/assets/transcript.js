// The transcript viewer's few enhancements (issue 21). The page works without this script;
// with it, new turns of a live session arrive over /ws/transcript, older turns and full
// outputs load in place. Nothing here builds HTML from untrusted text: turn HTML comes from
// the server's sanitising renderer, full outputs are set as textContent.
const main = document.getElementById("transcript");
if (main) {
  const turns = document.getElementById("turns");
  const status = document.getElementById("tx-status");
  const total = document.getElementById("tx-total");
  const d = main.dataset;
  const api = `${d.root}/api/projects/${encodeURIComponent(d.project)}/transcripts/${encodeURIComponent(d.session)}`;
  const agent = d.agent ? `&agent=${encodeURIComponent(d.agent)}` : "";
  const parse = (html) => {
    const t = document.createElement("template");
    t.innerHTML = html;
    return t.content.firstElementChild;
  };
  const atBottom = () => window.innerHeight + window.scrollY >= document.body.scrollHeight - 80;

  // Upserts a turn by its index, keeping which of its <details> were open.
  const upsert = (turn) => {
    const fresh = parse(turn.html);
    if (!fresh) return;
    const old = turns.querySelector(`[data-turn="${turn.index}"]`);
    if (old) {
      const open = [...old.querySelectorAll("details")].map((e) => e.open);
      fresh.querySelectorAll("details").forEach((e, i) => { if (open[i]) e.open = true; });
      old.replaceWith(fresh);
    } else {
      fresh.classList.add("fresh");
      setTimeout(() => fresh.classList.remove("fresh"), 2000);
      turns.append(fresh);
    }
  };

  if (d.follow === "1") {
    let offset = d.offset;
    let delay = 500;
    const connect = () => {
      const proto = location.protocol === "https:" ? "wss:" : "ws:";
      const ws = new WebSocket(`${proto}//${location.host}${d.ws}${d.ws.includes("?") ? "&" : "?"}offset=${offset}`);
      ws.onopen = () => { delay = 500; main.dataset.socket = "open"; };
      ws.onmessage = (event) => {
        const frame = JSON.parse(event.data);
        if (frame.type === "reset") { location.reload(); return; }
        if (frame.type !== "turns") return;
        const follow = atBottom();
        frame.turns.forEach(upsert);
        offset = frame.offset;
        main.dataset.offset = offset;
        if (total) total.textContent = frame.total;
        if (follow && frame.turns.length) window.scrollTo(0, document.body.scrollHeight);
      };
      ws.onclose = (event) => {
        main.dataset.socket = "closed";
        if (event.code === 1008) { status.textContent = `Live updates stopped: ${event.reason}`; return; }
        setTimeout(connect, delay);
        delay = Math.min(delay * 2, 10000);
      };
    };
    connect();
    window.scrollTo(0, document.body.scrollHeight);
  }

  document.addEventListener("click", async (event) => {
    const older = event.target.closest(".tx-older");
    if (older && !d.q) {
      event.preventDefault();
      const response = await fetch(`${api}?cursor=${older.dataset.cursor}${agent}`);
      if (!response.ok) { status.textContent = "Could not load older turns."; return; }
      const page = await response.json();
      const before = document.body.scrollHeight;
      for (const turn of page.turns) {
        if (!turns.querySelector(`[data-turn="${turn.index}"]`)) {
          const node = parse(turn.html);
          if (node) turns.prepend(node);
        }
      }
      window.scrollBy(0, document.body.scrollHeight - before);
      if (page.next_cursor === null) older.remove();
      else older.dataset.cursor = page.next_cursor;
      return;
    }
    const all = event.target.closest(".show-all");
    if (all) {
      event.preventDefault();
      const response = await fetch(all.href);
      if (!response.ok) { all.textContent = "could not load"; return; }
      const text = await response.text();
      const pre = all.previousElementSibling;
      if (pre && pre.tagName === "PRE") pre.textContent = text;
      else { const p = document.createElement("pre"); p.textContent = text; all.before(p); }
      all.remove();
    }
  });
}
