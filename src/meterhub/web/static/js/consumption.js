// Energy per calendar period (day/week/month) in the user's time zone: bars, totals and
// the summary table, from /api/readings/{serial}/summary.
import { api, query, showError } from "./api.js";
import { alpha, baseLayout, COLORS, draw } from "./charts.js";
import { el, fill } from "./dom.js";
import * as fmt from "./format.js";

const DAY = 86400000;
/** How far back each period looks, in days. */
export const SPANS = { day: 30, week: 7 * 16, month: 365, year: 365 * 5 };

/** Summary of one device, `period` buckets over the last SPANS[period] days. */
export function fetchSummary(serial, period, { days = SPANS[period], signal } = {}) {
  const now = Date.now();
  const q = query({
    period,
    from: fmt.localDate(now - (days - 1) * DAY),
    to: fmt.localDate(now),
    tz: fmt.timeZone,
  });
  return api(`/api/readings/${encodeURIComponent(serial)}/summary${q}`, { signal });
}

/** A label for a bucket starting at `start` (ISO with the zone's offset). */
export function bucketLabel(start, period) {
  const day = start.slice(0, 10);
  const [y, m, d] = day.split("-").map(Number);
  const utc = new Date(Date.UTC(y, m - 1, d));
  if (period === "month")
    return utc.toLocaleDateString(undefined, { month: "short", year: "numeric", timeZone: "UTC" });
  if (period === "year") return String(y);
  if (period === "week")
    return `Week of ${utc.toLocaleDateString(undefined, { day: "numeric", month: "short", timeZone: "UTC" })}`;
  return utc.toLocaleDateString(undefined, {
    weekday: "short",
    day: "numeric",
    month: "short",
    timeZone: "UTC",
  });
}

function kpi(label, text, cls = "") {
  const [value, unit] = fmt.parts(text);
  return el(
    "div",
    { class: "kpi-block" },
    el("div", { class: "kpi-label", text: label }),
    el("div", { class: `kpi-value ${cls}` }, value, el("span", { class: "unit", text: unit })),
  );
}

export class Consumption {
  constructor({ chart, totals, table, serial }) {
    Object.assign(this, { chart, totals, table, serial });
    this.period = "day";
  }

  async load(period = this.period) {
    this.period = period;
    try {
      const res = await fetchSummary(this.serial, period);
      this.render(res);
    } catch (err) {
      showError(err, "Consumption");
    }
  }

  render(res) {
    const c = COLORS();
    const buckets = res.buckets || [];
    const x = buckets.map((b) => b.start.slice(0, 10));
    const y = buckets.map((b) => b.energy_kwh);
    const labels = buckets.map((b) => bucketLabel(b.start, res.period));
    const partial = buckets.map((b) => (b.coverage ?? 1) < 0.98);
    draw(
      this.chart,
      [
        {
          x,
          y,
          type: "bar",
          customdata: labels,
          marker: {
            color: partial.map((p) => (p ? alpha(c.energy, 0.45) : c.energy)),
            line: { width: 0 },
          },
          hovertemplate: "%{customdata}<br><b>%{y:.2f} kWh</b><extra></extra>",
        },
      ],
      baseLayout({
        hovermode: "closest",
        bargap: 0.25,
        xaxis: {
          ...baseLayout().xaxis,
          type: "date",
          fixedrange: true,
          tickformat: res.period === "month" ? "%b %Y" : "%d %b",
        },
        yaxis: { ...baseLayout().yaxis, ticksuffix: " kWh", fixedrange: true },
      }),
      { displayModeBar: false, responsive: true },
    );
    this.chart.dataset.bars = String(buckets.length);
    const used = y.filter((v) => v !== null && v !== undefined);
    const avg = used.length ? used.reduce((a, b) => a + b, 0) / used.length : null;
    const peakIndex = y.indexOf(Math.max(...used));
    const noun = { day: "day", week: "week", month: "month", year: "year" }[res.period];
    fill(
      this.totals,
      kpi(`Total, last ${buckets.length} ${noun}s`, fmt.kwh(res.total_kwh)),
      kpi(`Average per ${noun}`, fmt.kwh(avg)),
      peakIndex >= 0 ? kpi(`Highest: ${labels[peakIndex]}`, fmt.kwh(y[peakIndex])) : null,
    );
    const rows = buckets
      .slice()
      .reverse()
      .map((b) =>
        el(
          "tr",
          {},
          el("td", { class: "primary", "data-label": "Period" }, bucketLabel(b.start, res.period)),
          el("td", { class: "num", "data-label": "Energy" }, fmt.kwh(b.energy_kwh)),
          el("td", { class: "num", "data-label": "Avg power" }, fmt.watts(b.avg_power_w)),
          el("td", { class: "num", "data-label": "Peak power" }, fmt.watts(b.max_power_w)),
          el("td", { class: "num", "data-label": "Min V" }, fmt.volts(b.min_voltage)),
          el("td", { class: "num", "data-label": "Max V" }, fmt.volts(b.max_voltage)),
          el("td", { class: "num", "data-label": "Coverage" }, fmt.percent(b.coverage)),
        ),
      );
    fill(
      this.table.tBodies[0],
      rows.length
        ? rows
        : el(
            "tr",
            {},
            el("td", { colspan: 7, class: "empty", text: "No readings in this period." }),
          ),
    );
  }
}
