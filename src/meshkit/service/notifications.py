"""Notifications of deployed jobs: email (SMTP) or webhook, per the job's contacts, on run events.

Contacts use VDK's ``config.ini`` keys under ``[contacts]``: ``notified_on_job_success``,
``notified_on_job_failure_user_error``, ``notified_on_job_failure_platform_error`` (and
``notified_on_job_cancelled``). An entry starting with ``http://`` or ``https://`` is a webhook,
anything else an email address. Only executions started by the control service notify.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from meshkit.core.hookspecs import hookimpl
from meshkit.core.runs import RunRecord
from meshkit.service.tables import executions, jobs

log = logging.getLogger("meshkit.service.notifications")

EVENT_KEYS = {
    "succeeded": "notified_on_job_success",
    "user_error": "notified_on_job_failure_user_error",
    "platform_error": "notified_on_job_failure_platform_error",
    "cancelled": "notified_on_job_cancelled",
}


@dataclass
class Notification:
    """One message to one recipient about one run."""

    channel: str
    recipient: str
    event: str
    subject: str
    body: str
    run: RunRecord
    payload: dict[str, Any]


#: The contacts of the job of an execution (one row, with no contacts when the job is gone; none when
#: the run is no execution).
_CONTACTS = (sa.select(executions.c.team, jobs.c.contacts)
             .select_from(executions.outerjoin(jobs, (jobs.c.team == executions.c.team) & (jobs.c.name == sa.bindparam("job"))))
             .where(executions.c.run_id == sa.bindparam("run_id")))  # fmt: skip


def contacts_of(meshkit, run: RunRecord) -> dict[str, list[str]] | None:
    """The contacts of a run's job, or ``None`` when the run was not started by the control service."""
    with meshkit.metadata.engine.connect() as conn:
        row = conn.execute(_CONTACTS, {"run_id": run.id, "job": run.name}).first()
    if row is None:
        return None
    return dict(row.contacts or {})


def build(meshkit, run: RunRecord, recipients: list[str]) -> list[Notification]:
    base = meshkit.config.get("service_url").rstrip("/")
    link = f"{base}/ui/teams/{run.team}/jobs/{run.name}/executions/{run.id}"
    error = meshkit.redactor.redact(run.error or "")
    duration = f"{run.duration:.1f} s" if run.duration is not None else "-"
    subject = f"[meshkit] {run.team}/{run.name} {run.status.replace('_', ' ')}"
    body = f"Execution {run.id} of {run.team}/{run.name} ended {run.status} after {duration}.\n"
    body += (f"\n{error}\n" if error else "") + f"\nDetails and logs: {link}\n"
    payload = {"event": f"job.{run.status}", "team": run.team, "job": run.name, "execution": run.id, "status": run.status,
               "error": error or None, "started_at": run.started_at.isoformat() if run.started_at else None,
               "ended_at": run.ended_at.isoformat() if run.ended_at else None, "url": link}  # fmt: skip
    out = []
    for recipient in recipients:
        channel = "webhook" if recipient.startswith(("http://", "https://")) else "email"
        out.append(Notification(channel, recipient, payload["event"], subject, body, run, payload))
    return out


@hookimpl
def run_finished(meshkit, run):
    key = EVENT_KEYS.get(run.status)
    if run.kind != "job" or key is None:
        return
    try:
        contacts = contacts_of(meshkit, run)
    except sa.exc.SQLAlchemyError:
        return
    if not contacts or not contacts.get(key):
        return
    for notification in build(meshkit, run, contacts[key]):
        try:
            delivered = any(meshkit.pm.hook.send_notification(meshkit=meshkit, notification=notification))
        except Exception as exc:  # a notification must never change how a run ends
            log.warning(
                "notification to %s failed: %s", notification.recipient, meshkit.redactor.redact(str(exc))
            )
            continue
        if not delivered:
            log.info("no sender for %s notification to %s", notification.channel, notification.recipient)


@hookimpl
def send_notification(meshkit, notification):
    cfg = meshkit.config
    timeout = cfg.get("notify_timeout")
    if notification.channel == "webhook":
        import urllib.request

        request = urllib.request.Request(notification.recipient, data=json.dumps(notification.payload).encode(),
                                         headers={"Content-Type": "application/json", "User-Agent": "meshkit"})  # fmt: skip
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read()
        return True
    if notification.channel == "email" and cfg.get("notify_smtp_host"):
        import smtplib
        from email.message import EmailMessage

        message = EmailMessage()
        message["From"] = cfg.get("notify_from")
        message["To"] = notification.recipient
        message["Subject"] = notification.subject
        message.set_content(notification.body)
        with smtplib.SMTP(cfg.get("notify_smtp_host"), cfg.get("notify_smtp_port"), timeout=timeout) as smtp:
            if cfg.get("notify_smtp_starttls"):
                smtp.starttls()
            if cfg.get("notify_smtp_user"):
                smtp.login(cfg.get("notify_smtp_user"), cfg.get("notify_smtp_password") or "")
            smtp.send_message(message)
        return True
    return None
