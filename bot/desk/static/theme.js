/* The Teams theme the desk last saw (default, dark or contrast), applied before the page is drawn, so the next
   page does not flash in the wrong colours. desk.js reads the real theme from Teams and keeps it up to date.
   Without one (outside Teams), desk.css follows prefers-color-scheme and forced-colors. */
(function () {
  "use strict";
  try {
    var theme = window.sessionStorage.getItem("hny-desk-theme");
    if (theme === "default" || theme === "dark" || theme === "contrast") {
      document.documentElement.setAttribute("data-theme", theme);
    }
  } catch (ignored) {
    /* storage may be blocked: the CSS fallbacks apply */
  }
}());
