// A small, incremental Markdown renderer for chat answers.
// It builds DOM nodes with createElement/textContent only and never parses HTML, so a
// model's output cannot inject markup or script. It tolerates incomplete input while an
// answer streams: an unclosed code fence renders as code, an unclosed ** as text.
// Supports paragraphs, headings, fenced code (coloured by highlight.js when loaded),
// lists, block quotes, tables (GitHub's pipe tables), inline code, bold, italic and
// http(s)/mailto links.
(function (global) {
  "use strict";

  const SAFE_URL = /^(https?:|mailto:)/i;
  const HLJS_CLASS = /^hljs-[\w.-]+(?: [\w-]+)*$/;
  const AUTO_LIMIT = 5000;  // longer unlabelled blocks stay plain: detection costs time

  // Colours a code block with highlight.js when it is loaded. highlight.js returns
  // escaped HTML; it is parsed in an inert document (DOMParser: no scripts, no loads)
  // and only <span class="hljs-..."> elements and text are rebuilt in the page, so
  // the rule above still holds: no markup from the model reaches the live document.
  function highlight(code, language) {
    const hljs = global.hljs;
    const text = code.textContent;
    if (!hljs || !text) return;
    let result = null;
    try {
      if (language && hljs.getLanguage(language)) {
        result = hljs.highlight(text, { language: language, ignoreIllegals: true });
      } else if (!language && text.length <= AUTO_LIMIT) {
        result = hljs.highlightAuto(text);
      }
    } catch (error) {
      return;  // an unknown grammar or a bad input: leave the block plain
    }
    if (!result || !result.value) return;
    const inert = new DOMParser().parseFromString("<pre>" + result.value + "</pre>", "text/html");
    code.replaceChildren(...rebuild(inert.body.firstChild.childNodes));
    if (result.language) code.dataset.language = result.language;
  }

  function rebuild(nodes) {
    const out = [];
    for (const node of nodes) {
      if (node.nodeType === Node.ELEMENT_NODE && node.tagName === "SPAN" && HLJS_CLASS.test(node.className)) {
        const span = document.createElement("span");
        span.className = node.className;
        span.append(...rebuild(node.childNodes));
        out.push(span);
      } else {
        out.push(document.createTextNode(node.textContent));
      }
    }
    return out;
  }
  const INLINE = /(`[^`\n]+`)|(\*\*[^*\n]+\*\*)|(\*[^*\n]+\*|_[^_\n]+_)|(\[[^\]\n]+\]\([^)\s]+\))/g;

  function inline(parent, text) {
    let last = 0;
    for (const match of text.matchAll(INLINE)) {
      if (match.index > last) parent.appendChild(document.createTextNode(text.slice(last, match.index)));
      const token = match[0];
      let node;
      if (match[1]) {
        node = document.createElement("code");
        node.textContent = token.slice(1, -1);
      } else if (match[2]) {
        node = document.createElement("strong");
        inline(node, token.slice(2, -2));
      } else if (match[3]) {
        node = document.createElement("em");
        inline(node, token.slice(1, -1));
      } else {
        const label = token.slice(1, token.indexOf("]"));
        const href = token.slice(token.indexOf("](") + 2, -1);
        if (SAFE_URL.test(href)) {
          node = document.createElement("a");
          node.href = href;
          node.rel = "noopener noreferrer nofollow";
          node.target = "_blank";
          node.textContent = label;
        } else {
          node = document.createTextNode(token);
        }
      }
      parent.appendChild(node);
      last = match.index + token.length;
    }
    if (last < text.length) parent.appendChild(document.createTextNode(text.slice(last)));
  }

  // A pipe table: a header row, a delimiter row (---, :--, --:, :-:), then body rows.
  const DELIMITER = /^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$/;

  function cells(row) {
    const trimmed = row.trim().replace(/^\|/, "").replace(/(?<!\\)\|$/, "");
    return trimmed.split(/(?<!\\)\|/).map((cell) => cell.trim().replace(/\\\|/g, "|"));
  }

  function table(header, delimiter, rows) {
    const align = cells(delimiter).map((d) =>
      d.startsWith(":") && d.endsWith(":") ? "center" : d.endsWith(":") ? "right" : ""
    );
    // The table scrolls inside its own box on a narrow screen, reachable by keyboard.
    const wrap = document.createElement("div");
    wrap.className = "md-table";
    wrap.tabIndex = 0;
    const t = document.createElement("table");
    const row = (values, tag) => {
      const tr = document.createElement("tr");
      align.forEach((how, n) => {
        const cell = document.createElement(tag);
        if (how) cell.style.textAlign = how;
        inline(cell, values[n] || "");
        tr.appendChild(cell);
      });
      return tr;
    };
    const head = document.createElement("thead");
    head.appendChild(row(cells(header), "th"));
    t.appendChild(head);
    if (rows.length) {
      const body = document.createElement("tbody");
      rows.forEach((r) => body.appendChild(row(cells(r), "td")));
      t.appendChild(body);
    }
    wrap.appendChild(t);
    return wrap;
  }

  function render(container, source) {
    const out = document.createDocumentFragment();
    const lines = source.split("\n");
    let paragraph = [];
    let list = null;

    function flush() {
      if (paragraph.length) {
        const p = document.createElement("p");
        inline(p, paragraph.join("\n"));
        out.appendChild(p);
        paragraph = [];
      }
      list = null;
    }

    for (let i = 0; i < lines.length; i++) {
      const line = lines[i];
      const fence = line.match(/^\s*```\s*([\w+-]*)\s*$/);
      if (fence) {
        flush();
        const pre = document.createElement("pre");
        const code = document.createElement("code");
        if (fence[1]) code.dataset.language = fence[1];
        const body = [];
        i++;
        while (i < lines.length && !/^\s*```\s*$/.test(lines[i])) body.push(lines[i++]);
        code.textContent = body.join("\n");  // an unclosed fence runs to the end: still code
        highlight(code, fence[1].toLowerCase());
        pre.appendChild(code);
        out.appendChild(pre);
        continue;
      }
      if (line.includes("|") && i + 1 < lines.length && DELIMITER.test(lines[i + 1])) {
        flush();
        const header = line;
        const delimiter = lines[++i];
        const rows = [];
        while (i + 1 < lines.length && lines[i + 1].includes("|") && lines[i + 1].trim()) {
          rows.push(lines[++i]);
        }
        out.appendChild(table(header, delimiter, rows));
        continue;
      }
      const heading = line.match(/^(#{1,6})\s+(.*)$/);
      const bullet = line.match(/^\s*[-*+]\s+(.*)$/);
      const numbered = line.match(/^\s*\d+[.)]\s+(.*)$/);
      const quote = line.match(/^>\s?(.*)$/);
      if (heading) {
        flush();
        const h = document.createElement("h" + Math.min(heading[1].length + 2, 6));
        inline(h, heading[2]);
        out.appendChild(h);
      } else if (bullet || numbered) {
        if (paragraph.length) flush();
        const tag = bullet ? "ul" : "ol";
        if (!list || list.tagName.toLowerCase() !== tag) {
          list = document.createElement(tag);
          out.appendChild(list);
        }
        const li = document.createElement("li");
        inline(li, (bullet || numbered)[1]);
        list.appendChild(li);
      } else if (quote) {
        flush();
        const q = document.createElement("blockquote");
        inline(q, quote[1]);
        out.appendChild(q);
      } else if (!line.trim()) {
        flush();
      } else {
        list = null;
        paragraph.push(line);
      }
    }
    flush();
    container.replaceChildren(out);
  }

  global.renderMarkdown = render;
})(window);
