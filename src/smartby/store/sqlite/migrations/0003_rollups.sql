-- Hourly rollups of history: per attribute instance series and hour (of `at`), what aggregations
-- need, kept in the same transaction as the history rows it sums up (store/sqlite/rollup.py).
-- Every instance that is not a deletion counts in `instances` (totalCount) and `kind` (the largest
-- kind code, as the raw aggregation reports); numbers also count in `numbers` and the number
-- columns, which are NULL while the hour holds none. Like `num`, the number columns have no declared
-- type, so sums and extremes of integers stay integers. `hour` is the start of the hour in
-- microseconds since the epoch (UTC); a row exists only while its hour holds instances.
CREATE TABLE history_hour (
    tentity INTEGER NOT NULL,
    name_id INTEGER NOT NULL,
    dataset_id INTEGER NOT NULL,
    hour INTEGER NOT NULL,
    kind INTEGER NOT NULL,
    instances INTEGER NOT NULL,
    numbers INTEGER NOT NULL,
    num_sum,
    num_sumsq,
    num_min,
    num_max,
    PRIMARY KEY (tentity, name_id, dataset_id, hour)
) WITHOUT ROWID;

-- Databases made before this migration: the rollup of the history they hold.
INSERT INTO history_hour
SELECT tentity, name_id, dataset_id, at - ((at % 3600000000) + 3600000000) % 3600000000, max(kind),
       count(*), count(num), sum(num), sum(num * num), min(num), max(num)
FROM history
WHERE kind & 32 = 0
GROUP BY tentity, name_id, dataset_id, at - ((at % 3600000000) + 3600000000) % 3600000000;
