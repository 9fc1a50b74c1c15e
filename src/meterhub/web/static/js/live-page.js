// /live: compact tiles for every visible meter; a bar shows each one's share of the peak.
import { $, $$, setValue } from "./dom.js";
import * as fmt from "./format.js";
import { on } from "./live.js";
import { isNewer, latest, toMs } from "./readings.js";

const items = new Map($$("[data-live]").map((n) => [n.dataset.serial, { node: n, power: null }]));
const filter = $("#live-filter");
let peak = 1;

function show(item, r) {
  if (!isNewer(item, r)) return;
  const { node } = item;
  for (const f of ["power", "voltage", "current", "pf", "frequency", "energy"]) {
    if (r[f] !== undefined) setValue($(`[data-field="${f}"]`, node), fmt.byMetric[f](r[f]));
  }
  if (typeof r.power === "number") {
    item.power = r.power;
    peak = Math.max(peak, ...Array.from(items.values(), (i) => i.power || 0));
    for (const i of items.values()) {
      $(".bar > span", i.node).style.width =
        `${Math.min(100, ((i.power || 0) / peak) * 100).toFixed(1)}%`;
    }
  }
  if (r.ts) {
    const t = $("time[data-ago]", node);
    t.setAttribute("datetime", new Date(toMs(r.ts)).toISOString());
    t.textContent = fmt.ago(toMs(r.ts));
  }
  total();
}

function setOnline(item, online) {
  item.node.dataset.online = String(online);
  const badge = $("[data-status]", item.node);
  badge.className = `badge ${online ? "online" : "offline"}`;
  badge.textContent = online ? "online" : "offline";
  applyFilter();
}

function total() {
  let sum = 0;
  let n = 0;
  for (const i of items.values())
    if (i.node.dataset.online === "true" && typeof i.power === "number") {
      sum += i.power;
      n += 1;
    }
  $("#live-total").textContent = n
    ? `Together ${fmt.watts(sum)} from ${n} online meter${n === 1 ? "" : "s"}.`
    : "";
}

function applyFilter() {
  for (const i of items.values())
    i.node.hidden = filter.value === "online" && i.node.dataset.online !== "true";
}
filter?.addEventListener("change", applyFilter);

for (const [serial, item] of items) {
  const p = item.node.dataset.initialPower;
  if (p) show(item, { power: Number(p) });
  if (item.node.dataset.reported)
    latest(serial)
      .then((r) => r && show(item, r))
      .catch(() => {});
}
on("reading", (r) => {
  const item = items.get(r.serial);
  if (!item) return;
  if (item.node.dataset.online !== "true") setOnline(item, true);
  show(item, r);
});
on("status", (s) => {
  const item = items.get(s.serial);
  if (item) setOnline(item, Boolean(s.online));
});
