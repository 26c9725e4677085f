// Nested tables of a form (Django formsets): add and remove their rows in place. Used by every
// form marked [data-formset] (the agreement form, the vendor invoice form).
//
// Each formset has a rows container [data-formset-rows="<prefix>"], an empty-row
// <template data-formset-template="<prefix>"> (a table row waits inside <table><tbody>, so the
// parser keeps the <tr>) and the management input <prefix>-TOTAL_FORMS.
// Adding clones the template with "<prefix>-__prefix__" replaced by the next index (a template may
// carry a nested formset's template, whose own placeholder, "rules-N-tiers-__prefix__", survives
// the outer replacement), focuses the new row's first control and fires "formset:added" on the
// form. Removing sets the row's hidden DELETE flag and hides the row, so indices never have gaps
// and the server ignores the row; the focus goes back to the table's "add" button.
(function () {
  "use strict";

  function setUp(form) {
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
      // the template holds the row itself, or (table rows) the row inside a <table><tbody>
      var row = holder.content.querySelector("[data-formset-row]");
      if (!row) {
        return;
      }
      rows.appendChild(row.parentNode === holder.content ? holder.content : row);
      total.value = String(index + 1);
      renumber(rows);
      form.dispatchEvent(new CustomEvent("formset:added", { detail: { prefix: prefix, row: row } }));
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
      var rows = row.parentElement;
      row.hidden = true;
      renumber(rows);
      var add = byAttribute("data-formset-add", rows.getAttribute("data-formset-rows"));
      if (add) {
        add.focus();
      }
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
  }

  document.querySelectorAll("form[data-formset]").forEach(setUp);
})();
