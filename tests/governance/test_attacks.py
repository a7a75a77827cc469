"""The table of attacks on governed reads: every attack runs through every channel.

A row is an attack: its name, the SQL, the role and the purpose the attacker claims, and the
outcome every channel must give. The channels are the Python governed-query API, ``meshkit
query``, the Arrow Flight server with the purpose in the ticket or in the header, a transfer run
for the purpose, psycopg on the PostgreSQL endpoint (whose ``information_schema`` lists what the
role may read), ADBC on Flight SQL, and the REST data API (which reads ports by product and port
name, like Flight). Flight and transfers read whole datasets, not SQL: a ``SELECT * FROM name``
row reads that dataset (Flight serves product ports only, and denies any other dataset), any
other SQL is sent as the dataset's name and must be refused. The workspace is governed by
SmartPizza's own policies and purposes (``examples/smartpizza/policies``) and holds datasets
derived from the customers by a job, a transfer and models (``derived_helpers``), one of them
served as a port whose contract forgets the tags; whatever a channel answers, it never shows a
value the outcome hides, and an error never carries a traceback.

Outcomes: ``denied`` (the policy or the purpose refuses; ``match`` is in the message),
``refused`` (the query is not allowed; ``match`` is in the message), ``masked`` (PII redacted:
no clear name, email or street anywhere), ``filtered`` (marketing: consenting customers only, no
street), ``local`` (franchisee: the Rome customers only, in clear), ``allowed`` (in clear),
``same`` (exactly the rows the Python API gives the same reader for the SQL in ``match``, a
query on the source: a derived dataset tells nothing more). ``ids``, ``rows`` and ``columns``
check a result further. Add a row for every new attack.
"""

from __future__ import annotations

import json
import re
import shutil
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.flight as flight
import pyarrow.parquet as pq
import pytest
from derived_helpers import make_derived

from meshkit.core.errors import MeshkitError
from meshkit.governance import AccessDeniedError, Subject
from meshkit.governance.query import GovernedSQL
from meshkit.serving.flightsql import GovernedFlightSqlServer
from meshkit.serving.pgwire import GovernedPgServer
from meshkit.testing import run_cli

POLICIES = Path(__file__).resolve().parents[2] / "examples" / "smartpizza" / "policies"
CUSTOMERS = pa.table({
    "customer_id": pa.array([1, 2, 3, 4], pa.int64()),
    "first_name": ["Annika", "Bartholomew", "Cyrielle", "Desmond"],
    "email": ["annika@pizza.example", "bart@pizza.example", "cyrielle@pizza.example", "desmond@pizza.example"],
    "street": ["1 Elm Row", "2 Oak Lane", "3 Ash Way", "4 Yew Court"],
    "city": ["Rome", "Oslo", "Rome", "Oslo"],
    "marketing_consent": [True, False, True, False],
})  # fmt: skip
PII = {v for name in ("first_name", "email", "street") for v in CUSTOMERS.column(name).to_pylist()}
STREETS = set(CUSTOMERS.column("street").to_pylist())
NOT_CONSENTING = {v for row in CUSTOMERS.to_pylist() if not row["marketing_consent"] for v in row.values()
                  if isinstance(v, str) and v not in ("Rome", "Oslo")}  # fmt: skip
MASKED = ("first_name", "email", "contact_email", "street")
VISIBLE = ["customer_id", "first_name", "email", "street", "city", "marketing_consent"]
MARKETING = ["customer_id", "first_name", "email", "city", "marketing_consent"]

PRODUCTS = {
    "customer": """\
name: customer
version: 1.0.0
status: active
domain: customer
owner: customer-lead@smartpizza.example
team: customer
description: Current customers, with PII.
outputPorts:
  - name: customers
    dataset: warehouse/customers_current
    contract:
      schema:
        - {name: customer_id, logicalType: integer, required: true, primaryKey: true}
        - {name: first_name, logicalType: string, classification: pii, tags: [name]}
        - {name: email, logicalType: string, classification: pii, tags: [contact]}
        - {name: street, logicalType: string, classification: pii, tags: [address]}
        - {name: city, logicalType: string}
        - {name: marketing_consent, logicalType: boolean, required: true, tags: [consent]}
""",
    "orders": """\
name: orders
version: 1.0.0
status: active
domain: orders
owner: orders-lead@smartpizza.example
team: orders
description: Sales per day.
outputPorts:
  - name: daily-sales
    dataset: warehouse/daily_sales
    contract:
      schema:
        - {name: day, logicalType: string}
        - {name: revenue, logicalType: number}
""",
}
#: A port on a dataset derived from the customers (published once it exists).
CONTACTS = """\
name: contacts
version: 1.0.0
status: active
domain: customer
owner: customer-lead@smartpizza.example
team: customer
description: Customers copied by a transfer; the contract forgets their classification.
outputPorts:
  - name: contacts
    dataset: warehouse/customers_by_transfer
    contract:
      schema:
        - {name: customer_id, logicalType: integer}
        - {name: first_name, logicalType: string}
        - {name: contact_email, logicalType: string}
        - {name: street, logicalType: string}
        - {name: city, logicalType: string}
        - {name: marketing_consent, logicalType: boolean}
"""
#: What the datasets derived from the customers (``derived_helpers``) take from them.
DERIVED_FROM = {
    "id": "customer_id",
    "name": "first_name",
    "email": "email",
    "region": "city",
    "score": "marketing_consent",
}
#: The table's own rule on top of SmartPizza's: franchisees read their shops' customers in clear. An
#: IN-list row filter is one DuckDB evaluates after the reader's own conditions.
FRANCHISE = """\
package meshkit.access

import rego.v1

allow if input.subject.role == "franchisee"

actions contains {"type": "FilterRows", "predicate": "city IN ('Rome', 'Milan')"} if {
	input.subject.role == "franchisee"
	some c in input.columns
	c.name == "city"
}
"""
#: One Flight subject per role (``None``: a subject without a role).
SUBJECTS = {
    "steward": "sam",
    "analyst": "ana",
    "engineer": "eve",
    "marketer": "mia",
    "intern": "ian",
    "franchisee": "fay",
    None: "nobody",
}


