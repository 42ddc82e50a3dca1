/* flashsale operator dashboard, live part: Server-Sent Events read through fetch() (EventSource
 * can't send an Authorization header), a rolling series of stats with units/s, and a canvas chart. */
(function () {
  "use strict";
  var FS = window.FS;
  var WINDOW_MS = 5 * 60 * 1000;

  /* ---------- SSE parsing (https://html.spec.whatwg.org/#event-stream-interpretation) ---------- */
  function readEvents(res, onEvent, onActivity) {
    var reader = res.body.getReader();
    var decoder = new TextDecoder();
    var buf = "", data = [], name = "", first = true;

    function line(text) {
      if (text === "") {
        if (data.length) onEvent({ event: name || "message", data: data.join("\n") });
        data = [];
        name = "";
        return;
      }
      if (text.charAt(0) === ":") return; /* comment / heartbeat */
      var i = text.indexOf(":");
      var field = i < 0 ? text : text.slice(0, i);
      var value = i < 0 ? "" : text.slice(i + 1);
      if (value.charAt(0) === " ") value = value.slice(1);
      if (field === "data") data.push(value);
      else if (field === "event") name = value;
    }
    function drain() {
      for (;;) {
        var cr = buf.indexOf("\r"), lf = buf.indexOf("\n"), at, len;
        if (cr < 0 && lf < 0) return;
        if (cr >= 0 && (lf < 0 || cr < lf)) {
          if (cr === buf.length - 1) return; /* a \r\n may be split across chunks */
          at = cr;
          len = buf.charAt(cr + 1) === "\n" ? 2 : 1;
        } else {
          at = lf;
          len = 1;
        }
        line(buf.slice(0, at));
        buf = buf.slice(at + len);
      }
    }
    function pump() {
      return reader.read().then(function (chunk) {
        if (chunk.done) return;
        onActivity();
        buf += decoder.decode(chunk.value, { stream: true });
        if (first) { buf = buf.replace(/^\uFEFF/, ""); first = false; }
        drain();
        return pump();
      });
    }
    return pump();
  }

  /* ---------- a drop's live feed: stream, reconnect with backoff, or poll if there's no stream ----------
   * handlers.stats(stats) on each sample; handlers.state(kind, text) on connection changes.  */
  function watch(dropId, handlers) {
    var base = "/api/admin/drops/" + FS.seg(dropId);
    var stopped = false, controller = null, timer = null, watchdog = null, backoff = 1000;

    function later(fn, ms) { window.clearTimeout(timer); timer = window.setTimeout(fn, ms); }
    function fatal(err) {
      var code = err instanceof FS.ApiError ? err.code : "";
      return code === "unauthorized" || code === "forbidden" || code === "drop_not_found";
    }
    function fail(err) {
      stop();
      handlers.state("error", FS.messageFor(err));
    }
    function retry(text) {
      handlers.state("retrying", FS.t(text) + " " + FS.t("live.reconnecting", { seconds: Math.round(backoff / 1000) }));
      later(connect, backoff);
      backoff = Math.min(backoff * 2, 15000);
    }
    function emit(text) {
      var stats;
      try { stats = JSON.parse(text); } catch (e) { return; }
      if (stats && typeof stats === "object") handlers.stats(stats);
    }
    function arm() { /* no bytes for 15 s (events come about once a second): reconnect */
      window.clearTimeout(watchdog);
      watchdog = window.setTimeout(function () { if (controller) controller.abort(); }, 15000);
    }

    function connect() {
      if (stopped) return;
      handlers.state("connecting", FS.t("live.connecting"));
      controller = new AbortController();
      var mine = controller;
      arm();
      FS.api.raw("GET", base + "/events", { headers: { Accept: "text/event-stream" }, signal: mine.signal })
        .then(function (res) {
          if (!res.ok) return FS.api.errorFrom(res).then(function (err) { throw err; });
          if (!res.body || (res.headers.get("Content-Type") || "").indexOf("text/event-stream") < 0) {
            throw new FS.ApiError(404, { code: "not_found", detail: "no event stream" }, null);
          }
          handlers.state("live", FS.t("live.live"));
          backoff = 1000;
          return readEvents(res, function (ev) { if (ev.event === "message" || ev.event === "stats") emit(ev.data); }, arm);
        })
        .then(function () { if (!stopped) retry("live.closed"); },
          function (err) {
            if (stopped) return;
            if (fatal(err)) { fail(err); return; }
            if (err instanceof FS.ApiError && (err.status === 404 || err.status === 405)) { poll(); return; }
            retry(err && err.name === "AbortError" ? "live.quiet" : "live.dropped");
          });
    }

    /* Fallback: the stats endpoint, once a second. */
    function poll() {
      window.clearTimeout(watchdog);
      if (stopped) return;
      FS.api.get(base + "/stats").then(function (stats) {
        handlers.state("polling", FS.t("live.polling"));
        if (!stopped) handlers.stats(stats);
        later(poll, 1000);
      }, function (err) {
        if (stopped) return;
        if (fatal(err)) { fail(err); return; }
        handlers.state("retrying", FS.messageFor(err));
        later(poll, 3000);
      });
    }

    function stop() {
      stopped = true;
      window.clearTimeout(timer);
      window.clearTimeout(watchdog);
      if (controller) controller.abort();
    }

    connect();
    return { stop: stop };
  }

  /* ---------- rolling series: units/s from the count of units ever reserved ---------- */
  function Series() { this.samples = []; this.peak = 0; }
  Series.prototype.add = function (stats, t) {
    var taken = (stats.reserved | 0) + (stats.paid | 0) + (stats.expired | 0) + (stats.cancelled | 0);
    var prev = this.samples[this.samples.length - 1];
    var rate = 0;
    if (prev && t > prev.t) rate = Math.max(0, (taken - prev.taken) / ((t - prev.t) / 1000));
    this.samples.push({ t: t, taken: taken, remaining: stats.remaining | 0, rate: rate });
    if (prev) this.peak = Math.max(this.peak, rate);
    while (this.samples.length && this.samples[0].t < t - WINDOW_MS) this.samples.shift();
  };
  /* Average over the last few seconds: steadier than one sample. */
  Series.prototype.rate = function (spanMs) {
    var s = this.samples, last = s[s.length - 1];
    if (!last) return 0;
    var from = last;
    for (var i = s.length - 1; i >= 0 && s[i].t >= last.t - (spanMs || 5000); i--) from = s[i];
    return last.t > from.t ? Math.max(0, (last.taken - from.taken) / ((last.t - from.t) / 1000)) : last.rate;
  };

  /* ---------- chart: remaining (line, left axis) and units/s (bars, right axis) ---------- */
  function cssVar(node, name, fallback) {
    var v = window.getComputedStyle(node).getPropertyValue(name).trim();
    return v || fallback;
  }
  /* The top of an axis with four round steps (0, 10, 20, 30, 40 rather than 0, 7.5, 15...). */
  function axisMax(v) {
    var step = Math.max(v, 1e-9) / 4;
    var p = Math.pow(10, Math.floor(Math.log10(step))), m = step / p;
    return 4 * (m <= 1 ? 1 : m <= 2 ? 2 : m <= 2.5 ? 2.5 : m <= 5 ? 5 : 10) * p;
  }
  /* The time span shown grows with the data (1, 2, then 5 minutes): a fresh watch isn't a sliver at the edge. */
  var SPANS = [{ ms: 60000, every: 10000 }, { ms: 120000, every: 20000 }, { ms: WINDOW_MS, every: 60000 }];
  function spanFor(samples, now) {
    var age = samples.length ? now - samples[0].t : 0;
    for (var i = 0; i < SPANS.length - 1; i++) if (age <= SPANS[i].ms) return SPANS[i];
    return SPANS[SPANS.length - 1];
  }
  /* Axis labels in the page's language ("-30 s", "-30 秒", "-30초"; "now", "现在", "지금"). */
  function ago(ms) {
    return ms >= 60000 ? FS.t("ops.axis_minutes_ago", { n: ms / 60000 }) : FS.t("ops.axis_seconds_ago", { n: ms / 1000 });
  }

  function tick(v) {
    if (v >= 10000) return Math.round(v / 1000) + "k";
    return String(v >= 10 ? Math.round(v) : +v.toFixed(1));
  }

  function drawChart(canvas, series, stock, now) {
    var dpr = window.devicePixelRatio || 1;
    var w = canvas.clientWidth || 600, h = canvas.clientHeight || 240;
    if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
      canvas.width = Math.round(w * dpr);
      canvas.height = Math.round(h * dpr);
    }
    var ctx = canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);
    var pad = { l: 44, r: 40, t: 10, b: 20 };
    var pw = Math.max(10, w - pad.l - pad.r), ph = Math.max(10, h - pad.t - pad.b);
    var grid = cssVar(canvas, "--chart-grid", "#ddd"), text = cssVar(canvas, "--chart-text", "#555");
    var line = cssVar(canvas, "--chart-line", "#ff6700"), bar = cssVar(canvas, "--chart-bar", "#3b82f6");
    var samples = series.samples;
    var rateMax = axisMax(Math.max(4, samples.reduce(function (m, s) { return Math.max(m, s.rate); }, 0)));
    var stockMax = axisMax(Math.max(4, stock || samples.reduce(function (m, s) { return Math.max(m, s.remaining); }, 0)));
    var span = spanFor(samples, now);
    var x = function (t) { return pad.l + pw * (1 - (now - t) / span.ms); };

    ctx.font = "11px system-ui, sans-serif";
    ctx.lineWidth = 1;
    for (var i = 0; i <= 4; i++) {
      var y = pad.t + ph * i / 4;
      ctx.strokeStyle = grid;
      ctx.beginPath(); ctx.moveTo(pad.l, y + 0.5); ctx.lineTo(pad.l + pw, y + 0.5); ctx.stroke();
      ctx.fillStyle = text;
      ctx.textAlign = "right"; ctx.textBaseline = "middle";
      ctx.fillText(tick(stockMax * (4 - i) / 4), pad.l - 6, y);
      ctx.textAlign = "left";
      ctx.fillText(tick(rateMax * (4 - i) / 4), pad.l + pw + 6, y);
    }
    ctx.textAlign = "center"; ctx.textBaseline = "top";
    for (var back = 0; back <= span.ms; back += span.every) {
      ctx.textAlign = back === 0 ? "right" : back === span.ms ? "left" : "center"; /* the ends stay inside */
      ctx.fillText(back === 0 ? FS.t("ops.axis_now") : ago(back), pad.l + pw * (1 - back / span.ms), pad.t + ph + 5);
    }
    var bw = Math.max(1, pw / (span.ms / 1000) - 1);
    var shown = samples.filter(function (s) { return s.t >= now - span.ms; });
    ctx.fillStyle = bar;
    shown.forEach(function (s) {
      var bh = ph * s.rate / rateMax;
      if (bh > 0) ctx.fillRect(x(s.t) - bw, pad.t + ph - bh, bw, bh);
    });
    ctx.strokeStyle = line;
    ctx.lineWidth = 2;
    ctx.beginPath();
    shown.forEach(function (s, k) {
      var px = x(s.t), py = pad.t + ph * (1 - s.remaining / stockMax);
      if (k === 0) ctx.moveTo(px, py); else ctx.lineTo(px, py);
    });
    ctx.stroke();
  }

  /* A drop's phase as operators read it: the pause first (the phase goes on underneath it). */
  function phaseText(d) {
    var phase = FS.ui.PHASE_LABEL[d.phase] || d.phase;
    return d.paused && d.phase !== "ended" ? FS.t("ops.paused") + " · " + phase : phase;
  }

  FS.ops = { watch: watch, Series: Series, drawChart: drawChart, phaseText: phaseText };
})();
