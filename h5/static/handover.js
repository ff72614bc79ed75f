// PC side of the QR hand-over: wait for the phone, then show the new signature.
(function () {
  "use strict";
  var root = document.getElementById("handover");
  if (!root) return;
  var label = document.getElementById("handover-status");
  var timer = setInterval(check, 1500);

  function check() {
    fetch(root.dataset.statusUrl, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.json(); })
      .then(function (body) {
        if (body.status === "done") {
          clearInterval(timer);
          label.textContent = "手机已提交签名";
          window.location.href = root.dataset.doneUrl;
        } else if (body.status === "expired") {
          clearInterval(timer);
          label.textContent = "二维码已过期";
          document.getElementById("qr").style.opacity = "0.2";
          document.getElementById("regenerate").hidden = false;
        }
      })
      .catch(function () { /* transient network error: try again on the next tick */ });
  }
})();
