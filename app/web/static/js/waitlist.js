/* flashsale drop page: the waitlist after sell-out. Join (the place in line shows), leave, and once a
 * unit that came back is held for the caller, "held for you until ...: buy now" with the page's buy
 * button enabled for it (drop.js asks FS.waitlist.held()). The place is looked at again with each of
 * the drop's polls only while the caller is on the waitlist. */
(function () {
  "use strict";
  var FS = window.FS, ui = FS.ui;
  function $(id) { return document.getElementById(id); }
  var w = { drop: null, standing: null, checked: false, busy: false };
  FS.waitlist = {
    held: function () {
      var s = w.standing;
      return !!(s && s.status === "held" && ui.parseTime(s.held_until) > FS.clock.now());
    }
  };
  var box = $("waitlist"), status = $("waitlist-status"), join = $("waitlist-join"), leave = $("waitlist-leave");
  var msg = $("waitlist-msg");
  if (!box) return;
  var path = "/api/drops/" + FS.seg($("main").getAttribute("data-drop-id") || "") + "/waitlist";

  function say(text) { if (status.textContent !== text) status.textContent = text; }

  function wanted() {
    var d = w.drop;
    if (!d || d.mode === "draw" || d.phase === "ended") return false;
    return d.phase === "sold_out" || !!w.standing;
  }

  function render() {
    box.hidden = !wanted();
    if (box.hidden) return;
    var s = w.standing;
    if (s && s.status === "held") say(FS.t("waitlist.held", { time: ui.fmtTime(ui.parseTime(s.held_until)) }));
    else if (s) say(FS.t("waitlist.position", { position: ui.fmtNumber(s.position) }));
    else say(FS.t("waitlist.intro", { minutes: ui.fmtNumber(w.drop.waitlist_hold_minutes || 10) }));
    join.hidden = !!s;
    leave.hidden = !s;
    var label = FS.auth.signedIn() ? FS.t("waitlist.join") : FS.t("waitlist.sign_in");
    if (join.textContent !== label) join.textContent = label;
  }

  function check() {
    if (!FS.auth.signedIn()) { w.standing = null; render(); return Promise.resolve(); }
    return FS.api.get(path).then(function (s) { w.standing = s; }, function (err) {
      if (err && err.status === 404) w.standing = null;
    }).then(render);
  }

  function act(request, done) {
    if (w.busy) return;
    w.busy = true;
    join.disabled = leave.disabled = true;
    request().then(done, function (err) { ui.say(msg, FS.messageFor(err), "error"); })
      .then(render).then(function () { w.busy = false; join.disabled = leave.disabled = false; });
  }

  join.addEventListener("click", function () {
    if (!FS.auth.signedIn()) { window.location.href = "/login?next=" + encodeURIComponent(window.location.pathname); return; }
    act(function () { return FS.api.request("PUT", path); }, function (s) {
      w.standing = s;
      ui.say(msg, FS.t("waitlist.joined"), "ok");
    });
  });
  leave.addEventListener("click", function () {
    act(function () { return FS.api.del(path); }, function () {
      w.standing = null;
      ui.say(msg, FS.t("waitlist.left"), "ok");
    });
  });

  document.addEventListener("fs:drop", function (ev) {
    w.drop = ev.detail;
    /* Looked at once when the drop shows sold out, then with every poll while on the waitlist. */
    if (wanted() && (!w.checked || w.standing)) { w.checked = true; check(); } else render();
  });
  document.addEventListener("fs:auth", function () { w.checked = false; if (w.drop) check(); });
})();
