// personae chat page: send a message, stream the reply token by token, regenerate, swipe.
// Model output only ever reaches the page through textContent / text nodes, never as HTML.
"use strict";

(() => {
  const root = document.getElementById("chat");
  if (!root) return;

  const list = document.getElementById("messages");
  const form = document.getElementById("composer");
  const input = document.getElementById("composer-input");
  const sendButton = form.querySelector("button[type=submit]");
  const status = document.getElementById("chat-status");
  const characterName = root.dataset.characterName || "";
  const isAi = root.dataset.isAi === "true";
  const api = `/api/v1/conversations/${encodeURIComponent(root.dataset.conversation || "")}`;
  let busy = false;

  // ---- small DOM helpers -------------------------------------------------

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function button(action, label, ariaLabel, disabled) {
    const b = el("button", action === "regenerate" ? "button button--quiet button--small" : "icon-button", label);
    b.type = "button";
    b.dataset.action = action;
    if (ariaLabel) b.setAttribute("aria-label", ariaLabel);
    b.disabled = Boolean(disabled) || busy;
    return b;
  }

  function nearBottom() {
    const page = document.scrollingElement || document.documentElement;
    return page.scrollHeight - page.scrollTop - page.clientHeight < 120;
  }

  function scrollToEnd() {
    const page = document.scrollingElement || document.documentElement;
    page.scrollTop = page.scrollHeight;
  }

  function showStatus(text, isError) {
    status.replaceChildren(document.createTextNode(text));
    status.classList.toggle("chat__status--error", Boolean(isError));
    status.hidden = false;
  }

  function clearStatus() {
    status.hidden = true;
    status.replaceChildren();
  }

  function setBusy(value) {
    busy = value;
    root.setAttribute("aria-busy", value ? "true" : "false");
    sendButton.disabled = value;
    for (const b of list.querySelectorAll("button")) b.disabled = value || b.dataset.edge === "true";
  }

  // ---- rendering (mirrors templates/_message.html) -----------------------

  function bubble(message, last) {
    const li = el("li", `msg msg--${message.role}`);
    li.dataset.id = message.id;
    li.dataset.role = message.role;
    li.dataset.swipeIndex = String(message.swipe_index ?? 0);
    li.dataset.siblingIds = (message.sibling_ids || [message.id]).join(",");

    const meta = el("div", "msg__meta");
    if (message.role === "user") {
      meta.append(el("span", "msg__name", "You"));
    } else {
      meta.append(el("span", "msg__name", characterName));
      if (isAi) {
        const badge = el("span", "badge", "AI");
        badge.title = "Replies are written by an AI model";
        meta.append(badge);
      }
    }
    li.append(meta, el("div", "msg__text", message.content || ""));

    const count = message.swipe_count || 1;
    const index = message.swipe_index || 0;
    const canRegenerate = last && (message.role === "user" || !message.is_greeting);
    if (count > 1 || canRegenerate) {
      const actions = el("div", "msg__actions");
      if (count > 1) {
        const prev = button("prev", "‹", "Previous version", index === 0);
        const next = button("next", "›", "Next version", index + 1 >= count);
        prev.dataset.edge = String(index === 0);
        next.dataset.edge = String(index + 1 >= count);
        actions.append(prev, el("span", "msg__swipes", `${index + 1} / ${count}`), next);
      }
      if (canRegenerate) {
        actions.append(button("regenerate", message.role === "assistant" ? "Regenerate" : "Get a reply"));
      }
      li.append(actions);
    }
    return li;
  }

  function render(messages) {
    list.replaceChildren(...messages.map((m, i) => bubble(m, i === messages.length - 1)));
  }

  function pendingBubble() {
    const li = bubble({ id: "", role: "assistant", content: "" }, false);
    li.classList.add("msg--pending");
    li.setAttribute("aria-busy", "true");
    list.append(li);
    scrollToEnd();
    return li.querySelector(".msg__text");
  }

  async function refresh() {
    try {
      const response = await fetch(api, { headers: { Accept: "application/json" } });
      if (response.ok) render((await response.json()).messages || []);
    } catch {
      // Keep what is shown; the next action or a reload will catch up.
    }
  }

  // ---- talking to the server ----------------------------------------------

  async function errorText(response) {
    if (response.status === 401) return "You are signed out. Reload the page and log in again.";
    try {
      const body = await response.json();
      if (body && body.error && body.error.message) return body.error.message;
    } catch {
      // Not JSON: fall through to a generic message.
    }
    return `The server answered ${response.status}.`;
  }

  // Server-sent events from a fetch() body (EventSource cannot POST).
  async function* readEvents(response) {
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    const boundary = /\r?\n\r?\n/;
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
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

  function kindly(error) {
    const reason = (error.message || "the model failed").trim().replace(/([^.!?])$/, "$1.");
    return `Sorry, no reply this time: ${reason} You can try again.`;
  }

  // POST to an SSE endpoint and stream the reply into a new bubble; `restore` runs when
  // the request failed before anything was saved.
  async function streamReply(url, body, restore) {
    setBusy(true);
    clearStatus();
    const text = pendingBubble();
    let failure = null;
    try {
      let response;
      try {
        response = await fetch(url, {
          method: "POST",
          headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
          body: JSON.stringify(body),
        });
      } catch {
        failure = "Could not reach the server. Check the connection and try again.";
        if (restore) restore();
        return;
      }
      if (!response.ok || !response.body) {
        failure = kindly({ message: await errorText(response) });
        if (restore) restore();
        return;
      }
      let first = true;
      for await (const event of readEvents(response)) {
        if (event.name === "token") {
          const follow = nearBottom();
          text.append(first ? event.data.text.trimStart() : event.data.text);
          first = false;
          if (follow) scrollToEnd();
        } else if (event.name === "error") {
          failure = kindly(event.data);
        }
      }
    } catch {
      failure = "The connection dropped while the reply was streaming; reload in a moment to see it.";
    } finally {
      await refresh();
      setBusy(false);
      if (failure) showStatus(failure, true);
    }
  }

  async function select(messageId) {
    setBusy(true);
    clearStatus();
    try {
      const response = await fetch(`${api}/messages/${encodeURIComponent(messageId)}/select`, {
        method: "POST",
        headers: { Accept: "application/json" },
      });
      if (response.ok) render((await response.json()).messages || []);
      else showStatus(await errorText(response), true);
    } catch {
      showStatus("Could not reach the server. Check the connection and try again.", true);
    } finally {
      setBusy(false);
    }
  }

  // ---- wiring -------------------------------------------------------------

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const content = input.value;
    if (busy || !content.trim()) return;
    input.value = "";
    list.append(bubble({ id: "", role: "user", content }, false));
    streamReply(`${api}/messages`, { content }, () => {
      if (!input.value) input.value = content;
    });
  });

  input.addEventListener("keydown", (event) => {
    const touch = window.matchMedia("(pointer: coarse)").matches;
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing && !touch) {
      event.preventDefault();
      form.requestSubmit();
    }
  });

  list.addEventListener("click", (event) => {
    const target = event.target instanceof Element ? event.target.closest("button[data-action]") : null;
    if (!target || busy) return;
    const li = target.closest("li[data-id]");
    if (!li) return;
    const action = target.dataset.action;
    if (action === "regenerate") {
      if (li.dataset.role === "assistant") li.remove();
      streamReply(`${api}/messages/${encodeURIComponent(li.dataset.id)}/regenerate`, { stream: true });
      return;
    }
    const siblings = (li.dataset.siblingIds || "").split(",").filter(Boolean);
    const index = Number(li.dataset.swipeIndex || "0") + (action === "next" ? 1 : -1);
    if (index >= 0 && index < siblings.length) select(siblings[index]);
  });

  // Server-rendered swipe arrows at either end stay disabled when buttons are re-enabled.
  for (const b of list.querySelectorAll("button[data-action=prev], button[data-action=next]")) {
    b.dataset.edge = String(b.disabled);
  }
  sendButton.disabled = false;
  scrollToEnd();
})();
