// The forecast page's chart: actuals, the forecast with its 80 % and 95 % bands, and a scenario.
// Data comes from a json_script element named by the canvas's data-forecast-chart (CSP: no
// inline script); Chart.js is served from this site.
(function () {
  "use strict";

  function num(value) {
    return value === null || value === undefined ? null : Number(value);
  }

  function formatter(data, compact) {
    var options = compact ? { notation: "compact", maximumSignificantDigits: 3 } : { maximumFractionDigits: 2 };
    if (data.unit !== "tokens") {
      options.style = "currency";
      options.currency = data.currency;
    }
    try {
      return new Intl.NumberFormat(undefined, options);
    } catch (error) {
      delete options.style;
      delete options.currency;
      return new Intl.NumberFormat(undefined, options);
    }
  }

  function draw(canvas) {
    var source = document.getElementById(canvas.getAttribute("data-forecast-chart"));
    if (!source || !window.Chart || canvas.getAttribute("data-drawn")) {
      return;
    }
    canvas.setAttribute("data-drawn", "1");
    var data = JSON.parse(source.textContent);
    var short = formatter(data, true);
    var exact = formatter(data, false);
    var line = function (label, values, style) {
      var set = { label: label, data: values.map(num), pointRadius: 0, pointHitRadius: 6, tension: 0, borderWidth: 2 };
      Object.keys(style || {}).forEach(function (key) { set[key] = style[key]; });
      return set;
    };
    var datasets = [
      line("95 % low", data.low95, { borderWidth: 0, fill: false }),
      line("95 % interval", data.high95, { borderWidth: 0, backgroundColor: "rgba(32, 107, 196, 0.10)", fill: "-1" }),
      line("80 % low", data.low80, { borderWidth: 0, fill: false }),
      line("80 % interval", data.high80, { borderWidth: 0, backgroundColor: "rgba(32, 107, 196, 0.22)", fill: "-1" }),
      line("Forecast", data.forecast, { borderColor: "#206bc4", borderDash: [6, 4] }),
      line("Actual", data.actual, { borderColor: "#1d273b" }),
    ];
    if (data.scenario) {
      datasets.push(line("Scenario: " + data.scenario_label, data.scenario, { borderColor: "#f59f00", borderDash: [3, 3] }));
    }
    canvas.parentElement.style.height = "22rem";
    new window.Chart(canvas, {
      type: "line",
      data: { labels: data.labels, datasets: datasets },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        interaction: { mode: "index", intersect: false },
        scales: {
          x: { grid: { display: false }, ticks: { autoSkip: true, maxTicksLimit: 12 } },
          y: { beginAtZero: true, ticks: { callback: function (value) { return short.format(value); } } },
        },
        plugins: {
          legend: {
            position: "bottom",
            labels: { filter: function (item) { return item.text.indexOf(" low") === -1; } },
          },
          tooltip: {
            filter: function (item) { return item.parsed.y !== null && item.dataset.label.indexOf(" low") === -1; },
            callbacks: { label: function (ctx) { return ctx.dataset.label + ": " + exact.format(ctx.parsed.y); } },
          },
        },
      },
    });
  }

  document.querySelectorAll("canvas[data-forecast-chart]").forEach(draw);
})();
