// The calendars page: confirm before deleting a calendar; the Subscribe dialog.
"use strict";
(function () {
  document.querySelectorAll("form.delete").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm("Delete the calendar \u201c" + form.dataset.title + "\u201d and all its events?")) {
        event.preventDefault();
      }
    });
  });

  var dialog = document.getElementById("subscribe-dialog");
  if (!dialog) { return; }
  var data = JSON.parse(document.getElementById("subscribe-data").textContent);
  var api = data.api;
  var field = function (id) { return document.getElementById(id); };

  function show(error) {
    field("sub-error").textContent = error || "";
    field("sub-error").hidden = !error;
  }

  function call(method, url) {
    var headers = { "Accept": "application/json" };
    if (method !== "GET") { headers["X-CSRF-Token"] = data.csrf; }
    return fetch(url, { method: method, credentials: "same-origin", headers: headers }).then(function (response) {
      return response.json().then(function (json) {
        if (!response.ok) { throw new Error(json.error || "The server answered " + response.status + "."); }
        return json;
      });
    });
  }

  function feedsUrl() { return api + "/calendars/" + field("sub-calendar").value + "/feeds"; }

  function showFeeds(feeds) {
    var list = field("sub-feed-list");
    list.textContent = "";
    if (!feeds.length) {
      var none = document.createElement("li");
      none.className = "muted";
      none.textContent = "You have no feed URL of this calendar.";
      list.appendChild(none);
    }
    feeds.forEach(function (feed) {
      var item = document.createElement("li");
      item.textContent = "Feed URL made " + feed.created + " ";
      var button = document.createElement("button");
      button.type = "button";
      button.className = "danger revoke-feed";
      button.textContent = "Revoke";
      button.setAttribute("aria-label", "Revoke the feed URL made " + feed.created);
      button.addEventListener("click", function () {
        call("DELETE", feedsUrl() + "/" + feed.id).then(loadFeeds, function (error) { show(error.message); });
      });
      item.appendChild(button);
      list.appendChild(item);
    });
  }

  function loadFeeds() {
    return call("GET", feedsUrl()).then(function (json) { showFeeds(json.feeds); }, function (error) { show(error.message); });
  }

  function update() {
    var app = field("sub-app").value;
    field("sub-result").hidden = true;
    field("sub-copied").textContent = "";
    show("");
    if (!app) { return; }
    var url = api + "/calendars/" + field("sub-calendar").value + "/subscribe?app=" + encodeURIComponent(app);
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } }).then(function (response) {
      return response.json().then(function (json) {
        if (!response.ok) { throw new Error(json.error || "The server answered " + response.status + "."); }
        return json;
      });
    }).then(function (json) {
      field("sub-url-row").hidden = !json.url;
      field("sub-feeds").hidden = !json.selfService;
      if (json.selfService) { loadFeeds(); }
      field("sub-url").value = json.url || "";
      field("sub-user").textContent = json.user;
      field("sub-readonly").hidden = !json.readOnly;
      var steps = field("sub-steps");
      steps.textContent = "";
      json.steps.forEach(function (text) {
        var item = document.createElement("li");
        item.textContent = text;
        steps.appendChild(item);
      });
      field("sub-result").hidden = false;
    }, function (error) { show(error.message); });
  }

  field("sub-feed-new").addEventListener("click", function () {
    call("POST", feedsUrl()).then(function (json) {
      field("sub-url").value = json.url;
      field("sub-url-row").hidden = false;
      field("sub-copied").textContent = "Your new feed URL: copy it now, it is shown only once.";
      showFeeds(json.feeds);
    }, function (error) { show(error.message); });
  });
  field("sub-calendar").addEventListener("change", update);
  field("sub-app").addEventListener("change", update);
  field("sub-close").addEventListener("click", function () { dialog.close(); });
  field("sub-copy").addEventListener("click", function () {
    var input = field("sub-url");
    var done = function () { field("sub-copied").textContent = "Copied."; };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(input.value).then(done, function () { input.select(); });
    } else {
      input.select();
      if (document.execCommand("copy")) { done(); }
    }
  });
  document.querySelectorAll("button.subscribe").forEach(function (button) {
    button.addEventListener("click", function () {
      field("sub-calendar").value = button.dataset.calendar;
      dialog.showModal();
      update();
      field("sub-app").focus();
    });
  });
}());