def token(user: str) -> str:
    return f"{user}-attack-token-0001"


@dataclass(frozen=True)
class Attack:
    name: str
    sql: str
    role: str | None
    purpose: str | None
    expect: str
    match: str = ""
    ids: frozenset[int] | None = None
    rows: tuple[dict, ...] | None = None
    columns: tuple[str, ...] | None = None


def attack(name, sql, role, purpose, expect, match="", *, ids=None, rows=None, columns=None) -> Attack:
    return Attack(name, sql, role, purpose, expect, match, None if ids is None else frozenset(ids),
                  None if rows is None else tuple(rows), None if columns is None else tuple(columns))  # fmt: skip


ALL = "SELECT * FROM customers_current"
NOT_GRANTED = "is not granted to role"
REMOVED = "Referenced column"

# fmt: off
ATTACKS = [
    # --- the intended reads
    attack("steward audits in clear", ALL, "steward", "audit", "allowed", ids={1, 2, 3, 4}, columns=VISIBLE),
    attack("analyst sees PII masked", ALL, "analyst", "analytics", "masked", ids={1, 2, 3, 4}, columns=VISIBLE),
    attack("engineer sees PII masked", ALL, "engineer", "analytics", "masked", ids={1, 2, 3, 4}),
    attack("marketer sees consenting customers", ALL, "marketer", "marketing", "filtered", ids={1, 3}, columns=MARKETING),
    attack("steward reads with the default purpose", ALL, "steward", None, "allowed", ids={1, 2, 3, 4}),
    # --- wrong purposes: another purpose, blank, case, spaces, look-alikes, undeclared, too long
    attack("marketer claims audit", ALL, "marketer", "audit", "denied", "purpose `audit` is not granted to role `marketer`"),
    attack("marketer claims analytics", ALL, "marketer", "analytics", "denied", NOT_GRANTED),
    attack("marketer gives an empty purpose", ALL, "marketer", "", "denied", "purpose `analytics` is not granted"),
    attack("marketer gives no purpose", ALL, "marketer", None, "denied", "purpose `analytics` is not granted"),
    attack("marketer gives a blank purpose", ALL, "marketer", " \t ", "denied", "purpose `analytics` is not granted"),
    attack("marketer writes Marketing", ALL, "marketer", "Marketing", "filtered", ids={1, 3}, columns=MARKETING),
    attack("marketer writes 'marketing '", ALL, "marketer", "marketing ", "filtered", ids={1, 3}, columns=MARKETING),
    attack("marketer writes MARKETING with tabs", ALL, "marketer", "\tMARKETING\t", "filtered", ids={1, 3}),
    attack("marketer adds a zero-width space", ALL, "marketer", "marketing\u200b", "denied", "is not declared"),
    attack("marketer uses a full-width letter", ALL, "marketer", "\uff4darketing", "denied", "is not declared"),
    attack("marketer claims an undeclared purpose", ALL, "marketer", "research", "denied", "purpose `research` is not declared"),
    attack("marketer claims a purpose with a wildcard", ALL, "marketer", "*", "denied", "is not declared"),
    attack("marketer sends a huge purpose", ALL, "marketer", "audit" * 50, "refused", "at most 100 characters"),
    attack("analyst claims audit", ALL, "analyst", "audit", "denied", NOT_GRANTED),
    attack("analyst claims marketing", ALL, "analyst", "marketing", "denied", NOT_GRANTED),
    attack("steward claims marketing", ALL, "steward", "marketing", "denied", NOT_GRANTED),
    attack("steward writes AUDIT", ALL, "steward", "AUDIT", "allowed", ids={1, 2, 3, 4}),
    attack("an intern claims analytics", ALL, "intern", "analytics", "denied", "role `intern` is granted no purpose"),
    attack("no role at all", ALL, None, "audit", "denied", "role `None` is granted no purpose"),
    attack("marketing may not read sales", "SELECT * FROM daily_sales", "marketer", "marketing", "denied", "marketing reads customer data only"),
    attack("a wrong purpose in a join", "SELECT c.email FROM customers_current c JOIN daily_sales d ON true", "marketer", "marketing", "denied", "marketing reads customer data only"),
    # --- removed columns: named, probed, starred, qualified
    attack("marketer names the removed street", "SELECT street FROM customers_current", "marketer", "marketing", "refused", "street"),
    attack("marketer filters on the removed street", "SELECT customer_id FROM customers_current WHERE street LIKE '1%'", "marketer", "marketing", "refused", REMOVED),
    attack("marketer excludes the removed street", "SELECT * EXCLUDE (street) FROM customers_current", "marketer", "marketing", "refused", "street"),
    attack("marketer selects columns by pattern", "SELECT COLUMNS('.*') FROM customers_current", "marketer", "marketing", "filtered", ids={1, 3}, columns=MARKETING),
    attack("marketer selects the row as a struct", "SELECT customers_current AS r FROM customers_current", "marketer", "marketing", "filtered"),
    attack("marketer qualifies the removed column", "SELECT c.street FROM customers_current AS c", "marketer", "marketing", "refused", "street"),
    # --- row filter bypasses: subqueries, CTEs, set operations, aggregates, joins, predicates, errors
    attack("marketer asks for non-consenting rows", "SELECT * FROM customers_current WHERE NOT marketing_consent", "marketer", "marketing", "filtered", rows=[]),
    attack("marketer counts every customer", "SELECT count(*) AS n FROM customers_current", "marketer", "marketing", "filtered", rows=[{"n": 2}]),
    attack("marketer reads through a subquery", "SELECT * FROM (SELECT * FROM customers_current) AS s", "marketer", "marketing", "filtered", ids={1, 3}),
    attack("marketer reads through a CTE", "WITH c AS (SELECT * FROM customers_current) SELECT * FROM c", "marketer", "marketing", "filtered", ids={1, 3}),
    attack("marketer shadows the table with a CTE", "WITH customers_current AS (SELECT * FROM warehouse.customers_current) SELECT * FROM customers_current", "marketer", "marketing", "filtered", ids={1, 3}),
    attack("marketer reads through a UNION", "SELECT customer_id FROM customers_current UNION ALL SELECT customer_id FROM customers_current", "marketer", "marketing", "filtered", rows=[{"customer_id": 1}, {"customer_id": 3}] * 2),
    attack("marketer uses a scalar subquery", "SELECT (SELECT max(customer_id) FROM customers_current) AS m", "marketer", "marketing", "filtered", rows=[{"m": 3}]),
    attack("marketer uses EXISTS", "SELECT 1 AS hit WHERE EXISTS (SELECT 1 FROM customers_current WHERE customer_id = 2)", "marketer", "marketing", "filtered", rows=[]),
    attack("marketer self-joins", "SELECT a.email, b.first_name FROM customers_current a JOIN customers_current b USING (customer_id)", "marketer", "marketing", "filtered"),
    attack("marketer uses a positional join", "SELECT * FROM customers_current a POSITIONAL JOIN customers_current b", "marketer", "marketing", "filtered"),
    attack("marketer uses a lateral join", "SELECT l.* FROM (SELECT 2 AS k) AS t, LATERAL (SELECT * FROM customers_current WHERE customer_id = t.k) AS l", "marketer", "marketing", "filtered", rows=[]),
    attack("marketer aggregates the names", "SELECT string_agg(first_name, ',') AS names FROM customers_current", "marketer", "marketing", "filtered"),
    attack("marketer samples", "SELECT * FROM customers_current USING SAMPLE 100%", "marketer", "marketing", "filtered"),
    attack("marketer reads FROM-first", "FROM customers_current", "marketer", "marketing", "filtered", ids={1, 3}),
    attack("marketer qualifies with the store", "SELECT * FROM warehouse.customers_current", "marketer", "marketing", "filtered", ids={1, 3}),
    attack("marketer quotes the name", 'SELECT * FROM "customers_current"', "marketer", "marketing", "filtered", ids={1, 3}),
    attack("marketer casts a hidden name in a predicate", "SELECT customer_id FROM customers_current WHERE CAST(first_name AS INTEGER) > 0", "marketer", "marketing", "refused", "Conversion Error"),
    attack("marketer raises an error with a name", "SELECT customer_id FROM customers_current WHERE error(first_name) IS NULL", "marketer", "marketing", "refused", "function `error`"),
    # --- errors on hidden rows: whatever order DuckDB evaluates the conditions in, a hidden row holds no value
    attack("marketer casts a name, or true", "SELECT customer_id FROM customers_current WHERE CAST(first_name AS INTEGER) > 0 OR true", "marketer", "marketing", "filtered", ids={1, 3}),
    attack("marketer casts only hidden names", "SELECT customer_id FROM customers_current WHERE CAST(CASE WHEN first_name LIKE 'B%' THEN first_name ELSE '1' END AS INTEGER) > 0", "marketer", "marketing", "filtered", ids={1, 3}),
    attack("marketer casts a hidden row's name", "SELECT customer_id FROM customers_current WHERE customer_id = 2 AND CAST(first_name AS INTEGER) > 0", "marketer", "marketing", "filtered", rows=[]),
    attack("marketer casts emails past a condition", "SELECT customer_id FROM customers_current WHERE customer_id % 2 = 0 AND CAST(email AS DATE) IS NULL", "marketer", "marketing", "refused", "Conversion Error"),
    attack("marketer try_casts, then casts", "SELECT customer_id FROM customers_current WHERE try_cast(first_name AS INTEGER) IS NULL AND CAST(CASE WHEN NOT marketing_consent OR first_name > 'B' THEN first_name ELSE '1' END AS INTEGER) > 0", "marketer", "marketing", "refused", "Cyrielle"),
    attack("marketer overflows on a guessed name", "SELECT customer_id FROM customers_current WHERE CAST(CASE WHEN first_name = 'Bartholomew' THEN 300 ELSE 1 END AS TINYINT) = 1", "marketer", "marketing", "filtered", ids={1, 3}),
    attack("marketer divides by zero on a guessed name", "SELECT customer_id FROM customers_current WHERE 1 // (CASE WHEN first_name = 'Desmond' THEN 0 ELSE 1 END) = 1", "marketer", "marketing", "filtered", ids={1, 3}),
    attack("marketer builds a bad regexp from a name", "SELECT customer_id FROM customers_current WHERE regexp_matches('x', CASE WHEN first_name LIKE 'D%' THEN '(' || first_name ELSE 'x' END)", "marketer", "marketing", "filtered", ids={1, 3}),
    attack("marketer reads a hidden email through an error", "SELECT customer_id FROM customers_current WHERE CAST(CASE WHEN NOT marketing_consent THEN email END AS INTEGER) > 0", "marketer", "marketing", "filtered", rows=[]),
    attack("marketer calls error() by another name", 'SELECT customer_id FROM customers_current WHERE "ERROR"(first_name) IS NULL', "marketer", "marketing", "refused", "function `error`"),
    attack("marketer calls error() in a lambda", "SELECT list_transform([first_name], x -> error(x)) AS l FROM customers_current", "marketer", "marketing", "refused", "function `error`"),
    # --- errors on rows an IN-list filter hides, which DuckDB may evaluate before the filter
    attack("franchisee reads their shops' customers", ALL, "franchisee", "analytics", "local", ids={1, 3}, columns=VISIBLE),
    attack("franchisee casts only hidden names", "SELECT customer_id FROM customers_current WHERE CAST(CASE WHEN first_name LIKE 'B%' THEN first_name END AS UUID) IS NULL", "franchisee", "analytics", "local", ids={1, 3}),
    attack("franchisee casts names but the visible ones", "SELECT customer_id FROM customers_current WHERE CAST(nullif(nullif(first_name, 'Annika'), 'Cyrielle') AS UUID) IS NULL", "franchisee", "analytics", "local", ids={1, 3}),
    attack("franchisee replaces visible names, casts the rest", "SELECT customer_id FROM customers_current WHERE CAST(replace(replace(first_name, 'Annika', '00000000-0000-0000-0000-000000000000'), 'Cyrielle', '00000000-0000-0000-0000-000000000000') AS UUID) IS NULL", "franchisee", "analytics", "local", rows=[]),
    attack("franchisee casts the emails of even ids", "SELECT customer_id FROM customers_current WHERE CAST(CASE WHEN customer_id % 2 = 0 THEN email END AS UUID) IS NULL", "franchisee", "analytics", "local", ids={1, 3}),
    attack("franchisee builds a bad regexp from a hidden street", "SELECT customer_id FROM customers_current WHERE regexp_matches('x', CASE WHEN street LIKE '2%' THEN '(' || street ELSE 'x' END)", "franchisee", "analytics", "local", ids={1, 3}),
    attack("franchisee overflows on a guessed name", "SELECT customer_id FROM customers_current WHERE CAST(CASE WHEN first_name = 'Desmond' THEN 300 ELSE 1 END AS TINYINT) = 1", "franchisee", "analytics", "local", ids={1, 3}),
    attack("franchisee try_casts a hidden name", "SELECT customer_id FROM customers_current WHERE try_cast(first_name AS UUID) IS NULL AND CAST(CASE WHEN first_name LIKE 'D%' THEN first_name END AS UUID) IS NULL", "franchisee", "analytics", "local", ids={1, 3}),
    attack("franchisee casts hidden names of a copy", "SELECT customer_id FROM customers_by_transfer WHERE CAST(CASE WHEN first_name LIKE 'B%' THEN first_name END AS UUID) IS NULL", "franchisee", "analytics", "local", ids={1, 3}),
    attack("franchisee reads a transfer's copy", "SELECT * FROM customers_by_transfer", "franchisee", "analytics", "local", ids={1, 3}),
    # --- masked values cannot be read or inferred
    attack("analyst infers an email through a predicate", "SELECT customer_id FROM customers_current WHERE email = 'annika@pizza.example'", "analyst", "analytics", "masked", rows=[]),
    attack("analyst infers through LIKE", "SELECT count(*) AS n FROM customers_current WHERE email LIKE '%@%'", "analyst", "analytics", "masked", rows=[{"n": 0}]),
    attack("analyst orders by the masked email", "SELECT customer_id, email FROM customers_current ORDER BY email, customer_id", "analyst", "analytics", "masked", ids={1, 2, 3, 4}),
    attack("analyst hashes the masked name", "SELECT md5(first_name) AS h, length(email) AS l FROM customers_current", "analyst", "analytics", "masked"),
    attack("analyst aliases the columns", "SELECT first_name AS a, email AS b, street AS c FROM customers_current AS x", "analyst", "analytics", "masked"),
    attack("analyst reads the row as JSON", "SELECT to_json(c) AS j FROM customers_current AS c", "analyst", "analytics", "masked"),
    # --- escapes: files, other databases, settings, statements that are not one SELECT
    attack("read_parquet of the lake", "SELECT * FROM read_parquet('{lake}/customers.parquet')", "marketer", "marketing", "refused", "function `read_parquet`"),
    attack("read_csv of the lake", "SELECT * FROM read_csv('{lake}/customers.csv')", "analyst", "analytics", "refused", "read_csv"),
    attack("read_csv_auto of the lake", "SELECT * FROM read_csv_auto('{lake}/customers.csv')", "analyst", "analytics", "refused", "read_csv_auto"),
    attack("a file path as a table", "SELECT * FROM '{lake}/customers.parquet'", "analyst", "analytics", "refused", "No dataset"),
    attack("parquet_scan of the lake", "SELECT * FROM parquet_scan('{lake}/customers.parquet')", "analyst", "analytics", "refused", "parquet_scan"),
    attack("a file path in a scalar subquery", "SELECT (SELECT max(email) FROM read_parquet('{lake}/customers.parquet')) AS e", "analyst", "analytics", "refused", "read_parquet"),
    attack("the warehouse's physical name", "SELECT * FROM main.customers_current", "analyst", "analytics", "refused", "main.customers_current"),
    attack("the warehouse's catalog name", "SELECT * FROM warehouse.main.customers_current", "analyst", "analytics", "refused", "warehouse.main.customers_current"),
    attack("attach the warehouse file", "ATTACH '{warehouse}' AS w (READ_ONLY)", "analyst", "analytics", "refused", "only one SELECT"),
    attack("attach, then read", "ATTACH '{warehouse}' AS w (READ_ONLY); SELECT * FROM w.customers_current", "analyst", "analytics", "refused", "only one SELECT"),
    attack("pragma table_info", "PRAGMA table_info('customers_current')", "analyst", "analytics", "refused", "only one SELECT"),
    attack("pragma as a table function", "SELECT * FROM pragma_table_info('customers_current')", "analyst", "analytics", "refused", "pragma_table_info"),
    attack("copy the table out", "COPY customers_current TO '{lake}/leak.csv'", "analyst", "analytics", "refused", "only one SELECT"),
    attack("copy a query out", "COPY (SELECT * FROM customers_current) TO '{lake}/leak.csv'", "analyst", "analytics", "refused", "only one SELECT"),
    attack("two statements", "SELECT 1; SELECT * FROM main.customers_current", "analyst", "analytics", "refused", "only one SELECT"),
    attack("a statement after a comment", "SELECT 1 -- x\n; DROP TABLE customers_current", "analyst", "analytics", "refused", "only one SELECT"),
    attack("turn external access on", "SET enable_external_access = true", "analyst", "analytics", "refused", "only one SELECT"),
    attack("install an extension", "INSTALL httpfs", "analyst", "analytics", "refused", "only one SELECT"),
    attack("load an extension", "LOAD httpfs", "analyst", "analytics", "refused", "only one SELECT"),
    attack("summarize the table", "SUMMARIZE customers_current", "analyst", "analytics", "refused", "only one SELECT"),
    attack("describe the table", "DESCRIBE customers_current", "analyst", "analytics", "refused", "only one SELECT"),
    attack("pivot the table", "PIVOT customers_current ON city USING count(*)", "analyst", "analytics", "refused", "only one SELECT"),
    attack("export the database", "EXPORT DATABASE '{lake}/dump'", "analyst", "analytics", "refused", "Cannot parse"),
    attack("create a table from it", "CREATE TABLE leak AS SELECT * FROM customers_current", "analyst", "analytics", "refused", "only one SELECT"),
    attack("a macro", "CREATE MACRO leak() AS TABLE SELECT * FROM main.customers_current", "analyst", "analytics", "refused", "only one SELECT"),
    attack("call a table function", "CALL duckdb_tables()", "analyst", "analytics", "refused", "only one SELECT"),
    attack("the query() table function", "SELECT * FROM query('SELECT * FROM main.customers_current')", "analyst", "analytics", "refused", "query"),
    attack("query_table", "SELECT * FROM query_table('customers_current')", "analyst", "analytics", "refused", "query_table"),
    attack("the catalog's tables", "SELECT * FROM duckdb_tables()", "analyst", "analytics", "refused", "duckdb_tables"),
    attack("information_schema", "SELECT * FROM information_schema.tables", "analyst", "analytics", "refused", "information_schema.tables"),
    attack("glob the workspace", "SELECT * FROM glob('{lake}/*')", "analyst", "analytics", "refused", "glob"),
    attack("an environment variable", "SELECT getenv('HOME') AS h", "analyst", "analytics", "refused", "getenv"),
    attack("a setting", "SELECT current_setting('temp_directory') AS t", "analyst", "analytics", "refused", "current_setting"),
    attack("sqlite_scan", "SELECT * FROM sqlite_scan('{lake}/x.db', 't')", "analyst", "analytics", "refused", "sqlite_scan"),
    attack("time travel on a table", "SELECT * FROM customers_current AT (VERSION => 1)", "analyst", "analytics", "refused", "customers_current"),
    # --- derived datasets: a transfer's copy (a port whose contract forgets the tags), models, a view, a job's copy
    attack("analyst reads a transfer's copy", "SELECT * FROM customers_by_transfer", "analyst", "analytics", "masked", ids={1, 2, 3, 4}),
    attack("steward audits a transfer's copy", "SELECT * FROM customers_by_transfer", "steward", "audit", "allowed", ids={1, 2, 3, 4}),
    attack("marketer reads a transfer's copy", "SELECT * FROM customers_by_transfer", "marketer", "marketing", "filtered", ids={1, 3}),
    attack("marketer names the copied street", "SELECT street FROM customers_by_transfer", "marketer", "marketing", "refused", "street"),
    attack("marketer casts hidden names of a copy", "SELECT customer_id FROM customers_by_transfer WHERE customer_id = 4 AND CAST(first_name AS INTEGER) > 0", "marketer", "marketing", "filtered", rows=[]),
    attack("analyst reads a model", "SELECT * FROM customer_contacts", "analyst", "analytics", "masked", ids={1, 2, 3, 4}),
    attack("analyst reads a job's copy", "SELECT * FROM customers_by_job", "analyst", "analytics", "masked"),
    attack("analyst reads a model view", "SELECT * FROM contact_view", "analyst", "analytics", "masked", ids={1, 2, 3, 4}),
    attack("analyst reads computed columns", "SELECT * FROM email_facts", "analyst", "analytics", "masked", ids={1, 2, 3, 4}),
    attack("engineer reads a model of a copy", "SELECT * FROM transferred_contacts", "engineer", "analytics", "masked", ids={1, 2, 3, 4}),
    attack("marketer reads a model that dropped the consent", "SELECT * FROM customer_contacts", "marketer", "marketing", "denied", "marketing reads customer data only"),
    attack("marketer reads a job's copy", "SELECT * FROM customers_by_job", "marketer", "marketing", "denied", "marketing reads customer data only"),
    attack("analyst joins positionally with a copy", "SELECT * FROM customers_current POSITIONAL JOIN customers_by_transfer", "analyst", "analytics", "masked"),
    attack("engineer joins a model with a job's copy", "SELECT * FROM customer_contacts POSITIONAL JOIN customers_by_job", "engineer", "analytics", "masked"),
    attack("analyst joins on the key of a copy", "SELECT c.customer_id, t.contact_email FROM customers_current c JOIN customers_by_transfer t ON c.customer_id = t.customer_id", "analyst", "analytics", "masked", ids={1, 2, 3, 4}),
    attack("analyst reads a copy through a CTE", "WITH x AS (SELECT * FROM customers_by_transfer) SELECT contact_email, first_name FROM x", "analyst", "analytics", "masked"),
    attack("analyst takes the max of a copied email", "SELECT (SELECT max(contact_email) FROM customers_by_transfer) AS e", "analyst", "analytics", "masked", rows=[{"e": "***"}]),
    attack("analyst aggregates a model's emails", "SELECT string_agg(email, ',') AS e FROM customer_contacts", "analyst", "analytics", "masked"),
    attack("engineer unions a model and a copy", "SELECT email FROM customer_contacts UNION SELECT contact_email FROM customers_by_transfer", "engineer", "analytics", "masked", rows=[{"email": "***"}]),
    # --- inference through predicates on derived datasets gives nothing the source would not
    attack("analyst infers a copied email by LIKE", "SELECT count(*) AS n FROM customers_by_transfer WHERE contact_email LIKE 'a%'", "analyst", "analytics", "same", "SELECT count(*) AS n FROM customers_current WHERE email LIKE 'a%'"),
    attack("analyst infers a model's email by equality", "SELECT count(*) AS n FROM customer_contacts WHERE email = 'annika@pizza.example'", "analyst", "analytics", "same", "SELECT count(*) AS n FROM customers_current WHERE email = 'annika@pizza.example'"),
    attack("analyst infers a job's copy by LIKE", "SELECT count(*) AS n FROM customers_by_job WHERE email LIKE '%@pizza.example'", "analyst", "analytics", "same", "SELECT count(*) AS n FROM customers_current WHERE email LIKE '%@pizza.example'"),
    attack("analyst infers through a model view", "SELECT count(*) AS n FROM contact_view WHERE email LIKE 'c%'", "analyst", "analytics", "same", "SELECT count(*) AS n FROM customers_current WHERE email LIKE 'c%'"),
    attack("analyst infers through IN over a copy", "SELECT customer_id FROM customers_current WHERE customer_id IN (SELECT customer_id FROM customers_by_transfer WHERE contact_email LIKE 'b%')", "analyst", "analytics", "same", "SELECT customer_id FROM customers_current WHERE email LIKE 'b%'"),
    attack("analyst infers a computed domain", "SELECT count(*) AS n FROM email_facts WHERE domain = 'pizza.example'", "analyst", "analytics", "same", "SELECT count(*) AS n FROM customers_current WHERE split_part(email, '@', 2) = 'pizza.example'"),
    attack("analyst infers a computed length", "SELECT area, count(*) AS n FROM email_facts WHERE email_length <> '***' GROUP BY area", "analyst", "analytics", "same", "SELECT upper(city) AS area, count(*) AS n FROM customers_current WHERE false GROUP BY area"),
    # --- a dataset of unknown classification, however it is reached
    attack("analyst reads an unclassified copy", "SELECT * FROM crm_raw_copy", "analyst", "analytics", "denied", "classification of `warehouse/crm_raw_copy` is unknown"),
    attack("engineer reads an unclassified copy", "SELECT * FROM crm_raw_copy", "engineer", "analytics", "denied", "is unknown"),
    attack("steward is granted unclassified data", "SELECT * FROM crm_raw_copy", "steward", "analytics", "allowed", ids={1, 2, 3, 4}),
    attack("analyst joins positionally with an unclassified copy", "SELECT * FROM customers_current POSITIONAL JOIN crm_raw_copy", "analyst", "analytics", "denied", "is unknown"),
    attack("analyst counts an unclassified copy", "SELECT count(*) FROM crm_raw_copy WHERE email LIKE 'a%'", "analyst", "analytics", "denied", "is unknown"),
    attack("marketer reads an unclassified copy in a CTE", "WITH x AS (SELECT * FROM crm_raw_copy) SELECT * FROM x", "marketer", "marketing", "denied", "marketing reads customer data only"),
    attack("analyst reads an unclassified copy in IN", "SELECT customer_id FROM customers_current WHERE customer_id IN (SELECT customer_id FROM crm_raw_copy)", "analyst", "analytics", "denied", "is unknown"),
    attack("analyst unions with an unclassified copy", "SELECT email FROM customer_contacts UNION ALL SELECT email FROM crm_raw_copy", "analyst", "analytics", "denied", "is unknown"),
    # --- what is not a catalog dataset is never read
    attack("steward reads the unregistered raw table", "SELECT * FROM crm_raw", "steward", "audit", "refused", "crm_raw"),
    attack("the physical name of a copy", "SELECT * FROM warehouse.main.crm_raw_copy", "analyst", "analytics", "refused", "warehouse.main.crm_raw_copy"),
    attack("a table function joined with a copy", "SELECT * FROM range(3) POSITIONAL JOIN customers_by_transfer", "analyst", "analytics", "refused", "table functions"),
]
# fmt: on


