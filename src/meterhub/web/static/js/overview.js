// /: fleet figures and live device cards.
import { api, showError } from "./api.js";
import { $, $$, setValue } from "./dom.js";
import * as fmt from "./format.js";
import { on } from "./live.js";
import { money } from "./money.js";
import { history, isNewer, latest, Sparkline, toMs } from "./readings.js";

const cards = new Map(); // serial -> {node, spark, power, online}

function render(card, r) {
  if (!isNewer(card, r)) return;
  const { node } = card;
  const set = (field, text) => setValue($(`[data-field="${field}"]`, node), text);
  if (r.power !== undefined) {
    set("power", fmt.watts(r.power));
    card.power = r.power;
  }
  if (r.voltage !== undefined) set("voltage", fmt.volts(r.voltage));
  if (r.current !== undefined) set("current", fmt.amps(r.current));
  if (r.pf !== undefined) set("pf", fmt.pf(r.pf));
  if (r.energy !== undefined) set("energy", fmt.kwh(r.energy));
  if (r.frequency !== undefined) set("frequency", fmt.hertz(r.frequency));
  if (r.ts) {
    const time = $("time[data-ago]", node);
    time.setAttribute("datetime", new Date(toMs(r.ts)).toISOString());
    time.textContent = fmt.ago(toMs(r.ts));
  }
}

function setOnline(card, online) {
  card.online = online;
  card.node.dataset.online = String(online);
  card.node.classList.toggle("is-offline", !online);
  const badge = $("[data-status]", card.node);
  badge.className = `badge ${online ? "online" : "offline"}`;
  badge.textContent = online ? "online" : "offline";
}

function fleetPower() {
  let total = 0;
  for (const c of cards.values()) if (c.online && typeof c.power === "number") total += c.power;
  return total;
}

function kpi(id, text, foot) {
  const node = document.getElementById(id);
  if (!node) return;
  const [value, unit] = Array.isArray(text) ? text : fmt.parts(text);
  text = Array.isArray(text) ? text.join(" ") : text;
  const unitNode = document.createElement("span");
  unitNode.className = "unit";
  unitNode.textContent = unit;
  if (node.dataset.text !== text) {
    node.dataset.text = text;
    node.replaceChildren(value, unitNode);
    node.classList.remove("flash");
    void node.offsetWidth;
    node.classList.add("flash");
  }
  if (foot !== undefined) document.getElementById(`${id}-foot`).textContent = foot;
}

async function loadStats() {
  try {
    const s = await api("/api/dashboard/stats");
    kpi(
      "kpi-online",
      [String(s.devices_online), `of ${s.devices_total}`],
      s.devices_total
        ? `${Math.round((100 * s.devices_online) / s.devices_total)} % reporting`
        : "no meters yet",
    );
    kpi("kpi-power", fmt.watts(s.power_now_w));
    kpi(
      "kpi-today",
      fmt.kwh(s.energy_today_kwh),
      s.cost_today !== undefined ? `≈ ${s.cost_today}` : "since midnight",
    );
    kpi(
      "kpi-month",
      fmt.kwh(s.energy_month_kwh),
      s.cost_month !== undefined ? `≈ ${s.cost_month}` : "since the 1st",
    );
    kpi(
      "kpi-pending",
      String(s.pending_devices ?? 0),
      s.pending_devices ? "waiting for approval" : "none waiting",
    );
    const cost = (s.cost || [])[0]; // per currency; the first one is shown
    if (cost) {
      document.getElementById("kpi-cost-card").hidden = false;
      kpi(
        "kpi-cost",
        [money(cost.this_month, cost.currency), "so far"],
        `projected ${money(cost.projected_month, cost.currency)} · last ${money(cost.last_month, cost.currency)}`,
      );
    }
  } catch (err) {
    if (err.status !== 404) showError(err, "Fleet figures");
  }
}

async function initCard(node) {
  const serial = node.dataset.serial;
  const card = {
    node,
    spark: new Sparkline($("[data-spark]", node)),
    online: node.dataset.online === "true",
  };
  cards.set(serial, card);
  const initial = {};
  for (const field of ["power", "energy"]) {
    const v = $(`[data-field="${field}"]`, node).dataset.initial;
    if (v) initial[field] = Number(v);
  }
  render(card, initial);
  if (!node.dataset.lastSeen) return; // never reported: nothing to fetch
  try {
    const r = await latest(serial);
    if (r) render(card, r);
    const now = Date.now();
    const h = await history(serial, now - 3600000, now, 120);
    card.spark.set((h.points || []).map((p) => [toMs(p.ts), p.power]));
  } catch (err) {
    if (err.status !== 404) console.warn(serial, err.message);
  }
}

const nodes = $$("[data-device]");
Promise.all(nodes.slice(0, 60).map(initCard)).then(() => {
  if (cards.size) kpi("kpi-power", fmt.watts(fleetPower()));
});
for (const node of nodes.slice(60))
  cards.set(node.dataset.serial, {
    node,
    spark: new Sparkline($("[data-spark]", node)),
    online: node.dataset.online === "true",
  });

on("reading", (r) => {
  const card = cards.get(r.serial);
  if (!card) return;
  if (!card.online) setOnline(card, true);
  render(card, r);
  card.spark.push(toMs(r.ts), r.power);
  kpi("kpi-power", fmt.watts(fleetPower()));
});
on("status", (s) => {
  const card = cards.get(s.serial);
  if (card) {
    setOnline(card, Boolean(s.online));
    kpi("kpi-power", fmt.watts(fleetPower()));
  }
});

loadStats();
setInterval(loadStats, 30000);
