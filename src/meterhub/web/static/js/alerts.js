// The alerts page: the alert list (active first, acknowledge), kept live by the feed's
// {"type":"alert"} messages, and the rule and channel forms.
import { api, showError, toast } from "./api.js";
import { $, el } from "./dom.js";
import { ago } from "./format.js";
import { on } from "./live.js";
import { refreshBadge } from "./nav.js";
import { confirmAction } from "./dialog.js";

const ORDER = { active: 0, acknowledged: 1, resolved: 2 };
const SEVERITY_CLASS = { critical: "danger", major: "danger", minor: "warn", warning: "warn" };
const alerts = new Map();
const body = $("#alerts-table tbody");

function row(a) {
  const ack =
    a.state === "active"
      ? el(
          "button",
          {
            class: "btn btn-ghost btn-sm",
            type: "button",
            dataset: { ack: a.id },
            onclick: () => acknowledge(a.id),
          },
          "Acknowledge",
        )
      : null;
  return el(
    "tr",
    { class: "alert-row", dataset: { id: a.id, state: a.state } },
    el(
      "td",
      { "data-label": "State" },
      el(
        "span",
        {
          class: `badge plain ${a.state === "active" ? "danger" : a.state === "acknowledged" ? "warn" : "offline"}`,
        },
        a.state,
      ),
    ),
    el(
      "td",
      { "data-label": "Severity" },
      el("span", { class: `badge ${SEVERITY_CLASS[a.severity] || ""}` }, a.severity),
    ),
    el(
      "td",
      { "data-label": "Meter" },
      el("a", { href: `/devices/${encodeURIComponent(a.serial)}` }, a.serial),
    ),
    el("td", { "data-label": "What" }, a.message),
    el(
      "td",
      { "data-label": "Opened" },
      el("time", { datetime: a.opened_at, title: a.opened_at, "data-ago": "" }, ago(a.opened_at)),
    ),
    el(
      "td",
      { "data-label": "Resolved" },
      a.resolved_at
        ? el("time", { datetime: a.resolved_at, "data-ago": "" }, ago(a.resolved_at))
        : "—",
    ),
    el("td", { class: "num" }, ack),
  );
}

function render() {
  const list = [...alerts.values()].sort(
    (a, b) => ORDER[a.state] - ORDER[b.state] || b.opened_at.localeCompare(a.opened_at),
  );
  body.replaceChildren(
    ...(list.length
      ? list.map(row)
      : [el("tr", {}, el("td", { colspan: 7, class: "empty" }, "No alerts. Add a rule below."))]),
  );
}

async function loadAlerts() {
  try {
    for (const a of await api("/api/alerts?limit=200")) alerts.set(a.id, a);
    render();
  } catch (err) {
    showError(err, "Loading alerts failed");
  }
}

async function acknowledge(id) {
  try {
    const a = await api(`/api/alerts/${id}/ack`, { method: "POST" });
    alerts.set(a.id, a);
    render();
    refreshBadge();
    toast("Alert acknowledged");
  } catch (err) {
    showError(err, "Acknowledging failed");
  }
}

on("alert", (message) => {
  const { type, ...a } = message;
  const isNew = !alerts.has(a.id);
  alerts.set(a.id, a);
  render();
  if (isNew && a.state === "active") toast(`Alert: ${a.message}`, "danger");
});

// -- rules and channels ---------------------------------------------------------------
let channels = [];
const ruleForm = $("#rule-form");
const channelForm = $("#channel-form");

function formError(form, err) {
  const box = form.querySelector("[data-error]");
  box.textContent = err ? err.message : "";
  box.hidden = !err;
}

async function loadChannels() {
  channels = await api("/api/alert-channels");
  $("#channels-list").replaceChildren(
    ...(channels.length
      ? channels.map((c) =>
          el(
            "li",
            {},
            `${c.name} — ${c.kind} ${c.url || c.to || c.topic}${c.has_secret ? " (signed)" : ""} `,
            el(
              "button",
              { class: "btn btn-ghost btn-sm", type: "button", onclick: () => removeChannel(c) },
              "Delete",
            ),
          ),
        )
      : [el("li", { class: "muted" }, "No channels yet.")]),
  );
  $("#rule-channels").replaceChildren(
    el("legend", {}, "Notify"),
    ...channels.map((c) =>
      el(
        "label",
        { class: "check" },
        el("input", { type: "checkbox", name: "channel", value: c.id }),
        ` ${c.name}`,
      ),
    ),
  );
}

