"""Job sources: zipped job folders stored as immutable, numbered versions with a content hash."""

from __future__ import annotations

import configparser
import hashlib
import io
import shutil
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any

import sqlalchemy as sa

from meshkit.core.runs import now
from meshkit.pipelines import DEPLOYED_FILE
from meshkit.service import audit
from meshkit.service.exceptions import ApiError, NotFoundError, PayloadTooLargeError
from meshkit.service.jobs import get_job
from meshkit.service.tables import jobs, sources

STEP_SUFFIXES = (".py", ".sql")

_INFO = [sources.c.team, sources.c.job, sources.c.version, sources.c.sha256, sources.c.size, sources.c.files,
         sources.c.created_by, sources.c.created_at]  # fmt: skip


def read_archive(data: bytes, max_bytes: int) -> dict[str, bytes]:
    """The files of a zipped job folder, ``{relative path: content}``; a single top folder is dropped."""
    if len(data) > max_bytes:
        raise PayloadTooLargeError(f"The source archive has {len(data)} bytes; the limit is {max_bytes}.",
                                   hint="Leave data files out of the job folder or raise `service_max_source_mb`.")  # fmt: skip
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = [i for i in archive.infolist() if not i.is_dir()]
        if sum(i.file_size for i in infos) > max_bytes * 4:
            raise PayloadTooLargeError("The source archive unpacks to more than four times the size limit.")
        files = {}
        for info in infos:
            path = PurePosixPath(info.filename.replace("\\", "/"))
            if path.is_absolute() or ".." in path.parts or not path.parts:
                raise ApiError(
                    f"The archive entry `{info.filename}` points outside the job folder.",
                    code="invalid_source",
                )
            if "__pycache__" in path.parts or path.name == ".DS_Store":
                continue
            files[str(path)] = archive.read(info)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError, NotImplementedError) as exc:
        raise ApiError(f"The source is not a readable zip archive: {exc}.", code="invalid_source",
                       hint="Upload a zip of the job folder (`meshkit deploy` builds it).") from None  # fmt: skip
    tops = {p.split("/", 1)[0] for p in files}
    if len(tops) == 1 and all("/" in p for p in files):
        files = {p.split("/", 1)[1]: content for p, content in files.items()}
    if not any("/" not in p and (p.endswith(STEP_SUFFIXES) or p == DEPLOYED_FILE) for p in files):
        raise ApiError("The archive has no step file (*.py or *.sql) at the top of the job folder.", code="invalid_source",
                       hint="Zip the job folder itself, with its steps such as 10_load.py (or deploy a pipeline with `meshkit pipeline deploy`).")  # fmt: skip
    return files


def _contacts(config_ini: bytes | None) -> dict[str, list[str]]:
    """The ``[contacts]`` of a job's config.ini (VDK keys such as ``notified_on_job_success``)."""
    if not config_ini:
        return {}
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(config_ini.decode("utf-8", errors="replace"))
    except configparser.Error as exc:
        raise ApiError(
            f"config.ini cannot be parsed: {exc}.", where="config.ini", code="invalid_source"
        ) from None
    if not parser.has_section("contacts"):
        return {}
    return {
        key: [v.strip() for v in value.replace(";", ",").split(",") if v.strip()]
        for key, value in parser.items("contacts")
    }


def content_hash(files: dict[str, bytes]) -> str:
    """SHA-256 over sorted paths and contents: the same folder always hashes the same, however zipped."""
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(path.encode() + b"\0" + hashlib.sha256(files[path]).digest())
    return digest.hexdigest()


def zip_folder(folder: Path) -> bytes:
    """Zip a job folder (without caches and hidden files), as ``meshkit deploy`` uploads it."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            rel = path.relative_to(folder)
            if (
                path.is_file()
                and "__pycache__" not in rel.parts
                and not any(p.startswith(".") for p in rel.parts)
            ):
                archive.write(path, rel.as_posix())
    return buffer.getvalue()


def upload(
    engine: sa.Engine, team: str, job: str, data: bytes, *, max_bytes: int, actor: str
) -> tuple[dict[str, Any], bool]:
    """Store a new version unless it equals the latest one; returns ``(version info, created)``."""
    files = read_archive(data, max_bytes)
    sha = content_hash(files)
    with engine.begin() as conn:
        get_job(conn, team, job)
        latest = conn.execute(
            sa.select(*_INFO).where(sources.c.team == team, sources.c.job == job).order_by(sources.c.version.desc()).limit(1)
        ).mappings().first()  # fmt: skip
        if latest is not None and latest["sha256"] == sha:
            return dict(latest), False
        version = (latest["version"] if latest else 0) + 1
        row = {"team": team, "job": job, "version": version, "sha256": sha, "size": len(data), "files": sorted(files),
               "created_by": actor, "created_at": now()}  # fmt: skip
        conn.execute(sources.insert().values(**row, content=_normalized_zip(files)))
        contacts = _contacts(files.get("config.ini"))
        if contacts:
            conn.execute(
                jobs.update().where(jobs.c.team == team, jobs.c.name == job).values(contacts=contacts)
            )
        audit.record(
            conn, actor, "source.upload", team=team, target=job, details={"version": version, "sha256": sha}
        )
    return row, True


def _normalized_zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(files):
            archive.writestr(zipfile.ZipInfo(path, (1980, 1, 1, 0, 0, 0)), files[path])
    return buffer.getvalue()


def list_versions(
    engine: sa.Engine, team: str, job: str, *, limit: int = 50, offset: int = 0
) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        get_job(conn, team, job)
        query = (
            sa.select(*_INFO)
            .where(sources.c.team == team, sources.c.job == job)
            .order_by(sources.c.version.desc())
        )
        return [dict(r) for r in conn.execute(query.limit(limit).offset(offset)).mappings()]


def get_version(
    conn: sa.Connection, team: str, job: str, version: int, *, content: bool = False
) -> dict[str, Any]:
    cols = [*_INFO, sources.c.content] if content else _INFO
    row = conn.execute(
        sa.select(*cols).where(sources.c.team == team, sources.c.job == job, sources.c.version == version)
    ).mappings().first()  # fmt: skip
    if row is None:
        raise NotFoundError(
            f"Job `{team}/{job}` has no source version {version}.", hint="List versions with GET .../sources."
        )
    return dict(row)


def materialize(
    engine: sa.Engine, cache: Path, team: str, job: str, version: int, sha256: str | None = None
) -> Path:
    """The job folder of a version, unpacked once under ``cache`` (named after the job, as ``meshkit run`` expects).

    ``sha256``, the version's hash when the caller has it, saves a query when the folder exists.
    """
    if sha256 is None:
        with engine.connect() as conn:
            sha256 = get_version(conn, team, job, version)["sha256"]
    target = cache / team / job / sha256[:20] / job
    if target.is_dir():
        return target
    with engine.connect() as conn:
        content = get_version(conn, team, job, version, content=True)["content"]
    staging = target.parent.with_name(target.parent.name + f".tmp{id(target)}")
    shutil.rmtree(staging, ignore_errors=True)
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        archive.extractall(staging / job)
    try:
        staging.rename(target.parent)
    except OSError:  # another process unpacked the same version first
        shutil.rmtree(staging, ignore_errors=True)
    return target
