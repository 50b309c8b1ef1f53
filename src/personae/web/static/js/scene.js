// personae scene page: replies stream in live for everyone in the scene, the composer,
// and the per-message actions (swipes, regenerate, edit, delete, branch).
//
// What the server renders stays the server's: saved messages, the members panel and the
// "who speaks next" / auto-mode bar are fragments (templates/scenes/_messages.html,
// _panel.html, _live.html) that htmx fetches again when the event stream says they changed.
// This script only draws the replies being written (plain text nodes, never HTML) and sends
// what people do to the JSON API (/api/v1/scenes/{id}/...).
//
// Markup contract (templates/scenes/scene.html):
//   <div class="scene" data-scene="ID" data-me="PARTICIPANT|" data-can-write="true|false"
//        data-max-chars="N">             this script sets data-live="open|paused" (the stream)
//     <script type="application/json" class="scene__strings">{...}</script>
//     <div id="scene-live" hx-get=... hx-trigger="scene-live">        who speaks next, auto-mode
//     <ol id="scene-messages">  <li class="msg" data-id data-sibling-ids data-content>
//     <ol class="scene__pending">                                       replies being written
//     <div class="scene__status" role="status" hidden>  <p class="scene__announce" aria-live>
//     <form class="scene__composer"> textarea.scene__input, .scene__send, .scene__stop
//     <div id="scene-panel-body" hx-get=... hx-trigger="scene-members">  li[data-member][data-avatar]
"use strict";

