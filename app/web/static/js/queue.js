/* flashsale waiting room on the drop page: join (solving the ALTCHA proof of work in the browser),
 * then poll the ticket every 1-2 s (jittered, so a crowd does not poll in lockstep), showing the
 * place and a progress bar, until the buyer is admitted and the buy button takes over. */
(function () {
  "use strict";
  var FS = window.FS, ui = FS.ui;
  function $(id) { return document.getElementById(id); }
  var n = {
    box: $("queue"), status: $("queue-status"), progressBox: $("queue-progress-box"), progress: $("queue-progress"),
    place: $("queue-place"), challenge: $("queue-challenge"), join: $("queue-join")
  };
  var POLL_MIN_MS = 1000, POLL_JITTER_MS = 900; /* every 1.0-1.9 s */
  var q = { drop: null, path: "", ticket: null, firstPosition: null, timer: null, joining: false, onChange: null };

  function changed() { if (q.onChange) q.onChange(q.ticket); }

  function windowOpen() {
    var d = q.drop, now = FS.clock.now();
    var opens = ui.parseTime(d.starts_at) - d.prequeue_minutes * 60000;
    return now >= opens && now < ui.parseTime(d.ends_at);
  }

  function say(text) { n.status.textContent = text; }

  function render() {
    var t = q.ticket, d = q.drop;
    n.join.hidden = !!t || !FS.auth.signedIn();
    n.progressBox.hidden = !t || (t.status !== "waiting" && t.status !== "sold_out") || t.position === null;
    if (!FS.auth.signedIn()) { say(FS.t("queue.sign_in")); return; }
    if (!t) {
      var opens = ui.parseTime(d.starts_at) - d.prequeue_minutes * 60000;
      if (FS.clock.now() < opens) {
        n.join.disabled = true;
        say(FS.t("queue.opens_at", { time: ui.fmtTime(opens), count: d.prequeue_minutes }));
      } else {
        n.join.disabled = q.joining || !windowOpen();
        if (!q.joining) say(FS.t("queue.join_prompt"));
      }
      return;
    }
    if (t.status === "waiting" && t.position === null) {
      say(FS.t("queue.drawn_at", { time: ui.fmtTime(ui.parseTime(t.starts_at)) }));
    } else if (t.status === "waiting" || t.status === "sold_out") {
      if (q.firstPosition === null || t.position > q.firstPosition) q.firstPosition = t.position;
      var ahead = t.position - 1, first = Math.max(1, q.firstPosition - 1);
      n.progress.max = 1;
      n.progress.value = q.firstPosition <= 1 ? 1 : Math.max(0, Math.min(1, (first - ahead) / first));
      var place = { position: t.position, total: t.waiting || t.position };
      if (t.eta_seconds !== null && t.status === "waiting") {
        place.duration = ui.fmtDuration(Math.max(1, t.eta_seconds));
        n.place.textContent = FS.t("queue.place_eta", place);
      } else {
        n.place.textContent = FS.t("queue.place", place);
      }
      /* waiting_for_units: the turn waits for units to come back, not for the pace: no time to show */
      say(FS.t(t.status === "sold_out" ? "queue.sold_out" : t.waiting_for_units ? "queue.waiting_for_units" : "queue.in_line"));
      if (t.paused) say(FS.t("queue.paused")); /* an operator paused the drop: nobody is let in meanwhile */
    } else if (t.status === "admitted") {
      say(FS.t("queue.admitted", { time: ui.fmtTime(ui.parseTime(t.admitted_until)) }));
    } else if (t.status === "done") {
      say(FS.t("queue.done"));
    } else if (t.status === "expired") {
      say(FS.t("queue.expired"));
    }
  }

  function schedule() {
    window.clearTimeout(q.timer);
    if (!q.ticket || q.ticket.status === "done" || q.ticket.status === "expired") return;
    q.timer = window.setTimeout(refresh, POLL_MIN_MS + Math.floor(Math.random() * POLL_JITTER_MS));
  }

  function take(ticket) {
    var before = q.ticket;
    q.ticket = ticket;
    render();
    /* The status moved, or the operator paused, resumed or posted a message (shown by the drop page). */
    if (!before || before.status !== ticket.status || before.paused !== ticket.paused || before.notice !== ticket.notice) changed();
    schedule();
  }

  function refresh() {
    return FS.api.get(q.path + "/queue").then(take, function (err) {
      if (err instanceof FS.ApiError && err.code === "not_in_queue") { q.ticket = null; render(); changed(); return; }
      schedule(); /* a blip: try again on the next beat */
    });
  }

  function solve() {
    /* The widget (app/web/static/vendor/altcha, shipped with the app) does the proof of work in workers. */
    return FS.api.get(q.path + "/queue/challenge").then(function (challenge) {
      return window.customElements.whenDefined("altcha-widget").then(function () {
        return new Promise(function (resolve, reject) {
          var widget = document.createElement("altcha-widget");
          widget.addEventListener("verified", function (ev) { resolve(ev.detail.payload); });
          widget.addEventListener("statechange", function (ev) {
            if (ev.detail.state === "error" || ev.detail.state === "expired") reject(new Error("challenge " + ev.detail.state));
          });
          widget.addEventListener("load", function () {
            window.$altcha.algorithms.set("SHA-256", function () {
              return new Worker("/static/vendor/altcha/sha.worker.js");
            });
            widget.configure({ challenge: challenge, hideFooter: true, hideLogo: true, minDuration: 0 });
            widget.verify();
          });
          n.challenge.replaceChildren(widget);
        });
      });
    });
  }

  function join() {
    if (q.joining) return;
    q.joining = true;
    n.join.disabled = true;
    say(FS.t(q.drop.challenge ? "queue.checking" : "queue.joining"));
    var payload = q.drop.challenge ? solve() : Promise.resolve(null);
    payload.then(function (altcha) {
      return FS.api.post(q.path + "/queue", altcha ? { altcha: altcha } : {});
    }).then(function (ticket) {
      q.joining = false;
      n.challenge.replaceChildren();
      take(ticket);
    }, function (err) {
      q.joining = false;
      n.challenge.replaceChildren();
      render();
      say(err instanceof FS.ApiError ? FS.messageFor(err) : FS.t("queue.check_failed"));
    });
  }

  n.join.addEventListener("click", join);
  /* Back to a hidden tab (browsers slow its timers): show the place now, not on the next beat. */
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible" && q.ticket) refresh();
  });

  FS.queue = {
    /* Starts the room for a drop with waiting_room on; onChange(ticket) fires when the status moves
     * (or the ticket's paused / notice change). */
    start: function (drop, path, onChange) {
      var first = q.drop === null;
      q.drop = drop;
      q.path = path;
      q.onChange = onChange;
      n.box.hidden = false;
      if (first) {
        render();
        if (FS.auth.signedIn()) refresh();
      } else {
        render();
      }
    },
    ticket: function () { return q.ticket; },
    admitted: function () {
      return !!q.ticket && q.ticket.status === "admitted" && ui.parseTime(q.ticket.admitted_until) > FS.clock.now();
    },
    refresh: refresh
  };
})();
