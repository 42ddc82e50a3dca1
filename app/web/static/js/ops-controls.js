/* flashsale control room: the drops now (each with its phase, the pause included) and the controls of
 * one drop: pause and resume, stock, edits, a message, clone and cancel. A change that stops or ends
 * a sale (pause, stock, cancel) takes a second click within five seconds to confirm. */
(function () {
  "use strict";
  var FS = window.FS, ui = FS.ui, el = ui.el;
  function $(id) { return document.getElementById(id); }

  var picker = $("ctl-drop"), out = $("ctl-msg"), rows = $("drops-rows");
  var known = {}; /* drop id -> drop, from the last list */
  var current = null; /* the drop under control, as the API last answered it */
  var CONFIRM_MS = 5000;

  function base() { return "/api/admin/drops/" + FS.seg(current.id); }
  function fail(err) { ui.say(out, FS.messageFor(err), "error"); }

  /* ---------- the drops now ---------- */
  function phaseBadge(d) {
    var shown = d.paused && d.phase !== "ended" ? "paused" : d.phase;
    return el("span", { class: "badge", "data-phase": shown, text: FS.ops.phaseText(d) });
  }

  function renderList(drops) {
    ui.clear(rows);
    if (!drops.length) rows.appendChild(el("tr", {}, el("td", { colspan: "4", text: FS.t("ops.no_drops") })));
    drops.forEach(function (d) {
      var control = el("button", { class: "button", type: "button", text: FS.t("ops.control"),
        "aria-label": FS.t("ops.control") + " #" + d.id });
      control.addEventListener("click", function () { choose(String(d.id)); picker.focus(); });
      rows.appendChild(el("tr", {}, [
        el("td", {}, ["#" + d.id + " ", el("a", { href: "/drops/" + FS.seg(d.id), text: d.name }),
          el("span", { class: "meta", text: FS.t("ops.col_starts") + " " + ui.fmtDateTime(ui.parseTime(d.starts_at)) })]),
        el("td", {}, phaseBadge(d)),
        el("td", { class: "num", text: ui.fmtNumber(d.remaining) + " / " + ui.fmtNumber(d.stock) }),
        el("td", {}, [control, " ", el("a", { class: "button", href: "/ops/report/" + FS.seg(d.id), text: FS.t("ops.report_link"),
          "aria-label": FS.t("ops.report_link") + " #" + d.id })])
      ]));
    });
  }

  document.addEventListener("fs:drops", function (ev) {
    var drops = Array.isArray(ev.detail) ? ev.detail : [];
    known = {};
    drops.forEach(function (d) { known[String(d.id)] = d; });
    renderList(drops);
    var keep = picker.value;
    while (picker.options.length > 1) picker.remove(1);
    drops.forEach(function (d) {
      picker.appendChild(el("option", { value: String(d.id), text: "#" + d.id + " " + d.name + " · " + FS.ops.phaseText(d) }));
    });
    picker.value = known[keep] ? keep : "";
    if (current && known[String(current.id)]) show(known[String(current.id)]);
  });
  $("drops-refresh").addEventListener("click", function () { FS.ops.loadDrops(); });

  /* ---------- one drop's controls ---------- */
  var buttons = ["ctl-pause", "ctl-resume", "ctl-cancel", "message-clear"].map($);
  var forms = ["stock-form", "edit-form", "message-form", "clone-form"].map($);

  function enable(on) {
    buttons.forEach(function (b) { b.disabled = !on; });
    forms.forEach(function (f) { f.querySelector("button[type=submit]").disabled = !on; });
  }

  function show(drop) {
    current = drop;
    enable(!!drop && drop.phase !== "ended");
    if (!drop) { ui.say($("ctl-status"), FS.t("ops.ctl_need_drop"), "info"); $("ctl-notice").hidden = true; return; }
    $("ctl-status").textContent = FS.t("ops.ctl_status", { name: "#" + drop.id + " " + drop.name,
      phase: FS.ops.phaseText(drop), remaining: ui.fmtNumber(drop.remaining), stock: ui.fmtNumber(drop.stock) });
    $("ctl-pause").disabled = $("ctl-pause").disabled || !!drop.paused;
    $("ctl-resume").disabled = $("ctl-resume").disabled || !drop.paused;
    $("ctl-notice").hidden = !drop.notice;
    $("ctl-notice").textContent = drop.notice ? FS.t("ops.ctl_notice", { text: drop.notice }) : "";
    showVariants(drop);
  }

  /* A drop with variants changes stock through one of them: the stock form names it. */
  function showVariants(drop) {
    var field = $("stock-variant-field"), select = $("stock-variant"), keep = select.value;
    var variants = (drop && drop.variants) || [];
    ui.clear(select);
    variants.forEach(function (v) {
      select.appendChild(el("option", { value: v.sku, text: v.name + " (" + v.sku + ") · "
        + ui.fmtNumber(v.remaining) + " / " + ui.fmtNumber(v.stock) }));
    });
    if (variants.some(function (v) { return v.sku === keep; })) select.value = keep;
    field.hidden = variants.length === 0;
  }

  function choose(id) {
    picker.value = id;
    ui.say(out, "", "");
    if (!id) { show(null); return; }
    FS.api.get("/api/drops/" + FS.seg(id)).then(show, fail);
  }
  picker.addEventListener("change", function () { choose(picker.value); });

  /* The answer is the drop as changed: shown here, and the lists are read again. */
  function changed(drop, text) {
    show(drop);
    ui.say(out, text, "ok");
    FS.ops.loadDrops();
  }

  /* A confirmation on the button itself: pass() arms it on a first click (its label asks to click
   * again) and answers true on a second click within CONFIRM_MS. */
  function gate(button) {
    var label = button.textContent, timer = null;
    function reset() {
      window.clearTimeout(timer);
      button.removeAttribute("data-armed");
      button.textContent = label;
    }
    return {
      pass: function () {
        if (button.getAttribute("data-armed") === "true") { reset(); return true; }
        button.setAttribute("data-armed", "true");
        button.textContent = FS.t("ops.confirm_again");
        timer = window.setTimeout(reset, CONFIRM_MS);
        return false;
      }
    };
  }

  function confirmed(button, run) {
    var g = gate(button);
    button.addEventListener("click", function () { if (g.pass()) run(); });
  }

  function post(path, body, text) {
    return FS.api.post(base() + path, body).then(function (drop) { changed(drop, text(drop)); }, fail);
  }

  confirmed($("ctl-pause"), function () {
    post("/pause", undefined, function (d) { return FS.t("ops.paused_now", { id: d.id }); });
  });
  $("ctl-resume").addEventListener("click", function () {
    post("/resume", undefined, function (d) { return FS.t("ops.resumed_now", { id: d.id }); });
  });
  confirmed($("ctl-cancel"), function () {
    var refund = $("cancel-refund").checked;
    FS.api.post(base() + "/cancel", { refund_paid: refund }).then(function (res) {
      var text = FS.t("ops.cancelled", { id: res.drop.id, count: res.released });
      changed(res.drop, refund ? text + " " + FS.t("ops.refunds_asked") : text);
    }, fail);
  });

  /* Stock: the submit button arms on the first submit, applies on the second. */
  var stockForm = $("stock-form"), stockInput = $("stock-delta");
  var stockGate = gate(stockForm.querySelector("button[type=submit]"));
  stockForm.addEventListener("submit", function (ev) {
    ev.preventDefault();
    stockInput.removeAttribute("aria-invalid");
    var text = stockInput.value.trim(), delta = /^[+-]?\d{1,8}$/.test(text) ? parseInt(text, 10) : 0;
    if (!current || !delta) {
      stockInput.setAttribute("aria-invalid", "true");
      ui.say(out, FS.t("ops.stock_invalid"), "error");
      return;
    }
    if (!stockGate.pass()) return;
    var body = { stock_delta: delta };
    if (current.variants && current.variants.length) body.variant = $("stock-variant").value;
    FS.api.request("PATCH", base(), { json: body }).then(function (drop) {
      stockInput.value = "";
      changed(drop, FS.t("ops.stock_now", { stock: ui.fmtNumber(drop.stock), remaining: ui.fmtNumber(drop.remaining) }));
    }, fail);
  });

  /* Edits: only the fields filled in are sent. */
  var editForm = $("edit-form");
  editForm.addEventListener("submit", function (ev) {
    ev.preventDefault();
    if (!current) return;
    var body = {}, name = $("e-name").value.trim(), ends = $("e-ends").value;
    if (name) body.name = name;
    if (ends) {
      var at = new Date(ends); /* datetime-local: the operator's local time */
      if (!isNaN(at.getTime())) body.ends_at = at.toISOString();
    }
    [["e-limit", "per_user_limit"], ["e-admit", "admit_per_second"],
     ["e-wl-hold", "waitlist_hold_minutes"]].forEach(function (pair) {
      var v = $(pair[0]).value.trim();
      if (/^\d+$/.test(v)) body[pair[1]] = parseInt(v, 10);
    });
    if (!Object.keys(body).length) { ui.say(out, FS.t("ops.nothing_to_change"), "error"); return; }
    FS.api.request("PATCH", base(), { json: body }).then(function (drop) {
      editForm.reset();
      changed(drop, FS.t("ops.saved"));
    }, fail);
  });

  /* The message: shown at once on the drop's page and in its waiting room, as plain text. */
  var messageText = $("message-text");
  function message(text, said) {
    FS.api.post(base() + "/message", { text: text }).then(function (drop) {
      messageText.value = "";
      changed(drop, FS.t(said));
    }, fail);
  }
  $("message-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    if (!current) return;
    var text = messageText.value.trim();
    if (!text) { ui.say(out, FS.t("ops.message_empty"), "error"); return; }
    message(text, "ops.message_posted");
  });
  $("message-clear").addEventListener("click", function () { if (current) message("", "ops.message_cleared"); });

  /* Clone: a new upcoming drop with the same product, picture and settings. */
  $("clone-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    if (!current) return;
    var starts = $("clone-starts").value, body = {};
    if (starts) {
      var at = new Date(starts);
      if (!isNaN(at.getTime())) body.starts_at = at.toISOString();
    }
    FS.api.post(base() + "/clone", body).then(function (drop) {
      ui.say(out, [FS.t("ops.created", { id: drop.id, time: ui.fmtDateTime(ui.parseTime(drop.starts_at)) }) + " ",
        el("a", { href: "/drops/" + FS.seg(drop.id), text: FS.t("ops.open_page") })], "ok");
      $("clone-form").reset();
      FS.ops.loadDrops();
    }, fail);
  });

  show(null);
})();
