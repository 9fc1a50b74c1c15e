// The device history chart: one quantity at a time, presets and a custom range; zooming or
// panning asks the server for the visible window again, so detail appears as you zoom in.
import { api, query, showError } from "./api.js";
import { alpha, baseLayout, COLORS, draw, onThemeChange, plotly } from "./charts.js";
import * as fmt from "./format.js";
import { history, toMs } from "./readings.js";

export const MAX_POINTS = 2000;
const HOUR = 3600000;
export const PRESETS = {
  "1h": HOUR,
  "24h": 24 * HOUR,
  "7d": 7 * 24 * HOUR,
  "30d": 30 * 24 * HOUR,
  "1y": 365 * 24 * HOUR,
};
const UNITS = { power: "W", voltage: "V", current: "A", pf: "", frequency: "Hz" };
const LABELS = {
  power: "Power",
  voltage: "Voltage",
  current: "Current",
  pf: "Power factor",
  frequency: "Frequency",
};

function describe(resolution) {
  if (!resolution || resolution === "raw") return "every reading";
  const s = parseInt(resolution, 10);
  if (!s) return resolution;
  if (s % 86400 === 0) return `${s / 86400}-day averages`;
  if (s % 3600 === 0) return `${s / 3600}-hour averages`;
  if (s % 60 === 0) return `${s / 60}-minute averages`;
  return `${s}-second averages`;
}

export class HistoryChart {
  constructor({ node, status, overlay, serial, deviceId, onWindow }) {
    Object.assign(this, { node, status, overlay, serial, deviceId, onWindow });
    this.alerts = []; // alert markers: open from opened_at to resolved_at (or now)
    this.metric = "power";
    this.window = null; // {from, to} epoch ms, what is asked for
    this.base = null; // the preset/custom window (zoom resets to it)
    this.preset = "24h";
    this.points = [];
    this.resolution = "";
    this.abort = null;
    this.fetches = 0;
    this.ignoreRelayout = false;
    onThemeChange(() => this.render());
  }

  /** Show a preset ("1h", ...) ending now. */
  setPreset(name) {
    this.preset = name;
    const to = Date.now();
    this.base = { from: to - PRESETS[name], to };
    return this.load(this.base);
  }

  /** Show a fixed window (custom range). */
  setRange(from, to) {
    this.preset = "custom";
    this.base = { from, to };
    return this.load(this.base);
  }

  setMetric(metric) {
    this.metric = metric;
    this.render();
  }

  get zoomed() {
    return Boolean(
      this.window &&
        this.base &&
        (this.window.from !== this.base.from || this.window.to !== this.base.to),
    );
  }

  async load(win) {
    this.window = win;
    this.onWindow?.(win, this.zoomed);
    this.abort?.abort();
    const abort = new AbortController();
    this.abort = abort;
    this.status.textContent = "Loading…";
    try {
      const res = await history(this.serial, win.from, win.to, MAX_POINTS, abort.signal);
      if (abort.signal.aborted) return;
      this.fetches += 1;
      this.node.dataset.fetches = String(this.fetches);
      this.points = res.points || [];
      this.resolution = res.resolution;
      this.alerts = await this.loadAlerts(win, abort.signal);
      if (abort.signal.aborted) return;
      this.render();
    } catch (err) {
      if (err.name === "AbortError") return;
      this.status.textContent = "Could not load the history.";
      showError(err, "History");
    }
  }

  /** Alerts of this device open at some time in `win` (markers; none on failure). */
  async loadAlerts(win, signal) {
    if (!this.deviceId) return [];
    try {
      const list = await api(
        `/api/alerts${query({ device_id: this.deviceId, from: new Date(win.from).toISOString(), limit: 200 })}`,
        { signal },
      );
      return list.filter((a) => toMs(a.opened_at) < win.to);
    } catch (err) {
      if (err.name === "AbortError") throw err;
      return [];
    }
  }

  /** An alert of this device changed (live): refresh its marker. */
  updateAlert(alert) {
    this.alerts = [...this.alerts.filter((a) => a.id !== alert.id), alert];
    this.render();
  }

  /** Plotly shapes for the alerts: a band while open, a line where each opened. */
  alertShapes() {
    const red =
      getComputedStyle(document.documentElement).getPropertyValue("--danger").trim() || "#d33";
    const shapes = [];
    for (const a of this.alerts) {
      const from = Math.max(toMs(a.opened_at), this.window.from);
      const to = a.resolved_at ? toMs(a.resolved_at) : Math.max(Date.now(), from);
      shapes.push({
        type: "rect",
        xref: "x",
        yref: "paper",
        x0: fmt.wall(from),
        x1: fmt.wall(Math.min(to, this.window.to)),
        y0: 0,
        y1: 1,
        fillcolor: alpha(red, 0.1),
        line: { width: 0 },
        layer: "below",
      });
      if (toMs(a.opened_at) >= this.window.from) {
        shapes.push({
          type: "line",
          xref: "x",
          yref: "paper",
          x0: fmt.wall(from),
          x1: fmt.wall(from),
          y0: 0,
          y1: 1,
          line: { color: red, width: 1.5, dash: "dot" },
        });
      }
    }
    return shapes;
  }

