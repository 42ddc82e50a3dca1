/* flashsale "My orders": pay (the test card, Alipay's redirect, Stripe's Payment Element), cancel, a
   countdown to pay_by, the payment's state live, share paid orders. */
(function () {
  "use strict";
  var FS = window.FS, ui = FS.ui, el = ui.el;
  var list = document.getElementById("order-list");
  var empty = document.getElementById("orders-empty");
  var msg = document.getElementById("orders-msg");
  var orders = [];
  var rows = {}; /* order id -> {order, item, msg, timer, pay} */
  var dropNames = {}; /* drop id -> Promise<name|null> */
  var STATUS_LABEL = { reserved: FS.t("order.reserved"), paid: FS.t("order.paid"), expired: FS.t("order.expired"),
    cancelled: FS.t("order.cancelled"), refunded: FS.t("order.refunded") };
  var poller;
  /* The payment methods the store offers; the test card alone if the list cannot be read. */
  var methods = FS.api.get("/api/payments/providers").then(function (p) {
    return p && Array.isArray(p.providers) ? p : { providers: ["test"] };
  }, function () { return { providers: ["test"] }; });
  var stripeLoaded = null;
  /* The buyer's addresses, read once (and again after one is added). */
  var addressBook = null;
  function addresses(fresh) {
    if (!addressBook || fresh) {
      addressBook = FS.api.get("/api/me/addresses").then(function (a) { return Array.isArray(a) ? a : []; },
        function () { return []; });
    }
    return addressBook;
  }
  function addressText(a) {
    return [a.name, a.line1, a.line2, a.city, a.region, a.postal_code, a.country].filter(function (x) { return x; }).join(", ");
  }

  /* Pick one of the buyer's addresses, or add one (it becomes the pick). */
  function addressBlock(order) {
    var sid = safeId(order.id);
    var select = el("select", { id: "address-" + sid, name: "address" });
    var fields = [["name", 100, "name", FS.t("address.name")], ["phone", 32, "tel", FS.t("address.phone")],
      ["country", 2, "country", FS.t("address.country")], ["region", 100, "address-level1", FS.t("address.region")],
      ["city", 100, "address-level2", FS.t("address.city")], ["line1", 200, "street-address", FS.t("address.line1")],
      ["postal_code", 20, "postal-code", FS.t("address.postal_code")]];
    var inputs = {};
    var adding = el("details", { class: "address-add" }, [el("summary", { text: FS.t("address.add") })]);
    var addMsg = el("p", { class: "msg", role: "status", "aria-live": "polite" });
    fields.forEach(function (f) {
      var id = "addr-" + f[0] + "-" + sid;
      inputs[f[0]] = el("input", { id: id, name: f[0], maxlength: String(f[1]), autocomplete: f[2],
        required: f[0] !== "region" && f[0] !== "postal_code" ? true : null });
      adding.appendChild(el("div", { class: "field" }, [el("label", { for: id, text: f[3] }), inputs[f[0]]]));
    });
    var save = el("button", { class: "button", type: "button", text: FS.t("address.save") });
    adding.appendChild(save);
    adding.appendChild(addMsg);
    function fill(list, pick) {
      ui.clear(select);
      select.appendChild(el("option", { value: "", text: list.length ? FS.t("address.choose") : FS.t("address.none") }));
      list.forEach(function (a) {
        var option = el("option", { value: String(a.id), text: addressText(a) });
        if (String(a.id) === String(pick)) option.selected = true;
        select.appendChild(option);
      });
      if (!pick && list.length === 1) select.value = String(list[0].id);
    }
    addresses().then(function (list) { fill(list, null); });
    save.addEventListener("click", function () {
      var body = {};
      Object.keys(inputs).forEach(function (k) { var v = inputs[k].value.trim(); if (v) body[k] = v; });
      save.disabled = true;
      FS.api.post("/api/me/addresses", body).then(function (added) {
        save.disabled = false;
        adding.open = false;
        ui.say(addMsg, "", "");
        return addresses(true).then(function (list) { fill(list, added.id); });
      }, function (err) {
        save.disabled = false;
        ui.say(addMsg, FS.messageFor(err), "error");
      });
    });
    return { node: el("div", { class: "address-pick field" }, [
      el("label", { for: "address-" + sid, text: FS.t("address.ship_to") }), select, adding]),
      chosen: function () { return select.value ? parseInt(select.value, 10) : null; } };
  }

  function withAddress(body, picker) {
    var id = picker.chosen();
    if (id) body.address_id = id;
    return body;
  }

  function loadStripe(key) {
    if (!stripeLoaded) {
      stripeLoaded = new Promise(function (resolve, reject) {
        var script = el("script", { src: "https://js.stripe.com/v3/" });
        script.onload = function () { resolve(window.Stripe(key)); };
        script.onerror = function () { stripeLoaded = null; reject(new Error("stripe.js")); };
        document.head.appendChild(script);
      });
    }
    return stripeLoaded;
  }

  function pending(order) { return order.payment && order.payment.status === "pending"; }

  function safeId(id) { return String(id).replace(/[^A-Za-z0-9_-]/g, "_"); }

  function dropOf(dropId) {
    var key = String(dropId);
    if (!dropNames[key]) {
      dropNames[key] = FS.api.get("/api/drops/" + FS.seg(dropId))
        .then(function (d) { return d && d.name ? d : null; }, function () { return null; });
    }
    return dropNames[key];
  }
  function dropName(dropId) { return dropOf(dropId).then(function (d) { return d ? d.name : null; }); }

  /* The order's steps so far, with their times: reserved, then paid / expired / cancelled, refunded. */
  function timeline(order) {
    var steps = [[FS.t("order.step_reserved"), order.created_at]];
    if (order.paid_at) steps.push([FS.t("order.paid"), order.paid_at]);
    if (order.status === "expired") steps.push([FS.t("order.expired"), order.pay_by]);
    if (order.status === "cancelled") steps.push([FS.t("order.cancelled"), null]);
    if (order.status === "refunded" || order.refunded_at) steps.push([FS.t("order.refunded"), order.refunded_at]);
    return el("ol", { class: "timeline", "aria-label": FS.t("order.timeline") }, steps.map(function (s) {
      return el("li", {}, [el("span", { text: s[0] }), s[1] ? el("time", { datetime: s[1], text: ui.fmtDateTime(ui.parseTime(s[1])) }) : null]);
    }));
  }

  /* The card image is served by this same service: use its path on this origin, so that the
   * page's img-src 'self' policy holds even when PUBLIC_BASE_URL names another host. */
  function cardSrc(shareUrl) {
    try {
      var url = new URL(shareUrl, window.location.origin);
      if (url.protocol !== "https:" && url.protocol !== "http:") return null;
      /* The card in the page's language (the server draws it per language). */
      var lang = FS.lang.split("-")[0] === "en" ? "" : "?lang=" + encodeURIComponent(FS.lang.split("-")[0]);
      if (url.origin === window.location.origin) return shareUrl.replace(/\/$/, "") + "/card.png" + lang;
      return url.pathname.replace(/\/$/, "") + "/card.png" + lang;
    } catch (e) {
      return null;
    }
  }

  function payForm(order, row) {
    var sid = safeId(order.id);
    var button = el("button", { class: "button primary fixed", type: "submit",
      text: FS.t("order.pay", { amount: ui.fmtMoney(order.amount_cents, order.currency) }) });
    var cancel = el("button", { class: "button fixed", type: "button", text: FS.t("order.cancel") });
    var others = el("div", { class: "actions pay-methods" });
    var testCard = el("fieldset", { hidden: true }, [
        el("legend", { text: FS.t("order.test_card") }),
        el("div", { class: "check" }, [
          el("input", { type: "radio", name: "card-" + sid, id: "card-ok-" + sid, value: "test_ok", checked: true }),
          el("label", { for: "card-ok-" + sid, text: FS.t("order.card_ok") })]),
        el("div", { class: "check" }, [
          el("input", { type: "radio", name: "card-" + sid, id: "card-decline-" + sid, value: "test_decline" }),
          el("label", { for: "card-decline-" + sid, text: FS.t("order.card_decline") })])
      ]);
    var stripeBox = el("div", { class: "stripe-element", hidden: true });
    var picker = addressBlock(order);
    row.picker = picker;
    var form = el("form", { class: "pay-form", novalidate: true }, [
      picker.node, testCard, stripeBox, others, el("div", { class: "actions" }, [button, cancel])
    ]);
    button.hidden = true;
    if (pending(order)) others.appendChild(el("p", { class: "hint", text: FS.t("order.payment_pending") }));
    methods.then(function (offered) {
      var list = offered.providers;
      if (list.indexOf("test") >= 0) { testCard.hidden = false; button.hidden = false; }
      if (list.indexOf("alipay") >= 0) others.appendChild(providerButton(order, row, "alipay", FS.t("order.pay_alipay")));
      if (list.indexOf("stripe") >= 0 && offered.stripe_publishable_key) {
        others.appendChild(providerButton(order, row, "stripe", FS.t("order.pay_stripe"), function (paying) {
          return loadStripe(offered.stripe_publishable_key).then(function (stripe) {
            var elements = stripe.elements({ clientSecret: paying.payment.client_secret });
            stripeBox.hidden = false;
            elements.create("payment").mount(stripeBox);
            var confirm = el("button", { class: "button primary fixed", type: "button", text: FS.t("order.confirm_payment") });
            stripeBox.appendChild(confirm);
            confirm.addEventListener("click", function () {
              confirm.disabled = true;
              stripe.confirmPayment({ elements: elements, confirmParams: {
                return_url: window.location.origin + "/orders#order-" + encodeURIComponent(String(order.id)) } })
                .then(function (result) {
                  confirm.disabled = false;
                  if (result && result.error) ui.say(row.msg, result.error.message || FS.t("order.payment_failed"), "error");
                });
            });
          });
        }));
      }
    });
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      if (button.disabled) return;
      var checked = form.querySelector("input[type=radio]:checked");
      act(row, [button, cancel], FS.t("order.paying"), FS.api.post("/api/orders/" + FS.seg(order.id) + "/pay",
        withAddress({ payment_token: checked ? checked.value : "test_ok" }, picker)), FS.t("order.paid_thanks"));
    });
    var armed = null;
    cancel.addEventListener("click", function () {
      if (!armed) { /* two taps: no accidental cancels, no blocking dialogs */
        cancel.textContent = FS.t("order.confirm_cancel");
        armed = window.setTimeout(function () { armed = null; cancel.textContent = FS.t("order.cancel"); }, 4000);
        return;
      }
      window.clearTimeout(armed);
      armed = null;
      cancel.textContent = FS.t("order.cancel");
      act(row, [button, cancel], FS.t("order.cancelling"), FS.api.post("/api/orders/" + FS.seg(order.id) + "/cancel"),
        FS.t("order.cancelled_done"));
    });
    row.pay = [button, cancel];
    return form;
  }

  /* Alipay: the signed redirect to the wallet; Stripe: the Payment Element in the page. The order
     turns paid when the provider's notice arrives: the list polls every few seconds meanwhile. */
  function providerButton(order, row, provider, label, complete) {
    var button = el("button", { class: "button fixed", type: "button", text: label });
    button.addEventListener("click", function () {
      if (button.disabled) return;
      button.disabled = true;
      ui.say(row.msg, FS.t("order.opening_payment"), "info");
      FS.api.post("/api/orders/" + FS.seg(order.id) + "/pay", row.picker ? withAddress({ provider: provider }, row.picker)
        : { provider: provider }).then(function (paying) {
        if (paying.status === "paid") { replace(paying); return null; }
        if (provider === "alipay" && paying.payment && paying.payment.redirect_url) {
          window.location.assign(paying.payment.redirect_url);
          return null;
        }
        return complete ? complete(paying).then(function () { ui.say(row.msg, "", ""); }) : null;
      }).catch(function (err) {
        button.disabled = false;
        ui.say(row.msg, FS.messageFor(err), "error");
      });
    });
    return button;
  }

  function act(row, buttons, pending, promise, doneText) {
    buttons.forEach(function (b) { b.disabled = true; });
    ui.say(row.msg, pending, "info");
    promise.then(function (updated) {
      replace(updated);
      ui.say(msg, doneText, "ok"); /* the page-level live region: the card itself was rebuilt */
    }, function (err) {
      buttons.forEach(function (b) { b.disabled = false; });
      var code = err instanceof FS.ApiError ? err.code : "network_error";
      ui.say(row.msg, code === "unauthorized" ? ui.signInPrompt("signin.again") : FS.messageFor(err), "error");
      if (code === "order_expired" || code === "order_not_found") poller.now(0);
    });
  }

  function shareBlock(order, rowState) {
    var sid = safeId(order.id), url = order.share_url;
    var input = el("input", { id: "share-" + sid, type: "url", readonly: true, value: url, class: "share-url" });
    var copy = el("button", { class: "button fixed", type: "button", text: FS.t("common.copy") });
    copy.addEventListener("click", function () { ui.copyText(url, copy); });
    var line = el("div", { class: "inline" }, [input, copy]); /* the link and its button side by side */
    if (typeof navigator.share === "function") {
      var share = el("button", { class: "button fixed", type: "button", text: FS.t("order.share") });
      share.addEventListener("click", function () {
        navigator.share({ title: FS.t("order.share_title"), text: FS.t("order.share_text"), url: url })
          .catch(function (err) { if (err && err.name !== "AbortError") ui.say(rowState.msg, FS.t("order.share_failed"), "error"); });
      });
      line.appendChild(share);
    }
    var stats = el("p", { class: "hint" });
    FS.api.get("/api/orders/" + FS.seg(order.id) + "/share").then(function (s) {
      if (s && typeof s.views === "number") {
        var referred = s.referred_orders | 0;
        stats.textContent = FS.t("order.share_views", { count: s.views }) + " · " +
          FS.t("order.share_referred", { count: referred });
      }
    }, function () { /* stats are optional */ });
    var src = cardSrc(url);
    return el("div", { class: "share" }, [
      el("label", { for: "share-" + sid, text: FS.t("order.share_link") }), line, stats,
      src ? el("img", { class: "share-card", src: src, width: "1200", height: "630", loading: "lazy",
        alt: FS.t("order.card_alt") }) : null
    ]);
  }

  function buildRow(order) {
    var row = { order: order, msg: el("p", { class: "msg", role: "status", "aria-live": "polite" }) };
    var title = el("h2", { text: order.sku });
    var thumb = el("div", { class: "order-thumb media", "aria-hidden": "true" });
    dropOf(order.drop_id).then(function (d) {
      if (!d) return;
      title.textContent = d.name;
      if (d.images && d.images.length) thumb.appendChild(ui.picture(d, "96px", false));
    });
    var body = null;
    if (order.status === "reserved") {
      row.timer = el("p", { class: "countdown", role: "timer", "aria-atomic": "true" });
      body = [row.timer, payForm(order, row)];
    } else if (order.status === "paid" && order.share_url) {
      body = shareBlock(order, row);
    } else if (order.status === "expired") {
      body = el("p", { text: FS.t("order.expired_text") });
    } else if (order.status === "refunded") {
      body = el("p", { text: FS.t("order.refunded_text") });
    }
    var units = order.quantity + " × " + (order.variant || order.sku);
    row.item = el("li", { class: "card order-card", id: "order-" + safeId(order.id) }, [
      thumb,
      el("span", { class: "badge", "data-phase": order.status, text: STATUS_LABEL[order.status] || order.status }),
      title,
      el("p", { class: "meta", text: units + " · " + ui.fmtMoney(order.amount_cents, order.currency) +
        " · " + FS.t("order.ordered_at", { time: ui.fmtDateTime(ui.parseTime(order.created_at)) }) }),
      order.number ? el("p", { class: "order-number", text: FS.t("order.number", { number: order.number }) }) : null,
      el("div", { class: "order-body" }, body),
      timeline(order),
      order.shipping ? el("p", { class: "ships-to", text: FS.t("order.ships_to", { address: addressText(order.shipping) }) }) : null,
      row.msg
    ]);
    return row;
  }

  function tickRow(row, now) {
    if (!row.timer) return;
    var left = ui.parseTime(row.order.pay_by) - now;
    if (left > 0) { row.timer.textContent = FS.t("order.pay_within", { time: ui.fmtCountdown(left) }); return; }
    row.timer.textContent = FS.t("order.times_up");
    if (row.pay) row.pay.forEach(function (b) { b.disabled = true; });
    if (!row.expiredSeen) { row.expiredSeen = true; poller.now(2000); }
  }

  /* Cards are rebuilt only when an order changes state, so a half-filled form survives refreshes. */
  function render() {
    var now = FS.clock.now();
    var seen = {};
    orders.forEach(function (order, index) {
      var key = String(order.id), row = rows[key];
      seen[key] = true;
      var payState = function (o) { return o.payment ? o.payment.status : ""; };
      if (row && (row.order.status !== order.status || row.order.share_url !== order.share_url ||
                  payState(row.order) !== payState(order))) {
        var fresh = buildRow(order);
        list.replaceChild(fresh.item, row.item);
        row = rows[key] = fresh;
      } else if (!row) {
        row = rows[key] = buildRow(order);
      }
      row.order = order;
      tickRow(row, now);
      if (list.children[index] !== row.item) list.insertBefore(row.item, list.children[index] || null);
    });
    Object.keys(rows).forEach(function (key) {
      if (!seen[key]) { list.removeChild(rows[key].item); delete rows[key]; }
    });
    empty.hidden = orders.length > 0;
    list.setAttribute("aria-busy", "false");
  }

  function replace(updated) {
    orders = orders.map(function (o) { return String(o.id) === String(updated.id) ? updated : o; });
    render();
  }

  /* The list comes from the database, which the order stream reaches a moment after a purchase:
     the order a "Pay now" link names (#order-<id>) is fetched on its own (Redis first) until then. */
  function withLinkedOrder() {
    var m = /^#order-(.+)$/.exec(window.location.hash || "");
    var id = m ? decodeURIComponent(m[1]) : "";
    if (!id || orders.some(function (o) { return String(o.id) === id; })) return Promise.resolve();
    return FS.api.get("/api/orders/" + FS.seg(id)).then(function (order) {
      if (order && !orders.some(function (o) { return String(o.id) === String(order.id); })) orders.unshift(order);
    }, function () { /* gone or not the caller's: the list stands as it is */ });
  }

  function load() {
    if (!FS.auth.signedIn()) {
      ui.say(msg, ui.signInPrompt("signin.orders"), "info");
      list.setAttribute("aria-busy", "false");
      return Promise.resolve();
    }
    return FS.api.get("/api/orders").then(function (data) {
      orders = Array.isArray(data) ? data : (data && Array.isArray(data.items) ? data.items : []);
      return withLinkedOrder();
    }).then(function () {
      if (msg.getAttribute("data-kind") !== "ok") ui.say(msg, "", "");
      render();
    }, function (err) {
      var code = err instanceof FS.ApiError ? err.code : "network_error";
      ui.say(msg, code === "unauthorized" ? ui.signInPrompt("signin.orders") : FS.messageFor(err), "error");
      list.setAttribute("aria-busy", "false");
    });
  }

  poller = ui.poll(load, function () {
    if (orders.some(pending)) return 3000; /* the provider's notice is on its way */
    return orders.some(function (o) { return o.status === "reserved"; }) ? 15000 : 60000;
  });
  ui.onTick(function (now) { Object.keys(rows).forEach(function (k) { tickRow(rows[k], now); }); });
})();
