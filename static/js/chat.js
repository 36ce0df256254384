// Chat page: optimistic send, token streaming over SSE (resumable), stop.
// Text is inserted with textContent only, so a model cannot inject markup.
(function () {
  "use strict";
  const root = document.getElementById("chat");
  if (!root) return;
  const log = document.getElementById("chat-log");
  const form = document.getElementById("composer");
  const input = document.getElementById("composer-input");
  const send = document.getElementById("send-button");
  const stop = document.getElementById("stop-button");
  const errorBox = document.getElementById("composer-error");
  const csrf = form.querySelector("input[name=csrfmiddlewaretoken]").value;
  let stopUrl = null;

  function bubble(role, text) {
    const empty = document.getElementById("chat-empty");
    if (empty) empty.remove();
    const el = document.createElement("div");
    el.className = "bubble bubble-" + role;
    const body = document.createElement("div");
    body.className = "bubble-text";
    body.textContent = text;
    el.appendChild(body);
    log.appendChild(el);
    el.scrollIntoView({ block: "end" });
    return el;
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
      const data = await post(root.dataset.regenerateUrl);
      if (last && last.classList.contains("bubble-assistant")) last.remove();
      follow(bubble("assistant", ""), data.events_url, data.stop_url);
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

  function follow(el, eventsUrl, url) {
    stopUrl = url;
    busy(true);
    el.classList.add("streaming");
    let raw = "";
    const source = new EventSource(eventsUrl);  // reconnects with Last-Event-ID by itself
    source.addEventListener("token", (e) => {
      raw += JSON.parse(e.data);
      setAnswer(el, raw);
      el.scrollIntoView({ block: "end" });
    });
    source.addEventListener("done", (e) => {
      source.close();
      el.classList.remove("streaming");
      const final = JSON.parse(e.data);
      el.dataset.status = final.status;
      el.dataset.final = "1";
      window.renderMarkdown(el.querySelector(".bubble-text"), raw || el.dataset.raw || "");
      decorate(el, final.rag);
      if (final.status === "error" || final.status === "stopped") {
        const note = document.createElement("div");
        note.className = "bubble-note" + (final.status === "error" ? " error" : "");
        note.textContent = final.status === "stopped" ? "Stopped." : (final.error_message || "The answer failed.");
        el.appendChild(note);
      }
      busy(false);
      input.focus();
    });
    source.addEventListener("error", () => {
      // A dropped connection is retried by the browser (readyState CONNECTING); a refused
      // one (the link expired, or the session ended) is final.
      if (source.readyState !== EventSource.CLOSED) return;
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
        const data = await post(root.dataset.editUrl, { content });
        const questions = log.querySelectorAll(".bubble-user");
        const question = questions[questions.length - 1];
        question.querySelector(".bubble-text").textContent = content;
        while (question.nextElementSibling) question.nextElementSibling.remove();
        input.value = "";
        follow(bubble("assistant", ""), data.events_url, data.stop_url);
      } catch (error) {
        busy(false);
        showError(error.message);
      }
      return;
    }
    const mine = bubble("user", content);
    const answer = bubble("assistant", "");
    answer.classList.add("streaming");
    input.value = "";
    busy(true);
    try {
      const data = await post(root.dataset.sendUrl, { content });
      answer.dataset.message = data.message_id;
      follow(answer, data.events_url, data.stop_url);
    } catch (error) {
      mine.remove();
      answer.remove();
      input.value = content;
      busy(false);
      showError(error.message);
    }
  });

  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      form.requestSubmit();
    }
  });

  stop.addEventListener("click", () => {
    if (stopUrl) fetch(stopUrl, { method: "POST", headers: { "X-CSRFToken": csrf } });
  });

  // Saved answers arrive as plain text in the page: render them, then their citations.
  log.querySelectorAll(".bubble-assistant:not([data-status=streaming])").forEach((el) => {
    const text = el.querySelector(".bubble-text");
    window.renderMarkdown(text, text.textContent);
    const data = el.querySelector("script[type='application/json']");
    if (data) decorate(el, JSON.parse(data.textContent));
  });

  // A refresh while an answer streams: resume it (from the start of its stream).
  const pending = log.querySelector(".bubble[data-status=streaming]");
  if (pending) {
    pending.querySelector(".bubble-text").textContent = "";
    follow(pending, pending.dataset.eventsUrl, pending.dataset.stopUrl);
  }
})();