# ---------------------------------------------------------------------------------- the workspace


@dataclass
class Target:
    mk: object
    #: ``{lake}`` and ``{warehouse}`` in an attack's SQL.
    paths: dict[str, str]
    #: The Flight server's address.
    location: str
    #: The PostgreSQL endpoint's port.
    pg_port: int = 0
    #: A client of the control service's app (the REST data API).
    api: object = None


@pytest.fixture(scope="module")
def attacked(tmp_path_factory):
    """SmartPizza's policies and purposes over a customer product, an orders product, what is derived and files."""
    from meshkit.core.context import Meshkit
    from meshkit.core.workspace import Workspace, init_workspace
    from meshkit.products.loader import load_product
    from meshkit.products.products import publish

    root = init_workspace(tmp_path_factory.mktemp("attacks") / "ws").root
    with pytest.MonkeyPatch.context() as patch:
        with (root / "meshkit.toml").open("a") as toml:
            for role, user in SUBJECTS.items():
                variable = f"MK_ATTACK_{user.upper()}_TOKEN"
                patch.setenv(variable, token(user))
                toml.write(f'\n[governance.subjects.{user}]\ntoken = "env:{variable}"\n')
                if role:
                    toml.write(f'role = "{role}"\n')
        shutil.copytree(POLICIES, root / "policies")
        (root / "policies" / "franchise.rego").write_text(FRANCHISE)
        purposes = json.loads((root / "policies" / "purposes.json").read_text())
        purposes["purposes"]["analytics"]["roles"].append("franchisee")
        (root / "policies" / "purposes.json").write_text(json.dumps(purposes))
        (root / "products").mkdir()
        mk = Meshkit(Workspace.load(root))
        warehouse = mk.store("warehouse")
        warehouse.write("customers_current", CUSTOMERS, mode="overwrite")
        warehouse.write("daily_sales", pa.table({"day": ["2026-01-01"], "revenue": [10.0]}), mode="overwrite")

        def publish_product(name: str, spec: str) -> None:
            (root / "products" / f"{name}.yaml").write_text(spec)
            publish(mk, load_product(root / "products" / f"{name}.yaml"))

        for name, spec in PRODUCTS.items():
            publish_product(name, spec)
        make_derived(mk, "customers_current", DERIVED_FROM)
        publish_product("contacts", CONTACTS)
        lake = root / "lake"
        lake.mkdir()
        pq.write_table(CUSTOMERS, lake / "customers.parquet")
        pacsv.write_csv(CUSTOMERS, lake / "customers.csv")
        server = GovernedFlightSqlServer(mk)
        thread = threading.Thread(target=server.serve, daemon=True)
        thread.start()
        pg = GovernedPgServer(mk)
        pg.start()
        from fastapi.testclient import TestClient

        from meshkit.service.app import create_app

        try:
            yield Target(
                mk,
                {"lake": str(lake), "warehouse": str(warehouse.path)},
                f"grpc://127.0.0.1:{server.port}",
                pg.port,
                TestClient(create_app(mk, worker=False)),
            )
        finally:
            pg.shutdown()
            pg.server_close()
            server.shutdown()
            thread.join(5)
            mk.close()


