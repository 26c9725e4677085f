// The vendor invoice form: add and remove its lines (a Django formset) in place.
//
// The rows live in [data-formset-rows="<prefix>"]; an empty row waits in
// <template data-formset-template="<prefix>"> (inside a <table><tbody> so the browser keeps the
// <tr>). Adding clones it with "<prefix>-__prefix__" replaced by the next index and counts it in
// <prefix>-TOTAL_FORMS; removing ticks the row's hidden DELETE flag and hides it, so indices
// never have gaps and the server ignores the row.
(function () {
  "use strict";

  var form = document.querySelector("[data-line-formset]");
  if (!form) {
    return;
  }

  function byAttribute(name, value) {
    return form.querySelector("[" + name + '="' + CSS.escape(value) + '"]');
  }

  function renumber(rows) {
    var position = 0;
    Array.prototype.forEach.call(rows.querySelectorAll("[data-formset-row]"), function (row) {
      if (row.hidden) {
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
    var row = holder.content.querySelector("tr");
    if (!row) {
      return;
    }
    rows.appendChild(row);
    total.value = String(index + 1);
    renumber(rows);
    var first = row.querySelector("input:not([type=hidden]), select, textarea");
    if (first) {
      first.focus();
    }
  }

  function removeRow(row) {
    var flag = form.querySelector('input[name="' + CSS.escape(row.getAttribute("data-formset-row") + "-DELETE") + '"]');
    if (flag) {
      flag.value = "on";
    }
    var rows = row.closest("[data-formset-rows]");
    row.hidden = true;
    if (rows) {
      renumber(rows);
      var add = byAttribute("data-formset-add", rows.getAttribute("data-formset-rows"));
      if (add) {
        add.focus();
      }
    }
  }

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
})();
