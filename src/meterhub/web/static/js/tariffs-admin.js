// /admin/tariffs (admins): list, create from a template, edit, delete. The form builds the
// same JSON document the API takes (POST/PUT /api/tariffs); the API validates it.
import { api, showError, toast } from "./api.js";
import { confirmAction } from "./dialog.js";
import { $, $$, el, fill } from "./dom.js";

const tbody = $("#tariffs-table tbody");
const editor = $("#tariff-editor");
const form = $("#tariff-form");
const versionsBox = $("#versions");
const preview = $("#tariff-json");
const errorBox = form.querySelector("[data-error]");
let editing = null; // id of the tariff in the editor, null for a new one

const EVN_TIERS = [
  [50, 1984],
  [100, 2050],
  [200, 2380],
  [300, 2998],
  [400, 3350],
  [null, 3460],
];
const TEMPLATES = {
  evn: () => ({
    name: "EVN residential",
    currency: "VND",
    vat_percent: 8,
    timezone: "Asia/Ho_Chi_Minh",
    billing_day: 1,
    versions: [
      {
        effective_from: "2025-05-10",
        kind: "tiered",
        tiers: EVN_TIERS.map(([up, price]) => ({ up_to_kwh: up, price })),
      },
    ],
  }),
  tou: () => ({
    name: "EVN business (time of use)",
    currency: "VND",
    vat_percent: 8,
    timezone: "Asia/Ho_Chi_Minh",
    billing_day: 1,
    versions: [
      {
        effective_from: "2025-05-10",
        kind: "tou",
        default_rate: "normal",
        rates: [
          { name: "normal", price: 3152, windows: [] },
          {
            name: "peak",
            price: 5422,
            windows: [
              { days: "mon-sat", from: "09:30", to: "11:30" },
              { days: "mon-sat", from: "17:00", to: "20:00" },
            ],
          },
          {
            name: "off-peak",
            price: 1918,
            windows: [{ days: "daily", from: "22:00", to: "04:00" }],
          },
        ],
      },
    ],
  }),
  flat: () => ({
    name: "Flat rate",
    currency: "EUR",
    vat_percent: 19,
    timezone: document.body.dataset.tz || "UTC",
    billing_day: 1,
    versions: [
      {
        effective_from: new Date().toISOString().slice(0, 10),
        kind: "flat",
        price: "0.30",
        fixed_per_month: "12.00",
      },
    ],
  }),
};

// ---- the list ----
async function load() {
  try {
    const tariffs = await api("/api/tariffs");
    fill(
      tbody,
      tariffs.length
        ? tariffs.map(row)
        : el(
            "tr",
            {},
            el("td", {
              colspan: 6,
              class: "empty",
              text: "No tariffs yet. Create one from the EVN template.",
            }),
          ),
    );
  } catch (err) {
    showError(err, "Loading tariffs");
  }
}

function row(t) {
  const latest = t.versions[t.versions.length - 1];
  const button = (text, onclick, cls = "btn btn-sm") =>
    el("button", { type: "button", class: cls, onclick }, text);
  return el(
    "tr",
    { dataset: { tariff: t.name } },
    el(
      "td",
      { class: "primary" },
      el("span", { class: "cell-title", text: t.name }),
      el("span", {
        class: "cell-sub",
        text: `${t.timezone} · billing day ${t.billing_day} · ${t.versions.length} version${t.versions.length > 1 ? "s" : ""}`,
      }),
      t.is_default ? el("span", { class: "badge plain admin", text: "default" }) : null,
    ),
    el("td", { "data-label": "Kind", text: latest.kind }),
    el("td", { "data-label": "Currency", text: t.currency }),
    el("td", { class: "num", "data-label": "VAT", text: `${Number(t.vat_percent)} %` }),
    el("td", { class: "num", "data-label": "Devices", text: String(t.devices) }),
    el(
      "td",
      { class: "actions" },
      button("Edit", () => open(t)),
      button("Delete", () => remove(t), "btn btn-sm btn-ghost"),
    ),
  );
}

async function remove(t) {
  if (
    !(await confirmAction({
      title: `Delete ${t.name}?`,
      text: "Only a tariff no device uses can be deleted.",
      confirm: "Delete tariff",
    }))
  )
    return;
  try {
    await api(`/api/tariffs/${t.id}`, { method: "DELETE" });
    toast(`Deleted ${t.name}.`, "ok");
    await load();
  } catch (err) {
    showError(err, "Delete");
  }
}

