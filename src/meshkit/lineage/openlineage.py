"""Built-in plugin: OpenLineage RunEvents for every run (jobs, transfers, model builds, checks, publishes).

START when a run begins, COMPLETE / FAIL / ABORT when it ends, with the job type, the datasets
read and written (schema, column lineage, output statistics) and data-quality assertions of
checks. Events go to a JSON-lines file (``.meshkit/openlineage/events.jsonl`` by default) or to
an HTTP endpoint such as Marquez (``openlineage_transport = "http"``), through openlineage-python.
An emission failure is logged and never fails the run.
"""

from __future__ import annotations

import logging
import threading
import uuid
import weakref
from typing import Any

from meshkit import __version__
from meshkit.catalog.plugin import run_lineage
from meshkit.core.errors import ConfigError
from meshkit.core.hookspecs import hookimpl
from meshkit.core.redaction import strip_credentials

log = logging.getLogger(__name__)
PRODUCER = f"https://meshkit.dev/meshkit/{__version__}"
#: Run kind -> OpenLineage ``jobType``.
JOB_TYPES = {"job": "JOB", "transfer": "TRANSFER", "build": "MODEL_BUILD", "model": "MODEL", "check": "CHECK",
             "publish": "PUBLISH"}  # fmt: skip
_FINAL = {"succeeded": "COMPLETE", "skipped": "COMPLETE", "cancelled": "ABORT"}

_clients: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_outputs: dict[str, dict[str, tuple[int | None, Any]]] = {}
_lock = threading.Lock()


