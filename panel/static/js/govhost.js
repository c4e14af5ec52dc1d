// Progressive enhancement only: every page works without scripts.
document.documentElement.classList.add("js");  // hides the language form's button: the select submits itself
document.querySelectorAll("select[data-autosubmit]").forEach(function (el) {
  el.addEventListener("change", function () { el.form.submit(); });
});
// Buttons that destroy something ask first (data-confirm holds the translated question).
document.querySelectorAll("[data-confirm]").forEach(function (el) {
  el.addEventListener("click", function (ev) {
    if (!window.confirm(el.dataset.confirm)) { ev.preventDefault(); }
  });
});
// The current menu entry scrolls into view when the menu scrolls sideways (phones).
(function () {
  var cur = document.querySelector('nav.main-nav [aria-current="page"]');
  var nav = cur && cur.parentElement;
  if (nav && nav.scrollWidth > nav.clientWidth) { nav.scrollLeft = cur.offsetLeft - nav.clientWidth / 3; }
})();