// ---- the form ----
const input = (name, value, attrs = {}) => el("input", { name, value: value ?? "", ...attrs });
const field = (label, control, cls = "field") =>
  el("label", { class: cls }, el("span", { text: label }), control);

function windowsText(windows) {
  return (windows || []).map((w) => `${w.days} ${w.from}-${w.to}`).join(", ");
}

function parseWindows(text) {
  return text
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean)
    .map((part) => {
      const m = /^(\S+)\s+(\d\d:\d\d)\s*-\s*(\d\d:\d\d)$/.exec(part);
      if (!m) throw new Error(`window "${part}": write e.g. "mon-fri 09:30-11:30"`);
      return { days: m[1], from: m[2], to: m[3] };
    });
}

function tierRow(t = { up_to_kwh: "", price: "" }) {
  return el(
    "tr",
    { dataset: { tier: "" } },
    el(
      "td",
      {},
      input("up_to_kwh", t.up_to_kwh ?? "", {
        type: "number",
        min: "0",
        step: "any",
        placeholder: "no limit",
        "aria-label": "Up to kWh",
      }),
    ),
    el(
      "td",
      {},
      input("price", t.price, { type: "number", step: "any", "aria-label": "Price per kWh" }),
    ),
    el(
      "td",
      {},
      el(
        "button",
        {
          type: "button",
          class: "btn btn-sm btn-ghost",
          onclick: (e) => {
            e.target.closest("tr").remove();
            sync();
          },
        },
        "Remove",
      ),
    ),
  );
}

function rateRow(r = { name: "", price: "", windows: [] }) {
  return el(
    "tr",
    { dataset: { rate: "" } },
    el("td", {}, input("rate_name", r.name, { "aria-label": "Rate name" })),
    el(
      "td",
      {},
      input("rate_price", r.price, { type: "number", step: "any", "aria-label": "Price per kWh" }),
    ),
    el(
      "td",
      {},
      input("rate_windows", windowsText(r.windows), {
        placeholder: "mon-fri 09:30-11:30, daily 22:00-04:00",
        "aria-label": "Windows",
      }),
    ),
    el(
      "td",
      {},
      el(
        "button",
        {
          type: "button",
          class: "btn btn-sm btn-ghost",
          onclick: (e) => {
            e.target.closest("tr").remove();
            sync();
          },
        },
        "Remove",
      ),
    ),
  );
}

function versionBox(
  v = { effective_from: new Date().toISOString().slice(0, 10), kind: "tiered", tiers: [] },
) {
  const kind = el(
    "select",
    { name: "kind", "aria-label": "Kind" },
    ["flat", "tou", "tiered"].map((k) =>
      el(
        "option",
        { value: k, selected: v.kind === k },
        { flat: "Flat", tou: "Time of use", tiered: "Tiered (monthly kWh bands)" }[k],
      ),
    ),
  );
  const tiers = el("tbody", {}, (v.tiers || []).map(tierRow));
  const rates = el("tbody", {}, (v.rates || []).map(rateRow));
  const box = el(
    "fieldset",
    { class: "card version", dataset: { version: "" } },
    el("legend", { text: "Version" }),
    el(
      "div",
      { class: "form-grid" },
      field(
        "Effective from",
        input("effective_from", v.effective_from, { type: "date", required: true }),
      ),
      field("Kind", kind),
      field(
        "Fixed charge per day",
        input("fixed_per_day", v.fixed_per_day ?? 0, { type: "number", min: "0", step: "any" }),
      ),
      field(
        "Fixed charge per month",
        input("fixed_per_month", v.fixed_per_month ?? 0, { type: "number", min: "0", step: "any" }),
      ),
    ),
    el(
      "div",
      { dataset: { kind: "flat" } },
      field("Price per kWh", input("price", v.price ?? "", { type: "number", step: "any" })),
    ),
    el(
      "div",
      { dataset: { kind: "tiered" } },
      el(
        "table",
        { class: "mini" },
        el(
          "thead",
          {},
          el(
            "tr",
            {},
            el("th", { text: "Up to kWh per cycle" }),
            el("th", { text: "Price per kWh" }),
            el("th"),
          ),
        ),
        tiers,
      ),
      el(
        "button",
        {
          type: "button",
          class: "btn btn-sm",
          onclick: () => {
            tiers.append(tierRow());
            sync();
          },
        },
        "Add tier",
      ),
    ),
    el(
      "div",
      { dataset: { kind: "tou" } },
      el(
        "table",
        { class: "mini" },
        el(
          "thead",
          {},
          el(
            "tr",
            {},
            el("th", { text: "Rate" }),
            el("th", { text: "Price per kWh" }),
            el("th", { text: "Windows (local time, quarter hours)" }),
            el("th"),
          ),
        ),
        rates,
      ),
      el(
        "button",
        {
          type: "button",
          class: "btn btn-sm",
          onclick: () => {
            rates.append(rateRow());
            sync();
          },
        },
        "Add rate",
      ),
      field("Default rate (outside every window)", input("default_rate", v.default_rate ?? "")),
    ),
    el(
      "button",
      {
        type: "button",
        class: "btn btn-sm btn-ghost",
        onclick: () => {
          box.remove();
          sync();
        },
      },
      "Remove version",
    ),
  );
  return box;
}

