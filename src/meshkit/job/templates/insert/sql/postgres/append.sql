-- Create the target with the source's columns if it does not exist yet.
CREATE TABLE IF NOT EXISTS {target} AS SELECT * FROM {source} WHERE 1 = 0;

-- Append the source's rows to the target (the source has the target's columns in the same order).
INSERT INTO {target} SELECT * FROM {source};
