--
-- PostgreSQL's own statistics count kyro_rmi scans as they count btree's:
-- idx_scan per scan started (index, index-only and bitmap), idx_tup_read
-- per entry returned, idx_tup_fetch per heap tuple fetched.
--

CREATE EXTENSION IF NOT EXISTS kyrodb;
SET search_path = kyro_test, public;

CREATE TABLE counted (k int8, v int4);
INSERT INTO counted SELECT g, g FROM generate_series(1, 10000) g;
CREATE INDEX counted_k ON counted USING kyro_rmi (k);
VACUUM ANALYZE counted;

-- The counters of counted_k, as this backend's statistics snapshot sees them
-- once pending counts are flushed.
CREATE FUNCTION counted_stats(OUT idx_scan bigint, OUT idx_tup_read bigint,
	OUT idx_tup_fetch bigint)
LANGUAGE sql AS $$
	SELECT idx_scan, idx_tup_read, idx_tup_fetch
	FROM pg_stat_user_indexes WHERE indexrelid = 'counted_k'::regclass
$$;
CREATE TABLE seen AS SELECT 'start'::text AS step, * FROM counted_stats();

SET enable_seqscan = off;

-- An index scan of 10 rows.
SET enable_bitmapscan = off;
SET enable_indexonlyscan = off;
EXPLAIN (COSTS OFF) SELECT v FROM counted WHERE k BETWEEN 11 AND 20;
SELECT sum(v) FROM counted WHERE k BETWEEN 11 AND 20;
SELECT pg_stat_force_next_flush();
SELECT pg_stat_clear_snapshot();
INSERT INTO seen SELECT 'index', * FROM counted_stats();

-- An index-only scan of 5 rows (all visible, so no heap fetch).
SET enable_indexonlyscan = on;
EXPLAIN (COSTS OFF) SELECT k FROM counted WHERE k BETWEEN 1 AND 5;
SELECT sum(k) FROM counted WHERE k BETWEEN 1 AND 5;
SELECT pg_stat_force_next_flush();
SELECT pg_stat_clear_snapshot();
INSERT INTO seen SELECT 'index-only', * FROM counted_stats();

-- A bitmap scan of 100 rows.
SET enable_indexscan = off;
SET enable_indexonlyscan = off;
SET enable_bitmapscan = on;
EXPLAIN (COSTS OFF) SELECT v FROM counted WHERE k BETWEEN 101 AND 200;
SELECT sum(v) FROM counted WHERE k BETWEEN 101 AND 200;
SELECT pg_stat_force_next_flush();
SELECT pg_stat_clear_snapshot();
INSERT INTO seen SELECT 'bitmap', * FROM counted_stats();

-- A nested loop: one index scan per outer row.
SET enable_indexscan = on;
SET enable_bitmapscan = off;
SET enable_hashjoin = off;
SET enable_mergejoin = off;
SET enable_material = off;
EXPLAIN (COSTS OFF)
SELECT count(*) FROM generate_series(1, 7) p JOIN counted c ON c.k = p;
SELECT count(*) FROM generate_series(1, 7) p JOIN counted c ON c.k = p;
SELECT pg_stat_force_next_flush();
SELECT pg_stat_clear_snapshot();
INSERT INTO seen SELECT 'nested loop', * FROM counted_stats();

RESET ALL;
SET search_path = kyro_test, public;

-- What each step added.
SELECT step,
	idx_scan - lag(idx_scan) OVER w AS scans,
	idx_tup_read - lag(idx_tup_read) OVER w AS tuples_read,
	idx_tup_fetch - lag(idx_tup_fetch) OVER w AS tuples_fetched
FROM seen WINDOW w AS (ORDER BY ctid)
ORDER BY ctid;

DROP TABLE seen, counted;
DROP FUNCTION counted_stats();
RESET search_path;
DROP EXTENSION kyrodb;
