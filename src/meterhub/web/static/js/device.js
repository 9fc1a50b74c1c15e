// /devices/{serial}: live tiles, the history chart, consumption, CSV export, and (admins)
// remote commands.
import { api, query, showError, toast } from "./api.js";
import { Consumption } from "./consumption.js";
import { confirmAction } from "./dialog.js";
import { $, $$, debounce, el, segmented, setValue } from "./dom.js";
import * as fmt from "./format.js";
import { HistoryChart } from "./history-chart.js";
import { on } from "./live.js";
import { isNewer, latest, toMs } from "./readings.js";

const root = document.getElementById("device");
const serial = root.dataset.serial;
const deviceId = root.dataset.deviceId;

// ---- live tiles ----
const shown = {};
function showReading(r) {
  if (!isNewer(shown, r)) return;
  for (const field of ["power", "voltage", "current", "pf", "frequency", "energy"]) {
    if (r[field] !== undefined)
      setValue($(`[data-field="${field}"]`, root), fmt.byMetric[field](r[field]));
  }
  if (r.ts) {
    const t = $("#last-seen time");
    t.setAttribute("datetime", new Date(toMs(r.ts)).toISOString());
    t.textContent = fmt.ago(toMs(r.ts));
  }
}
function showStatus(online) {
  const badge = $("#device-status [data-status]");
  badge.className = `badge ${online ? "online" : "offline"}`;
  badge.textContent = online ? "online" : "offline";
}
if (root.dataset.reported)
  latest(serial)
    .then((r) => r && showReading(r))
    .catch((err) => showError(err, "Latest reading"));

// ---- history ----
const exportLink = document.getElementById("export-link");
const resetZoom = document.getElementById("reset-zoom");
const chart = new HistoryChart({
  node: document.getElementById("history-chart"),
  status: document.getElementById("chart-status"),
  overlay: document.getElementById("chart-overlay"),
  serial,
  deviceId,
  onWindow(win, zoomed) {
    exportLink.href = `/api/readings/${encodeURIComponent(serial)}/export${query({
      format: "csv",
      from: new Date(win.from).toISOString(),
      to: new Date(win.to).toISOString(),
    })}`;
    resetZoom.hidden = !zoomed;
  },
});
segmented(document.getElementById("metric-seg"), (m) => chart.setMetric(m));
const customForm = document.getElementById("custom-range");
segmented(document.getElementById("range-seg"), (name) => {
  customForm.hidden = name !== "custom";
  if (name === "custom") {
    const w = chart.window || { from: Date.now() - 86400000, to: Date.now() };
    customForm.from.value = fmt.localIso(w.from);
    customForm.to.value = fmt.localIso(w.to);
    customForm.from.focus();
    return;
  }
  chart.setPreset(name);
});
customForm.addEventListener("submit", (e) => {
  e.preventDefault();
  const from = fmt.fromLocalIso(customForm.from.value);
  const to = fmt.fromLocalIso(customForm.to.value);
  if (!(to > from)) {
    toast("“To” must be after “From”.", "error");
    return;
  }
  chart.setRange(from, to);
});
resetZoom.addEventListener("click", () => chart.resetZoom());
chart.setPreset("24h");

// ---- consumption ----
const consumption = new Consumption({
  chart: document.getElementById("consumption-chart"),
  totals: document.getElementById("consumption-totals"),
  table: document.getElementById("summary-table"),
  serial,
});
segmented(document.getElementById("period-seg"), (p) => consumption.load(p));
consumption.load("day");

// ---- live feed ----
on("reading", (r) => {
  if (r.serial !== serial) return;
  showReading(r);
  showStatus(true);
  chart.push(r);
});
on("status", (s) => {
  if (s.serial === serial) showStatus(Boolean(s.online));
});
on("alert", (a) => {
  if (a.serial === serial) chart.updateAlert(a);
});

// ---- remote commands (admins) ----
const log = document.getElementById("cmd-log");
const LABELS = {
  identify: "Identify",
  set_interval: "Set interval",
  reset_energy: "Reset energy",
  reboot: "Reboot",
};
const STATES = {
  pending: "warn",
  acked: "online",
  failed: "danger",
  timed_out: "danger",
  expired: "danger",
};

async function send(cmd, args = {}) {
  const item = el(
    "li",
    {},
    el("span", { text: `${LABELS[cmd] || cmd} ${args.seconds ? `(${args.seconds} s)` : ""}` }),
    el("span", { class: "badge warn", text: "sending" }),
  );
  log.prepend(item);
  const badge = item.lastChild;
  try {
    const res = await api(`/api/devices/${deviceId}/commands`, {
      method: "POST",
      body: { cmd, args },
    });
    let status = res.status || "pending";
    const started = Date.now();
    while (status === "pending" && Date.now() - started < 90000) {
      badge.className = "badge warn";
      badge.textContent = "pending";
      await new Promise((r) => setTimeout(r, 1500));
      const s = await api(`/api/devices/${deviceId}/commands/${encodeURIComponent(res.id)}`);
      status = s.status;
      if (s.error) item.title = s.error;
    }
    badge.className = `badge ${STATES[status] || ""}`;
    badge.textContent = status.replace("_", " ");
  } catch (err) {
    badge.className = "badge danger";
    badge.textContent = "not sent";
    showError(err, LABELS[cmd]);
  }
}
for (const button of $$("[data-cmd]")) {
  button.addEventListener("click", async () => {
    const cmd = button.dataset.cmd;
    if (
      cmd === "reset_energy" &&
      !(await confirmAction({
        title: "Reset the energy counter?",
        text: `The meter's kWh counter on ${serial} goes back to 0. Stored history stays.`,
        confirm: "Reset counter",
      }))
    )
      return;
    if (
      cmd === "reboot" &&
      !(await confirmAction({
        title: "Reboot the meter?",
        text: `${serial} stops reporting for a few seconds.`,
        confirm: "Reboot",
        danger: false,
      }))
    )
      return;
    send(cmd);
  });
}
document.getElementById("interval-form")?.addEventListener("submit", (e) => {
  e.preventDefault();
  const seconds = Number(e.target.seconds.value);
  if (seconds >= 1) send("set_interval", { seconds });
});

window.addEventListener(
  "resize",
  debounce(() => chart.resize(), 150),
);
