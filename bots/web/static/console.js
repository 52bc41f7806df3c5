// Console behaviour that needs no server values in inline scripts: a form with
// data-confirm asks before it is sent. The question comes from the attribute
// (HTML-escaped by the template), so a file name can never become code.
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (form instanceof HTMLFormElement && form.dataset.confirm !== undefined) {
    if (!window.confirm(form.dataset.confirm)) event.preventDefault();
  }
});
