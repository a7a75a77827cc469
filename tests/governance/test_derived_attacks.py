"""Attacks through derived datasets: a table of (SQL, role, purpose, expected outcome).

The datasets are those of ``derived_helpers``: ``customers_by_transfer`` (email renamed
``contact_email``), ``customer_contacts`` (a model), ``customers_by_job`` (a job, no column
lineage), and ``crm_raw_copy``, derived from a table nobody classified (owned by team ``bi``,
which no subject below belongs to). Outcomes:

- ``denied``: the policy decision refuses a dataset the query touches (``AccessDeniedError``);
- ``refused``: the query is refused before any decision (``UserError``);
- ``masked``: it runs and no clear value of the source's PII appears;
- ``same as: SQL``: it returns exactly what ``SQL`` on the source returns to the same reader.
"""

from __future__ import annotations

import pytest
from derived_helpers import make_derived

from conftest import CLEAR
from meshkit.core.errors import UserError
from meshkit.governance import AccessDeniedError, Subject
from meshkit.governance.query import GovernedSQL

ATTACKS = [
    # derived datasets read directly, in joins, CTEs and subqueries
    ("SELECT * FROM customers_by_transfer", "analyst", "analytics", "masked"),
    ("SELECT * FROM customer_contacts", "analyst", "analytics", "masked"),
    ("SELECT * FROM customers_by_job", "analyst", "analytics", "masked"),
    ("SELECT * FROM contact_view", "analyst", "analytics", "masked"),
    ("SELECT * FROM email_facts", "analyst", "analytics", "masked"),
    ("SELECT * FROM customers POSITIONAL JOIN customers_by_transfer", "analyst", "analytics", "masked"),
    ("SELECT * FROM customer_contacts POSITIONAL JOIN customers_by_job", "marketer", "analytics", "masked"),
    ("SELECT c.id, t.contact_email FROM customers c JOIN customers_by_transfer t ON c.id = t.id", "analyst", "analytics", "masked"),
    ("WITH x AS (SELECT * FROM customers_by_transfer) SELECT contact_email, name FROM x", "analyst", "analytics", "masked"),
    ("SELECT (SELECT max(contact_email) FROM customers_by_transfer) AS e", "analyst", "analytics", "masked"),
    ("SELECT string_agg(email, ',') AS e FROM customer_contacts", "analyst", "analytics", "masked"),
    ("SELECT email FROM customer_contacts UNION SELECT contact_email FROM customers_by_transfer", "marketer", "analytics", "masked"),
    # inference through predicates gives nothing the source would not
    ("SELECT count(*) AS n FROM customers_by_transfer WHERE contact_email LIKE 'a%'", "analyst", "analytics",
     "same as: SELECT count(*) AS n FROM customers WHERE email LIKE 'a%'"),
    ("SELECT count(*) AS n FROM customer_contacts WHERE email = 'ann@example.com'", "analyst", "analytics",
     "same as: SELECT count(*) AS n FROM customers WHERE email = 'ann@example.com'"),
    ("SELECT count(*) AS n FROM customers_by_job WHERE email LIKE '%@example.com'", "analyst", "analytics",
     "same as: SELECT count(*) AS n FROM customers WHERE email LIKE '%@example.com'"),
    ("SELECT count(*) AS n FROM contact_view WHERE email LIKE 'c%'", "analyst", "analytics",
     "same as: SELECT count(*) AS n FROM customers WHERE email LIKE 'c%'"),
    ("SELECT id FROM customers WHERE id IN (SELECT id FROM customers_by_transfer WHERE contact_email LIKE 'b%')",
     "analyst", "analytics", "same as: SELECT id FROM customers WHERE email LIKE 'b%'"),
    ("SELECT count(*) AS n FROM email_facts WHERE domain = 'example.com'", "analyst", "analytics",
     "same as: SELECT count(*) AS n FROM customers WHERE split_part(email, '@', 2) = 'example.com'"),
    ("SELECT area, count(*) AS n FROM email_facts WHERE email_length <> '***' GROUP BY area", "analyst", "analytics",
     "same as: SELECT upper(region) AS area, count(*) AS n FROM customers WHERE false GROUP BY area"),
    # a column removed on the source does not exist on what is derived from it
    ("SELECT count(*) AS n FROM customer_contacts WHERE length(name) = 7", "marketer", "analytics", "refused"),
    # a dataset of unknown classification, however it is reached
    ("SELECT * FROM crm_raw_copy", "analyst", "analytics", "denied"),
    ("SELECT * FROM crm_raw_copy", "steward", "analytics", "denied"),
    ("SELECT * FROM customers POSITIONAL JOIN crm_raw_copy", "analyst", "analytics", "denied"),
    ("SELECT count(*) FROM crm_raw_copy WHERE email LIKE 'a%'", "analyst", "analytics", "denied"),
    ("WITH x AS (SELECT * FROM crm_raw_copy) SELECT * FROM x", "marketer", "analytics", "denied"),
    ("SELECT id FROM customers WHERE id IN (SELECT id FROM crm_raw_copy)", "analyst", "analytics", "denied"),
    ("SELECT email FROM customer_contacts UNION ALL SELECT email FROM crm_raw_copy", "analyst", "analytics", "denied"),
    # what is not a catalog dataset is never read
    ("SELECT * FROM crm_raw", "steward", "analytics", "refused"),
    ("SELECT * FROM warehouse.main.crm_raw_copy", "analyst", "analytics", "refused"),
    ("SELECT * FROM read_parquet('data/*.parquet')", "analyst", "analytics", "refused"),
    ("SELECT * FROM read_csv('/etc/passwd')", "steward", "analytics", "refused"),
    ("SELECT * FROM 'customers.parquet'", "analyst", "analytics", "refused"),
    ("SELECT * FROM range(3) POSITIONAL JOIN customers_by_transfer", "analyst", "analytics", "refused"),
    ("ATTACH '.meshkit/metadata.db' AS meta", "analyst", "analytics", "refused"),
]  # fmt: skip


@pytest.fixture(scope="module")
def derived(shared_governed):
    make_derived(shared_governed)
    return shared_governed


def run(mk, sql: str, role: str, purpose: str) -> list[dict]:
    return GovernedSQL(mk).execute(sql, Subject(f"{role}-user", role), purpose).to_pylist()


@pytest.mark.parametrize(
    ("sql", "role", "purpose", "expected"), ATTACKS, ids=[f"{a[1]}: {a[0]}" for a in ATTACKS]
)
def test_attack(derived, sql, role, purpose, expected):
    if expected == "denied":
        with pytest.raises(AccessDeniedError):
            run(derived, sql, role, purpose)
    elif expected == "refused":
        with pytest.raises(UserError) as caught:
            run(derived, sql, role, purpose)
        assert not isinstance(caught.value, AccessDeniedError)
    elif expected == "masked":
        rows = run(derived, sql, role, purpose)
        assert rows and not any(clear in repr(rows) for clear in CLEAR)
    else:
        source_sql = expected.removeprefix("same as: ")
        assert sorted(map(repr, run(derived, sql, role, purpose))) == sorted(
            map(repr, run(derived, source_sql, role, purpose))
        )
