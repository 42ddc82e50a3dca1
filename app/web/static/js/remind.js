/* flashsale drop page: "remind me when it opens" (预约). Sets the reminder by email, and by web push
 * where the browser allows it (the service worker at /sw.js shows the message and opens the drop). */
(function () {
  "use strict";
  var FS = window.FS, ui = FS.ui;
  function $(id) { return document.getElementById(id); }
  var box = $("remind"), button = $("remind-button"), count = $("remind-count"), msg = $("remind-msg");
  if (!box) return;
  var dropId = $("main").getAttribute("data-drop-id") || "";
  var path = "/api/drops/" + FS.seg(dropId) + "/reminder";
  var reminded = false;

  function b64ToBytes(text) {
    var padded = (text + "===".slice((text.length + 3) % 4)).replace(/-/g, "+").replace(/_/g, "/");
    var raw = window.atob(padded), out = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
    return out;
  }

  /* A push subscription registered with the server, or null (no support, no key, or refused). */
  function subscribePush() {
    if (!("serviceWorker" in navigator) || !("PushManager" in window)) return Promise.resolve(null);
    return FS.api.get("/api/push/key", { auth: false }).then(function (key) {
      return navigator.serviceWorker.register("/sw.js").then(function () {
        return navigator.serviceWorker.ready;
      }).then(function (registration) {
        return registration.pushManager.subscribe({ userVisibleOnly: true,
          applicationServerKey: b64ToBytes(key.vapid_public_key) });
      });
    }).then(function (subscription) {
      return FS.api.request("PUT", "/api/me/push", { json: subscription.toJSON() }).then(function () {
        return subscription;
      });
    }).catch(function () { return null; });
  }

  function show(drop) {
    count.textContent = drop.reservations ? FS.t("remind.count", { count: ui.fmtNumber(drop.reservations) }) : "";
    box.hidden = drop.phase !== "upcoming" && drop.phase !== "priority";
    button.textContent = !FS.auth.signedIn() ? FS.t("remind.sign_in")
      : reminded ? FS.t("remind.cancel") : FS.t("remind.button");
  }

  function refresh() {
    return FS.api.get("/api/drops/" + FS.seg(dropId), { auth: false }).then(show, function () { box.hidden = true; });
  }

  button.addEventListener("click", function () {
    if (!FS.auth.signedIn()) { window.location.href = "/login?next=" + encodeURIComponent(window.location.pathname); return; }
    button.disabled = true;
    var done = reminded
      ? FS.api.del(path).then(function () { reminded = false; ui.say(msg, FS.t("remind.cancelled"), "ok"); })
      : subscribePush().then(function (subscription) {
        var channels = subscription ? ["email", "push"] : ["email"];
        return FS.api.request("PUT", path, { json: { channels: channels } }).then(function () {
          reminded = true;
          ui.say(msg, subscription ? FS.t("remind.set") : FS.t("remind.push_denied"), "ok");
        });
      });
    done.catch(function (err) { ui.say(msg, FS.messageFor(err), "error"); })
      .then(refresh).then(function () { button.disabled = false; });
  });
  /* Shown with the drop's own render (drop.js), not after a request of its own: appearing later, it
   * moved what was already on the screen (a layout shift). */
  document.addEventListener("fs:drop", function (ev) { show(ev.detail); });
})();
