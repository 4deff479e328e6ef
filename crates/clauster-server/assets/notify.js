// Browser notifications (notifications.md §7): while a dashboard tab is open, a Notification
// for the `notifications.notify_on_*` events of its own `/ws/events` stream. Permission is
// asked only when the operator presses the "Enable notifications" button, never on load.
// A small module of its own, outside the hydrated app (the dashboard is not changed).

const { root } = await import(`./page.js${new URL(import.meta.url).search}`);

async function settings() {
  const answer = await fetch(`${root}/api/notifications/browser`, { credentials: "same-origin" });
  return answer.ok ? answer.json() : { enabled: false };
}

function offer(found) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "notify-offer";
  button.textContent = "Enable notifications";
  Object.assign(button.style, { position: "fixed", right: "1rem", bottom: "1rem", zIndex: 50 });
  button.addEventListener("click", async () => {
    const answer = await Notification.requestPermission();
    button.remove();
    if (answer === "granted") follow(found);
  });
  document.body.append(button);
}

// What changed, as the server's tracker sees it (notifications.md §3), for the people filter.
function announce(found, before, instance) {
  const on = found.notify_on;
  if (found.muted.includes(instance.project)) return null;
  const status = instance.status;
  if (before === "starting" && status === "running") return on.ready ? "is ready" : null;
  if (status === "stopped") {
    if (instance.intentional_stop) return on.stop ? "stopped" : null;
    return on.session_end ? "session ended" : null;
  }
  if (status === "crashed" || status === "error") {
    const relaunch = instance.launch_count > 1 && on.reconnect_failed;
    return on.crash || relaunch ? "crashed" : null;
  }
  return null;
}