# ---------------------------------------------------------------------------------- the channels


@dataclass
class Outcome:
    kind: str  # rows, denied or refused
    rows: list[dict] | None = None
    message: str = ""


def _plain(rows: list[dict]) -> list[dict]:
    return json.loads(json.dumps(rows, default=str))


def via_api(target: Target, sql: str, attack: Attack) -> Outcome:
    subject = Subject(SUBJECTS[attack.role], attack.role)
    try:
        return Outcome(
            "rows", _plain(GovernedSQL(target.mk).execute(sql, subject, attack.purpose).to_pylist())
        )
    except AccessDeniedError as exc:
        return Outcome("denied", message=str(exc))
    except MeshkitError as exc:
        assert exc.exit_code == 1, f"not a user error: {exc}"
        return Outcome("refused", message=str(exc))


def via_cli(target: Target, sql: str, attack: Attack) -> Outcome:
    args = ["query", sql, "--user", SUBJECTS[attack.role], "--format", "json", "--limit", "1000"]
    args += ["--role", attack.role] if attack.role is not None else []
    args += ["--purpose", attack.purpose] if attack.purpose is not None else []
    result = run_cli(args, workspace=target.mk.workspace.root)
    if result.exit_code == 0:
        return Outcome("rows", [json.loads(line) for line in result.stdout.splitlines() if line.strip()])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output, result.output
    return Outcome("denied" if " denied for " in result.stderr else "refused", message=result.stderr)


