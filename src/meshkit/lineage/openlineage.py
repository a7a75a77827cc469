"""Built-in plugin: OpenLineage RunEvents for every run (jobs, transfers, model builds, checks, publishes).

START when a run begins, COMPLETE / FAIL / ABORT when it ends, with the job type, the datasets
read and written (schema, column lineage, output statistics) and data-quality assertions of
checks. Events go to a JSON-lines file (``.meshkit/openlineage/events.jsonl`` by default) or to
an HTTP endpoint such as Marquez (``openlineage_transport = "http"``, through openlineage-python's
transport). Events are built as the JSON the spec defines, so a run writing to the file imports no
OpenLineage client. An emission failure is logged and never fails the run.
"""

from __future__ import annotations

import json
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
SPEC = "https://openlineage.io/spec"
#: Run kind -> OpenLineage ``jobType``.
JOB_TYPES = {"job": "JOB", "transfer": "TRANSFER", "build": "MODEL_BUILD", "model": "MODEL", "check": "CHECK",
             "publish": "PUBLISH"}  # fmt: skip
_FINAL = {"succeeded": "COMPLETE", "skipped": "COMPLETE", "cancelled": "ABORT"}

_senders: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_outputs: dict[str, dict[str, tuple[int | None, Any]]] = {}
_lock = threading.Lock()


def run_uuid(run_id: str) -> str:
    """The OpenLineage run id (a UUID) of a meshkit run id; the same for START and COMPLETE."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"meshkit:run:{run_id}"))


class _FileSender:
    """Appends each event to a JSON-lines file, one line per event."""

    def __init__(self, path):
        self.path = path

    def emit(self, event: dict[str, Any]) -> None:
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(event, sort_keys=True) + "\n")


def _sender(meshkit):
    if meshkit in _senders:
        return _senders[meshkit]
    config = meshkit.config
    kind = str(config.get("openlineage_transport")).lower()
    if kind == "none":
        sender = None
    elif kind == "file":
        path = meshkit.workspace.resolve(config.get("openlineage_file"))
        path.parent.mkdir(parents=True, exist_ok=True)
        sender = _FileSender(path)
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
        sender = HttpTransport(
            HttpConfig.from_dict(params)
        )  # NOTE: it sends any event that serialises to JSON
    else:
        raise ConfigError(f"Unknown `openlineage_transport` `{kind}`.", hint="Use file, http or none.")
    _senders[meshkit] = sender
    return sender


def _facet(name: str, version: str, **fields: Any) -> dict[str, Any]:
    """Facet ``name`` of the spec's ``version``: its fields, with who produced it and the schema it follows."""
    return {
        "_producer": PRODUCER,
        "_schemaURL": f"{SPEC}/facets/{version}/{name}.json#/$defs/{name}",
        **fields,
    }


def _dataset_ref(meshkit, name: str) -> tuple[str, str]:
    store, _, asset = strip_credentials(name).partition("/")
    return f"meshkit://{meshkit.workspace.name}/{store}", asset


def _schema_facet(schema) -> dict[str, Any]:
    fields = [{"name": f.name, "type": str(f.type), "ordinal_position": i} for i, f in enumerate(schema, 1)]
    return _facet("SchemaDatasetFacet", "1-2-0", fields=fields)


def _column_lineage_facet(meshkit, edges: list) -> dict[str, Any] | None:
    """The facet of one output's column ``edges`` (those whose target it is)."""
    by_column: dict[str, list] = {}
    for edge in edges:
        namespace, name = _dataset_ref(meshkit, edge.source)
        kind = str(edge.transformation or "IDENTITY").upper()
        direct = kind if kind in ("IDENTITY", "TRANSFORMATION", "AGGREGATION") else "TRANSFORMATION"
        by_column.setdefault(edge.target_column, []).append({
            "namespace": namespace, "name": name, "field": edge.source_column,
            "transformations": [{"type": "DIRECT", "subtype": direct}],
        })  # fmt: skip
    fields = {column: {"inputFields": inputs} for column, inputs in by_column.items()}
    return _facet("ColumnLineageDatasetFacet", "1-2-0", fields=fields) if fields else None


