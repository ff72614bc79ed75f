/* PC QR login: ask every few seconds whether the phone has confirmed; once it has,
   trade the code for a session (submits the exchange form). Without this file the
   "已在手机上确认？点此登录" button does the same by hand. */
(function () {
  "use strict";
  var box = document.getElementById("qr-login");
  var form = document.getElementById("qr-exchange");
  if (!box || !form) { return; }
  var token = box.getAttribute("data-token");
  var every = (parseInt(box.getAttribute("data-poll"), 10) || 2) * 1000;
  var status = document.getElementById("qr-status");
  var refresh = document.getElementById("qr-refresh");
  var done = false;

  function finish(message) {
    done = true;
    box.classList.add("qr-done");
    status.textContent = message;
    if (refresh) { refresh.hidden = false; }
    form.hidden = true;
  }

  function poll() {
    if (done) { return; }
    fetch("/login/qr/status?t=" + encodeURIComponent(token), {
      headers: { "Accept": "application/json" }, credentials: "same-origin", cache: "no-store"
    }).then(function (r) { return r.json(); }).then(function (s) {
      if (s.state === "confirmed") {
        done = true;
        status.textContent = s.message;
        form.submit();
        return;
      }
      if (s.state === "pending" || s.state === "scanned") {
        status.textContent = s.message;
        setTimeout(poll, every);
        return;
      }
      finish(s.message || "二维码已失效，请刷新");
    }).catch(function () {
      setTimeout(poll, every * 2);  // network hiccup: keep trying, a bit slower
    });
  }

  setTimeout(poll, every);
})();
