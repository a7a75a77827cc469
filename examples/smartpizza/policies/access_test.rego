package meshkit.access_test

import rego.v1

customers := {"name": "warehouse/customers_current", "domain": "customer", "tags": []}

sales := {"name": "warehouse/daily_sales", "domain": "orders", "tags": []}

columns := [
	{"name": "email", "tags": ["pii", "contact"]},
	{"name": "street", "tags": ["pii", "address"]},
	{"name": "marketing_consent", "tags": ["consent"]},
]

steward := {"subject": {"role": "steward"}, "purpose": "audit", "dataset": customers, "columns": columns}

analyst := {"subject": {"role": "analyst"}, "purpose": "analytics", "dataset": customers, "columns": columns}

marketer := {"subject": {"role": "marketer"}, "purpose": "marketing", "dataset": customers, "columns": columns}

test_steward_sees_everything if {
	data.meshkit.access.allow with input as steward
	count(data.meshkit.access.actions) == 0 with input as steward
}

test_analyst_sees_pii_masked if {
	acts := data.meshkit.access.actions with input as analyst
	{"type": "RedactColumn", "column": "email"} in acts
	not {"type": "RedactColumn", "column": "marketing_consent"} in acts
}

test_marketing_sees_consenting_customers_only if {
	acts := data.meshkit.access.actions with input as marketer
	{"type": "FilterRows", "predicate": "marketing_consent"} in acts
	{"type": "RemoveColumn", "column": "street"} in acts
}

test_marketing_may_not_read_sales if {
	count(data.meshkit.access.deny) > 0 with input as {"subject": {"role": "marketer"}, "purpose": "marketing", "dataset": sales, "columns": []}
}

test_unknown_role_is_not_allowed if {
	not data.meshkit.access.allow with input as {"subject": {"role": "intern"}, "dataset": customers, "columns": []}
}