def run_uuid(run_id: str) -> str:
    """The OpenLineage run id (a UUID) of a meshkit run id; the same for START and COMPLETE."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"meshkit:run:{run_id}"))


def _client(meshkit):
    if meshkit in _clients:
        return _clients[meshkit]
    from openlineage.client import OpenLineageClient

    notices = logging.getLogger("openlineage.client.client")
    if notices.level == logging.NOTSET:  # its INFO line naming the transport would open every run log
        notices.setLevel(logging.WARNING)
    config = meshkit.config
    kind = str(config.get("openlineage_transport")).lower()
    if kind == "none":
        client = None
    elif kind == "file":
        from openlineage.client.transport.file import FileConfig, FileTransport

        path = meshkit.workspace.resolve(config.get("openlineage_file"))
        path.parent.mkdir(parents=True, exist_ok=True)
        client = OpenLineageClient(transport=FileTransport(FileConfig(log_file_path=str(path), append=True)))
    elif kind == "http":
        from openlineage.client.transport.http import HttpConfig, HttpTransport

        url = config.get("openlineage_url")
        if not url:
            raise ConfigError(
                "`openlineage_transport = http` needs `openlineage_url`.", hint="e.g. http://localhost:5000"
            )
        params: dict[str, Any] = {"url": url, "endpoint": config.get("openlineage_endpoint")}
        if key := config.get("openlineage_api_key"):
            params["auth"] = {"type": "api_key", "apiKey": key}
        client = OpenLineageClient(transport=HttpTransport(HttpConfig.from_dict(params)))
    else:
        raise ConfigError(f"Unknown `openlineage_transport` `{kind}`.", hint="Use file, http or none.")
    _clients[meshkit] = client
    return client


def _dataset_ref(meshkit, name: str) -> tuple[str, str]:
    store, _, asset = strip_credentials(name).partition("/")
    return f"meshkit://{meshkit.workspace.name}/{store}", asset


def _schema_facet(schema):
    from openlineage.client.facet_v2 import schema_dataset

    fields = [schema_dataset.SchemaDatasetFacetFields(name=f.name, type=str(f.type), ordinal_position=i)
              for i, f in enumerate(schema, 1)]  # fmt: skip
    return schema_dataset.SchemaDatasetFacet(fields=fields)


def _column_lineage_facet(meshkit, run, target: str):
    from openlineage.client.facet_v2 import column_lineage_dataset as cl

    by_column: dict[str, list] = {}
    for edge in run.lineage.columns:
        if edge.target != target:
            continue
        namespace, name = _dataset_ref(meshkit, edge.source)
        kind = str(edge.transformation or "IDENTITY").upper()
        direct = kind if kind in ("IDENTITY", "TRANSFORMATION", "AGGREGATION") else "TRANSFORMATION"
        by_column.setdefault(edge.target_column, []).append(cl.InputField(namespace=namespace, name=name, field=edge.source_column,
                                                                          transformations=[cl.Transformation(type="DIRECT", subtype=direct)]))  # fmt: skip
    fields = {column: cl.Fields(inputFields=inputs) for column, inputs in by_column.items()}
    return cl.ColumnLineageDatasetFacet(fields=fields) if fields else None


def _assertions_facet(results: list[dict[str, Any]]):
    from openlineage.client.facet_v2 import data_quality_assertions_dataset as dq

    assertions = []
    for result in results:
        check = str(result.get("check"))
        column = check.split(".", 1)[0] if "." in check else None
        assertions.append(dq.Assertion(assertion=check, success=bool(result.get("passed")), column=column,
                                       actual=None if result.get("observed") is None else str(result["observed"])))  # fmt: skip
    return dq.DataQualityAssertionsDatasetFacet(assertions=assertions)


def build_event(meshkit, run, state: str, outputs: dict[str, tuple[int | None, Any]] | None = None):
    """The OpenLineage ``RunEvent`` for ``run`` in ``state`` (START, COMPLETE, FAIL, ABORT)."""
    from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
    from openlineage.client.facet_v2 import (
        error_message_run,
        job_type_job,
        output_statistics_output_dataset,
        parent_run,
    )

    namespace = meshkit.config.get("openlineage_namespace") or meshkit.workspace.name
    job_facets = {"jobType": job_type_job.JobTypeJobFacet(processingType="BATCH", integration="MESHKIT",
                                                          jobType=JOB_TYPES.get(run.kind, run.kind.upper()))}  # fmt: skip
    run_facets: dict[str, Any] = {}
    if state == "FAIL" and run.error:
        run_facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(message=meshkit.redactor.redact(run.error),
                                                                            programmingLanguage="python")  # fmt: skip
    if run.parent_id and (parent := meshkit.runs.get(run.parent_id)):
        run_facets["parent"] = parent_run.ParentRunFacet(run=parent_run.Run(runId=run_uuid(parent.id)),
                                                         job=parent_run.Job(namespace=namespace, name=parent.name))  # fmt: skip
    inputs, output_datasets = [], []
    if state != "START":
        quality = run.details.get("quality") or {}
        written = set(outputs or {})
        declared = [e.source for e in run_lineage(run, written)]
        for name in sorted(set(declared) | set(quality)):
            ns, asset = _dataset_ref(meshkit, name)
            facets = {"dataQualityAssertions": _assertions_facet(quality[name])} if name in quality else {}
            inputs.append(InputDataset(namespace=ns, name=asset, inputFacets=facets))
        for name, (rows, schema) in sorted((outputs or {}).items()):
            ns, asset = _dataset_ref(meshkit, name)
            facets: dict[str, Any] = {"schema": _schema_facet(schema)} if schema is not None else {}
            if lineage := _column_lineage_facet(meshkit, run, name):
                facets["columnLineage"] = lineage
            stats = (
                {}
                if rows is None
                else {
                    "outputStatistics": output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
                        rowCount=rows
                    )
                }
            )
            output_datasets.append(OutputDataset(namespace=ns, name=asset, facets=facets, outputFacets=stats))
    at = run.started_at if state == "START" else run.ended_at
    return RunEvent(
        eventType=getattr(RunState, state), eventTime=(at or run.created_at).isoformat(),
        run=Run(runId=run_uuid(run.id), facets=run_facets), job=Job(namespace=namespace, name=run.name, facets=job_facets),
        producer=PRODUCER, inputs=inputs, outputs=output_datasets,
    )  # fmt: skip


def _emit(meshkit, run, state: str, outputs=None) -> None:
    try:
        client = _client(meshkit)
        if client is not None:
            client.emit(build_event(meshkit, run, state, outputs))
    except ConfigError:
        raise
    except Exception as exc:  # noqa: BLE001 - lineage must never fail a run
        log.warning(
            "OpenLineage %s event of run %s not emitted: %s", state, run.id, meshkit.redactor.redact(str(exc))
        )


@hookimpl
def configure(config):
    config.add("openlineage_transport", "file", "Where OpenLineage events go: file, http (Marquez) or none.")
    config.add(
        "openlineage_file", ".meshkit/openlineage/events.jsonl", "JSON-lines file of the `file` transport."
    )
    config.add(
        "openlineage_url", None, "Base URL of the OpenLineage HTTP endpoint (e.g. Marquez http://host:5000)."
    )
    config.add("openlineage_endpoint", "api/v1/lineage", "Path of the HTTP endpoint.")
    config.add(
        "openlineage_api_key",
        None,
        "API key sent to the HTTP endpoint (a reference such as env:OL_KEY).",
        secret=True,
    )
    config.add("openlineage_namespace", None, "Namespace of meshkit's jobs (default: the workspace name).")


@hookimpl
def run_started(meshkit, run):
    _emit(meshkit, run, "START")


@hookimpl
def dataset_written(meshkit, run, dataset, rows, schema):
    with _lock:
        known = _outputs.setdefault(run.id, {})
        previous = known.get(dataset, (0, None))[0]
        known[dataset] = (previous + (rows or 0), schema)


@hookimpl
def run_finished(meshkit, run):
    with _lock:
        outputs = _outputs.pop(run.id, {})
    for name in run.lineage.outputs:
        if name not in outputs:
            outputs[name] = (None, None)
    _emit(meshkit, run, _FINAL.get(run.status, "FAIL"), outputs)
