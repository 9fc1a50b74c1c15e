// /settings: profile and time zone, password, API tokens (admins).
import { api, showError, toast } from "./api.js";
import { confirmAction } from "./dialog.js";
import { $, el, fill } from "./dom.js";
import * as fmt from "./format.js";

const profile = $("#profile-form");
profile.addEventListener("submit", async (e) => {
  e.preventDefault();
  const body = {
    full_name: profile.full_name.value.trim() || null,
    email: profile.email.value.trim() || null,
    timezone: profile.timezone.value.trim() || null,
  };
  try {
    await api("/api/auth/me", { method: "PUT", body });
    toast("Profile saved.", "ok");
    if ((body.timezone || "") !== (document.body.dataset.tz || ""))
      setTimeout(() => location.reload(), 600);
  } catch (err) {
    showError(err);
  }
});
$("#detect-tz").addEventListener("click", () => {
  profile.timezone.value = Intl.DateTimeFormat().resolvedOptions().timeZone;
  profile.timezone.focus();
});

const pw = $("#password-form");
pw.addEventListener("submit", async (e) => {
  e.preventDefault();
  if (pw.new_password.value.length < 12) {
    toast("The new password needs at least 12 characters.", "error");
    return;
  }
  if (pw.new_password.value !== pw.repeat.value) {
    toast("The two new passwords differ.", "error");
    return;
  }
  try {
    await api("/api/auth/password", {
      method: "POST",
      body: { current_password: pw.current_password.value, new_password: pw.new_password.value },
    });
    pw.reset();
    toast("Password changed. Other sessions were logged out.", "ok");
  } catch (err) {
    showError(err);
  }
});

// ---- API tokens (admins) ----
const tokenForm = $("#token-form");
async function loadTokens() {
  const tbody = $("#tokens-table tbody");
  try {
    const tokens = await api("/api/tokens");
    const date = (iso) => (iso ? fmt.dateTime(Date.parse(iso)) : "–");
    fill(
      tbody,
      tokens.length
        ? tokens.map((t) =>
            el(
              "tr",
              {},
              el("td", { class: "primary" }, el("span", { class: "cell-title", text: t.name })),
              el(
                "td",
                { "data-label": "Prefix" },
                el("span", { class: "mono", text: `${t.prefix}…` }),
              ),
              el("td", { "data-label": "Scope", text: t.scope }),
              el("td", { "data-label": "Created", text: date(t.created_at) }),
              el("td", {
                "data-label": "Last used",
                text: t.last_used_at ? fmt.ago(t.last_used_at) : "never",
              }),
              el("td", {
                "data-label": "Expires",
                text: t.expires_at ? date(t.expires_at) : "never",
              }),
              el(
                "td",
                { class: "actions" },
                el(
                  "button",
                  { type: "button", class: "btn btn-sm btn-ghost", onclick: () => revoke(t) },
                  "Revoke",
                ),
              ),
            ),
          )
        : el("tr", {}, el("td", { colspan: 7, class: "empty", text: "No tokens yet." })),
    );
  } catch (err) {
    showError(err, "Tokens");
  }
}
async function revoke(t) {
  if (
    !(await confirmAction({
      title: `Revoke “${t.name}”?`,
      text: "Scripts using it stop working at once.",
      confirm: "Revoke token",
    }))
  )
    return;
  try {
    await api(`/api/tokens/${t.id}`, { method: "DELETE" });
    toast("Token revoked.", "ok");
    loadTokens();
  } catch (err) {
    showError(err);
  }
}
if (tokenForm) {
  tokenForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    const name = tokenForm.name.value.trim();
    if (!name) {
      tokenForm.name.focus();
      return;
    }
    const days = tokenForm.expires_days.value;
    try {
      const t = await api("/api/tokens", {
        method: "POST",
        body: { name, scope: tokenForm.scope.value, expires_days: Number(days) },
      });
      $("#token-value").value = t.token;
      $("#new-token").hidden = false;
      $("#token-value").select();
      tokenForm.reset();
      loadTokens();
    } catch (err) {
      showError(err);
    }
  });
  $("#copy-token").addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText($("#token-value").value);
      toast("Copied.", "ok");
    } catch {
      $("#token-value").select();
      toast("Press Ctrl+C to copy.");
    }
  });
  loadTokens();
}
