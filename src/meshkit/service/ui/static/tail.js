// Live-tail an execution's log: fetch new bytes every second until the execution ends.
(function () {
  const pre = document.getElementById("log");
  if (!pre || pre.dataset.complete === "true") return;
  let offset = Number(pre.dataset.offset || 0);
  async function poll() {
    try {
      const response = await fetch(pre.dataset.url + "?offset=" + offset, { credentials: "same-origin" });
      if (!response.ok) return setTimeout(poll, 3000);
      const chunk = await response.json();
      const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 8;
      if (chunk.text) pre.append(chunk.text);
      offset = chunk.offset;
      if (atBottom) pre.scrollTop = pre.scrollHeight;
      if (chunk.complete) {
        // the final status, steps and duration are rendered by the server
        if (!chunk.text) return window.location.reload();
        return setTimeout(() => window.location.reload(), 500);
      }
    } catch (e) { /* network hiccup: try again */ }
    setTimeout(poll, 1000);
  }
  setTimeout(poll, 1000);
})();
