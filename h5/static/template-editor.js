// The template placement editor: pick a field type, tap a page to place it, drag to move,
// drag the round handle to resize, or type the position. Positions are fractions of the
// page (top-left origin), the same on every screen; the form posts them as JSON. A placed or
// released field snaps onto a nearby text line, run of underscores or rule (吸附到文字行).
(function () {
  "use strict";
  var form = document.getElementById("tpl-form");
  var placer = document.getElementById("placer");
  if (!form || !placer) { return; }
  var state = JSON.parse(form.getAttribute("data-state") || "{}");
  var kinds = JSON.parse(form.getAttribute("data-kinds") || "{}");
  var sizes = JSON.parse(placer.getAttribute("data-sizes") || "[]");
  var fields = state.fields || [];
  var roles = state.roles || [];
  var frames = placer.querySelectorAll(".doc-frame");
  var palette = document.getElementById("palette");
  var hint = document.getElementById("hint");
  var panel = document.getElementById("field-panel");
  var editable = !!palette;
  var armed = null;        // {kind} to place a new field, or {again: fieldIndex}
  var sel = null;          // {f: fieldIndex, p: placementIndex}
  var VALUE_KINDS = ["text", "date", "number", "id_number", "phone", "checkbox"];
  // Default sizes in points (turned into fractions of the tapped page).
  var SIZES = { text: [170, 18], date: [120, 18], number: [90, 18], id_number: [170, 18],
    phone: [110, 18], checkbox: [14, 14], sign_date: [120, 24], signature: [150, 70],
    seal: [125, 125] };

  // Snapping: the server reads each page's text lines, runs of underscores and drawn rules
  // once per PDF (fractions of the page, lines.json). When a field is placed, or let go
  // after a drag, and its bottom edge is within SNAP_PX screen pixels of one of them, it
  // moves onto it. Typed positions never snap.
  var SNAP_PX = 8;
  var pageLines = null;
  var snapBox = document.getElementById("snap-lines");
  var linesUrl = placer.getAttribute("data-lines");

  function $(id) { return document.getElementById(id); }
  function clamp(v, lo, hi) { return Math.min(Math.max(v, lo), hi); }
  function round(v) { return Math.round(v * 100000) / 100000; }
  function roleOf(party) {
    for (var i = 0; i < roles.length; i++) { if (roles[i].party === party) { return roles[i].key; } }
    return roles.length ? roles[0].key : "";
  }
  function roleName(key) {
    for (var i = 0; i < roles.length; i++) { if (roles[i].key === key) { return roles[i].name; } }
    return "";
  }
  function newKey(kind) {
    var n = 1, taken = {};
    fields.forEach(function (f) { taken[f.key] = true; });
    while (taken[kind + "_" + n]) { n++; }
    return kind + "_" + n;
  }
  function signing(kind) { return VALUE_KINDS.indexOf(kind) < 0; }

  // ---------------------------------------------------------------- roles
  function drawRoles() {
    var box = $("roles");
    box.innerHTML = "";
    roles.forEach(function (r, i) {
      var row = document.createElement("div");
      row.className = "tpl-grid";
      row.innerHTML = '<div class="field"><label>' + (r.party === "enterprise" ? "企业签署方" : "个人签署方") +
        '</label><input maxlength="20" data-role-name="' + i + '"></div>' +
        '<div class="field"><label>签署顺序</label><input type="number" min="1" max="10" data-role-order="' + i + '"></div>';
      row.querySelector("[data-role-name]").value = r.name;
      row.querySelector("[data-role-order]").value = r.order;
      box.appendChild(row);
    });
    box.addEventListener("input", function (ev) {
      var t = ev.target;
      if (t.hasAttribute("data-role-name")) { roles[+t.getAttribute("data-role-name")].name = t.value; }
      if (t.hasAttribute("data-role-order")) { roles[+t.getAttribute("data-role-order")].order = +t.value || 1; }
      draw();
    });
  }

  // ---------------------------------------------------------------- drawing
  function label(f) {
    var who = signing(f.kind) ? roleName(f.role) : (f.filler === "employee" ? "乙方补全" : "");
    return (f.label || kinds[f.kind]) + (who ? "·" + who : "");
  }

  function draw() {
    var old = placer.querySelectorAll(".tpl-box");
    for (var i = 0; i < old.length; i++) { old[i].parentNode.removeChild(old[i]); }
    fields.forEach(function (f, fi) {
      f.placements.forEach(function (p, pi) {
        var frame = frames[p.page];
        if (!frame) { return; }
        var box = document.createElement("div");
        box.className = "tpl-box tpl-" + f.kind + (sel && sel.f === fi && sel.p === pi ? " tpl-selected" : "");
        box.style.left = (p.x * 100) + "%";
        box.style.top = (p.y * 100) + "%";
        box.style.width = (p.w * 100) + "%";
        box.style.height = (p.h * 100) + "%";
        box.setAttribute("data-f", fi);
        box.setAttribute("data-p", pi);
        box.setAttribute("data-key", f.key);
        var text = document.createElement("span");
        text.textContent = label(f);
        box.appendChild(text);
        if (editable) {
          var handle = document.createElement("i");
          handle.className = "tpl-handle";
          handle.setAttribute("aria-label", "调整大小");
          box.appendChild(handle);
        }
        frame.appendChild(box);
      });
    });
    var list = $("field-list");
    list.innerHTML = "";
    fields.forEach(function (f, fi) {
      var li = document.createElement("li");
      var a = document.createElement("button");
      a.type = "button";
      a.className = "btn-link";
      a.textContent = label(f) + (f.placements.length > 1 ? "（" + f.placements.length + " 处）" : "");
      a.addEventListener("click", function () { select(fi, 0, true); });
      li.appendChild(a);
      var where = document.createElement("span");
      where.className = "muted";
      where.textContent = kinds[f.kind] + " · 第 " + (f.placements[0].page + 1) + " 页";
      li.appendChild(where);
      list.appendChild(li);
    });
    $("field-count").textContent = fields.length;
    $("fields_json").value = JSON.stringify(fields);
    $("roles_json").value = JSON.stringify(roles);
    fillPanel();
  }

  // ---------------------------------------------------------------- the selected field
  function select(fi, pi, scroll) {
    sel = fi === null ? null : { f: fi, p: pi };
    draw();
    if (scroll && sel) {
      var box = placer.querySelector('.tpl-box[data-f="' + fi + '"][data-p="' + pi + '"]');
      if (box) { box.scrollIntoView({ block: "center" }); }
    }
  }

  function fillPanel() {
    if (!sel || !fields[sel.f]) { panel.hidden = true; return; }
    var f = fields[sel.f], p = f.placements[sel.p];
    panel.hidden = false;
    $("fp-title").textContent = kinds[f.kind] + "字段";
    var roleSel = $("fp-role");
    roleSel.innerHTML = "";
    roles.forEach(function (r) {
      if (f.kind === "seal" && r.party !== "enterprise") { return; }
      if (f.kind === "signature" && r.party !== "person") { return; }
      var o = document.createElement("option");
      o.value = r.key; o.textContent = r.name;
      roleSel.appendChild(o);
    });
    setIfIdle("fp-label", f.label);
    roleSel.value = f.role;
    $("fp-filler").value = f.filler || "sender";
    $("fp-filler-row").hidden = signing(f.kind);
    $("fp-required-row").hidden = signing(f.kind);
    $("fp-size-row").hidden = signing(f.kind) && f.kind !== "sign_date";
    $("fp-format-row").hidden = !(f.kind === "date" || f.kind === "sign_date");
    $("fp-format").value = f.format || "ymd_cn";
    setIfIdle("fp-size", f.font_size);
    $("fp-required").checked = !!f.required;
    $("fp-where").textContent = "第 " + (p.page + 1) + " 页，第 " + (sel.p + 1) + " / " + f.placements.length + " 处";
    setIfIdle("fp-x", (p.x * 100).toFixed(1));
    setIfIdle("fp-y", (p.y * 100).toFixed(1));
    setIfIdle("fp-w", (p.w * 100).toFixed(1));
    setIfIdle("fp-h", (p.h * 100).toFixed(1));
    $("fp-remove-place").hidden = f.placements.length < 2;
  }
  function setIfIdle(id, value) {
    var el = $(id);
    if (document.activeElement !== el) { el.value = value; }
  }

  function bindPanel() {
    function current() { return sel ? fields[sel.f] : null; }
    $("fp-label").addEventListener("input", function () { var f = current(); if (f) { f.label = this.value; draw(); } });
    $("fp-role").addEventListener("change", function () { var f = current(); if (f) { f.role = this.value; draw(); } });
    $("fp-filler").addEventListener("change", function () { var f = current(); if (f) { f.filler = this.value; draw(); } });
    $("fp-format").addEventListener("change", function () { var f = current(); if (f) { f.format = this.value; draw(); } });
    $("fp-size").addEventListener("input", function () { var f = current(); if (f && +this.value) { f.font_size = +this.value; draw(); } });
    $("fp-required").addEventListener("change", function () { var f = current(); if (f) { f.required = this.checked; draw(); } });
    ["x", "y", "w", "h"].forEach(function (k) {
      $("fp-" + k).addEventListener("input", function () {
        var f = current();
        if (!f || this.value === "" || isNaN(+this.value)) { return; }
        var p = f.placements[sel.p];
        var v = clamp(+this.value / 100, 0, 1);
        if (k === "w" || k === "h") { v = Math.max(v, 0.006); }
        p[k] = round(v);
        p.x = round(clamp(p.x, 0, 1 - p.w)); p.y = round(clamp(p.y, 0, 1 - p.h));
        draw();
      });
    });
    $("fp-close").addEventListener("click", function () { select(null); });
    $("fp-delete").addEventListener("click", function () {
      if (!sel) { return; }
      fields.splice(sel.f, 1); select(null);
    });
    $("fp-remove-place").addEventListener("click", function () {
      var f = current();
      if (!f || f.placements.length < 2) { return; }
      f.placements.splice(sel.p, 1); select(sel.f, 0);
    });
    $("fp-again").addEventListener("click", function () {
      if (!sel) { return; }
      arm({ again: sel.f });
    });
  }

  // ---------------------------------------------------------------- snapping to text lines
  function loadLines() {
    if (!linesUrl || !window.fetch) { return; }
    fetch(linesUrl, { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (data && data.pages) { pageLines = data.pages; placer.setAttribute("data-lines-ready", "1"); }
      })
      .catch(function () { pageLines = null; });
  }
  if (snapBox) {
    try { if (window.localStorage.getItem("tpl-snap") === "0") { snapBox.checked = false; } } catch (e) { /* private mode */ }
    snapBox.addEventListener("change", function () {
      try { window.localStorage.setItem("tpl-snap", this.checked ? "1" : "0"); } catch (e) { /* private mode */ }
    });
  }

  // Move placement `p` onto the nearest line within reach of its bottom edge (or of
  // `anchor`, the tapped height, when placing): the bottom edge on the line; on a blank or
  // a rule the left edge at its start when near it, the width cut to its end; on a text
  // line the left edge right after the text when near its end. `resized`: only the
  // bottom edge moves. Returns the line, or null.
  function snap(p, kind, frame, resized, anchor) {
    if (!pageLines || !snapBox || !snapBox.checked) { return null; }
    var found = pageLines[p.page];
    var rect = frame.getBoundingClientRect();
    if (!found || !found.length || !rect.width || !rect.height) { return null; }
    var ty = SNAP_PX / rect.height, tx = SNAP_PX / rect.width;
    var bottom = p.y + p.h, best = null, bestScore = Infinity;
    found.forEach(function (ln) {
      var d = Math.abs(ln.y - bottom);
      if (anchor !== undefined) { d = Math.min(d, Math.abs(ln.y - anchor)); }
      if (d > ty) { return; }
      if (ln.kind !== "text" && (ln.x1 < p.x - tx || ln.x0 > p.x + p.w + tx)) { return; }
      var score = d + (ln.kind === "text" ? ty / 2 : 0);  // a blank or rule beats text
      if (score < bestScore) { best = ln; bestScore = score; }
    });
    if (!best) { return null; }
    var size = sizes[p.page] || [595, 842];
    if (resized) {
      if (best.y - p.y > 0.008) { p.h = round(Math.min(best.y - p.y, 1 - p.y)); }
    } else {
      p.y = round(clamp(best.y - p.h, 0, 1 - p.h));
      if (best.kind === "text") {
        if (Math.abs(p.x - best.x1) <= 3 * tx) { p.x = round(clamp(best.x1, 0, 1 - p.w)); }
      } else {
        if (p.x < best.x0 || p.x - best.x0 <= 3 * tx) { p.x = round(clamp(best.x0, 0, 1 - p.w)); }
        var minW = signing(kind) ? 20 / size[0] : 0.01;
        if (p.x + p.w > best.x1 && best.x1 - p.x >= minW) { p.w = round(best.x1 - p.x); }
      }
    }
    showLine(frame, best, p);
    return best;
  }

  function showLine(frame, ln, p) {
    var old = frame.querySelector(".tpl-snapline");
    if (old) { old.parentNode.removeChild(old); }
    var x0 = ln.x0, x1 = ln.kind === "text" ? Math.max(ln.x1, p.x + p.w) : ln.x1;
    var mark = document.createElement("div");
    mark.className = "tpl-snapline";
    mark.setAttribute("data-kind", ln.kind);
    mark.style.left = (x0 * 100) + "%";
    mark.style.width = ((x1 - x0) * 100) + "%";
    mark.style.top = "calc(" + (ln.y * 100) + "% - 1px)";
    frame.appendChild(mark);
    setTimeout(function () { mark.classList.add("tpl-fade"); }, 900);
    setTimeout(function () { if (mark.parentNode) { mark.parentNode.removeChild(mark); } }, 1400);
  }

  // ---------------------------------------------------------------- placing
  function arm(what) {
    armed = what;
    var buttons = palette.querySelectorAll("[data-kind]");
    for (var i = 0; i < buttons.length; i++) {
      buttons[i].classList.toggle("chip-on", !!(what && what.kind === buttons[i].getAttribute("data-kind")));
    }
    placer.classList.toggle("tpl-armed", !!what);
    hint.textContent = what ? (what.again !== undefined ? "点页面上的位置，在那里再显示这个字段" :
      "点页面上的位置放置“" + kinds[what.kind] + "”") :
      "点上方的字段类型，再点页面上的位置放置；拖动字段可移动，拖右下角的圆点可调整大小。";
  }

  function placeAt(pageIndex, frame, ev) {
    var rect = frame.getBoundingClientRect();
    var size = sizes[pageIndex] || [595, 842];
    var fx = (ev.clientX - rect.left) / rect.width, fy = (ev.clientY - rect.top) / rect.height;
    var kind = armed.again !== undefined ? fields[armed.again].kind : armed.kind;
    var pts = SIZES[kind] || [150, 20];
    var w = Math.min(pts[0] / size[0], 1), h = Math.min(pts[1] / size[1], 1);
    var p = { page: pageIndex, x: round(clamp(fx - w / 2, 0, 1 - w)), y: round(clamp(fy - h / 2, 0, 1 - h)),
      w: round(w), h: round(h) };
    snap(p, kind, frame, false, fy);
    if (armed.again !== undefined) {
      var f = fields[armed.again];
      f.placements.push(p);
      arm(null);
      select(fields.indexOf(f), f.placements.length - 1);
      return;
    }
    var field = { key: newKey(kind), kind: kind, label: kinds[kind],
      role: roleOf(kind === "seal" ? "enterprise" : "person"),
      filler: "sender", required: VALUE_KINDS.indexOf(kind) >= 0 && kind !== "checkbox",
      font_size: 10.5, format: (kind === "date" || kind === "sign_date") ? "ymd_cn" : "",
      default: "", placements: [p] };
    fields.push(field);
    arm(null);
    select(fields.length - 1, 0);
  }

  // Drag to move, drag the handle to resize (pointer events: mouse, pen and touch alike).
  function startDrag(ev) {
    var box = ev.target.closest(".tpl-box");
    if (!box || armed) { return; }
    var fi = +box.getAttribute("data-f"), pi = +box.getAttribute("data-p");
    var frame = box.parentNode, rect = frame.getBoundingClientRect();
    var p = fields[fi].placements[pi];
    var resize = ev.target.classList.contains("tpl-handle");
    var start = { x: ev.clientX, y: ev.clientY, px: p.x, py: p.y, pw: p.w, ph: p.h };
    var moved = false;
    ev.preventDefault();
    box.setPointerCapture(ev.pointerId);
    if (!sel || sel.f !== fi || sel.p !== pi) { sel = { f: fi, p: pi }; box.classList.add("tpl-selected"); }
    function move(e) {
      var dx = (e.clientX - start.x) / rect.width, dy = (e.clientY - start.y) / rect.height;
      if (Math.abs(e.clientX - start.x) + Math.abs(e.clientY - start.y) > 2) { moved = true; }
      if (resize) {
        p.w = round(clamp(start.pw + dx, 0.01, 1 - p.x));
        p.h = round(clamp(start.ph + dy, 0.008, 1 - p.y));
      } else {
        p.x = round(clamp(start.px + dx, 0, 1 - p.w));
        p.y = round(clamp(start.py + dy, 0, 1 - p.h));
      }
      box.style.left = (p.x * 100) + "%"; box.style.top = (p.y * 100) + "%";
      box.style.width = (p.w * 100) + "%"; box.style.height = (p.h * 100) + "%";
    }
    function up() {
      box.removeEventListener("pointermove", move);
      box.removeEventListener("pointerup", up);
      box.removeEventListener("pointercancel", up);
      if (moved) {
        snap(p, fields[fi].kind, frame, resize);
        form.classList.add("tpl-dirty");
      }
      select(fi, pi);
    }
    box.addEventListener("pointermove", move);
    box.addEventListener("pointerup", up);
    box.addEventListener("pointercancel", up);
  }

  Array.prototype.forEach.call(frames, function (frame, index) {
    frame.addEventListener("click", function (ev) {
      if (armed && !ev.target.closest(".tpl-box")) { placeAt(index, frame, ev); }
    });
    if (editable) { frame.addEventListener("pointerdown", startDrag); }
  });
  if (palette) {
    palette.addEventListener("click", function (ev) {
      var b = ev.target.closest("[data-kind]");
      if (!b) { return; }
      var kind = b.getAttribute("data-kind");
      arm(armed && armed.kind === kind ? null : { kind: kind });
    });
  }
  form.addEventListener("submit", function () {
    $("fields_json").value = JSON.stringify(fields);
    $("roles_json").value = JSON.stringify(roles);
  });
  drawRoles();
  bindPanel();
  draw();
  loadLines();
})();
