// Filter the lost/won case tables by slice. Rows carry their slices as JSON in data-slices.
(function () {
  var selects = Array.prototype.slice.call(document.querySelectorAll("select[data-filter]"));
  function apply() {
    var wanted = {};
    selects.forEach(function (s) { if (s.value) { wanted[s.getAttribute("data-filter")] = s.value; } });
    document.querySelectorAll("table.cases").forEach(function (table) {
      var shown = 0, rows = table.querySelectorAll("tbody tr");
      rows.forEach(function (tr) {
        var slices = JSON.parse(tr.getAttribute("data-slices") || "{}"), keep = true;
        Object.keys(wanted).forEach(function (k) { if (slices[k] !== wanted[k]) { keep = false; } });
        tr.hidden = !keep;
        if (keep) { shown += 1; }
      });
      var count = document.querySelector('[data-count-for="' + table.id + '"]');
      if (count) { count.textContent = "(" + shown + " of " + rows.length + " shown)"; }
    });
  }
  selects.forEach(function (s) { s.addEventListener("change", apply); });
})();