async function loadRules() {
  const rules = await api("/api/alert-rules");
  $("#rules-list").replaceChildren(
    ...(rules.length
      ? rules.map((r) =>
          el(
            "li",
            { dataset: { rule: r.id } },
            `${r.name}: ${r.metric}${["offline", "meter_alarm", "counter_reset"].includes(r.metric) ? "" : ` ${r.op} ${r.threshold}`}` +
              `${r.for_s ? ` for ${r.for_s} s` : ""} · ${r.severity}${r.enabled ? "" : " · disabled"} `,
            el(
              "button",
              { class: "btn btn-ghost btn-sm", type: "button", onclick: () => toggleRule(r) },
              r.enabled ? "Disable" : "Enable",
            ),
            el(
              "button",
              { class: "btn btn-ghost btn-sm", type: "button", onclick: () => removeRule(r) },
              "Delete",
            ),
          ),
        )
      : [el("li", { class: "muted" }, "No rules yet.")]),
  );
}

async function toggleRule(r) {
  try {
    await api(`/api/alert-rules/${r.id}`, { method: "PUT", body: { enabled: !r.enabled } });
    await loadRules();
  } catch (err) {
    showError(err, "Changing the rule failed");
  }
}

async function removeRule(r) {
  if (
    !(await confirmAction({
      title: `Delete rule ${r.name}?`,
      text: "Its alerts' history goes with it.",
    }))
  )
    return;
  try {
    await api(`/api/alert-rules/${r.id}`, { method: "DELETE" });
    await loadRules();
  } catch (err) {
    showError(err, "Deleting the rule failed");
  }
}

async function removeChannel(c) {
  if (!(await confirmAction({ title: `Delete channel ${c.name}?` }))) return;
  try {
    await api(`/api/alert-channels/${c.id}`, { method: "DELETE" });
    await loadChannels();
  } catch (err) {
    showError(err, "Deleting the channel failed");
  }
}

function syncRuleForm() {
  const metric = ruleForm.metric.value;
  const flag = ["offline", "meter_alarm", "counter_reset"].includes(metric);
  for (const node of ruleForm.querySelectorAll("[data-threshold]")) node.hidden = flag;
  ruleForm.querySelector("[data-meter-alarm]").hidden = metric !== "meter_alarm";
}
ruleForm.metric.addEventListener("change", syncRuleForm);
syncRuleForm();

ruleForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  formError(ruleForm, null);
  const f = ruleForm;
  const number = (v) => (v === "" ? null : Number(v));
  const rule = {
    name: f.name.value.trim(),
    device_id: f.device_id.value ? Number(f.device_id.value) : null,
    metric: f.metric.value,
    op: f.op.value,
    threshold: number(f.threshold.value) ?? 0,
    clear_threshold: number(f.clear_threshold.value),
    for_s: Number(f.for_s.value || 0),
    severity: f.severity.value,
    channel_ids: [...f.querySelectorAll("input[name=channel]:checked")].map((i) => Number(i.value)),
  };
  try {
    const saved = await api("/api/alert-rules", { method: "POST", body: rule });
    if (rule.metric === "meter_alarm" && f.meter_watts.value !== "") {
      await api(`/api/alert-rules/${saved.id}/meter-threshold`, {
        method: "POST",
        body: { watts: Number(f.meter_watts.value) },
      });
      toast("Threshold sent to the meter");
    }
    toast("Rule added");
    await loadRules();
  } catch (err) {
    formError(ruleForm, err);
  }
});

const TARGET = {
  webhook: ["URL", "https://example.com/hook"],
  ntfy: ["URL", "https://ntfy.sh/my-topic"],
  email: ["To", "me@example.com"],
  mqtt: ["Topic", "meterhub/alerts/home"],
};
function syncChannelForm() {
  const kind = channelForm.kind.value;
  channelForm.querySelector("[data-target-label]").textContent = TARGET[kind][0];
  channelForm.target.placeholder = TARGET[kind][1];
  channelForm.querySelector("[data-secret]").hidden = kind !== "webhook";
}
channelForm.kind.addEventListener("change", syncChannelForm);
syncChannelForm();

channelForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  formError(channelForm, null);
  const kind = channelForm.kind.value;
  const key = { webhook: "url", ntfy: "url", email: "to", mqtt: "topic" }[kind];
  const payload = {
    kind,
    name: channelForm.name.value.trim(),
    [key]: channelForm.target.value.trim(),
  };
  if (kind === "webhook" && channelForm.secret.value) payload.secret = channelForm.secret.value;
  try {
    await api("/api/alert-channels", { method: "POST", body: payload });
    channelForm.reset();
    syncChannelForm();
    toast("Channel added");
    await loadChannels();
  } catch (err) {
    formError(channelForm, err);
  }
});

loadAlerts();
loadChannels()
  .then(loadRules)
  .catch((err) => showError(err, "Loading rules failed"));
