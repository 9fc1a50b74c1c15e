// /devices/{serial}: the cost card. The current or last bill as a table (a line per tier,
// rate or fixed charge, then subtotal, VAT and total) and the cost per day as bars;
// admins pick the device's tariff here.
import { api, query, showError, toast } from "./api.js";
import { baseLayout, COLORS, draw } from "./charts.js";
import { $, el, fill, segmented } from "./dom.js";
import { money, previousCycle } from "./money.js";

const card = document.getElementById("cost");
const root = document.getElementById("device");
const serial = encodeURIComponent(root.dataset.serial);
const sub = $("#cost-sub");
const body = $("#cost-body");
const select = $("#tariff-select");
let current = null; // the current bill, once loaded
let which = "current";

function renderBill(bill) {
  const m = (x) => money(x, bill.currency);
  const qty = (line) =>
    line.unit === "kWh"
      ? `${line.quantity} kWh`
      : line.unit === "day"
        ? `${line.quantity} days`
        : `${line.quantity} month`;
  fill(
    $("#bill-table tbody"),
    bill.lines.length
      ? bill.lines.map((line) =>
          el(
            "tr",
            { dataset: { kind: line.kind } },
            el("td", { text: line.label }),
            el("td", { class: "num", text: qty(line) }),
            el("td", { class: "num", text: m(line.price) }),
            el("td", { class: "num", text: m(line.amount) }),
          ),
        )
      : el(
          "tr",
          {},
          el("td", { colspan: 4, class: "empty", text: "No energy used in this cycle yet." }),
        ),
  );
  const foot = (label, value, cls = "") =>
    el(
      "tr",
      { class: cls },
      el("td", { colspan: 3, text: label }),
      el("td", { class: "num", text: value }),
    );
  fill(
    $("#bill-table tfoot"),
    foot(`Energy: ${bill.energy_kwh.toLocaleString()} kWh`, ""),
    foot("Subtotal", m(bill.subtotal)),
    foot(`VAT ${Number(bill.vat_percent)} %`, m(bill.vat)),
    foot("Total", m(bill.total), "total"),
  );
  const state = bill.complete ? "" : " (so far)";
  sub.textContent = `${bill.tariff} · cycle ${bill.first_day} to ${bill.last_day}${state}`;
  $("#bill-table").dataset.total = bill.total;
}

function noTariff() {
  body.hidden = true;
  sub.textContent = "No tariff: this device has none and no default tariff is set.";
}

async function loadBill() {
  if (!card.dataset.hasTariff) {
    noTariff();
    return;
  }
  try {
    if (!current || which === "current") current = await api(`/api/readings/${serial}/bill`);
    const bill =
      which === "current"
        ? current
        : await api(
            `/api/readings/${serial}/bill${query({ cycle: previousCycle(current.cycle) })}`,
          );
    body.hidden = false;
    renderBill(bill);
    await loadDays(bill.currency);
  } catch (err) {
    if (err.status === 409) {
      noTariff();
      return;
    }
    showError(err, "Bill");
  }
}

async function loadDays(currency) {
  const res = await api(`/api/readings/${serial}/cost${query({ period: "day" })}`);
  const c = COLORS();
  draw(
    $("#cost-chart"),
    [
      {
        x: res.buckets.map((b) => b.start.slice(0, 10)),
        y: res.buckets.map((b) => Number(b.total)),
        type: "bar",
        marker: { color: c.energy, line: { width: 0 } },
        customdata: res.buckets.map((b) => [money(b.total, currency), b.energy_kwh]),
        hovertemplate:
          "%{x|%d %b}<br><b>%{customdata[0]}</b> · %{customdata[1]:.2f} kWh<extra></extra>",
      },
    ],
    baseLayout({
      hovermode: "closest",
      bargap: 0.25,
      xaxis: { ...baseLayout().xaxis, type: "date", fixedrange: true, tickformat: "%d %b" },
      yaxis: { ...baseLayout().yaxis, fixedrange: true },
    }),
    { displayModeBar: false, responsive: true },
  );
  $("#cost-chart").dataset.bars = String(res.buckets.length);
}

async function loadTariffs() {
  if (!select) return;
  try {
    const tariffs = await api("/api/tariffs");
    fill(
      select,
      el("option", { value: "" }, "Default tariff"),
      tariffs.map((t) =>
        el(
          "option",
          { value: t.id, selected: String(t.id) === card.dataset.tariffId },
          `${t.name} (${t.currency})`,
        ),
      ),
    );
  } catch (err) {
    showError(err, "Tariffs");
  }
}

if (select) {
  select.addEventListener("change", async () => {
    const tariffId = select.value ? Number(select.value) : null;
    try {
      await api(`/api/devices/${root.dataset.deviceId}`, {
        method: "PUT",
        body: { tariff_id: tariffId },
      });
      card.dataset.tariffId = select.value;
      card.dataset.hasTariff = "true"; // the one chosen, or the default (a 409 says if none)
      toast("Tariff saved; costs recomputed.", "ok");
      current = null;
      await loadBill();
    } catch (err) {
      showError(err, "Tariff");
    }
  });
}
segmented($("#bill-seg"), (value) => {
  which = value;
  loadBill();
});
loadTariffs();
loadBill();
