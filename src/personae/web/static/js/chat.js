// personae chat component: send a message, stream the reply token by token, regenerate,
// swipe, edit, delete, branch, stop, continue. Model output reaches the page as text nodes
// while it streams; saved messages show the server's sanitised rendering (message.html,
// chat/formatting.py), copied node by node through an allow-list of tags (no attributes),
// never assigned as HTML.
//
// Markup contract (templates/chat/_pane.html renders it; call its `chat_pane` macro):
//
//   <section data-chat data-conversation="ID" data-character-name="NAME" data-is-ai="true|false"
//            data-character-avatar="URL|" data-person-name="NAME" data-person-avatar="URL|"
//            data-max-chars="20000"           (optional: refuse longer messages before sending)
//            data-branch-url="/chat/">          (optional: show "Branch", go to URL + new id)
//     <script type="application/json" class="chat__strings">{"You": "Vous", ...}</script>
//     <ol class="chat__messages"> <li class="msg" data-id=...>...</li> (templates/_message.html)
//     <div class="chat__status" role="status" hidden></div>          errors, with a retry button
//     <p class="chat__announce visually-hidden" aria-live="polite"></p>  "reply finished" etc.
//     <form class="chat__composer"> <textarea class="chat__input"> <button class="chat__send">
//                                   <button type="button" class="chat__stop" hidden>
//   </section>
//
// Every element matching [data-chat] on the page is mounted once; each finds its parts inside
// itself only, so several components can live on one page. Panes added later (htmx swaps) are
// mounted on `htmx:load`; `window.personaeChat.mount(root)` mounts one by hand.
"use strict";

