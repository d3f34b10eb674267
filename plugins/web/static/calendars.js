// The calendars page: confirm before deleting a calendar.
"use strict";
document.querySelectorAll("form.delete").forEach(function (form) {
  form.addEventListener("submit", function (event) {
    if (!window.confirm("Delete the calendar \u201c" + form.dataset.title + "\u201d and all its events?")) {
      event.preventDefault();
    }
  });
});
