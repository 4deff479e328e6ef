// Browser notifications (notifications.md §7): while a dashboard tab is open, a Notification
// for the `notifications.notify_on_*` events of its own `/ws/events` stream. Permission is
// asked only when the operator presses the "Enable notifications" button, never on load.
// A small module of its own, outside the hydrated app (the dashboard is not changed).

const boot = document.getElementById("clauster-bootstrap");
const root = (() => {
  try {
    return JSON.parse(boot?.textContent ?? "{}")?.context?.root_path ?? "";
  } catch {
    return "";
  }
})();

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

async function main() {
  if (!("Notification" in window)) return;
  const found = await settings();
  if (!found.enabled) return;
  if (Notification.permission === "granted") follow(found);
  else if (Notification.permission === "default") offer(found);
}

main();
