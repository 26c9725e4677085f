// TokenLedger's page behaviour. No inline scripts: the Content-Security-Policy forbids them.
(function () {
  "use strict";

  // "Cancel" links go back without javascript: URLs.
  document.addEventListener("click", function (event) {
    var back = event.target.closest("a.tl-back");
    if (back) {
      event.preventDefault();
      if (window.history.length > 1) {
        window.history.back();
      } else {
        window.location.href = "/";
      }
    }
  });

  // Forms that destroy something ask first.
  document.addEventListener("submit", function (event) {
    var form = event.target.closest("form[data-confirm]");
    if (form && !window.confirm(form.getAttribute("data-confirm"))) {
      event.preventDefault();
    }
  });
})();
