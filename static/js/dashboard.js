// The dashboard's charts: draws the data the page put in <script type="application/json"> blocks
// (dashboard-daily-data, dashboard-departments-data, dashboard-vendors-data) with Chart.js, served
// from this site (no inline script under the CSP). A click on a bar or slice opens its usage.
(function () {
  "use strict";

  if (!window.Chart) {
    return;
  }
  var PALETTE = [
    "#206bc4", "#2fb344", "#f76707", "#ae3ec9", "#d63939",
    "#17a2b8", "#f59f00", "#74b816", "#4263eb", "#d6336c",
  ];
  var OTHER = "#adb5bd";

  function read(id) {
    var source = document.getElementById(id);
    return source ? JSON.parse(source.textContent) : null;
  }

  function formatter(options) {
    try {
      return new Intl.NumberFormat(undefined, options);
    } catch (error) { // an unknown currency code
      delete options.style;
      delete options.currency;
      return new Intl.NumberFormat(undefined, options);
    }
  }

  function money(currency) {
    return {
      short: formatter({ style: "currency", currency: currency, notation: "compact", maximumSignificantDigits: 3 }),
      exact: formatter({ style: "currency", currency: currency, maximumFractionDigits: 2 }),
    };
  }

  function colour(label, index) {
    return /^Other \(/.test(label) ? OTHER : PALETTE[index % PALETTE.length];
  }

  // Heights go through the CSSOM, which the Content-Security-Policy allows (style attributes it does not).
  function sized(canvas, height) {
    canvas.parentElement.style.height = height;
    return canvas;
  }

  function openLink(link) {
    if (link) {
      window.location.href = link;
    }
  }

  function pointer(event, elements) {
    event.native.target.style.cursor = elements.length ? "pointer" : "default";
  }

  // Daily spend of the last 60 days, stacked by vendor.
  var daily = read("dashboard-daily-data");
  var dailyCanvas = document.getElementById("dashboard-daily-chart");
  if (daily && dailyCanvas) {
    var dailyMoney = money(daily.currency);
    new window.Chart(sized(dailyCanvas, "20rem"), {
      type: "bar",
      data: {
        labels: daily.labels,
        datasets: daily.datasets.map(function (set, index) {
          return {
            label: set.label,
            data: set.data.map(Number),
            backgroundColor: colour(set.label, index),
            borderWidth: 0,
            maxBarThickness: 28,
          };
        }),
      },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        interaction: { mode: "index", intersect: false },
        onClick: function (event, elements) {
          if (elements.length) {
            var day = daily.labels[elements[0].index];
            var next = new Date(day + "T00:00:00Z");
            next.setUTCDate(next.getUTCDate() + 1);
            openLink(daily.link + "&start=" + day + "&end=" + next.toISOString().slice(0, 10));
          }
        },
        onHover: pointer,
        scales: {
          x: {
            stacked: true,
            grid: { display: false },
            ticks: {
              callback: function (value) {
                return this.getLabelForValue(value).slice(5); // MM-DD
              },
            },
          },
          y: {
            stacked: true,
            beginAtZero: true,
            ticks: {
              callback: function (value) {
                return dailyMoney.short.format(value);
              },
            },
          },
        },
        plugins: {
          legend: { position: "bottom" },
          tooltip: {
            filter: function (item) {
              return item.parsed.y !== 0;
            },
            callbacks: {
              label: function (context) {
                return context.dataset.label + ": " + dailyMoney.exact.format(context.parsed.y);
              },
            },
          },
        },
      },
    });
  }

  // Spend by department this month: horizontal bars, largest first.
  var departments = read("dashboard-departments-data");
  var departmentCanvas = document.getElementById("dashboard-departments-chart");
  if (departments && departmentCanvas) {
    var departmentMoney = money(departments.currency);
    new window.Chart(sized(departmentCanvas, Math.max(160, departments.labels.length * 28 + 50) + "px"), {
      type: "bar",
      data: {
        labels: departments.labels,
        datasets: [{
          label: "Spend",
          data: departments.values.map(Number),
          backgroundColor: departments.labels.map(function (label) {
            return /^Other \(/.test(label) ? OTHER : PALETTE[0];
          }),
          borderWidth: 0,
          maxBarThickness: 22,
        }],
      },
      options: {
        indexAxis: "y",
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        onClick: function (event, elements) {
          if (elements.length) {
            openLink(departments.links[elements[0].index]);
          }
        },
        onHover: pointer,
        scales: {
          x: {
            beginAtZero: true,
            ticks: {
              callback: function (value) {
                return departmentMoney.short.format(value);
              },
            },
          },
          y: { grid: { display: false } },
        },
        plugins: {
          legend: { display: false },
          tooltip: {
            callbacks: {
              label: function (context) {
                return departmentMoney.exact.format(context.parsed.x);
              },
            },
          },
        },
      },
    });
  }

  // Spend by vendor this month: a doughnut with the shares.
  var vendors = read("dashboard-vendors-data");
  var vendorCanvas = document.getElementById("dashboard-vendors-chart");
  if (vendors && vendorCanvas) {
    var vendorMoney = money(vendors.currency);
    var values = vendors.values.map(Number);
    var sum = values.reduce(function (a, b) { return a + b; }, 0);
    new window.Chart(sized(vendorCanvas, "18rem"), {
      type: "doughnut",
      data: {
        labels: vendors.labels,
        datasets: [{
          data: values,
          backgroundColor: vendors.labels.map(colour),
          borderWidth: 1,
        }],
      },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        onClick: function (event, elements) {
          if (elements.length) {
            openLink(vendors.links[elements[0].index]);
          }
        },
        onHover: pointer,
        plugins: {
          legend: { position: "right" },
          tooltip: {
            callbacks: {
              label: function (context) {
                var share = sum ? " (" + (100 * context.parsed / sum).toFixed(1) + " %)" : "";
                return context.label + ": " + vendorMoney.exact.format(context.parsed) + share;
              },
            },
          },
        },
      },
    });
  }
})();
