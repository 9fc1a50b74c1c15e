// plotly.js figures themed from the stylesheet's colours (light and dark follow the system).
// plotly itself is loaded by a classic <script defer> before the page module.

const dark = window.matchMedia("(prefers-color-scheme: dark)");
const css = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();

export const COLORS = () => ({
  power: css("--power"),
  voltage: css("--voltage"),
  current: css("--current"),
  pf: css("--pf"),
  frequency: css("--frequency"),
  energy: css("--energy"),
  text: css("--text"),
  muted: css("--muted"),
  grid: css("--border"),
  surface: css("--surface"),
});

export function plotly() {
  if (!window.Plotly) throw new Error("plotly.js did not load");
  return window.Plotly;
}

/** Base layout: transparent, system font, quiet grid. */
export function baseLayout(extra = {}) {
  const c = COLORS();
  const axis = {
    gridcolor: c.grid,
    linecolor: c.grid,
    zerolinecolor: c.grid,
    tickfont: { color: c.muted },
    automargin: true,
  };
  return {
    paper_bgcolor: "rgba(0,0,0,0)",
    plot_bgcolor: "rgba(0,0,0,0)",
    font: { family: getComputedStyle(document.body).fontFamily, color: c.text, size: 12 },
    margin: { l: 8, r: 8, t: 8, b: 8 },
    showlegend: false,
    hovermode: "x unified",
    hoverlabel: { bgcolor: c.surface, bordercolor: c.grid, font: { color: c.text } },
    xaxis: { ...axis, type: "date" },
    yaxis: { ...axis, rangemode: "tozero" },
    dragmode: "zoom",
    modebar: { bgcolor: "rgba(0,0,0,0)", color: c.muted, activecolor: css("--accent") },
    ...extra,
  };
}

export const CONFIG = {
  displaylogo: false,
  responsive: true,
  scrollZoom: false,
  modeBarButtonsToRemove: [
    "lasso2d",
    "select2d",
    "autoScale2d",
    "toggleSpikelines",
    "hoverCompareCartesian",
    "hoverClosestCartesian",
  ],
  toImageButtonOptions: { format: "png", scale: 2 },
};

/** Draw (or redraw in place) a figure. */
export function draw(node, traces, layout, config = CONFIG) {
  return plotly().react(node, traces, layout, config);
}

/** Call fn when the colour scheme changes (to re-theme figures). */
export function onThemeChange(fn) {
  dark.addEventListener("change", fn);
}

/** A translucent version of a CSS colour (hex or rgb). */
export function alpha(color, a) {
  const m = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(color);
  if (!m) return color;
  return `rgba(${parseInt(m[1], 16)},${parseInt(m[2], 16)},${parseInt(m[3], 16)},${a})`;
}
