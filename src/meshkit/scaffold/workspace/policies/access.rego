# Who may read this workspace's data. Every read (meshkit query, Flight, transfers) is decided here;
# what no rule allows is denied (policy_default_deny). Purposes are declared in purposes.json.
package meshkit.access

import rego.v1

# A team reads the datasets it owns: those its jobs, transfers and builds wrote.
allow if input.subject.team == input.dataset.owner

# To let another team read, add its rule, for example:
# allow if input.subject.team == "analytics"
# and, for datasets whose columns no product contract classifies:
# allow_unclassified if input.subject.team == "analytics"