function showKinds() {
  for (const box of $$("[data-version]", versionsBox)) {
    const kind = box.querySelector("[name=kind]").value;
    for (const part of $$("[data-kind]", box)) part.hidden = part.dataset.kind !== kind;
  }
}

const num = (text) => (text === "" ? null : text);

/** The tariff document the form describes (throws on a malformed window). */
function build() {
  const doc = {
    name: form.name.value.trim(),
    currency: form.currency.value.trim().toUpperCase(),
    vat_percent: form.vat_percent.value || 0,
    timezone: form.timezone.value.trim() || null,
    billing_day: Number(form.billing_day.value || 1),
    is_default: form.is_default.checked,
    versions: [],
  };
  for (const box of $$("[data-version]", versionsBox)) {
    const get = (name) => box.querySelector(`[name=${name}]`).value.trim();
    const v = {
      effective_from: get("effective_from"),
      kind: get("kind"),
      fixed_per_day: get("fixed_per_day") || 0,
      fixed_per_month: get("fixed_per_month") || 0,
    };
    if (v.kind === "flat") v.price = num(get("price"));
    if (v.kind === "tiered")
      v.tiers = $$("[data-tier]", box).map((r) => ({
        up_to_kwh: num(r.querySelector("[name=up_to_kwh]").value),
        price: num(r.querySelector("[name=price]").value),
      }));
    if (v.kind === "tou") {
      v.rates = $$("[data-rate]", box).map((r) => ({
        name: r.querySelector("[name=rate_name]").value.trim(),
        price: num(r.querySelector("[name=rate_price]").value),
        windows: parseWindows(r.querySelector("[name=rate_windows]").value),
      }));
      v.default_rate = get("default_rate");
    }
    doc.versions.push(v);
  }
  return doc;
}

function sync() {
  showKinds();
  try {
    preview.textContent = JSON.stringify(build(), null, 2);
  } catch (err) {
    preview.textContent = err.message;
  }
}

function setForm(doc) {
  form.name.value = doc.name || "";
  form.currency.value = doc.currency || "";
  form.vat_percent.value = doc.vat_percent ?? 0;
  form.timezone.value = doc.timezone || document.body.dataset.tz || "";
  form.billing_day.value = doc.billing_day || 1;
  form.is_default.checked = Boolean(doc.is_default);
  fill(versionsBox, (doc.versions || []).map(versionBox));
  sync();
}

function open(t) {
  editing = t ? t.id : null;
  $("#editor-title").textContent = t ? `Edit ${t.name}` : "New tariff";
  errorBox.hidden = true;
  setForm(t || TEMPLATES.evn());
  editor.hidden = false;
  editor.scrollIntoView({ behavior: "smooth", block: "start" });
  form.name.focus();
}

form.addEventListener("input", sync);
form.addEventListener("change", sync);
form.addEventListener("submit", async (event) => {
  event.preventDefault();
  errorBox.hidden = true;
  try {
    const body = build();
    const saved = await api(editing ? `/api/tariffs/${editing}` : "/api/tariffs", {
      method: editing ? "PUT" : "POST",
      body,
    });
    toast(`Saved ${saved.name}.`, "ok");
    editor.hidden = true;
    await load();
  } catch (err) {
    errorBox.textContent = err.body?.field ? `${err.message} (${err.body.field})` : err.message;
    errorBox.hidden = false;
  }
});
for (const button of $$("[data-template]")) {
  button.addEventListener("click", () => setForm(TEMPLATES[button.dataset.template]()));
}
$("#add-version").addEventListener("click", () => {
  versionsBox.append(versionBox());
  sync();
});
$("#new-tariff").addEventListener("click", () => open(null));
$("#cancel-tariff").addEventListener("click", () => {
  editor.hidden = true;
});

load();
