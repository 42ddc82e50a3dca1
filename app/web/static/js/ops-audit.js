/* flashsale audit log: every operator action, newest first, a page at a time (read only). */
(function () {
  "use strict";
  var FS = window.FS, ui = FS.ui, el = ui.el;
  function $(id) { return document.getElementById(id); }

  var rows = $("audit-rows"), more = $("audit-more"), out = $("audit-msg");
  var next = null, first = true;

  /* Before and after as short JSON text (never HTML): only the values the action changed are kept. */
  function change(entry) {
    var parts = [];
    if (entry.before) parts.push(JSON.stringify(entry.before));
    if (entry.after) parts.push(JSON.stringify(entry.after));
    return el("code", { class: "audit-change", text: parts.join(" → ") || "–" });
  }

  function row(e) {
    return el("tr", {}, [
      el("td", { text: ui.fmtDateTime(ui.parseTime(e.at)) }),
      el("td", { class: "any" }, [e.actor_email + (e.actor_id ? " (#" + e.actor_id + ")" : ""),
        el("span", { class: "meta", text: e.client })]),
      el("td", {}, [el("code", { class: "audit-action", text: e.action }), el("span", { class: "meta", text: e.target_type + " " + e.target_id })]),
      el("td", {}, change(e))
    ]);
  }

  function load() {
    more.disabled = true;
    var path = "/api/admin/audit" + (next ? "?cursor=" + encodeURIComponent(next) : "");
    FS.api.get(path).then(function (page) {
      if (first) ui.clear(rows);
      var items = page.items || [];
      if (first && !items.length) rows.appendChild(el("tr", {}, el("td", { colspan: "4", text: FS.t("audit.empty") })));
      first = false;
      items.forEach(function (e) { rows.appendChild(row(e)); });
      next = page.next_cursor || null;
      more.hidden = !next;
      more.disabled = false;
    }, function (err) {
      more.disabled = false;
      if (err instanceof FS.ApiError && err.code === "unauthorized") ui.say(out, ui.signInPrompt("signin.operator"), "info");
      else ui.say(out, FS.messageFor(err), "error");
    });
  }

  more.addEventListener("click", load);
  load();
})();
