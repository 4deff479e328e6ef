// What the modules outside the hydrated app share (notify.js, settings.js and the modules
// settings.js loads): the dashboard's root path, an element builder and the JSON request.
// Each imports it as `./page.js` with its own `?v=` query, so the browser may cache it
// forever like them. Server data given to `el` is only ever set as text or attribute values.

const boot = document.getElementById("clauster-bootstrap");

/// The dashboard's `root_path` from the page's bootstrap data ("" at the site root).
export const root = (() => {
  try {
    return JSON.parse(boot?.textContent ?? "{}")?.context?.root_path ?? "";
  } catch {
    return "";
  }
})();

/// A `tag` element: `class`, `text` (its text), `value` (the property) and `on<event>`
/// handlers are special, `true` makes an empty attribute, and null, undefined or false
/// attributes and children are left out.
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") node.className = value;
    else if (name === "text") node.textContent = value;
    else if (name === "value") node.value = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child);
  }
  return node;
}

/// What an answer that never came says.
export const UNREACHABLE = "The server cannot be reached; try again when it is back.";

/// `method url` with the page's cookies and `body` as JSON (none when undefined or null):
/// `{ status, ok, body }`, `body` the parsed JSON answer or null; status 0 when the server
/// cannot be reached.
export async function request(method, url, body) {
  try {
    const response = await fetch(url, {
      method,
      credentials: "same-origin",
      headers: body === undefined || body === null ? {} : { "content-type": "application/json" },
      body: body === undefined || body === null ? undefined : JSON.stringify(body),
    });
    let json = null;
    try {
      json = await response.json();
    } catch {
      json = null;
    }
    return { status: response.status, ok: response.ok, body: json };
  } catch {
    return { status: 0, ok: false, body: null };
  }
}

/// `request` for a panel of the dashboard: a 401 (the session ended) signs in again, as every
/// other API call of the page does, and `detail` says what failed.
export async function panelRequest(method, url, body) {
  const answer = await request(method, url, body);
  if (answer.status === 401) location.assign(`${url.slice(0, url.indexOf("/api/"))}/login`);
  if (answer.status === 0) return { ...answer, detail: UNREACHABLE };
  const detail = typeof answer.body?.detail === "string" ? answer.body.detail : `The request failed (HTTP ${answer.status}).`;
  return { ...answer, detail };
}
