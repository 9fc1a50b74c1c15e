// /settings: profile and time zone, password, API tokens (admins).
import { ApiError, api, showError, toast } from "./api.js";
import { confirmAction } from "./dialog.js";
import { $, el, fill } from "./dom.js";
import * as fmt from "./format.js";
import { withReauth } from "./reauth.js";

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

// ---- Two-factor authentication (TOTP) ----
const totp = {
  state: $("#totp-state"),
  off: $("#totp-off"),
  enrol: $("#totp-enrol"),
  on: $("#totp-on"),
  codes: $("#totp-codes"),
  form: $("#totp-confirm-form"),
  error: $("#totp-error"),
};
let totpEnabled = false;

function showTotp(enabled) {
  totpEnabled = enabled;
  totp.state.textContent = enabled ? "On" : "Off";
  totp.state.className = enabled ? "badge online" : "badge offline";
  totp.off.hidden = enabled;
  totp.on.hidden = !enabled;
  totp.enrol.hidden = true;
}

async function loadTotp() {
  try {
    showTotp((await api("/api/auth/me")).totp_enabled);
  } catch (err) {
    showError(err, "Two-factor authentication");
  }
}

$("#totp-start").addEventListener("click", async () => {
  try {
    const setup = await withReauth(() => api("/api/auth/totp/setup", { method: "POST" }));
    if (!setup) return;
    $("#totp-qr").src = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(setup.qr_svg)}`;
    $("#totp-secret").textContent = setup.secret.replace(/(.{4})/g, "$1 ").trim();
    $("#totp-secret").dataset.secret = setup.secret;
    totp.codes.hidden = true;
    totp.off.hidden = true;
    totp.enrol.hidden = false;
    totp.error.hidden = true;
    totp.form.reset();
    totp.form.code.focus();
  } catch (err) {
    showError(err);
  }
});

$("#totp-cancel").addEventListener("click", () => showTotp(totpEnabled));

totp.form.addEventListener("submit", async (e) => {
  e.preventDefault();
  const code = totp.form.code.value.replace(/\s/g, "");
  if (!/^\d{6,8}$/.test(code)) {
    totp.error.textContent = "Enter the 6 digits your app shows.";
    totp.error.hidden = false;
    totp.form.code.focus();
    return;
  }
  try {
    const res = await withReauth(() =>
      api("/api/auth/totp/confirm", { method: "POST", body: { code } }),
    );
    if (!res) return;
    showTotp(true);
    fill(
      $("#totp-recovery"),
      res.recovery_codes.map((c) => el("li", { text: c })),
    );
    totp.codes.hidden = false;
    toast("Two-factor authentication is on.", "ok");
  } catch (err) {
    totp.error.textContent =
      err instanceof ApiError && err.status === 422
        ? "Wrong code: check the time on your phone and try the current one."
        : err.message;
    totp.error.hidden = false;
    totp.form.code.select();
  }
});

$("#copy-codes").addEventListener("click", async () => {
  const text = Array.from($("#totp-recovery").children, (li) => li.textContent).join("\n");
  try {
    await navigator.clipboard.writeText(text);
    toast("Copied.", "ok");
  } catch {
    toast("Select the codes and press Ctrl+C to copy.");
  }
});

$("#totp-disable").addEventListener("click", async () => {
  if (
    !(await confirmAction({
      title: "Turn off two-factor authentication?",
      text: "Logging in then needs only your password; your recovery codes stop working.",
      confirm: "Turn off",
    }))
  )
    return;
  try {
    const done = await withReauth(async () => {
      await api("/api/auth/totp", { method: "DELETE" });
      return true;
    });
    if (!done) return;
    totp.codes.hidden = true;
    showTotp(false);
    toast("Two-factor authentication is off.", "ok");
  } catch (err) {
    showError(err);
  }
});
loadTotp();
