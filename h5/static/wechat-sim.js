// The /dev/wechat simulator: posts actions to the server, which sends real signed XML
// to the /wechat webhook, and shows the replies (links clickable) and pushed messages.
(function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };
  var csrf = document.querySelector('meta[name="csrf-token"]').getAttribute("content");
  var chat = $("sim-chat");
  var seenPushes = {};
  var LINK = /<a href="([^"]+)">([^<]*)<\/a>/g;

  function openid() { return $("sim-openid").value.trim(); }

  function status(text) { $("sim-status").textContent = text || ""; }

  function bubble(role, text, url) {
    var li = document.createElement("li");
    li.className = "sim-msg sim-" + role;
    li.setAttribute("data-role", role);
    var last = 0, m;
    LINK.lastIndex = 0;
    while ((m = LINK.exec(text)) !== null) {
      li.appendChild(document.createTextNode(text.slice(last, m.index)));
      li.appendChild(anchor(m[1], m[2]));
      last = m.index + m[0].length;
    }
    li.appendChild(document.createTextNode(text.slice(last)));
    if (url) { li.appendChild(document.createTextNode("\n")); li.appendChild(anchor(url, "详情")); }
    chat.appendChild(li);
    chat.scrollTop = chat.scrollHeight;
    return li;
  }

  function anchor(href, label) {
    var a = document.createElement("a");
    if (/^(https?:\/\/|\/)/.test(href)) { a.href = href; }
    a.textContent = label;
    a.className = "sim-link";
    return a;
  }

  function post(url, body) {
    return fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(body)
    }).then(function (r) {
      return r.json().then(function (data) { if (!r.ok) { throw data.error || data; } return data; });
    });
  }

  function send(action, value, shown) {
    if (!openid()) { status("请先填写或新建一个 openid"); return; }
    if (shown) { bubble(action === "text" ? "user" : "note", shown); }
    status("发送中…");
    post("/dev/api/wechat/send", {
      openid: openid(), action: action, value: value || "", encrypted: $("sim-encrypted").checked
    }).then(function (data) {
      status("webhook " + data.status + (data.encrypted ? "（已加密）" : ""));
      if (data.reply) { bubble("bot", data.reply); }
      pollPushes();
    }).catch(function (err) { status("失败：" + (err.message || err.code || err)); });
  }

  function pollPushes() {
    if (!openid()) { return; }
    fetch("/dev/api/wechat/messages?openid=" + encodeURIComponent(openid()), { credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (data) {
        data.messages.forEach(function (m) {
          if (seenPushes[m.id]) { return; }
          seenPushes[m.id] = true;
          bubble("push", (m.kind === "template" ? "【模板消息】" : "") + m.text, m.url);
        });
      });
  }

  function loadScenes() {
    fetch("/dev/api/wechat/scenes", { credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (data) {
        var select = $("sim-scene");
        select.textContent = "";
        data.scenes.forEach(function (s) {
          var o = document.createElement("option");
          o.value = s.token;
          o.textContent = s.kind + " · " + s.token.slice(0, 8) + (s.used ? "（已扫）" : "");
          select.appendChild(o);
        });
      });
  }

  $("sim-new-openid").addEventListener("click", function () {
    var bytes = new Uint8Array(8);
    crypto.getRandomValues(bytes);
    $("sim-openid").value = "o_sim_" + Array.prototype.map.call(bytes, function (b) {
      return ("0" + b.toString(16)).slice(-2);
    }).join("");
    chat.textContent = "";
    seenPushes = {};
    status("新用户：" + openid());
  });
  $("sim-openid").addEventListener("change", function () { chat.textContent = ""; seenPushes = {}; pollPushes(); });
  $("sim-follow").addEventListener("click", function () { send("subscribe", "", "（关注公众号）"); });
  $("sim-unfollow").addEventListener("click", function () { send("unsubscribe", "", "（取消关注）"); });
  $("sim-form").addEventListener("submit", function (e) {
    e.preventDefault();
    var text = $("sim-text").value;
    if (!text.trim()) { return; }
    $("sim-text").value = "";
    send("text", text, text);
  });
  Array.prototype.forEach.call(document.querySelectorAll(".sim-menu-item"), function (b) {
    b.addEventListener("click", function () { send("click", b.getAttribute("data-key"), "（菜单：" + b.textContent + "）"); });
  });
  $("sim-scene-new").addEventListener("click", function () {
    post("/dev/api/wechat/scene", { kind: $("sim-scene-kind").value })
      .then(function (s) { status("已生成场景 " + s.kind); loadScenes(); })
      .catch(function (err) { status("失败：" + (err.message || err)); });
  });
  $("sim-scan").addEventListener("click", function () {
    var token = $("sim-scene").value;
    if (token) { send("scan", token, "（扫描二维码）"); }
  });
  loadScenes();
  pollPushes();
  setInterval(pollPushes, 3000);
})();
