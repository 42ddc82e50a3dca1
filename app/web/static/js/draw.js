/* flashsale draw on the drop page (drops with "mode": "draw"): enter and withdraw in the entry window,
 * the countdown to the draw, then the result (won: buy until ...; backup: your place; lost), and how
 * anyone checks the draw (the commitment, the seed, the verifier script). */
(function () {
  "use strict";
  var FS = window.FS, ui = FS.ui;
  function $(id) { return document.getElementById(id); }
  var n = {
    box: $("draw"), window: $("draw-window"), countdown: $("draw-countdown"), status: $("draw-status"),
    enter: $("draw-enter"), withdraw: $("draw-withdraw"), commitment: $("draw-commitment"), seed: $("draw-seed"),
    figures: $("draw-figures"), command: $("draw-command"), entries: $("draw-entries"), results: $("draw-results")
  };
  if (!n.box) return;
  var d = { drop: null, path: "", entry: null, draw: null, busy: false, onChange: null, timer: null };

  function say(text) { if (n.status.textContent !== text) n.status.textContent = text; }
  function at(name) { return ui.parseTime(d.drop[name]); }
  function changed() { if (d.onChange) d.onChange(); }

  function render(now) {
    if (!d.drop) return;
    now = now === undefined ? FS.clock.now() : now;
    var opens = at("entries_open_at"), closes = at("entries_close_at"), draws = at("starts_at");
    var inWindow = now >= opens && now < closes;
    n.window.textContent = FS.t("draw.window", { opens: ui.fmtDateTime(opens), closes: ui.fmtDateTime(closes),
      draw: ui.fmtDateTime(draws) });
    n.countdown.textContent = now < opens ? FS.t("draw.opens_in", { time: ui.fmtCountdown(opens - now) })
      : now < draws ? FS.t("draw.draw_in", { time: ui.fmtCountdown(draws - now) }) : "";
    var e = d.entry, signedIn = FS.auth.signedIn();
    n.enter.hidden = !signedIn || !!e || !inWindow;
    n.withdraw.hidden = !e || e.status !== "entered" || !inWindow;
    n.enter.disabled = n.withdraw.disabled = d.busy;
    if (!signedIn) { say(FS.t("draw.sign_in")); return; }
    if (!e) { say(inWindow ? FS.t("draw.not_entered") : now < opens ? "" : FS.t("draw.closed")); return; }
    if (e.voided) { say(FS.t("draw.voided")); return; }
    if (e.status === "entered") { say(now < draws ? FS.t("draw.entered") : FS.t("draw.drawing")); return; }
    if (e.status === "won") { say(FS.t("draw.won", { time: ui.fmtDateTime(ui.parseTime(e.buy_until)) })); return; }
    if (e.status === "backup") { say(FS.t("draw.backup", { place: e.rank })); return; }
    if (e.status === "bought") { say(FS.t("draw.bought")); return; }
    if (e.status === "lapsed") { say(FS.t("draw.lapsed")); return; }
    say(FS.t("draw.lost", { rank: e.rank || "–" }));
  }

  function renderDraw() {
    var w = d.draw;
    if (!w) return;
    n.commitment.textContent = w.commitment || FS.t("draw.commitment_later");
    n.seed.textContent = w.seed || FS.t("draw.seed_later");
    n.figures.textContent = FS.t("draw.figures_text", { entries: ui.fmtNumber(w.entries),
      winners: w.winners === null ? "–" : ui.fmtNumber(w.winners), backups: w.backups === null ? "–" : ui.fmtNumber(w.backups),
      voided: ui.fmtNumber(w.voided) });
    n.command.textContent = "python3 verify_draw.py " + window.location.origin + "/drops/" + d.drop.id;
    n.entries.href = d.path + "/draw/entries.txt";
    n.results.href = d.path + "/draw/results.txt";
  }

  function refresh() {
    var draw = FS.api.get(d.path + "/draw", { auth: false }).then(function (w) { d.draw = w; renderDraw(); },
      function () { /* shown on the next beat */ });
    var entry = !FS.auth.signedIn() ? Promise.resolve() : FS.api.get(d.path + "/entry").then(function (e) {
      var before = d.entry ? d.entry.status : null;
      d.entry = e;
      if (before !== e.status) changed();
    }, function (err) {
      if (err instanceof FS.ApiError && err.code === "not_entered") { d.entry = null; }
    });
    return Promise.all([draw, entry]).then(function () { render(); });
  }

  function schedule() {
    window.clearTimeout(d.timer);
    var soon = d.drop && Math.abs(FS.clock.now() - at("starts_at")) < 120000;
    d.timer = window.setTimeout(function () { refresh().then(schedule); }, soon ? 3000 + Math.random() * 2000 : 20000);
  }

  function act(method) {
    d.busy = true;
    render();
    FS.api.request(method, d.path + "/entry", method === "PUT" ? { json: {} } : {}).then(function (e) {
      d.entry = method === "PUT" ? e : null;
    }, function (err) { say(FS.messageFor(err)); }).then(function () {
      d.busy = false;
      return refresh();
    });
  }
  n.enter.addEventListener("click", function () { act("PUT"); });
  n.withdraw.addEventListener("click", function () { act("DELETE"); });

  FS.draw = {
    /* Starts the draw section for a draw drop; onChange() fires when the caller's result moves. */
    start: function (drop, path, onChange) {
      var first = d.drop === null;
      d.drop = drop;
      d.path = path;
      d.onChange = onChange;
      n.box.hidden = false;
      render();
      if (first) { refresh().then(schedule); ui.onTick(render); }
    },
    /* May the caller buy now without an F-code (a standing win)? */
    won: function () {
      return !!d.entry && d.entry.status === "won" && ui.parseTime(d.entry.buy_until) > FS.clock.now();
    }
  };
})();
