// Applies the stored theme choice (ui.md §8) before the first paint: a classic, blocking
// script in <head>, external so the page's CSP needs no 'unsafe-inline'. Without a stored
// choice the stylesheet follows prefers-color-scheme.
(function () {
  try {
    var theme = localStorage.getItem("clauster-theme");
    if (theme === "dark" || theme === "light") {
      document.documentElement.setAttribute("data-theme", theme);
    }
  } catch (e) {
    // Storage blocked (private mode, policy): the system preference applies.
  }
})();
