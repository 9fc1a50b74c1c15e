// /analytics: trends (daily/weekly/monthly, stacked by meter), comparison with the previous
// period, top consumers and a calendar heat map, from each meter's daily summary.
import { api, query, showError } from "./api.js";
import { baseLayout, COLORS, draw } from "./charts.js";
import { el, fill, segmented } from "./dom.js";
import * as fmt from "./format.js";

const DAY = 86400000;
const root = document.getElementById("analytics");
const meters = JSON.parse(root.dataset.meters || "[]");
const serials = meters.map((m) => m.serial);
const names = meters.map((m) => m.name);
const label = (i) => names[i] || serials[i];
const PALETTE = ["#0d9488", "#2563eb", "#d97706", "#7c3aed", "#db2777", "#65a30d", "#64748b"];

/** day -> kWh per meter: Map(serial -> Map("YYYY-MM-DD" -> kWh)). */
const daily = new Map();

async function loadDaily() {
  const now = Date.now();
  const q = query({
    period: "day",
    from: fmt.localDate(now - 370 * DAY),
    to: fmt.localDate(now),
    tz: fmt.timeZone,
  });
  await Promise.all(
    serials.map(async (serial) => {
      try {
        const res = await api(`/api/readings/${encodeURIComponent(serial)}/summary${q}`);
        daily.set(
          serial,
          new Map(res.buckets.map((b) => [b.start.slice(0, 10), b.energy_kwh || 0])),
        );
      } catch (err) {
        showError(err, serial);
        daily.set(serial, new Map());
      }
    }),
  );
}

const dayKey = (t) => fmt.localDate(t);
function addDays(key, n) {
  const d = new Date(`${key}T12:00:00Z`);
  d.setUTCDate(d.getUTCDate() + n);
  return d.toISOString().slice(0, 10);
}
function sumRange(serial, fromKey, toKey) {
  // inclusive keys
  let s = 0;
  for (const [k, v] of daily.get(serial) || []) if (k >= fromKey && k <= toKey) s += v;
  return s;
}
const total = (fromKey, toKey) => serials.reduce((a, s) => a + sumRange(s, fromKey, toKey), 0);

function compareCard(id, now, prev, noun) {
  const node = document.getElementById(id);
  const [v, u] = fmt.parts(fmt.kwh(now));
  node.replaceChildren(v, el("span", { class: "unit", text: u }));
  const foot = document.getElementById(`${id}-foot`);
  if (prev > 0) {
    const change = (now - prev) / prev;
    foot.className = `kpi-foot ${change > 0.005 ? "up" : change < -0.005 ? "down" : ""}`;
    foot.textContent = `${change > 0 ? "▲" : change < 0 ? "▼" : "■"} ${fmt.percent(Math.abs(change))} vs ${noun} (${fmt.kwh(prev)})`;
  } else {
    foot.textContent = `no data for ${noun}`;
  }
}

function comparisons() {
  const today = dayKey(Date.now());
  compareCard(
    "cmp-7",
    total(addDays(today, -6), today),
    total(addDays(today, -13), addDays(today, -7)),
    "the 7 days before",
  );
  compareCard(
    "cmp-30",
    total(addDays(today, -29), today),
    total(addDays(today, -59), addDays(today, -30)),
    "the 30 days before",
  );
  const monthStart = `${today.slice(0, 8)}01`;
  const dayOfMonth = Number(today.slice(8, 10));
  const prevMonthStart = (() => {
    const d = new Date(`${monthStart}T12:00:00Z`);
    d.setUTCMonth(d.getUTCMonth() - 1);
    return d.toISOString().slice(0, 10);
  })();
  compareCard(
    "cmp-month",
    total(monthStart, today),
    total(prevMonthStart, addDays(prevMonthStart, dayOfMonth - 1)),
    "the same days last month",
  );
  const yearNow = total(addDays(today, -364), today);
  document.getElementById("cmp-year").replaceChildren(
    ...(() => {
      const [v, u] = fmt.parts(fmt.kwh(yearNow));
      return [v, el("span", { class: "unit", text: u })];
    })(),
  );
  document.getElementById("cmp-year-foot").textContent = `≈ ${fmt.kwh(yearNow / 365)} per day`;
}

/** Group days into buckets: key function per granularity. */
function bucketOf(key, period) {
  if (period === "month") return `${key.slice(0, 7)}-01`;
  if (period === "week") {
    const d = new Date(`${key}T12:00:00Z`);
    const dow = (d.getUTCDay() + 6) % 7; // Monday = 0
    return addDays(key, -dow);
  }
  return key;
}
const SPAN_DAYS = { day: 30, week: 7 * 16, month: 365 };

