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

  var live = document.getElementById("drops-live");
  var announce = ui.announcer(live);

  function stockText(drop) {
    if (drop.remaining <= 0) return FS.t("stock.none");
    return FS.t("stock.left", { remaining: ui.fmtNumber(drop.remaining), stock: ui.fmtNumber(drop.stock) });
  }

  /* The first cards are likely on screen at load: their pictures load at once, the rest lazily. */
  var EAGER_PICTURES = 2;
  var CARD_SIZES = "(min-width: 1100px) 340px, (min-width: 700px) 45vw, 92vw";

  function buildRow(drop, index) {
    var href = "/drops/" + FS.seg(drop.id);
    var titleId = "drop-title-" + String(drop.id).replace(/[^A-Za-z0-9_-]/g, "_");
    var row = {
      badge: el("span", { class: "badge" }),
      countdown: el("p", { class: "countdown", role: "timer", "aria-atomic": "true" }),
      meter: el("meter", { min: "0", max: String(Math.max(1, drop.stock)), "aria-label": FS.t("drop.units_left") }),
      remaining: el("span", { class: "stock-text" })
    };
    row.item = el("li", { class: "card drop-card", "aria-labelledby": titleId }, [
      row.media = el("a", { class: "media card-media", href: href, tabindex: "-1", "aria-hidden": "true" },
        ui.picture(drop, CARD_SIZES, index < EAGER_PICTURES)),
      row.badge,
      el("h2", { id: titleId }, el("a", { href: href, text: drop.name })),
      el("p", { class: "price" }, [ui.fmtMoney(drop.price_cents, drop.currency), " ",
        el("span", { class: "sku", text: FS.t("drop.sku", { sku: drop.sku }) })]),
      row.countdown,
      el("div", { class: "stock" }, [row.meter, row.remaining]),
      el("p", { class: "when", text: FS.t("drop.opens_at", { time: ui.fmtDateTime(ui.parseTime(drop.starts_at)) }) }),
      row.reminded = el("p", { class: "reminded" })
    ]);
    return row;
  }

  function updateRow(row, drop, now) {
    if (row.drop && row.drop.image_url !== drop.image_url) { /* a new picture was uploaded */
      ui.clear(row.media).appendChild(ui.picture(drop, CARD_SIZES, false));
    }
    row.drop = drop;
    var phase = ui.laterPhase(row.phase, ui.livePhase(drop, now));
    if (row.phase && row.phase !== phase) {
      poller.now(1500); /* a boundary passed: confirm with the server */
      announce(FS.t("store.phase_changed", { name: drop.name, phase: ui.PHASE_LABEL[phase] || phase }));
    }
    row.phase = phase;
    row.badge.textContent = ui.PHASE_LABEL[phase] || phase;
    row.badge.setAttribute("data-phase", phase);
    row.countdown.textContent = ui.countdownText(drop, phase, now);
    row.meter.value = Math.max(0, drop.remaining);
    row.remaining.textContent = stockText(drop);
    row.reminded.textContent = drop.reservations ? FS.t("remind.count", { count: ui.fmtNumber(drop.reservations) }) : "";
  }

  function render() {
    var now = FS.clock.now();
    var seen = {};
    drops.forEach(function (drop, index) {
      var key = String(drop.id);
      seen[key] = true;
      var row = rows[key] || (rows[key] = buildRow(drop, index));
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
