// Demo script, served as a static file: marks the page as scripted.
document.addEventListener("DOMContentLoaded", () => {
  document.body.dataset.scripted = "yes";
});
