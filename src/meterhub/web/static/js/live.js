// The live feed: one WebSocket per page to /ws, reconnecting with exponential backoff
// (plus jitter), and the connection indicator in the header and sidebar.
// Messages are {"type":"reading"|"status"|"alert", ...} or an array of them in one frame.

export const BACKOFF_MIN_MS = 1000;
export const BACKOFF_MAX_MS = 30000;

const listeners = { reading: new Set(), status: new Set(), state: new Set(), alert: new Set() };
let socket = null;
let attempt = 0;
let state = "connecting";
let retryTimer = 0;
let started = false;

const LABELS = { live: "Live", connecting: "Connecting", offline: "Reconnecting" };

function setState(next) {
  state = next;
  for (const node of document.querySelectorAll("[data-conn]")) {
    node.dataset.state = next;
    const label = node.querySelector(".conn-label");
    if (label) label.textContent = LABELS[next] || next;
    node.title =
      next === "live"
        ? "Receiving live readings"
        : next === "offline"
          ? "Live feed lost; reconnecting automatically"
          : "Connecting to the live feed";
  }
  for (const fn of listeners.state) fn(next);
}

function dispatch(message) {
  const set = listeners[message?.type];
  if (!set) return;
  for (const fn of set) {
    try {
      fn(message);
    } catch (err) {
      console.error(err);
    }
  }
}

function connect() {
  clearTimeout(retryTimer);
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  let ws;
  try {
    ws = new WebSocket(`${proto}//${location.host}/ws`);
  } catch {
    scheduleRetry();
    return;
  }
  socket = ws;
  ws.addEventListener("open", () => {
    attempt = 0;
    setState("live");
  });
  ws.addEventListener("message", (event) => {
    let data;
    try {
      data = JSON.parse(event.data);
    } catch {
      return;
    }
    if (Array.isArray(data)) data.forEach(dispatch);
    else dispatch(data);
  });
  ws.addEventListener("close", (event) => {
    if (socket !== ws) return;
    socket = null;
    if (event.code === 4401 || event.code === 1008) {
      // the session ended: the API will send us to the login page on the next call
      fetch("/api/auth/me", { credentials: "same-origin" })
        .then((res) => {
          if (res.status === 401)
            location.assign(`/login?next=${encodeURIComponent(location.pathname)}`);
        })
        .catch(() => {});
    }
    scheduleRetry();
  });
}

function scheduleRetry() {
  setState("offline");
  const base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** attempt);
  attempt += 1;
  retryTimer = setTimeout(connect, base / 2 + (Math.random() * base) / 2);
}

/** Start the feed (idempotent). */
export function startLive() {
  if (started) return;
  started = true;
  setState("connecting");
  connect();
  // come back quickly when the tab or the network returns
  window.addEventListener("online", () => {
    if (!socket) {
      attempt = 0;
      connect();
    }
  });
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible" && !socket) {
      attempt = 0;
      connect();
    }
  });
}

/** on("reading"|"status"|"alert"|"state", fn) -> unsubscribe function. */
export function on(type, fn) {
  listeners[type].add(fn);
  if (type === "state") fn(state);
  return () => listeners[type].delete(fn);
}

export const liveState = () => state;
