// The service worker (notifications.md §8.3): shows a Web Push message as a notification
// and opens the dashboard on its project when it is clicked. The payload is JSON
// `{title, body, tag, url, event, project, at}`; it carries no secret.

self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

function read(data) {
  if (!data) return {};
  try {
    return data.json();
  } catch {
    return { body: data.text() };
  }
}

self.addEventListener("push", (event) => {
  const message = read(event.data);
  const title = typeof message.title === "string" ? message.title : "Clauster";
  const options = {
    body: typeof message.body === "string" ? message.body : "",
    tag: typeof message.tag === "string" ? message.tag : undefined,
    icon: new URL("favicon.svg", self.registration.scope).href,
    data: { url: typeof message.url === "string" ? message.url : "" },
  };
  event.waitUntil(
    self.registration.showNotification(title, options).then(async () => {
      // Open pages hear about it too (the dashboard's notify.js marks it for tests).
      const pages = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
      for (const page of pages) {
        page.postMessage({ type: "clauster-push", title, body: options.body });
      }
    }),
  );
});

// Only a page of this dashboard is ever opened, whatever the payload says.
function target(url) {
  const scope = self.registration.scope;
  try {
    const resolved = new URL(url || scope, scope);
    return resolved.href.startsWith(scope) ? resolved.href : scope;
  } catch {
    return scope;
  }
}

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const url = target(event.notification.data?.url);
  event.waitUntil(
    (async () => {
      const pages = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
      for (const page of pages) {
        if (page.url.startsWith(self.registration.scope) && "focus" in page) {
          const focused = await page.focus();
          return "navigate" in focused ? focused.navigate(url) : focused;
        }
      }
      return self.clients.openWindow(url);
    })(),
  );
});
