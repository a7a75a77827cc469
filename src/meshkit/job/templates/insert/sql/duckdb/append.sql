-- Create the target with the source's columns if it does not exist yet.
CREATE TABLE IF NOT EXISTS {target} AS SELECT * FROM {source} WHERE 1 = 0;

-- Append the source's rows to the target (matched by column name).
INSERT INTO {target} BY NAME SELECT * FROM {source};
