// /login: credentials, then (when required) the forced password change.
import { api, ApiError } from "./api.js";

const loginForm = document.getElementById("login-form");
const changeForm = document.getElementById("change-form");
const loginStep = document.getElementById("login-step");
const changeStep = document.getElementById("change-step");
let typedPassword = "";

function show(node, text) {
  node.textContent = text;
  node.hidden = !text;
}

function go(form) {
  location.assign(form.dataset.next || "/");
}

let countdown = 0;
function throttled(button, error, seconds) {
  clearInterval(countdown);
  let left = seconds;
  button.disabled = true;
  const tick = () => {
    show(error, `Too many failed attempts. Try again in ${left} s.`);
    if (left-- <= 0) {
      clearInterval(countdown);
      button.disabled = false;
      show(error, "You can try again now.");
    }
  };
  tick();
  countdown = setInterval(tick, 1000);
}

loginForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const error = document.getElementById("login-error");
  const button = document.getElementById("login-submit");
  const username = loginForm.username.value.trim();
  const password = loginForm.password.value;
  if (!username || !password) {
    show(error, "Enter your username and password.");
    return;
  }
  button.disabled = true;
  show(error, "");
  let locked = false;
  try {
    const body = { username, password };
    const code = loginForm.totp_code.value.trim();
    if (code) body.totp_code = code;
    const res = await api("/api/auth/login", { method: "POST", body, redirect: false });
    if (res.user.must_change_password) {
      typedPassword = password;
      loginStep.hidden = true;
      changeStep.hidden = false;
      changeForm.current_password.value = password;
      changeForm.new_password.focus();
      return;
    }
    go(loginForm);
  } catch (err) {
    if (err instanceof ApiError && err.status === 429) {
      locked = true;
      throttled(button, error, Number(err.body.retry_after) || 60);
      return;
    }
    if (
      err instanceof ApiError &&
      err.status === 401 &&
      err.body &&
      err.body.code === "totp_required"
    ) {
      const field = document.getElementById("totp-field");
      show(error, field.hidden ? "" : "Wrong code; try the current one.");
      field.hidden = false;
      loginForm.totp_code.value = "";
      loginForm.totp_code.focus();
      return;
    }
    show(
      error,
      err instanceof ApiError && err.status === 403 && err.body && err.body.code === "local_only"
        ? err.message
        : err instanceof ApiError && err.status === 401
          ? "Wrong username or password."
          : err.message || "Could not reach the server.",
    );
    loginForm.password.select();
  } finally {
    if (!locked) button.disabled = false;
  }
});

changeForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const error = document.getElementById("change-error");
  const button = document.getElementById("change-submit");
  const current = changeForm.current_password.value || typedPassword;
  const next = changeForm.new_password.value;
  if (next.length < 12) {
    show(error, "The new password needs at least 12 characters.");
    return;
  }
  if (next !== changeForm.repeat.value) {
    show(error, "The two new passwords differ.");
    changeForm.repeat.select();
    return;
  }
  if (next === current) {
    show(error, "Choose a password different from the current one.");
    return;
  }
  button.disabled = true;
  show(error, "");
  try {
    await api("/api/auth/password", {
      method: "POST",
      body: { current_password: current, new_password: next },
      redirect: false,
    });
    go(changeForm);
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      // not logged in any more: start over
      changeStep.hidden = true;
      loginStep.hidden = false;
      show(document.getElementById("login-error"), "Your session ended; log in again.");
      return;
    }
    show(error, err.message);
  } finally {
    button.disabled = false;
  }
});
