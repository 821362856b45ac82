// Keeps every sync progress indicator on the page current, from the console's progress route
// (the same numbers as GET /v1/syncs/{id}), until the sync is done or cancelled.
(function () {
  "use strict";
  function update(el, s) {
    var bar = el.querySelector("progress.overall");
    bar.max = s.windows_total || 1;
    bar.value = s.windows_total ? s.windows_done : 1;
    bar.dataset.done = String(s.windows_done);
    bar.textContent = s.percent + "%";
    el.querySelector('[data-field="summary"]').textContent =
      s.windows_done + " of " + s.windows_total + " windows (" + s.percent + "%), " + s.state;
    (s.per_resource || []).forEach(function (r) {
      var rbar = el.querySelector('progress[data-resource="' + r.resource + '"]');
      var text = el.querySelector('[data-resource-summary="' + r.resource + '"]');
      if (rbar) { rbar.max = r.windows || 1; rbar.value = r.done; rbar.textContent = r.done + "/" + r.windows; }
      if (text) { text.textContent = r.done + " of " + r.windows; }
    });
    var eta = el.querySelector('[data-field="eta"]');
    eta.textContent = s.state === "running" && s.eta_s != null ? "about " + Math.ceil(s.eta_s) + " s left" : "";
    el.dataset.state = s.state;
  }
  document.querySelectorAll("[data-progress-url]").forEach(function (el) {
    var url = el.dataset.progressUrl;
    function poll() {
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (s) {
          if (s) { update(el, s); if (s.state !== "running") { return; } }
          setTimeout(poll, 300);
        })
        .catch(function () { setTimeout(poll, 2000); });
    }
    poll();
  });
})();
