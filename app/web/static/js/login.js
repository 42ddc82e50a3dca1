/* flashsale sign-in and registration; afterwards, back to the page that sent the user here. */
(function () {
  "use strict";
  var FS = window.FS, ui = FS.ui, el = ui.el;
  function $(id) { return document.getElementById(id); }

  /* Only a path on this site: never an absolute or protocol-relative URL (open redirect). */
  function nextPath() {
    var raw = new URLSearchParams(window.location.search).get("next");
    if (!raw || raw.charAt(0) !== "/" || raw.charAt(1) === "/" || raw.charAt(1) === "\\") return "/";
    try {
      var url = new URL(raw, window.location.origin);
      if (url.origin !== window.location.origin || url.pathname === "/login") return "/";
      return url.pathname + url.search + url.hash;
    } catch (e) {
      return "/";
    }
  }

  function busy(form, on) {
    form.setAttribute("aria-busy", on ? "true" : "false");
    Array.prototype.forEach.call(form.querySelectorAll("button"), function (b) { b.disabled = on; });
  }

  function markInvalid(form, err) {
    Array.prototype.forEach.call(form.querySelectorAll("input"), function (i) { i.removeAttribute("aria-invalid"); });
    var fields = err && err.problem && Array.isArray(err.problem.errors) ? err.problem.errors : [];
    fields.forEach(function (f) {
      var name = Array.isArray(f.loc) ? f.loc[f.loc.length - 1] : null;
      var input = name ? form.querySelector("[name='" + String(name).replace(/[^a-z_]/gi, "") + "']") : null;
      if (input) input.setAttribute("aria-invalid", "true");
    });
  }

  function signIn(email, password, remember) {
    return FS.api.request("POST", "/api/auth/token", { auth: false, form: { username: email, password: password } })
      .then(function (tok) {
        if (!tok || typeof tok.access_token !== "string") throw new FS.ApiError(500, { code: "bad_response" }, null);
        FS.auth.save(tok.access_token, tok.expires_in, remember);
      });
  }

  function done() { window.location.assign(nextPath()); }

  var loginForm = $("login-form"), loginMsg = $("login-msg");
  loginForm.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var email = $("login-email").value.trim(), password = $("login-password").value;
    if (!email || !password) { ui.say(loginMsg, FS.t("login.need_both"), "error"); return; }
    busy(loginForm, true);
    ui.say(loginMsg, FS.t("login.signing_in"), "info");
    signIn(email, password, $("login-remember").checked).then(done, function (err) {
      busy(loginForm, false);
      if (err instanceof FS.ApiError && (err.code === "bad_credentials" || err.status === 401)) {
        $("login-password").setAttribute("aria-invalid", "true");
        ui.say(loginMsg, FS.messageFor(new FS.ApiError(401, { code: "bad_credentials" }, null)), "error");
      } else {
        ui.say(loginMsg, FS.messageFor(err), "error");
      }
    });
  });

  var regForm = $("register-form"), regMsg = $("register-msg");
  regForm.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var email = $("reg-email").value.trim(), password = $("reg-password").value;
    var name = $("reg-name").value.trim();
    markInvalid(regForm, null);
    if (!email || email.indexOf("@") < 1) {
      $("reg-email").setAttribute("aria-invalid", "true");
      ui.say(regMsg, FS.t("login.bad_email"), "error");
      return;
    }
    if (password.length < 8) {
      $("reg-password").setAttribute("aria-invalid", "true");
      ui.say(regMsg, FS.t("login.short_password"), "error");
      return;
    }
    var body = { email: email, password: password };
    if (name) body.display_name = name;
    busy(regForm, true);
    ui.say(regMsg, FS.t("login.creating"), "info");
    FS.api.post("/api/auth/register", body, { auth: false })
      .then(function () { return signIn(email, password, false); })
      .then(done, function (err) {
        busy(regForm, false);
        markInvalid(regForm, err);
        if (err instanceof FS.ApiError && err.code === "email_taken") {
          $("login-email").value = email;
          ui.say(regMsg, [FS.messageFor(err) + " ", el("a", { href: "#login-email", text: FS.t("login.go_signin") })], "error");
        } else {
          ui.say(regMsg, FS.messageFor(err), "error");
        }
      });
  });

  /* Already signed in: say so, and offer to go on. */
  ui.me().then(function (account) {
    if (!account) return;
    $("signed-in-text").textContent = FS.t("login.signed_in_as", { name: account.display_name || account.email });
    $("continue-link").setAttribute("href", nextPath());
    $("signed-in").hidden = false;
  }, function () { /* offline: the forms still work */ });
})();
