// /users (admins): create, edit role, disable, reset password, assign meters, delete.
import { api, showError, toast } from "./api.js";
import { confirmAction, formDialog } from "./dialog.js";
import { $, el, fill } from "./dom.js";

const me = document.body.dataset.username;
const tbody = $("#users-table tbody");
let users = [];
let devices = [];
let current = null; // the user a dialog is about

async function load() {
  try {
    [users, devices] = await Promise.all([api("/api/users"), api("/api/devices")]);
    render();
  } catch (err) {
    showError(err, "Loading users");
  }
}

function metersOf(user) {
  return devices.filter((d) => (d.assigned_users || []).some((u) => u.id === user.id));
}

function render() {
  fill(
    tbody,
    users.map((u) => {
      const meters = metersOf(u);
      const status = u.disabled
        ? el("span", { class: "badge danger", text: "disabled" })
        : u.must_change_password
          ? el("span", { class: "badge warn", text: "must change password" })
          : el("span", { class: "badge online", text: "active" });
      const button = (text, onclick, cls = "btn btn-sm") =>
        el("button", { type: "button", class: cls, onclick }, text);
      return el(
        "tr",
        { dataset: { user: u.username } },
        el(
          "td",
          { class: "primary" },
          el("span", { class: "cell-title", text: u.full_name || u.username }),
          el("span", { class: "cell-sub", text: `${u.username}${u.email ? ` · ${u.email}` : ""}` }),
        ),
        el(
          "td",
          { "data-label": "Role" },
          el("span", { class: `badge plain ${u.role === "admin" ? "admin" : ""}`, text: u.role }),
        ),
        el("td", { "data-label": "Status" }, status),
        el(
          "td",
          { "data-label": "Meters" },
          u.role === "admin"
            ? el("span", { class: "muted", text: "all" })
            : meters.length
              ? el(
                  "span",
                  { class: "pill-list" },
                  meters
                    .slice(0, 4)
                    .map((d) =>
                      el("span", { class: "badge plain", text: d.name || d.serial_number }),
                    ),
                  meters.length > 4
                    ? el("span", { class: "muted", text: `+${meters.length - 4}` })
                    : null,
                )
              : el("span", { class: "muted", text: "none" }),
        ),
        el(
          "td",
          { class: "actions" },
          button("Edit", () => openEdit(u)),
          u.role === "admin" ? null : button("Meters", () => openAssign(u)),
          button("Password", () => openPassword(u)),
          u.username === me ? null : button("Delete", () => remove(u), "btn btn-sm btn-ghost"),
        ),
      );
    }),
  );
}

// ---- create / edit ----
const userDialog = $("#user-dialog");
const userForm = formDialog(userDialog, async (form) => {
  const body = {
    role: form.role.value,
    full_name: form.full_name.value.trim() || null,
    email: form.email.value.trim() || null,
  };
  if (current) {
    body.disabled = form.disabled.checked;
    if (
      body.disabled &&
      !current.disabled &&
      !(await confirmAction({
        title: `Disable ${current.username}?`,
        text: "They are logged out everywhere and cannot log in until you enable them again.",
        confirm: "Disable",
      }))
    )
      throw new Error("Not saved.");
    await api(`/api/users/${current.id}`, { method: "PUT", body });
    toast(`Saved ${current.username}.`, "ok");
  } else {
    body.username = form.username.value.trim();
    body.password = form.password.value;
    body.must_change_password = true;
    if (body.password.length < 12)
      throw new Error("The initial password needs at least 12 characters.");
    await api("/api/users", { method: "POST", body });
    toast(
      `Created ${body.username}. Give them the initial password; they change it at first login.`,
      "ok",
      7000,
    );
  }
  await load();
});
function showOnly(mode) {
  for (const n of userDialog.querySelectorAll("[data-only]")) n.hidden = n.dataset.only !== mode;
}
function openCreate() {
  current = null;
  userForm.form.reset();
  $("#user-dialog-title").textContent = "New user";
  showOnly("create");
  userForm.open();
}
function openEdit(u) {
  current = u;
  const f = userForm.form;
  f.reset();
  $("#user-dialog-title").textContent = `Edit ${u.username}`;
  showOnly("edit");
  f.role.value = u.role;
  f.full_name.value = u.full_name || "";
  f.email.value = u.email || "";
  f.disabled.checked = u.disabled;
  userForm.open();
}
$("#new-user").addEventListener("click", openCreate);

// ---- password ----
const pwDialog = $("#password-dialog");
const pwForm = formDialog(pwDialog, async (form) => {
  if (form.password.value.length < 12) throw new Error("At least 12 characters.");
  await api(`/api/users/${current.id}`, {
    method: "PUT",
    body: {
      password: form.password.value,
      must_change_password: form.must_change_password.checked,
    },
  });
  toast(`New password set for ${current.username}.`, "ok");
  await load();
});
function openPassword(u) {
  current = u;
  pwForm.form.reset();
  pwDialog.querySelector("[data-who]").textContent = `For ${u.username}. Their other sessions end.`;
  pwForm.open();
}

// ---- meters ----
const assignDialog = $("#assign-dialog");
const assignForm = formDialog(assignDialog, async (form) => {
  const want = new Set(
    Array.from(form.querySelectorAll("input[name=device]:checked"), (i) => Number(i.value)),
  );
  const have = new Set(metersOf(current).map((d) => d.id));
  for (const id of want)
    if (!have.has(id))
      await api(`/api/devices/${id}/assign`, { method: "POST", body: { user_id: current.id } });
  for (const id of have)
    if (!want.has(id)) await api(`/api/devices/${id}/assign/${current.id}`, { method: "DELETE" });
  toast(`Meters of ${current.username} saved.`, "ok");
  await load();
});
function openAssign(u) {
  current = u;
  assignDialog.querySelector("[data-who]").textContent =
    `${u.username} sees only the meters ticked here.`;
  const have = new Set(metersOf(u).map((d) => d.id));
  const active = devices.filter((d) => d.status === "active");
  fill(
    $("#assign-list"),
    el("legend", { class: "sr-only", text: "Meters this user sees" }),
    active.length
      ? active.map((d) =>
          el(
            "label",
            {},
            el("input", { type: "checkbox", name: "device", value: d.id, checked: have.has(d.id) }),
            el(
              "span",
              {},
              d.name || d.serial_number,
              el("span", { class: "cell-sub mono", text: d.serial_number }),
            ),
          ),
        )
      : el("p", { class: "muted", text: "No meters registered yet." }),
  );
  assignForm.open();
}

// ---- delete ----
async function remove(u) {
  if (
    !(await confirmAction({
      title: `Delete ${u.username}?`,
      text: "Their account, sessions and API tokens are removed. Meters and readings stay.",
      confirm: "Delete user",
    }))
  )
    return;
  try {
    await api(`/api/users/${u.id}`, { method: "DELETE" });
    toast(`Deleted ${u.username}.`, "ok");
    await load();
  } catch (err) {
    showError(err, "Delete");
  }
}

load();
