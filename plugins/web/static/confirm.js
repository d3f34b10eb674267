// Every page: a form with data-confirm="question" asks before it is sent (plugins' pages use it too).
"use strict";
document.addEventListener("submit", function (event) {
  var form = event.target;
  if (form instanceof HTMLFormElement && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
    event.preventDefault();
  }
});