(() => {
  const root = document.querySelector("[data-scene]");
  if (!root) return;

  const sceneId = encodeURIComponent(root.dataset.scene || "");
  const api = `/api/v1/scenes/${sceneId}`;
  const pageUrl = `/scenes/${sceneId}`;
  const me = root.dataset.me || "";
  const canWrite = root.dataset.canWrite === "true";
  const maxChars = Number(root.dataset.maxChars || "0");
  const strings = readStrings(root.querySelector(".scene__strings"));
  const pendingList = root.querySelector(".scene__pending");
  const status = root.querySelector(".scene__status");
  const announcer = root.querySelector(".scene__announce");
  const form = root.querySelector(".scene__composer");
  const input = form && form.querySelector(".scene__input");
  const sendButton = form && form.querySelector(".scene__send");
  const stopButton = form && form.querySelector(".scene__stop");
  const TYPING_EVERY_MS = 3000; // tell the server someone types (auto-mode pauses) this often
  const pending = new Map(); // participant id -> {li, text, stopWriting}
  let held = false; // an editor or a confirmation is open: refresh the messages later
  let wantRefresh = false;
  let lastTyping = 0;
  let dropped = false;
  let gone = false; // the scene is no longer there for this person: stop listening
  const finished = []; // bubbles of replies done, until the saved messages replace them

  // ---- text and small helpers ------------------------------------------------------

  function t(message, values) {
    const text = Object.prototype.hasOwnProperty.call(strings, message) ? strings[message] : message;
    return text.replace(/%\((\w+)\)s/g, (_, key) => String(values && key in values ? values[key] : ""));
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function messages() {
    return document.getElementById("scene-messages");
  }

  function announce(text) {
    if (!announcer) return;
    announcer.textContent = "";
    window.setTimeout(() => {
      announcer.textContent = text;
    }, 50);
  }

  function showStatus(text, isError, retry, signIn) {
    if (!status) return;
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
    status.classList.toggle("chat__status--error", Boolean(isError));
    status.hidden = false;
  }

  function clearStatus() {
    if (!status) return;
    status.hidden = true;
    status.replaceChildren();
  }

  function nearBottom() {
    const page = document.scrollingElement || document.documentElement;
    return page.scrollHeight - page.scrollTop - page.clientHeight < 160;
  }

  function scrollToEnd() {
    const page = document.scrollingElement || document.documentElement;
    page.scrollTop = page.scrollHeight;
  }

  // ---- server-rendered fragments --------------------------------------------------

  // Finished replies stay on show until the saved messages (which hold them) arrive.
  function refreshMessages() {
    if (held) {
      wantRefresh = true;
      return;
    }
    wantRefresh = false;
    const follow = nearBottom();
    const target = messages();
    if (!target || !window.htmx) return;
    const shown = finished.splice(0);
    window.htmx
      // The list swaps itself whole: its own hx-swap says so (htmx parses the server's
      // rendering; this script never writes HTML).
      .ajax("GET", `${pageUrl}/messages`, { target })
      .then(() => {
        for (const li of shown) li.remove();
        if (follow) scrollToEnd();
      })
      .catch(() => finished.push(...shown));
  }

  function release() {
    held = false;
    if (wantRefresh) refreshMessages();
  }

  function trigger(id, name) {
    const target = document.getElementById(id);
    if (target && window.htmx) window.htmx.trigger(target, name);
  }

  // ---- replies being written --------------------------------------------------------

  function avatarOf(participantId, name) {
    const member = document.querySelector(`[data-member="${CSS.escape(participantId)}"]`);
    const url = member ? member.dataset.avatar || "" : "";
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

  function startReply(data) {
    const id = data.participant_id || "";
    endReply(id);
    const li = el("li", "msg msg--assistant msg--pending");
    li.setAttribute("aria-busy", "true");
    li.dataset.speaker = id;
    const body = el("div", "msg__body");
    const meta = el("div", "msg__meta");
    meta.append(el("span", "msg__name", data.name || ""));
    const badge = el("span", "badge", t("AI"));
    badge.title = t("Replies are written by an AI model");
    meta.append(badge);
    if (data.reason) {
      const why = el("span", "msg__reason", data.reason);
      why.title = t("Why this character spoke");
      meta.append(why);
    }
    const text = el("div", "msg__text");
    text.setAttribute("aria-label", t("%(name)s is writing…", { name: data.name || "" }));
    const note = el("p", "msg__writing");
    body.append(meta, text, note);
    li.append(avatarOf(id, data.name), body);
    const follow = nearBottom();
    if (pendingList) pendingList.append(li);
    if (follow) scrollToEnd();
    const started = Date.now();
    const tick = () => {
      note.textContent = t("%(name)s is writing… %(seconds)s s", {
        name: data.name || "",
        seconds: Math.floor((Date.now() - started) / 1000),
      });
    };
    tick();
    const timer = window.setInterval(tick, 1000);
    pending.set(id, {
      li,
      text,
      name: data.name || "",
      first: true,
      stopWriting: () => {
        window.clearInterval(timer);
        note.remove();
      },
    });
    showStop();
  }

  function addToken(data) {
    const reply = pending.get(data.participant_id || "");
    if (!reply) return;
    const follow = nearBottom();
    reply.stopWriting();
    reply.text.append(reply.first ? String(data.text || "").trimStart() : String(data.text || ""));
    reply.first = false;
    if (follow) scrollToEnd();
  }

  function endReply(participantId) {
    const reply = pending.get(participantId);
    if (!reply) return null;
    reply.stopWriting();
    reply.li.remove();
    pending.delete(participantId);
    showStop();
    return reply;
  }

  function endAll() {
    for (const id of [...pending.keys()]) endReply(id);
  }

  function showStop() {
    if (!stopButton || !canWrite) return;
    stopButton.hidden = pending.size === 0;
  }

  // ---- the live stream ------------------------------------------------------------

  function parse(event) {
    try {
      return JSON.parse(event.data || "{}");
    } catch {
      return {};
    }
  }

  function connect() {
    if (!window.EventSource) return;
    const source = new EventSource(`${api}/events`);
    source.addEventListener("start", (event) => startReply(parse(event)));
    source.addEventListener("token", (event) => addToken(parse(event)));
    source.addEventListener("done", (event) => {
      const data = parse(event);
      const speaker = data.message && data.message.speaker ? data.message.speaker : {};
      const reply = pending.get(speaker.participant_id || "");
      if (reply) {
        reply.stopWriting();
        reply.li.classList.remove("msg--pending");
        reply.li.removeAttribute("aria-busy");
        pending.delete(speaker.participant_id || "");
        finished.push(reply.li);
        showStop();
      }
      refreshMessages();
      announce(t("%(name)s replied.", { name: speaker.name || (reply && reply.name) || "" }));
    });
    source.addEventListener("message", () => refreshMessages());
    source.addEventListener("error", (event) => {
      // The stream's own `error` event (a reply that failed), not a dropped connection.
      if (!(event instanceof MessageEvent) || !event.data) return;
      const data = parse(event);
      if (data.participant_id) endReply(data.participant_id);
      else endAll();
      if (data.code === "not_found") {
        // The scene was deleted, or this person left or was removed: nothing more to hear.
        gone = true;
        source.close();
        showStatus(t("This scene or message no longer exists."), true);
        if (input) input.disabled = true;
        return;
      }
      if (data.code === "stopped") {
        announce(t("Stopped."));
        refreshMessages();
      } else {
        const text = `${t("Sorry, no reply this time.")} ${explain(data.code, data.message, 0)}`;
        showStatus(text, true);
        announce(text);
      }
    });
    source.addEventListener("members", () => trigger("scene-panel-body", "scene-members"));
    source.addEventListener("next", () => trigger("scene-live", "scene-live"));
    source.addEventListener("auto", () => trigger("scene-live", "scene-live"));
    source.addEventListener("scene", () => {
      // The owner changed the settings: show the turn-taking and the panel as they are now.
      trigger("scene-live", "scene-live");
      trigger("scene-panel-body", "scene-members");
    });
    source.onopen = () => {
      root.dataset.live = "open"; // listening (tests wait for it before making replies)
      if (!dropped) return;
      // Back after a drop: whatever was written meanwhile is saved; show it.
      dropped = false;
      endAll();
      clearStatus();
      announce(t("Live again."));
      refreshMessages();
      trigger("scene-live", "scene-live");
      trigger("scene-panel-body", "scene-members");
    };
    source.onerror = (event) => {
      if (event instanceof MessageEvent && event.data) return; // a reply's `error` event
      if (source.readyState === EventSource.CLOSED && !gone) {
        // The server refused the stream (signed out, or the scene is gone): try later.
        window.setTimeout(connect, 5000);
      }
      if (!dropped) {
        dropped = true;
        root.dataset.live = "paused";
        showStatus(t("Live updates paused; reconnecting…"), false);
      }
    };
  }

  // ---- talking to the server --------------------------------------------------------

  function explain(code, message, httpStatus) {
    if (code === "backend_timeout" || httpStatus === 504) return t("The model took too long to answer.");
    if (code === "backend_unavailable" || httpStatus === 502 || httpStatus === 503) {
      return t("The model is not available right now.");
    }
    if (code === "backend_rate_limited" || httpStatus === 429) return t("The model is busy; wait a moment.");
    if (code === "backend_context_overflow") return t("The conversation is too long for this model.");
    if (code === "not_found" || httpStatus === 404) return t("This scene or message no longer exists.");
    if (message) return t("Something went wrong: %(reason)s", { reason: message });
    return t("The server answered with an error (%(status)s).", { status: httpStatus || "?" });
  }

  // A kind sentence for a failed response: [text, signedOut, worthRetrying].
  async function errorOf(response) {
    if (response.status === 401) {
      return [t("You are signed out. Log in again, then come back to this scene."), true, false];
    }
    let code = "";
    let message = "";
    try {
      const body = await response.json();
      code = (body && body.error && body.error.code) || "";
      message = (body && body.error && body.error.message) || "";
    } catch {
      // Not JSON (a proxy's error page): a generic sentence below.
    }
    if (code === "field_too_long" || response.status === 413) {
      return [t("That message is too long to send. Shorten it or split it into parts."), false, false];
    }
    const again = response.status >= 500 || response.status === 429 || response.status === 408;
    return [explain(code, message, response.status), false, again];
  }

  // A JSON request; shows what went wrong and returns null when it failed.
  async function call(method, path, body) {
    clearStatus();
    try {
      const response = await fetch(`${api}${path}`, {
        method,
        headers: body ? { "Content-Type": "application/json", Accept: "application/json" } : { Accept: "application/json" },
        body: body ? JSON.stringify(body) : undefined,
      });
      if (!response.ok) {
        const [text, signIn, again] = await errorOf(response);
        showStatus(text, true, again ? () => call(method, path, body) : null, signIn);
        announce(text);
        return null;
      }
      if (response.status === 204) return {};
      try {
        return await response.json();
      } catch {
        return {};
      }
    } catch {
      const text = t("Could not reach the server. Check the connection and try again.");
      showStatus(text, true, () => call(method, path, body));
      return null;
    }
  }

  // ---- the composer ------------------------------------------------------------------

  if (form && input && sendButton) {
    const persona = form.querySelector("[name=persona_id]");
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const content = input.value;
      if (!content.trim()) return;
      if (maxChars && content.length > maxChars) {
        showStatus(t("That message is too long: %(count)s characters, and the limit is %(max)s.", { count: content.length, max: maxChars }), true);
        return;
      }
      const body = { content };
      if (persona && persona.value) body.persona_id = persona.value;
      sendButton.disabled = true;
      input.value = "";
      const sent = await call("POST", "/messages", body);
      sendButton.disabled = false;
      if (sent) {
        refreshMessages();
        scrollToEnd();
      } else if (!input.value) {
        input.value = content; // refused: keep what was written
      }
      input.focus({ preventScroll: true });
    });
    input.addEventListener("keydown", (event) => {
      const coarse = window.matchMedia("(pointer: coarse)").matches;
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing && !coarse) {
        event.preventDefault();
        form.requestSubmit();
      }
    });
    input.addEventListener("input", () => {
      // Someone is typing: auto-mode waits for them (the server pauses it).
      const now = Date.now();
      if (!input.value.trim() || now - lastTyping < TYPING_EVERY_MS) return;
      lastTyping = now;
      fetch(`${api}/typing`, { method: "POST", headers: { Accept: "application/json" } }).catch(() => {});
    });
    if (stopButton) {
      stopButton.addEventListener("click", async () => {
        stopButton.disabled = true;
        const answer = await call("POST", "/stop");
        stopButton.disabled = false;
        if (answer && answer.stopped) {
          showStatus(t("Stopped. What was written so far is saved."), false);
          announce(t("Stopped."));
          if (input) input.focus({ preventScroll: true });
        }
      });
    }
    sendButton.disabled = false;
  }

  // ---- per-message actions --------------------------------------------------------------

  function startEdit(li) {
    const textNode = li.querySelector(".msg__text");
    const actions = li.querySelector(".msg__actions");
    if (!textNode || li.querySelector(".msg__editor")) return;
    held = true;
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
    li.classList.add("msg--editing");
    textNode.after(editor);
    area.focus();
    const close = () => {
      editor.remove();
      li.classList.remove("msg--editing");
      textNode.hidden = false;
      if (actions) actions.hidden = false;
      const again = li.querySelector("button[data-action=edit]");
      if (again) again.focus();
      release();
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
      if (!content.trim()) return;
      if (maxChars && content.length > maxChars) {
        showStatus(t("That message is too long: %(count)s characters, and the limit is %(max)s.", { count: content.length, max: maxChars }), true);
        return;
      }
      if (await call("PATCH", `/messages/${encodeURIComponent(li.dataset.id)}`, { content })) {
        held = false;
        refreshMessages();
        announce(t("Message saved."));
      }
    });
  }

  function confirmDelete(li) {
    const actions = li.querySelector(".msg__actions");
    if (!actions || li.querySelector(".msg__confirm")) return;
    held = true;
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
      release();
    };
    no.addEventListener("click", close);
    box.addEventListener("keydown", (event) => {
      if (event.key === "Escape") close();
    });
    yes.addEventListener("click", async () => {
      if (await call("DELETE", `/messages/${encodeURIComponent(li.dataset.id)}`)) {
        held = false;
        refreshMessages();
        announce(t("Message deleted."));
        if (input) input.focus({ preventScroll: true });
      } else {
        close();
      }
    });
  }

  root.addEventListener("click", async (event) => {
    const target = event.target instanceof Element ? event.target.closest("button[data-action]") : null;
    const li = target && target.closest("#scene-messages li[data-id]");
    if (!target || !li || !canWrite) return;
    const id = li.dataset.id;
    const action = target.dataset.action;
    if (action === "prev" || action === "next") {
      const siblings = (li.dataset.siblingIds || "").split(",").filter(Boolean);
      const index = Number(li.dataset.swipeIndex || "0") + (action === "next" ? 1 : -1);
      if (index < 0 || index >= siblings.length) return;
      if (await call("POST", `/messages/${encodeURIComponent(siblings[index])}/select`)) {
        refreshMessages();
        announce(t("Version %(n)s", { n: `${index + 1} / ${siblings.length}` }));
      }
    } else if (action === "regenerate") {
      target.disabled = true;
      if (!(await call("POST", `/messages/${encodeURIComponent(id)}/regenerate`))) target.disabled = false;
    } else if (action === "edit") {
      startEdit(li);
    } else if (action === "delete") {
      confirmDelete(li);
    } else if (action === "branch") {
      const made = await call("POST", "/branch", { message_id: id });
      const madeId = made && (made.id || (made.scene && made.scene.id));
      if (madeId) window.location.assign(`/scenes/${encodeURIComponent(madeId)}`);
    }
  });

  // Panel forms (htmx) answered with an error fragment: say it aloud too.
  document.body.addEventListener("htmx:afterSwap", (event) => {
    const alert = event.target instanceof Element ? event.target.querySelector("[role=alert]") : null;
    if (alert) announce(alert.textContent || "");
  });

  function readStrings(node) {
    if (!node) return {};
    try {
      const parsed = JSON.parse(node.textContent || "{}");
      return parsed && typeof parsed === "object" ? parsed : {};
    } catch {
      return {};
    }
  }

  connect();
  scrollToEnd();
})();
