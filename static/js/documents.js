/* Documents page: drag-and-drop onto the upload form. Without this file the form still
   works with its plain file input. */
(function () {
  "use strict";

  function enhance(zone) {
    var input = zone.querySelector("input[type=file]");
    var label = zone.querySelector("[data-file-name]");
    var button = zone.querySelector("button[type=submit]");
    if (!input) return;
    zone.classList.add("js-enhanced");

    function showChosen() {
      var file = input.files && input.files[0];
      if (label) label.textContent = file ? "Selected: " + file.name : "";
    }

    input.addEventListener("change", showChosen);
    ["dragenter", "dragover"].forEach(function (name) {
      zone.addEventListener(name, function (event) {
        event.preventDefault();
        zone.classList.add("is-dragging");
      });
    });
    zone.addEventListener("dragleave", function (event) {
      if (!zone.contains(event.relatedTarget)) zone.classList.remove("is-dragging");
    });
    zone.addEventListener("drop", function (event) {
      event.preventDefault();
      zone.classList.remove("is-dragging");
      var files = event.dataTransfer && event.dataTransfer.files;
      if (!files || !files.length) return;
      input.files = files;
      showChosen();
      zone.requestSubmit();
    });
    zone.addEventListener("submit", function (event) {
      if (!input.files || !input.files.length) {
        event.preventDefault();
        input.click();
        return;
      }
      if (button) {
        button.setAttribute("aria-disabled", "true");
        button.textContent = "Uploading…";
      }
    });
  }

  document.querySelectorAll("form[data-dropzone]").forEach(enhance);
})();
