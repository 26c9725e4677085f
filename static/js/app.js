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

  // A table wider than its box scrolls inside its .table-responsive container; that container
  // joins the tab order while (and only while) it scrolls, so the keyboard can scroll it too, as a
  // region named after the table (its caption, else its card's title).
  function tableName(box) {
    var caption = box.querySelector("caption");
    var card = box.closest(".card");
    var title = card && card.querySelector(".card-title");
    var text = (caption || title || { textContent: "" }).textContent.replace(/\s+/g, " ").trim();
    return text ? text + " (table)" : "Table";
  }
  function markScrollableTables() {
    document.querySelectorAll(".table-responsive").forEach(function (box) {
      var scrolls = box.scrollWidth > box.clientWidth + 1 && !box.querySelector(".table-responsive");
      if (scrolls && !box.hasAttribute("tabindex")) {
        box.setAttribute("tabindex", "0");
        box.setAttribute("role", "region");
        box.setAttribute("aria-label", tableName(box));
        box.setAttribute("data-tl-scroll", "");
      } else if (!scrolls && box.hasAttribute("data-tl-scroll")) {
        ["tabindex", "role", "aria-label", "data-tl-scroll"].forEach(function (name) {
          box.removeAttribute(name);
        });
      }
    });
  }
  var resizeTimer = null;
  window.addEventListener("resize", function () {
    window.clearTimeout(resizeTimer);
    resizeTimer = window.setTimeout(markScrollableTables, 150);
  });
  document.addEventListener("DOMContentLoaded", markScrollableTables);
  window.addEventListener("load", markScrollableTables);
  document.addEventListener("htmx:afterSettle", markScrollableTables);

  // Forms that destroy something ask first.
  document.addEventListener("submit", function (event) {
    var form = event.target.closest("form[data-confirm]");
    if (form && !window.confirm(form.getAttribute("data-confirm"))) {
      event.preventDefault();
    }
  });
})();
