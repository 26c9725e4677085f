// The agreement form: add and remove rows of the nested tables (Django formsets).
//
// Each formset has a rows container [data-formset-rows="<prefix>"], an empty-row
// <template data-formset-template="<prefix>"> and the management input <prefix>-TOTAL_FORMS.
// Adding clones the template with "<prefix>-__prefix__" replaced by the next index; a price
// rule's template carries its own tier template, whose placeholder ("rules-N-tiers-__prefix__")
// survives the outer replacement. Removing sets the row's hidden DELETE flag and hides the row,
// so the indices never have gaps and the server ignores the row.
(function () {
  "use strict";

  var form = document.querySelector("[data-agreement-form]");
  if (!form) {
    return;
  }

  function byAttribute(name, value) {
    return form.querySelector("[" + name + '="' + CSS.escape(value) + '"]');
  }

  function renumber(rows) {
    var position = 0;
    Array.prototype.forEach.call(rows.children, function (row) {
      if (!row.hasAttribute("data-formset-row") || row.hidden) {
        return;
      }
      position += 1;
      var number = row.querySelector("[data-row-number]");
      if (number) {
        number.textContent = String(position);
      }
    });
  }

  function addRow(prefix) {
    var total = form.querySelector('input[name="' + CSS.escape(prefix + "-TOTAL_FORMS") + '"]');
    var template = byAttribute("data-formset-template", prefix);
    var rows = byAttribute("data-formset-rows", prefix);
    if (!total || !template || !rows) {
      return;
    }
    var index = parseInt(total.value, 10) || 0;
    var holder = document.createElement("template");
    holder.innerHTML = template.innerHTML.split(prefix + "-__prefix__").join(prefix + "-" + index);
    var row = holder.content.firstElementChild;
    rows.appendChild(holder.content);
    total.value = String(index + 1);
    renumber(rows);
    syncCurrency();
    var first = row && row.querySelector("input:not([type=hidden]), select, textarea");
    if (first) {
      first.focus();
    }
  }

  function removeRow(row) {
    var flag = form.querySelector('input[name="' + CSS.escape(row.getAttribute("data-formset-row") + "-DELETE") + '"]');
    if (flag) {
      flag.value = "on";
    }
    var rows = row.parentElement;
    row.hidden = true;
    renumber(rows);
    var add = byAttribute("data-formset-add", rows.getAttribute("data-formset-rows"));
    if (add) {
      add.focus();
    }
  }

  // The tables name the agreement's currency next to their prices.
  function syncCurrency() {
    var currency = form.querySelector('select[name="currency"]');
    if (!currency || !currency.value) {
      return;
    }
    form.querySelectorAll("[data-currency-label]").forEach(function (label) {
      label.textContent = currency.value;
    });
  }

  // Rows removed before a page came back with errors are hidden: number the visible ones.
  form.querySelectorAll("[data-formset-rows]").forEach(renumber);

  form.addEventListener("click", function (event) {
    var add = event.target.closest("[data-formset-add]");
    if (add) {
      event.preventDefault();
      addRow(add.getAttribute("data-formset-add"));
      return;
    }
    var remove = event.target.closest("[data-formset-remove]");
    if (remove) {
      event.preventDefault();
      var row = remove.closest("[data-formset-row]");
      if (row) {
        removeRow(row);
      }
    }
  });

  form.addEventListener("change", function (event) {
    if (event.target.name === "currency") {
      syncCurrency();
    }
  });
})();
