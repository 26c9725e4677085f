// The usage explorer's chart: draws the data the page put in <script id="usage-data"
// type="application/json"> with Chart.js (served from this site; no inline script under the CSP).
(function () {
  "use strict";

  var PALETTE = [
    "#206bc4", "#2fb344", "#f76707", "#ae3ec9", "#d63939",
    "#17a2b8", "#f59f00", "#74b816", "#4263eb", "#d6336c",
  ];
  var OTHER = "#adb5bd";

  // Choosing what to chart applies the filter at once.
  document.querySelectorAll("#usage-filter input[name=metric]").forEach(function (input) {
    input.addEventListener("change", function () {
      if (input.form.requestSubmit) {
        input.form.requestSubmit();
      } else {
        input.form.submit();
      }
    });
  });

  var source = document.getElementById("usage-data");
  var canvas = document.getElementById("usage-chart");
  if (!source || !canvas || !window.Chart) {
    return;
  }
  var data = JSON.parse(source.textContent);
  var isCost = data.metric === "cost";
  var horizontal = data.kind === "bars";

  function formatter(options) {
    try {
      return new Intl.NumberFormat(undefined, options);
    } catch (error) { // an unknown currency code
      delete options.style;
      delete options.currency;
      return new Intl.NumberFormat(undefined, options);
    }
  }
  var short = isCost
    ? formatter({ style: "currency", currency: data.currency, notation: "compact", maximumSignificantDigits: 3 })
    : formatter({ notation: "compact", maximumSignificantDigits: 3 });
  var exact = isCost
    ? formatter({ style: "currency", currency: data.currency, maximumFractionDigits: 6 })
    : formatter({ maximumFractionDigits: 0 });

  var datasets = data.datasets.map(function (set, index) {
    var colour = /^Other \(/.test(set.label) ? OTHER : PALETTE[index % PALETTE.length];
    return {
      label: set.label,
      data: set.data.map(Number),
      backgroundColor: colour,
      borderWidth: 0,
      maxBarThickness: horizontal ? 22 : 48,
    };
  });

  // The chart's height follows its content: one line per bar, or a fixed band for time series.
  // (Set through the CSSOM, which the Content-Security-Policy allows; style attributes it does not.)
  canvas.parentElement.style.height = horizontal
    ? Math.max(140, data.labels.length * 28 + 60) + "px"
    : "22rem";

  var valueAxis = {
    stacked: !horizontal,
    beginAtZero: true,
    title: { display: true, text: data.axis },
    ticks: {
      callback: function (value) {
        return short.format(value);
      },
    },
  };
  // Days of one year read better as MM-DD.
  var oneYear = !horizontal && data.labels.length > 0 && data.labels.every(function (label) {
    return /^\d{4}-\d{2}-\d{2}$/.test(label) && label.slice(0, 4) === data.labels[0].slice(0, 4);
  });
  var categoryAxis = {
    stacked: !horizontal,
    grid: { display: false },
    ticks: {
      callback: function (value) {
        var label = this.getLabelForValue(value);
        return oneYear ? label.slice(5) : label;
      },
    },
  };

  new window.Chart(canvas, {
    type: "bar",
    data: { labels: data.labels, datasets: datasets },
    options: {
      indexAxis: horizontal ? "y" : "x",
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      interaction: { mode: horizontal ? "nearest" : "index", intersect: false },
      scales: horizontal ? { x: valueAxis, y: categoryAxis } : { x: categoryAxis, y: valueAxis },
      plugins: {
        legend: { display: !horizontal, position: "bottom" },
        tooltip: {
          filter: function (item) {
            return (horizontal ? item.parsed.x : item.parsed.y) !== 0;
          },
          callbacks: {
            label: function (context) {
              var value = horizontal ? context.parsed.x : context.parsed.y;
              return context.dataset.label + ": " + exact.format(value);
            },
          },
        },
      },
    },
  });
})();
