// The workspace lineage page: a click on a dataset highlights its edges and lists its column lineage.
(function () {
  const mesh = document.getElementById("mesh");
  const panel = document.getElementById("columns");
  if (!mesh || !panel) return;
  const body = panel.querySelector("tbody");
  function cell(text) { const td = document.createElement("td"); td.textContent = text; return td; }
  async function show(name, href) {
    mesh.querySelectorAll(".node.selected").forEach((n) => n.classList.remove("selected"));
    mesh.querySelectorAll(".edge").forEach((e) => {
      e.classList.toggle("dim", e.dataset.source !== name && e.dataset.target !== name);
    });
    mesh.querySelector(`.node[data-dataset="${CSS.escape(name)}"]`).classList.add("selected");
    document.getElementById("columns-title").textContent = name;
    document.getElementById("columns-open").href = href;
    body.replaceChildren();
    const response = await fetch(`/api/v1/catalog/lineage/${name}?depth=1`, { credentials: "same-origin" });
    const graph = response.ok ? await response.json() : { edges: [] };
    const into = graph.edges.filter((e) => e.source_column && e.target === name);
    for (const e of into) {
      const row = document.createElement("tr");
      row.append(cell(e.source), cell(e.source_column), cell(e.target_column));
      body.append(row);
    }
    document.getElementById("columns-none").hidden = into.length > 0;
    panel.hidden = false;
  }
  mesh.addEventListener("click", (event) => {
    const link = event.target.closest("a");
    const node = event.target.closest(".node");
    if (!link || !node) return;
    event.preventDefault();
    show(node.dataset.dataset, link.getAttribute("href"));
  });
})();
