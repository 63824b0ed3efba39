// The search box in every page's header: a province by any name the warehouse's resolver accepts
// (ingest/names.py): with or without diacritics, old names, "TP HCM". assets/search-index.js maps
// each folded name to the provinces with a page it can mean. fold() and stripPrefix() do what
// names.fold and names.strip_prefix do (tests/test_report.py compares them on every alias).
(function () {
  "use strict";
  function fold(text) {
    return String(text).normalize("NFD").replace(/\p{Mn}/gu, "").replace(/đ/g, "d").replace(/Đ/g, "D")
      .toLowerCase().replace(/[^a-z0-9]+/g, "");
  }
  function stripPrefix(key, prefixes) {
    for (const prefix of prefixes) {
      if (key.startsWith(prefix) && key.length > prefix.length + 2) return key.slice(prefix.length);
    }
    return key;
  }
  function find(text) {
    const index = window.govwhSearch;
    if (!index) return [];
    return (index.keys[stripPrefix(fold(text), index.prefixes)] || []).map(function (k) { return index.units[k]; });
  }
  window.govwhFind = find;  // for tests and the console
  function link(root, unit) {
    const a = document.createElement("a");
    a.href = root + unit.page;
    a.textContent = unit.name + (unit.years !== "-" ? " (" + unit.years + ")" : "");
    return a;
  }
  document.querySelectorAll("form.search").forEach(function (form) {
    const status = form.querySelector(".search-result");
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      const text = form.elements.q.value.trim();
      const root = form.getAttribute("data-root") || "";
      status.textContent = "";
      if (!text) return;
      const found = find(text);
      if (found.length === 1) {
        window.location.href = root + found[0].page;
      } else if (found.length > 1) {
        status.append("Which one? ");
        found.forEach(function (unit, i) { if (i) status.append(", "); status.append(link(root, unit)); });
      } else {
        status.textContent = "No province called \u201c" + text + "\u201d (try another spelling or an old name).";
      }
    });
  });
})();
