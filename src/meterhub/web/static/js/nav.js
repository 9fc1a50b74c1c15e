// Every logged-in page: the phone menu, logout, "x min ago" labels, and the live feed.
import { api, showError } from "./api.js";
import { ago } from "./format.js";
import { on, startLive } from "./live.js";

const sidebar = document.getElementById("sidebar");
const toggle = document.getElementById("nav-toggle");
const scrim = document.getElementById("scrim");

function setMenu(open) {
  sidebar.classList.toggle("open", open);
  toggle.setAttribute("aria-expanded", String(open));
  toggle.setAttribute("aria-label", open ? "Close menu" : "Open menu");
  scrim.hidden = !open;
  if (open) sidebar.querySelector("a").focus();
}
toggle?.addEventListener("click", () => setMenu(!sidebar.classList.contains("open")));
scrim?.addEventListener("click", () => setMenu(false));
document.addEventListener("keydown", (e) => {
  if (e.key === "Escape" && sidebar.classList.contains("open")) {
    setMenu(false);
    toggle.focus();
  }
});

document.getElementById("logout")?.addEventListener("click", async () => {
  try {
    await api("/api/auth/logout", { method: "POST", redirect: false });
  } catch (err) {
    if (err.status !== 401) {
      showError(err, "Logging out failed");
      return;
    }
  }
  location.assign("/login");
});

/** Refresh every <time data-ago> label (they carry the instant in datetime=). */
export function refreshAgo(root = document) {
  for (const node of root.querySelectorAll("time[data-ago]")) {
    const when = node.getAttribute("datetime");
    node.textContent = when ? ago(when) : "never";
  }
}
refreshAgo();
setInterval(refreshAgo, 5000);

// The navigation's badge: how many alerts the caller may see are active, kept current by
// the live feed's alert messages.
const badge = document.getElementById("alert-badge");
export async function refreshBadge() {
  if (!badge) return;
  try {
    const { active } = await api("/api/alerts/count");
    badge.textContent = String(active);
    badge.hidden = active === 0;
  } catch {
    /* the next alert message retries */
  }
}
refreshBadge();
on("alert", () => refreshBadge());

if (!document.body.hasAttribute("data-no-live")) startLive();
