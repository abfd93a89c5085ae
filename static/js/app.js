// Hourglass dashboard helpers. The server renders times in UTC inside <time datetime="…">;
// this rewrites them in the viewer's chosen time zone (the browser's unless they picked one),
// keeping UTC in the tooltip. Runs again on every fragment htmx swaps in.
(function () {
  "use strict";
  var STORAGE_KEY = "hourglass.timezone";

  function chosenZone() {
    try {
      return localStorage.getItem(STORAGE_KEY) || undefined;
    } catch (e) {
      return undefined;
    }
  }

  function formatter(style, zone) {
    var options = { timeZone: zone, hour12: false };
    if (style === "time") {
      options.hour = "2-digit"; options.minute = "2-digit"; options.second = "2-digit";
    } else if (style === "date") {
      options.year = "numeric"; options.month = "short"; options.day = "numeric";
    } else {
      options.year = "numeric"; options.month = "short"; options.day = "numeric";
      options.hour = "2-digit"; options.minute = "2-digit"; options.second = "2-digit";
    }
    try {
      return new Intl.DateTimeFormat(undefined, options);
    } catch (e) {
      delete options.timeZone; // an unknown stored zone: fall back to the browser's
      return new Intl.DateTimeFormat(undefined, options);
    }
  }

  function localizeTimes(root) {
    var zone = chosenZone();
    var shownZone = zone || Intl.DateTimeFormat().resolvedOptions().timeZone;
    var cache = {};
    var times = Array.prototype.slice.call(root.querySelectorAll("time[datetime]"));
    // htmx hands each swapped-in element to onLoad: a <time> may itself be the root.
    if (root.matches && root.matches("time[datetime]")) times.unshift(root);
    times.forEach(function (el) {
      var when = new Date(el.getAttribute("datetime"));
      if (isNaN(when.getTime())) return;
      var style = el.dataset.format || "datetime";
      cache[style] = cache[style] || formatter(style, zone);
      el.textContent = cache[style].format(when);
      el.title = when.toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC") + " · shown in " + shownZone;
    });
  }

  function setupZonePicker() {
    var select = document.querySelector("[data-tz-select]");
    if (!select || !window.Intl || !Intl.supportedValuesOf) return;
    var current = chosenZone() || "";
    Intl.supportedValuesOf("timeZone").forEach(function (name) {
      if (name === "UTC") return;
      var option = document.createElement("option");
      option.value = name; option.textContent = name;
      select.appendChild(option);
    });
    select.value = current;
    select.options[0].textContent = "your browser's time zone (" + Intl.DateTimeFormat().resolvedOptions().timeZone + ")";
    select.addEventListener("change", function () {
      try {
        if (select.value) localStorage.setItem(STORAGE_KEY, select.value);
        else localStorage.removeItem(STORAGE_KEY);
      } catch (e) { /* private mode: the choice lasts for this page only */ }
      localizeTimes(document);
    });
  }

  function setupSelectAll(root) {
    root.querySelectorAll("[data-select-all]").forEach(function (box) {
      box.addEventListener("change", function () {
        var form = document.getElementById(box.dataset.selectAll);
        if (!form) return;
        document.querySelectorAll('input[type="checkbox"][name="run"][form="' + form.id + '"]').forEach(function (item) {
          item.checked = box.checked;
        });
      });
    });
  }

  // Django's formset pattern: clone the empty form, number it, and bump TOTAL_FORMS.
  function setupAddStep() {
    var button = document.querySelector("[data-add-step]");
    var template = document.getElementById("step-template");
    var steps = document.getElementById("steps");
    var total = document.getElementById("id_steps-TOTAL_FORMS");
    if (!button || !template || !steps || !total) return;
    button.addEventListener("click", function () {
      var index = parseInt(total.value, 10);
      var html = template.innerHTML.replace(/__prefix__/g, String(index)).replace(/__number__/g, String(index + 1));
      steps.insertAdjacentHTML("beforeend", html);
      total.value = String(index + 1);
      steps.classList.add("multi");
      var added = steps.querySelectorAll("[data-step]");
      var name = added[added.length - 1].querySelector('input[name$="-name"]');
      if (name) { name.value = "step-" + (index + 1); name.focus(); name.select(); }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    setupAddStep();
    setupZonePicker();
    setupSelectAll(document);
    localizeTimes(document);
    // htmx may have fired its first load event already; this catches every later swap.
    if (window.htmx) htmx.onLoad(localizeTimes);
  });
})();
