// Batch pages: "select all" on the roster, and the progress page polling its JSON.
(function () {
  "use strict";
  var all = document.getElementById("pick-all");
  if (all) {
    all.addEventListener("change", function () {
      document.querySelectorAll('input[name="employee"]').forEach(function (box) {
        box.checked = all.checked;
      });
    });
  }
  var card = document.getElementById("batch-progress");
  if (!card) return;
  var url = card.getAttribute("data-url");
  var delay = 1500;
  function set(id, value) {
    var el = document.getElementById(id);
    if (el) el.textContent = String(value);
  }
  function poll() {
    fetch(url, { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (p) {
        if (!p) { delay = Math.min(delay * 2, 30000); return; }
        ["total", "created", "notified", "signed", "failed"].forEach(function (k) {
          set("bp-" + k, p[k]);
        });
        set("bp-state", p.state === "running" ? "进行中" : "已完成");
        var bar = document.getElementById("bp-bar");
        if (bar) { bar.max = p.total || 1; bar.value = p.created + p.failed; }
        var list = document.getElementById("bp-failures");
        if (list) {
          list.textContent = "";
          p.failures.forEach(function (f) {
            var li = document.createElement("li");
            li.textContent = "第 " + f.row + " 行 " + f.name + "：" + f.message;
            list.appendChild(li);
          });
        }
        // Keep following the signatures after creation ends, more slowly.
        delay = p.state === "running" ? 1500 : 10000;
      })
      .catch(function () { delay = Math.min(delay * 2, 30000); })
      .then(function () { setTimeout(poll, delay); });
  }
  setTimeout(poll, delay);
})();