function follow(found) {
  const seen = new Map();
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${location.host}${root}/ws/events`);
  socket.addEventListener("open", () => {
    document.documentElement.dataset.notify = "following";
  });
  socket.addEventListener("message", (message) => {
    const frame = JSON.parse(message.data);
    if (frame.type === "snapshot") {
      for (const i of frame.instances) seen.set(i.instance_id, [i.launch_count, i.status]);
      return;
    }
    if (frame.type !== "instance") return;
    const i = frame.instance;
    const previous = seen.get(i.instance_id);
    seen.set(i.instance_id, [i.launch_count, i.status]);
    const before = previous && previous[0] === i.launch_count ? previous[1] : null;
    if (before === null || before === i.status) return;
    const what = announce(found, before, i);
    if (!what) return;
    const detail = [i.error_kind, i.error_detail].filter(Boolean).join(": ");
    const shown = new Notification(`${i.project}: ${what}`, {
      body: detail || `status: ${i.status}`,
      tag: i.instance_id,
    });
    shown.addEventListener("click", () => {
      window.focus();
      shown.close();
    });
  });
  socket.addEventListener("close", () => setTimeout(() => follow(found), 5000));
}

// Web Push (notifications.md §8): the service worker, a "This device" switch that
// subscribes this browser, and the list of subscribed devices, each revocable. Subscribing
// asks permission from the switch, never on load.
const DEVICE_KEY = "clauster.push.device";
const SUBSCRIBE_WAIT_MS = 30000;

function deviceName() {
  const agent = navigator.userAgent;
  const browser = /Edg\//.test(agent) ? "Edge" : /Firefox\//.test(agent) ? "Firefox"
    : /Chrom(e|ium)\//.test(agent) ? "Chrome" : /Safari\//.test(agent) ? "Safari" : "Browser";
  const system = /Android/.test(agent) ? "Android" : /iPhone|iPad/.test(agent) ? "iOS"
    : /Mac OS X/.test(agent) ? "macOS" : /Windows/.test(agent) ? "Windows"
    : /Linux/.test(agent) ? "Linux" : "";
  return system ? `${browser} on ${system}` : browser;
}

async function api(path, options = {}) {
  const answer = await fetch(`${root}${path}`, {
    credentials: "same-origin",
    headers: { "content-type": "application/json" },
    ...options,
  });
  const body = await answer.json().catch(() => ({}));
  if (!answer.ok) throw new Error(body.detail || `HTTP ${answer.status}`);
  return body;
}

function keyBytes(base64url) {
  const text = atob(base64url.replace(/-/g, "+").replace(/_/g, "/"));
  return Uint8Array.from(text, (c) => c.charCodeAt(0));
}

async function pushPanel(registration) {
  const panel = document.createElement("details");
  panel.className = "push-settings";
  Object.assign(panel.style, {
    position: "fixed", left: "1rem", bottom: "1rem", zIndex: 50, maxWidth: "22rem",
    background: "var(--card)", color: "var(--fg)", border: "1px solid var(--line)",
    borderRadius: "0.5rem", padding: "0.5rem 0.75rem", boxShadow: "var(--shadow)",
  });
  const summary = document.createElement("summary");
  summary.textContent = "Push notifications";
  const label = document.createElement("label");
  const toggle = document.createElement("input");
  toggle.type = "checkbox";
  toggle.className = "push-toggle";
  label.append(toggle, " This device");
  const status = document.createElement("p");
  status.className = "push-status";
  status.setAttribute("role", "status");
  status.style.margin = "0.25rem 0";
  const empty = document.createElement("p");
  empty.className = "push-empty";
  empty.textContent = "No device gets push notifications.";
  empty.style.margin = "0.25rem 0";
  const list = document.createElement("ul");
  list.className = "push-devices";
  Object.assign(list.style, { listStyle: "none", padding: 0, margin: "0.5rem 0 0" });
  panel.append(summary, label, status, empty, list);
  document.body.append(panel);

  async function refresh() {
    const found = await api("/api/push/subscriptions");
    const mine = localStorage.getItem(DEVICE_KEY);
    const subscribed = await registration.pushManager.getSubscription().catch(() => null);
    toggle.checked = Boolean(subscribed && found.subscriptions.some((d) => d.id === mine));
    list.replaceChildren(...found.subscriptions.map((device) => {
      const item = document.createElement("li");
      item.className = "push-device";
      item.dataset.id = device.id;
      const name = document.createElement("span");
      name.textContent = `${device.device}${device.id === mine ? " (this device)" : ""} · ${device.service}`;
      const revoke = document.createElement("button");
      revoke.type = "button";
      revoke.className = "push-revoke";
      revoke.textContent = "Revoke";
      revoke.setAttribute("aria-label", `Revoke ${device.device}`);
      revoke.addEventListener("click", async () => {
        await api(`/api/push/subscriptions/${device.id}`, { method: "DELETE" }).catch(() => {});
        if (device.id === mine) {
          localStorage.removeItem(DEVICE_KEY);
          await subscribed?.unsubscribe().catch(() => {});
        }
        await refresh();
      });
      item.append(name, " ", revoke);
      return item;
    }));
    empty.hidden = found.subscriptions.length > 0;
  }

  toggle.addEventListener("change", async () => {
    status.textContent = "";
    toggle.disabled = true;
    try {
      if (toggle.checked) {
        if ((await Notification.requestPermission()) !== "granted") {
          throw new Error("notifications are not allowed for this site");
        }
        const { public_key } = await api("/api/push/vapid-public-key");
        status.textContent = "Subscribing…";
        // A browser whose push service is out of reach never answers: give up after 30 s.
        const subscription = await Promise.race([
          registration.pushManager.subscribe({
            userVisibleOnly: true,
            applicationServerKey: keyBytes(public_key),
          }),
          new Promise((_, reject) => setTimeout(
            () => reject(new Error("the browser's push service did not answer within 30 s")),
            SUBSCRIBE_WAIT_MS,
          )),
        ]);
        const saved = await api("/api/push/subscriptions", {
          method: "POST",
          body: JSON.stringify({
            ...subscription.toJSON(),
            device: deviceName(),
            id: localStorage.getItem(DEVICE_KEY),
          }),
        });
        localStorage.setItem(DEVICE_KEY, saved.id);
        status.textContent = "";
      } else {
        const mine = localStorage.getItem(DEVICE_KEY);
        const subscription = await registration.pushManager.getSubscription();
        await subscription?.unsubscribe();
        if (mine) await api(`/api/push/subscriptions/${mine}`, { method: "DELETE" });
        localStorage.removeItem(DEVICE_KEY);
      }
    } catch (error) {
      status.textContent = `Push: ${error.message}`;
    }
    toggle.disabled = false;
    await refresh().catch(() => {});
  });
  await refresh().catch((error) => {
    status.textContent = `Push: ${error.message}`;
  });
  document.documentElement.dataset.push = "ready";
}

async function push() {
  if (!("serviceWorker" in navigator) || !("PushManager" in window)) return;
  navigator.serviceWorker.addEventListener("message", (event) => {
    if (event.data?.type === "clauster-push") {
      document.documentElement.dataset.pushShown = event.data.title;
    }
  });
  const registration = await navigator.serviceWorker
    .register(`${root}/sw.js`, { scope: `${root}/` })
    .catch(() => null);
  if (registration) await pushPanel(registration);
}

async function main() {
  if (!("Notification" in window)) return;
  const found = await settings();
  if (!found.enabled) return;
  push();
  if (Notification.permission === "granted") follow(found);
  else if (Notification.permission === "default") offer(found);
}

main();
