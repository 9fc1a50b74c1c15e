// The REST API as the dashboard uses it: JSON in and out, the CSRF header on changes,
// and errors shown to the person in plain words.

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.error || `request failed (HTTP ${status})`);
    this.status = status;
    this.body = body || {};
    this.code = this.body.code;
  }
}

/** Value of a cookie (the CSRF cookie is readable by design: double submit). */
export function cookie(name) {
  for (const part of document.cookie.split(";")) {
    const [k, ...v] = part.trim().split("=");
    if (k === name) return decodeURIComponent(v.join("="));
  }
  return "";
}

/** Build a query string from an object, skipping empty values. */
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v !== undefined && v !== null && v !== "") q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `?${s}` : "";
}

/**
 * api("/api/devices") -> parsed JSON (null for 204).
 * api(path, {method: "POST", body: {...}, signal, quiet: true})
 * 401 sends the browser to the login page; a pending password change to its form.
 */
export async function api(path, { method = "GET", body, signal, redirect = true } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (!["GET", "HEAD"].includes(method)) headers["X-CSRF-Token"] = cookie("meterhub_csrf");
  const res = await fetch(path, {
    method,
    headers,
    signal,
    credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (res.status === 204) return null;
  let data = null;
  const type = res.headers.get("content-type") || "";
  if (type.includes("json")) data = await res.json().catch(() => null);
  if (!res.ok) {
    const err = new ApiError(res.status, data);
    if (redirect && res.status === 401) {
      const here = location.pathname + location.search;
      location.assign(`/login?next=${encodeURIComponent(here)}`);
    } else if (redirect && err.code === "password_change_required") {
      location.assign("/login?change=1");
    }
    throw err;
  }
  return data;
}

/** A short message in the corner; kind is "", "ok" or "error". */
export function toast(message, kind = "", ms = 4200) {
  const box = document.getElementById("toasts");
  if (!box) return;
  const item = document.createElement("div");
  item.className = `toast ${kind}`;
  item.textContent = message;
  box.append(item);
  setTimeout(() => item.remove(), ms);
}

/** Show an API (or network) error to the person. */
export function showError(err, prefix = "") {
  if (err && err.name === "AbortError") return;
  const text = err instanceof ApiError ? err.message : "network problem: is the server running?";
  toast(prefix ? `${prefix}: ${text}` : text, "error", 6000);
  if (!(err instanceof ApiError)) console.warn(err);
}