  /** A live reading: extend the line when we show a window ending now. */
  push(reading) {
    if (!this.base || this.preset === "custom" || this.zoomed) return;
    const t = toMs(reading.ts);
    if (t < this.window.to) return;
    this.points.push({ ts: reading.ts, ...reading });
    const span = PRESETS[this.preset];
    this.window = { from: t - span, to: t + 1 };
    this.base = this.window;
    const first = toMs(this.points[0].ts);
    if (first < this.window.from)
      this.points = this.points.filter((p) => toMs(p.ts) >= this.window.from);
    this.render();
  }

  render() {
    if (!this.window) return;
    const c = COLORS();
    const m = this.metric;
    const color = c[m] || c.power;
    const x = this.points.map((p) => fmt.wall(toMs(p.ts)));
    const traces = [];
    const lo = this.points.map((p) => p[`${m}_min`]);
    const hi = this.points.map((p) => p[`${m}_max`]);
    const hasLo = lo.some((v) => v !== undefined && v !== null);
    const hasHi = hi.some((v) => v !== undefined && v !== null);
    const unit = UNITS[m];
    const suffix = unit ? ` ${unit}` : "";
    const fmtString = { current: ".3f", pf: ".2f", power: ".1f", voltage: ".1f", frequency: ".2f" }[
      m
    ];
    if (hasLo && hasHi) {
      traces.push({
        x,
        y: hi,
        type: "scatter",
        mode: "lines",
        line: { width: 0 },
        hoverinfo: "skip",
        name: "max",
      });
      traces.push({
        x,
        y: lo,
        type: "scatter",
        mode: "lines",
        line: { width: 0 },
        fill: "tonexty",
        fillcolor: alpha(color, 0.18),
        hoverinfo: "skip",
        name: "min",
      });
    } else if (hasHi) {
      traces.push({
        x,
        y: hi,
        type: "scatter",
        mode: "lines",
        line: { width: 1, dash: "dot", color: alpha(color, 0.6) },
        name: "max",
        hovertemplate: `max %{y:${fmtString}}${suffix}<extra></extra>`,
      });
    }
    traces.push({
      x,
      y: this.points.map((p) => p[m]),
      type: "scatter",
      mode: "lines",
      line: { width: 2, color, shape: "linear" },
      name: LABELS[m],
      connectgaps: false,
      fill: m === "power" && !hasLo ? "tozeroy" : "none",
      fillcolor: alpha(color, 0.12),
      hovertemplate: `%{y:${fmtString}}${suffix}<extra></extra>`,
    });
    const layout = baseLayout({
      uirevision: `${this.serial}:${this.base ? this.base.from : 0}`,
      xaxis: {
        ...baseLayout().xaxis,
        range: [fmt.wall(this.window.from), fmt.wall(this.window.to)],
        autorange: false,
      },
      yaxis: {
        ...baseLayout().yaxis,
        ticksuffix: suffix,
        rangemode: m === "power" || m === "current" ? "tozero" : "normal",
        fixedrange: true,
      },
      shapes: this.alertShapes(),
    });
    this.node.dataset.alerts = String(this.alerts.length);
    this.ignoreRelayout = true;
    draw(this.node, traces, layout).then(() => {
      this.ignoreRelayout = false;
      if (!this.listening) this.listen();
    });
    const n = this.points.length;
    this.overlay.hidden = n > 0;
    this.overlay.textContent = n ? "" : "No readings in this period";
    this.status.textContent = n
      ? `${fmt.dateTime(this.window.from)} – ${fmt.dateTime(this.window.to)} · ${n.toLocaleString()} points, ${describe(this.resolution)}`
      : `${fmt.dateTime(this.window.from)} – ${fmt.dateTime(this.window.to)} · no data`;
    this.node.dataset.points = String(n);
    this.node.dataset.resolution = this.resolution || "";
  }

  listen() {
    this.listening = true;
    let timer = 0;
    this.node.on("plotly_relayout", (ev) => {
      if (this.ignoreRelayout) return;
      let from;
      let to;
      if (ev["xaxis.range[0]"] !== undefined) {
        from = fmt.fromWall(ev["xaxis.range[0]"]);
        to = fmt.fromWall(ev["xaxis.range[1]"]);
      } else if (Array.isArray(ev["xaxis.range"])) {
        [from, to] = ev["xaxis.range"].map(fmt.fromWall);
      } else if (ev["xaxis.autorange"]) {
        clearTimeout(timer);
        this.load(this.base);
        return;
      } else {
        return;
      }
      if (!(to > from)) return;
      clearTimeout(timer);
      timer = setTimeout(() => this.load({ from: Math.round(from), to: Math.round(to) }), 250);
    });
  }

  resetZoom() {
    if (this.base) this.load(this.base);
  }

  resize() {
    plotly().Plots.resize(this.node);
  }
}
