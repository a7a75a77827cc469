"""``meshkit docs generate`` / ``serve``: one self-contained page documenting the whole workspace."""

from __future__ import annotations

import re
import subprocess
import sys
import time

import httpx

from meshkit.testing import run_cli


def _workspace(tmp_path):
    root = tmp_path / "ws"
    assert run_cli(["init", str(root)]).exit_code == 0
    for args in (["transfer", "apply", str(root / "transfers" / "cities.yaml")], ["build"],
                 ["product", "publish", "population"], ["profile", "warehouse/cities"]):  # fmt: skip
        result = run_cli(args, workspace=root)
        assert result.exit_code == 0, (args, result.output)
    return root


def test_generate_writes_a_self_contained_page_of_the_workspace(tmp_path):
    root = _workspace(tmp_path)
    result = run_cli(["docs", "generate"], workspace=root)
    assert result.exit_code == 0, result.output
    html = (root / ".meshkit" / "docs" / "index.html").read_text()
    assert "<script" not in html and not re.search(r"""(src|href)=["']?https?://""", html)  # nothing fetched
    assert '<svg xmlns="http://www.w3.org/2000/svg" class="lineage-graph"' in html
    for dataset in ("files/cities.csv", "warehouse/cities", "warehouse/country_population"):
        assert f'id="d-{re.sub(r"[^A-Za-z0-9]", "-", dataset)}"' in html  # a section per dataset, sources too
    assert 'href="#d-warehouse-cities"' in html  # the drawing links to the sections
    assert "Cities and people per country." in html and "population" in html  # product, port and contract
    assert "succeeded" in html and "transfer" in html  # recent runs
    assert "Lisbon" in html  # the profile's top values


def test_serve_serves_the_generated_page(tmp_path):
    root = _workspace(tmp_path)
    proc = subprocess.Popen([sys.executable, "-c", "import sys; from meshkit.cli.main import main; sys.exit(main(sys.argv[1:]))",
                             "--workspace", str(root), "docs", "serve", "--port", "0"],
                            stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        line = proc.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+/", line).group(0)
        deadline = time.monotonic() + 30
        while True:
            try:
                page = httpx.get(url, timeout=2)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline
                time.sleep(0.2)
        assert page.status_code == 200 and "warehouse/cities" in page.text
    finally:
        proc.terminate()
        proc.wait(timeout=10)
