// Reading helpers shared by pages: the latest values of a device, short histories, and a
// tiny SVG sparkline (no plotly needed on the overview).
import { api, query } from "./api.js";

/** The latest reading of `serial`, or null when it has none yet. */
export async function latest(serial) {
  try {
    const res = await api(`/api/readings/${encodeURIComponent(serial)}/latest`);
    if (!res) return null;
    return res.point || res.reading || res;
  } catch (err) {
    if (err.status === 404) return null;
    throw err;
  }
}

/** Points of `serial` between two instants (epoch ms), at most maxPoints (server downsamples). */
export async function history(serial, from, to, maxPoints = 2000, signal) {
  const q = query({
    from: new Date(from).toISOString(),
    to: new Date(to).toISOString(),
    max_points: maxPoints,
  });
  return api(`/api/readings/${encodeURIComponent(serial)}${q}`, { signal });
}

/** A sparkline that keeps `windowMs` of points; call push(t, v) for live ones. */
export class Sparkline {
  constructor(svg, windowMs = 3600000) {
    this.svg = svg;
    this.windowMs = windowMs;
    this.points = [];
  }
  set(points) {
    this.points = points.slice();
    this.draw();
  }
  push(t, v) {
    if (v === null || v === undefined) return;
    const last = this.points[this.points.length - 1];
    if (last && t <= last[0]) return;
    this.points.push([t, v]);
    this.draw();
  }
  draw() {
    const now = Date.now();
    const start = now - this.windowMs;
    this.points = this.points.filter((p) => p[0] >= start);
    const [area, line] = this.svg.querySelectorAll("path");
    if (this.points.length < 2) {
      area.setAttribute("d", "");
      line.setAttribute("d", "");
      return;
    }
    const max = Math.max(...this.points.map((p) => p[1]), 1) * 1.1;
    const xy = this.points.map(([t, v]) => [
      ((t - start) / this.windowMs) * 100,
      40 - (v / max) * 38,
    ]);
    const d = xy.map(([x, y], i) => `${i ? "L" : "M"}${x.toFixed(2)},${y.toFixed(2)}`).join("");
    line.setAttribute("d", d);
    area.setAttribute("d", `${d}L${xy[xy.length - 1][0].toFixed(2)},40L${xy[0][0].toFixed(2)},40Z`);
  }
}

/** Epoch ms of an API time (ISO string or epoch seconds/ms). */
export function toMs(ts) {
  if (typeof ts === "number") return ts > 1e12 ? ts : ts * 1000;
  return Date.parse(ts);
}

/** True when `r` is not older than the last reading shown for `state`, which remembers
 * it: a slow REST answer must never overwrite a newer value that arrived live. */
export function isNewer(state, r) {
  if (!r?.ts) return true;
  const ms = toMs(r.ts);
  if (state.shownTs && ms < state.shownTs) return false;
  state.shownTs = ms;
  return true;
}
