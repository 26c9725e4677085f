// Commitment and budget status charts. The panels arrive by htmx; each carries its data in a
// <script type="application/json"> (json_script) named by its canvas's data-billing-chart, which
// this file draws with Chart.js (served from this site; no inline script under the CSP).
(function () {
  "use strict";

  var STYLES = {
    consumed: { borderColor: "#206bc4", backgroundColor: "rgba(32, 107, 196, 0.12)", fill: true, borderWidth: 2 },
    expected: { borderColor: "#2fb344", borderDash: [6, 4], borderWidth: 2 },
    committed: { borderColor: "#d63939", borderWidth: 1.5 },
    projected: { borderColor: "#f59f00", borderDash: [3, 3], borderWidth: 2, spanGaps: true },
  };

  function formatter(options) {
    try {
      return new Intl.NumberFormat(undefined, options);
    } catch (error) { // an unknown currency code
      delete options.style;
      delete options.currency;
      return new Intl.NumberFormat(undefined, options);
    }
  }

  function toNumber(value) {
    return value === null || value === undefined ? null : Number(value);
  }

  function draw(canvas) {
    if (canvas.getAttribute("data-drawn") || !window.Chart) {
      return;
    }
    var source = document.getElementById(canvas.getAttribute("data-billing-chart"));
    if (!source) {
      return;
    }
    canvas.setAttribute("data-drawn", "1");
    var data = JSON.parse(source.textContent);
    var isMoney = data.unit !== "tokens";
    var short = isMoney
      ? formatter({ style: "currency", currency: data.currency, notation: "compact", maximumSignificantDigits: 3 })
      : formatter({ notation: "compact", maximumSignificantDigits: 3 });
    var exact = isMoney
      ? formatter({ style: "currency", currency: data.currency, maximumFractionDigits: 2 })
      : formatter({ maximumFractionDigits: 0 });

    var datasets = data.series.map(function (series) {
      var style = STYLES[series.key] || {};
      var set = {
        label: series.label,
        data: series.data.map(toNumber),
        pointRadius: 0,
        pointHitRadius: 6,
        tension: 0,
      };
      Object.keys(style).forEach(function (name) {
        set[name] = style[name];
      });
      return set;
    }).filter(function (set) {
      return set.data.some(function (value) { return value !== null; });
    });

    // Height through the CSSOM, which the Content-Security-Policy allows (style attributes it does not).
    canvas.parentElement.style.height = "18rem";
    var daily = data.kind === "commitment";

    new window.Chart(canvas, {
      type: "line",
      data: { labels: data.labels, datasets: datasets },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        spanGaps: false,
        interaction: { mode: "index", intersect: false },
        scales: {
          x: {
            grid: { display: false },
            ticks: {
              autoSkip: true,
              maxTicksLimit: 12,
              callback: function (value) {
                var label = this.getLabelForValue(value);
                return daily ? label.slice(5) : label;
              },
            },
          },
          y: {
            beginAtZero: true,
            title: { display: true, text: isMoney ? data.currency : "tokens" },
            ticks: {
              callback: function (value) {
                return short.format(value);
              },
            },
          },
        },
        plugins: {
          legend: { position: "bottom" },
          tooltip: {
            filter: function (item) {
              return item.parsed.y !== null;
            },
            callbacks: {
              label: function (context) {
                return context.dataset.label + ": " + exact.format(context.parsed.y);
              },
            },
          },
        },
      },
    });
  }

  function drawWithin(root) {
    var scope = root && root.querySelectorAll ? root : document;
    if (scope.matches && scope.matches("canvas[data-billing-chart]")) {
      draw(scope);
    }
    scope.querySelectorAll("canvas[data-billing-chart]").forEach(draw);
  }

  drawWithin(document);
  // htmx swaps the panels in after the page has loaded.
  document.addEventListener("htmx:load", function (event) {
    drawWithin(event.detail && event.detail.elt);
  });
})();
