-- Packed history (store/postgres/pack.py): the instances of one series and one UTC day of `at`,
-- once older than SMARTBY_HISTORY_PACK_AFTER, as one row of arrays instead of one row each. The
-- columns are history's, one array element per instance in (at, instance) order. The three
-- 8-byte times and numbers are stored as a line (`*_base` + position * `*_step`) plus each element's
-- distance from it (`*_dev`, or `*_dev4` when every distance fits 4 bytes; both NULL when every
-- distance is 0: a regular series costs nothing there); created_at, when `created_from_at`, as
-- such a line plus `at` (what was recorded soon after it was observed); an array whose elements
-- are all NULL is NULL. Arrays are compressed by TOAST (toast_tuple_target
-- makes even a small day's row worth compressing). Reads unnest the arrays in SQL, beside history's
-- own rows, so every temporal query, aggregation included, reads both alike.
CREATE TABLE history_chunk (
    key bigint NOT NULL,
    name_id integer NOT NULL,
    dataset_id integer NOT NULL,
    day bigint NOT NULL,
    first_at bigint NOT NULL,
    last_at bigint NOT NULL,
    first_instance bigint NOT NULL,
    last_instance bigint NOT NULL,
    at_base bigint NOT NULL,
    at_step bigint NOT NULL,
    instance_base bigint NOT NULL,
    instance_step bigint NOT NULL,
    created_base bigint NOT NULL,
    created_step bigint NOT NULL,
    created_from_at boolean NOT NULL,
    tenant_id integer NOT NULL,
    count integer NOT NULL,
    kind smallint[] NOT NULL,
    at_dev bigint[],
    at_dev4 integer[],
    instance_dev bigint[],
    instance_dev4 integer[],
    created_dev bigint[],
    created_dev4 integer[],
    modified_at bigint[],
    unit_id integer[],
    num numeric[],
    value text[] COLLATE "C",
    extra text[],
    PRIMARY KEY (key, name_id, dataset_id, day)
) WITH (toast_tuple_target = 128);
