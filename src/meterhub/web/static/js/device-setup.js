// Device page, admins: the meter's topic id (validation errors inline) and a new command
// secret (shown once, with how to put it on the meter).
import { ApiError, api, showError, toast } from "./api.js";
import { confirmAction } from "./dialog.js";
import { $ } from "./dom.js";

const root = $("#device");
const deviceId = root.dataset.deviceId;
const topicForm = $("#topic-form");
const topicError = $("#topic-error");
const topicInput = $("#topic-id");

function showTopicError(text) {
  topicError.textContent = text;
  topicError.hidden = !text;
  if (text) topicInput.setAttribute("aria-invalid", "true");
  else topicInput.removeAttribute("aria-invalid");
}

topicForm.addEventListener("submit", async (e) => {
  e.preventDefault();
  const value = topicInput.value.trim();
  showTopicError("");
  try {
    const device = await api(`/api/devices/${deviceId}`, {
      method: "PUT",
      body: { topic_id: value || null },
    });
    topicInput.value = device.topic_id || "";
    toast(
      device.topic_id
        ? `Topic id saved: the meter publishes under meter/${device.topic_id}/.`
        : "Topic id cleared: the meter publishes under its serial.",
      "ok",
    );
  } catch (err) {
    if (err instanceof ApiError && (err.status === 422 || err.status === 409)) {
      showTopicError(err.message);
      topicInput.focus();
    } else showError(err);
  }
});
topicInput.addEventListener("input", () => showTopicError(""));

$("#secret-rotate").addEventListener("click", async () => {
  if (
    !(await confirmAction({
      title: "Set a new command secret?",
      text: "The meter refuses commands until you put the new secret on it.",
      confirm: "Set new secret",
    }))
  )
    return;
  try {
    const res = await api(`/api/devices/${deviceId}/command-secret`, { method: "POST" });
    $("#secret-value").value = res.command_secret;
    $("#new-secret").hidden = false;
    $("#secret-value").select();
  } catch (err) {
    showError(err);
  }
});

$("#copy-secret").addEventListener("click", async () => {
  try {
    await navigator.clipboard.writeText($("#secret-value").value);
    toast("Copied.", "ok");
  } catch {
    $("#secret-value").select();
    toast("Press Ctrl+C to copy.");
  }
});
