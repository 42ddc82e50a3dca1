/* flashsale drop page: live phase and stock, and a buy button that buys once per click. */
(function () {
  "use strict";
  var FS = window.FS, ui = FS.ui, el = ui.el;
  function $(id) { return document.getElementById(id); }

  var dropId = $("main").getAttribute("data-drop-id") || "";
  var dropPath = "/api/drops/" + FS.seg(dropId);
  var n = {
    phase: $("drop-phase"), name: $("drop-name"), sku: $("drop-sku"), price: $("drop-price"),
    countdown: $("drop-countdown"), meter: $("drop-meter"), remaining: $("drop-remaining"),
    article: $("drop"), media: $("drop-media"), spoken: $("drop-countdown-sr"), form: $("buy-form"), qtyField: $("qty-field"), qty: $("qty"), fcodeBox: $("fcode-box"),
    fcode: $("fcode"), buy: $("buy"), msg: $("buy-msg"),
    factPriority: $("fact-priority"), factStarts: $("fact-starts"), factEnds: $("fact-ends"),
    factLimit: $("fact-limit"), factPay: $("fact-pay"), notice: $("drop-notice"), noticeText: $("drop-notice-text"),
    paused: $("drop-paused"),
    fcodePicks: $("fcode-picks"), fcodePickList: $("fcode-pick-list"),
    variantField: $("variant-field"), variantChoices: $("variant-choices"),
    about: $("drop-about"), description: $("drop-description"), specs: $("drop-specs"), specsTitle: $("drop-specs-title")
  };
  var state = { drop: null, phase: null, notFound: false, inFlight: false, cooldownUntil: 0, openedBox: false,
    imageUrl: undefined };
  var announce = ui.announcer(n.spoken);
  var PICTURE_SIZES = "(min-width: 900px) 420px, 92vw";
  var ref = readRef();
  var poller;

  /* A share link may land here with ?ref=<share token>; without it the server's referral cookie
   * does the crediting. Access tokens never travel in URLs. */
  function readRef() {
    var value = new URLSearchParams(window.location.search).get("ref");
    return value && /^[A-Za-z0-9_-]{1,128}$/.test(value) ? value : null;
  }

  function chosenVariant() {
    var picked = n.variantChoices.querySelector("input[name=variant]:checked");
    return picked ? picked.value : "";
  }
  function variantLeft(sku) {
    var found = ((state.drop && state.drop.variants) || []).filter(function (v) { return v.sku === sku; })[0];
    return found ? found.remaining : 0;
  }

  /* One radio per variant with its price and its own "sold out"; rebuilt only when the set changes. */
  function renderVariants(d) {
    var variants = d.variants || [];
    n.variantField.hidden = variants.length === 0;
    var key = variants.map(function (v) { return v.sku; }).join(" ");
    if (state.variantKey !== key) {
      state.variantKey = key;
      var before = chosenVariant();
      ui.clear(n.variantChoices);
      variants.forEach(function (v, i) {
        var id = "variant-" + i;
        var input = el("input", { type: "radio", name: "variant", id: id, value: v.sku });
        if (v.sku === before) input.checked = true;
        input.addEventListener("change", function () { renderButton(); });
        n.variantChoices.appendChild(el("label", { class: "variant", for: id }, [input,
          el("span", { class: "variant-name", text: v.name }),
          el("span", { class: "variant-price", text: ui.fmtMoney(v.price_cents, d.currency) }),
          el("span", { class: "variant-left", "data-sku": v.sku })]));
      });
    }
    variants.forEach(function (v) {
      var input = n.variantChoices.querySelector("input[value='" + v.sku.replace(/[^A-Za-z0-9._-]/g, "") + "']");
      var note = n.variantChoices.querySelector(".variant-left[data-sku='" + v.sku.replace(/[^A-Za-z0-9._-]/g, "") + "']");
      if (!input || !note) return;
      note.textContent = v.remaining > 0 ? FS.t("stock.left_short", { remaining: ui.fmtNumber(v.remaining) }) : FS.t("phase.sold_out");
      input.disabled = v.remaining <= 0;
      if (input.disabled && input.checked) input.checked = false;
      input.parentNode.setAttribute("data-sold-out", v.remaining <= 0 ? "true" : "false");
    });
  }

  /* An employee's unused codes for this drop, one tap each (typing one someone gave them still works). */
  function offerCodes(d) {
    if (state.codesOffered || !FS.auth.signedIn()) return;
    state.codesOffered = true;
    ui.me().then(function (account) {
      if (!ui.hasRole(account, "employee")) return null;
      return FS.api.get("/api/fcodes").then(function (codes) {
        var now = FS.clock.now();
        var usable = (codes || []).filter(function (c) {
          return c.status === "available" && !c.gifted_to && (!c.sku || c.sku === d.sku) && ui.parseTime(c.expires_at) > now;
        });
        ui.clear(n.fcodePickList);
        usable.forEach(function (c) {
          var button = el("button", { type: "button", class: "button fcode-pick", text: c.code,
            "aria-pressed": "false" });
          button.addEventListener("click", function () {
            n.fcode.value = c.code;
            Array.prototype.forEach.call(n.fcodePickList.children, function (b) { b.setAttribute("aria-pressed", b === button ? "true" : "false"); });
            n.fcode.dispatchEvent(new Event("input"));
          });
          n.fcodePickList.appendChild(button);
        });
        n.fcodePicks.hidden = usable.length === 0;
      });
    }).catch(function () { state.codesOffered = false; });
  }

  function fcodeEntered() { return n.fcode.value.replace(/[\s-]/g, "") !== ""; }

  function buttonState(now) {
    if (state.notFound) return [FS.t("buy.not_available"), true];
    if (!state.drop) return [FS.t("buy.loading"), true];
    if (state.inFlight) return [FS.t("buy.reserving"), true];
    var phase = state.phase;
    if (phase === "ended") return [FS.t("buy.ended"), true];
    if (phase === "sold_out" && !FS.waitlist.held()) return [FS.t("phase.sold_out"), true];
    if (state.drop.paused) return [FS.t("buy.paused"), true];
    if (Date.now() < state.cooldownUntil) {
      return [FS.t("buy.wait", { seconds: Math.ceil((state.cooldownUntil - Date.now()) / 1000) }), true];
    }
    if (phase === "upcoming") return [FS.t("buy.opens_at", { time: ui.fmtTime(ui.parseTime(state.drop.starts_at)) }), true];
    if (phase === "priority" && !fcodeEntered()) return [FS.t("buy.fcode_only"), true];
    if (!FS.auth.signedIn()) return [FS.t("buy.sign_in"), false];
    if ((state.drop.variants || []).length && !chosenVariant()) return [FS.t("buy.choose_variant"), true];
    if (state.drop.mode === "draw" && !fcodeEntered() && !FS.draw.won()) return [FS.t("draw.winners_only"), true];
    if (state.drop.waiting_room && !fcodeEntered() && !FS.queue.admitted() && !FS.waitlist.held()) {
      var ticket = FS.queue.ticket();
      if (!ticket) return [FS.t("buy.queue_join_first"), true];
      return [ticket.status === "done" ? FS.t("buy.queue_turn_used") : FS.t("buy.queue_wait"), true];
    }
    return [fcodeEntered() ? FS.t("buy.with_fcode") : FS.t("buy.now"), false];
  }

  function renderButton(now) {
    var s = buttonState(now === undefined ? FS.clock.now() : now);
    if (n.buy.textContent !== s[0]) n.buy.textContent = s[0];
    n.buy.disabled = s[1];
    n.buy.setAttribute("data-state", s[1] ? "disabled" : "ready");
  }

  function renderClock(now) {
    if (!state.drop) { renderButton(now); return; }
    var phase = ui.laterPhase(state.phase, ui.livePhase(state.drop, now));
    if (state.phase && phase !== state.phase && poller) poller.now(1000); /* boundary: confirm with the server */
    state.phase = phase;
    n.phase.textContent = ui.PHASE_LABEL[phase] || phase;
    n.phase.setAttribute("data-phase", phase);
    n.countdown.textContent = ui.countdownText(state.drop, phase, now);
    announce(ui.countdownText(state.drop, phase, now, true));
    if (phase === "priority" && !state.openedBox) { n.fcodeBox.open = true; state.openedBox = true; }
    renderButton(now);
  }

  /* The operator's controls: a message to everyone (plain text, never HTML) and a pause. */
  function renderControls() {
    var d = state.drop;
    var text = d && typeof d.notice === "string" ? d.notice : "";
    if (n.noticeText.textContent !== text) n.noticeText.textContent = text;
    n.notice.hidden = !text;
    n.paused.hidden = !(d && d.paused) || state.phase === "ended";
  }

  function renderDrop() {
    var d = state.drop;
    var priority = ui.parseTime(d.priority_starts_at), starts = ui.parseTime(d.starts_at);
    document.title = d.name + " · flashsale";
    var pictures = (d.images || []).map(function (p) { return p.url; }).join(" ");
    if (state.imageUrl !== pictures) {
      state.imageUrl = pictures;
      ui.clear(n.media).appendChild(ui.gallery(d, PICTURE_SIZES));
    }
    n.article.setAttribute("aria-busy", "false");
    n.name.textContent = d.name;
    n.sku.textContent = FS.t("drop.sku", { sku: d.sku });
    n.price.textContent = ui.fmtMoney(d.price_cents, d.currency);
    n.meter.max = Math.max(1, d.stock);
    n.meter.value = Math.max(0, d.remaining);
    n.remaining.textContent = d.remaining > 0
      ? FS.t("stock.left", { remaining: ui.fmtNumber(d.remaining), stock: ui.fmtNumber(d.stock) }) : FS.t("stock.none_now");
    n.factPriority.textContent = priority < starts ? FS.t("drop.priority_from", { time: ui.fmtDateTime(priority) }) : FS.t("common.none");
    n.factStarts.textContent = ui.fmtDateTime(starts);
    n.factEnds.textContent = ui.fmtDateTime(ui.parseTime(d.ends_at));
    n.factLimit.textContent = String(d.per_user_limit);
    n.factPay.textContent = FS.t("drop.pay_after", { duration: ui.fmtDuration(d.pay_window_seconds) });
    var limit = Math.max(1, d.per_user_limit | 0);
    n.qtyField.hidden = limit <= 1;
    n.qty.max = String(limit);
    renderAbout(d);
    renderVariants(d);
    offerCodes(d);
    if (d.mode === "draw") FS.draw.start(d, dropPath, function () { renderButton(); });
    if (d.waiting_room) {
      FS.queue.start(d, dropPath, function (ticket) {
        /* The ticket's poll (every 1-2 s) carries the controls too: shown before the drop's next poll. */
        if (ticket && state.drop && typeof ticket.paused === "boolean") {
          state.drop.paused = ticket.paused;
          state.drop.notice = ticket.notice;
          renderControls();
        }
        renderButton();
      });
    }
    renderClock(FS.clock.now());
    renderControls();
  }

  /* The operator's text as text: paragraphs split by blank lines, lines kept (CSS pre-line), never HTML. */
  function renderAbout(d) {
    var text = d.description || "", specs = d.specs || [];
    var key = text + "\u0000" + JSON.stringify(specs);
    if (state.about === key) return;
    state.about = key;
    ui.clear(n.description);
    text.split(/\n\s*\n/).forEach(function (para) {
      if (para.trim()) n.description.appendChild(el("p", { text: para.trim() }));
    });
    ui.clear(n.specs);
    specs.forEach(function (row) {
      n.specs.appendChild(el("dt", { text: row.name }));
      n.specs.appendChild(el("dd", { text: row.value }));
    });
    n.specs.hidden = n.specsTitle.hidden = specs.length === 0;
    n.about.hidden = !text.trim() && specs.length === 0;
  }

  function load() {
    return FS.api.get(dropPath).then(function (drop) {
      state.drop = drop;
      renderDrop();
      /* The reminder section (remind.js) shows in the same frame as the drop, never after it. */
      document.dispatchEvent(new CustomEvent("fs:drop", { detail: drop }));
    }, function (err) {
      if (err instanceof FS.ApiError && (err.code === "drop_not_found" || err.status === 404)) {
        notFound();
        return;
      }
      if (!state.inFlight) ui.say(n.msg, FS.messageFor(err), "error");
    });
  }

  /* Only the heading and a way back: no stock, form or facts of a drop that isn't there. */
  function notFound() {
    state.notFound = true;
    state.drop = null;
    document.title = FS.t("drop.not_found") + " · flashsale";
    n.name.textContent = FS.t("drop.not_found");
    n.phase.textContent = FS.t("drop.unavailable");
    n.article.setAttribute("data-missing", "true");
    n.article.setAttribute("aria-busy", "false");
    ui.say(n.msg, [FS.t("error.drop_not_found") + " ", el("a", { href: "/", text: FS.t("common.see_drops") })], "error");
    renderButton();
  }

  function pollInterval() {
    var phase = state.phase;
    if (state.notFound || phase === "ended") return 60000;
    if (state.drop && state.drop.paused) return 2500; /* back on sale: the button comes back quickly */
    if (phase === "open" || phase === "priority" || phase === "sold_out") return 2500;
    if (state.drop && ui.parseTime(state.drop.starts_at) - FS.clock.now() < 60000) return 4000;
    return 15000;
  }

  /* ---------- buying ---------- */
  function delay(ms) { return new Promise(function (resolve) { window.setTimeout(resolve, ms); }); }

  /* Same key on a retry: if the first try did land, the server answers the same order again. */
  function attempt(body, key, tries) {
    return FS.api.post(dropPath + "/purchase", body, { headers: { "Idempotency-Key": key } })
      .catch(function (err) {
        var transient = err instanceof FS.ApiError && [0, 502, 503, 504].indexOf(err.status) >= 0;
        if (transient && tries < 2) return delay(500 * (tries + 1)).then(function () { return attempt(body, key, tries + 1); });
        throw err;
      });
  }

  function quantity() {
    var limit = state.drop ? Math.max(1, state.drop.per_user_limit | 0) : 1;
    var value = parseInt(n.qty.value, 10);
    return isNaN(value) ? 1 : Math.min(limit, Math.max(1, value));
  }

  function succeeded(order) {
    var payBy = ui.parseTime(order && order.pay_by);
    var count = order && order.quantity > 1 ? order.quantity : 1;
    ui.say(n.msg, [FS.t("buy.reserved", { count: count, time: ui.fmtTime(payBy) }) + " ",
      el("a", { href: "/orders#order-" + encodeURIComponent(String(order && order.id)), text: FS.t("buy.pay_now") })], "ok");
    if (n.fcode.value) { n.fcode.value = ""; n.qty.disabled = false; } /* a code is single-use */
    if (poller) poller.now(0);
    if (state.drop && state.drop.waiting_room) FS.queue.refresh(); /* the turn is used */
  }

  function failed(err, asked) {
    var code = err instanceof FS.ApiError ? err.code : "network_error";
    var text = FS.messageFor(err);
    if (code === "sold_out") {
      if (asked === 1 && state.drop && (state.drop.variants || []).length) {
        (state.drop.variants || []).forEach(function (v) { if (v.sku === chosenVariant()) v.remaining = 0; });
        text = FS.t("buy.variant_sold_out");
        renderDrop();
      } else if (asked === 1 && state.drop) { state.drop.remaining = 0; state.drop.phase = "sold_out"; renderDrop(); }
      else if (asked > 1) text = FS.t("buy.not_enough", { count: asked });
    } else if (code === "limit_reached" || code === "address_limit") {
      /* address_limit: the network's unpaid units, not this buyer's; an admission is kept for a retry */
      text = [text + " ", el("a", { href: "/orders", text: FS.t("buy.see_orders") })];
    } else if (code === "not_open") {
      if (state.phase === "upcoming") text = FS.t("buy.not_open_yet", { time: ui.fmtTime(ui.parseTime(state.drop.starts_at)) });
    } else if (code === "fcode_invalid") {
      n.fcode.setAttribute("aria-invalid", "true");
      n.fcodeBox.open = true;
      n.fcode.focus();
    } else if (code === "drop_paused") {
      if (state.drop) { state.drop.paused = true; renderControls(); }
    } else if (code === "not_admitted") {
      FS.queue.refresh();
    } else if (code === "rate_limited") {
      state.cooldownUntil = Date.now() + (err.retryAfter || 5) * 1000;
    } else if (code === "unauthorized") {
      text = ui.signInPrompt("signin.to_buy");
    } else if (code === "drop_not_found") {
      notFound();
      return;
    }
    ui.say(n.msg, text, "error");
    if (code !== "rate_limited" && poller) poller.now(500);
  }

  /* A second submit of the same purchase within a double-click's reach (the first may already have
     answered: a fast server replies between the two clicks) reuses the key, so it is the same order. */
  var lastIntent = { body: "", key: "", at: 0 };
  function intentKey(body) {
    var text = JSON.stringify(body), now = Date.now();
    if (text !== lastIntent.body || now - lastIntent.at > 1500) lastIntent.key = FS.newKey();
    lastIntent.body = text;
    lastIntent.at = now;
    return lastIntent.key;
  }

  n.form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    if (state.inFlight || n.buy.disabled) return;
    if (!FS.auth.signedIn()) { window.location.assign(ui.loginHref()); return; }
    var code = n.fcode.value.trim();
    var body = { quantity: code ? 1 : quantity() };
    if (code) body.fcode = code;
    if (ref) body.ref = ref;
    var variant = chosenVariant();
    if (variant) body.variant = variant;
    state.inFlight = true;
    n.form.setAttribute("aria-busy", "true");
    renderButton();
    ui.say(n.msg, FS.t("buy.reserving"), "info");
    attempt(body, intentKey(body), 0)
      .then(succeeded, function (err) { failed(err, body.quantity); })
      .then(function () {
        state.inFlight = false;
        n.form.setAttribute("aria-busy", "false");
        renderButton();
      });
  });

  n.fcode.addEventListener("input", function () {
    n.fcode.removeAttribute("aria-invalid");
    n.qty.disabled = fcodeEntered(); /* an F-code buys exactly one unit */
    renderButton();
  });
  document.addEventListener("fs:auth", function () { renderButton(); });

  /* "Sign in now to be ready" only before the open; once it is open, plainly "sign in to buy". */
  var hinted = false;
  function hintSignIn() {
    if (hinted || FS.auth.signedIn() || !state.drop) return;
    hinted = true;
    var before = state.phase === "upcoming" || state.phase === "priority";
    if (state.phase !== "ended" && state.phase !== "sold_out") ui.say(n.msg, ui.signInPrompt(before ? "signin.ready" : "signin.to_buy"), "info");
  }
  /* Polling starts once every deferred script of the page ran (DOMContentLoaded): remind.js, say,
   * may listen for "fs:drop", and a quick first answer must not arrive before they do. */
  document.addEventListener("DOMContentLoaded", function () {
    poller = ui.poll(function () { return load().then(hintSignIn); }, pollInterval);
  });
  ui.onTick(renderClock);
})();
