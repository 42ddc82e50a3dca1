/* flashsale storefront: upcoming and live drops with countdowns on the server's clock. */
(function () {
  "use strict";
  var FS = window.FS, ui = FS.ui, el = ui.el;
  var list = document.getElementById("drop-list");
  var empty = document.getElementById("drops-empty");
  var msg = document.getElementById("drops-msg");
  var drops = [];
  var rows = {}; /* drop id -> {drop, phase, badge, countdown, remaining, meter, item} */
  var poller;

  function stockText(drop) {
    if (drop.remaining <= 0) return "None left";
    return drop.remaining + " of " + drop.stock + " left";
  }

  function buildRow(drop) {
    var href = "/drops/" + FS.seg(drop.id);
    var titleId = "drop-title-" + String(drop.id).replace(/[^A-Za-z0-9_-]/g, "_");
    var row = {
      badge: el("span", { class: "badge" }),
      countdown: el("p", { class: "countdown", role: "timer", "aria-atomic": "true" }),
      meter: el("meter", { min: "0", max: String(Math.max(1, drop.stock)), "aria-label": "Units left" }),
      remaining: el("span", { class: "stock-text" })
    };
    row.item = el("li", { class: "card drop-card", "aria-labelledby": titleId }, [
      row.badge,
      el("h2", { id: titleId }, el("a", { href: href, text: drop.name })),
      el("p", { class: "price" }, [ui.fmtMoney(drop.price_cents, drop.currency), " ",
        el("span", { class: "sku", text: "SKU " + drop.sku })]),
      row.countdown,
      el("div", { class: "stock" }, [row.meter, row.remaining]),
      el("p", { class: "when", text: "Opens " + ui.fmtDateTime(ui.parseTime(drop.starts_at)) })
    ]);
    return row;
  }

  function updateRow(row, drop, now) {
    row.drop = drop;
    var phase = ui.laterPhase(row.phase, ui.livePhase(drop, now));
    if (row.phase && row.phase !== phase) poller.now(1500); /* a boundary passed: confirm with the server */
    row.phase = phase;
    row.badge.textContent = ui.PHASE_LABEL[phase] || phase;
    row.badge.setAttribute("data-phase", phase);
    row.countdown.textContent = ui.countdownText(drop, phase, now);
    row.meter.value = Math.max(0, drop.remaining);
    row.remaining.textContent = stockText(drop);
  }

  function render() {
    var now = FS.clock.now();
    var seen = {};
    drops.forEach(function (drop, index) {
      var key = String(drop.id);
      seen[key] = true;
      var row = rows[key] || (rows[key] = buildRow(drop));
      updateRow(row, drop, now);
      if (list.children[index] !== row.item) list.insertBefore(row.item, list.children[index] || null);
    });
    Object.keys(rows).forEach(function (key) {
      if (!seen[key]) { list.removeChild(rows[key].item); delete rows[key]; }
    });
    empty.hidden = drops.length > 0;
    list.setAttribute("aria-busy", "false");
  }

  function load() {
    return FS.api.get("/api/drops").then(function (data) {
      drops = Array.isArray(data) ? data : (data && Array.isArray(data.items) ? data.items : []);
      ui.say(msg, "", "");
      render();
    }, function (err) {
      ui.say(msg, FS.messageFor(err), "error");
      list.setAttribute("aria-busy", "false");
    });
  }

  /* Poll faster when something is live (stock moves) than when everything is days away. */
  poller = ui.poll(load, function () {
    var live = Object.keys(rows).some(function (k) {
      var p = rows[k].phase;
      return p === "open" || p === "priority";
    });
    return live ? 3000 : 15000;
  });

  ui.onTick(function (now) {
    Object.keys(rows).forEach(function (key) { updateRow(rows[key], rows[key].drop, now); });
  });
})();
