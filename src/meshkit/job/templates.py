"""Built-in templates: reusable data jobs run with ``job_input.execute_template(name, args)``.

Each template is a folder ``templates/<name>/`` with one Python step that calls :func:`run_script`,
and its SQL script: ``sql/<store type>/<script>``, or ``sql/<script>`` for the store types without
their own. The step checks the arguments (VDK's names and defaults), derives the quoted names and
column lists the script uses as ``{placeholders}`` in the store's dialect, and runs the script in
one transaction, so a failed load leaves the target as it was. The templates work on DuckDB,
PostgreSQL and MySQL/MariaDB connections (``SUPPORTED_STORES``).

* ``scd1``: replace the target with the source, atomically (slowly changing dimension type 1).
* ``scd2``: keep versions with active_from/active_to (slowly changing dimension type 2).
* ``periodic_snapshot``: replace the target's rows of the snapshot periods the source holds.
* ``insert``: append the source's rows to the target (a fact table).
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from pathlib import Path

from meshkit.core.errors import MeshkitError, UserError
from meshkit.core.files import read_text
from meshkit.core.hookspecs import hookimpl

log = logging.getLogger(__name__)

TEMPLATES_DIR = Path(__file__).parent / "templates"
SUPPORTED_STORES = ("duckdb", "mysql", "postgres")


@dataclass(frozen=True)
class Dialect:
    """How a store type's SQL quotes names, compares with NULLs and opens a transaction."""

    quote_char: str = '"'
    #: A comparison that is true when both sides are NULL.
    same: str = "{} IS NOT DISTINCT FROM {}"
    begin: str = "BEGIN TRANSACTION"
    #: DDL commits the open transaction (MySQL/MariaDB): a script's leading CREATE TABLE
    #: statements run before the transaction starts.
    ddl_commits: bool = False

    def quote(self, name: str) -> str:
        return self.quote_char + name.replace(self.quote_char, self.quote_char * 2) + self.quote_char

    def qualified(self, schema: str | None, name: str) -> str:
        return f"{self.quote(schema)}.{self.quote(name)}" if schema else self.quote(name)


#: The dialect of DuckDB and PostgreSQL.
STANDARD = Dialect()
#: Dialects of the other store types, by type.
DIALECTS = {"mysql": Dialect(quote_char="`", same="{} <=> {}", begin="START TRANSACTION", ddl_commits=True)}


#: The built-in templates; their arguments are checked by :mod:`meshkit.job.template_arguments`.
BUILTIN_TEMPLATES = ("scd1", "scd2", "periodic_snapshot", "insert")


def run_script(job_input, template: str, script: str) -> int:
    """Run ``sql/<script>`` of ``template``'s folder for the connection, in one transaction.

    The arguments are checked first; the script's ``{placeholders}`` come from the arguments and
    the names :func:`~meshkit.job.template_arguments.validate_arguments` derives. An empty source leaves the target as it is, so an
    empty extract never wipes a table (as in VDK). Where DDL commits (MySQL/MariaDB), the script's
    leading ``CREATE TABLE`` statements run before the transaction; the rest must be DML or work
    on temporary tables. Returns the number of statements run.
    """
    from meshkit.job.sqltext import split_statements, substitute
    from meshkit.job.template_arguments import validate_arguments

    args = job_input.get_arguments()
    connection = job_input.get_managed_connection()
    store = connection.store
    if store.type not in SUPPORTED_STORES:
        raise UserError(
            f"Template `{template}` has no version for store `{store.name}` of type `{store.type}`.",
            hint=f"Run it on a connection of type {' or '.join(SUPPORTED_STORES)} (execute_template(..., database=NAME)).",
        )
    dialect = DIALECTS.get(store.type, STANDARD)
    values = {**args, **validate_arguments(template, args, dialect)}
    own = TEMPLATES_DIR / template / "sql" / store.type / script
    path = own if own.exists() else TEMPLATES_DIR / template / "sql" / script  # shared by the dialects
    statements = split_statements(substitute(read_text(path), values))
    setup = _leading_ddl(statements) if dialect.ddl_commits else []
    source = values["source"]
    cursor = connection.cursor()
    try:
        if not _execute(cursor, f"SELECT 1 FROM {source} LIMIT 1", template, "source check").fetchall():
            log.warning(
                "Template %s: source %s holds no rows; the target is left as it is.", template, source
            )
            return 0
        for line, statement in setup:
            _execute(cursor, statement, template, f"sql/{script} line {line}")
        cursor.execute(dialect.begin)
        written = 0
        for line, statement in statements[len(setup) :]:
            _execute(cursor, statement, template, f"sql/{script} line {line}")
            verb = statement.split(None, 1)[0].upper()
            if verb in ("INSERT", "UPDATE", "DELETE"):
                rows = _affected(cursor)
                log.info("Template %s: %s %s rows (sql/%s line %d)", template, verb, rows, script, line)
                written += rows if verb != "DELETE" and isinstance(rows, int) and rows > 0 else 0
        cursor.execute("COMMIT")
        names = [".".join(p for p in (args.get(f"{end}_schema"), args[key]) if p)
                 for end, key in (("source", "source_view"), ("target", "target_table"))]  # fmt: skip
        job_input._record_tables(connection, {names[0]}, {names[1]})
        job_input._add_written(written)  # rows the target gained or changed, counted in the calling step
    except BaseException:
        with contextlib.suppress(Exception):
            cursor.execute("ROLLBACK")
        raise
    finally:
        cursor.close()
    return len(statements)


def _leading_ddl(statements: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """The statements before the first one that is not a ``CREATE TABLE`` of a lasting table."""
    count = 0
    for _, statement in statements:
        if [word.upper() for word in statement.split(None, 2)[:2]] != ["CREATE", "TABLE"]:
            break
        count += 1
    return statements[:count]


def _execute(cursor, statement: str, template: str, where: str):
    try:
        return cursor.execute(statement)
    except MeshkitError:
        raise
    except Exception as exc:  # the database refused the statement
        raise UserError(
            f"{type(exc).__name__}: {exc}".strip(),
            where=f"template {template}, {where}",
            hint="Check the template arguments against the source and target tables.",
        ) from None


def _affected(cursor) -> int | str:
    """Rows a DML statement changed: ``rowcount``, or DuckDB's one-row ``Count`` result."""
    if cursor.rowcount is not None and cursor.rowcount >= 0:
        return cursor.rowcount
    if cursor.description and len(cursor.description) == 1:
        row = cursor.fetchone()
        return row[0] if row else "?"
    return "?"


#: The names VDK's data jobs call these templates by.
VDK_NAMES = {
    "load/dimension/scd1": "scd1",
    "load/versioned": "scd2",
    "load/fact/snapshot": "periodic_snapshot",
    "load/fact/insert": "insert",
}


@hookimpl
def register_templates():
    names = {**{name: name for name in BUILTIN_TEMPLATES}, **VDK_NAMES}
    return {name: TEMPLATES_DIR / template for name, template in names.items()}