def port(sql: str) -> str | None:
    """The dataset a ``SELECT * FROM name`` reads (channels without SQL read whole datasets)."""
    plain = re.fullmatch(r"SELECT \* FROM (\w+)", sql)
    return plain[1] if plain else None


def _via_flight(target: Target, sql: str, attack: Attack, *, header: bool) -> Outcome:
    ticket = {"dataset": port(sql) or sql}
    headers = [(b"authorization", f"Bearer {token(SUBJECTS[attack.role])}".encode())]
    if attack.purpose is not None and header:
        headers.append((b"x-meshkit-purpose", attack.purpose.encode()))
    elif attack.purpose is not None:
        ticket["purpose"] = attack.purpose
    client = flight.FlightClient(target.location)
    try:
        reader = client.do_get(
            flight.Ticket(json.dumps(ticket).encode()), flight.FlightCallOptions(headers=headers)
        )
        return Outcome("rows", _plain(reader.read_all().to_pylist()))
    except (flight.FlightUnauthorizedError, flight.FlightServerError) as exc:
        text = str(exc)
        assert "Traceback" not in text and 'File "' not in text, text
        assert type(exc) is not flight.FlightInternalError, text
        kind = "denied" if isinstance(exc, flight.FlightUnauthorizedError) else "refused"
        return Outcome(kind, message=text.split(". Detail:")[0])
    finally:
        client.close()


