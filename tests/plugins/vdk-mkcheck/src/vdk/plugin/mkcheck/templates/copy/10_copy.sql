CREATE TABLE {target} AS SELECT * FROM {source}
