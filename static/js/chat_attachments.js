// Files attached to a conversation (templates/chat/attachments.html, apps/chat/attachments.py).
// Attach by the paperclip in the composer, by dropping files on the conversation, or by
// pasting them into the composer. Each file becomes a chip: upload progress, then the
// ingestion's status (queued, reading, indexing n%, ready) polled from the server, or why
// it failed; the × removes it (and its passages) from the conversation. A refused file
// (type, size, the conversation full) shows as a failed chip with the reason; nothing
// else changes, and the message being typed stays as it is.
(function () {
  "use strict";
  const root = document.getElementById("attach");
  const stateNode = document.getElementById("attach-state");
  if (!root || !stateNode) return;
  const state = JSON.parse(stateNode.textContent);
  const input = document.getElementById("attach-input");
  const button = document.getElementById("attach-button");
  const chips = document.getElementById("attach-chips");
  const errorBox = document.getElementById("attach-error");
  const drop = document.getElementById("attach-drop");
  const note = document.getElementById("attach-note");
  const live = document.getElementById("attach-live");
  const chat = document.getElementById("chat");
  const composer = document.getElementById("composer");
  const textarea = document.getElementById("composer-input");
  const tokenInput = document.querySelector("input[name=csrfmiddlewaretoken]");
  const csrf = tokenInput ? tokenInput.value : "";
  const POLL_MS = 1500;
  const FINISHED = new Set(["ready", "failed"]);
  const SHORT = { txt: "TXT", md: "MD", html: "HTML", pdf: "PDF", docx: "DOCX", file: "FILE" };

  let items = state.items.slice(); // server items, plus local ones (uploading or refused)
  let localCount = 0;
  let pollTimer = null;
  const told = new Map(items.map(function (i) { return [i.id, i.status]; })); // id -> status announced

  // The paperclip belongs in the composer, beside the text (the partial renders it
  // above, where it still works if the composer's markup changes).
  if (composer && textarea) {
    composer.classList.add("has-attach");
    composer.insertBefore(button, textarea);
  }

  // -- rendering ---------------------------------------------------------------------------

  function sizeText(bytes) {
    if (bytes < 1024) return bytes + " B";
    if (bytes < 1024 * 1024) return Math.round(bytes / 1024) + " KB";
    return (bytes / 1024 / 1024).toFixed(1) + " MB";
  }

  function kindOf(name) {
    const ext = (name.split(".").pop() || "").toLowerCase();
    if (ext === "markdown") return "md";
    if (ext === "htm") return "html";
    if (ext === "text") return "txt";
    return SHORT[ext] ? ext : "file";
  }

  function statusText(item) {
    switch (item.status) {
      case "uploading": return "Uploading… " + item.progress + "%";
      case "queued": return item.error ? item.error : "Queued for reading…";
      case "parsing": return "Reading…";
      case "embedding": return "Indexing… " + item.progress + "%";
      case "ready": return "Ready · " + (item.type_label || "File") + " · " + sizeText(item.size_bytes);
      case "failed": return item.error || "Could not be read.";
      default: return item.status_label || item.status;
    }
  }

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function chip(item) {
    const li = el("li", "attach-chip is-" + item.status);
    li.dataset.id = item.id;
    const kind = item.type_kind && item.type_kind !== "file" ? item.type_kind : kindOf(item.filename);
    const icon = el("span", "attach-icon kind-" + kind, SHORT[kind] || "FILE");
    icon.setAttribute("aria-hidden", "true");
    li.appendChild(icon);
    const body = el("span", "attach-body");
    const name = item.status === "ready" && item.url
      ? el("a", "attach-name", item.filename)
      : el("span", "attach-name", item.filename);
    if (name.tagName === "A") {
      name.href = item.url;
      name.title = "Open the passages of " + item.filename;
    } else {
      name.title = item.filename;
    }
    body.appendChild(name);
    const status = el("span", "attach-status", statusText(item));
    if (item.status === "failed") {
      status.title = item.error || "";
      status.setAttribute("role", "note");
    }
    body.appendChild(status);
    if (!FINISHED.has(item.status)) {
      const bar = el("span", "attach-bar");
      const fill = el("span", "attach-bar-fill");
      fill.style.width = Math.max(4, Math.min(100, item.progress || 0)) + "%";
      bar.appendChild(fill);
      bar.setAttribute("role", "progressbar");
      bar.setAttribute("aria-label", item.filename);
      bar.setAttribute("aria-valuemin", "0");
      bar.setAttribute("aria-valuemax", "100");
      bar.setAttribute("aria-valuenow", String(item.progress || 0));
      body.appendChild(bar);
    }
    li.appendChild(body);
    if (item.status !== "uploading") {
      const remove = el("button", "attach-remove");
      remove.type = "button";
      remove.setAttribute("aria-label", "Remove " + item.filename);
      remove.title = "Remove";
      remove.innerHTML = '<svg viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2.2" stroke-linecap="round" aria-hidden="true"><path d="M18 6 6 18M6 6l12 12"/></svg>';
      remove.addEventListener("click", function () { removeItem(item); });
      li.appendChild(remove);
    }
    return li;
  }

  // Screen readers hear when a file is ready or fails, not every progress tick.
  function announce() {
    const news = [];
    items.forEach(function (item) {
      if (FINISHED.has(item.status) && told.get(item.id) !== item.status) {
        news.push(item.status === "ready"
          ? item.filename + " is ready: answers in this conversation can use it."
          : item.filename + " could not be attached. " + (item.error || ""));
      }
      told.set(item.id, item.status);
    });
    if (news.length) live.textContent = news.join(" ");
  }

  function render() {
    announce();
    const focusedId = document.activeElement && document.activeElement.closest
      ? (document.activeElement.closest(".attach-chip") || {}).dataset : null;
    chips.replaceChildren.apply(chips, items.map(chip));
    chips.hidden = items.length === 0;
    note.hidden = !items.some(function (i) { return !i.local; });
    if (focusedId && focusedId.id) {
      const again = chips.querySelector('[data-id="' + focusedId.id + '"] .attach-remove');
      if (again) again.focus();
    }
  }

  function showError(message) {
    errorBox.textContent = message || "";
    errorBox.hidden = !message;
  }

  // -- server ------------------------------------------------------------------------------

  function errorMessage(xhrOrResponseBody, fallback) {
    try {
      const body = typeof xhrOrResponseBody === "string" ? JSON.parse(xhrOrResponseBody) : xhrOrResponseBody;
      if (body && body.error && body.error.message) return body.error.message;
    } catch (e) { /* not JSON: a proxy's page */ }
    return fallback;
  }

  function schedulePoll() {
    if (pollTimer || !items.some(function (i) { return !FINISHED.has(i.status) && !i.local; })) return;
    pollTimer = window.setTimeout(poll, POLL_MS);
  }

  async function poll() {
    pollTimer = null;
    try {
      const response = await fetch(state.url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
      if (response.ok) {
        const fresh = (await response.json()).attachments;
        const local = items.filter(function (i) { return i.local; });
        items = fresh.concat(local);
        render();
      }
    } catch (e) { /* offline for a moment: try again on the next tick */ }
    schedulePoll();
  }

  function refusalFor(file) {
    const ext = "." + (file.name.split(".").pop() || "").toLowerCase();
    if (!state.accept.includes(ext)) {
      return "This type of file cannot be read. Attach " + state.accepted + ".";
    }
    if (file.size > state.max_bytes) {
      return "It is " + sizeText(file.size) + "; the limit is " + sizeText(state.max_bytes) +
        ". Split it, or save it without embedded images, and attach it again.";
    }
    if (file.size === 0) return "It is empty. Choose a file with some text in it.";
    const attached = items.filter(function (i) { return !(i.local && i.status === "failed"); }).length;
    if (attached >= state.max_files) {
      return "This conversation already has " + state.max_files + " files, the most it can hold. Remove one first.";
    }
    return "";
  }

  function refused(local, message) {
    local.status = "failed";
    local.error = message;
    render();
  }

  function upload(file) {
    localCount += 1;
    const local = {
      id: "local-" + localCount, local: true, filename: file.name, size_bytes: file.size,
      status: "uploading", progress: 0, error: "", type_kind: kindOf(file.name),
    };
    const refusal = refusalFor(file);
    items.push(local);
    if (refusal) { refused(local, refusal); return; }
    render();
    const form = new FormData();
    form.append("file", file);
    const xhr = new XMLHttpRequest();
    xhr.open("POST", state.url);
    xhr.setRequestHeader("X-CSRFToken", csrf);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.addEventListener("progress", function (event) {
      if (!event.lengthComputable) return;
      local.progress = Math.round((event.loaded / event.total) * 100);
      render();
    });
    xhr.addEventListener("load", function () {
      if (xhr.status === 200 || xhr.status === 201) {
        const saved = JSON.parse(xhr.responseText);
        const at = items.indexOf(local);
        const already = items.findIndex(function (i) { return i.id === saved.id; });
        if (already >= 0) items.splice(at, 1);
        else items.splice(at, 1, saved);
        render();
        schedulePoll();
        return;
      }
      refused(local, errorMessage(xhr.responseText, "The file could not be attached (error " + xhr.status + "). Try again."));
    });
    xhr.addEventListener("error", function () {
      refused(local, "The upload did not reach the server. Check your connection and attach the file again.");
    });
    xhr.send(form);
  }

  function attachFiles(fileList) {
    showError("");
    Array.prototype.forEach.call(fileList, upload);
  }

  async function removeItem(item) {
    showError("");
    if (item.local) {
      items = items.filter(function (i) { return i !== item; });
      render();
      if (textarea) textarea.focus();
      return;
    }
    try {
      const response = await fetch(item.delete_url, {
        method: "POST", headers: { "X-CSRFToken": csrf, Accept: "application/json" }, credentials: "same-origin",
      });
      if (!response.ok && response.status !== 404) {
        showError(errorMessage(await response.text(), "“" + item.filename + "” could not be removed. Try again."));
        return;
      }
    } catch (e) {
      showError("“" + item.filename + "” could not be removed: the server did not answer. Try again.");
      return;
    }
    items = items.filter(function (i) { return i.id !== item.id; });
    render();
    if (textarea) textarea.focus();
  }

  // -- input: button, drop, paste ------------------------------------------------------------

  button.addEventListener("click", function () { input.click(); });
  input.addEventListener("change", function () {
    if (input.files && input.files.length) attachFiles(input.files);
    input.value = "";
  });

  function hasFiles(event) {
    return event.dataTransfer && Array.prototype.includes.call(event.dataTransfer.types || [], "Files");
  }

  if (chat) {
    let depth = 0;
    chat.addEventListener("dragenter", function (event) {
      if (!hasFiles(event)) return;
      event.preventDefault();
      depth += 1;
      drop.hidden = false;
    });
    chat.addEventListener("dragover", function (event) {
      if (!hasFiles(event)) return;
      event.preventDefault();
      event.dataTransfer.dropEffect = "copy";
    });
    chat.addEventListener("dragleave", function () {
      depth = Math.max(0, depth - 1);
      if (depth === 0) drop.hidden = true;
    });
    chat.addEventListener("drop", function (event) {
      if (!hasFiles(event)) return;
      event.preventDefault();
      depth = 0;
      drop.hidden = true;
      attachFiles(event.dataTransfer.files);
    });
  }

  if (textarea) {
    textarea.addEventListener("paste", function (event) {
      const files = event.clipboardData && event.clipboardData.files;
      if (files && files.length) {
        event.preventDefault();
        attachFiles(files);
      }
    });
  }

  render();
  schedulePoll();
})();
