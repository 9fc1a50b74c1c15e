// /admin/devices: add, edit, delete, assign, approve pending meters, see dead letters.
import { api, showError, toast } from "./api.js";
import { confirmAction, formDialog } from "./dialog.js";
import { $, debounce, el, fill } from "./dom.js";
import * as fmt from "./format.js";

let devices = [];
let users = [];
let current = null;
const button = (text, onclick, cls = "btn btn-sm") =>
  el("button", { type: "button", class: cls, onclick }, text);
const when = (iso) =>
  iso
    ? el(
        "time",
        { "data-ago": "", datetime: iso, title: fmt.dateTime(Date.parse(iso)) },
        fmt.ago(iso),
      )
    : "never";

async function load() {
  try {
    [devices, users] = await Promise.all([api("/api/devices"), api("/api/users")]);
    render();
  } catch (err) {
    showError(err, "Loading devices");
  }
}

function render() {
  const pending = devices.filter((d) => d.status === "pending");
  $("#pending-card").hidden = pending.length === 0;
  $("#pending-count").textContent = String(pending.length);
  fill(
    $("#pending-table tbody"),
    pending.map((d) =>
      el(
        "tr",
        { dataset: { serial: d.serial_number } },
        el(
          "td",
          { class: "primary" },
          el("span", { class: "cell-title mono", text: d.serial_number }),
        ),
        el("td", { "data-label": "Last seen" }, when(d.last_seen)),
        el(
          "td",
          { class: "actions" },
          button("Approve", () => approve(d), "btn btn-sm btn-primary"),
          button("Delete", () => remove(d), "btn btn-sm btn-ghost"),
        ),
      ),
    ),
  );

  const q = $("#device-filter").value.trim().toLowerCase();
  const active = devices.filter(
    (d) =>
      d.status !== "pending" &&
      (!q || `${d.serial_number} ${d.name || ""} ${d.location || ""}`.toLowerCase().includes(q)),
  );
  fill(
    $("#registry-table tbody"),
    active.length
      ? active.map((d) =>
          el(
            "tr",
            { dataset: { serial: d.serial_number } },
            el(
              "td",
              { class: "primary" },
              el("a", {
                class: "cell-title",
                href: `/devices/${encodeURIComponent(d.serial_number)}`,
                text: d.name || d.serial_number,
              }),
              el("span", { class: "cell-sub mono", text: d.serial_number }),
            ),
            el("td", { "data-label": "Location" }, d.location || "–"),
            el(
              "td",
              { "data-label": "Status" },
              el("span", {
                class: `badge ${d.online ? "online" : "offline"}`,
                text: d.online ? "online" : "offline",
              }),
            ),
            el(
              "td",
              { "data-label": "Users" },
              d.assigned_users.length
                ? d.assigned_users.map((u) => u.username).join(", ")
                : el("span", { class: "muted", text: "admins only" }),
            ),
            el("td", { "data-label": "Firmware" }, d.firmware_version || "–"),
            el(
              "td",
              { class: "actions" },
              button("Edit", () => openEdit(d)),
              button("Users", () => openAssign(d)),
              button("Credentials", () => issueCredentials(d)),
              button("Delete", () => remove(d), "btn btn-sm btn-ghost"),
            ),
          ),
        )
      : el(
          "tr",
          {},
          el("td", {
            colspan: 6,
            class: "empty",
            text: q
              ? "No device matches."
              : "No devices yet: add one, or let a meter publish and approve it above.",
          }),
        ),
  );
}
$("#device-filter").addEventListener("input", debounce(render, 120));

// ---- add / edit ----
const deviceDialog = $("#device-dialog");
const deviceForm = formDialog(deviceDialog, async (form) => {
  const body = {
    serial_number: form.serial_number.value.trim(),
    name: form.name.value.trim() || null,
    location: form.location.value.trim() || null,
    description: form.description.value.trim() || null,
    protocol: form.protocol.value,
  };
  // The pattern attribute is the server's serial rule (one source); anchor it as browsers do.
  const serialField = form.serial_number;
  if (!new RegExp(`^(?:${serialField.pattern})$`, "v").test(body.serial_number))
    throw new Error(`The serial number must be ${serialField.title}`);
  if (current) {
    await api(`/api/devices/${current.id}`, { method: "PUT", body });
    toast(`Saved ${body.serial_number}.`, "ok");
  } else {
    await api("/api/devices", { method: "POST", body });
    toast(`Added ${body.serial_number}.`, "ok");
  }
  await load();
});
function openEdit(d) {
  current = d;
  const f = deviceForm.form;
  f.reset();
  $("#device-dialog-title").textContent = d ? `Edit ${d.name || d.serial_number}` : "Add device";
  if (d) {
    f.serial_number.value = d.serial_number;
    f.name.value = d.name || "";
    f.location.value = d.location || "";
    f.description.value = d.description || "";
    f.protocol.value = d.protocol || "meterhub";
  }
  deviceForm.open();
}
$("#new-device").addEventListener("click", () => openEdit(null));

