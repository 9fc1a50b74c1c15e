// /admin/integrations: Home Assistant discovery status; Emoncms targets (add, edit, pause, delete).
import { api, showError, toast } from "./api.js";
import { confirmAction, formDialog } from "./dialog.js";
import { $, el, fill } from "./dom.js";
import * as fmt from "./format.js";

let targets = [];
let current = null;
const button = (text, onclick, cls = "btn btn-sm") =>
  el("button", { type: "button", class: cls, onclick }, text);
const when = (iso) =>
  iso ? el("time", { datetime: iso, title: fmt.dateTime(Date.parse(iso)) }, fmt.ago(iso)) : "never";

async function load() {
  try {
    const data = await api("/api/integrations");
    renderHa(data.home_assistant);
    targets = data.emoncms;
    renderTargets();
  } catch (err) {
    showError(err, "Loading integrations");
  }
}

function renderHa(ha) {
  const state = $("#ha-state");
  state.textContent = ha.enabled ? "on" : "off";
  state.className = `badge ${ha.enabled ? "online" : "offline"}`;
  $("#ha-hint").hidden = ha.enabled;
  const row = (k, v) => [el("dt", { text: k }), el("dd", {}, el("code", { text: v }))];
  fill(
    $("#ha-details"),
    row("Discovery prefix", ha.prefix),
    row("Home Assistant status", ha.status_topic),
    row("States", ha.state_topic_pattern),
    row("Availability", ha.availability_topic_pattern),
  );
}

function status(t) {
  if (!t.enabled) return el("span", { class: "badge offline", text: "paused" });
  if (t.last_error)
    return el("span", { class: "badge warn", title: t.last_error, text: "retrying" });
  if (t.behind_devices)
    return el("span", { class: "badge pending", text: `${t.behind_devices} behind` });
  return el("span", { class: "badge online", text: t.last_success_at ? "up to date" : "waiting" });
}

function renderTargets() {
  fill(
    $("#targets-table tbody"),
    targets.length
      ? targets.map((t) =>
          el(
            "tr",
            { dataset: { target: t.name } },
            el(
              "td",
              { class: "primary" },
              el("span", { class: "cell-title", text: t.name }),
              el("span", { class: "cell-sub mono", text: t.base_url }),
              el("span", {
                class: "cell-sub",
                dataset: { key: t.api_key },
                text:
                  t.api_key === "set" ? "API key set" : "API key unreadable: enter it again (Edit)",
              }),
            ),
            el(
              "td",
              { "data-label": "Meters" },
              t.device_serial ? el("span", { class: "mono", text: t.device_serial }) : "all",
            ),
            el("td", { class: "num", "data-label": "Forwarded" }, fmt.plain(t.forwarded)),
            el("td", { "data-label": "Last delivery" }, when(t.last_success_at)),
            el(
              "td",
              { "data-label": "Status" },
              status(t),
              t.last_error ? el("span", { class: "cell-sub", text: t.last_error }) : null,
            ),
            el(
              "td",
              { class: "actions" },
              button("Edit", () => openEdit(t)),
              button(t.enabled ? "Pause" : "Resume", () => toggle(t)),
              button("Delete", () => remove(t), "btn btn-sm btn-ghost"),
            ),
          ),
        )
      : el("tr", {}, el("td", { colspan: 6, class: "empty", text: "No Emoncms target yet." })),
  );
}

const dialog = $("#target-dialog");
const targetForm = formDialog(dialog, async (form) => {
  const body = { name: form.name.value.trim(), base_url: form.base_url.value.trim() };
  const key = form.api_key.value.trim();
  if (current) {
    if (key) body.api_key = key;
    await api(`/api/integrations/emoncms/${current.id}`, { method: "PUT", body });
    toast(`Saved ${body.name}.`, "ok");
  } else {
    if (!key) throw new Error("Enter the Emoncms write API key.");
    body.api_key = key;
    if (form.device_serial.value) body.device_serial = form.device_serial.value;
    await api("/api/integrations/emoncms", { method: "POST", body });
    toast(`Forwarding to ${body.name} from now on.`, "ok");
  }
  await load();
});

async function openEdit(t) {
  current = t;
  const f = targetForm.form;
  f.reset();
  $("#target-dialog-title").textContent = t ? `Edit ${t.name}` : "Add Emoncms target";
  f.device_serial.disabled = Boolean(t);
  f.querySelector("[data-key-hint]").textContent = t
    ? "Leave empty to keep the stored key."
    : "Emoncms → My Account → Read & Write API key";
  if (t) {
    f.name.value = t.name;
    f.base_url.value = t.base_url;
    fill(
      f.device_serial,
      el("option", { value: "", text: t.device_serial || "All active meters" }),
    );
  } else {
    try {
      const devices = (await api("/api/devices")).filter((d) => d.status === "active");
      fill(
        f.device_serial,
        el("option", { value: "", text: "All active meters" }),
        devices.map((d) =>
          el("option", {
            value: d.serial_number,
            text: `${d.name || d.serial_number} (${d.serial_number})`,
          }),
        ),
      );
    } catch (err) {
      showError(err, "Loading meters");
    }
  }
  targetForm.open();
}
$("#new-target").addEventListener("click", () => openEdit(null));

async function toggle(t) {
  try {
    await api(`/api/integrations/emoncms/${t.id}`, {
      method: "PUT",
      body: { enabled: !t.enabled },
    });
    toast(`${t.name} ${t.enabled ? "paused" : "resumed"}.`, "ok");
    await load();
  } catch (err) {
    showError(err, "Change target");
  }
}

async function remove(t) {
  if (
    !(await confirmAction({
      title: `Delete ${t.name}?`,
      text: "Forwarding stops and its progress is forgotten; data already in Emoncms stays there.",
      confirm: "Delete target",
    }))
  )
    return;
  try {
    await api(`/api/integrations/emoncms/${t.id}`, { method: "DELETE" });
    toast(`Deleted ${t.name}.`, "ok");
    await load();
  } catch (err) {
    showError(err, "Delete");
  }
}

$("#reload-targets").addEventListener("click", load);
load();
