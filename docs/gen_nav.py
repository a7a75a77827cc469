"""MkDocs hook: keep the navigation to pages that exist, and list the tutorials that exist.

Several pages are written alongside the code they document; until one exists, its entry is left
out of the navigation (instead of failing the strict build), and the tutorials index lists only
the tutorials present.
"""

from __future__ import annotations

from pathlib import Path

#: Tutorials in reading order: (page, title, what it teaches).
TUTORIALS = [
    ("jobs.md", "Write a job", "steps in SQL and Python, job_input, ingestion, runs and logs"),
    ("templates.md", "Load with templates", "scd1, scd2, periodic_snapshot and insert"),
    ("properties-and-secrets.md", "Keep state and credentials", "properties and secrets of jobs"),
    ("transfers.md", "Move data", "BatchTransfer specs between stores, with transforms on the way"),
    ("models.md", "Build models", "dbt-compatible SQL models, tests and lineage"),
    ("checks.md", "Check data", "data-quality checks and profiles"),
    ("products.md", "Publish a product", "product descriptors, ODCS contracts, publishing and versions"),
    ("policies.md", "Govern access", "Rego policies, governed queries and the audit log"),
    ("service.md", "Deploy and schedule", "the control service, deployments and executions"),
]
MARKER = "<!-- tutorials -->"


def _exists(docs_dir: Path, page: str) -> bool:
    return (docs_dir / page).is_file()


def _prune(items, docs_dir: Path):
    kept = []
    for item in items:
        if isinstance(item, str):
            if _exists(docs_dir, item):
                kept.append(item)
        elif isinstance(item, dict):
            ((title, value),) = item.items()
            if isinstance(value, list):
                value = _prune(value, docs_dir)
                if value:
                    kept.append({title: value})
            elif _exists(docs_dir, value):
                kept.append(item)
    return kept


def _listed(items) -> set[str]:
    pages = set()
    for item in items:
        values = item.values() if isinstance(item, dict) else [item]
        for value in values:
            pages |= _listed(value) if isinstance(value, list) else {value}
    return pages


def on_config(config):
    docs_dir = Path(config["docs_dir"])
    nav = _prune(config["nav"] or [], docs_dir)
    listed = _listed(nav)
    extra = sorted(
        str(p.relative_to(docs_dir))
        for p in docs_dir.rglob("*.md")
        if str(p.relative_to(docs_dir)) not in listed
    )
    if extra:
        nav.append({"More": extra})
    config["nav"] = nav
    return config


def on_page_markdown(markdown, page, config, files):
    if MARKER not in markdown:
        return markdown
    docs_dir = Path(config["docs_dir"])
    lines = [f"- [{title}]({name}): {what}." for name, title, what in TUTORIALS if _exists(docs_dir, name)]
    return markdown.replace(MARKER, "\n".join(lines) or "No tutorial is written yet.")
