// personae, every page: small progressive enhancements (the pages work without them).
"use strict";

(() => {
  // A <select data-autosubmit> submits its form on change; its button is then not needed.
  for (const select of document.querySelectorAll("select[data-autosubmit]")) {
    const button = select.form && select.form.querySelector("button[type=submit]");
    if (button) button.hidden = true;
    select.addEventListener("change", () => select.form.requestSubmit());
  }
})();
