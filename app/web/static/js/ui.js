/* flashsale: DOM helpers (text only, never innerHTML), formatting, drop phases, the shared
 * one-second ticker aligned to the server clock, polling with jitter, and the header nav. */
(function () {
  "use strict";
  var FS = window.FS;

  /* el("p", {class: "x", text: "hi", hidden: true, "aria-label": "..."}, [child, "text"]) */
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      var value = attrs[key];
      if (value === null || value === undefined || value === false) return;
      if (/^on/i.test(key)) throw new Error("event handler attributes are not allowed");
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = String(value);
      else if (key === "hidden") node.hidden = true;
      else if (key === "disabled") node.disabled = true;
      else if (key === "checked") node.checked = true;
      else if (key === "value") node.value = String(value);
      else node.setAttribute(key, value === true ? "" : String(value));
    });
    append(node, children);
    return node;
  }

  function append(node, children) {
    if (children === null || children === undefined) return node;
    if (!Array.isArray(children)) children = [children];
    children.forEach(function (child) {
      if (child === null || child === undefined || child === false) return;
      node.appendChild(typeof child === "object" ? child : document.createTextNode(String(child)));
    });
    return node;
  }

  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); return node; }

  /* Put a message (string or nodes) in a live region; kind: "error" | "ok" | "info" | "". */
  function say(node, content, kind) {
    if (!node) return;
    clear(node);
    append(node, content);
    node.setAttribute("data-kind", kind || "");
  }

  /* ---------- time and money ---------- */
  /* Times are ISO 8601; one without an offset is read as UTC (the server answers in UTC). */
  function parseTime(value) {
    if (typeof value !== "string" || !value) return NaN;
    var iso = /([zZ]|[+-]\d\d:?\d\d)$/.test(value) ? value : value + "Z";
    return Date.parse(iso);
  }

  /* Dates, numbers and money in the page's language (the browser's Intl), in the visitor's time zone. */
  var dateTimeFmt = new Intl.DateTimeFormat(FS.locale, {
    weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit"
  });
  var timeFmt = new Intl.DateTimeFormat(FS.locale, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  var numberFmt = new Intl.NumberFormat(FS.locale);
  function fmtNumber(n) { return typeof n === "number" ? numberFmt.format(n) : "–"; }
  function fmtDateTime(ms) { return isNaN(ms) ? "–" : dateTimeFmt.format(new Date(ms)); }
  function fmtTime(ms) { return isNaN(ms) ? "–" : timeFmt.format(new Date(ms)); }

  function pad(n) { return n < 10 ? "0" + n : String(n); }
  function fmtCountdown(ms) {
    var total = Math.max(0, Math.ceil(ms / 1000));
    var d = Math.floor(total / 86400), h = Math.floor((total % 86400) / 3600);
    var m = Math.floor((total % 3600) / 60), s = total % 60;
    var hms = (h || d ? pad(h) + ":" : "") + pad(m) + ":" + pad(s);
    return d ? FS.t("time.days_short", { count: d }) + " " + hms : hms;
  }
  function fmtDuration(seconds) {
    if (seconds < 120) return FS.t("time.seconds", { count: seconds });
    if (seconds < 7200) return FS.t("time.minutes", { count: Math.round(seconds / 60) });
    return FS.t("time.hours", { count: Math.round(seconds / 3600) });
  }
  /* A countdown said in words, coarse enough for a screen reader to announce without chatter:
   * per minute while minutes remain, then every 10 s, then each of the last 5 s. */
  function spokenCountdown(ms) {
    var total = Math.max(0, Math.ceil(ms / 1000));
    if (total >= 86400) return FS.t("time.days", { count: Math.floor(total / 86400) });
    if (total >= 3600) return FS.t("time.hours", { count: Math.floor(total / 3600) });
    if (total >= 60) return FS.t("time.minutes", { count: Math.ceil(total / 60) });
    if (total > 5) return FS.t("time.seconds", { count: Math.ceil(total / 10) * 10 });
    return FS.t("time.seconds", { count: total });
  }

  function currencyDigits(currency) {
    try {
      return new Intl.NumberFormat("en", { style: "currency", currency: currency })
        .resolvedOptions().maximumFractionDigits;
    } catch (e) {
      return 2;
    }
  }
  function fmtMoney(minor, currency) {
    if (typeof minor !== "number") return "–";
    var digits = currencyDigits(currency);
    var major = minor / Math.pow(10, digits);
    try {
      return new Intl.NumberFormat(FS.locale, { style: "currency", currency: currency }).format(major);
    } catch (e) {
      return major.toFixed(digits) + " " + String(currency || "");
    }
  }

  /* ---------- drop phases ---------- */
  var PHASE_LABEL = {
    upcoming: FS.t("phase.upcoming"), priority: FS.t("phase.priority"), open: FS.t("phase.open"),
    sold_out: FS.t("phase.sold_out"), ended: FS.t("phase.ended")
  };
  var RANK = { upcoming: 0, priority: 1, open: 2, ended: 4 };

  /* The server's phase, moved forward by the synchronised clock so that a button opens on the
   * second without waiting for the next poll. Phases never move backwards. */
  function livePhase(drop, now) {
    var server = drop.phase;
    if (server === "ended" || now >= parseTime(drop.ends_at)) return "ended";
    if (server === "sold_out") return "sold_out";
    var local = "upcoming";
    if (now >= parseTime(drop.starts_at)) local = "open";
    else if (now >= parseTime(drop.priority_starts_at)) local = "priority";
    return (RANK[server] || 0) > RANK[local] ? server : local;
  }

  /* The clock estimate can step back a little when a better sample arrives: a phase once shown
   * (Coming soon -> Early access -> On sale) never goes back because of that. */
  function laterPhase(shown, next) {
    return shown in RANK && next in RANK && RANK[next] < RANK[shown] ? shown : next;
  }

  /* One line saying what happens next, and when. */
  function countdownText(drop, phase, now, spoken) {
    var fmt = spoken ? spokenCountdown : fmtCountdown;
    if (phase === "upcoming") return FS.t("countdown.opens_in", { time: fmt(parseTime(drop.starts_at) - now) });
    if (phase === "priority") return FS.t("countdown.priority", { time: fmt(parseTime(drop.starts_at) - now) });
    if (phase === "open") return FS.t("countdown.ends_in", { time: fmt(parseTime(drop.ends_at) - now) });
    if (phase === "sold_out") return FS.t("phase.sold_out");
    return FS.t("countdown.ended");
  }

  /* A polite live region that speaks only when its words change (the spoken countdown is coarse). */
  function announcer(node) {
    var last = "";
    return function (text) {
      if (!node || text === last) return;
      last = text;
      node.textContent = text;
    };
  }

  /* The product picture: WebP and JPEG variants with srcset/sizes, in a box whose aspect ratio is
   * fixed before the image arrives (no layout shift). Lazy unless it is at the top of the page. */
  function picture(drop, sizes, eager, index) {
    var pictures = Array.isArray(drop.images) ? drop.images : [];
    var shown = pictures[index || 0];
    var images = shown && Array.isArray(shown.sizes) ? shown.sizes : [];
    if (!images.length) return el("div", { class: "media-empty", "aria-hidden": "true" });
    var main = images.filter(function (v) { return v.width <= 800; }).pop() || images[0];
    function set(kind) { return images.map(function (v) { return v[kind] + " " + v.width + "w"; }).join(", "); }
    return el("picture", {}, [
      el("source", { type: "image/webp", srcset: set("webp"), sizes: sizes }),
      el("img", { src: main.jpeg, srcset: set("jpeg"), sizes: sizes, width: String(main.width),
        height: String(main.height), alt: index ? FS.t("drop.picture_n", { name: drop.name, n: index + 1, total: pictures.length })
          : FS.t("drop.picture_alt", { name: drop.name }),
        loading: eager ? "eager" : "lazy", decoding: "async", fetchpriority: eager ? "high" : null })
    ]);
  }

  /* Every picture of the drop: a row that swipes on phones (scroll snap, no script needed) and
   * thumbnails that show one on desktop. One picture: just the picture. */
  function gallery(drop, sizes) {
    var pictures = Array.isArray(drop.images) ? drop.images : [];
    if (pictures.length <= 1) return el("div", { class: "media" }, [picture(drop, sizes, true)]);
    var slides = pictures.map(function (_, i) {
      return el("li", { class: "slide media" }, [picture(drop, sizes, i === 0, i)]);
    });
    var track = el("ul", { class: "gallery-track", tabindex: "0", "aria-label": FS.t("drop.gallery", { name: drop.name }) }, slides);
    var thumbs = pictures.map(function (p, i) {
      var small = (p.sizes || [])[0] || {};
      var button = el("button", { type: "button", class: "thumb", "aria-label": FS.t("drop.picture_n", { name: drop.name, n: i + 1, total: pictures.length }),
        "aria-current": i === 0 ? "true" : null }, [el("img", { src: small.jpeg, alt: "", width: "64", height: "48", loading: "lazy" })]);
      button.addEventListener("click", function () {
        track.scrollTo({ left: slides[i].offsetLeft - track.offsetLeft, behavior: "smooth" });
      });
      return button;
    });
    track.addEventListener("scroll", function () {
      var at = Math.round(track.scrollLeft / Math.max(1, track.clientWidth));
      thumbs.forEach(function (t, i) { if (i === at) t.setAttribute("aria-current", "true"); else t.removeAttribute("aria-current"); });
    }, { passive: true });
    return el("div", { class: "gallery" }, [track, el("div", { class: "thumbs" }, thumbs)]);
  }

  /* ---------- shared ticker: fires just after each server-clock second ---------- */
  var tickers = [];
  var tickTimer = null;
  function tick() {
    var now = FS.clock.now();
    tickers.forEach(function (fn) { try { fn(now); } catch (e) { window.console.error(e); } });
    tickTimer = window.setTimeout(tick, 1000 - (FS.clock.now() % 1000) + 5);
  }
  /* Exact clock samples: now, a second later (a second sample narrows the first), then each minute. */
  function syncClock(delays) {
    FS.clock.sync().then(function () {
      window.setTimeout(function () { syncClock(delays.slice(1)); }, delays.length ? delays[0] : 60000);
    });
  }
  function onTick(fn) {
    tickers.push(fn);
    if (tickTimer === null) { syncClock([1000]); tick(); }
  }
  document.addEventListener("fs:clock", function () {
    if (tickTimer === null) return;
    window.clearTimeout(tickTimer);
    tick();
  });

  /* ---------- polling: runs task(), then again after interval() ms plus jitter ---------- */
  function poll(task, interval) {
    var timer = null, running = false;
    function schedule(ms) {
      window.clearTimeout(timer);
      timer = window.setTimeout(run, ms);
    }
    function run() {
      if (running) return;
      running = true;
      Promise.resolve().then(task).catch(function () { /* the task reports its own errors */ })
        .then(function () {
          running = false;
          var base = document.hidden ? 30000 : interval();
          schedule(base + Math.random() * Math.min(1000, base / 4));
        });
    }
    document.addEventListener("visibilitychange", function () { if (!document.hidden) schedule(0); });
    run();
    return { now: function (maxJitterMs) { schedule(Math.random() * (maxJitterMs || 0)); } };
  }

  /* ---------- clipboard ---------- */
  function copyText(text, button) {
    var done = function (ok) {
      if (!button) return;
      var label = button.getAttribute("data-label") || button.textContent;
      button.setAttribute("data-label", label);
      button.textContent = ok ? FS.t("common.copied") : FS.t("common.copy_failed");
      window.setTimeout(function () { button.textContent = label; }, 1500);
    };
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text).then(function () { done(true); }, function () { done(fallback()); });
    }
    done(fallback());
    return Promise.resolve();
    function fallback() {
      var area = el("textarea", { class: "offscreen", readonly: true, "aria-hidden": "true" }, text);
      document.body.appendChild(area);
      area.select();
      var ok = false;
      try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
      document.body.removeChild(area);
      return ok;
    }
  }

  /* ---------- session, header nav ---------- */
  var ROLE_RANK = { shopper: 0, employee: 1, operator: 2 };
  var mePromise = null;
  function me() {
    if (!FS.auth.signedIn()) return Promise.resolve(null);
    if (!mePromise) {
      mePromise = FS.api.get("/api/me").catch(function (err) {
        mePromise = null;
        if (err instanceof FS.ApiError && err.status === 401) return null;
        throw err;
      });
    }
    return mePromise;
  }
  function hasRole(account, role) {
    return !!account && (ROLE_RANK[account.role] || 0) >= ROLE_RANK[role];
  }

  function loginHref() {
    var here = window.location.pathname + window.location.search;
    return here === "/" || window.location.pathname === "/login" ? "/login" : "/login?next=" + encodeURIComponent(here);
  }
  /* "Please sign in to buy." with the sign-in words as a link; `what` names the catalogue entry. */
  function signInPrompt(what) {
    var parts = FS.t(what).split(/\[|\]/);
    return [parts[0] || "", el("a", { href: loginHref(), text: parts[1] || FS.t("nav.signin") }), parts[2] || ""];
  }

  function refreshNav() {
    var signin = document.getElementById("nav-signin");
    var signout = document.getElementById("nav-signout");
    var signedIn = FS.auth.signedIn();
    if (signin) { signin.hidden = signedIn; signin.setAttribute("href", loginHref()); }
    if (signout) signout.hidden = !signedIn;
    me().then(function (account) {
      document.querySelectorAll("[data-min-role]").forEach(function (node) {
        node.hidden = !hasRole(account, node.getAttribute("data-min-role"));
      });
      if (signout && account) signout.setAttribute("title", FS.t("nav.signed_in_as", { email: account.email }));
    }, function () { /* offline: keep the nav as it is */ });
  }

  document.addEventListener("fs:auth", function () { mePromise = null; refreshNav(); });
  var signoutButton = document.getElementById("nav-signout");
  if (signoutButton) {
    signoutButton.addEventListener("click", function () {
      FS.auth.clear();
      window.location.assign("/");
    });
  }
  refreshNav();

  FS.ui = {
    el: el, append: append, clear: clear, say: say,
    parseTime: parseTime, fmtDateTime: fmtDateTime, fmtTime: fmtTime, fmtCountdown: fmtCountdown,
    fmtDuration: fmtDuration, fmtMoney: fmtMoney, currencyDigits: currencyDigits, fmtNumber: fmtNumber,
    spokenCountdown: spokenCountdown, announcer: announcer, picture: picture, gallery: gallery,
    PHASE_LABEL: PHASE_LABEL, livePhase: livePhase, laterPhase: laterPhase, countdownText: countdownText,
    onTick: onTick, poll: poll, copyText: copyText,
    me: me, hasRole: hasRole, loginHref: loginHref, signInPrompt: signInPrompt
  };
})();
