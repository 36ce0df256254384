// Chat page: optimistic send, token streaming over SSE (resumable), stop.
// Text is inserted with textContent only, so a model cannot inject markup.
(function () {
  "use strict";

  // History panel: collapsible beside the conversation, a drawer on a phone.
  const screen = document.getElementById("chat-screen");
  const phone = window.matchMedia("(max-width: 860px)");
  const openButton = document.getElementById("history-open");
  const collapseButton = document.getElementById("history-collapse");
  const backdrop = document.getElementById("chat-backdrop");
  const search = document.getElementById("chat-search");

  function showHistory(on) {
    if (!screen) return;
    if (phone.matches) {
      screen.classList.toggle("history-open", on);
      if (backdrop) backdrop.hidden = !on;
    } else {
      screen.classList.toggle("history-collapsed", !on);
      try { localStorage.setItem("chat-history-collapsed", on ? "" : "1"); } catch (e) { /* private mode */ }
    }
    if (openButton) openButton.setAttribute("aria-expanded", on ? "true" : "false");
    if (collapseButton) collapseButton.setAttribute("aria-expanded", on ? "true" : "false");
  }
  if (screen) {
    let collapsed = false;
    try { collapsed = !phone.matches && localStorage.getItem("chat-history-collapsed") === "1"; } catch (e) { /* private mode */ }
    if (collapsed) showHistory(false);
    if (openButton) openButton.addEventListener("click", () => { showHistory(true); if (search) search.focus(); });
    if (collapseButton) collapseButton.addEventListener("click", () => { showHistory(false); if (openButton) openButton.focus(); });
    if (backdrop) backdrop.addEventListener("click", () => showHistory(false));
  }

  // Ctrl/Cmd+K: search the history; Esc closes the drawer (and stops an answer, below).
  document.addEventListener("keydown", (event) => {
    if ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === "k" && search) {
      event.preventDefault();
      showHistory(true);
      search.focus();
      search.select();
    } else if (event.key === "Escape" && screen && screen.classList.contains("history-open")) {
      showHistory(false);
      if (openButton) openButton.focus();
    }
  });

  // Copy to the clipboard, with a short "Copied" on the button.
  function copy(button, text) {
    navigator.clipboard.writeText(text).then(() => {
      const label = button.querySelector(".sr-only");
      const before = button.getAttribute("title");
      button.setAttribute("title", "Copied");
      button.classList.add("copied");
      if (label) label.dataset.before = label.dataset.before || label.textContent;
      if (label) label.textContent = "Copied";
      setTimeout(() => {
        button.setAttribute("title", before || "");
        button.classList.remove("copied");
        if (label) label.textContent = label.dataset.before;
      }, 1500);
    });
  }

  // Actions under an answer, by the data-action of their button
  // (templates/chat/message_actions.html): add one here and a button there.
  const ACTIONS = {
    copy: (button, message) => copy(button, message.dataset.raw || message.querySelector(".bubble-text").textContent),
  };
  document.addEventListener("click", (event) => {
    const button = event.target.closest("[data-action]");
    if (button && ACTIONS[button.dataset.action]) {
      ACTIONS[button.dataset.action](button, button.closest(".bubble"));
      return;
    }
    const code = event.target.closest(".code-copy");
    if (code) { copy(code, code.parentElement.querySelector("code").textContent); return; }
    const bubbleEl = event.target.closest(".bubble");
    if (bubbleEl && !event.target.closest("a, button, form")) bubbleEl.classList.toggle("show-meta");  // tap shows time and model
  });

  // The empty screen's composer: Enter starts the conversation (the form posts).
  const starter = document.getElementById("start-input");
  if (starter) {
    starter.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing && starter.value.trim()) {
        event.preventDefault();
        starter.form.requestSubmit();
      }
    });
  }

  const root = document.getElementById("chat");
  if (!root) return;
  const log = document.getElementById("chat-log");
  const scroller = document.getElementById("chat-scroll");
  const jump = document.getElementById("jump-latest");
  const form = document.getElementById("composer");
  const input = document.getElementById("composer-input");
  const send = document.getElementById("send-button");
  const stop = document.getElementById("stop-button");
  const errorBox = document.getElementById("composer-error");
  const picker = document.getElementById("model-picker");
  const csrf = form.querySelector("input[name=csrfmiddlewaretoken]").value;
  // A new bubble's time as the server renders saved ones ("j M, H:i" in UTC, the
  // project's TIME_ZONE), so a message reads the same before and after a reload.
  const STAMP = new Intl.DateTimeFormat("en-GB", {
    day: "numeric", month: "short", hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZone: "UTC",
  });
  let stopUrl = null;

  // Every post carries the model picked in the composer; the server remembers it for
  // the conversation and refuses one the plan does not have.
  function withModel(body) {
    return Object.assign({}, body || {}, picker ? { model: picker.value } : {});
  }

  function bubble(role, text) {
    const empty = document.getElementById("chat-empty");
    if (empty) empty.hidden = true;  // back if the first post is refused
    const el = document.createElement("article");
    el.className = "bubble bubble-" + role;
    el.setAttribute("aria-label", role === "user" ? "You" : "Assistant");
    const body = document.createElement("div");
    body.className = "bubble-text";
    body.textContent = text;
    el.appendChild(body);
    if (role === "assistant") {
      const actions = document.getElementById("answer-actions");
      if (actions) el.appendChild(actions.content.cloneNode(true));
    }
    const meta = document.createElement("div");
    meta.className = "bubble-meta";
    const time = document.createElement("time");
    const now = new Date();
    time.dateTime = now.toISOString();
    time.textContent = STAMP.format(now);
    meta.appendChild(time);
    el.appendChild(meta);
    log.appendChild(el);
    following = true;
    toBottom();
    return el;
  }

  // Follow new tokens while the reader is at the bottom; stop when they scroll up.
  let following = true;
  function atBottom() {
    return scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 40;
  }
  let pinnedAt = 0;  // where the last follow left the view
  function toBottom() {
    scroller.scrollTop = scroller.scrollHeight;
    pinnedAt = scroller.scrollTop;
    jump.hidden = true;
  }
  scroller.addEventListener("scroll", () => {
    following = atBottom();
    if (following) jump.hidden = true;
  }, { passive: true });
  jump.addEventListener("click", () => { following = true; toBottom(); input.focus(); });
  function keepUp() {
    // Moved up since the last follow (even before its scroll event arrived): stop following.
    if (scroller.scrollTop < pinnedAt - 40) following = false;
    if (following) toBottom();
    else if (!atBottom()) jump.hidden = false;
  }

  // A copy button on each code block, once an answer is drawn.
  function enhance(el) {
    el.querySelectorAll(".bubble-text pre").forEach((pre) => {
      if (pre.querySelector(".code-copy")) return;
      pre.classList.add("code-block");
      const button = document.createElement("button");
      button.type = "button";
      button.className = "icon-btn code-copy";
      button.title = "Copy code";
      const label = document.createElement("span");
      label.className = "sr-only";
      label.textContent = "Copy code";
      button.appendChild(label);
      button.insertAdjacentHTML("afterbegin", '<svg viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true"><rect x="8.5" y="8.5" width="12" height="12" rx="2"/><path d="M15.5 8.5V5.5a2 2 0 0 0-2-2h-8a2 2 0 0 0-2 2v8a2 2 0 0 0 2 2h3"/></svg>');
      pre.appendChild(button);
    });
  }

  window.addCodeCopy = enhance;

  function showModel(el, model) {
    if (!model) return;
    const meta = el.querySelector(".bubble-meta");
    if (!meta || meta.querySelector("[data-model]")) return;
    const span = document.createElement("span");
    span.className = "bubble-model";
    span.dataset.model = "";
    span.textContent = model;
    meta.appendChild(span);
  }

  // The composer grows with its text, up to its CSS max-height.
  function grow() {
    input.style.height = "auto";
    input.style.height = input.scrollHeight + "px";
  }

  // Answers keep their raw text; the rendered Markdown is redrawn at most once a frame.
  function setAnswer(el, raw) {
    el.dataset.raw = raw;
    if (el.dataset.pending) return;
    el.dataset.pending = "1";
    requestAnimationFrame(() => {
      delete el.dataset.pending;
      if (el.dataset.final) return;  // the done event already drew the final answer
      window.renderMarkdown(el.querySelector(".bubble-text"), el.dataset.raw);
    });
  }

  const tools = document.getElementById("chat-tools");
  let editing = false;

  function busy(on) {
    send.hidden = on;
    stop.hidden = !on;
    input.disabled = on;
    tools.hidden = on || !log.querySelector(".bubble-assistant");
  }

  async function post(url, body) {
    const response = await fetch(url, {
      method: "POST",
      headers: { "X-CSRFToken": csrf },
      body: new URLSearchParams(body || {}),
    });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error((data.error && data.error.message) || "That failed. Try again.");
    return data;
  }

  document.getElementById("regenerate-button").addEventListener("click", async () => {
    const last = log.querySelector(".bubble:last-child");
    busy(true);
    try {
      const data = await post(root.dataset.regenerateUrl, withModel());
      if (last && last.classList.contains("bubble-assistant")) last.remove();
      follow(bubble("assistant", ""), data);
    } catch (error) {
      busy(false);
      showError(error.message);
    }
  });

  document.getElementById("edit-button").addEventListener("click", () => {
    const questions = log.querySelectorAll(".bubble-user");
    if (!questions.length) return;
    input.value = questions[questions.length - 1].querySelector(".bubble-text").textContent;
    editing = true;
    send.textContent = "Save and ask again";
    input.focus();
  });

  // Citations: once an answer is complete, each [n] becomes a link to the passage it
  // cites, checked on the server against the passages retrieved for THAT answer. A
  // number that was not retrieved stays text, marked "not verified"; a citation whose
  // sentence shares few words with the passage is marked "check this". Built with DOM
  // nodes only, like the Markdown.
  const CITE = /\[(\d{1,4}(?:\s*,\s*\d{1,4})*)\]/g;

  function citeNode(n, byNumber) {
    const info = byNumber.get(n);
    if (!info || !info.valid) {
      const span = document.createElement("span");
      span.className = "cite cite-invalid";
      span.title = "Not one of the passages retrieved for this answer";
      span.textContent = "[" + n + "]";
      return span;
    }
    const link = document.createElement("a");
    link.className = "cite" + (info.supported ? "" : " cite-unsupported");
    link.href = info.url;
    link.title = info.title + (info.supported ? "" : " — check this: the sentence shares few words with the passage");
    link.textContent = "[" + n + "]";
    return link;
  }

  function decorate(el, rag) {
    if (!rag) return;
    const text = el.querySelector(".bubble-text");
    const byNumber = new Map((rag.citations || []).map((c) => [c.n, c]));
    if (byNumber.size) {
      const walker = document.createTreeWalker(text, NodeFilter.SHOW_TEXT, {
        acceptNode: (node) => node.parentElement.closest("pre, code, a") ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_ACCEPT,
      });
      const nodes = [];
      while (walker.nextNode()) nodes.push(walker.currentNode);
      for (const node of nodes) {
        const value = node.data;
        if (!CITE.test(value)) continue;
        CITE.lastIndex = 0;
        const parts = [];
        let last = 0;
        for (const match of value.matchAll(CITE)) {
          if (match.index > last) parts.push(document.createTextNode(value.slice(last, match.index)));
          match[1].split(",").forEach((number) => parts.push(citeNode(Number(number.trim()), byNumber)));
          last = match.index + match[0].length;
        }
        if (last < value.length) parts.push(document.createTextNode(value.slice(last)));
        node.replaceWith(...parts);
      }
    }
    const cited = (rag.sources || []).filter((source) => byNumber.has(source.n) && byNumber.get(source.n).valid);
    if (cited.length) {
      const box = document.createElement("div");
      box.className = "bubble-sources";
      const label = document.createElement("span");
      label.className = "bubble-sources-label";
      label.textContent = "Sources";
      box.appendChild(label);
      for (const source of cited) {
        const link = document.createElement("a");
        link.href = source.url;
        link.className = "source-chip";
        link.textContent = "[" + source.n + "] " + source.title + (source.heading ? " · " + source.heading : "");
        box.appendChild(link);
      }
      el.appendChild(box);
    }
    if (rag.notice) {
      const note = document.createElement("div");
      note.className = "bubble-note";
      note.textContent = rag.notice;
      el.appendChild(note);
    }
  }

  function showError(message) {
    errorBox.textContent = message;
    errorBox.hidden = !message;
  }

  // What the guardrails did to the exchange, in words (never the value they found).
  function showNotices(el, notices) {
    for (const text of notices || []) {
      const note = document.createElement("div");
      note.className = "bubble-note guard-note";
      note.dataset.guardNotice = "";
      note.textContent = text;
      el.insertBefore(note, el.querySelector(".message-actions"));
    }
  }

  // The conversation's title in the bar, the history panel and the tab.
  function setTitle(title) {
    const heading = document.querySelector(".chat-title");
    const item = document.querySelector(".chat-history-item.active");
    if (heading) {
      document.title = document.title.replace(heading.textContent, title);
      heading.textContent = title;
    }
    if (item) {
      item.title = title;
      item.querySelector(".truncate").textContent = title;
    }
  }

  function follow(el, data) {
    stopUrl = data.stop_url;
    if (data.message_id) el.dataset.message = data.message_id;
    busy(true);
    el.classList.add("streaming");
    let raw = "";
    const source = new EventSource(data.events_url);  // reconnects with Last-Event-ID by itself
    source.addEventListener("token", (e) => {
      raw += JSON.parse(e.data);
      setAnswer(el, raw);
      keepUp();
    });
    // After a conversation's first answer the server asks the model for a short title and
    // sends it on this stream as a `title` event after `done` (`title_pending` says one
    // follows); the stream ends with it. A null title: none was made (the first words stay).
    let awaitingTitle = false;
    source.addEventListener("title", (e) => {
      source.close();
      awaitingTitle = false;
      const data = JSON.parse(e.data);
      if (data.title) setTitle(data.title);
    });
    source.addEventListener("done", (e) => {
      const final = JSON.parse(e.data);
      awaitingTitle = Boolean(final.title_pending);
      if (!awaitingTitle) source.close();
      el.classList.remove("streaming");
      el.dataset.status = final.status;
      el.dataset.final = "1";
      window.renderMarkdown(el.querySelector(".bubble-text"), raw || el.dataset.raw || "");
      el.dataset.raw = raw || el.dataset.raw || "";
      enhance(el);
      decorate(el, final.rag);
      showModel(el, final.served_model);
      showNotices(el, final.notices);
      const report = el.querySelector("[data-action=report]");
      if (report) report.hidden = final.cache !== "semantic";
      if (final.status === "error" || final.status === "stopped") {
        const note = document.createElement("div");
        note.className = "bubble-note" + (final.status === "error" ? " error" : "");
        note.textContent = final.status === "stopped" ? "Stopped." : (final.error_message || "The answer failed.");
        el.appendChild(note);
      }
      busy(false);
      keepUp();
      input.focus();
    });
    source.addEventListener("error", () => {
      // A dropped connection is retried by the browser (readyState CONNECTING); a refused
      // one (the link expired, or the session ended) is final.
      if (source.readyState !== EventSource.CLOSED || awaitingTitle) return;
      el.classList.remove("streaming");
      busy(false);
      showError("Lost the connection to this answer. Reload the page to see it.");
    });
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const content = input.value.trim();
    if (!content) { showError("Type a message first."); return; }
    showError("");
    if (editing) {
      editing = false;
      send.textContent = "Send";
      busy(true);
      try {
        const data = await post(root.dataset.editUrl, withModel({ content }));
        const questions = log.querySelectorAll(".bubble-user");
        const question = questions[questions.length - 1];
        question.querySelector(".bubble-text").textContent = content;
        while (question.nextElementSibling) question.nextElementSibling.remove();
        input.value = "";
        grow();
        follow(bubble("assistant", ""), data);
      } catch (error) {
        busy(false);
        showError(error.message);
      }
      return;
    }
    const first = !log.querySelector(".bubble");
    const mine = bubble("user", content);
    const answer = bubble("assistant", "");
    answer.classList.add("streaming");
    input.value = "";
    grow();
    busy(true);
    try {
      const data = await post(root.dataset.sendUrl, withModel({ content }));
      if (first) setTitle(content.length > 60 ? content.slice(0, 60) + "…" : content);
      follow(answer, data);
    } catch (error) {
      mine.remove();
      answer.remove();
      const empty = document.getElementById("chat-empty");
      if (empty && !log.querySelector(".bubble")) empty.hidden = false;
      input.value = content;
      busy(false);
      showError(error.message);
    }
  });

  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  input.addEventListener("input", grow);

  function stopAnswer() {
    if (stopUrl && !stop.hidden) fetch(stopUrl, { method: "POST", headers: { "X-CSRFToken": csrf } });
  }
  stop.addEventListener("click", stopAnswer);
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && !stop.hidden) { event.preventDefault(); stopAnswer(); }
  });

  // Report an answer reused from the semantic cache as wrong: it is never reused again.
  ACTIONS.report = async (button, message) => {
    const url = root.dataset.reportUrl.replace("00000000-0000-0000-0000-000000000000", message.dataset.message);
    button.disabled = true;
    const note = document.createElement("div");
    note.className = "bubble-note";
    note.setAttribute("role", "status");
    try {
      const data = await post(url);
      button.querySelector("[data-label]").textContent = "Reported";
      button.classList.add("reported");
      note.textContent = data.message;
    } catch (error) {
      button.disabled = false;
      note.className = "bubble-note error";
      note.textContent = error.message;
    }
    message.appendChild(note);
  };

  // Thumbs up / down: a click rates the answer at once (again: takes the rating back); a
  // thumbs down then offers a reason and a comment, sent with the same rating.
  function feedbackUrl(kind, message) {
    const pattern = kind === "delete" ? root.dataset.feedbackDeleteUrl : root.dataset.feedbackUrl;
    return pattern.replace("00000000-0000-0000-0000-000000000000", message.dataset.message);
  }

  function showRating(message, rating, note) {
    message.querySelectorAll("[data-action=rate]").forEach((button) => {
      button.setAttribute("aria-pressed", button.dataset.rating === rating ? "true" : "false");
    });
    const status = message.querySelector("[data-feedback-status]");
    if (status) status.textContent = note || "";
  }

  function feedbackForm(message, open) {
    const box = message.querySelector("[data-feedback-form]");
    if (!box) return;
    box.hidden = !open;
    if (open) box.querySelector("input, textarea").focus();
  }

  function currentRating(message) {
    const pressed = message.querySelector("[data-action=rate][aria-pressed=true]");
    return pressed ? pressed.dataset.rating : null;
  }

  async function rate(message, body) {
    if (!message.dataset.message) return null;
    const before = currentRating(message);
    try {
      const data = await post(feedbackUrl("set", message), body);
      showRating(message, data.rating, data.message);
      return data;
    } catch (error) {
      showRating(message, before, error.message);
      return null;
    }
  }

  ACTIONS.rate = async (button, message) => {
    const rating = button.dataset.rating;
    if (button.getAttribute("aria-pressed") === "true") {
      feedbackForm(message, false);
      try {
        const data = await post(feedbackUrl("delete", message));
        showRating(message, null, data.message);
      } catch (error) {
        showRating(message, rating, error.message);
      }
      return;
    }
    const data = await rate(message, { rating });
    feedbackForm(message, Boolean(data) && rating === "down");
  };

  log.addEventListener("submit", async (event) => {
    const box = event.target.closest("[data-feedback-form]");
    if (!box) return;
    event.preventDefault();
    const message = box.closest(".bubble");
    const reason = box.querySelector("input[name=reason]:checked");
    const data = await rate(message, {
      rating: "down",
      reason: reason ? reason.value : "",
      comment: box.querySelector("textarea").value,
    });
    if (data) {
      feedbackForm(message, false);
      message.querySelector("[data-rating=down]").focus();
    }
  });

  log.addEventListener("click", (event) => {
    const cancel = event.target.closest("[data-feedback-cancel]");
    if (!cancel) return;
    const message = cancel.closest(".bubble");
    feedbackForm(message, false);
    message.querySelector("[data-rating=down]").focus();
  });

  log.addEventListener("keydown", (event) => {
    const box = event.target.closest("[data-feedback-form]");
    if (!box || event.key !== "Escape") return;
    event.stopPropagation();  // Esc closes the form, it does not stop an answer
    feedbackForm(box.closest(".bubble"), false);
    box.closest(".bubble").querySelector("[data-rating=down]").focus();
  });

  // Suggested prompts fill the composer.
  log.addEventListener("click", (event) => {
    const prompt = event.target.closest("[data-prompt]");
    if (!prompt) return;
    input.value = prompt.dataset.prompt;
    grow();
    input.focus();
  });

  // Saved answers arrive as plain text in the page: render them, then their citations.
  log.querySelectorAll(".bubble-assistant:not([data-status=streaming])").forEach((el) => {
    const text = el.querySelector(".bubble-text");
    el.dataset.raw = text.textContent;
    window.renderMarkdown(text, text.textContent);
    enhance(el);
    const data = el.querySelector("script[type='application/json']");
    if (data) decorate(el, JSON.parse(data.textContent));
  });

  grow();
  scroller.scrollTop = scroller.scrollHeight;
  if (input.value) input.focus();

  // A question typed on the empty screen: send it now, and drop it from the address so
  // a reload or a shared link does not carry it.
  if (root.hasAttribute("data-autosend") && input.value.trim()) {
    history.replaceState(null, "", location.pathname);
    form.requestSubmit();
  }

  // A refresh while an answer streams: resume it (from the start of its stream).
  const pending = log.querySelector(".bubble[data-status=streaming]");
  if (pending) {
    pending.querySelector(".bubble-text").textContent = "";
    follow(pending, { events_url: pending.dataset.eventsUrl, stop_url: pending.dataset.stopUrl });
  }
})();
