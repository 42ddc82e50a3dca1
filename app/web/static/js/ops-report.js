/* flashsale drop report: totals, units over time (per second in the rush, per minute after), refusals by
   reason, payments by provider and outcome. Everything is rendered as text; the CSV is fetched with the
   operator's token and saved as a file. */
(function () {
  "use strict";
  var FS = window.FS, ui = FS.ui, el = ui.el;
  function $(id) { return document.getElementById(id); }
  var root = $("report"), dropId = root.getAttribute("data-drop-id"), out = $("report-msg");
  var path = "/api/admin/drops/" + FS.seg(dropId) + "/report";

  function term(label, value) { return [el("dt", { text: label }), el("dd", { text: value })]; }

  function summary(r) {
    var dl = $("report-summary"), money = function (c) { return ui.fmtMoney(c, r.currency); };
    ui.clear(dl);
    var parts = [
      term(FS.t("report.stock"), ui.fmtNumber(r.stock)),
      term(FS.t("report.paid"), ui.fmtNumber(r.units.paid || 0)),
      term(FS.t("report.revenue"), money(r.revenue_cents)),
      term(FS.t("report.refunded"), ui.fmtNumber(r.refunded_orders) + " · " + money(r.refunded_cents)),
      term(FS.t("report.sell_out"), r.seconds_to_sell_out == null ? FS.t("report.not_sold_out")
        : ui.fmtDuration(r.seconds_to_sell_out * 1000)),
      term(FS.t("report.attempts"), ui.fmtNumber(r.attempts)),
      term(FS.t("report.referred"), ui.fmtNumber(r.referred_orders))
    ];
    if (r.queue) {
      parts.push(term(FS.t("report.queue"), FS.t("report.queue_counts", { admitted: r.queue.admitted,
        done: r.queue.done, expired: r.queue.expired, waiting: r.queue.waiting })));
    }
    parts.forEach(function (pair) { pair.forEach(function (node) { dl.appendChild(node); }); });
  }

  function draw(canvas, series) {
    var dpr = window.devicePixelRatio || 1, w = canvas.clientWidth || 600, h = canvas.clientHeight || 240;
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(h * dpr);
    var ctx = canvas.getContext("2d");
    ctx.scale(dpr, dpr);
    ctx.clearRect(0, 0, w, h);
    if (!series.length) return;
    var top = 1;
    series.forEach(function (b) { top = Math.max(top, b.units_reserved / b.seconds); });
    var style = getComputedStyle(canvas);
    var reserved = style.getPropertyValue("--chart-bar").trim() || "#3b82f6";
    var paid = style.getPropertyValue("--chart-line").trim() || "#ff6700";
    var step = w / series.length;
    series.forEach(function (b, i) {
      var rh = (b.units_reserved / b.seconds) / top * (h - 20), ph = (b.units_paid / b.seconds) / top * (h - 20);
      ctx.fillStyle = reserved;
      ctx.fillRect(i * step, h - rh, Math.max(1, step * 0.45), rh);
      ctx.fillStyle = paid;
      ctx.fillRect(i * step + step * 0.5, h - ph, Math.max(1, step * 0.45), ph);
    });
    ctx.fillStyle = style.getPropertyValue("--chart-text").trim() || "#555";
    ctx.fillText(FS.t("report.axis_units", { count: Math.round(top) }), 4, 12);
  }

  function rows(body, lines) {
    ui.clear(body);
    if (!lines.length) body.appendChild(el("tr", {}, el("td", { colspan: "4", text: "–" })));
    lines.forEach(function (cells) { body.appendChild(el("tr", {}, cells.map(function (c) { return el("td", { text: c }); }))); });
  }

  function render(r) {
    $("report-name").textContent = r.name + " · " + r.sku;
    summary(r);
    draw($("report-chart"), r.series);
    rows($("report-refusals"), Object.keys(r.refusals).sort().map(function (code) {
      var reason = "error." + code; /* the contract codes each have a message */
      return [FS.t(reason), ui.fmtNumber(r.refusals[code])];
    }));
    rows($("report-payments"), r.payments.map(function (p) {
      return [p.provider, p.status, ui.fmtNumber(p.orders), ui.fmtMoney(p.amount_cents, r.currency)];
    }));
    root.setAttribute("aria-busy", "false");
  }

  $("report-csv").addEventListener("click", function (ev) {
    ev.preventDefault();
    FS.api.raw("GET", path + ".csv", { headers: { Accept: "text/csv" } }).then(function (res) {
      if (!res.ok) return FS.api.errorFrom(res).then(function (err) { throw err; });
      return res.blob();
    }).then(function (blob) {
      var url = URL.createObjectURL(blob);
      var link = el("a", { href: url, download: "drop-" + dropId + "-report.csv", hidden: true });
      document.body.appendChild(link);
      link.click();
      link.remove();
      window.setTimeout(function () { URL.revokeObjectURL(url); }, 30000);
    }, function (err) { ui.say(out, FS.messageFor(err), "error"); });
  });

  FS.api.get(path).then(render, function (err) {
    ui.say(out, FS.messageFor(err), "error");
    root.setAttribute("aria-busy", "false");
  });
})();
