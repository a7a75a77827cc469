"""The browser test of every route of the web UI: ``(method, route path) -> test function``.

``test_ui_routes.py`` compares it with the app's routes, and each test fails unless its browser
opened the routes given to it here (``conftest.covered_routes``).
"""

from __future__ import annotations

JOBS = "test_sign_in_deploy_start_watch_live_and_cancel"
ROOT = "test_ui_root_and_api_docs_work_offline"
LINEAGE = "test_workspace_lineage_page_clicks_through_to_columns_and_pages"
PIPELINE = "test_pipeline_run_page_shows_node_statuses_live"
EXECUTION = "/ui/teams/{team}/jobs/{job}/executions/{execution}"

PAGES: dict[tuple[str, str], str] = {
    ("GET", "/"): ROOT,
    ("GET", "/ui"): ROOT,
    ("GET", "/ui/"): ROOT,
    ("GET", "/ui/login"): JOBS,
    ("POST", "/ui/login"): JOBS,
    ("POST", "/ui/logout"): JOBS,
    ("GET", "/ui/jobs"): JOBS,
    ("POST", "/ui/deploy"): JOBS,
    ("GET", "/ui/teams/{team}/jobs/{job}"): JOBS,
    ("GET", "/ui/teams/{team}/jobs/{job}/sources/{version}/environment"): JOBS,
    ("POST", "/ui/teams/{team}/jobs/{job}/deployments/{deployment}/start"): JOBS,
    ("GET", EXECUTION): JOBS,
    ("GET", EXECUTION + "/live"): JOBS,
    ("POST", EXECUTION + "/cancel"): JOBS,
    ("GET", "/ui/transfers"): "test_transfer_page_shows_its_runs_with_rows_and_duration_charts",
    ("GET", "/ui/transfers/{name}"): "test_transfer_page_shows_its_runs_with_rows_and_duration_charts",
    ("GET", "/ui/catalog"): "test_catalog_page_searches_and_is_styled_like_the_rest",
    ("GET", "/ui/catalog/lineage"): LINEAGE,
    ("GET", "/ui/catalog/datasets/{name:path}"): LINEAGE,
    (
        "GET",
        "/ui/catalog/products/{name}",
    ): "test_product_page_shows_contract_ports_quality_versions_and_consumers",
    ("GET", "/ui/pipelines"): PIPELINE,
    ("GET", "/ui/pipelines/{name}"): PIPELINE,
    ("POST", "/ui/pipelines/{name}/start"): PIPELINE,
    ("GET", "/ui/pipelines/{name}/runs/{run_id}"): PIPELINE,
    ("GET", "/ui/pipelines/{name}/runs/{run_id}/live"): PIPELINE,
    ("GET", "/ui/runs/{run_id}"): PIPELINE,
    ("GET", "/ui/runs/{run_id}/live"): PIPELINE,
    ("GET", "/ui/runs/{run_id}/log"): PIPELINE,
}
