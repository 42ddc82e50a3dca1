/* flashsale: the JSON API client shared by every page.
 * Token store (sessionStorage, or localStorage when "keep me signed in"), a fetch wrapper that
 * sends `Authorization: Bearer`, RFC 9457 problem handling with a message per `code`, and a
 * server clock estimated from the `Date` header of every API answer. Tokens never go in URLs. */
(function () {
  "use strict";
  var FS = (window.FS = window.FS || {});

  /* ---------- token store ---------- */
  var TOKEN_KEY = "flashsale.auth";
  var memory = null; /* fallback when the browser refuses storage (some private modes) */

  function storages() {
    var out = [];
    try { out.push(window.sessionStorage); } catch (e) { /* storage disabled */ }
    try { out.push(window.localStorage); } catch (e) { /* storage disabled */ }
    return out;
  }

  function readFrom(store) {
    try {
      var raw = store.getItem(TOKEN_KEY);
      if (!raw) return null;
      var value = JSON.parse(raw);
      if (!value || typeof value.token !== "string") return null;
      if (typeof value.expiresAt === "number" && Date.now() >= value.expiresAt) {
        store.removeItem(TOKEN_KEY);
        return null;
      }
      return value;
    } catch (e) {
      return null;
    }
  }

  var auth = {
    token: function () {
      var list = storages();
      for (var i = 0; i < list.length; i++) {
        var value = readFrom(list[i]);
        if (value) return value.token;
      }
      if (memory && (memory.expiresAt === null || Date.now() < memory.expiresAt)) return memory.token;
      return null;
    },
    signedIn: function () { return auth.token() !== null; },
    save: function (token, expiresInSeconds, remember) {
      auth.clear();
      var value = { token: token, expiresAt: null };
      if (typeof expiresInSeconds === "number" && expiresInSeconds > 0) {
        value.expiresAt = Date.now() + expiresInSeconds * 1000 - 5000;
      }
      try {
        var store = remember ? window.localStorage : window.sessionStorage;
        store.setItem(TOKEN_KEY, JSON.stringify(value));
      } catch (e) {
        memory = value;
      }
      document.dispatchEvent(new CustomEvent("fs:auth"));
    },
    clear: function () {
      memory = null;
      storages().forEach(function (s) { try { s.removeItem(TOKEN_KEY); } catch (e) { /* ignore */ } });
      document.dispatchEvent(new CustomEvent("fs:auth"));
    }
  };
  window.addEventListener("storage", function (ev) {
    if (ev.key === TOKEN_KEY) document.dispatchEvent(new CustomEvent("fs:auth"));
  });

  /* ---------- server clock ----------
   * Every sample proves server time was in [T, T + width) at some instant between sending and
   * receiving, so offset = server - local lies in [T - received, T + width - sent]. Intersecting
   * those intervals over many answers narrows it. /clock gives T to the millisecond (width 0); the
   * `Date` header of any answer only to the second, and uvicorn refreshes it once a second, so it
   * may be up to a second stale, more under load: it counts with a width of 2.5 s. */
  var DATE_WIDTH_MS = 2500;
  var clock = {
    lo: -Infinity,
    hi: Infinity,
    narrow: function (lo, hi) {
      if (lo > clock.hi || hi < clock.lo) { clock.lo = lo; clock.hi = hi; } /* clock jumped: restart */
      else { clock.lo = Math.max(clock.lo, lo); clock.hi = Math.min(clock.hi, hi); }
      document.dispatchEvent(new CustomEvent("fs:clock"));
    },
    observe: function (dateHeader, sentAt, receivedAt) {
      var d = Date.parse(dateHeader || "");
      if (!isNaN(d)) clock.narrow(d - receivedAt, d + DATE_WIDTH_MS - sentAt);
    },
    /* One exact sample from /clock; the page asks again now and then (local clocks drift). */
    sync: function () {
      var sentAt = Date.now();
      return fetch("/clock", { cache: "no-store", credentials: "omit" }).then(function (res) {
        var receivedAt = Date.now();
        return res.ok ? res.json().then(function (body) {
          if (body && typeof body.now_ms === "number") clock.narrow(body.now_ms - receivedAt, body.now_ms - sentAt);
        }) : null;
      }).catch(function () { /* the Date headers still give an estimate */ });
    },
    synced: function () { return isFinite(clock.lo) && isFinite(clock.hi); },
    offset: function () { return clock.synced() ? (clock.lo + clock.hi) / 2 : 0; },
    now: function () { return Date.now() + clock.offset(); }
  };

  /* ---------- the page's language ----------
   * The server picks the language (remembered choice, then Accept-Language) and puts its catalogue in
   * the page as a JSON data block; every text a script shows comes from it. */
  var catalogue = {};
  try {
    var block = document.getElementById("fs-i18n");
    catalogue = block ? JSON.parse(block.textContent || "{}") : {};
  } catch (e) { catalogue = {}; }
  var lang = document.documentElement.getAttribute("lang") || "en";
  var plurals = (window.Intl && Intl.PluralRules) ? new Intl.PluralRules(lang) : null;
  /* Dates and numbers: the page's language in the browser's own variant of it (en-GB's 24-hour
   * clock, zh-TW's digits...), else the page's language as it is. */
  var base = lang.toLowerCase().split("-")[0];
  var locale = (navigator.languages || [navigator.language || ""]).filter(function (tag) {
    return typeof tag === "string" && tag.toLowerCase().split("-")[0] === base;
  })[0] || lang;
  if (base === "zh" && !/hans|cn|sg/i.test(locale)) locale = lang; /* the catalogue is Simplified Chinese */

  /* t("key", {name: value}); t("key", {count: n}) picks key.one / key.other for the language. */
  function t(key, params) {
    params = params || {};
    var text;
    if (typeof params.count === "number") {
      var form = plurals ? plurals.select(params.count) : (params.count === 1 ? "one" : "other");
      text = catalogue[key + "." + form];
      if (text === undefined) text = catalogue[key + ".other"];
    } else {
      text = catalogue[key];
    }
    if (text === undefined) return key;
    return text.replace(/\{(\w+)\}/g, function (whole, name) {
      return Object.prototype.hasOwnProperty.call(params, name) ? String(params[name]) : whole;
    });
  }
  function has(key) { return Object.prototype.hasOwnProperty.call(catalogue, key); }

  /* ---------- problems ---------- */
  function ApiError(status, problem, retryAfter) {
    this.name = "ApiError";
    this.status = status;
    this.problem = problem || {};
    this.code = (problem && typeof problem.code === "string") ? problem.code : "http_" + status;
    this.detail = (problem && typeof problem.detail === "string") ? problem.detail : "";
    this.retryAfter = retryAfter;
    this.message = this.code + ": " + this.detail;
  }
  ApiError.prototype = Object.create(Error.prototype);
  ApiError.prototype.constructor = ApiError;

  /* What the page shows for a problem: the message for its code in the page's language; the
   * server's `detail` (English) only for a code the catalogue doesn't know. */
  function messageFor(err) {
    if (!err) return "";
    if (!(err instanceof ApiError)) return t("error.network_error");
    if (err.code === "rate_limited" && err.retryAfter) return t("error.rate_limited_wait", { seconds: err.retryAfter });
    if (err.code === "validation_error") {
      return lang === "en" && err.detail ? t("error.validation_error_detail", { detail: err.detail }) : t("error.validation_error");
    }
    if (has("error." + err.code)) return t("error." + err.code);
    if (err.detail) return err.detail;
    return err.status >= 500 ? t("error.internal_error") : t("error.http", { status: err.status });
  }

  function parseRetryAfter(value) {
    if (!value) return null;
    var secs = parseInt(value, 10);
    if (!isNaN(secs) && String(secs) === value.trim()) return Math.max(1, secs);
    var when = Date.parse(value);
    return isNaN(when) ? null : Math.max(1, Math.ceil((when - clock.now()) / 1000));
  }

  /* ---------- fetch wrapper ---------- */
  /* raw(): the Response itself (used for streams). Adds the token, observes the clock. */
  function raw(method, path, opts) {
    opts = opts || {};
    var headers = new Headers(opts.headers || {});
    if (!headers.has("Accept")) headers.set("Accept", "application/json, application/problem+json");
    var token = opts.auth === false ? null : auth.token();
    if (token) headers.set("Authorization", "Bearer " + token);
    var body;
    if (opts.json !== undefined) {
      headers.set("Content-Type", "application/json");
      body = JSON.stringify(opts.json);
    } else if (opts.form !== undefined) {
      body = new URLSearchParams(opts.form);
    } else if (opts.body !== undefined) {
      body = opts.body; /* FormData (file uploads): the browser sets the multipart Content-Type */
    }
    var sentAt = Date.now();
    return fetch(path, {
      method: method, headers: headers, body: body, cache: "no-store",
      credentials: "same-origin", signal: opts.signal
    }).then(function (res) {
      clock.observe(res.headers.get("Date"), sentAt, Date.now());
      if (res.status === 401 && token) auth.clear(); /* expired or revoked: forget it */
      return res;
    }, function (err) {
      if (err && err.name === "AbortError") throw err;
      throw new ApiError(0, { code: "network_error", detail: String(err && err.message || err) }, null);
    });
  }

  function errorFrom(res) {
    var retryAfter = parseRetryAfter(res.headers.get("Retry-After"));
    return res.text().then(function (text) {
      var problem = null;
      try { problem = JSON.parse(text); } catch (e) { problem = null; }
      if (!problem || typeof problem !== "object") problem = { code: "http_" + res.status, detail: "" };
      return new ApiError(res.status, problem, retryAfter);
    }, function () {
      return new ApiError(res.status, null, retryAfter);
    });
  }

  /* request(): resolves with the parsed JSON body (null for an empty one), rejects with ApiError. */
  function request(method, path, opts) {
    return raw(method, path, opts).then(function (res) {
      if (!res.ok) return errorFrom(res).then(function (err) { throw err; });
      if (res.status === 204) return null;
      return res.text().then(function (text) {
        if (!text) return null;
        try { return JSON.parse(text); } catch (e) {
          throw new ApiError(res.status, { code: "bad_response", detail: "" }, null);
        }
      });
    });
  }

  function newKey() {
    if (window.crypto && typeof window.crypto.randomUUID === "function") return window.crypto.randomUUID();
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    var hex = Array.prototype.map.call(bytes, function (b) { return (b + 0x100).toString(16).slice(1); }).join("");
    return hex.slice(0, 8) + "-" + hex.slice(8, 12) + "-" + hex.slice(12, 16) + "-" + hex.slice(16, 20) + "-" + hex.slice(20);
  }

  /* Path segment for an opaque id or code. */
  function seg(value) { return encodeURIComponent(String(value)); }

  FS.t = t;
  FS.lang = lang;
  FS.locale = locale;
  FS.auth = auth;
  FS.clock = clock;
  FS.ApiError = ApiError;
  FS.messageFor = messageFor;
  FS.newKey = newKey;
  FS.seg = seg;
  FS.api = {
    raw: raw,
    errorFrom: errorFrom,
    request: request,
    get: function (path, opts) { return request("GET", path, opts); },
    post: function (path, json, opts) {
      opts = Object.assign({}, opts || {});
      if (json !== undefined) opts.json = json;
      return request("POST", path, opts);
    },
    del: function (path, opts) { return request("DELETE", path, opts); },
    put: function (path, body, opts) { return request("PUT", path, Object.assign({}, opts || {}, { body: body })); }
  };
})();