(() => {
  const IDLE_TIMEOUT_MS = 90_000; // no byte from the server for this long: give up
  const STOP_GRACE_MS = 5_000; // after Stop, wait this long for the saved partial, then abort
  // The tags the server's rendering may hold (chat/formatting.py ALLOWED_TAGS).
  const ALLOWED = new Set(["P", "BR", "EM", "STRONG", "UL", "OL", "LI", "CODE", "PRE", "BLOCKQUOTE", "HR", "S"]);

  // Copy the allowed structure of a parsed fragment: elements without attributes, text.
  function copyAllowed(from, to) {
    for (const node of from.childNodes) {
      if (node.nodeType === Node.TEXT_NODE) {
        to.append(document.createTextNode(node.textContent || ""));
      } else if (node.nodeType === Node.ELEMENT_NODE) {
        if (ALLOWED.has(node.tagName)) {
          const copy = document.createElement(node.tagName.toLowerCase());
          copyAllowed(node, copy);
          to.append(copy);
        } else {
          copyAllowed(node, to); // an unknown tag: keep its text only
        }
      }
    }
  }

  // The server's sanitised HTML of a message as DOM nodes (an inert document: nothing runs).
  function formatted(target, html, fallback) {
    target.replaceChildren();
    if (typeof html !== "string") {
      target.textContent = fallback || "";
      return;
    }
    const parsed = new DOMParser().parseFromString(html, "text/html");
    copyAllowed(parsed.body, target);
  }

  function mount(root) {
    if (root.dataset.chatReady === "true") return;
    const list = root.querySelector(".chat__messages");
    const form = root.querySelector(".chat__composer");
    const input = form && form.querySelector(".chat__input");
    const sendButton = form && form.querySelector(".chat__send");
    const stopButton = form && form.querySelector(".chat__stop");
    const status = root.querySelector(".chat__status");
    const announcer = root.querySelector(".chat__announce");
    if (!list || !form || !input || !sendButton || !status) return;
    root.dataset.chatReady = "true";

    const strings = readStrings(root.querySelector(".chat__strings"));
    const characterName = root.dataset.characterName || "";
    const characterAvatar = root.dataset.characterAvatar || "";
    const personName = root.dataset.personName || t("You");
    const personAvatar = root.dataset.personAvatar || "";
    const isAi = root.dataset.isAi === "true";
    const maxChars = () => Number(root.dataset.maxChars || "0"); // 0: no limit here
    const branchUrl = root.dataset.branchUrl || "";
    const api = `/api/v1/conversations/${encodeURIComponent(root.dataset.conversation || "")}`;
    let busy = false;
    let controller = null; // the AbortController of the reply streaming now
    let abortReason = "";
    let stopTimer = 0;

    // ---- text ---------------------------------------------------------------

    function t(message, values) {
      const text = Object.prototype.hasOwnProperty.call(strings, message) ? strings[message] : message;
      return text.replace(/%\((\w+)\)s/g, (_, key) => String(values && key in values ? values[key] : ""));
    }

    // ---- small DOM helpers ----------------------------------------------------

    function el(tag, className, text) {
      const node = document.createElement(tag);
      if (className) node.className = className;
      if (text !== undefined) node.textContent = text;
      return node;
    }

    function button(action, label, ariaLabel, disabled, className) {
      const b = el("button", className || "button button--quiet button--small", label);
      b.type = "button";
      b.dataset.action = action;
      if (ariaLabel) b.setAttribute("aria-label", ariaLabel);
      if (disabled) b.dataset.edge = "true";
      b.disabled = Boolean(disabled) || busy;
      return b;
    }

    function scroller() {
      return document.scrollingElement || document.documentElement;
    }

    function nearBottom() {
      const page = scroller();
      const listEnd = list.scrollHeight - list.scrollTop - list.clientHeight < 120;
      return page.scrollHeight - page.scrollTop - page.clientHeight < 120 && listEnd;
    }

    function scrollToEnd() {
      list.scrollTop = list.scrollHeight; // when the pane scrolls itself (an embedded pane)
      if (root.dataset.embedded !== "true") scroller().scrollTop = scroller().scrollHeight;
    }

    function announce(text) {
      if (!announcer) return;
      announcer.textContent = "";
      window.setTimeout(() => {
        announcer.textContent = text;
      }, 50);
    }

    // `retry`: a function to run again from the status's "Try again" button.
    function showError(text, retry, signIn) {
      const parts = [el("span", "chat__status-text", text)];
      if (signIn) {
        const link = el("a", "button button--small", t("Log in"));
        link.href = "/";
        parts.push(link);
      }
      if (retry) {
        const again = el("button", "button button--small", t("Try again"));
        again.type = "button";
        again.addEventListener("click", () => {
          clearStatus();
          retry();
        });
        parts.push(again);
      }
      status.replaceChildren(...parts);
      status.classList.add("chat__status--error");
      status.hidden = false;
    }

    function showNote(text) {
      status.replaceChildren(el("span", "chat__status-text", text));
      status.classList.remove("chat__status--error");
      status.hidden = false;
    }

    function clearStatus() {
      status.hidden = true;
      status.replaceChildren();
    }

    function setBusy(value, streaming) {
      busy = value;
      root.setAttribute("aria-busy", value ? "true" : "false");
      sendButton.disabled = value;
      if (stopButton) {
        stopButton.hidden = !(value && streaming);
        sendButton.hidden = Boolean(value && streaming);
      }
      for (const b of list.querySelectorAll("button")) b.disabled = value || b.dataset.edge === "true";
    }

    function focusInput() {
      input.focus({ preventScroll: true });
    }

    // ---- rendering (mirrors templates/_message.html) ---------------------------

    function avatar(name, url) {
      if (url) {
        const img = el("img", "msg__avatar");
        img.src = url;
        img.alt = "";
        img.width = 32;
        img.height = 32;
        return img;
      }
      const initial = el("span", "msg__avatar msg__avatar--initial", (name || "?").slice(0, 1).toUpperCase());
      initial.setAttribute("aria-hidden", "true");
      return initial;
    }

    function bubble(message, last) {
      const li = el("li", `msg msg--${message.role}`);
      li.dataset.id = message.id;
      li.dataset.role = message.role;
      li.dataset.swipeIndex = String(message.swipe_index ?? 0);
      li.dataset.siblingIds = (message.sibling_ids || [message.id]).join(",");
      li.dataset.content = message.content || "";
      const finish = (message.generation && message.generation.finish_reason) || "";
      if (message.generation) li.dataset.finish = finish;
      const body = el("div", "msg__body");
      li.append(
        message.role === "user" ? avatar(personName, personAvatar) : avatar(characterName, characterAvatar),
        body,
      );

      const meta = el("div", "msg__meta");
      if (message.role === "user") {
        meta.append(el("span", "msg__name", t("You")));
      } else {
        meta.append(el("span", "msg__name", characterName));
        if (isAi) {
          const badge = el("span", "badge", t("AI"));
          badge.title = t("Replies are written by an AI model");
          meta.append(badge);
        }
      }
      if (message.edited_at) meta.append(el("span", "msg__edited", t("edited")));
      const text = el("div", "msg__text");
      if (message.id) formatted(text, message.html, message.content);
      else text.textContent = message.content || ""; // not saved yet: plain text
      body.append(meta, text);
      if (finish === "length") body.append(el("p", "msg__cut", t("Cut off at the length limit.")));
      else if (finish === "stopped") body.append(el("p", "msg__cut", t("Stopped before the end.")));
      if (!message.id) return li;

      const actions = el("div", "msg__actions");
      const count = message.swipe_count || 1;
      const index = message.swipe_index || 0;
      if (count > 1) {
        const prev = button("prev", "‹", t("Previous version"), index === 0, "icon-button");
        const next = button("next", "›", t("Next version"), index + 1 >= count, "icon-button");
        actions.append(prev, el("span", "msg__swipes", `${index + 1} / ${count}`), next);
      }
      if (last && message.role === "assistant" && (finish === "length" || finish === "stopped")) {
        const more = button("continue", t("Continue"));
        more.title = t("Write more of this reply");
        actions.append(more);
      }
      if (last && (message.role === "user" || !message.is_greeting)) {
        actions.append(button("regenerate", message.role === "assistant" ? t("Regenerate") : t("Get a reply")));
      }
      const tool = "button button--quiet button--small msg__tool";
      actions.append(button("edit", t("Edit"), t("Edit this message"), false, tool));
      if (branchUrl) {
        const branch = button("branch", t("Branch"), "", false, tool);
        branch.title = t("Start a new chat from here");
        actions.append(branch);
      }
      actions.append(button("delete", t("Delete"), t("Delete this message"), false, tool));
      body.append(actions);
      return li;
    }

    function render(messages) {
      list.replaceChildren(...messages.map((m, i) => bubble(m, i === messages.length - 1)));
    }

    // "NAME is writing… N s" under a bubble until its first token comes; returns a stopper.
    function writingState(li) {
      const started = Date.now();
      const note = el("p", "msg__writing");
      const tick = () => {
        note.textContent = t("%(name)s is writing… %(seconds)s s", {
          name: characterName,
          seconds: Math.floor((Date.now() - started) / 1000),
        });
      };
      tick();
      li.querySelector(".msg__body").append(note);
      const timer = window.setInterval(tick, 1000);
      return () => {
        window.clearInterval(timer);
        note.remove();
      };
    }

    function pendingBubble() {
      const li = bubble({ id: "", role: "assistant", content: "" }, false);
      li.classList.add("msg--pending");
      li.setAttribute("aria-busy", "true");
      li.querySelector(".msg__text").setAttribute("aria-label", t("%(name)s is writing…", { name: characterName }));
      list.append(li);
      scrollToEnd();
      return li.querySelector(".msg__text");
    }

    // Continue: the saved bubble streams its new tokens after what it shows.
    function continuingBubble(li) {
      li.classList.add("msg--pending", "msg--continuing");
      li.setAttribute("aria-busy", "true");
      for (const note of li.querySelectorAll(".msg__cut")) note.remove();
      const text = li.querySelector(".msg__text");
      const blocks = text.querySelectorAll("p, li, blockquote, pre");
      const into = blocks.length ? blocks[blocks.length - 1] : text;
      const tail = el("span", "msg__more");
      into.append(tail);
      return tail;
    }

    async function refresh() {
      try {
        const response = await fetch(api, { headers: { Accept: "application/json" } });
        if (response.ok) render((await response.json()).messages || []);
      } catch {
        // Keep what is shown; the next action or a reload will catch up.
      }
    }

    // ---- talking to the server ------------------------------------------------

    // A kind sentence for a failed response: [text, signedOut, worthRetrying].
    async function errorOf(response) {
      if (response.status === 401) {
        return [t("You are signed out. Log in again, then come back to this chat."), true, false];
      }
      let code = "";
      let message = "";
      try {
        const body = await response.json();
        code = (body && body.error && body.error.code) || "";
        message = (body && body.error && body.error.message) || "";
      } catch {
        // Not JSON (a proxy's error page, say): fall through to a generic message.
      }
      if (code === "field_too_long" || code === "invalid_request" || response.status === 413) {
        return [t("That message is too long to send. Shorten it or split it into parts."), false, false];
      }
      const again = response.status >= 500 || response.status === 429 || response.status === 408;
      return [explain(code, message, response.status), false, again];
    }

    function explain(code, message, httpStatus) {
      if (code === "backend_timeout" || httpStatus === 504) return t("The model took too long to answer.");
      if (code === "backend_unavailable" || httpStatus === 502 || httpStatus === 503) {
        return t("The model is not available right now.");
      }
      if (code === "backend_rate_limited" || httpStatus === 429) return t("The model is busy; wait a moment.");
      if (code === "backend_context_overflow") return t("The conversation is too long for this model.");
      if (code === "not_found" || httpStatus === 404) return t("This conversation or message no longer exists.");
      if (message) return t("Something went wrong: %(reason)s", { reason: message });
      return t("The server answered with an error (%(status)s).", { status: httpStatus });
    }

    function unreachable() {
      return t("Could not reach the server. Check the connection and try again.");
    }

    // Server-sent events from a fetch() body (EventSource cannot POST).
    async function* readEvents(response, onBytes) {
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      const boundary = /\r?\n\r?\n/;
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        onBytes();
        buffer += decoder.decode(value, { stream: true });
        let match;
        while ((match = boundary.exec(buffer)) !== null) {
          const block = buffer.slice(0, match.index);
          buffer = buffer.slice(match.index + match[0].length);
          let name = "message";
          const data = [];
          for (const line of block.split(/\r?\n/)) {
            if (line.startsWith("event:")) name = line.slice(6).trim();
            else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
          }
          if (data.length) yield { name, data: JSON.parse(data.join("\n")) };
        }
      }
    }

    // POST to an SSE endpoint and stream the reply into a new bubble. `restore` runs when the
    // request failed before anything was saved; a failed reply offers to try again.
    // `into`: a saved bubble to extend (Continue) instead of a new pending one.
    async function streamReply(url, body, restore, into) {
      setBusy(true, true);
      clearStatus();
      const text = into ? continuingBubble(into) : pendingBubble();
      const bubbleOf = text.closest("li.msg");
      let stopWriting = writingState(bubbleOf);
      controller = new AbortController();
      abortReason = "";
      let idle = 0;
      const touch = () => {
        window.clearTimeout(idle);
        idle = window.setTimeout(() => {
          abortReason = "timeout";
          // Leaving the stream lets the reply run on (and be saved), so end it too.
          fetch(`${api}/stop`, { method: "POST", headers: { Accept: "application/json" } }).catch(() => {});
          if (controller) controller.abort();
        }, IDLE_TIMEOUT_MS);
      };
      touch();
      let failure = null;
      let retry = into ? null : () => streamReply(url, body, restore);
      let stoppedEarly = false;
      let signIn = false;
      let finished = false;
      try {
        let response;
        try {
          response = await fetch(url, {
            method: "POST",
            headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
            body: JSON.stringify(body),
            signal: controller.signal,
          });
        } catch {
          if (abortReason === "stop") return;
          failure = abortReason === "timeout" ? t("The model took too long to answer.") : unreachable();
          if (restore) restore();
          return;
        }
        if (!response.ok || !response.body) {
          let again;
          [failure, signIn, again] = await errorOf(response);
          if (!again) retry = null;
          if (restore) restore();
          return;
        }
        let first = true;
        for await (const event of readEvents(response, touch)) {
          if (event.name === "start" && event.data.user_message_id) {
            // The message is saved: trying again now means a new reply under it.
            const saved = event.data.user_message_id;
            retry = () => streamReply(`${api}/messages/${encodeURIComponent(saved)}/regenerate`, { stream: true });
          } else if (event.name === "token") {
            const follow = nearBottom();
            if (stopWriting) {
              stopWriting();
              stopWriting = null;
            }
            text.append(first && !into ? event.data.text.trimStart() : event.data.text);
            first = false;
            if (follow) scrollToEnd();
          } else if (event.name === "done") {
            finished = true;
          } else if (event.name === "error") {
            if (event.data.code === "stopped") stoppedEarly = true;
            else failure = t("Sorry, no reply this time.") + " " + explain(event.data.code, event.data.message, 0);
          }
        }
      } catch {
        if (abortReason === "timeout") failure = t("The model took too long to answer.");
        else if (abortReason !== "stop") failure = t("The connection dropped while the reply was streaming.");
      } finally {
        window.clearTimeout(idle);
        window.clearTimeout(stopTimer);
        if (stopWriting) stopWriting();
        controller = null;
        const wasFocused = root.contains(document.activeElement) || document.activeElement === document.body;
        await refresh();
        setBusy(false, false);
        if (failure) {
          showError(failure, retry, signIn);
          announce(failure);
        } else if (abortReason === "stop" || stoppedEarly) {
          showNote(t("Stopped. What was written so far is saved."));
          announce(t("Stopped."));
        } else if (finished) {
          announce(t("%(name)s replied.", { name: characterName }));
        }
        if (wasFocused) focusInput();
      }
    }

    // A JSON request that answers with the conversation as now shown; re-renders it.
    async function call(method, path, body) {
      setBusy(true, false);
      clearStatus();
      try {
        const response = await fetch(`${api}${path}`, {
          method,
          headers: body ? { "Content-Type": "application/json", Accept: "application/json" } : { Accept: "application/json" },
          body: body ? JSON.stringify(body) : undefined,
        });
        if (!response.ok) {
          const [text, signIn, again] = await errorOf(response);
          showError(text, again ? () => call(method, path, body) : null, signIn);
          return null;
        }
        return response.status === 204 ? {} : await response.json();
      } catch {
        showError(unreachable(), () => call(method, path, body));
        return null;
      } finally {
        setBusy(false, false);
      }
    }

    // Put focus back on the same control of the message at `index` after a re-render.
    function refocus(index, action) {
      const items = list.querySelectorAll("li.msg");
      const li = items[Math.min(index, items.length - 1)];
      const wanted = li && (li.querySelector(`button[data-action=${action}]:not(:disabled)`) ||
        li.querySelector("button[data-action]:not(:disabled)"));
      if (wanted) wanted.focus();
      else focusInput();
    }

    async function select(li, messageId, action) {
      const index = [...list.children].indexOf(li);
      const result = await call("POST", `/messages/${encodeURIComponent(messageId)}/select`);
      if (result) {
        render(result.messages || []);
        refocus(index, action);
        const swipes = list.children[index] && list.children[index].querySelector(".msg__swipes");
        if (swipes) announce(t("Version %(n)s", { n: swipes.textContent }));
      }
    }

    // ---- edit, delete, branch ----------------------------------------------------

    function startEdit(li) {
      const textNode = li.querySelector(".msg__text");
      const actions = li.querySelector(".msg__actions");
      if (!textNode || li.querySelector(".msg__editor")) return;
      const editor = el("form", "msg__editor");
      const id = `edit-${li.dataset.id}`;
      const label = el("label", "visually-hidden", t("Edit message"));
      label.htmlFor = id;
      const area = el("textarea", "msg__edit-input");
      area.id = id;
      area.value = li.dataset.content ?? textNode.textContent;
      area.rows = Math.min(12, Math.max(3, area.value.split("\n").length + 1));
      const save = el("button", "button button--small", t("Save"));
      save.type = "submit";
      const cancel = el("button", "button button--quiet button--small", t("Cancel"));
      cancel.type = "button";
      const row = el("div", "msg__editor-actions");
      row.append(save, cancel);
      editor.append(label, area, row);
      textNode.hidden = true;
      if (actions) actions.hidden = true;
      for (const note of li.querySelectorAll(".msg__cut")) note.hidden = true;
      li.classList.add("msg--editing");
      textNode.after(editor);
      area.focus();

      const close = () => {
        editor.remove();
        li.classList.remove("msg--editing");
        for (const note of li.querySelectorAll(".msg__cut")) note.hidden = false;
        textNode.hidden = false;
        if (actions) actions.hidden = false;
        const again = li.querySelector("button[data-action=edit]");
        if (again) again.focus();
      };
      cancel.addEventListener("click", close);
      area.addEventListener("keydown", (event) => {
        if (event.key === "Escape") {
          event.preventDefault();
          close();
        } else if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
          event.preventDefault();
          editor.requestSubmit();
        }
      });
      editor.addEventListener("submit", async (event) => {
        event.preventDefault();
        const content = area.value;
        if (!content.trim()) {
          area.focus();
          return;
        }
        if (maxChars() && content.length > maxChars()) {
          showError(t("That message is too long: %(count)s characters, and the limit is %(max)s.", { count: content.length, max: maxChars() }));
          return;
        }
        const index = [...list.children].indexOf(li);
        const saved = await call("PATCH", `/messages/${encodeURIComponent(li.dataset.id)}`, { content });
        if (saved) {
          await refresh();
          refocus(index, "edit");
          announce(t("Message saved."));
        }
      });
    }

    function confirmDelete(li) {
      const actions = li.querySelector(".msg__actions");
      if (!actions || li.querySelector(".msg__confirm")) return;
      const box = el("div", "msg__confirm");
      box.setAttribute("role", "group");
      const question = el("span", "msg__confirm-text", t("Delete this message and every reply after it?"));
      question.id = `confirm-${li.dataset.id}`;
      box.setAttribute("aria-labelledby", question.id);
      const yes = el("button", "button button--small chat__danger", t("Delete"));
      yes.type = "button";
      const no = el("button", "button button--quiet button--small", t("Cancel"));
      no.type = "button";
      box.append(question, yes, no);
      actions.hidden = true;
      actions.after(box);
      no.focus();
      const close = () => {
        box.remove();
        actions.hidden = false;
        const again = li.querySelector("button[data-action=delete]");
        if (again) again.focus();
      };
      no.addEventListener("click", close);
      box.addEventListener("keydown", (event) => {
        if (event.key === "Escape") close();
      });
      yes.addEventListener("click", async () => {
        const result = await call("DELETE", `/messages/${encodeURIComponent(li.dataset.id)}`);
        if (result) {
          render(result.messages || []);
          announce(t("Message deleted."));
          focusInput();
        } else {
          close();
        }
      });
    }

    async function branchFrom(li) {
      const result = await call("POST", "/branch", { message_id: li.dataset.id });
      if (result && result.id) window.location.assign(`${branchUrl}${encodeURIComponent(result.id)}`);
    }

    // ---- wiring -------------------------------------------------------------------

    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const content = input.value;
      if (busy || !content.trim()) return;
      if (maxChars() && content.length > maxChars()) {
        showError(t("That message is too long: %(count)s characters, and the limit is %(max)s.", { count: content.length, max: maxChars() }));
        focusInput();
        return;
      }
      input.value = "";
      const mine = bubble({ id: "", role: "user", content }, false);
      list.append(mine);
      streamReply(`${api}/messages`, { content }, () => {
        mine.remove();
        if (!input.value) input.value = content;
      });
    });

    if (stopButton) {
      // Stop asks the server to end the generation (the model stops, the partial is saved);
      // the stream then ends by itself with the saved reply. Leaving the stream would not
      // stop it (a dropped connection must not lose a reply), so while the reply has not
      // started yet (the prompt still being read) ask again until it stops or ends.
      stopButton.addEventListener("click", async () => {
        if (!controller || abortReason === "stop") return;
        const current = controller;
        abortReason = "stop";
        stopButton.disabled = true;
        stopTimer = window.setTimeout(() => current.abort(), STOP_GRACE_MS);
        const until = Date.now() + STOP_GRACE_MS;
        try {
          while (controller === current && Date.now() < until) {
            const response = await fetch(`${api}/stop`, { method: "POST", headers: { Accept: "application/json" } });
            if (!response.ok) break;
            if ((await response.json()).stopped) return;
            await new Promise((resolve) => window.setTimeout(resolve, 100));
          }
          if (controller === current) current.abort();
        } catch {
          current.abort();
        } finally {
          stopButton.disabled = false;
        }
      });
    }

    input.addEventListener("keydown", (event) => {
      const coarse = window.matchMedia("(pointer: coarse)").matches;
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing && !coarse) {
        event.preventDefault();
        form.requestSubmit();
      }
    });

    list.addEventListener("click", (event) => {
      const target = event.target instanceof Element ? event.target.closest("button[data-action]") : null;
      if (!target || busy) return;
      const li = target.closest("li[data-id]");
      if (!li || !li.dataset.id) return;
      const action = target.dataset.action;
      if (action === "continue") {
        streamReply(`${api}/messages/${encodeURIComponent(li.dataset.id)}/continue`, { stream: true }, null, li);
      } else if (action === "regenerate") {
        if (li.dataset.role === "assistant") li.remove();
        streamReply(`${api}/messages/${encodeURIComponent(li.dataset.id)}/regenerate`, { stream: true });
      } else if (action === "edit") {
        startEdit(li);
      } else if (action === "delete") {
        confirmDelete(li);
      } else if (action === "branch") {
        branchFrom(li);
      } else if (action === "prev" || action === "next") {
        const siblings = (li.dataset.siblingIds || "").split(",").filter(Boolean);
        const index = Number(li.dataset.swipeIndex || "0") + (action === "next" ? 1 : -1);
        if (index >= 0 && index < siblings.length) select(li, siblings[index], action);
      }
    });

    // Server-rendered swipe arrows at either end stay disabled when buttons are re-enabled.
    for (const b of list.querySelectorAll("button[data-action=prev], button[data-action=next]")) {
      b.dataset.edge = String(b.disabled);
    }
    sendButton.disabled = false;
    scrollToEnd();
  }

  function readStrings(node) {
    if (!node) return {};
    try {
      const parsed = JSON.parse(node.textContent || "{}");
      return parsed && typeof parsed === "object" ? parsed : {};
    } catch {
      return {};
    }
  }

  function mountAll(scope) {
    if (scope instanceof Element && scope.matches("[data-chat]")) mount(scope);
    for (const root of scope.querySelectorAll("[data-chat]")) mount(root);
  }

  window.personaeChat = { mount };
  mountAll(document);
  document.addEventListener("htmx:load", (event) => {
    if (event.target instanceof Element) mountAll(event.target);
  });
})();
