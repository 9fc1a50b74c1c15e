// /devices: search, status filter and sorting on the server-rendered rows, kept live.
import { $, $$, debounce, setValue } from "./dom.js";
import * as fmt from "./format.js";
import { on } from "./live.js";
import { toMs } from "./readings.js";

const tbody = $("#devices-table tbody");
const rows = $$("tr[data-row]");
const search = $("#search");
const status = $("#status-filter");
const sort = $("#sort");
const count = $("#device-count");
const bySerial = new Map(rows.map((r) => [r.dataset.serial, r]));

for (const row of rows) {
  if (row.dataset.power)
    setValue($('[data-field="power"]', row), fmt.watts(Number(row.dataset.power)));
  const e = $('[data-field="energy"]', row);
  if (e.dataset.initial) setValue(e, fmt.kwh(Number(e.dataset.initial)));
}

// keep the choices in the URL so a reload or a shared link shows the same list
const params = new URLSearchParams(location.search);
search.value = params.get("q") || "";
status.value = params.get("status") || "";
sort.value = params.get("sort") || "name";

function apply() {
  const q = search.value.trim().toLowerCase();
  let shown = 0;
  for (const row of rows) {
    const text = `${row.dataset.name} ${row.dataset.serial.toLowerCase()} ${row.dataset.location}`;
    const ok =
      (!q || text.includes(q)) &&
      (!status.value || (status.value === "online") === (row.dataset.online === "true"));
    row.hidden = !ok;
    if (ok) shown += 1;
  }
  const key = sort.value;
  const sorted = rows.slice().sort((a, b) => {
    if (key === "power") return (Number(b.dataset.power) || -1) - (Number(a.dataset.power) || -1);
    if (key === "seen") return Number(b.dataset.seen) - Number(a.dataset.seen);
    if (key === "serial") return a.dataset.serial.localeCompare(b.dataset.serial);
    if (key === "location")
      return (
        a.dataset.location.localeCompare(b.dataset.location) ||
        a.dataset.name.localeCompare(b.dataset.name)
      );
    return a.dataset.name.localeCompare(b.dataset.name);
  });
  tbody.append(...sorted);
  count.textContent = String(shown);
  $("#no-match").hidden = shown > 0;
  const next = new URLSearchParams();
  if (search.value) next.set("q", search.value);
  if (status.value) next.set("status", status.value);
  if (sort.value !== "name") next.set("sort", sort.value);
  history.replaceState(null, "", next.toString() ? `?${next}` : location.pathname);
}

if (tbody) {
  search.addEventListener("input", debounce(apply, 120));
  status.addEventListener("change", apply);
  sort.addEventListener("change", apply);
  $("#filters").addEventListener("submit", (e) => e.preventDefault());
  apply();

  on("reading", (r) => {
    const row = bySerial.get(r.serial);
    if (!row) return;
    row.dataset.power = String(r.power);
    row.dataset.online = "true";
    row.dataset.seen = String(toMs(r.ts) / 1000);
    setValue($('[data-field="power"]', row), fmt.watts(r.power));
    setValue($('[data-field="energy"]', row), fmt.kwh(r.energy));
    const badge = $("[data-status]", row);
    badge.className = "badge online";
    badge.textContent = "online";
    const t = $("time[data-ago]", row);
    t.setAttribute("datetime", new Date(toMs(r.ts)).toISOString());
    t.textContent = fmt.ago(toMs(r.ts));
  });
  on("status", (s) => {
    const row = bySerial.get(s.serial);
    if (!row) return;
    row.dataset.online = String(Boolean(s.online));
    const badge = $("[data-status]", row);
    badge.className = `badge ${s.online ? "online" : "offline"}`;
    badge.textContent = s.online ? "online" : "offline";
  });
}
