// Live job progress: each [data-job-progress] box polls its progress.json every second until the
// job ends, then the page reloads (the request or job it shows has moved on). A job page appends
// every event to its table; a compact box (a request's page) shows only the current step.
// Built with textContent only (never innerHTML), so step names and output cannot inject markup.
(function () {
  function follow(box) {
    if (box.dataset.finished === "true") { return; }
    var compact = box.dataset.compact === "true";
    var tbody = compact ? null : document.getElementById("job-events");
    var staff = tbody && tbody.dataset.staff === "true";
    var after = parseInt(box.dataset.after || "0", 10);
    var explanationClass = "";
    var leaving = false;
    // Status words in the page's language (the JSON carries raw values such as "running").
    var labels = JSON.parse(box.dataset.statusLabels || "{}");
    function label(value) { return labels[value] || value || ""; }

    function cell(row, text, cls, title) {
      var td = document.createElement("td");
      if (cls) {
        var span = document.createElement(cls === "pre" ? "pre" : "span");
        if (cls !== "pre") { span.className = "badge " + cls; } else { span.translate = false; }  // the host's words
        span.textContent = text || "";
        td.appendChild(span);
      } else {
        td.textContent = text || "";
      }
      if (title) { td.title = title; }
      row.appendChild(td);
    }

    function shown(e) { return e.status || e.event === "playbook_on_task_start" || (staff && e.stdout); }

    function addEvent(e) {
      if (!shown(e)) { return; }
      if (compact) { setField("step", e.step); return; }
      var row = document.createElement("tr");
      cell(row, String(e.counter));
      cell(row, e.host);
      cell(row, e.step, null, staff ? e.task : null);
      if (e.status) { cell(row, label(e.status), e.status); } else { cell(row, ""); }
      if (staff) { cell(row, e.stdout, "pre"); }
      tbody.appendChild(row);
    }

    function setField(name, value) {
      var el = box.querySelector('[data-field="' + name + '"]');
      if (!el) { return; }
      el.textContent = name === "status" ? label(value) : (value || "");
      if (name === "status") { el.className = "badge " + value; }
      if (name === "explanation") { el.className = value ? (explanationClass || "flash error") : ""; }
    }

    function poll() {
      if (leaving) { return; }
      fetch(box.dataset.jobProgress + "?after=" + after, {credentials: "same-origin", headers: {"Accept": "application/json"}})
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (data) {
          if (!data) { return setTimeout(poll, 3000); }
          data.events.forEach(addEvent);
          after = data.last_counter;
          setField("status", data.job.status);
          setField("started_at", data.job.started_at_text);
          setField("finished_at", data.job.finished_at_text);
          explanationClass = data.job.explanation_class;
          setField("explanation", data.job.explanation);
          if (leaving) { return; }
          if (data.job.finished) { window.location.reload(); } else { setTimeout(poll, 1000); }
        })
        .catch(function () { setTimeout(poll, 3000); });
    }
    // A user who leaves the page (a link, a form) is not pulled back by the reload at the job's end.
    // Still here 5 s later (the link was a download, or back from the browser's cache): follow again.
    window.addEventListener("beforeunload", function () {
      if (leaving) { return; }
      leaving = true;
      setTimeout(function () { leaving = false; poll(); }, 5000);
    });
    setTimeout(poll, 1000);
  }
  Array.prototype.forEach.call(document.querySelectorAll("[data-job-progress]"), follow);
})();
