// The calendar view: FullCalendar fed by the web app's JSON API, and the event dialog.
"use strict";
(function () {
  var data = JSON.parse(document.getElementById("view-data").textContent);
  var zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  var byId = {};
  data.calendars.forEach(function (c) { byId[c.id] = c; });
  var dialog = document.getElementById("event-dialog");
  var form = document.getElementById("event-form");
  var field = function (id) { return document.getElementById(id); };
  var editing = null; // {calendar, name, etag, rrule, recurrenceId} of the event in the dialog

  function shown() {
    return Array.prototype.map.call(document.querySelectorAll(".show-calendar:checked"), function (b) { return b.value; });
  }

  function api(method, path, body) {
    var options = { method: method, credentials: "same-origin", headers: { "Accept": "application/json", "X-CSRF-Token": data.csrf } };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    return fetch(data.api + path, options).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (json) {
        if (!response.ok) { throw new Error(json.error || "The server answered " + response.status + "."); }
        return json;
      });
    });
  }

  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function day(d) { return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()); }
  function wall(d) { return day(d) + "T" + pad(d.getHours()) + ":" + pad(d.getMinutes()); }
  function plusDays(text, n) {
    var d = new Date(text + "T12:00:00"); d.setDate(d.getDate() + n); return day(d);
  }

  function showError(where, message) {
    var el = field(where);
    el.textContent = message || "";
    el.hidden = !message;
  }

  var calendar = new FullCalendar.Calendar(field("calendar"), {
    initialView: window.innerWidth < 640 ? "listWeek" : "dayGridMonth",
    timeZone: "local",
    headerToolbar: { left: "prev,next today", center: "title", right: "dayGridMonth,timeGridWeek,timeGridDay,listWeek" },
    buttonText: { today: "Today", month: "Month", week: "Week", day: "Day", list: "List" },
    nowIndicator: true,
    selectable: true,
    editable: true,
    events: function (info, ok, fail) {
      var ids = shown();
      if (!ids.length) { ok([]); return; }
      var query = new URLSearchParams({ start: info.startStr, end: info.endStr, tz: zone, calendars: ids.join(",") });
      api("GET", "/events?" + query.toString()).then(function (json) {
        showError("view-error", "");
        ok(json.events.map(function (e) {
          var colour = (byId[e.calendar] || {}).color;
          return {
            id: e.id, title: e.title, start: e.start, end: e.end, allDay: e.allDay, editable: e.editable,
            backgroundColor: colour, borderColor: colour,
            extendedProps: { calendar: e.calendar, name: e.name, recurrenceId: e.recurrenceId, recurring: e.recurring }
          };
        }));
      }, function (error) { showError("view-error", error.message); fail(error); });
    },
    select: function (info) {
      var end = info.allDay ? plusDays(day(info.end), -1) : wall(info.end);
      openNew(info.allDay ? day(info.start) : wall(info.start), end, info.allDay);
      calendar.unselect();
    },
    eventClick: function (info) { openExisting(info.event); },
    eventDrop: moved,
    eventResize: moved
  });
  calendar.render();

  function moved(info) {
    var ev = info.event, p = ev.extendedProps;
    var body = {
      start: ev.allDay ? day(ev.start) : wall(ev.start), allDay: ev.allDay, timeZone: zone, recurrenceId: p.recurrenceId,
      end: ev.end ? (ev.allDay ? day(ev.end) : wall(ev.end)) : null
    };
    api("POST", "/calendars/" + p.calendar + "/events/" + encodeURIComponent(p.name) + "/move", body)
      .then(function () { calendar.refetchEvents(); }, function (error) { info.revert(); showError("view-error", error.message); });
  }

  function setAllDay(allDay) {
    ["ev-start", "ev-end"].forEach(function (id) {
      var input = field(id), value = input.value;
      input.type = allDay ? "date" : "datetime-local";
      if (value) { input.value = allDay ? value.slice(0, 10) : (value.length === 10 ? value + "T09:00" : value); }
    });
  }
  field("ev-allday").addEventListener("change", function () { setAllDay(field("ev-allday").checked); });

  function fillCalendars(selected, locked) {
    var select = field("ev-calendar");
    select.textContent = "";
    data.calendars.forEach(function (c) {
      if (!c.writable && c.id !== selected) { return; }
      var option = document.createElement("option");
      option.value = c.id; option.textContent = c.title;
      if (c.id === selected) { option.selected = true; }
      select.appendChild(option);
    });
    select.disabled = locked;
  }

  function open(title, allDay, start, end) {
    showError("event-error", "");
    field("event-dialog-title").textContent = title;
    field("ev-allday").checked = allDay;
    field("ev-start").type = field("ev-end").type = allDay ? "date" : "datetime-local";
    field("ev-start").value = start;
    field("ev-end").value = end;
    dialog.showModal();
    field("ev-title").focus();
  }

  function openNew(start, end, allDay) {
    var writable = data.calendars.filter(function (c) { return c.writable; });
    if (!writable.length) { showError("view-error", "You may not add events to any calendar: create one first."); return; }
    editing = null;
    var shownIds = shown().map(Number);
    var first = writable.filter(function (c) { return shownIds.indexOf(c.id) >= 0; })[0] || writable[0];
    fillCalendars(first.id, false);
    ["ev-title", "ev-location", "ev-description"].forEach(function (id) { field(id).value = ""; });
    field("ev-repeat").value = "";
    field("ev-series-note").hidden = field("ev-delete").hidden = field("ev-delete-one").hidden = true;
    field("ev-save").hidden = false;
    open("New event", allDay, start, end);
  }

  function openExisting(ev) {
    var p = ev.extendedProps;
    api("GET", "/calendars/" + p.calendar + "/events/" + encodeURIComponent(p.name)).then(function (json) {
      var writable = Boolean((byId[p.calendar] || {}).writable);
      editing = { calendar: p.calendar, name: p.name, etag: json.etag, rrule: json.rrule, recurrenceId: p.recurrenceId };
      fillCalendars(p.calendar, true);
      field("ev-title").value = json.title;
      field("ev-location").value = json.location;
      field("ev-description").value = json.description;
      field("ev-repeat").value = json.repeat;
      field("ev-series-note").hidden = !json.rrule;
      field("ev-save").hidden = field("ev-delete").hidden = !writable;
      field("ev-delete").textContent = json.rrule ? "Delete all occurrences" : "Delete";
      field("ev-delete-one").hidden = !writable || !p.recurrenceId;
      var start = json.allDay ? json.start : wall(new Date(json.start));
      var end = json.allDay ? plusDays(json.end, -1) : wall(new Date(json.end));
      open(writable ? "Edit event" : "Event", json.allDay, start, end);
    }, function (error) { showError("view-error", error.message); });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var allDay = field("ev-allday").checked;
    var repeat = field("ev-repeat").value;
    var body = {
      title: field("ev-title").value, allDay: allDay, timeZone: zone,
      start: field("ev-start").value,
      end: allDay ? plusDays(field("ev-end").value || field("ev-start").value, 1) : field("ev-end").value,
      rrule: repeat === "custom" && editing ? editing.rrule : repeat,
      location: field("ev-location").value, description: field("ev-description").value
    };
    var request = editing
      ? api("PUT", "/calendars/" + editing.calendar + "/events/" + encodeURIComponent(editing.name), Object.assign(body, { etag: editing.etag }))
      : api("POST", "/calendars/" + field("ev-calendar").value + "/events", body);
    request.then(function () { dialog.close(); calendar.refetchEvents(); },
                 function (error) { showError("event-error", error.message); });
  });

  function remove(body) {
    api("DELETE", "/calendars/" + editing.calendar + "/events/" + encodeURIComponent(editing.name), body)
      .then(function () { dialog.close(); calendar.refetchEvents(); },
            function (error) { showError("event-error", error.message); });
  }
  field("ev-delete").addEventListener("click", function () {
    if (window.confirm("Delete this event" + (editing.rrule ? " and all its occurrences" : "") + "?")) { remove({}); }
  });
  field("ev-delete-one").addEventListener("click", function () { remove({ recurrenceId: editing.recurrenceId }); });
  field("ev-cancel").addEventListener("click", function () { dialog.close(); });
  field("new-event").addEventListener("click", function () {
    var start = new Date(); start.setMinutes(0, 0, 0); start.setHours(start.getHours() + 1);
    var end = new Date(start.getTime() + 3600 * 1000);
    openNew(wall(start), wall(end), false);
  });
  document.querySelectorAll(".show-calendar").forEach(function (box) {
    box.addEventListener("change", function () {
      var url = new URL(window.location.href);
      url.searchParams.set("calendars", shown().join(","));
      window.history.replaceState(null, "", url.toString());
      calendar.refetchEvents();
    });
  });
}());
