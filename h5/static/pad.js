// Signature pad: pointer + touch drawing on a canvas, then upload as PNG.
(function () {
  "use strict";
  var root = document.getElementById("pad");
  if (!root) return;
  var canvas = document.getElementById("pad-canvas");
  var status = document.getElementById("pad-status");
  var submit = document.getElementById("pad-submit");
  var ctx = canvas.getContext("2d");
  var drawing = false, last = null, inked = false;

  // Size the drawing buffer to the canvas as laid out (it changes when the phone turns:
  // the landscape layout gives the pad the height left beside the buttons). Ink already
  // drawn is kept, scaled down if the new pad is smaller.
  function resize() {
    var ratio = Math.max(window.devicePixelRatio || 1, 1);
    var rect = canvas.getBoundingClientRect();
    var keep = null;
    if (inked && canvas.width && canvas.height) {
      keep = document.createElement("canvas");
      keep.width = canvas.width;
      keep.height = canvas.height;
      keep.getContext("2d").drawImage(canvas, 0, 0);
    }
    canvas.width = Math.round(rect.width * ratio);
    canvas.height = Math.round(rect.height * ratio);
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    ctx.strokeStyle = "#111";
    ctx.lineWidth = 3.2;
    if (keep) {
      var scale = Math.min(1, canvas.width / keep.width, canvas.height / keep.height);
      ctx.drawImage(keep, 0, 0, keep.width * scale / ratio, keep.height * scale / ratio);
    }
  }

  function point(e) {
    var rect = canvas.getBoundingClientRect();
    var src = e.touches ? e.touches[0] : e;
    return { x: src.clientX - rect.left, y: src.clientY - rect.top };
  }

  function start(e) {
    e.preventDefault();
    drawing = true;
    last = point(e);
    ctx.beginPath();
    ctx.arc(last.x, last.y, ctx.lineWidth / 2, 0, Math.PI * 2);
    ctx.fillStyle = "#111";
    ctx.fill();
    inked = true;
  }

  function move(e) {
    if (!drawing) return;
    e.preventDefault();
    var p = point(e);
    var mid = { x: (last.x + p.x) / 2, y: (last.y + p.y) / 2 };
    ctx.beginPath();
    ctx.moveTo(last.x, last.y);
    ctx.quadraticCurveTo(last.x, last.y, mid.x, mid.y);
    ctx.lineTo(p.x, p.y);
    ctx.stroke();
    last = p;
  }

  function end() { drawing = false; }

  if (window.PointerEvent) {
    canvas.addEventListener("pointerdown", function (e) { canvas.setPointerCapture(e.pointerId); start(e); });
    canvas.addEventListener("pointermove", move);
    canvas.addEventListener("pointerup", end);
    canvas.addEventListener("pointercancel", end);
  } else {  // older in-app browsers
    canvas.addEventListener("touchstart", start, { passive: false });
    canvas.addEventListener("touchmove", move, { passive: false });
    canvas.addEventListener("touchend", end);
    canvas.addEventListener("mousedown", start);
    canvas.addEventListener("mousemove", move);
    window.addEventListener("mouseup", end);
  }

  document.getElementById("pad-clear").addEventListener("click", function () {
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    inked = false;
    status.textContent = "";
  });

  submit.addEventListener("click", function () {
    if (!inked) { status.textContent = "请先书写签名"; return; }
    submit.disabled = true;
    status.textContent = "正在提交…";
    canvas.toBlob(function (blob) {
      var form = new FormData();
      form.append("_csrf", root.dataset.csrf);
      form.append("signature", blob, "signature.png");
      fetch(root.dataset.action, { method: "POST", body: form, credentials: "same-origin",
                                   headers: { "Accept": "application/json" } })
        .then(function (r) { return r.json().then(function (body) { return { ok: r.ok, body: body }; }); })
        .then(function (res) {
          if (!res.ok) throw new Error(res.body.error ? res.body.error.message : "提交失败");
          if (root.dataset.next) { window.location.href = root.dataset.next; return; }
          root.innerHTML = '<div class="alert alert-ok" id="pad-done">签名已保存，请回到电脑上继续操作。</div>';
        })
        .catch(function (err) {
          status.textContent = err.message || "提交失败，请重试";
          submit.disabled = false;
        });
    }, "image/png");
  });

  window.addEventListener("resize", resize);
  resize();
})();
