// The Campaigns page's trigger form: it posts the console's trigger action and shows Braze's answer.
// Braze's answer is written with textContent only; the list itself is a server-rendered live fragment.
"use strict";

(() => {
  function who(form) {
    const chosen = form.querySelector('input[name="who"]:checked').value;
    if (chosen === "users") {
      return { users: form.elements.users.value.split(/[\s,]+/).filter(Boolean) };
    }
    if (chosen === "segment") return { segment: form.elements.segment.value };
    return { broadcast: true };
  }

  function properties(form) {
    const text = form.elements.trigger_properties.value.trim();
    if (!text) return undefined;
    try {
      return JSON.parse(text);
    } catch (e) {
      throw new Error(`trigger properties are not JSON: ${e.message}`);
    }
  }

  async function submit(form) {
    const option = form.elements.target.selectedOptions[0];
    const answer = document.getElementById("trigger-answer");
    let body;
    try {
      body = who(form);
      const props = properties(form);
      if (props !== undefined) body.trigger_properties = props;
    } catch (err) {
      Console.flash(err.message, "error");
      return;
    }
    const button = form.querySelector('button[type="submit"]');
    button.disabled = true;
    try {
      const data = await Console.act(option.dataset.url, body);
      Console.flash(data.message, "ok");
      answer.textContent = data.message;
    } catch (err) {
      answer.textContent = err.message;  // flashed by Console.act
    } finally {
      button.disabled = false;
      for (const el of document.querySelectorAll("[data-live]")) Console.refresh(el);
    }
  }

  document.addEventListener("submit", (e) => {
    if (e.target.id !== "trigger-form") return;
    e.preventDefault();
    submit(e.target);
  });

  // a row's "trigger…" button chooses it in the form (the rows are re-rendered, so listen on the document)
  document.addEventListener("click", (e) => {
    const button = e.target.closest("[data-trigger-target]");
    if (!button) return;
    const select = document.getElementById("trigger-target");
    if (!select) return;
    select.value = button.dataset.triggerTarget;
    document.getElementById("trigger-users").focus();
  });
})();
