-- Create the target with the source's columns if it does not exist yet (before the transaction:
-- DDL commits in MariaDB and MySQL).
CREATE TABLE IF NOT EXISTS {target} AS SELECT * FROM {source} WHERE 1 = 0;

-- Replace the target's rows of the snapshot periods the source covers (from its first to its last
-- {last_arrival_ts_column}) with the source's rows, in one transaction. Earlier and later periods stay.
-- The source has the target's columns in the same order.
DELETE FROM {target}
WHERE {last_arrival_ts_column} BETWEEN (SELECT MIN({last_arrival_ts_column}) FROM {source})
                                   AND (SELECT MAX({last_arrival_ts_column}) FROM {source});
INSERT INTO {target} SELECT * FROM {source};
