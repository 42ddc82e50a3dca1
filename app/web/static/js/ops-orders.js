/* flashsale control room: the order list (filters, "more" pages through the cursor) and a drop's CSV
 * export, fetched with the operator's token (a plain link could not send it) and saved as a file. */
(function () {
  "use strict";
  var FS = window.FS, ui = FS.ui, el = ui.el;
  function $(id) { return document.getElementById(id); }

  var form = $("orders-form"), dropSelect = $("o-drop"), statusSelect = $("o-status");
  var rows = $("o-rows"), more = $("o-more"), out = $("o-msg");
  var STATUS_LABEL = { reserved: FS.t("order.reserved"), paid: FS.t("order.paid"), expired: FS.t("order.expired"),
    cancelled: FS.t("order.cancelled"), refunded: FS.t("order.refunded") };
  var next = null, filters = null;

  document.addEventListener("fs:drops", function (ev) {
    var keep = dropSelect.value;
    while (dropSelect.options.length > 1) dropSelect.remove(1);
    (Array.isArray(ev.detail) ? ev.detail : []).forEach(function (d) {
      dropSelect.appendChild(el("option", { value: String(d.id), text: "#" + d.id + " " + d.name }));
    });
    if (keep) {
      if (!Array.prototype.some.call(dropSelect.options, function (o) { return o.value === keep; })) {
        dropSelect.appendChild(el("option", { value: keep, text: "#" + keep })); /* an ended drop stays chosen */
      }
      dropSelect.value = keep;
    }
  });

  function row(o) {
    return el("tr", {}, [
      el("td", {}, [el("code", { class: "any", text: o.id }), el("span", { class: "meta", text: ui.fmtDateTime(ui.parseTime(o.created_at)) })]),
      el("td", {}, el("span", { class: "badge", "data-phase": o.status, text: STATUS_LABEL[o.status] || o.status })),
      el("td", { class: "num", text: ui.fmtNumber(o.quantity) + " × " + ui.fmtMoney(o.amount_cents / o.quantity, o.currency) }),
      el("td", { class: "any", text: o.buyer_email || "#" + o.user_id })
    ]);
  }

  function load(first) {
    var params = new URLSearchParams(filters);
    if (!first && next) params.set("cursor", next);
    more.disabled = true;
    return FS.api.get("/api/admin/orders?" + params.toString()).then(function (page) {
      if (first) ui.clear(rows);
      (page.items || []).forEach(function (o) { rows.appendChild(row(o)); });
      if (first && !(page.items || []).length) rows.appendChild(el("tr", {}, el("td", { colspan: "4", text: FS.t("ops.o_empty") })));
      next = page.next_cursor || null;
      more.hidden = !next;
      more.disabled = false;
      ui.say(out, "", "");
    }, function (err) {
      more.disabled = false;
      ui.say(out, FS.messageFor(err), "error");
    });
  }

  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    filters = {};
    if (dropSelect.value) filters.drop_id = dropSelect.value;
    if (statusSelect.value) filters.status = statusSelect.value;
    next = null;
    load(true);
  });
  more.addEventListener("click", function () { load(false); });

  $("o-csv").addEventListener("click", function () {
    var id = dropSelect.value, button = $("o-csv");
    if (!id) { dropSelect.focus(); ui.say(out, FS.t("ops.o_csv_need_drop"), "error"); return; }
    button.disabled = true;
    ui.say(out, FS.t("ops.o_csv_preparing"), "info");
    FS.api.raw("GET", "/api/admin/drops/" + FS.seg(id) + "/orders.csv", { headers: { Accept: "text/csv" } })
      .then(function (res) {
        if (!res.ok) return FS.api.errorFrom(res).then(function (err) { throw err; });
        return res.blob();
      })
      .then(function (blob) {
        var url = URL.createObjectURL(blob);
        var link = el("a", { href: url, download: "drop-" + id + "-orders.csv", hidden: true });
        document.body.appendChild(link);
        link.click();
        link.remove();
        window.setTimeout(function () { URL.revokeObjectURL(url); }, 30000);
        button.disabled = false;
        ui.say(out, FS.t("ops.o_csv_done"), "ok");
      }, function (err) {
        button.disabled = false;
        ui.say(out, FS.messageFor(err), "error");
      });
  });
})();
