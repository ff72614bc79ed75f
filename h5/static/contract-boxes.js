// Placing signature boxes on the console's page images: pick a signer row, then drag on a
// page to draw its box. The box is written into the row's text field as
// "page,x1,y1,x2,y2" in PDF points (origin bottom-left), the same format as typing it.
(function () {
  "use strict";
  var placer = document.getElementById("placer");
  var form = document.getElementById("send-form");
  if (!placer || !form) { return; }
  var sizes = JSON.parse(placer.getAttribute("data-sizes") || "[]");

  function activeRow() {
    var checked = form.querySelector("input[name=active_row]:checked");
    return checked ? checked.value : "0";
  }

  function point(frame, ev) {
    var rect = frame.getBoundingClientRect();
    var src = ev.touches && ev.touches.length ? ev.touches[0] :
      (ev.changedTouches && ev.changedTouches.length ? ev.changedTouches[0] : ev);
    return {
      x: Math.min(Math.max(src.clientX - rect.left, 0), rect.width),
      y: Math.min(Math.max(src.clientY - rect.top, 0), rect.height),
      w: rect.width, h: rect.height
    };
  }

  function addBox(pageIndex, a, b) {
    var size = sizes[pageIndex];
    if (!size) { return; }
    var sx = size[0] / a.w, sy = size[1] / a.h;
    var x1 = Math.round(Math.min(a.x, b.x) * sx), x2 = Math.round(Math.max(a.x, b.x) * sx);
    var top = Math.min(a.y, b.y), bottom = Math.max(a.y, b.y);
    var y1 = Math.round(size[1] - bottom * sy), y2 = Math.round(size[1] - top * sy);
    if (x2 - x1 < 20 || y2 - y1 < 20) {  // a tap: a default-sized box centred there
      var cx = a.x * sx, cy = size[1] - a.y * sy;
      x1 = Math.round(Math.max(0, cx - 80)); x2 = Math.round(Math.min(size[0], cx + 80));
      y1 = Math.round(Math.max(0, cy - 40)); y2 = Math.round(Math.min(size[1], cy + 40));
    }
    var input = document.getElementById("boxes_" + activeRow());
    var value = (pageIndex + 1) + "," + x1 + "," + y1 + "," + x2 + "," + y2;
    input.value = input.value ? input.value + ";" + value : value;
    draw();
  }

  function draw() {
    var old = placer.querySelectorAll(".doc-box-new");
    for (var i = 0; i < old.length; i++) { old[i].parentNode.removeChild(old[i]); }
    var frames = placer.querySelectorAll(".doc-frame");
    var inputs = form.querySelectorAll("input[id^=boxes_]");
    for (var r = 0; r < inputs.length; r++) {
      var parts = inputs[r].value.split(";");
      for (var p = 0; p < parts.length; p++) {
        var v = parts[p].split(",").map(Number);
        if (v.length !== 5 || v.some(isNaN)) { continue; }
        var size = sizes[v[0] - 1], frame = frames[v[0] - 1];
        if (!size || !frame) { continue; }
        var box = document.createElement("div");
        box.className = "doc-box doc-box-new";
        box.style.left = (v[1] / size[0] * 100) + "%";
        box.style.top = ((size[1] - v[4]) / size[1] * 100) + "%";
        box.style.width = ((v[3] - v[1]) / size[0] * 100) + "%";
        box.style.height = ((v[4] - v[2]) / size[1] * 100) + "%";
        box.textContent = inputs[r].id === "boxes_0" ? "企业" : "个人 " + inputs[r].id.slice(6);
        frame.appendChild(box);
      }
    }
  }

  var frames = placer.querySelectorAll(".doc-frame");
  Array.prototype.forEach.call(frames, function (frame, index) {
    var start = null;
    function down(ev) { start = point(frame, ev); ev.preventDefault(); }
    function up(ev) {
      if (!start) { return; }
      addBox(index, start, point(frame, ev));
      start = null;
      ev.preventDefault();
    }
    frame.addEventListener("mousedown", down);
    frame.addEventListener("mouseup", up);
    frame.addEventListener("touchstart", down, { passive: false });
    frame.addEventListener("touchend", up, { passive: false });
  });
  form.addEventListener("input", draw);
  draw();
})();
