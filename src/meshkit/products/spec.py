"""Data product descriptors (``products/NAME.yaml``) as pydantic models.

A product has a domain, an owner and team, input ports (datasets or other products' ports) and
output ports. Each output port is a dataset (``store/asset``) with an ODCS v3 contract: columns
with logical and physical types, keys, classification and tags, quality rules and SLA
properties such as freshness. Keys follow ODCS/ODPS (camelCase), so contracts read like ODCS, and
the parts that mirror an ODCS contract keep any other ODCS field they are given, so an imported
contract exports back unchanged. The JSON Schema is published as ``docs/schemas/product.schema.json``.
"""

from __future__ import annotations

import re
from typing import Any, Literal, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    field_validator,
    model_serializer,
    model_validator,
)

LogicalType = Literal[
    "string", "date", "timestamp", "time", "number", "integer", "object", "array", "boolean"
]
LOGICAL_TYPES: tuple[str, ...] = get_args(LogicalType)
Metric = Literal["nullValues", "missingValues", "invalidValues", "duplicateValues", "rowCount"]
METRICS: tuple[str, ...] = get_args(Metric)
#: ODCS comparison operators of a quality rule.
OPERATORS = ("mustBe", "mustNotBe", "mustBeGreaterThan", "mustBeGreaterOrEqualTo", "mustBeLessThan",
             "mustBeLessOrEqualTo", "mustBeBetween", "mustNotBeBetween")  # fmt: skip
SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class _OdcsModel(BaseModel):
    """A part that mirrors an ODCS object: the ODCS fields meshkit does not use are kept as given,
    and fields are written back in the order they were given."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)
    _given_order: tuple[str, ...] = PrivateAttr(default=())

    @model_validator(mode="wrap")
    @classmethod
    def _remember_order(cls, data: Any, handler) -> Any:
        model = handler(data)
        if isinstance(data, dict):
            model._given_order = tuple(data)
        return model

    @model_serializer(mode="wrap")
    def _in_given_order(self, handler) -> Any:
        data = handler(self)
        rank = {key: i for i, key in enumerate(self._given_order)}
        return dict(sorted(data.items(), key=lambda item: rank.get(item[0], len(rank))))


class QualityRule(_OdcsModel):
    """An ODCS data-quality rule: a library metric or a SQL query, compared with one operator.

    Rules meshkit cannot evaluate (``text``, ``custom``, the deprecated library ``rule``) are kept
    and reported as documentation.
    """

    name: str | None = None
    description: str | None = None
    type: Literal["library", "sql", "text", "custom"] = "library"
    #: Library metric (``type: library``).
    metric: Metric | None = None
    #: ``validValues``, ``pattern`` (invalidValues), ``missingValues`` (missingValues).
    arguments: dict[str, Any] | None = None
    #: SQL returning one number (``type: sql``); ``${table}`` and ``${column}`` are substituted.
    query: str | None = None
    #: ``rows`` (default) or ``percent``.
    unit: str | None = None
    dimension: str | None = None
    severity: str | None = None
    mustBe: Any = None
    mustNotBe: Any = None
    mustBeGreaterThan: int | float | None = None
    mustBeGreaterOrEqualTo: int | float | None = None
    mustBeLessThan: int | float | None = None
    mustBeLessOrEqualTo: int | float | None = None
    mustBeBetween: list[int | float] | None = None
    mustNotBeBetween: list[int | float] | None = None

    @model_validator(mode="after")
    def _check(self) -> QualityRule:
        if self.type == "library" and self.metric is None and not self.model_extra.get("rule"):
            raise ValueError("a library rule needs `metric` (" + ", ".join(METRICS) + ")")
        if self.type == "sql" and not self.query:
            raise ValueError("a sql rule needs `query`")
        operators = sum(getattr(self, op) is not None for op in OPERATORS)
        if operators > 1 or (operators == 0 and self.checked):
            raise ValueError("a rule needs exactly one operator: " + ", ".join(OPERATORS))
        for op in ("mustBeBetween", "mustNotBeBetween"):
            value = getattr(self, op)
            if value is not None and (len(value) != 2 or value[0] > value[1]):
                raise ValueError(f"`{op}` takes [low, high]")
        return self

    @property
    def checked(self) -> bool:
        """Whether meshkit evaluates this rule (a library metric or a SQL query)."""
        return (self.type == "library" and self.metric is not None) or self.type == "sql"

    def operator(self) -> tuple[str, Any]:
        """``(operator, operand)`` of this rule, ``("", "")`` when it has none."""
        return next(((op, getattr(self, op)) for op in OPERATORS if getattr(self, op) is not None), ("", ""))

    def label(self, column: str | None = None) -> str:
        what = self.name or (
            self.metric or self.model_extra.get("rule") if self.type == "library" else self.type
        )
        op, value = self.operator()
        return f"{column + '.' if column else ''}{what} {op} {value}".strip()


class Column(_OdcsModel):
    """One column (an ODCS schema property)."""

    name: str
    logicalType: LogicalType | None = None
    physicalType: str | None = None
    description: str | None = None
    required: bool = False
    unique: bool = False
    primaryKey: bool = False
    primaryKeyPosition: int | None = None
    #: ``public``, ``internal``, ``confidential``, ``restricted``, ``pii``... read by policies.
    classification: str | None = None
    tags: list[str] = []
    #: ``minLength``, ``maxLength``, ``pattern``, ``minimum``, ``maximum``, ``format``...
    logicalTypeOptions: dict[str, Any] | None = None
    quality: list[QualityRule] = []


class SlaProperty(_OdcsModel):
    """An ODCS SLA property; ``freshness`` (value and unit, on the timestamp column ``element``) is checked."""

    property: str
    value: Any
    unit: str | None = None
    element: str | None = None
    description: str | None = None
    driver: str | None = None


class Contract(_OdcsModel):
    """The ODCS contract of an output port: one ODCS schema object, its columns under ``schema``.

    ``slaProperties`` are the contract's; the schema object's other ODCS fields (``physicalName``,
    ``businessName``, ``relationships``...) are kept as given.
    """

    schema_: list[Column] = Field(default_factory=list, alias="schema")
    quality: list[QualityRule] = []
    slaProperties: list[SlaProperty] = []

    @field_validator("schema_")
    @classmethod
    def _unique_columns(cls, columns: list[Column]) -> list[Column]:
        names = [c.name.lower() for c in columns]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"column(s) declared twice: {', '.join(duplicates)}")
        return columns

    def column(self, name: str) -> Column | None:
        return next((c for c in self.schema_ if c.name.lower() == name.lower()), None)


class InputPort(_Model):
    """Where the product reads from: a dataset (``store/asset``) or another product's port (``product.port``)."""

    name: str
    dataset: str | None = None
    product: str | None = None
    description: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> InputPort:
        if bool(self.dataset) == bool(self.product):
            raise ValueError("an input port names either `dataset` (store/asset) or `product` (product.port)")
        return self


