-- Create the target with the source's columns if it does not exist yet.
CREATE TABLE IF NOT EXISTS {target} AS SELECT * FROM {source} WHERE 1 = 0;

-- Replace every row of the target with the source's rows. The script runs in one transaction:
-- readers see the old rows or the new ones, never a mix, and a failure leaves the target as it was.
DELETE FROM {target};
INSERT INTO {target} BY NAME SELECT * FROM {source};
