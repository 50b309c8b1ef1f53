// personae studio: small enhancements; every form here also works without this script.
// Nothing is ever written as HTML: nodes are cloned from <template>s or made with textContent.
"use strict";

(() => {
  // ---- import drop zone: a dropped card goes into the file input and the form is sent ----
  for (const zone of document.querySelectorAll("form[data-dropzone]")) {
    const input = zone.querySelector("input[type=file]");
    if (!input) continue;
    const over = (event) => {
      event.preventDefault();
      zone.classList.add("dropzone--over");
    };
    zone.addEventListener("dragenter", over);
    zone.addEventListener("dragover", over);
    zone.addEventListener("dragleave", (event) => {
      if (!zone.contains(event.relatedTarget)) zone.classList.remove("dropzone--over");
    });
    zone.addEventListener("drop", (event) => {
      event.preventDefault();
      zone.classList.remove("dropzone--over");
      const files = event.dataTransfer && event.dataTransfer.files;
      if (!files || !files.length) return;
      input.files = files;
      zone.classList.add("dropzone--busy");
      zone.requestSubmit();
    });
    // Choosing a file is the same intent as dropping one: import it at once.
    input.addEventListener("change", () => {
      if (input.files && input.files.length) {
        zone.classList.add("dropzone--busy");
        zone.requestSubmit();
      }
    });
  }

  // ---- alternate greetings: add and remove boxes in place ----
  let added = 0;
  for (const set of document.querySelectorAll("[data-greetings]")) {
    const list = set.querySelector("[data-greeting-list]");
    const template = set.querySelector("template[data-greeting-template]");
    const add = set.querySelector("[data-add-greeting]");
    if (!list || !template || !add) continue;
    add.addEventListener("click", (event) => {
      event.preventDefault();
      const item = template.content.firstElementChild.cloneNode(true);
      const box = item.querySelector("textarea");
      const label = item.querySelector("label");
      added += 1;
      box.id = `${set.id}-added-${added}`;
      label.htmlFor = box.id;
      list.append(item);
      box.focus();
    });
    list.addEventListener("click", (event) => {
      const button = event.target instanceof Element ? event.target.closest("[data-remove-greeting]") : null;
      if (!button) return;
      event.preventDefault();
      button.closest("[data-greeting]").remove();
      add.focus();
    });
  }

  // ---- confirm before a destructive form is sent ----
  for (const form of document.querySelectorAll("form[data-confirm]")) {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  }

  // ---- avatar preview: show the chosen image before it is uploaded ----
  const picker = document.querySelector("input[data-avatar-input]");
  const preview = document.querySelector("[data-avatar-preview]");
  if (picker && preview) {
    picker.addEventListener("change", () => {
      const file = picker.files && picker.files[0];
      if (!file || !file.type.startsWith("image/")) {
        preview.hidden = true;
        return;
      }
      // A data: URL, because the page policy allows images from 'self' and data: only.
      const reader = new FileReader();
      reader.addEventListener("load", () => {
        preview.querySelector("img").src = String(reader.result);
        preview.hidden = false;
      });
      reader.readAsDataURL(file);
    });
  }
})();