def via_flight_ticket(target: Target, sql: str, attack: Attack) -> Outcome:
    return _via_flight(target, sql, attack, header=False)


def via_flight_header(target: Target, sql: str, attack: Attack) -> Outcome:
    return _via_flight(target, sql, attack, header=True)


def via_transfer(target: Target, sql: str, attack: Attack) -> Outcome:
    """A transfer run for the purpose, into SQLite, read back."""
    from meshkit.data.transfer.runner import run_transfer
    from meshkit.data.transfer.spec import BatchTransfer
    from meshkit.governance.transfers import transforms_for_purpose

    asset = f"attack_{uuid.uuid4().hex[:10]}"
    transfer = BatchTransfer.model_validate({
        "metadata": {"name": "attack"},
        "spec": {"source": {"store": "warehouse", "asset": port(sql) or sql},
                 "destination": {"store": "sqlite", "asset": asset, "mode": "overwrite"}},
    })  # fmt: skip
    subject = Subject(SUBJECTS[attack.role], attack.role)
    try:
        extra = transforms_for_purpose(target.mk, port(sql) or sql, attack.purpose, subject)
        run_transfer(target.mk, transfer, extra_transforms=extra)
    except AccessDeniedError as exc:
        return Outcome("denied", message=str(exc))
    except MeshkitError as exc:
        assert exc.exit_code == 1, f"not a user error: {exc}"
        return Outcome("refused", message=str(exc))
    return Outcome("rows", _plain(target.mk.store("sqlite").read(asset).read_all().to_pylist()))


