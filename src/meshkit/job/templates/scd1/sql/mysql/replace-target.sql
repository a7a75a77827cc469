-- Create the target with the source's columns if it does not exist yet. DDL commits in MariaDB and
-- MySQL, so this statement runs before the transaction of the load.
CREATE TABLE IF NOT EXISTS {target} AS SELECT * FROM {source} WHERE 1 = 0;

-- Replace every row of the target with the source's rows, in one InnoDB transaction: readers see
-- the old rows or the new ones, never a mix, and a failure leaves the target as it was.
-- The source has the target's columns in the same order.
DELETE FROM {target};
INSERT INTO {target} SELECT * FROM {source};
