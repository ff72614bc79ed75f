// Onboarding poster: the print button (no inline scripts under the CSP).
(function () {
  "use strict";
  var button = document.getElementById("poster-print");
  if (button) {
    button.addEventListener("click", function () { window.print(); });
  }
})();
