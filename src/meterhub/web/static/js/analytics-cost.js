// /analytics: cost trend (per billing cycle, stacked by meter) and cost by meter, from each
// meter's /cost?period=month. Meters without a tariff (`priced` false) are left out, and
// not asked for (the answer would be a 409); when meters bill in
// several currencies, the first meter's currency is shown.
import { api, query, showError } from "./api.js";
import { baseLayout, draw } from "./charts.js";
import { money } from "./money.js";

const root = document.getElementById("analytics");
const meters = JSON.parse(root.dataset.meters || "[]");
const PALETTE = ["#0d9488", "#2563eb", "#d97706", "#7c3aed", "#db2777", "#65a30d", "#64748b"];

async function load() {
  const found = [];
  await Promise.all(
    meters
      .filter((m) => m.priced)
      .map(async (m) => {
        try {
          const res = await api(
            `/api/readings/${encodeURIComponent(m.serial)}/cost${query({ period: "month" })}`,
          );
          found.push({ meter: m, res });
        } catch (err) {
          if (err.status !== 409) showError(err, m.name);
        }
      }),
  );
  if (!found.length) return;
  found.sort((a, b) => meters.indexOf(a.meter) - meters.indexOf(b.meter));
  const currency = found[0].res.currency;
  const shown = found.filter((f) => f.res.currency === currency);
  document.getElementById("cost-section").hidden = false;
  document.getElementById("cost-trend-sub").textContent =
    `Per billing cycle, stacked by meter, ${currency}, VAT included`;
  draw(
    document.getElementById("cost-trend-chart"),
    shown.map((f, i) => ({
      name: f.meter.name,
      type: "bar",
      marker: { color: PALETTE[i % PALETTE.length] },
      x: f.res.buckets.map((b) => b.start.slice(0, 7)),
      y: f.res.buckets.map((b) => Number(b.total)),
      customdata: f.res.buckets.map((b) => money(b.total, currency)),
      hovertemplate: `${f.meter.name}: %{customdata}<extra></extra>`,
    })),
    baseLayout({
      barmode: "stack",
      showlegend: shown.length > 1,
      legend: { orientation: "h" },
      hovermode: "x unified",
      xaxis: { ...baseLayout().xaxis, type: "category" },
      yaxis: { ...baseLayout().yaxis, fixedrange: true },
    }),
    { displayModeBar: false, responsive: true },
  );
  const totals = shown.map((f) => Number(f.res.total));
  draw(
    document.getElementById("cost-device-chart"),
    [
      {
        type: "bar",
        orientation: "h",
        x: totals,
        y: shown.map((f) => f.meter.name),
        marker: { color: shown.map((_, i) => PALETTE[i % PALETTE.length]) },
        customdata: shown.map((f) => money(f.res.total, currency)),
        hovertemplate: "%{y}: %{customdata}<extra></extra>",
      },
    ],
    baseLayout({
      hovermode: "closest",
      xaxis: { ...baseLayout().xaxis, type: "linear" },
      yaxis: { ...baseLayout().yaxis, type: "category", automargin: true },
    }),
    { displayModeBar: false, responsive: true },
  );
  document.getElementById("cost-trend-chart").dataset.meters = String(shown.length);
}

load();
