// Console pages: a form with data-confirm asks before it is sent.
// (An external file: the Content-Security-Policy allows no inline scripts or handlers.)
document.addEventListener("submit", function (event) {
  const form = event.target;
  if (form instanceof HTMLFormElement && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
    event.preventDefault();
  }
});
