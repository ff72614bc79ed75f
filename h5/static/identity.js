// Real-name form: show the bank card field only when bank-card 4-factor is chosen.
// Without JavaScript the field simply stays visible with its hint.
(function () {
  var form = document.getElementById("identity-form");
  var field = document.getElementById("bank-card-field");
  if (!form || !field) { return; }
  function update() {
    var chosen = form.querySelector("input[name=method]:checked");
    field.hidden = !(chosen && chosen.value === "bank4");
  }
  form.addEventListener("change", update);
  update();
})();
