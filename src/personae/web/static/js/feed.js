// personae, the feed: relative times, compose boxes (@mention suggestions, content
// warning, length), inline reply/quote boxes, and new posts arriving over SSE.
// Everything here is an enhancement: the pages work without it. It never builds HTML
// from strings: it makes DOM nodes with textContent, or lets htmx swap server HTML.
"use strict";

(() => {
  const lang = document.documentElement.lang || "en";
  const strings = (() => {
    const block = document.getElementById("feed-strings");
    try {
      return block ? JSON.parse(block.textContent) : {};
    } catch {
      return {};
    }
  })();
  const t = (message, values = {}) =>
    (strings[message] || message).replace(/%\((\w+)\)s/g, (_, key) => String(values[key] ?? ""));

  // Relative times ("3 min ago"), with the absolute time kept as the tooltip.
  const relative = new Intl.RelativeTimeFormat(lang, { numeric: "auto", style: "short" });
  const absolute = new Intl.DateTimeFormat(lang, { dateStyle: "medium", timeStyle: "short" });
  const STEPS = [
    [60, "second"],
    [3600, "minute"],
    [86400, "hour"],
    [604800, "day"],
  ];
  function showTime(el) {
    const when = new Date(el.getAttribute("datetime"));
    if (Number.isNaN(when.getTime())) return;
    const seconds = (when.getTime() - Date.now()) / 1000;
    const away = Math.abs(seconds);
    el.title = absolute.format(when);
    if (away >= 604800) {
      el.textContent = absolute.format(when);
      return;
    }
    let unit = "second";
    let size = 1;
    for (const [limit, name] of STEPS) {
      unit = name;
      if (away < limit) break;
      size = limit;
    }
    if (unit === "second") size = 1;
    el.textContent = relative.format(Math.round(seconds / size), unit);
  }
  function showTimes(root) {
    for (const el of root.querySelectorAll("time[data-relative]")) showTime(el);
  }
  window.setInterval(() => showTimes(document), 60_000);

  // Compose boxes: the content warning field shows when its toggle is pressed (and is
  // left out of the form when not), a quiet count of characters left.
  function setupCompose(form) {
    if (form.dataset.ready) return;
    form.dataset.ready = "1";
    const toggle = form.querySelector("[data-cw-toggle]");
    const field = form.querySelector("[data-cw-field]");
    const input = field && field.querySelector("input");
    if (toggle && field && input) {
      toggle.hidden = false;
      const apply = (on) => {
        toggle.setAttribute("aria-pressed", String(on));
        field.hidden = !on;
        input.disabled = !on;
      };
      apply(toggle.getAttribute("aria-pressed") === "true");
      toggle.addEventListener("click", () => {
        const on = toggle.getAttribute("aria-pressed") !== "true";
        apply(on);
        if (on) input.focus();
      });
    }
    const text = form.querySelector("textarea[name=text]");
    const counter = form.querySelector("[data-count-for]");
    if (text && counter) {
      // Past the limit nothing is cut: the count turns red, the button is disabled and a
      // note says by how much (the server would refuse the post too, keeping the text).
      const max = Number(text.dataset.max) || 3000;
      const note = document.getElementById(text.dataset.overNote || "");
      const send = form.querySelector("button[type=submit]");
      const described = text.getAttribute("aria-describedby") || "";
      const update = () => {
        // Code points, as the server counts; a browser sends each line break as CRLF,
        // which the server reads back as one.
        const left = max - [...text.value.replace(/\r\n/g, "\n")].length;
        const over = left < 0;
        counter.textContent = String(left);
        counter.classList.toggle("compose__count--low", left < 100 && !over);
        counter.classList.toggle("compose__count--over", over);
        if (send) send.disabled = over;
        if (over) text.setAttribute("aria-invalid", "true");
        else if (!described) text.removeAttribute("aria-invalid");
        if (note) {
          const wasHidden = note.hidden;
          note.hidden = !over;
          if (over) {
            const message =
              left === -1
                ? t("1 character too many: shorten the post to send it.")
                : t("%(n)s characters too many: shorten the post to send it.", { n: -left });
            if (wasHidden || note.textContent !== message) note.textContent = message;
          }
          const ids = [described, over ? note.id : ""].filter(Boolean).join(" ");
          if (ids) text.setAttribute("aria-describedby", ids);
          else text.removeAttribute("aria-describedby");
        }
      };
      text.addEventListener("input", update);
      update();
      // Ctrl/Cmd+Enter sends, as in most social apps.
      text.addEventListener("keydown", (event) => {
        if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && !isOpen(text)) {
          event.preventDefault();
          form.requestSubmit();
        }
      });
      new Mentions(text);
    }
    const focus = form.querySelector("[data-autofocus]");
    if (focus) focus.focus();
  }

  // @mention suggestions: the textarea is a combobox, the suggestions its listbox.
  const isOpen = (text) => text.getAttribute("aria-expanded") === "true";
  class Mentions {
    constructor(text) {
      this.text = text;
      this.list = document.getElementById(text.getAttribute("aria-controls"));
      this.source = text.dataset.mentionSource;
      this.items = [];
      this.active = -1;
      this.timer = 0;
      this.asked = 0;
      if (!this.list || !this.source) return;
      text.addEventListener("input", () => this.changed());
      text.addEventListener("keydown", (event) => this.key(event));
      text.addEventListener("blur", () => window.setTimeout(() => this.close(), 150));
      this.list.addEventListener("mousedown", (event) => {
        const option = event.target.closest("[role=option]");
        if (!option) return;
        event.preventDefault(); // keep the focus in the textarea
        this.choose(Number(option.dataset.index));
      });
    }

    // The "@word" just before the caret, if the person is typing one.
    word() {
      const before = this.text.value.slice(0, this.text.selectionStart);
      const match = /(^|[^\w@])@(\w{1,30})$/.exec(before);
      return match ? match[2] : null;
    }

    changed() {
      const word = this.word();
      window.clearTimeout(this.timer);
      if (!word) {
        this.close();
        return;
      }
      this.timer = window.setTimeout(() => this.fetch(word), 120);
    }

    async fetch(word) {
      const asked = ++this.asked;
      let found = [];
      try {
        const url = `${this.source}?q=${encodeURIComponent(word)}`;
        const response = await fetch(url, { headers: { Accept: "application/json" } });
        if (response.ok) found = await response.json();
      } catch {
        found = [];
      }
      if (asked !== this.asked || this.word() !== word) return; // a later keystroke won
      this.show(found);
    }

    show(found) {
      this.items = found;
      this.active = found.length ? 0 : -1;
      const options = found.map((actor, index) => {
        const option = document.createElement("li");
        option.id = `${this.list.id}-${index}`;
        option.setAttribute("role", "option");
        option.dataset.index = String(index);
        option.className = "mentions__option";
        const name = document.createElement("span");
        name.className = "mentions__name";
        name.textContent = actor.name;
        const handle = document.createElement("span");
        handle.className = "mentions__handle muted";
        handle.textContent = `@${actor.handle}`;
        option.append(name, " ", handle);
        if (actor.ai) {
          const badge = document.createElement("span");
          badge.className = "badge badge--ai";
          badge.textContent = t("AI");
          option.append(" ", badge);
        }
        return option;
      });
      this.list.replaceChildren(...options);
      this.list.hidden = !found.length;
      this.text.setAttribute("aria-expanded", String(found.length > 0));
      this.highlight();
    }

    highlight() {
      for (const option of this.list.children) {
        option.setAttribute("aria-selected", String(Number(option.dataset.index) === this.active));
      }
      if (this.active >= 0) {
        const option = this.list.children[this.active];
        this.text.setAttribute("aria-activedescendant", option.id);
        option.scrollIntoView({ block: "nearest" });
      } else {
        this.text.removeAttribute("aria-activedescendant");
      }
    }

    key(event) {
      if (!isOpen(this.text)) return;
      const count = this.items.length;
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        const step = event.key === "ArrowDown" ? 1 : -1;
        this.active = (this.active + step + count) % count;
        this.highlight();
      } else if ((event.key === "Enter" || event.key === "Tab") && this.active >= 0) {
        event.preventDefault();
        this.choose(this.active);
      } else if (event.key === "Escape") {
        event.preventDefault();
        this.close();
      }
    }

    choose(index) {
      const actor = this.items[index];
      const word = this.word();
      if (!actor || word === null) return this.close();
      const caret = this.text.selectionStart;
      const start = caret - word.length - 1;
      const inserted = `@${actor.handle} `;
      this.text.setRangeText(inserted, start, caret, "end");
      this.text.dispatchEvent(new Event("input", { bubbles: true }));
      this.close();
      this.text.focus();
    }

    close() {
      this.asked++;
      this.items = [];
      this.active = -1;
      this.list.replaceChildren();
      this.list.hidden = true;
      this.text.setAttribute("aria-expanded", "false");
      this.text.removeAttribute("aria-activedescendant");
    }
  }

  // Long posts and quotes fold in lists (not the post a thread page is about), with a
  // button that unfolds them. Heights are measured, so only what is really long folds.
  const FOLD_PX = 320;
  let folds = 0;
  function setupFolds(root) {
    const scope = root.querySelectorAll ? root : document;
    const candidates = [
      ...(root.matches && root.matches("article.post") ? [root] : []),
      ...scope.querySelectorAll("article.post"),
    ];
    for (const card of candidates) {
      if (card.classList.contains("post--main")) continue;
      for (const part of card.querySelectorAll(".post__text, .post__embed")) {
        if (part.dataset.fold || part.closest("[data-fold=on]")) continue;
        if (part.scrollHeight <= FOLD_PX) continue;
        part.dataset.fold = "on";
        if (!part.id) part.id = `fold-${++folds}`;
        part.classList.add("is-folded");
        const button = document.createElement("button");
        button.type = "button";
        button.className = "post__more button button--quiet button--small";
        button.setAttribute("aria-expanded", "false");
        button.setAttribute("aria-controls", part.id);
        button.textContent = t("Show more");
        button.addEventListener("click", () => {
          const open = button.getAttribute("aria-expanded") !== "true";
          button.setAttribute("aria-expanded", String(open));
          part.classList.toggle("is-folded", !open);
          button.textContent = open ? t("Show less") : t("Show more");
        });
        part.after(button);
      }
    }
  }

  // After a block or mute, the page drops that actor's posts at once (the server leaves
  // them out of every later page). The form is remembered when its request starts: by
  // the time the answer arrives, the swap is about to replace it.
  let hiding = null;
  document.addEventListener("htmx:beforeRequest", (event) => {
    const elt = event.detail.elt;
    hiding = elt.matches && elt.matches("form[data-hides]") ? elt.dataset.hides : null;
  });
  document.addEventListener("htmx:beforeSwap", (event) => {
    const status = event.detail.xhr ? event.detail.xhr.status : 0;
    const id = hiding;
    hiding = null;
    if (!id || status < 200 || status >= 300) return;
    for (const card of document.querySelectorAll("article.post[data-actors]")) {
      if (!card.dataset.actors.split(" ").includes(id)) continue;
      const item = card.closest("li") || card;
      item.remove();
    }
  });

  // Everything new on the page (first load, and each htmx swap) gets set up here.
  function setup(root) {
    showTimes(root);
    setupFolds(root);
    const forms = root.matches && root.matches("form[data-compose]") ? [root] : [];
    for (const form of [...forms, ...root.querySelectorAll("form[data-compose]")]) setupCompose(form);
  }

  // Reply and quote buttons open a box under their post; pressing the same one closes it.
  document.addEventListener("htmx:beforeRequest", (event) => {
    const elt = event.detail.elt;
    if (elt.matches("[data-slot-toggle]")) {
      const slot = document.getElementById(elt.getAttribute("aria-controls"));
      if (slot && slot.childElementCount && slot.dataset.open === elt.dataset.action) {
        event.preventDefault();
        slot.replaceChildren();
        delete slot.dataset.open;
        elt.setAttribute("aria-expanded", "false");
        return;
      }
      if (slot) slot.dataset.open = elt.dataset.action;
      for (const other of elt.parentElement.querySelectorAll("[data-slot-toggle]")) {
        other.setAttribute("aria-expanded", String(other === elt));
      }
    }
    // Remember which action button sent a card request, to put the focus back on it.
    const card = elt.closest("article.post");
    const button = elt.querySelector && elt.querySelector("[data-action]");
    if (card && button && elt.tagName === "FORM" && !elt.matches("[data-compose]")) {
      pendingFocus = { id: card.id, action: button.dataset.action };
    }
  });
  let pendingFocus = null;

  document.addEventListener("htmx:afterSettle", () => {
    if (pendingFocus) {
      const card = document.getElementById(pendingFocus.id);
      const button = card && card.querySelector(`[data-action="${pendingFocus.action}"]`);
      if (button) button.focus();
      pendingFocus = null;
    }
    dedupe();
  });

  // A post can arrive twice (sent from this page, then by the stream), and a repost can
  // arrive beside its original: keep one card per post, the first (the newest).
  function dedupe() {
    for (const list of document.querySelectorAll("#feed-posts, #thread-replies")) {
      const seen = new Set();
      for (const item of [...list.children]) {
        const card = item.querySelector(":scope > article[id]");
        if (!card) continue;
        const key = card.dataset.post || card.id;
        if (seen.has(key) || seen.has(card.id)) item.remove();
        else seen.add(key).add(card.id);
      }
    }
  }

  // New posts from the stream: skip those already shown, announce the others politely,
  // and offer a way back to the top to whoever has scrolled down.
  const live = document.getElementById("feed-live");
  const pill = document.getElementById("feed-new");
  let unseen = 0;
  document.addEventListener("htmx:sseBeforeMessage", (event) => {
    const id = event.detail && event.detail.lastEventId;
    if (id && document.getElementById(`post-${id}`)) event.preventDefault();
  });
  document.addEventListener("htmx:sseMessage", () => {
    unseen += 1;
    if (live) live.textContent = unseen === 1 ? t("1 new post") : t("%(n)s new posts", { n: unseen });
    if (pill && window.scrollY > 300) pill.hidden = false;
    else unseen = 0;
  });
  if (pill) {
    pill.addEventListener("click", () => {
      window.scrollTo({ top: 0, behavior: "smooth" });
      pill.hidden = true;
      unseen = 0;
      const first = document.querySelector("#feed-posts > li article");
      if (first) {
        first.setAttribute("tabindex", "-1");
        first.focus({ preventScroll: true });
      }
    });
    window.addEventListener(
      "scroll",
      () => {
        if (window.scrollY < 100) {
          pill.hidden = true;
          unseen = 0;
        }
      },
      { passive: true },
    );
  }

  if (window.htmx) window.htmx.onLoad(setup);
  else setup(document);
})();
