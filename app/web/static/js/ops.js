/* flashsale operator dashboard: create drops, watch one live, issue F-codes. */
(function () {
  "use strict";
  var FS = window.FS, ui = FS.ui, el = ui.el;
  function $(id) { return document.getElementById(id); }

  var pick = $("pick"), pickId = $("pick-id"), conn = $("live-conn"), canvas = $("chart");
  var k = {
    rate: $("k-rate"), peak: $("k-peak"), remaining: $("k-remaining"), reserved: $("k-reserved"),
    paid: $("k-paid"), expired: $("k-expired"), cancelled: $("k-cancelled"), attempts: $("k-attempts"),
    phase: $("k-phase"), soldout: $("k-soldout")
  };
  var live = { feed: null, id: null, drop: null, series: null, stats: null };

  /* ---------- live view ---------- */
  function num(v) { return ui.fmtNumber(v); }

  function renderStats() {
    var s = live.stats, series = live.series;
    if (!s) return;
    k.rate.textContent = series.rate(5000).toFixed(1);
    k.peak.textContent = series.peak.toFixed(1);
    k.remaining.textContent = num(s.remaining) + (typeof s.stock === "number" ? " / " + num(s.stock) : "");
    k.reserved.textContent = num(s.reserved);
    k.paid.textContent = num(s.paid);
    k.expired.textContent = num(s.expired);
    k.cancelled.textContent = num(s.cancelled);
    k.attempts.textContent = num(s.attempts);
    k.phase.textContent = s.phase ? (ui.PHASE_LABEL[s.phase] || s.phase) : "–";
    var soldAt = ui.parseTime(s.sold_out_at);
    var soldText = FS.t("ops.not_yet");
    if (!isNaN(soldAt)) {
      soldText = ui.fmtTime(soldAt);
      var starts = live.drop ? ui.parseTime(live.drop.starts_at) : NaN;
      var prio = live.drop ? ui.parseTime(live.drop.priority_starts_at) : NaN;
      if (!isNaN(starts)) {
        var from = soldAt >= starts ? starts : prio;
        var seconds = ((soldAt - from) / 1000).toFixed(1);
        var label = soldAt >= starts ? "ops.after_opening" : "ops.after_priority";
        if (!isNaN(from)) soldText += " (" + FS.t(label, { seconds: seconds }) + ")";
      }
    }
    k.soldout.textContent = soldText;
    renderQueue(s.queue);
    renderWaitlist(s.waitlist);

    var body = $("rejections");
    var REJECT_LABEL = {
    not_open: FS.t("reject.not_open"),
    sold_out: FS.t("reject.sold_out"),
    limit_reached: FS.t("reject.limit_reached"),
    rate_limited: FS.t("reject.rate_limited"),
    not_admitted: FS.t("reject.not_admitted"),
    fcode_invalid: FS.t("reject.fcode_invalid"),
    address_limit: FS.t("reject.address_limit"),
    variant_required: FS.t("reject.variant_required"),
    variant_not_found: FS.t("reject.variant_not_found"),
    idempotency_key_reused: FS.t("reject.idempotency_key_reused"),
    validation_error: FS.t("reject.validation_error"),
    drop_paused: FS.t("reject.drop_paused")
    };
    ui.clear(body);
    var rejected = s.rejected && typeof s.rejected === "object" ? s.rejected : {};
    var codes = Object.keys(rejected).sort(function (a, b) { return (rejected[b] | 0) - (rejected[a] | 0); });
    if (!codes.length) body.appendChild(el("tr", {}, el("td", { colspan: "2", text: FS.t("common.none") })));
    codes.forEach(function (code) {
      body.appendChild(el("tr", {}, [el("td", {}, [REJECT_LABEL[code] ? REJECT_LABEL[code] + " " : "",
        el("code", { text: code })]),
        el("td", { class: "num", text: num(rejected[code]) })]));
    });
    draw();
  }

  /* The waiting room's counts (stats.queue, present when the drop has one) and its live rate. */
  function renderQueue(queue) {
    $("live-queue").hidden = !queue;
    if (!queue) return;
    ["waiting", "admitted", "done", "expired"].forEach(function (key) { $("q-" + key).textContent = num(queue[key]); });
    $("q-rate").textContent = live.drop ? num(live.drop.admit_per_second) : "–";
  }

  /* The waitlist after sell-out (stats.waitlist): shown once anyone joined it. */
  function renderWaitlist(waitlist) {
    $("live-waitlist").hidden = !waitlist || !waitlist.joined;
    if (!waitlist) return;
    ["waiting", "holds_active", "claimed", "passed"].forEach(function (key) { $("w-" + key).textContent = num(waitlist[key]); });
  }

  $("rate-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var rate = intOf("rate"), out = $("rate-msg");
    if (!live.id || rate === null || rate < 1) { ui.say(out, FS.t("ops.rate_invalid"), "error"); return; }
    FS.api.request("PATCH", "/api/admin/drops/" + FS.seg(live.id), { json: { admit_per_second: rate } }).then(function (drop) {
      live.drop = drop;
      ui.say(out, FS.t("ops.rate_now", { rate: num(drop.admit_per_second) }), "ok");
      renderStats();
    }, function (err) { ui.say(out, FS.messageFor(err), "error"); });
  });

  function draw() {
    if (live.series) FS.ops.drawChart(canvas, live.series, live.stats ? live.stats.stock : 0, FS.clock.now());
  }

  function resetView() {
    Object.keys(k).forEach(function (key) { k[key].textContent = "–"; });
    ui.clear($("rejections")).appendChild(el("tr", {}, el("td", { colspan: "2", text: "–" })));
  }

  function startWatching(id) {
    id = String(id || "").trim();
    if (!id) return;
    if (live.feed) live.feed.stop();
    live = { feed: null, id: id, drop: null, series: new FS.ops.Series(), stats: null };
    resetView();
    var mine = live;
    $("live-title").textContent = FS.t("ops.drop_n", { id: id });
    window.history.replaceState(null, "", "#drop=" + encodeURIComponent(id));
    FS.api.get("/api/drops/" + FS.seg(id)).then(function (drop) {
      if (live !== mine) return;
      live.drop = drop;
      $("live-title").textContent = drop.name + " (" + drop.sku + ") · " + FS.t("drop.opens_at", { time: ui.fmtDateTime(ui.parseTime(drop.starts_at)) });
      $("rate").value = drop.waiting_room ? String(drop.admit_per_second) : "";
      renderStats();
    }, function () { /* the stats feed reports problems */ });
    live.feed = FS.ops.watch(id, {
      stats: function (stats) {
        if (live !== mine) return;
        live.stats = stats;
        live.series.add(stats, FS.clock.now());
        renderStats();
      },
      state: function (kind, text) {
        if (live !== mine) return;
        conn.setAttribute("data-state", kind);
        ui.say(conn, text, kind === "error" ? "error" : "");
      }
    });
  }

  var imageDrop = $("image-drop");
  var known = {}; /* drop id -> drop, from the last list */

  function fillSelect(select, drops, keep) {
    while (select.options.length > 1) select.remove(1);
    drops.forEach(function (d) {
      select.appendChild(el("option", { value: String(d.id),
        text: "#" + d.id + " " + d.name + " · " + FS.ops.phaseText(d) }));
    });
    if (keep) select.value = String(keep);
  }

  function loadDrops(selectId) {
    return FS.api.get("/api/drops").then(function (drops) {
      drops = Array.isArray(drops) ? drops : [];
      known = {};
      drops.forEach(function (d) { known[String(d.id)] = d; });
      fillSelect(pick, drops, selectId || pick.value);
      fillSelect(imageDrop, drops, imageDrop.value || selectId);
      showPicture(known[imageDrop.value]);
      /* The control room's list, selects and orders filter (ops-controls.js, ops-orders.js) */
      document.dispatchEvent(new CustomEvent("fs:drops", { detail: drops }));
    }, function (err) { ui.say($("ops-msg"), FS.messageFor(err), "error"); });
  }

  /* ---------- product picture ---------- */
  var MAX_PICTURE_BYTES = 5 * 1024 * 1024;
  var imageForm = $("image-form"), imageFile = $("image-file"), imageMsg = $("image-msg"), preview = $("image-preview");

  function showPicture(drop) {
    ui.clear(preview);
    preview.hidden = !(drop && drop.images && drop.images.length);
    if (!preview.hidden) preview.appendChild(ui.picture(drop, "(min-width: 700px) 320px, 90vw", true));
  }
  imageDrop.addEventListener("change", function () { showPicture(known[imageDrop.value]); });

  imageForm.addEventListener("submit", function (ev) {
    ev.preventDefault();
    imageDrop.removeAttribute("aria-invalid");
    imageFile.removeAttribute("aria-invalid");
    var file = imageFile.files && imageFile.files[0];
    if (!imageDrop.value) {
      imageDrop.setAttribute("aria-invalid", "true");
      imageDrop.focus();
      ui.say(imageMsg, FS.t("ops.image_need_drop"), "error");
      return;
    }
    if (!file || file.size > MAX_PICTURE_BYTES) {
      imageFile.setAttribute("aria-invalid", "true");
      imageFile.focus();
      ui.say(imageMsg, FS.t(file ? "ops.image_too_big" : "ops.image_need_file"), "error");
      return;
    }
    var data = new FormData();
    data.append("file", file, file.name);
    var submit = imageForm.querySelector("button[type=submit]");
    submit.disabled = true;
    ui.say(imageMsg, FS.t("ops.image_uploading"), "info");
    /* The first picture is set; any further one joins the gallery (up to 8). */
    var shown = known[String(imageDrop.value)];
    var adding = shown && shown.images && shown.images.length > 0;
    var path = "/api/admin/drops/" + FS.seg(imageDrop.value) + (adding ? "/images" : "/image");
    (adding ? FS.api.request("POST", path, { body: data }) : FS.api.put(path, data)).then(function (drop) {
      submit.disabled = false;
      known[String(drop.id)] = drop;
      showPicture(drop);
      imageFile.value = "";
      ui.say(imageMsg, FS.t("ops.image_done", { name: drop.name }), "ok");
    }, function (err) {
      submit.disabled = false;
      if (err instanceof FS.ApiError && (err.code === "unsupported_image" || err.code === "payload_too_large")) {
        imageFile.setAttribute("aria-invalid", "true");
      }
      ui.say(imageMsg, FS.messageFor(err), "error");
    });
  });

  $("pick-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    startWatching(pickId.value.trim() || pick.value);
  });
  pick.addEventListener("change", function () { if (pick.value) { pickId.value = ""; startWatching(pick.value); } });
  window.addEventListener("resize", draw);
  ui.onTick(function () { if (live.series && live.series.samples.length) draw(); });

  /* ---------- create a drop ---------- */
  function toMinor(text, currency) {
    var digits = ui.currencyDigits(currency);
    var m = /^\s*(\d{1,12})(?:[.,](\d*))?\s*$/.exec(text);
    if (!m || (m[2] || "").length > digits) return null;
    var frac = m[2] || "";
    while (frac.length < digits) frac += "0";
    return parseInt(m[1] + frac, 10);
  }
  function intOf(id) {
    var v = $(id).value.trim();
    return /^\d+$/.test(v) ? parseInt(v, 10) : null;
  }
  function isoOf(id) {
    var v = $(id).value;
    if (!v) return undefined;
    var t = new Date(v); /* datetime-local: the operator's local time */
    return isNaN(t.getTime()) ? null : t.toISOString();
  }

  var createForm = $("create-form"), createMsg = $("create-msg");
  /* "Name: value" a line (a full-width colon too); null when a line has no value. */
  function specsOf(text) {
    var rows = [];
    var ok = text.split(/\r?\n/).every(function (line) {
      if (!line.trim()) return true;
      var at = line.search(/[:：]/);
      if (at < 1 || !line.slice(at + 1).trim()) return false;
      rows.push({ name: line.slice(0, at).trim(), value: line.slice(at + 1).trim() });
      return true;
    });
    return ok && rows.length <= 40 ? rows : null;
  }
  /* "SKU | name | stock | price" a line (a full-width bar too; the price optional, in major units);
     null when a line is not one. */
  function variantsOf(text, currency) {
    var rows = [];
    var ok = text.split(/\r?\n/).every(function (line) {
      if (!line.trim()) return true;
      var cells = line.split(/[|｜]/).map(function (c) { return c.trim(); });
      if (cells.length < 3 || cells.length > 4 || !cells[0] || !cells[1] || !/^\d+$/.test(cells[2])) return false;
      var variant = { sku: cells[0], name: cells[1], stock: parseInt(cells[2], 10) };
      if (cells.length === 4 && cells[3]) {
        variant.price_cents = toMinor(cells[3], currency);
        if (variant.price_cents === null) return false;
      }
      rows.push(variant);
      return true;
    });
    return ok && rows.length <= 20 ? rows : null;
  }
  createForm.addEventListener("submit", function (ev) {
    ev.preventDefault();
    Array.prototype.forEach.call(createForm.querySelectorAll("input, textarea"), function (i) { i.removeAttribute("aria-invalid"); });
    var currency = $("c-currency").value.trim().toUpperCase();
    var body = {
      sku: $("c-sku").value.trim(), name: $("c-name").value.trim(), currency: currency,
      price_cents: toMinor($("c-price").value, currency), stock: intOf("c-stock"),
      priority_minutes: intOf("c-priority"), per_user_limit: intOf("c-limit"),
      pay_window_seconds: intOf("c-pay"), starts_at: isoOf("c-starts"), ends_at: isoOf("c-ends"),
      waitlist_hold_minutes: intOf("c-wl-hold")
    };
    var description = $("c-description").value.trim();
    if (description) body.description = description;
    var specs = specsOf($("c-specs").value);
    if (specs === null) {
      $("c-specs").setAttribute("aria-invalid", "true");
      $("c-specs").focus();
      ui.say(createMsg, FS.t("ops.check_fields"), "error");
      return;
    }
    if (specs.length) body.specs = specs;
    var variants = variantsOf($("c-variants").value, currency);
    if (variants === null) {
      $("c-variants").setAttribute("aria-invalid", "true");
      $("c-variants").focus();
      ui.say(createMsg, FS.t("ops.check_fields"), "error");
      return;
    }
    if (variants.length) {
      body.variants = variants;
      /* The drop's stock is the versions' sum: filled in when left empty (a different number is refused). */
      if (body.stock === null) body.stock = variants.reduce(function (sum, v) { return sum + v.stock; }, 0);
    }
    body.shipping_required = $("c-shipping").checked;
    if ($("c-waiting").checked) {
      body.waiting_room = true;
      body.challenge = $("c-challenge").checked;
      body.prequeue_minutes = intOf("c-prequeue");
      body.admit_per_second = intOf("c-admit");
    }
    var names = { sku: "c-sku", name: "c-name", currency: "c-currency", price_cents: "c-price", stock: "c-stock",
      priority_minutes: "c-priority", per_user_limit: "c-limit", pay_window_seconds: "c-pay",
      waitlist_hold_minutes: "c-wl-hold",
      starts_at: "c-starts", ends_at: "c-ends", waiting_room: "c-waiting", challenge: "c-challenge",
      prequeue_minutes: "c-prequeue", admit_per_second: "c-admit", variants: "c-variants" };
    var bad = Object.keys(body).filter(function (key) {
      return body[key] === null || body[key] === "" || (key === "currency" && !/^[A-Z]{3}$/.test(currency));
    });
    if (bad.length) {
      bad.forEach(function (key) { $(names[key]).setAttribute("aria-invalid", "true"); });
      $(names[bad[0]]).focus();
      ui.say(createMsg, FS.t("ops.check_fields"), "error");
      return;
    }
    Object.keys(body).forEach(function (key) { if (body[key] === undefined) delete body[key]; });
    var submit = createForm.querySelector("button[type=submit]");
    submit.disabled = true;
    ui.say(createMsg, FS.t("ops.creating"), "info");
    FS.api.post("/api/admin/drops", body).then(function (drop) {
      submit.disabled = false;
      ui.say(createMsg, [FS.t("ops.created", { id: drop.id, time: ui.fmtDateTime(ui.parseTime(drop.starts_at)) }) + " ",
        el("a", { href: "/drops/" + FS.seg(drop.id), text: FS.t("ops.open_page") })], "ok");
      loadDrops(drop.id).then(function () { startWatching(drop.id); });
    }, function (err) {
      submit.disabled = false;
      var errors = err instanceof FS.ApiError && Array.isArray(err.problem.errors) ? err.problem.errors : [];
      errors.forEach(function (e) {
        /* A version's field ("variants", 0, "sku") marks the versions, not the drop's own field. */
        var key = !Array.isArray(e.loc) ? null : e.loc.indexOf("variants") >= 0 ? "variants" : e.loc[e.loc.length - 1];
        if (key && names[key]) $(names[key]).setAttribute("aria-invalid", "true");
      });
      ui.say(createMsg, FS.messageFor(err), "error");
    });
  });

  /* ---------- F-codes ---------- */
  $("issue").addEventListener("click", function () {
    var button = $("issue"), out = $("issue-msg");
    button.disabled = true;
    FS.api.post("/api/admin/fcodes/issue", {}).then(function (res) {
      button.disabled = false;
      ui.say(out, FS.t("ops.issued", { count: res && res.issued | 0, month: res && res.month || "" }), "ok");
    }, function (err) {
      button.disabled = false;
      ui.say(out, FS.messageFor(err), "error");
    });
  });

  FS.ops.loadDrops = loadDrops;

  /* ---------- start ---------- */
  ui.me().then(function (account) {
    if (!account) ui.say($("ops-msg"), ui.signInPrompt("signin.operator"), "info");
    else if (!ui.hasRole(account, "operator")) ui.say($("ops-msg"), FS.t("ops.operators_only"), "error");
  }, function () { /* offline */ });
  var fromHash = /^#drop=([A-Za-z0-9_%-]{1,64})$/.exec(window.location.hash);
  var initial = "";
  try { initial = fromHash ? decodeURIComponent(fromHash[1]) : ""; } catch (e) { initial = ""; }
  /* After every deferred script of the page ran (DOMContentLoaded): ops-controls.js and ops-orders.js
   * listen for "fs:drops", and a quick answer must not arrive before they do. */
  document.addEventListener("DOMContentLoaded", function () {
    loadDrops(initial).then(function () {
      if (!initial) return;
      if (pick.value !== initial) pickId.value = initial;
      startWatching(initial);
    });
  });
  /* The pickers' phases stay live: the list is read again every 30 s (the choices are kept). */
  window.setInterval(function () {
    if (document.hidden || !FS.auth.signedIn()) return;
    loadDrops().catch(function () { /* the next round tries again */ });
  }, 30000);
})();
