// Confirmation before destructive actions, with a real <dialog> (keyboard and screen
// reader friendly, Esc cancels), and helpers for form dialogs.

/** Resolves true when the person confirms. */
export function confirmAction({ title, text = "", confirm = "Delete", danger = true }) {
  const dlg = document.getElementById("confirm-dialog");
  dlg.querySelector("#confirm-title").textContent = title;
  dlg.querySelector("#confirm-text").textContent = text;
  const ok = dlg.querySelector("#confirm-ok");
  ok.textContent = confirm;
  ok.className = danger ? "btn btn-danger" : "btn btn-primary";
  dlg.returnValue = "cancel";
  dlg.showModal();
  dlg.querySelector('button[value="cancel"]').focus();
  return new Promise((resolve) => {
    dlg.addEventListener("close", () => resolve(dlg.returnValue === "ok"), { once: true });
  });
}

/**
 * Open a <dialog> holding a <form>; `onSubmit(form)` runs on submit and closes the dialog
 * when it resolves; a thrown error is shown inside the dialog.
 */
export function formDialog(dlg, onSubmit) {
  const form = dlg.querySelector("form");
  const error = dlg.querySelector("[data-error]");
  const submit = async (event) => {
    event.preventDefault();
    if (event.submitter && event.submitter.value === "cancel") {
      dlg.close();
      return;
    }
    const button = form.querySelector('[type="submit"]:not([value="cancel"])');
    if (button) button.disabled = true;
    if (error) error.hidden = true;
    try {
      await onSubmit(form);
      dlg.close();
    } catch (err) {
      if (error) {
        error.textContent = err.message || String(err);
        error.hidden = false;
      }
    } finally {
      if (button) button.disabled = false;
    }
  };
  form.addEventListener("submit", submit);
  return {
    open() {
      if (error) error.hidden = true;
      dlg.showModal();
      const first = form.querySelector(
        "input:not([type=hidden]):not([disabled]), select, textarea",
      );
      if (first) first.focus();
    },
    form,
  };
}
