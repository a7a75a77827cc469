"""A deployed job's requirements.txt: installed into its own environment once, before any execution."""

from __future__ import annotations

import pytest
from service_helpers import TEAM, deploy, wait_status, zip_bytes

pytestmark = pytest.mark.anyio
JOBS = f"/api/v1/teams/{TEAM}/jobs"
USES_TABULATE = {
    "10_table.py": """
    import tabulate

    import meshkit

    def run(job_input):
        print("tabulate", tabulate.__version__, "meshkit", meshkit.__version__)
    """,
    "requirements.txt": "# the job's own dependency\ntabulate==0.9.0\n",
}


async def test_requirements_are_installed_once_and_used_by_executions(api):
    await deploy(api, "tables", USES_TABULATE)
    env = (await api.get(f"{JOBS}/tables/sources/1/environment")).json()
    assert env["requirements"] is True and env["status"] == "ready"
    assert "tabulate==0.9.0" in env["log"] and env["log"].rstrip().endswith("# ready")
    page = await api.get(f"/ui/teams/{TEAM}/jobs/tables")
    assert f"/ui/teams/{TEAM}/jobs/tables/sources/1/environment" in page.text
    assert (await api.get(f"/ui/teams/{TEAM}/jobs/tables/sources/1/environment")).text == env["log"]

    execution = (await api.post(f"{JOBS}/tables/executions", json={})).json()
    done = await wait_status(api, "tables", execution["id"], {"succeeded", "user_error", "platform_error"})
    logs = (await api.get(f"{JOBS}/tables/executions/{execution['id']}/logs")).text
    assert done["status"] == "succeeded", logs
    assert "tabulate 0.9.0 meshkit 0.1.0" in logs

    # another job with the same requirements shares the environment: no second build
    await deploy(api, "tables2", {**USES_TABULATE, "20_more.py": "def run(job_input):\n    pass\n"})
    again = (await api.get(f"{JOBS}/tables2/sources/1/environment")).json()
    assert again["sha256"] == env["sha256"] and again["log"] == env["log"]


async def test_a_failed_install_refuses_the_deployment_with_its_log(api):
    await api.post(f"{JOBS}", json={"name": "broken"})
    files = {
        "10_step.py": "def run(job_input):\n    pass\n",
        "requirements.txt": "meshkit-no-such-package-q7==1.0\n",
    }
    upload = await api.post(f"{JOBS}/broken/sources", files={"file": ("job.zip", zip_bytes(files))})
    assert upload.status_code == 201, upload.text
    response = await api.post(f"{JOBS}/broken/deployments", json={"version": 1})
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "dependencies_failed" and "meshkit-no-such-package-q7" in error["message"]
    assert (await api.get(f"{JOBS}/broken/deployments")).json() == []
    env = (await api.get(f"{JOBS}/broken/sources/1/environment")).json()
    assert env["status"] == "failed" and "# failed" in env["log"]


async def test_a_job_without_requirements_has_no_environment(api):
    await deploy(api, "plain", {"10_step.py": "def run(job_input):\n    pass\n"})
    env = (await api.get(f"{JOBS}/plain/sources/1/environment")).json()
    assert env == {"requirements": False, "sha256": None, "status": "none", "log": None}
