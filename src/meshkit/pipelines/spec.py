"""Pipeline specs (``pipelines/NAME.yaml``) as pydantic models, and their loader.

A pipeline is a DAG of nodes. Each node does one thing the command line does: run a data job,
apply a transfer, build models (with selectors), run checks, or publish a product. A node waits
for its ``depends_on`` nodes, is tried ``1 + retries`` times, is stopped after ``timeout``
seconds, and when it fails either fails the pipeline (its dependents are skipped) or, with
``fail_pipeline_on_error: false``, lets the pipeline go on as VDK DAGs do. At most
``concurrency`` nodes run at once. ``schedule`` (cron) and ``triggers`` start the pipeline under
the control service.

Example::

    name: daily
    concurrency: 2
    schedule: "0 6 * * *"
    triggers:
      - {type: dataset, datasets: [files/cities.csv]}
    nodes:
      - {name: load, transfer: cities}
      - {name: build, build: {select: [country_population+]}, depends_on: [load], retries: 2}
      - {name: check, check: [warehouse/country_population], depends_on: [build]}
      - {name: publish, publish: population, depends_on: [check]}

The JSON Schema is published as ``docs/schemas/pipeline.schema.json``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from meshkit.core.errors import ConfigError
from meshkit.core.files import read_text

PIPELINES_DIR = "pipelines"
NodeKind = Literal["job", "transfer", "build", "check", "publish"]
NODE_KINDS: tuple[str, ...] = get_args(NodeKind)
TriggerType = Literal["webhook", "object", "message", "dataset"]
TRIGGER_TYPES: tuple[str, ...] = get_args(TriggerType)
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, use_attribute_docstrings=True)


class Selection(_Model):
    """Which models a ``build`` node builds, as ``meshkit build`` selects them."""

    select: list[str] = Field(default_factory=list)
    """Selectors (`model`, `model+`, `tag:x`, `path:...`); none means every node."""
    exclude: list[str] = Field(default_factory=list)
    selector: str | None = None
    """A selector of `selectors.yml`, by name."""
    command: Literal["build", "seed", "snapshot", "test"] = "build"
    """`build` (default), or only `seed`, `snapshot` or `test`."""
    full_refresh: bool = False


class Node(_Model):
    """One node of a pipeline: exactly one of ``job``, ``transfer``, ``build``, ``check``, ``publish``."""

    name: str
    job: str | None = None
    """A data job: a name under `jobs/` or a folder."""
    transfer: str | None = None
    """A transfer: a name under `transfers/` or a file."""
    build: Selection | None = None
    """Model builds; `build: {}` or `build: all` builds every model."""
    check: list[str] | None = None
    """Checks of these datasets or check names; an empty list runs every check."""
    publish: str | None = None
    """A data product, by name or file."""
    arguments: dict[str, Any] = Field(default_factory=dict)
    """Job arguments (job nodes only)."""
    depends_on: list[str] = Field(default_factory=list)
    retries: int | None = Field(default=None, ge=0, le=100)
    """Further attempts after a failure (default: the pipeline's `defaults`)."""
    retry_delay: float | None = Field(default=None, ge=0)
    """Seconds between attempts."""
    timeout: float | None = Field(default=None, gt=0)
    """Seconds an attempt may run before it is stopped and counted as failed."""
    fail_pipeline_on_error: bool | None = None
    """Whether a failure of this node fails the pipeline (and skips its dependents)."""

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not NAME.match(value):
            raise ValueError(f"`{value}` is not a node name: use letters, digits, '-', '_' and '.'")
        return value

    @field_validator("build", mode="before")
    @classmethod
    def _selection(cls, value: Any) -> Any:
        if value in ("all", "*"):
            return {}
        if isinstance(value, str):
            return {"select": value.split()}
        if isinstance(value, list):
            return {"select": value}
        return value

    @field_validator("check", mode="before")
    @classmethod
    def _checks(cls, value: Any) -> Any:
        if value in ("all", "*"):
            return []
        return [value] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _one_kind(self) -> Node:
        given = [kind for kind in NODE_KINDS if getattr(self, kind) is not None]
        if len(given) != 1:
            raise ValueError(f"node `{self.name}` needs exactly one of: " + ", ".join(NODE_KINDS))
        if self.arguments and given[0] != "job":
            raise ValueError(f"node `{self.name}`: `arguments` are for job nodes only")
        return self

    @property
    def kind(self) -> NodeKind:
        return next(kind for kind in NODE_KINDS if getattr(self, kind) is not None)

    def command(self) -> list[str]:
        """The ``meshkit`` command line that does this node's work, without ``meshkit`` itself.

        Run in the workspace folder, e.g. ``["run", "greetings", "--arguments", '{"day": "x"}']``.
        The pipeline runner and the exporters (Airflow, Argo, Kubernetes) run the same commands.
        """
        if self.job is not None:
            return ["run", self.job, *(["--arguments", json.dumps(self.arguments)] if self.arguments else [])]
        if self.transfer is not None:
            path = self.transfer
            if not path.endswith((".yaml", ".yml")) and "/" not in path:
                path = f"transfers/{path}.yaml"
            return ["transfer", "apply", path]
        if self.build is not None:
            argv = [self.build.command]
            for selector in self.build.select:
                argv += ["--select", selector]
            for selector in self.build.exclude:
                argv += ["--exclude", selector]
            if self.build.selector:
                argv += ["--selector", self.build.selector]
            return argv + (["--full-refresh"] if self.build.full_refresh else [])
        if self.check is not None:
            return ["check", *self.check]
        return ["product", "publish", str(self.publish)]

    @property
    def target(self) -> str:
        """What the node acts on, in words: ``greetings``, ``select country_population+``."""
        if self.build is not None:
            parts = [*self.build.select, *(f"--exclude {e}" for e in self.build.exclude)]
            if self.build.selector:
                parts.append(f"selector:{self.build.selector}")
            return " ".join(parts) or "all models"
        if self.check is not None:
            return " ".join(self.check) or "all checks"
        return str(getattr(self, self.kind))


class NodeDefaults(_Model):
    """Values of every node that does not set its own."""

    retries: int = Field(default=0, ge=0, le=100)
    retry_delay: float = Field(default=0, ge=0)
    timeout: float | None = Field(default=None, gt=0)
    fail_pipeline_on_error: bool = True


class WebhookTrigger(_Model):
    """An authenticated HTTP call: ``POST /api/v1/hooks/{pipeline}`` whose body is signed.

    The caller sends ``X-Meshkit-Timestamp`` (Unix seconds) and ``X-Meshkit-Signature:
    sha256=HEX`` where HEX is the HMAC-SHA256 of ``TIMESTAMP.BODY`` under ``secret``. Calls older
    than ``replay_window`` seconds, and a signature seen before, are refused.
    """

    type: Literal["webhook"] = "webhook"
    secret: str
    """A reference to the shared key (`secret:NAME` or `env:VAR`), never the key itself."""
    replay_window: int = Field(default=300, gt=0, le=86400)

    @field_validator("secret")
    @classmethod
    def _reference(cls, value: str) -> str:
        if not re.match(r"^(secret|env|vault):", value):
            raise ValueError("`secret` is a reference (`secret:NAME` or `env:VAR`), never the key itself")
        return value


class ObjectTrigger(_Model):
    """A new object under an S3 prefix (``s3://bucket/prefix/``)."""

    type: Literal["object"] = "object"
    path: str
    store: str | None = None
    """A store of `meshkit.toml` whose `endpoint_url`, `region` and keys reach the bucket."""
    endpoint_url: str | None = None
    """S3 endpoint (default: AWS, or the store's)."""
    region: str | None = None
    access_key: str | None = None
    """References (`env:VAR`, `secret:NAME`) to the keys, never the keys themselves."""
    secret_key: str | None = None
    interval: float = Field(default=10, gt=0)
    """Seconds between listings."""

    @field_validator("access_key", "secret_key")
    @classmethod
    def _key_reference(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^(secret|env|vault):", value):
            raise ValueError("S3 keys are references (`secret:NAME` or `env:VAR`), never the keys themselves")
        return value

    @field_validator("path")
    @classmethod
    def _s3(cls, value: str) -> str:
        if not value.startswith("s3://") or len(value) <= 5:
            raise ValueError("`path` is an S3 URL: s3://BUCKET/PREFIX")
        return value


class MessageTrigger(_Model):
    """A message on a NATS subject or a Kafka topic.

    A Kafka trigger names its broker with `url`, or with `store`: a Kafka store of
    `meshkit.toml` whose `bootstrap_servers` and security settings it reuses (its own settings
    win). Passwords are references, resolved where every secret is, never stored.
    """

    type: Literal["message"] = "message"
    broker: Literal["nats", "kafka"] = "nats"
    url: str | None = None
    """Server address (`nats://host:4222`, `host:9092`) or a reference to it (`env:VAR`)."""
    store: str | None = None
    """A Kafka store of `meshkit.toml` whose `bootstrap_servers` and security settings the trigger reuses."""
    subject: str
    """NATS subject (wildcards allowed) or Kafka topic."""
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] | None = None
    """Kafka: how the client talks to the broker (TLS, SASL, both)."""
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    """Kafka SASL user name, or a reference to it."""
    sasl_password: str | None = None
    """A reference (`secret:NAME`, `env:VAR`) to the SASL password, never the password itself."""
    ssl_ca_location: str | None = None
    """Kafka TLS: the CA certificate file that signed the broker's."""
    ssl_certificate_location: str | None = None
    ssl_key_location: str | None = None
    ssl_key_password: str | None = None
    """A reference to the client key's password."""

    @field_validator("sasl_password", "ssl_key_password")
    @classmethod
    def _password_reference(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^(secret|env|vault):", value):
            raise ValueError(
                "passwords are references (`secret:NAME` or `env:VAR`), never the password itself"
            )
        return value

    @model_validator(mode="after")
    def _broker_named(self) -> MessageTrigger:
        if self.broker == "nats":
            own = [k for k in KAFKA_SECURITY if getattr(self, k) is not None]
            if self.store is not None or own:
                raise ValueError(
                    f"`{(['store'] if self.store else own)[0]}` is for Kafka triggers (broker: kafka)"
                )
            if self.url is None:
                raise ValueError("a NATS trigger needs `url`")
        elif self.url is None and self.store is None:
            raise ValueError("a Kafka trigger needs `url` or `store` (a Kafka store of meshkit.toml)")
        return self


#: The Kafka security settings a message trigger may carry (as a Kafka store does).
KAFKA_SECURITY = ("security_protocol", "sasl_mechanism", "sasl_username", "sasl_password", "ssl_ca_location",
                  "ssl_certificate_location", "ssl_key_location", "ssl_key_password")  # fmt: skip


class DatasetTrigger(_Model):
    """New data: a successful run wrote a dataset the pipeline reads.

    ``datasets`` lists them (``store/asset``); left out, they are the datasets the catalog says
    the pipeline's nodes read that no node of the pipeline writes.
    """

    type: Literal["dataset"] = "dataset"
    datasets: list[str] | None = None


Trigger = Annotated[
    WebhookTrigger | ObjectTrigger | MessageTrigger | DatasetTrigger, Field(discriminator="type")
]


class Pipeline(_Model):
    """A pipeline: nodes, their dependencies, and when it runs."""

    name: str
    description: str | None = None
    team: str | None = None
    """The owning team (default: `team` of `meshkit.toml`)."""
    concurrency: int = Field(default=4, ge=1, le=256)
    """Most nodes running at once."""
    schedule: str | None = None
    """Cron expression (five fields or `@daily`), evaluated in `timezone`."""
    timezone: str = "UTC"
    triggers: list[Trigger] = Field(default_factory=list)
    defaults: NodeDefaults = Field(default_factory=NodeDefaults)
    nodes: list[Node] = Field(min_length=1)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not NAME.match(value):
            raise ValueError(f"`{value}` is not a pipeline name: use letters, digits, '-', '_' and '.'")
        return value

    @model_validator(mode="after")
    def _graph(self) -> Pipeline:
        names = [node.name for node in self.nodes]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError("node names must be unique; repeated: " + ", ".join(duplicates))
        for node in self.nodes:
            unknown = [d for d in node.depends_on if d not in names]
            if unknown:
                raise ValueError(f"node `{node.name}` depends on unknown node(s): " + ", ".join(unknown))
        cycle = find_cycle({node.name: node.depends_on for node in self.nodes})
        if cycle:
            raise ValueError("the nodes form a cycle: " + " -> ".join(cycle))
        return self

    def node(self, name: str) -> Node:
        return next(node for node in self.nodes if node.name == name)

    def setting(self, node: Node, key: str) -> Any:
        """``key`` (retries, retry_delay, timeout, fail_pipeline_on_error) of ``node``, else the default."""
        value = getattr(node, key)
        return getattr(self.defaults, key) if value is None else value

    def dependents(self, name: str) -> list[str]:
        """Every node that depends on ``name``, directly or not."""
        found: list[str] = []
        frontier = [name]
        while frontier:
            current = frontier.pop()
            for node in self.nodes:
                if current in node.depends_on and node.name not in found:
                    found.append(node.name)
                    frontier.append(node.name)
        return found

    def layers(self) -> list[list[str]]:
        """Node names in dependency layers: each layer's nodes depend only on earlier layers."""
        level: dict[str, int] = {}

        def depth(name: str) -> int:
            if name not in level:
                level[name] = 1 + max((depth(d) for d in self.node(name).depends_on), default=-1)
            return level[name]

        for node in self.nodes:
            depth(node.name)
        layers: list[list[str]] = [[] for _ in range(max(level.values()) + 1)]
        for node in self.nodes:
            layers[level[node.name]].append(node.name)
        return layers


def find_cycle(graph: dict[str, list[str]]) -> list[str] | None:
    """A cycle of ``graph`` (name -> names it depends on) as a path that ends where it starts, or None."""
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(name: str) -> list[str] | None:
        state[name] = 1
        path.append(name)
        for dep in graph.get(name, []):
            if state.get(dep) == 1:
                return [*path[path.index(dep) :], dep]
            if dep not in state and (found := visit(dep)):
                return found
        state[name] = 2
        path.pop()
        return None

    for name in graph:
        if name not in state and (found := visit(name)):
            return found
    return None


def _line_of(text: str, loc: tuple) -> int | None:
    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return None
    line = None
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            match = next(((k, v) for k, v in node.value if k.value == key), None)
            if match is None:
                break
            line, node = match[0].start_mark.line + 1, match[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
            line = node.start_mark.line + 1
        else:
            break
    return line


def validate_pipeline(data: dict[str, Any], where: str, text: str | None = None) -> Pipeline:
    """A ``Pipeline`` from plain data; errors name ``where``, the field and (with ``text``) its line."""
    try:
        return Pipeline.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        loc = tuple(p for p in error["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        if loc[:1] == ("triggers",) and len(loc) > 2 and loc[2] in TRIGGER_TYPES:
            loc = loc[:2] + loc[3:]  # the union member's name is not a field of the file
        field = ".".join(str(p) for p in loc) or "(top level)"
        line = _line_of(text, loc) if text else None
        more = f" ({len(exc.errors()) - 1} more error(s))" if len(exc.errors()) > 1 else ""
        message = error["msg"].removeprefix("Value error, ")
        raise ConfigError(f"Field `{field}`: {message}{more}.", where=f"{where}:{line}" if line else where,
                          hint="See docs/pipelines.md.") from None  # fmt: skip


def parse_pipeline(text: str, where: str, name: str | None = None) -> Pipeline:
    """A ``Pipeline`` from YAML ``text``; ``name`` is used when the text has none (the file's stem)."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f"{where}:{mark.line + 1}" if mark else where
        raise ConfigError(
            f"Invalid YAML: {getattr(exc, 'problem', exc)}.", where=at, hint="Fix the YAML syntax."
        ) from None
    if not isinstance(data, dict):
        raise ConfigError("A pipeline is a YAML mapping.", where=where, hint="Start with `nodes:`.")
    if name is not None:
        data.setdefault("name", name)
    return validate_pipeline(data, where, text)


def load_pipeline(path: str | Path) -> Pipeline:
    """The pipeline of file ``path`` (named after the file unless it says ``name:``)."""
    path = Path(path)
    try:
        text = read_text(path)
    except OSError as exc:
        raise ConfigError(f"Cannot read pipeline: {exc.strerror}.", where=str(path)) from None
    return parse_pipeline(text, str(path), name=path.stem)


def pipeline_files(root: Path) -> list[Path]:
    """The pipeline files of the workspace at ``root``."""
    folder = root / PIPELINES_DIR
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())


def pipeline_path(root: Path, name_or_path: str) -> Path:
    """The file of a pipeline given by name (under ``pipelines/``) or path."""
    for candidate in (Path(name_or_path), root / name_or_path, root / PIPELINES_DIR / f"{name_or_path}.yaml",
                      root / PIPELINES_DIR / f"{name_or_path}.yml"):  # fmt: skip
        if candidate.is_file():
            return candidate.resolve()
    known = [p.stem for p in pipeline_files(root)]
    hint = (
        f"Known pipelines: {', '.join(known)}."
        if known
        else "Create one with `meshkit create pipeline NAME`."
    )
    raise ConfigError(f"No pipeline `{name_or_path}` found (looked under {PIPELINES_DIR}/).", hint=hint)


def find_pipeline(root: Path, name_or_path: str) -> Pipeline:
    """The pipeline named (or at path) ``name_or_path`` in the workspace at ``root``."""
    return load_pipeline(pipeline_path(root, name_or_path))


def pipeline_json_schema() -> dict[str, Any]:
    """The JSON Schema of ``pipelines/*.yaml``."""
    schema = Pipeline.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://meshkit.dev/schemas/pipeline.schema.json"
    schema["title"] = "meshkit pipeline"
    return schema
