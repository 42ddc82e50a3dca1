/* flashsale F-codes (employees): claim the month's codes, list them, copy, gift, take back. */
(function () {
  "use strict";
  var FS = window.FS, ui = FS.ui, el = ui.el;
  var list = document.getElementById("fcode-list");
  var empty = document.getElementById("fcodes-empty");
  var msg = document.getElementById("fcodes-msg");
  var claim = document.getElementById("claim");
  var STATUS_LABEL = {
    available: FS.t("fcode.available"), reserved: FS.t("fcode.reserved"), redeemed: FS.t("fcode.redeemed"),
    expired: FS.t("fcode.expired"), revoked: FS.t("fcode.revoked")
  };

  function safeId(code) { return String(code).replace(/[^A-Za-z0-9_-]/g, "_"); }
  function codePath(code) { return "/api/fcodes/" + FS.seg(code); }

  function expiryText(fcode) {
    var at = ui.parseTime(fcode.expires_at);
    if (isNaN(at)) return FS.t("fcode.no_expiry");
    var days = Math.ceil((at - FS.clock.now()) / 86400000);
    var when = ui.fmtDateTime(at);
    if (days < 0) return FS.t("fcode.expired_at", { time: when });
    return days <= 1 ? FS.t("fcode.expires_soon", { time: when }) : FS.t("fcode.expires_in", { time: when, count: days });
  }

  function giftForm(fcode, say) {
    var sid = safeId(fcode.code);
    var input = el("input", { id: "gift-" + sid, type: "email", autocomplete: "email", required: true,
      maxlength: "320", placeholder: "friend@example.com" });
    var button = el("button", { class: "button fixed", type: "submit", text: FS.t("fcode.give"),
      "aria-label": FS.t("fcode.give_label", { code: fcode.code }) });
    var form = el("form", { class: "gift-form", novalidate: true }, [
      el("label", { for: "gift-" + sid, text: FS.t("fcode.give_to") }),
      el("div", { class: "inline" }, [input, button])
    ]);
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var email = input.value.trim();
      if (!email || email.indexOf("@") < 1) {
        input.setAttribute("aria-invalid", "true");
        say(FS.t("fcode.need_email"), "error");
        return;
      }
      input.removeAttribute("aria-invalid");
      button.disabled = true;
      say(FS.t("fcode.sending"), "info");
      FS.api.post(codePath(fcode.code) + "/gift", { email: email }).then(function () {
        ui.say(msg, FS.t("fcode.given", { code: fcode.code, email: email }), "ok");
        return load();
      }, function (err) {
        button.disabled = false;
        say(FS.messageFor(err), "error");
      });
    });
    return form;
  }

  function takeBack(fcode, say) {
    var button = el("button", { class: "button fixed", type: "button", text: FS.t("fcode.take_back"),
      "aria-label": FS.t("fcode.take_back_label", { code: fcode.code }) });
    button.addEventListener("click", function () {
      button.disabled = true;
      FS.api.del(codePath(fcode.code) + "/gift").then(function () {
        ui.say(msg, FS.t("fcode.yours_again", { code: fcode.code }), "ok");
        return load();
      }, function (err) {
        button.disabled = false;
        say(FS.messageFor(err), "error");
      });
    });
    return button;
  }

  function buildItem(fcode) {
    var note = el("p", { class: "msg", role: "status", "aria-live": "polite" });
    function say(text, kind) { ui.say(note, text, kind); }
    var copy = el("button", { class: "button fixed", type: "button", text: FS.t("common.copy"),
      "aria-label": FS.t("fcode.copy_label", { code: fcode.code }) });
    copy.addEventListener("click", function () { ui.copyText(fcode.code, copy); });
    var gifted = typeof fcode.gifted_to === "string" && fcode.gifted_to ? fcode.gifted_to : null;
    var extra = [];
    var givenBy = typeof fcode.given_by === "string" && fcode.given_by ? fcode.given_by : null;
    if (givenBy) {
      extra.push(el("p", { text: FS.t("fcode.given_by", { email: givenBy }) }));  /* a friend's gift to me */
    } else if (gifted) {
      extra.push(el("p", { text: FS.t("fcode.given_to", { email: gifted }) }));
      if (fcode.status === "available") extra.push(takeBack(fcode, say));
    } else if (fcode.status === "available") {
      extra.push(giftForm(fcode, say));
    }
    var usable = fcode.status === "available";
    return el("li", { class: "card fcode-card", id: "fcode-" + safeId(fcode.code) }, [
      el("span", { class: "badge", "data-phase": usable ? "open" : "ended", text: STATUS_LABEL[fcode.status] || fcode.status }),
      el("p", { class: "fcode-row" }, [el("code", { class: "fcode", text: fcode.code }), copy]),
      el("p", { class: "meta", text: fcode.month + " · " + (fcode.sku ? FS.t("fcode.for_sku", { sku: fcode.sku }) : FS.t("fcode.any_product")) }),
      el("p", { class: "meta", text: expiryText(fcode) }),
      fcode.order_id !== null && fcode.order_id !== undefined
        ? el("p", { class: "meta" }, [FS.t("fcode.order") + " ", el("a", { href: "/orders", text: String(fcode.order_id) })]) : null,
      el("div", { class: "fcode-actions" }, extra),
      note
    ]);
  }

  function render(codes) {
    ui.clear(list);
    codes.forEach(function (c) { list.appendChild(buildItem(c)); });
    empty.hidden = codes.length > 0;
    list.setAttribute("aria-busy", "false");
  }

  function denied(err) {
    var code = err instanceof FS.ApiError ? err.code : "network_error";
    if (code === "unauthorized") return ui.signInPrompt("signin.fcodes");
    if (code === "forbidden") return FS.t("fcode.employees_only");
    return FS.messageFor(err);
  }

  function load() {
    if (!FS.auth.signedIn()) {
      ui.say(msg, ui.signInPrompt("signin.fcodes"), "info");
      claim.disabled = true;
      list.setAttribute("aria-busy", "false");
      return Promise.resolve();
    }
    return FS.api.get("/api/fcodes").then(function (data) {
      render(Array.isArray(data) ? data : (data && Array.isArray(data.items) ? data.items : []));
    }, function (err) {
      ui.say(msg, denied(err), "error");
      claim.disabled = err instanceof FS.ApiError && (err.code === "forbidden" || err.code === "unauthorized");
      list.setAttribute("aria-busy", "false");
    });
  }

  claim.addEventListener("click", function () {
    claim.disabled = true;
    ui.say(msg, FS.t("fcode.claiming"), "info");
    FS.api.post("/api/fcodes/claim").then(function (res) {
      var count = res && Array.isArray(res.codes) ? res.codes.length : 0;
      ui.say(msg, FS.t("fcode.claimed", { count: count, month: res && res.month || "" }), "ok");
      claim.disabled = false;
      return load();
    }, function (err) {
      claim.disabled = false;
      ui.say(msg, denied(err), "error");
    });
  });

  load();
})();
