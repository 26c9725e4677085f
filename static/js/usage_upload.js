// The upload form: the request trace options show only when that format is chosen.
(function () {
  "use strict";

  var form = document.getElementById("usage-upload");
  var options = document.getElementById("trace-options");
  if (!form || !options) {
    return;
  }
  var format = form.querySelector("select[name=format]");
  if (!format) {
    return;
  }

  function sync() {
    var trace = format.value === "request_trace";
    // Keep the fields visible when they carry an error message, whatever the format.
    options.hidden = !trace && !options.querySelector(".invalid-feedback");
  }

  format.addEventListener("change", sync);
  sync();
})();
