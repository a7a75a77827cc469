"""The one layered layout of lineage drawings (catalog SVG and demo report), as a table of cases."""

from __future__ import annotations

import doctest

import pytest

from meshkit.catalog import layout
from meshkit.catalog.layout import by_barycenter, layers


@pytest.mark.parametrize(
    ("nodes", "edges", "expected"),
    [
        (["a"], [], {"a": 0}),
        (["a", "b", "c"], [("a", "b"), ("b", "c")], {"a": 0, "b": 1, "c": 2}),
        (
            ["a", "b", "c", "d"],
            [("a", "d"), ("a", "b"), ("b", "c"), ("c", "d")],
            {"a": 0, "b": 1, "c": 2, "d": 3},
        ),
        (["a", "b"], [("a", "b"), ("b", "a")], {"a": 2, "b": 1}),  # a cycle ends, bounded by the node count
    ],
)
def test_layers_are_longest_paths(nodes, edges, expected):
    assert layers(nodes, edges) == expected


def test_barycenter_follows_upstream_ranks_and_puts_orphans_last():
    upstream = {"x": ["a2"], "y": ["a0", "a1"], "z": []}
    assert by_barycenter(["z", "x", "y"], upstream, {"a0": 0, "a1": 1, "a2": 2}) == ["y", "x", "z"]


def test_doctests():
    assert doctest.testmod(layout).failed == 0
