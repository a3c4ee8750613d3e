// The phone book's search as you type: asks /results for the list (HTML rendered and
// escaped by the server) and puts it in place; without JavaScript the form still works.
"use strict";
(function () {
  const input = document.getElementById("q");
  const results = document.getElementById("results");
  if (!input || !results) return;
  let timer = null;
  let asked = 0;
  async function search() {
    const query = input.value.trim();
    const mine = ++asked;
    const url = query ? "/results?q=" + encodeURIComponent(query) : "/results";
    try {
      const response = await fetch(url, { headers: { Accept: "text/html" }, credentials: "same-origin" });
      if (mine !== asked) return; // a later keystroke asked again
      results.innerHTML = await response.text();
      history.replaceState(null, "", query ? "/?q=" + encodeURIComponent(query) : "/");
    } catch (error) {
      if (mine === asked) results.textContent = "The phone book does not answer: " + error;
    }
  }
  input.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(search, 150);
  });
  input.form.addEventListener("submit", function (event) {
    event.preventDefault();
    clearTimeout(timer);
    search();
  });
  document.addEventListener("keydown", function (event) {
    // "/" jumps to the search box, as on many sites; Escape clears it
    if (event.key === "/" && document.activeElement !== input) {
      event.preventDefault();
      input.focus();
      input.select();
    } else if (event.key === "Escape" && document.activeElement === input) {
      input.value = "";
      search();
    } else if (event.key === "ArrowDown" && document.activeElement === input) {
      const first = results.querySelector("a.name");
      if (first) { event.preventDefault(); first.focus(); }
    }
  });
})();