class OutputPort(_Model):
    """A dataset the product promises, with its contract."""

    name: str
    #: ``store/asset`` where the port's data lives.
    dataset: str
    description: str | None = None
    tags: list[str] = []
    contract: Contract = Contract()
    #: The ``id`` of the imported ODCS contract (under the product's ``contracts``) this port is a
    #: schema object of; unset, the port exports as a contract of its own.
    contractId: str | None = None

    @field_validator("dataset")
    @classmethod
    def _dataset_name(cls, value: str) -> str:
        store, sep, asset = value.partition("/")
        if not sep or not store or not asset:
            raise ValueError("`dataset` is store/asset, e.g. warehouse/customers")
        return value


class ContractDocument(_OdcsModel):
    """An imported ODCS contract, kept whole but for the schema objects its output ports carry."""

    apiVersion: str
    kind: Literal["DataContract"]
    id: str

    @field_validator("apiVersion")
    @classmethod
    def _v3(cls, value: str) -> str:
        if not value.startswith("v3."):
            raise ValueError("meshkit reads ODCS v3 contracts (`apiVersion` v3.x.y)")
        return value


class Product(_Model):
    """A data product descriptor."""

    name: str
    version: str
    #: Free text as in ODCS; ``proposed``, ``draft``, ``active``, ``deprecated``, ``retired`` are usual.
    status: str = "draft"
    domain: str | None = None
    owner: str | None = None
    team: str | None = None
    description: str | None = None
    tags: list[str] = []
    #: Data residency of the output ports (e.g. ``eu``), given to policies.
    residency: str | None = None
    inputPorts: list[InputPort] = []
    outputPorts: list[OutputPort] = []
    #: ODCS contracts imported into this product, given back unchanged on export.
    contracts: list[ContractDocument] = []

    @field_validator("version")
    @classmethod
    def _semver(cls, value: str) -> str:
        if not SEMVER.match(value):
            raise ValueError("`version` must be semantic: MAJOR.MINOR.PATCH, e.g. 1.2.0")
        return value

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not re.match(r"^[A-Za-z][\w-]*$", value):
            raise ValueError("`name` starts with a letter and holds letters, digits, _ and -")
        return value

    @model_validator(mode="after")
    def _unique_ports(self) -> Product:
        names = [p.name for p in self.outputPorts]
        if len(names) != len(set(names)):
            raise ValueError("output port names must be unique")
        ids = [c.id for c in self.contracts]
        if len(ids) != len(set(ids)):
            raise ValueError("contract ids must be unique")
        for port in self.outputPorts:
            contract = self.contract(port.contractId) if port.contractId else None
            if port.contractId and contract is None:
                raise ValueError(f"output port `{port.name}` names contract `{port.contractId}`, "
                                 "which is not under `contracts`")  # fmt: skip
            if contract is not None and "schema" in contract.model_extra:
                raise ValueError(f"contract `{contract.id}` has a `schema` and output port `{port.name}` too")
        return self

    @property
    def major(self) -> int:
        return int(self.version.split(".")[0])

    def port(self, name: str) -> OutputPort | None:
        return next((p for p in self.outputPorts if p.name == name), None)

    def contract(self, contract_id: str) -> ContractDocument | None:
        return next((c for c in self.contracts if c.id == contract_id), None)

    def dump(self) -> dict[str, Any]:
        """The descriptor as plain data, with only the fields it was given, as written to YAML."""
        return self.model_dump(mode="json", by_alias=True, exclude_unset=True)


def product_json_schema() -> dict[str, Any]:
    """The JSON Schema of ``products/*.yaml``."""
    schema = Product.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://meshkit.dev/schemas/product.schema.json"
    schema["title"] = "meshkit data product"
    return schema
