"""The pipeline run drawing: one box per node coloured by status, a link to each node's run, an
edge per dependency (dark once its source succeeded)."""

from __future__ import annotations

import doctest
import re

from meshkit.service.ui import graph as drawing


def test_doctests():
    assert doctest.testmod(drawing).failed == 0


def test_nodes_link_to_their_runs_and_edges_show_what_is_done():
    nodes = [
        {"name": "load", "kind": "transfer", "target": "cities", "depends_on": [], "status": "succeeded", "run_id": "a"},
        {"name": "build", "kind": "build", "target": "all", "depends_on": ["load"], "status": "running", "run_id": "b"},
        {"name": "check", "kind": "check", "target": "x", "depends_on": ["load", "build"], "status": "submitted",
         "run_id": "c", "attempts": 2, "error": "<boom>"},
        {"name": "publish", "kind": "publish", "target": "p", "depends_on": ["check"]},
    ]  # fmt: skip
    svg = drawing.render_run_graph({"name": "daily", "nodes": nodes})
    assert re.findall(r'data-node="(\w+)" data-status="(\w+)"', svg) == [
        ("load", "succeeded"), ("build", "running"), ("check", "submitted"), ("publish", "none")]  # fmt: skip
    assert re.findall(r'href="/ui/runs/(\w)"', svg) == ["a", "b", "c"]  # a node not run yet has no run
    assert re.findall(r'class="edge (\w+)" data-source="(\w+)"', svg) == [
        ("done", "load"), ("done", "load"), ("wait", "build"), ("wait", "check")]  # fmt: skip
    assert "try 2" in svg and "&lt;boom&gt;" in svg and "<boom>" not in svg
