"""Governance for transfers: the decision for a purpose, as transforms the transfer applies before writing.

A transfer run on behalf of a purpose calls ``transforms_for_purpose`` and passes the result as
``extra_transforms`` to :func:`meshkit.data.transfer.runner.run_transfer`; a denied purpose raises
``AccessDeniedError`` before any data moves. The decision is audited with channel ``transfer``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa

from meshkit.governance.decision import Subject
from meshkit.governance.governor import Governor
from meshkit.governance.masking import decision_transforms

if TYPE_CHECKING:
    from meshkit.core.context import Meshkit


def transforms_for_purpose(meshkit: Meshkit, dataset: str, purpose: str | None, subject: Subject | None = None, *,
                           schema: pa.Schema | None = None, governor: Governor | None = None) -> list:  # fmt: skip
    """Transforms enforcing the policies on ``dataset`` (a catalog name) read for ``purpose`` by ``subject``.

    ``schema`` is the source's Arrow schema (default: read from the dataset's store).
    """
    governor = governor or Governor(meshkit)
    found = governor.dataset(dataset)
    decision = governor.require(subject or Subject(), purpose, found, operation="transfer", channel="transfer",
                                statement=f"transfer of {found.id} for {purpose or 'no purpose'}")  # fmt: skip
    if schema is None:
        store = meshkit.store(found.store)
        schema = pa.schema([pa.field(c.name, c.arrow_type) for c in store.schema(found.asset)])
    return decision_transforms(decision, schema)