def via_pg(target: Target, sql: str, attack: Attack) -> Outcome:
    """psycopg on the PostgreSQL endpoint: the token as password, the purpose in the connection's options."""
    import psycopg

    user = SUBJECTS[attack.role]
    options, setting = "", None
    if attack.purpose is not None and re.fullmatch(r"[\w.]+", attack.purpose):
        options = f"-c meshkit.purpose={attack.purpose}"
    elif attack.purpose is not None:
        setting = "SET meshkit.purpose = '" + attack.purpose.replace("'", "''") + "'"
    with psycopg.connect(host="127.0.0.1", port=target.pg_port, user=user, password=token(user),
                         dbname="meshkit", options=options, sslmode="disable", autocommit=True) as conn:  # fmt: skip
        try:
            if setting:
                conn.execute(setting)
            cursor = conn.execute(sql, prepare=False)
            names = [c.name for c in cursor.description or []]
            return Outcome("rows", _plain([dict(zip(names, row, strict=True)) for row in cursor.fetchall()]))
        except psycopg.Error as exc:
            text = exc.diag.message_primary or str(exc)
            assert "Traceback" not in text and 'File "' not in text, text
            assert exc.sqlstate != "XX000", text
            return Outcome("denied" if exc.sqlstate == "42501" else "refused", message=text)


