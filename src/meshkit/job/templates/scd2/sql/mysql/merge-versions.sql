-- Create the target if it does not exist yet: surrogate key, validity period, id, value columns.
-- The validity period is DATETIME: a TIMESTAMP column cannot hold the max value 9999-12-31.
-- DDL commits in MariaDB and MySQL, so this statement runs before the transaction of the load.
CREATE TABLE IF NOT EXISTS {target} AS
SELECT CAST(NULL AS CHAR(64) CHARACTER SET utf8mb4) AS {sk},
  CAST({updated_at} AS DATETIME) AS {active_from}, CAST({updated_at} AS DATETIME) AS {active_to}, {id}, {values}
FROM {source}
WHERE 1 = 0;

-- Merge the source's rows into the versions of the target, in one transaction (a temporary table
-- does not commit it).
--
-- For every id the source holds, the new versions are the target's versions plus the source's rows
-- (active from their updated_at). A source row replaces the target's version with the same id and
-- active_from but keeps its surrogate key; a version whose tracked values equal the previous
-- version's is merged into it; a version is active until the next one starts, the current one until
-- the max value. Only the rows that differ are deleted or inserted: the others stay untouched.
-- New surrogate keys are the md5 of id and active_from, so a repeated load gives the same keys.
-- A temporary table outlives a rolled-back load in MariaDB: drop one a failed load left behind.
DROP TEMPORARY TABLE IF EXISTS _mk_scd2_versions;
CREATE TEMPORARY TABLE _mk_scd2_versions AS
WITH
  candidates AS (
    SELECT 0 AS _mk_from_source, {sk}, {active_from}, {id}, {values}
    FROM {target}
    WHERE {id} IN (SELECT {id} FROM {source})
    UNION ALL
    SELECT 1, NULL, {updated_at}, {id}, {values}
    FROM {source}
  ),
  ranked AS (
    SELECT *,
      ROW_NUMBER() OVER (PARTITION BY {id}, {active_from} ORDER BY _mk_from_source DESC) AS _mk_rank,
      FIRST_VALUE({sk}) OVER (PARTITION BY {id}, {active_from} ORDER BY _mk_from_source) AS _mk_sk
    FROM candidates
  ),
  compared AS (
    SELECT *, ROW_NUMBER() OVER w AS _mk_position, {previous_tracked_values}
    FROM ranked
    WHERE _mk_rank = 1
    WINDOW w AS (PARTITION BY {id} ORDER BY {active_from})
  )
SELECT
  COALESCE(_mk_sk, md5(CONCAT(CAST({id} AS CHAR), '|', CAST({active_from} AS CHAR)))) AS {sk},
  {active_from},
  COALESCE(
    LEAD({active_from}) OVER (PARTITION BY {id} ORDER BY {active_from}), CAST({active_to_max} AS DATETIME)
  ) AS {active_to},
  {id},
  {values}
FROM compared
WHERE _mk_position = 1 OR NOT ({same_as_previous});

DELETE t FROM {target} AS t
WHERE t.{id} IN (SELECT {id} FROM {source})
  AND NOT EXISTS (
    SELECT 1 FROM _mk_scd2_versions AS n
    WHERE n.{sk} <=> t.{sk} AND n.{id} <=> t.{id}
      AND n.{active_from} <=> t.{active_from} AND n.{active_to} <=> t.{active_to}
      AND {same_values}
  );

INSERT INTO {target} ({sk}, {active_from}, {active_to}, {id}, {values})
SELECT {sk}, {active_from}, {active_to}, {id}, {values}
FROM _mk_scd2_versions AS n
WHERE NOT EXISTS (
  SELECT 1 FROM {target} AS t
  WHERE n.{sk} <=> t.{sk} AND n.{id} <=> t.{id}
    AND n.{active_from} <=> t.{active_from} AND n.{active_to} <=> t.{active_to}
    AND {same_values}
);

DROP TEMPORARY TABLE _mk_scd2_versions;
