// Renders every chart on the page from the JSON next to it (Plotly, shipped with the site).
(function () {
  function render(el) {
    var spec = JSON.parse(document.getElementById(el.dataset.spec).textContent);
    Plotly.newPlot(el, spec.data, spec.layout, {responsive: true, displaylogo: false});
    return spec;
  }
  // Province maps: one SVG path per unit from assets/provinces.js, filled from the JSON next to it.
  var SVG = "http://www.w3.org/2000/svg";
  document.querySelectorAll(".province-map[data-spec]").forEach(function (el) {
    var spec = JSON.parse(document.getElementById(el.dataset.spec).textContent);
    var geo = window.govwhMap;
    var svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("viewBox", "0 0 " + geo.width + " " + geo.height);
    Object.keys(geo.units[spec.set]).sort().forEach(function (key) {
      var path = document.createElementNS(SVG, "path");
      var fill = spec.fills[key] || spec.missing;
      path.setAttribute("d", geo.units[spec.set][key]);
      path.setAttribute("fill", fill);
      path.setAttribute("data-unit", key);
      path.setAttribute("data-class", spec.classes[key] || 0);
      var title = document.createElementNS(SVG, "title");
      title.textContent = spec.titles[key] || spec.missing_title;
      path.appendChild(title);
      svg.appendChild(path);
    });
    el.appendChild(svg);
  });
  if (typeof Plotly === "undefined") return;
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
