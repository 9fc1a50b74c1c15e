// Sensitive actions (second factor, tokens, device secrets) answer 403 `reauth_required`
// when the password was not entered in the last minutes: ask for it (and the second
// factor's code when the account has one), then try the action once more.
import { api, ApiError } from "./api.js";

/** Ask for the password in the reauth dialog; resolves true once confirmed. */
export function reauthenticate() {
  const dlg = document.getElementById("reauth-dialog");
  const form = dlg.querySelector("form");
  const error = dlg.querySelector("[data-error]");
  const totpField = dlg.querySelector("#reauth-totp");
  form.reset();
  error.hidden = true;
  return new Promise((resolve) => {
    let done = false;
    const submit = async (event) => {
      event.preventDefault();
      if (event.submitter && event.submitter.value === "cancel") {
        dlg.close();
        return;
      }
      const body = { password: form.password.value };
      const code = form.totp_code.value.trim();
      if (code) body.totp_code = code;
      try {
        await api("/api/auth/reauth", { method: "POST", body });
        done = true;
        dlg.close();
      } catch (err) {
        if (err instanceof ApiError && err.body && err.body.field === "totp_code") {
          totpField.hidden = false;
          form.totp_code.focus();
        }
        error.textContent = err.message;
        error.hidden = false;
      }
    };
    form.addEventListener("submit", submit);
    dlg.addEventListener(
      "close",
      () => {
        form.removeEventListener("submit", submit);
        resolve(done);
      },
      { once: true },
    );
    dlg.showModal();
    form.password.focus();
  });
}

/** Run `action`; on 403 `reauth_required` ask for the password and run it once more.
 * Resolves to the action's result, or null when the person cancelled. */
export async function withReauth(action) {
  try {
    return await action();
  } catch (err) {
    if (!(err instanceof ApiError && err.code === "reauth_required")) throw err;
  }
  if (!(await reauthenticate())) return null;
  return action();
}
