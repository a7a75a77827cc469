"""Request and response bodies of the REST API (their JSON Schema is the OpenAPI spec)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from meshkit.core.statuses import RunStatus
from meshkit.service.jobs import NAME_PATTERN

Name = Field(pattern=NAME_PATTERN, min_length=1, max_length=63)
TeamOrAll = Annotated[str, StringConstraints(pattern=r"^(\*|[a-z0-9][a-z0-9_-]{0,62})$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorDetail(BaseModel):
    code: str
    message: str
    hint: str | None = None
    where: str | None = None


class ErrorBody(BaseModel):
    error: ErrorDetail


class JobCreate(Strict):
    name: str = Name
    description: str = Field("", max_length=2000)
    contacts: dict[str, list[str]] = Field(default_factory=dict, max_length=20)


class JobPatch(Strict):
    description: str | None = Field(None, max_length=2000)
    contacts: dict[str, list[str]] | None = Field(None, max_length=20)


class Job(BaseModel):
    team: str
    name: str
    description: str
    contacts: dict[str, list[str]] | None = None
    created_by: str | None = None
    created_at: datetime
    updated_at: datetime
    last_status: RunStatus | None = None


class SourceEnvironment(BaseModel):
    """The environment a source version's ``requirements.txt`` is installed into, and its build log."""

    requirements: bool
    sha256: str | None = None
    #: ``ready``, ``failed``, ``absent`` (not built yet), or ``none`` (no requirements.txt).
    status: str
    log: str | None = None


class SourceVersion(BaseModel):
    team: str
    job: str
    version: int
    sha256: str
    size: int
    files: list[str] | None = None
    created_by: str | None = None
    created_at: datetime
    created: bool | None = None


Cron = Field(
    None,
    max_length=120,
    description="Cron expression (5 fields, or 6 with seconds last); empty: manual only.",
)


class DeploymentCreate(Strict):
    id: str = Field("production", pattern=NAME_PATTERN, max_length=63)
    version: int = Field(ge=1, le=2**31 - 1, description="Source version to deploy.")
    schedule: str | None = Cron
    timezone: str = Field("UTC", max_length=64)
    arguments: dict[str, Any] = Field(default_factory=dict)
    enabled: bool = True
    retries: int = Field(0, ge=0, le=10)
    retry_delay: int = Field(0, ge=0, le=86400, description="Seconds between a failure and the next attempt.")
    timeout: int | None = Field(
        None, ge=1, le=7 * 86400, description="Seconds before an execution is stopped."
    )
    catch_up: bool = Field(
        False, description="After downtime, fire every missed tick instead of the latest one."
    )


class DeploymentPatch(Strict):
    version: int | None = Field(None, ge=1, le=2**31 - 1)
    schedule: str | None = Cron
    timezone: str | None = Field(None, max_length=64)
    arguments: dict[str, Any] | None = None
    enabled: bool | None = None
    retries: int | None = Field(None, ge=0, le=10)
    retry_delay: int | None = Field(None, ge=0, le=86400)
    timeout: int | None = Field(None, ge=1, le=7 * 86400)
    catch_up: bool | None = None


class Deployment(BaseModel):
    team: str
    job: str
    id: str
    version: int
    schedule: str | None
    timezone: str
    arguments: dict[str, Any]
    enabled: bool
    retries: int
    retry_delay: int
    timeout: int | None
    catch_up: bool
    next_run_at: datetime | None
    updated_by: str | None
    created_at: datetime | None
    updated_at: datetime | None


class ExecutionStart(Strict):
    deployment: str | None = Field(None, pattern=NAME_PATTERN, max_length=63)
    arguments: dict[str, Any] = Field(default_factory=dict)


class Execution(BaseModel):
    id: str
    job: str
    team: str | None
    status: RunStatus
    deployment: str | None = None
    version: int | None = None
    trigger: str
    attempt: int | None = None
    scheduled_for: datetime | None = None
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    duration: float | None
    rows_written: int
    error: str | None
    arguments: dict[str, Any]
    executor: str | None = None
    state: str | None = None
    started_by: str | None = None
    cancel_requested: bool = False


class ExecutionLog(BaseModel):
    id: str
    status: RunStatus
    text: str
    offset: int
    complete: bool


class Properties(BaseModel):
    properties: dict[str, Any]


class SecretNames(BaseModel):
    names: list[str]


class SecretValue(Strict):
    value: str = Field(max_length=65536)


class TokenCreate(Strict):
    name: str = Field(min_length=1, max_length=200)
    subject: str = Field(min_length=1, max_length=200)
    roles: dict[TeamOrAll, Literal["viewer", "developer", "admin"]] = Field(min_length=1, max_length=100)
    expires_in_days: int | None = Field(None, ge=1, le=3650)


class TokenInfo(BaseModel):
    id: str
    name: str
    subject: str
    roles: dict[str, str]
    created_at: datetime
    expires_at: datetime | None = None
    revoked_at: datetime | None = None


class TokenCreated(TokenInfo):
    token: str = Field(description="Shown once; only its hash is stored.")


class WhoAmI(BaseModel):
    subject: str
    roles: dict[str, str]
    via: str


class AuditEntry(BaseModel):
    id: int
    at: datetime
    actor: str
    team: str | None
    action: str
    target: str | None
    details: dict[str, Any] | None


#: The phases of a transfer (Fybrik's BatchTransfer status); ``Submitted`` until the run starts.
TransferPhase = Literal["Submitted", "Pending", "Running", "Succeeded", "Failed", "Fatal"]


class TransferRun(BaseModel):
    """One past run of a transfer, newest first in ``history``."""

    runId: str | None = None
    phase: TransferPhase
    startTime: str | None = None
    duration: float | None = Field(None, description="Seconds.")
    numRecords: int | None = None
    bytes: int | None = None
    error: str | None = None


class TransferStatus(BaseModel):
    """The kept status of a transfer: its last run, what it moved and its history.

    A SyncTransfer adds its own counters (``batches``, ``lastBatchTime``, ``lag``).
    """

    model_config = ConfigDict(extra="allow")

    name: str
    phase: TransferPhase
    runId: str | None = None
    attempts: int | None = Field(None, description="Attempts of the last run, retries included.")
    startTime: str | None = None
    completionTime: str | None = None
    duration: float | None = Field(None, description="Seconds.")
    lastSuccessTime: str | None = None
    lastRecordTime: Any = Field(None, description="High-water mark of an incremental transfer.")
    numRecords: int | None = None
    bytes: int | None = None
    error: str | None = None
    plan: Any = Field(None, description="How the last run moved the data (pushed down or streamed).")
    source: dict[str, Any] | None = None
    destination: dict[str, Any] | None = None
    transformedColumns: Any = Field(None, description="Columns each transform changed.")
    history: list[TransferRun] = Field(default_factory=list)


class TransferSubmitted(BaseModel):
    name: str
    phase: TransferPhase
    #: The execution of a BatchTransfer; a SyncTransfer runs under the service's supervision instead.
    runId: str | None = None


class TransferCancelled(BaseModel):
    name: str
    runId: str