function trend(period) {
  const today = dayKey(Date.now());
  const first = bucketOf(addDays(today, -(SPAN_DAYS[period] - 1)), period);
  const keys = [];
  for (let k = first; k <= today; k = addDays(k, 1))
    if (!keys.length || keys[keys.length - 1] !== bucketOf(k, period))
      keys.push(bucketOf(k, period));
  const uniq = [...new Set(keys)];
  const series = serials.map((s) => {
    const m = new Map(uniq.map((k) => [k, 0]));
    for (const [k, v] of daily.get(s) || []) {
      if (k < first || k > today) continue;
      const b = bucketOf(k, period);
      if (m.has(b)) m.set(b, m.get(b) + v);
    }
    return uniq.map((k) => m.get(k));
  });
  // top 6 meters by total, the rest as "Others"
  const order = serials
    .map((_s, i) => [i, series[i].reduce((a, b) => a + b, 0)])
    .sort((a, b) => b[1] - a[1]);
  const top = order.slice(0, 6).map(([i]) => i);
  const rest = order.slice(6).map(([i]) => i);
  const traces = top.map((i, n) => ({
    x: uniq,
    y: series[i],
    type: "bar",
    name: label(i),
    marker: { color: PALETTE[n] },
    hovertemplate: `${label(i)}: %{y:.2f} kWh<extra></extra>`,
  }));
  if (rest.length) {
    traces.push({
      x: uniq,
      y: uniq.map((_, j) => rest.reduce((a, i) => a + series[i][j], 0)),
      type: "bar",
      name: "Others",
      marker: { color: PALETTE[6] },
      hovertemplate: "Others: %{y:.2f} kWh<extra></extra>",
    });
  }
  const c = COLORS();
  draw(
    document.getElementById("trend-chart"),
    traces,
    baseLayout({
      barmode: "stack",
      bargap: 0.2,
      showlegend: serials.length > 1,
      legend: { orientation: "h", y: -0.15, font: { color: c.muted } },
      xaxis: {
        ...baseLayout().xaxis,
        fixedrange: true,
        tickformat: period === "month" ? "%b %Y" : "%d %b",
      },
      yaxis: { ...baseLayout().yaxis, ticksuffix: " kWh", fixedrange: true },
    }),
    { displayModeBar: false, responsive: true },
  );
  const sum = series.flat().reduce((a, b) => a + b, 0);
  document.getElementById("trend-sub").textContent =
    `${fmt.kwh(sum)} over ${uniq.length} ${period}s, stacked by meter`;
  document.getElementById("trend-chart").dataset.buckets = String(uniq.length);
}

function topConsumers() {
  const today = dayKey(Date.now());
  const from = addDays(today, -29);
  const rows = serials
    .map((s, i) => [i, sumRange(s, from, today)])
    .sort((a, b) => b[1] - a[1])
    .slice(0, 8);
  const max = Math.max(...rows.map((r) => r[1]), 0.001);
  const sum = rows.reduce((a, r) => a + r[1], 0) || 1;
  fill(
    document.getElementById("top-list"),
    rows.length
      ? rows.map(([i, v]) => {
          const bar = el("span");
          const li = el(
            "li",
            {},
            el("a", {
              class: "name cell-title",
              href: `/devices/${encodeURIComponent(serials[i])}`,
              text: label(i),
            }),
            el("span", { class: "val", text: `${fmt.kwh(v)} · ${fmt.percent(v / sum)}` }),
            el("span", { class: "track" }, bar),
          );
          requestAnimationFrame(() => {
            bar.style.width = `${((v / max) * 100).toFixed(1)}%`;
          });
          return li;
        })
      : el("li", { class: "muted", text: "No meters yet." }),
  );
}

function heatmap() {
  const today = dayKey(Date.now());
  const perDay = new Map();
  for (const s of serials)
    for (const [k, v] of daily.get(s) || []) perDay.set(k, (perDay.get(k) || 0) + v);
  // 53 columns of weeks, Monday at the top, ending with the current week
  const start = bucketOf(addDays(today, -7 * 52), "week");
  const values = [...perDay.values()].filter((v) => v > 0).sort((a, b) => a - b);
  const q = (p) => values[Math.min(values.length - 1, Math.floor(p * values.length))] || 0;
  const cuts = [q(0.25), q(0.5), q(0.75)];
  const level = (v) => (!v ? 0 : v <= cuts[0] ? 1 : v <= cuts[1] ? 2 : v <= cuts[2] ? 3 : 4);
  const cell = 12;
  const gap = 2;
  const left = 26;
  const top = 16;
  const svg = el("svg", {
    class: "heat",
    viewBox: `0 0 ${left + 53 * (cell + gap)} ${top + 7 * (cell + gap)}`,
    role: "img",
    "aria-label": "Calendar of daily energy",
  });
  let col = 0;
  let lastMonth = "";
  let lastLabelCol = -9;
  for (let k = start; k <= today; k = addDays(k, 1)) {
    const d = new Date(`${k}T12:00:00Z`);
    const row = (d.getUTCDay() + 6) % 7;
    if (row === 0 && k !== start) col += 1;
    if (row === 0 && k.slice(5, 7) !== lastMonth) {
      lastMonth = k.slice(5, 7);
      if (col - lastLabelCol < 3) continue;
      lastLabelCol = col;
      svg.append(
        el(
          "text",
          { x: left + col * (cell + gap), y: 10 },
          d.toLocaleDateString(undefined, { month: "short", timeZone: "UTC" }),
        ),
      );
    }
    const v = perDay.get(k) || 0;
    const rect = el(
      "rect",
      {
        class: `day heat-l${level(v)}`,
        x: left + col * (cell + gap),
        y: top + row * (cell + gap),
        width: cell,
        height: cell,
        rx: 2.5,
      },
      el("title", {}, `${fmt.date(Date.parse(`${k}T12:00:00Z`))}: ${fmt.kwh(v)}`),
    );
    svg.append(rect);
  }
  ["Mon", "", "Wed", "", "Fri", "", ""].forEach((t, i) => {
    if (t) svg.append(el("text", { x: 0, y: top + i * (cell + gap) + 10 }, t));
  });
  fill(document.getElementById("heat"), svg);
}

let period = "day";
const select = segmented(document.getElementById("trend-seg"), (p) => {
  period = p;
  trend(p);
});
loadDaily()
  .then(() => {
    comparisons();
    topConsumers();
    heatmap();
    select(period);
  })
  .catch((err) => showError(err, "Analytics"));