def via_flight_sql(target: Target, sql: str, attack: Attack) -> Outcome:
    """ADBC's Flight SQL driver: the token as bearer, the purpose in the ``x-meshkit-purpose`` header."""
    import adbc_driver_flightsql.dbapi as flight_sql
    from adbc_driver_manager import AdbcStatusCode, Error

    options = {"adbc.flight.sql.authorization_header": f"Bearer {token(SUBJECTS[attack.role])}"}
    if attack.purpose is not None:
        options["adbc.flight.sql.rpc.call_header.x-meshkit-purpose"] = attack.purpose
    with (
        flight_sql.connect(target.location, db_kwargs=options, autocommit=True) as conn,
        conn.cursor() as cursor,
    ):
        try:
            cursor.execute(sql)
            return Outcome("rows", _plain(cursor.fetch_arrow_table().to_pylist()))
        except Error as exc:
            text = str(exc)
            assert "Traceback" not in text and 'File "' not in text, text
            assert exc.status_code != AdbcStatusCode.INTERNAL, text
            return Outcome(
                "denied" if exc.status_code == AdbcStatusCode.UNAUTHORIZED else "refused", message=text
            )


#: The product port of each dataset served as one (the REST data API reads ports by product and port).
PORTS = {"customers_current": "customer/customers", "daily_sales": "orders/daily-sales",
         "customers_by_transfer": "contacts/contacts"}  # fmt: skip


def via_rest(target: Target, sql: str, attack: Attack) -> Outcome:
    """``GET /api/v1/products/P/ports/Q/rows`` with the token as bearer and the purpose as a parameter."""
    path = PORTS.get(port(sql) or "", "unknown/unknown").split("/")
    params = {"limit": 1000} | ({"purpose": attack.purpose} if attack.purpose is not None else {})
    response = target.api.get(f"/api/v1/products/{path[0]}/ports/{path[1]}/rows", params=params,
                              headers={"authorization": f"Bearer {token(SUBJECTS[attack.role])}"})  # fmt: skip
    assert response.status_code != 500 and "Traceback" not in response.text, response.text
    if response.status_code == 200:
        return Outcome("rows", response.json()["rows"])
    message = response.json()["error"]["message"]
    return Outcome("denied" if response.status_code == 403 else "refused", message=message)


CHANNELS = {
    "api": via_api,
    "cli": via_cli,
    "flight-ticket": via_flight_ticket,
    "flight-header": via_flight_header,
    "transfer": via_transfer,
    "pg": via_pg,
    "flight-sql": via_flight_sql,
    "rest": via_rest,
}


# ---------------------------------------------------------------------------------- the checks


def sql_less(attack: Attack, channel: str) -> bool:
    """Flight and transfers take no SQL: anything but a port read is sent as a dataset name, and must be refused."""
    return channel.startswith(("flight-ticket", "flight-header", "transfer")) and port(attack.sql) is None


#: Catalog datasets that are no product's port: Flight denies them.
NOT_PORTS = {
    "customer_contacts",
    "contact_view",
    "email_facts",
    "transferred_contacts",
    "customers_by_job",
    "crm_raw_copy",
}


def hidden(expect: str) -> set[str]:
    """Values the outcome must not show."""
    return {"masked": PII, "filtered": STREETS | NOT_CONSENTING, "local": NOT_CONSENTING}.get(expect, set())


@pytest.mark.parametrize("channel", list(CHANNELS))
@pytest.mark.parametrize("attack", ATTACKS, ids=[a.name for a in ATTACKS])
def test_attack(attacked, attack: Attack, channel: str):
    if (
        channel in ("flight-header", "flight-sql")
        and attack.purpose
        and not (attack.purpose.isascii() and attack.purpose.isprintable())
    ):
        pytest.skip("gRPC headers carry printable ASCII only: the client cannot send this purpose")
    sql = attack.sql.format(**attacked.paths)
    outcome = CHANNELS[channel](attacked, sql, attack)
    shown = json.dumps(outcome.rows) + outcome.message
    leaked = {value for value in hidden(attack.expect) if value in shown and value not in sql}
    assert not leaked, f"{channel} showed {sorted(leaked)}"
    if channel == "pg" and "information_schema" in sql:
        # A PostgreSQL client browses the catalog: it lists only what the role may read, and holds no data.
        assert outcome.kind == "rows", outcome
        names = {r["table_name"] for r in outcome.rows}
        assert "customers_current" in names and not names & {"crm_raw", "crm_raw_copy"}, names
        return
    if channel == "rest" and (port(attack.sql) not in PORTS):
        # Only product ports are served, by product and port name: anything else is not found.
        assert outcome.kind == "refused" and "No output port" in outcome.message, outcome
        return
    if sql_less(attack, channel):
        assert outcome.kind == "refused", f"{channel}: expected refused, got {outcome}"
        return
    if channel.startswith(("flight-ticket", "flight-header")) and port(attack.sql) in NOT_PORTS:
        assert outcome.kind == "denied" and "not an output port" in outcome.message, f"{channel}: {outcome}"
        return
    if attack.expect == "same":
        source = via_api(attacked, attack.match, attack)
        assert outcome.kind == source.kind == "rows", f"{channel}: expected rows, got {outcome} and {source}"
        assert sorted(map(json.dumps, outcome.rows)) == sorted(map(json.dumps, source.rows))
        return
    if attack.expect in ("denied", "refused"):
        assert outcome.kind == attack.expect, f"{channel}: expected {attack.expect}, got {outcome}"
        assert attack.match in outcome.message, outcome.message
        return
    assert outcome.kind == "rows", f"{channel}: expected rows, got {outcome}"
    rows = outcome.rows
    if attack.columns is not None:
        assert not rows or tuple(rows[0]) == attack.columns
    if attack.ids is not None:
        assert {r["customer_id"] for r in rows} == attack.ids
    if attack.rows is not None:
        assert sorted(map(json.dumps, rows)) == sorted(map(json.dumps, attack.rows))
    if attack.expect == "masked":
        assert all(r.get(c) in ("***", None) for r in rows for c in MASKED)
    if attack.expect == "filtered":
        assert all("street" not in r and r.get("customer_id") in (1, 3, None) for r in rows)
    if attack.expect == "local":
        assert all(r.get("customer_id") in (1, 3, None) for r in rows)
    if attack.expect == "allowed" and attack.ids is not None:
        emails = {r["customer_id"]: r["email"] for r in CUSTOMERS.to_pylist()}
        assert {r.get("email", r.get("contact_email")) for r in rows} == {emails[i] for i in attack.ids}
