# Who may read SmartPizza's data products, and how they see customer PII.
# The purposes each role may read for are declared in purposes.json and checked before these rules.
package meshkit.access

import rego.v1

roles := {"steward", "analyst", "marketer", "engineer"}

# Every known role reads the mesh's products; anyone else is denied (policy_default_deny).
allow if input.subject.role in roles

deny contains "marketing reads customer data only" if {
	input.purpose == "marketing"
	input.dataset.domain != "customer"
}

# Analysts see PII masked.
actions contains {"type": "RedactColumn", "column": c.name} if {
	input.subject.role in {"analyst", "engineer"}
	some c in input.columns
	"pii" in c.tags
}

# For marketing: only customers who consented, and no addresses.
actions contains {"type": "FilterRows", "predicate": "marketing_consent"} if {
	input.purpose == "marketing"
	some c in input.columns
	c.name == "marketing_consent"
}

actions contains {"type": "RemoveColumn", "column": c.name} if {
	input.purpose == "marketing"
	some c in input.columns
	"address" in c.tags
}

# Stewards see everything: no actions, and datasets whose classification is still unknown
# (derived from unclassified sources, see docs/policies.md) that other roles may not read.
allow_unclassified if input.subject.role == "steward"
