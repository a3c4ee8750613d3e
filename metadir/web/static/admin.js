// The status page: its middle part is fetched again every few seconds, and Run now posts
// without leaving the page; without JavaScript, the forms post and the page reloads.
"use strict";
(function () {
  const status = document.getElementById("status");
  const notice = document.getElementById("notice");
  if (!status) return;
  const PERIOD = 2000;
  async function refresh() {
    try {
      const response = await fetch(status.dataset.refresh, { credentials: "same-origin" });
      if (response.status === 401) { window.location = "/signin?next=/admin"; return; }
      if (response.ok) {
        // the buttons and links have ids: a keyboard user keeps their place
        const focused = status.contains(document.activeElement) ? document.activeElement.id : "";
        status.innerHTML = await response.text();
        const again = focused && document.getElementById(focused);
        if (again) again.focus();
      }
    } catch (error) {
      notice.textContent = "The server does not answer: " + error;
    }
  }
  status.addEventListener("submit", async function (event) {
    const form = event.target;
    if (!form.classList.contains("run-now")) return;
    event.preventDefault();
    try {
      const response = await fetch(form.action, {
        method: "POST",
        body: new URLSearchParams(new FormData(form)),
        headers: { Accept: "application/json" },
        credentials: "same-origin",
      });
      const answer = await response.json();
      notice.textContent = answer.message || answer.error || response.statusText;
    } catch (error) {
      notice.textContent = "Run now failed: " + error;
    }
    refresh();
  });
  setInterval(refresh, PERIOD);
})();