// ---- assign ----
const assignDialog = $("#assign-dialog");
const assignForm = formDialog(assignDialog, async (form) => {
  const want = new Set(
    Array.from(form.querySelectorAll("input[name=user]:checked"), (i) => Number(i.value)),
  );
  const have = new Set(current.assigned_users.map((u) => u.id));
  for (const id of want)
    if (!have.has(id))
      await api(`/api/devices/${current.id}/assign`, { method: "POST", body: { user_id: id } });
  for (const id of have)
    if (!want.has(id)) await api(`/api/devices/${current.id}/assign/${id}`, { method: "DELETE" });
  toast(`Access to ${current.serial_number} saved.`, "ok");
  await load();
});
function openAssign(d) {
  current = d;
  assignDialog.querySelector("[data-who]").textContent =
    `${d.name || d.serial_number}: admins always see it; tick the users who should too.`;
  const have = new Set(d.assigned_users.map((u) => u.id));
  const plain = users.filter((u) => u.role !== "admin");
  fill(
    $("#assign-list"),
    el("legend", { class: "sr-only", text: "Users" }),
    plain.length
      ? plain.map((u) =>
          el(
            "label",
            {},
            el("input", { type: "checkbox", name: "user", value: u.id, checked: have.has(u.id) }),
            el(
              "span",
              {},
              u.full_name || u.username,
              el("span", { class: "cell-sub", text: u.username }),
            ),
          ),
        )
      : el("p", { class: "muted", text: "No non-admin users yet." }),
  );
  assignForm.open();
}

// ---- MQTT credentials: issue (or rotate), show once ----
async function issueCredentials(d) {
  if (
    !(await confirmAction({
      title: `New MQTT credentials for ${d.name || d.serial_number}?`,
      text: "The meter's current MQTT password stops working within seconds; enter the new one in the meter.",
      confirm: "Issue credentials",
      danger: false,
    }))
  )
    return;
  try {
    const creds = await api(`/api/devices/${d.id}/credentials`, { method: "POST" });
    const dlg = $("#credentials-dialog");
    const form = dlg.querySelector("form");
    form.username.value = creds.username;
    form.password.value = creds.password;
    dlg.querySelector("[data-client-id]").textContent = `meter-${creds.username}`;
    // Nothing of the password stays in the page once the dialog closes.
    dlg.addEventListener(
      "close",
      () => {
        form.password.value = "";
      },
      { once: true },
    );
    dlg.showModal();
    form.password.select();
  } catch (err) {
    showError(err, "Credentials");
  }
}

// ---- approve / delete ----
async function approve(d) {
  try {
    await api(`/api/devices/${d.id}/approve`, { method: "POST" });
    toast(`${d.serial_number} approved; give it a name with Edit.`, "ok");
    await load();
  } catch (err) {
    showError(err, "Approve");
  }
}
async function remove(d) {
  if (
    !(await confirmAction({
      title: `Delete ${d.name || d.serial_number}?`,
      text: "The device and ALL its readings are deleted. This cannot be undone.",
      confirm: "Delete device",
    }))
  )
    return;
  try {
    await api(`/api/devices/${d.id}`, { method: "DELETE" });
    toast(`Deleted ${d.serial_number}.`, "ok");
    await load();
  } catch (err) {
    showError(err, "Delete");
  }
}

// ---- dead letters ----
async function loadRejects() {
  const tbody = $("#rejects-table tbody");
  try {
    const rows = await api("/api/ingest/rejects?limit=50");
    fill(
      tbody,
      rows.length
        ? rows.map((r) =>
            el(
              "tr",
              {},
              el("td", { class: "primary" }, when(r.ts)),
              el(
                "td",
                { "data-label": "Reason" },
                el("span", { class: "badge warn plain", text: r.reason }),
              ),
              el("td", { "data-label": "Topic" }, el("span", { class: "mono", text: r.topic })),
              el("td", { "data-label": "Detail", text: r.detail }),
              el(
                "td",
                { "data-label": "Payload" },
                el("pre", { class: "payload", text: (r.payload || "").slice(0, 300) }),
              ),
            ),
          )
        : el("tr", {}, el("td", { colspan: 5, class: "empty", text: "Nothing refused. Good." })),
    );
  } catch (err) {
    fill(
      tbody,
      el(
        "tr",
        {},
        el("td", {
          colspan: 5,
          class: "empty",
          text:
            err.status === 404
              ? "Dead letters are not available on this server."
              : "Could not load dead letters.",
        }),
      ),
    );
  }
}
$("#reload-rejects").addEventListener("click", loadRejects);

load();
loadRejects();