def _assertions_facet(results: list[dict[str, Any]]) -> dict[str, Any]:
    assertions = []
    for result in results:
        check = str(result.get("check"))
        assertion: dict[str, Any] = {"assertion": check, "success": bool(result.get("passed"))}
        if "." in check:
            assertion["column"] = check.split(".", 1)[0]
        if result.get("observed") is not None:
            assertion["actual"] = str(result["observed"])
        assertions.append(assertion)
    return _facet("DataQualityAssertionsDatasetFacet", "1-1-0", assertions=assertions)


def build_event(
    meshkit, run, state: str, outputs: dict[str, tuple[int | None, Any]] | None = None
) -> dict[str, Any]:
    """The OpenLineage ``RunEvent`` for ``run`` in ``state`` (START, COMPLETE, FAIL, ABORT), as JSON data.

    Built as plain data, which the spec defines, so that a run imports no OpenLineage client.
    """
    namespace = meshkit.config.get("openlineage_namespace") or meshkit.workspace.name
    job_type = JOB_TYPES.get(run.kind, run.kind.upper())
    job_facets = {"jobType": _facet("JobTypeJobFacet", "2-0-4", processingType="BATCH", integration="MESHKIT",
                                    jobType=job_type)}  # fmt: skip
    run_facets: dict[str, Any] = {}
    if state == "FAIL" and run.error:
        run_facets["errorMessage"] = _facet("ErrorMessageRunFacet", "1-0-1", message=meshkit.redactor.redact(run.error),
                                            programmingLanguage="python")  # fmt: skip
    if run.parent_id and (parent := meshkit.runs.get(run.parent_id)):
        run_facets["parent"] = _facet("ParentRunFacet", "1-2-0", run={"runId": run_uuid(parent.id)},
                                      job={"namespace": namespace, "name": parent.name})  # fmt: skip
    inputs, output_datasets = [], []
    if state != "START":
        quality = run.details.get("quality") or {}
        written = set(outputs or {})
        declared = [e.source for e in run_lineage(run, written)]
        for name in sorted(set(declared) | set(quality)):
            ns, asset = _dataset_ref(meshkit, name)
            facets = {"dataQualityAssertions": _assertions_facet(quality[name])} if name in quality else {}
            inputs.append({"namespace": ns, "name": asset, "facets": {}, "inputFacets": facets})
        edges_to: dict[str, list] = {}  # grouped once: a build of hundreds of models has thousands
        for edge in run.lineage.columns:
            edges_to.setdefault(edge.target, []).append(edge)
        for name, (rows, schema) in sorted((outputs or {}).items()):
            ns, asset = _dataset_ref(meshkit, name)
            facets: dict[str, Any] = {"schema": _schema_facet(schema)} if schema is not None else {}
            if lineage := _column_lineage_facet(meshkit, edges_to.get(name, [])):
                facets["columnLineage"] = lineage
            stats = {} if rows is None else {
                "outputStatistics": _facet("OutputStatisticsOutputDatasetFacet", "1-0-2", rowCount=rows)
            }  # fmt: skip
            output_datasets.append({"namespace": ns, "name": asset, "facets": facets, "outputFacets": stats})
    at = run.started_at if state == "START" else run.ended_at
    return {
        "eventType": state, "eventTime": (at or run.created_at).isoformat(),
        "run": {"runId": run_uuid(run.id), "facets": run_facets},
        "job": {"namespace": namespace, "name": run.name, "facets": job_facets},
        "inputs": inputs, "outputs": output_datasets, "producer": PRODUCER,
        "schemaURL": f"{SPEC}/2-0-2/OpenLineage.json#/$defs/RunEvent",
    }  # fmt: skip


def _emit(meshkit, run, state: str, outputs=None) -> None:
    try:
        sender = _sender(meshkit)
        if sender is not None:
            sender.emit(build_event(meshkit, run, state, outputs))
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
