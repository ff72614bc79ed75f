// Real-name form: show the bank card field only when bank-card 4-factor is chosen, and
// offer only the methods the chosen document type supports (the server checks again).
// Without JavaScript the field simply stays visible with its hint.
(function () {
  var form = document.getElementById("identity-form");
  var field = document.getElementById("bank-card-field");
  var idType = document.getElementById("f-id-type");
  if (!form || !field) { return; }
  function update() {
    var option = idType && idType.options[idType.selectedIndex];
    var allowed = option ? (option.getAttribute("data-methods") || "").split(" ") : null;
    form.querySelectorAll(".method-option").forEach(function (label) {
      var ok = !allowed || allowed.indexOf(label.getAttribute("data-method")) >= 0;
      var radio = label.querySelector("input");
      radio.disabled = !ok;
      if (!ok && radio.checked) { radio.checked = false; }
      label.classList.toggle("is-unavailable", !ok);
      label.querySelector(".method-unavailable").hidden = ok;
    });
    if (!form.querySelector("input[name=method]:checked")) {
      var first = form.querySelector("input[name=method]:not(:disabled)");
      if (first) { first.checked = true; }
    }
    var chosen = form.querySelector("input[name=method]:checked");
    field.hidden = !(chosen && chosen.value === "bank4");
  }
  form.addEventListener("change", update);
  update();
})();
