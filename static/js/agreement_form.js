// The agreement form: its tables name the agreement's currency next to their prices, also in rows
// added later (the rows themselves are added and removed by formset.js).
(function () {
  "use strict";

  var form = document.querySelector("[data-agreement-form]");
  if (!form) {
    return;
  }

  function syncCurrency() {
    var currency = form.querySelector('select[name="currency"]');
    if (!currency || !currency.value) {
      return;
    }
    form.querySelectorAll("[data-currency-label]").forEach(function (label) {
      label.textContent = currency.value;
    });
  }

  form.addEventListener("formset:added", syncCurrency);
  form.addEventListener("change", function (event) {
    if (event.target.name === "currency") {
      syncCurrency();
    }
  });
})();
