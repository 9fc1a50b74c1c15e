// Numbers with units and sensible precision; times in the user's zone.

const TZ = document.body.dataset.tz || Intl.DateTimeFormat().resolvedOptions().timeZone;
export const timeZone = TZ;
const LOCALE = undefined; // the browser's

const nf = new Map();
function number(value, digits) {
  if (!nf.has(digits)) {
    nf.set(
      digits,
      new Intl.NumberFormat(LOCALE, {
        minimumFractionDigits: digits,
        maximumFractionDigits: digits,
      }),
    );
  }
  return nf.get(digits).format(value);
}
const missing = (v) => v === null || v === undefined || Number.isNaN(v);

export const DASH = "–";
export const volts = (v) => (missing(v) ? DASH : `${number(v, 1)} V`);
export const amps = (v) => (missing(v) ? DASH : `${number(v, Math.abs(v) < 10 ? 3 : 2)} A`);
export const hertz = (v) => (missing(v) ? DASH : `${number(v, 1)} Hz`);
export const pf = (v) => (missing(v) ? DASH : number(v, 2));
export function watts(v) {
  if (missing(v)) return DASH;
  if (Math.abs(v) >= 10000) return `${number(v / 1000, 2)} kW`;
  return `${number(v, Math.abs(v) < 100 ? 1 : 0)} W`;
}
export function kwh(v) {
  if (missing(v)) return DASH;
  if (Math.abs(v) >= 10000) return `${number(v / 1000, 2)} MWh`;
  return `${number(v, Math.abs(v) < 100 ? 3 : 2)} kWh`;
}
/** Split "123.4 W" into value and unit, for big numbers with small units. */
export function parts(text) {
  const i = text.lastIndexOf(" ");
  return i < 0 ? [text, ""] : [text.slice(0, i), text.slice(i + 1)];
}
export const percent = (v, digits = 0) => (missing(v) ? DASH : `${number(v * 100, digits)} %`);
export const plain = (v, digits = 0) => (missing(v) ? DASH : number(v, digits));

/** Format per metric name as used by the API. */
export const byMetric = {
  voltage: volts,
  current: amps,
  power: watts,
  energy: kwh,
  frequency: hertz,
  pf,
};

const rtf = new Intl.RelativeTimeFormat(LOCALE, { numeric: "auto" });
/** "12 s ago", "3 min ago", "yesterday"... for an ISO time or epoch ms. */
export function ago(when, now = Date.now()) {
  if (!when) return "never";
  const t = typeof when === "number" ? when : Date.parse(when);
  if (Number.isNaN(t)) return DASH;
  const s = Math.round((t - now) / 1000);
  const a = Math.abs(s);
  if (a < 5) return "just now";
  if (a < 60) return rtf.format(s, "second");
  if (a < 3600) return rtf.format(Math.round(s / 60), "minute");
  if (a < 86400) return rtf.format(Math.round(s / 3600), "hour");
  if (a < 86400 * 30) return rtf.format(Math.round(s / 86400), "day");
  return dateTime(t);
}

const dtf = new Intl.DateTimeFormat(LOCALE, {
  timeZone: TZ,
  dateStyle: "medium",
  timeStyle: "short",
});
const df = new Intl.DateTimeFormat(LOCALE, { timeZone: TZ, dateStyle: "medium" });
export const dateTime = (t) => dtf.format(new Date(t));
export const date = (t) => df.format(new Date(t));

/** The offset (minutes east of UTC) of the user's zone at instant `t`. */
export function zoneOffset(t) {
  const d = new Date(t);
  const p = Object.fromEntries(
    new Intl.DateTimeFormat("en-US", {
      timeZone: TZ,
      hourCycle: "h23",
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit",
    })
      .formatToParts(d)
      .map((x) => [x.type, x.value]),
  );
  const asUtc = Date.UTC(+p.year, +p.month - 1, +p.day, +p.hour, +p.minute, +p.second);
  return Math.round((asUtc - (d.getTime() - d.getMilliseconds())) / 60000);
}

/** Wall-clock "YYYY-MM-DDTHH:MM" in the user's zone (for datetime-local inputs and charts). */
export function localIso(t) {
  const shifted = new Date(t + zoneOffset(t) * 60000);
  return shifted.toISOString().slice(0, 16);
}
/** Inverse of localIso: a wall-clock string in the user's zone -> epoch ms. */
export function fromLocalIso(text) {
  const guess = Date.parse(`${text}:00Z`);
  if (Number.isNaN(guess)) return NaN;
  let t = guess - zoneOffset(guess) * 60000;
  t = guess - zoneOffset(t) * 60000; // settle across DST changes
  return t;
}
/** "YYYY-MM-DD" of instant t in the user's zone. */
export const localDate = (t) => localIso(t).slice(0, 10);

const offsetCache = new Map();
/** "YYYY-MM-DD HH:MM:SS" wall clock in the user's zone: what plotly's date axes expect. */
export function wall(t) {
  const hour = Math.floor(t / 3600000);
  let off = offsetCache.get(hour);
  if (off === undefined) {
    off = zoneOffset(t);
    if (offsetCache.size > 20000) offsetCache.clear();
    offsetCache.set(hour, off);
  }
  return new Date(t + off * 60000).toISOString().slice(0, 19).replace("T", " ");
}
/** Inverse of wall() for plotly's range strings ("2026-01-02 03:04:05.678"). */
export function fromWall(text) {
  const norm = String(text).replace(" ", "T");
  const guess = Date.parse(/[zZ]|[+-]\d\d:?\d\d$/.test(norm) ? norm : `${norm}Z`);
  if (Number.isNaN(guess)) return NaN;
  let t = guess - zoneOffset(guess) * 60000;
  t = guess - zoneOffset(t) * 60000;
  return t;
}
