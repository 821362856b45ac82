// Draws the Samples page's chart with uPlot from the page's own JSON (#chart-data): x in epoch
// seconds (UTC), y in the catalogue's unit, and per point the index of its provenance label.
// The plot is window.engineCharts[<sample type>]; arrow keys move the cursor point by point.
(function () {
  "use strict";
  var box = document.getElementById("chart");
  var source = document.getElementById("chart-data");
  if (!box || !source || !window.uPlot) { return; }
  var d = JSON.parse(source.textContent);
  var kind = box.dataset.kind, unit = box.dataset.unit;
  var stages = { 0: "unknown", 1: "deep", 2: "light", 3: "REM", 4: "awake" };
  var hypnogram = kind === "hypnogram";
  var provenance = document.getElementById("provenance");
  function shown(v) { return v == null ? "—" : hypnogram ? stages[v] : v + " " + unit; }
  var series = { label: box.dataset.title, stroke: "#0b57a4", width: 1.5, spanGaps: false,
                 value: function (u, v) { return shown(v); } };
  if (kind === "points") { series.paths = function () { return null; }; series.points = { show: true, size: 5, fill: "#0b57a4" }; }
  if (kind === "bars") { series.paths = uPlot.paths.bars({ size: [0.7, 48] }); series.fill = "#0b57a4"; series.points = { show: false }; }
  if (hypnogram) { series.paths = uPlot.paths.stepped({ align: 1 }); series.points = { show: false }; }
  if (kind === "line") { series.points = { show: false }; }
  function describe(u) {
    var i = u.cursor.idx;
    if (i == null || d.x[i] == null) { return; }
    var at = new Date(d.x[i] * 1000).toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
    provenance.textContent = at + ": " + shown(d.y[i]) + " — " + d.labels[d.p[i]];
  }
  var opts = {
    width: Math.max(280, box.clientWidth), height: 320,
    tzDate: function (ts) { return uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"); },
    series: [{ label: "UTC" }, series],
    axes: [{}, hypnogram ? { values: function (u, vals) { return vals.map(function (v) { return stages[v] || ""; }); }, size: 70 }
                         : { label: unit }],
    scales: hypnogram ? { y: { range: [0, 4.5] } } : {},
    hooks: { setCursor: [describe], draw: [function () {
      if (!box.dataset.drawn) { box.dataset.drawnAt = String(performance.now()); }
      box.dataset.drawn = "true";
    }] }
  };
  var plot = new uPlot(opts, [d.x, d.y], box);
  window.engineCharts = window.engineCharts || {};
  window.engineCharts[box.dataset.chart] = plot;
  box.tabIndex = 0;
  var at = d.x.length - 1;
  box.addEventListener("keydown", function (event) {
    var step = { ArrowLeft: -1, ArrowRight: 1, Home: -d.x.length, End: d.x.length }[event.key];
    if (step == null) { return; }
    event.preventDefault();
    at = Math.min(d.x.length - 1, Math.max(0, at + step));
    plot.setCursor({ left: plot.valToPos(d.x[at], "x"), top: plot.valToPos(d.y[at] == null ? 0 : d.y[at], "y") });
  });
  window.addEventListener("resize", function () { plot.setSize({ width: Math.max(280, box.clientWidth), height: 320 }); });
})();
