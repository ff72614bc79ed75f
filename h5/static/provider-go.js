// Hands the browser to the identity provider's page (another origin) by navigation, not
// by redirecting a form post: the pages' CSP form-action 'self' stops a form's redirect to
// another origin. The link stays for browsers without JavaScript.
(function () {
  var link = document.getElementById("provider-go");
  if (link && /^https?:$/.test(link.protocol)) {
    window.location.replace(link.href);
  }
})();
