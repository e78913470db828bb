-- Hourly rollups of history: per attribute instance series and hour (of `at`), what aggregations
-- need, kept in the same transaction as the history rows it sums up (store/postgres/rollup.py).
-- Every instance that is not a deletion counts in `instances` (totalCount) and `kind` (the largest
-- kind code, as the raw aggregation reports); numbers also count in `numbers` and the number
-- columns, which are NULL while the hour holds none. The number columns are `numeric` like
-- `history.num`, so sums are exact and keep the scale the raw sums have. `hour` is the start of the
-- hour in microseconds since the epoch (UTC); a row exists only while its hour holds instances.
-- Distributed by `key` on Citus, co-located with history. Rows of the current hour are updated by
-- every write of their series: half of each page is left free so the new row versions stay on
-- their page (HOT updates, no new index entries).
CREATE TABLE history_hour (
    key bigint NOT NULL,
    hour bigint NOT NULL,
    instances bigint NOT NULL,
    numbers bigint NOT NULL,
    name_id integer NOT NULL,
    dataset_id integer NOT NULL,
    kind smallint NOT NULL,
    num_sum numeric,
    num_sumsq numeric,
    num_min numeric,
    num_max numeric,
    PRIMARY KEY (key, name_id, dataset_id, hour)
) WITH (fillfactor = 50);

-- Databases made before this migration: the rollup of the history they hold.
INSERT INTO history_hour (key, name_id, dataset_id, hour, kind, instances, numbers, num_sum, num_sumsq,
                          num_min, num_max)
SELECT key, name_id, dataset_id, at - ((at % 3600000000) + 3600000000) % 3600000000, max(kind),
       count(*), count(num), sum(num), sum(num * num), min(num), max(num)
FROM history
WHERE kind & 32 = 0
GROUP BY 1, 2, 3, 4;
