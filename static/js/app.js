/* Starter — tiny progressive enhancements. Everything works without this file
   except the mobile menu toggle and the confirm() prompts. */
(function () {
  "use strict";

  function closeNav(shell) {
    shell.classList.remove("nav-open");
    var toggle = shell.querySelector(".menu-toggle");
    if (toggle) toggle.setAttribute("aria-expanded", "false");
  }

  // Mobile sidebar: .menu-toggle toggles .nav-open on the closest .app-shell.
  document.addEventListener("click", function (event) {
    var toggle = event.target.closest(".menu-toggle");
    if (toggle) {
      var shell = toggle.closest(".app-shell") || document.querySelector(".app-shell");
      if (!shell) return;
      var open = shell.classList.toggle("nav-open");
      toggle.setAttribute("aria-expanded", open ? "true" : "false");
      return;
    }

    // Click on the backdrop (outside the sidebar) closes the mobile menu.
    var openShell = document.querySelector(".app-shell.nav-open");
    if (openShell && !event.target.closest(".sidebar")) closeNav(openShell);

    // Click outside an open <details data-dropdown> / .tenant-switcher closes it.
    document.querySelectorAll("details.tenant-switcher[open], details[data-dropdown][open]")
      .forEach(function (d) {
        if (!d.contains(event.target)) d.removeAttribute("open");
      });
  });

  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    var shell = document.querySelector(".app-shell.nav-open");
    if (shell) {
      closeNav(shell);
      var toggle = shell.querySelector(".menu-toggle");
      if (toggle) toggle.focus();
    }
    document.querySelectorAll("details.tenant-switcher[open], details[data-dropdown][open]")
      .forEach(function (d) {
        d.removeAttribute("open");
        var summary = d.querySelector("summary");
        if (summary) summary.focus();
      });
  });

  // Confirm dialogs: <form data-confirm="Really?"> or <button data-confirm="..."> submitters.
  document.addEventListener(
    "submit",
    function (event) {
      var form = event.target;
      var submitter = event.submitter;
      var message =
        (submitter && submitter.getAttribute("data-confirm")) ||
        form.getAttribute("data-confirm");
      if (message && !window.confirm(message)) {
        event.preventDefault();
        event.stopImmediatePropagation();
      }
    },
    true
  );

  // Links with data-confirm (rare, but cheap to support).
  document.addEventListener(
    "click",
    function (event) {
      var link = event.target.closest("a[data-confirm]");
      if (link && !window.confirm(link.getAttribute("data-confirm"))) {
        event.preventDefault();
      }
    },
    true
  );
})();

// Copy buttons: <button data-copy="#input-id"> copies that input's value (the one-time API key).
(function () {
  "use strict";
  document.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-copy]");
    if (!button) return;
    var input = document.querySelector(button.getAttribute("data-copy"));
    if (!input) return;
    var label = button.textContent;
    function done(text) {
      button.textContent = text;
      setTimeout(function () { button.textContent = label; }, 2000);
    }
    input.select();
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(input.value).then(
        function () { done("Copied"); },
        function () { done("Press Ctrl+C"); }
      );
    } else {
      done(document.execCommand && document.execCommand("copy") ? "Copied" : "Press Ctrl+C");
    }
  });
})();

// The Content-Security-Policy allows no style="" attribute and no on*="" handler, so two
// small behaviours live here instead (docs/security.md):
// - <span data-width="42"> gets width 42% (meters, progress bars), also in HTML htmx swaps in;
// - <select data-autosubmit> submits its form when it changes.
(function () {
  "use strict";
  function applyWidths(root) {
    var bars = root.querySelectorAll ? root.querySelectorAll("[data-width]") : [];
    bars.forEach(function (bar) {
      var value = parseFloat(bar.getAttribute("data-width"));
      if (!isNaN(value)) bar.style.width = Math.max(0, Math.min(100, value)) + "%";
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { applyWidths(document); });
  } else {
    applyWidths(document);
  }
  document.addEventListener("htmx:load", function (event) { applyWidths(event.target); });
  document.addEventListener("htmx:afterSettle", function (event) { applyWidths(event.target); });

  document.addEventListener("change", function (event) {
    var field = event.target.closest && event.target.closest("[data-autosubmit]");
    if (field && field.form) field.form.requestSubmit();
  });
})();
