/* Account forms: send SMS codes without leaving the page (with a countdown) and refresh
   the captcha image. Everything works without this file through plain form posts. */
(function () {
  "use strict";

  function csrfOf(form) {
    var input = form.querySelector("input[name=_csrf]");
    return input ? input.value : "";
  }

  // One status message per page: the newest replaces whatever the server rendered
  // (base.html marks its messages data-flash) or an earlier reply of this script.
  function showMessage(form, text, ok) {
    var old = document.querySelectorAll("[data-flash]");
    var box = document.createElement("div");
    box.setAttribute("data-flash", "");
    box.setAttribute("role", ok ? "status" : "alert");
    box.className = "alert " + (ok ? "alert-ok" : "alert-error");
    box.textContent = text;
    if (old.length) {
      old[0].parentNode.insertBefore(box, old[0]);
    } else {
      var page = form.closest("main") || form.parentNode;
      page.insertBefore(box, page.firstChild);
    }
    old.forEach(function (el) { el.parentNode.removeChild(el); });
  }

  function countdown(button, seconds) {
    var label = "获取验证码";
    button.disabled = true;
    var left = seconds;
    function tick() {
      if (left <= 0) {
        button.disabled = false;
        button.textContent = label;
        return;
      }
      button.textContent = left + " 秒后重发";
      left -= 1;
      window.setTimeout(tick, 1000);
    }
    tick();
  }

  function sendCode(event) {
    var button = event.currentTarget;
    var form = button.form;
    if (!window.fetch || !form) { return; }  // plain form post
    event.preventDefault();
    var body = { purpose: button.getAttribute("data-purpose") };
    var field = button.getAttribute("data-phone-field");
    if (field) {
      var input = form.querySelector("[name=" + field + "]");
      body.phone = input ? input.value.trim() : "";
    }
    button.disabled = true;
    fetch("/api/v1/auth/sms-codes", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrfOf(form) },
      body: JSON.stringify(body)
    }).then(function (resp) {
      return resp.json().then(function (data) { return { ok: resp.ok, data: data }; });
    }).then(function (result) {
      if (result.ok) {
        showMessage(form, "验证码已发送至 " + result.data.phone_masked, true);
        countdown(button, result.data.resend_after || 60);
      } else {
        var err = result.data.error || {};
        showMessage(form, err.message || "发送失败，请稍后重试", false);
        if (err.retry_after) { countdown(button, err.retry_after); } else { button.disabled = false; }
      }
    }).catch(function () {
      showMessage(form, "网络异常，请稍后重试", false);
      button.disabled = false;
    });
  }

  function refreshCaptcha(event) {
    if (!window.fetch) { return; }
    event.preventDefault();
    var box = event.currentTarget.closest(".captcha");
    fetch("/api/v1/auth/captcha", { credentials: "same-origin" })
      .then(function (resp) { return resp.ok ? resp.json() : Promise.reject(resp); })
      .then(function (data) {
        var img = box.querySelector("[data-captcha-refresh]");
        var id = box.querySelector("[data-captcha-id]");
        if (img) { img.src = data.image; }
        if (id) { id.value = data.id; }
        var answer = box.querySelector("input[name=captcha_answer]");
        if (answer) { answer.value = ""; answer.focus(); }
      })
      .catch(function () { window.location.reload(); });
  }

  document.querySelectorAll("[data-send-code]").forEach(function (button) {
    button.addEventListener("click", sendCode);
    var wait = parseInt(button.getAttribute("data-wait") || "0", 10);
    if (wait > 0) { countdown(button, wait); }
  });
  document.querySelectorAll("[data-captcha-refresh], [data-captcha-link]").forEach(function (el) {
    el.addEventListener("click", refreshCaptcha);
  });
})();
