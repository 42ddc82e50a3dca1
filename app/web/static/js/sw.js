/* flashsale service worker: shows a pushed message (drop open, your turn, payment received) and opens
 * the page it names, on this site only. */
"use strict";
self.addEventListener("push", function (event) {
  var data = {};
  try { data = event.data ? event.data.json() : {}; } catch (e) { data = {}; }
  event.waitUntil(self.registration.showNotification(data.title || "flashsale", {
    body: data.body || "", tag: data.tag || undefined, data: { url: data.url || "/" }
  }));
});
/* Opens the page a notification names, on this site only: a window of this site already showing it
 * comes to the front, else a new window opens. A browser may refuse the new window (the click's leave
 * to open one lapses after a few seconds, and some browsers refuse it): then a window of this site
 * this worker controls is taken to the page instead. */
self.openFromNotification = function (notification) {
  var target = new URL((notification.data && notification.data.url) || "/", self.location.origin);
  if (target.origin !== self.location.origin) target = new URL("/", self.location.origin);
  return self.clients.matchAll({ type: "window" }).then(function (windows) {
    var showing = windows.filter(function (w) { return w.url === target.href; })[0];
    if (showing) return showing.focus();
    return self.clients.openWindow(target.href).catch(function (refused) {
      if (!windows.length) throw refused;
      return windows[0].navigate(target.href);
    });
  });
};
self.addEventListener("notificationclick", function (event) {
  event.notification.close();
  event.waitUntil(self.openFromNotification(event.notification));
});
