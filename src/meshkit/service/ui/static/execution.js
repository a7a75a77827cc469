// Keep a page live while its run goes on (an execution, a pipeline run, a node's run): every second,
// redraw its #live part (status, facts, steps, graph) from the server and append the new bytes of its
// log, if it shows one, until the run has ended.
(function () {
  if (!document.getElementById("live")) return;
  const pre = document.getElementById("log");
  let offset = pre ? Number(pre.dataset.offset || 0) : 0;
  let logComplete = !pre || pre.dataset.complete === "true";
  const isFinal = () => document.getElementById("live").dataset.final === "true";

  async function refreshStatus() {
    const live = document.getElementById("live");
    const response = await fetch(live.dataset.url, { credentials: "same-origin" });
    if (response.redirected) return window.location.reload(); // signed out: the page goes to the login
    if (!response.ok) throw new Error(response.statusText);
    live.outerHTML = await response.text();
  }

  async function tailLog() {
    const response = await fetch(pre.dataset.url + "?offset=" + offset, { credentials: "same-origin" });
    if (!response.ok) throw new Error(response.statusText);
    const chunk = await response.json();
    const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 8;
    if (chunk.text) pre.append(chunk.text);
    offset = chunk.offset;
    logComplete = chunk.complete;
    if (atBottom) pre.scrollTop = pre.scrollHeight;
  }

  async function poll() {
    let delay = 1000;
    try {
      // the status first: once it is final, the log read after it is complete
      if (!isFinal()) await refreshStatus();
      if (!logComplete) await tailLog();
    } catch (e) {
      delay = 3000; // the server is restarting or the network hiccuped: try again
    }
    if (isFinal() && logComplete) {
      const badge = document.getElementById("log-live");
      if (badge) badge.remove();
      return;
    }
    setTimeout(poll, delay);
  }
  if (!(isFinal() && logComplete)) setTimeout(poll, 1000);
})();
