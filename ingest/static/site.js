// Renders every chart on the page from the JSON next to it (Plotly, shipped with the site).
(function () {
  function render(el) {
    var spec = JSON.parse(document.getElementById(el.dataset.spec).textContent);
    Plotly.newPlot(el, spec.data, spec.layout, {responsive: true, displaylogo: false});
    return spec;
  }
  document.querySelectorAll(".chart[data-spec]").forEach(function (el) {
    var spec = render(el);
    var picker = document.querySelector("select[data-chart='" + el.id + "']");
    if (!picker) return;
    // Bump chart: add any unit to the plotted ones.
    var all = JSON.parse(document.getElementById(picker.dataset.series).textContent);
    picker.addEventListener("change", function () {
      var key = picker.value;
      if (!key || !all[key]) return;
      var shown = el.data.map(function (t) { return t.meta; });
      if (shown.indexOf(key) >= 0) return;
      Plotly.addTraces(el, all[key]);
    });
  });
})();
