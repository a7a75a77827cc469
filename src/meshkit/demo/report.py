"""The demo's HTML report (``.meshkit/report/index.html``): one self-contained page, no script.

It shows the verdict and the numbers first, then the lineage graph across the domains, the
SmartPizza pipeline's run as its graph, the run timings, the check results, the three governed
reads side by side, and the product contracts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment

from meshkit.demo.lineage import LineageGraph
from meshkit.demo.runner import READ_SQL, DemoResult
from meshkit.demo.svg import EDGE_COLORS, domain_color, render
from meshkit.pipelines.svg import render_graph

KIND_COLORS = {"generate": "#64748b", "transfer": "#0284c7", "job": "#ea580c", "build": "#7c3aed", "check": "#db2777",
               "publish": "#16a34a", "policy": "#0f766e", "query": "#ca8a04", "stream": "#0891b2"}  # fmt: skip

STYLE = """
:root { --ink: #0f172a; --muted: #64748b; --line: #e2e8f0; --ok: #16a34a; --bad: #dc2626; }
* { box-sizing: border-box; }
body { margin: 0; font-size: 14px; line-height: 1.45; color: var(--ink);
       font-family: "Segoe UI", Roboto, "Liberation Sans", "DejaVu Sans", Arial, Helvetica, sans-serif;
       background: #f8fafc; }
header { background: linear-gradient(120deg, #7c2d12, #ea580c 55%, #f59e0b); color: #fff; padding: 28px 40px 64px; }
header h1 { margin: 0; font-size: 28px; letter-spacing: -0.02em; }
header p { margin: 6px 0 0; opacity: .9; }
.verdict { display: inline-block; margin-top: 14px; padding: 5px 14px; border-radius: 999px; font-weight: 600;
           background: rgba(255,255,255,.18); border: 1px solid rgba(255,255,255,.5); }
main { max-width: 1440px; margin: -44px auto 40px; padding: 0 28px; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(170px, 1fr)); gap: 14px; }
.card { background: #fff; border: 1px solid var(--line); border-radius: 14px; padding: 16px 18px;
        box-shadow: 0 1px 3px rgba(15,23,42,.06); }
.card .value { font-size: 26px; font-weight: 700; letter-spacing: -0.02em; }
.card .label { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .06em; }
section { background: #fff; border: 1px solid var(--line); border-radius: 14px; padding: 20px 24px; margin-top: 20px;
          box-shadow: 0 1px 3px rgba(15,23,42,.06); }
h2 { margin: 0 0 4px; font-size: 18px; } .sub { color: var(--muted); margin: 0 0 14px; }
.legend { display: flex; flex-wrap: wrap; gap: 16px; color: var(--muted); font-size: 12px; margin-top: 10px; }
.legend i { display: inline-block; width: 22px; height: 3px; vertical-align: middle; margin-right: 6px; border-radius: 2px; }
svg.lineage .lane-label { font-weight: 700; font-size: 15px; text-transform: capitalize; }
svg.lineage .node-label { font-size: 12.5px; font-weight: 600; fill: #0f172a; }
svg.lineage .node-store { font-size: 10.5px; fill: #64748b; }
svg.lineage .badge { font-size: 9px; fill: #fff; text-anchor: middle; font-weight: 700; }
svg.lineage .node:hover rect { filter: drop-shadow(0 2px 4px rgba(0,0,0,.2)); }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th { text-align: left; color: var(--muted); font-weight: 600; font-size: 11.5px; text-transform: uppercase;
     letter-spacing: .05em; border-bottom: 1px solid var(--line); padding: 6px 8px; }
td { border-bottom: 1px solid #f1f5f9; padding: 6px 8px; vertical-align: top; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.bar { height: 12px; border-radius: 6px; min-width: 2px; }
.pill { display: inline-block; padding: 1px 9px; border-radius: 999px; font-size: 12px; font-weight: 600; }
.pill.ok { background: #dcfce7; color: #166534; } .pill.bad { background: #fee2e2; color: #991b1b; }
.kind { display: inline-block; width: 9px; height: 9px; border-radius: 3px; margin-right: 7px; }
.checks { display: grid; grid-template-columns: repeat(auto-fill, minmax(300px, 1fr)); gap: 4px 18px; }
.check { font-size: 12.5px; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.check-group { border-top: 1px solid #f1f5f9; padding: 8px 0; } .check-group summary { cursor: pointer; }
.bars { display: inline-flex; flex-wrap: wrap; gap: 2px; margin-left: 10px; vertical-align: middle; max-width: 60%; }
.bars i { width: 6px; height: 14px; border-radius: 2px; background: var(--ok); } .bars i.bad { background: var(--bad); }
.check b { display: inline-block; width: 16px; } .check.ok b { color: var(--ok); } .check.bad b { color: var(--bad); }
.reads { display: grid; grid-template-columns: repeat(auto-fit, minmax(380px, 1fr)); gap: 16px; }
.read { border: 1px solid var(--line); border-radius: 12px; padding: 14px; overflow-x: auto; }
.read h3 { margin: 0; font-size: 15px; text-transform: capitalize; } .read .why { color: var(--muted); font-size: 12px; }
.read td, .read th { font-size: 11.5px; padding: 3px 6px; white-space: nowrap; }
.action { display: inline-block; background: #f1f5f9; border-radius: 6px; padding: 0 6px; margin: 2px 3px 2px 0;
          font-size: 11px; color: #334155; }
.products { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap: 16px; }
.product { border: 1px solid var(--line); border-top: 5px solid; border-radius: 12px; padding: 14px 16px; }
.product h3 { margin: 0; font-size: 16px; } .product .meta { color: var(--muted); font-size: 12px; margin-bottom: 8px; }
.port { margin-top: 10px; } .port summary { cursor: pointer; font-weight: 600; }
.tag { display: inline-block; font-size: 10.5px; border-radius: 5px; padding: 0 5px; margin-right: 3px; }
.tag.pii { background: #fee2e2; color: #991b1b; } .tag.other { background: #e0e7ff; color: #3730a3; }
.error { color: var(--bad); font-size: 12px; }
footer { text-align: center; color: var(--muted); font-size: 12px; margin: 28px 0; }
"""

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>SmartPizza on meshkit: demo report</title><style>{{ style | safe }}</style></head>
<body>
<header>
  <h1>SmartPizza on meshkit</h1>
  <p>A pizza chain's data as three domains (orders, supply, customer), from raw exports to governed data products.</p>
  <span class="verdict" id="verdict">{{ verdict }}</span>
</header>
<main>
<div class="cards">
{% for label, value in cards %}  <div class="card"><div class="value">{{ value }}</div><div class="label">{{ label }}</div></div>
{% endfor %}</div>

<section id="lineage">
  <h2>Lineage across the domains</h2>
  <p class="sub">Every dataset, the domain that owns it, and what moved the data. Thick borders are data product ports.</p>
  {{ svg | safe }}
  <div class="legend">
  {% for via, color in edge_colors %}<span><i style="background:{{ color }}"></i>{{ via }}</span>{% endfor %}
  </div>
</section>

{% if pipeline %}<section id="pipeline">
  <h2>The SmartPizza pipeline</h2>
  <p class="sub">pipelines/smartpizza.yaml, run {{ pipeline.id }}: {{ pipeline.nodes | length }} nodes, {{ pipeline.status }}.
    <code>meshkit pipeline show smartpizza</code> draws it; <code>meshkit export airflow smartpizza</code> hands it to Airflow.</p>
  <div style="overflow-x:auto">{{ pipeline_svg | safe }}</div>
</section>

{% endif %}<section id="runs">
  <h2>Runs</h2>
  <p class="sub">{{ stages | length }} stages in {{ "%.1f" | format(seconds) }} s; each is a run record in the metadata database.</p>
  <table>
    <tr><th>stage</th><th>domain</th><th>status</th><th class="num">rows</th><th class="num">seconds</th><th style="width:34%"></th><th>details</th></tr>
    {% for s in stages %}<tr>
      <td><span class="kind" style="background:{{ kind_colors.get(s.kind, '#999') }}"></span>{{ s.kind }} <b>{{ s.name }}</b></td>
      <td>{{ s.domain or "" }}</td>
      <td><span class="pill {{ 'ok' if s.ok else 'bad' }}">{{ s.status }}</span></td>
      <td class="num">{{ "{:,}".format(s.rows) if s.rows else "" }}</td>
      <td class="num">{{ "%.2f" | format(s.seconds) }}</td>
      <td><div class="bar" style="width:{{ (100 * s.seconds / longest) | round(1) }}%;background:{{ kind_colors.get(s.kind, '#999') }}"></div></td>
      <td class="{{ '' if s.ok else 'error' }}">{{ s.detail }}</td>
    </tr>{% endfor %}
  </table>
</section>

<section id="checks">
  <h2>Checks</h2>
  <p class="sub">{{ passed }} passed, {{ failed }} failed: model tests, data checks and product contracts.</p>
  {% for s in stages if s.checks %}
  <details class="check-group"{% if s.checks_failed %} open{% endif %}>
  <summary><span class="pill {{ 'ok' if not s.checks_failed else 'bad' }}">{{ s.checks_passed }}/{{ s.checks | length }}</span>
    {{ s.kind }} <b>{{ s.name }}</b> <span class="bars">{% for name, ok, message in s.checks %}<i class="{{ 'ok' if ok else 'bad' }}" title="{{ name }}"></i>{% endfor %}</span></summary>
  <div class="checks">{% for name, ok, message in s.checks %}
    <div class="check {{ 'ok' if ok else 'bad' }}" title="{{ name }} {{ message }}"><b>{{ '✓' if ok else '✗' }}</b>{{ name }}{% if not ok %}: {{ message }}{% endif %}</div>{% endfor %}
  </div></details>{% endfor %}
</section>

<section id="reads">
  <h2>One product, three readers</h2>
  <p class="sub">The same query on the customer product, <code>{{ read_sql }}</code>, as three roles: policies decide what each sees.</p>
  <div class="reads">{% for r in reads %}
    <div class="read" data-role="{{ r.role }}"><h3>{{ r.role }}</h3>
      <div class="why">user {{ r.user }}, purpose {{ r.purpose }}, {{ "{:,}".format(r.total_rows) }} rows</div>
      <div>{% for a in r.actions %}<span class="action">{{ a }}</span>{% else %}<span class="action">sees everything</span>{% endfor %}</div>
      {% if r.error %}<p class="error">{{ r.error }}</p>{% else %}
      <table><tr>{% for c in r.columns[:7] %}<th>{{ c }}</th>{% endfor %}</tr>
      {% for row in r.rows %}<tr>{% for c in r.columns[:7] %}<td>{{ row[c] }}</td>{% endfor %}</tr>{% endfor %}</table>{% endif %}
    </div>{% endfor %}
  </div>
</section>

<section id="products">
  <h2>Data products and their contracts</h2>
  <p class="sub">Published to the catalog; every output port's live data was checked against its contract.</p>
  <div class="products">{% for p in products %}
    <div class="product" style="border-top-color:{{ p.color }}"><h3>{{ p.name }} <small>{{ p.version }}</small></h3>
      <div class="meta">domain {{ p.domain }} · team {{ p.team }} · owner {{ p.owner }}</div>
      <div>{{ p.description }}</div>
      {% for port in p.ports %}<details class="port"{% if loop.first %} open{% endif %}>
        <summary>{{ port.name }} <small>({{ port.dataset }}, {{ port.columns | length }} columns, {{ port.rules }} quality rules)</small></summary>
        <table><tr><th>column</th><th>type</th><th>tags</th></tr>
        {% for c in port.columns %}<tr><td>{{ c.name }}{% if c.primaryKey %} 🔑{% endif %}</td><td>{{ c.logicalType or "" }}</td>
          <td>{% for t in c.tags %}<span class="tag {{ 'pii' if t == 'pii' else 'other' }}">{{ t }}</span>{% endfor %}</td></tr>{% endfor %}
        </table></details>{% endfor %}
    </div>{% endfor %}
  </div>
</section>
<footer>Generated by <code>meshkit demo run</code> at scale {{ scale }} · workspace {{ workspace }}</footer>
</main></body></html>
"""


def _products(products: list) -> list[dict[str, Any]]:
    out = []
    for i, p in enumerate(products):
        ports = []
        for port in p.outputPorts:
            columns = [{"name": c.name, "logicalType": c.logicalType, "primaryKey": c.primaryKey,
                        "tags": [t for t in [c.classification, *c.tags] if t]} for c in port.contract.schema_]  # fmt: skip
            rules = len(port.contract.quality) + sum(len(c.quality) for c in port.contract.schema_)
            ports.append({"name": port.name, "dataset": port.dataset, "columns": columns, "rules": rules})
        out.append({"name": p.name, "version": p.version, "domain": p.domain, "team": p.team, "owner": p.owner,
                    "description": p.description, "ports": ports, "color": domain_color(p.domain or "", i)[0]})  # fmt: skip
    return out


def render_report(result: DemoResult, graph: LineageGraph, products: list) -> str:
    """The report page as HTML text."""
    passed, failed = result.checks
    failures = [s for s in result.stages if not s.ok]
    verdict = (f"✓ All {len(result.stages)} stages succeeded" if not failures
               else f"✗ {len(failures)} of {len(result.stages)} stages failed")  # fmt: skip
    data = result.data
    cards = [
        ("pizzas generated", f"{data.rows.get('pizzas', 0):,}" if data else "0"),
        ("runs recorded", str(result.runs)),
        ("rows written", f"{result.rows:,}"),
        ("checks passed", f"{passed} / {passed + failed}"),
        ("data products", str(len(products))),
        ("seconds", f"{result.seconds:.1f}"),
    ]
    env = Environment(autoescape=True)
    return env.from_string(PAGE).render(
        style=STYLE,
        verdict=verdict,
        cards=cards,
        svg=render(graph),
        pipeline=result.pipeline,
        pipeline_svg=render_graph(result.pipeline) if result.pipeline else "",
        edge_colors=list(EDGE_COLORS.items()),
        stages=result.stages,
        seconds=result.seconds,
        kind_colors=KIND_COLORS,
        longest=max((s.seconds for s in result.stages), default=1) or 1,
        passed=passed,
        failed=failed,
        reads=result.reads,
        read_sql=READ_SQL,
        products=_products(products),
        scale=f"{result.scale:g}",
        workspace=str(result.workspace),
    )


def write_report(result: DemoResult) -> Path:
    """Write ``.meshkit/report/index.html`` in the demo workspace; returns its path."""
    from meshkit.core.context import Meshkit
    from meshkit.data.transfer import load_transfer
    from meshkit.demo.lineage import build_graph
    from meshkit.products.loader import load_product, product_files

    with Meshkit.open(result.workspace) as mk:
        products = [load_product(p) for p in product_files(mk.workspace)]
        transfers = [load_transfer(p) for p in sorted((mk.workspace.root / "transfers").glob("*.yaml"))]
        graph = build_graph(mk, products, transfers)
    path = result.workspace / ".meshkit" / "report" / "index.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_report(result, graph, products), encoding="utf-8")
    return path
