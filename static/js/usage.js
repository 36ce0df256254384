// Usage & cost page: draws the charts from the JSON the view put in
// <script id="usage-charts" type="application/json"> (json_script; the CSP allows no
// inline script). Each <canvas data-chart="NAME"> gets the chart of that name. Colours
// come from the page's CSS variables, so the charts follow the light or dark theme.
(function () {
  "use strict";

  function cssVar(name, fallback) {
    var value = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
    return value || fallback;
  }

  // Dollars as a person reads them: "$0", "$2.50", "$0.0042" below a cent.
  function money(value) {
    var n = Number(value);
    if (n === 0) return "$0";
    return "$" + n.toFixed(Math.abs(n) >= 0.01 ? 2 : 4);
  }

  // An axis tick: as many decimals as the step between ticks needs, so that ticks a
  // hundredth of a cent apart do not all read "$0.0001".
  function moneyTick(value, index, ticks) {
    var n = Number(value);
    if (n === 0) return "$0";
    var step = ticks.length > 1 ? Math.abs(ticks[1].value - ticks[0].value) : Math.abs(n);
    var decimals = Math.min(8, Math.max(2, Math.ceil(-Math.log10(step) - 1e-9)));
    return "$" + n.toFixed(decimals);
  }

  var PALETTE = ["#5046e5", "#0ea5e9", "#10b981", "#f59e0b", "#ef4444", "#a855f7", "#64748b", "#ec4899"];

  function baseOptions(text, grid) {
    return {
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      plugins: { legend: { display: false }, tooltip: { intersect: false, mode: "index" } },
      scales: {
        x: { ticks: { color: text, maxRotation: 0, autoSkip: true }, grid: { display: false } },
        y: { beginAtZero: true, ticks: { color: text }, grid: { color: grid } },
      },
    };
  }

  function draw() {
    var source = document.getElementById("usage-charts");
    if (!source || typeof window.Chart === "undefined") return;
    var data = JSON.parse(source.textContent);
    var accent = cssVar("--accent", "#5046e5");
    var text = cssVar("--muted", "#6b6b78");
    var grid = cssVar("--border", "#e7e7ec");
    var narrow = window.matchMedia("(max-width: 720px)").matches;
    var builders = {
      daily: function () {
        var options = baseOptions(text, grid);
        options.scales.y.ticks.callback = moneyTick;
        options.plugins.tooltip.callbacks = {
          label: function (item) { return " " + money(item.raw) + " · " + data.daily.calls[item.dataIndex] + " calls"; },
        };
        return {
          type: "bar",
          data: {
            labels: data.daily.labels,
            datasets: [{ data: data.daily.cost, backgroundColor: accent, borderRadius: 4, maxBarThickness: 28 }],
          },
          options: options,
        };
      },
      hours: function () {
        return {
          type: "bar",
          data: {
            labels: data.hours.labels,
            datasets: [{ data: data.hours.tokens, backgroundColor: cssVar("--info", "#1d4ed8"), borderRadius: 3 }],
          },
          options: baseOptions(text, grid),
        };
      },
      features: function () { return doughnut(data.features); },
      models: function () { return doughnut(data.models); },
    };

    function doughnut(series) {
      return {
        type: "doughnut",
        data: {
          labels: series.labels,
          datasets: [{ data: series.cost, backgroundColor: PALETTE, borderColor: cssVar("--surface", "#fff"), borderWidth: 2 }],
        },
        options: {
          responsive: true,
          maintainAspectRatio: false,
          animation: false,
          cutout: "62%",
          plugins: {
            legend: { position: narrow ? "bottom" : "right", labels: { color: text, boxWidth: 10, boxHeight: 10 } },
            tooltip: { callbacks: { label: function (item) { return " " + item.label + ": " + money(item.raw); } } },
          },
        },
      };
    }

    document.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
      var build = builders[canvas.getAttribute("data-chart")];
      if (build) new window.Chart(canvas, build());
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", draw);
  else draw();
})();
