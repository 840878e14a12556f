/* The desk's only script (no inline script: the Content-Security-Policy forbids it).
   1. Inside Teams, initialise @microsoft/teams-js, apply Teams' theme and follow its changes.
   2. On the sign-in page, ask Teams for a sign-in token (tab single sign-on) and post it once to /desk/session,
      which sets the desk's session cookie; then open the page asked for.
   3. While an announcement is written, post its form to the page's data-sample address and show the preview the
      server draws (the chat's own card); while its audience is chosen, likewise who gets it (data-live-audience,
      people rounded); without script both show on the check page.
   4. On an announcement's page, poll data-poll and draw its progress card again when it changes; without script
      the page's own link looks again. Everything else is plain HTML. */
(function () {
  "use strict";
  var THEMES = { "default": true, "dark": true, "contrast": true };
  var TIMEOUT_MS = 8000;

  function applyTheme(theme) {
    var name = THEMES[theme] ? theme : "default";
    document.documentElement.setAttribute("data-theme", name);
    try {
      window.sessionStorage.setItem("hny-desk-theme", name);
    } catch (ignored) {
      /* storage may be blocked */
    }
  }

  function withTimeout(promise) {
    return Promise.race([promise, new Promise(function (resolve, reject) {
      window.setTimeout(function () { reject(new Error("Teams did not answer")); }, TIMEOUT_MS);
    })]);
  }

  function startTeams() {
    var sdk = window.microsoftTeams;
    if (!sdk || !sdk.app) {
      return Promise.reject(new Error("no Teams library"));
    }
    return withTimeout(sdk.app.initialize()).then(function () {
      return sdk.app.getContext();
    }).then(function (context) {
      if (context && context.app && context.app.theme) {
        applyTheme(context.app.theme);
      }
      sdk.app.registerOnThemeChangeHandler(applyTheme);
      return sdk;
    });
  }

  function say(text) {
    var status = document.getElementById("sign-in-status");
    if (status) {
      status.textContent = text;
    }
  }

  function signIn(sdk) {
    return withTimeout(sdk.authentication.getAuthToken()).then(function (token) {
      return window.fetch("/desk/session", {
        method: "POST",
        credentials: "same-origin",
        headers: { "Authorization": "Bearer " + token }
      });
    }).then(function (response) {
      if (response.ok) {
        window.location.replace(document.body.getAttribute("data-next") || "/desk/home");
        return null;
      }
      return response.json().then(function (body) {
        say(body && body.error ? body.error : "Sorry, the desk could not sign you in.");
      });
    });
  }

  /* A part of the page drawn again by the server as the form above it changes: the announcement's preview
     (data-sample) and who gets it (data-live-audience). */
  function liveBox(attribute) {
    var box = document.querySelector("[" + attribute + "]");
    var form = document.querySelector("form.card-form");
    if (!box || !form) {
      return;
    }
    var timer = null;
    var asked = 0;
    function refresh() {
      var mine = ++asked;
      window.fetch(box.getAttribute(attribute), {
        method: "POST", credentials: "same-origin", body: new window.FormData(form)
      }).then(function (response) {
        return response.ok ? response.text() : null;
      }).then(function (html) {
        if (html !== null && mine === asked) {  /* only the answer to the latest question */
          box.innerHTML = html;
        }
      }).catch(function () { /* the check page shows it anyway */ });
    }
    form.addEventListener("input", function () {
      if (timer) {
        window.clearTimeout(timer);
      }
      timer = window.setTimeout(refresh, 300);
    });
  }

  function signatureOf(node) {
    var card = node && node.querySelector("[data-signature]");
    return card ? card.getAttribute("data-signature") : null;
  }

  function pollProgress() {
    var box = document.querySelector("[data-poll]");
    if (!box) {
      return;
    }
    var every = parseInt(box.getAttribute("data-poll-ms"), 10) || 3000;
    function finished() {
      return Boolean(box.querySelector("[data-finished='true']"));
    }
    function look() {
      window.fetch(box.getAttribute("data-poll"), { credentials: "same-origin" }).then(function (response) {
        return response.ok ? response.text() : Promise.reject(new Error("no progress"));
      }).then(function (html) {
        var fresh = document.createElement("template");
        fresh.innerHTML = html;
        if (signatureOf(fresh.content) !== signatureOf(box)) {  /* the card would look different */
          var focused = box.contains(document.activeElement);
          box.innerHTML = html;
          if (focused) {
            box.focus();  /* the button that had the focus may be gone */
          }
        }
        if (!finished()) {
          window.setTimeout(look, every);
        }
      }).catch(function () { /* signed out, or gone: the page's own link looks again */ });
    }
    if (!finished()) {
      window.setTimeout(look, every);
    }
  }

  liveBox("data-sample");
  liveBox("data-live-audience");
  pollProgress();

  var onSignInPage = document.body.getAttribute("data-page") === "sign-in";
  var teams = startTeams();
  if (onSignInPage) {
    teams.then(signIn, function () {
      say("Open the desk from the HNY Inc. volunteers app in Microsoft Teams to sign in.");
    }).catch(function () {
      say("Sorry, Teams did not sign you in. Close the desk and open it again.");
    });
  } else {
    teams.catch(function () { /* outside Teams: nothing to do, the page is complete */ });
  }
}());
