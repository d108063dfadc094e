--
-- Scans: ordered forward and backward (NULLs last, as btree), min() and
-- max(), index-only and bitmap scans, the inner side of a nested loop,
-- merge joins that mark and restore, and scrollable cursors that change
-- direction.  Everything compared with sequential scans.
--

CREATE EXTENSION IF NOT EXISTS kyrodb;

-- cursor_compare(query, moves): the same moves on two scrollable cursors
-- over query, one planned with index scans only, one with a sequential
-- scan (and a sort).  A move is next, prior, first, last, absolute N,
-- relative N (FETCH), or forward N, backward N (MOVE).  One row per move:
-- what the index cursor returned (for MOVE, how many rows it moved) and
-- whether the sequential cursor did the same.
CREATE FUNCTION pg_temp.cursor_compare(query text, moves text[])
RETURNS TABLE (step int, move text, got text, same boolean)
LANGUAGE plpgsql AS $fn$
DECLARE
	ci refcursor;
	cs refcursor;
	ri record;
	rs record;
	ni bigint;
	ns bigint;
	op text;
	n int;
	saved text[] := ARRAY[current_setting('enable_seqscan'),
		current_setting('enable_indexscan'),
		current_setting('enable_indexonlyscan'),
		current_setting('enable_bitmapscan')];
BEGIN
	PERFORM set_config('enable_seqscan', 'on', true);
	PERFORM set_config('enable_indexscan', 'off', true);
	PERFORM set_config('enable_indexonlyscan', 'off', true);
	PERFORM set_config('enable_bitmapscan', 'off', true);
	OPEN cs SCROLL FOR EXECUTE query;
	PERFORM set_config('enable_seqscan', 'off', true);
	PERFORM set_config('enable_indexscan', 'on', true);
	PERFORM set_config('enable_indexonlyscan', 'on', true);
	OPEN ci SCROLL FOR EXECUTE query;
	step := 0;
	FOREACH move IN ARRAY moves LOOP
		step := step + 1;
		op := split_part(move, ' ', 1);
		n := nullif(split_part(move, ' ', 2), '')::int;
		CASE op
			WHEN 'next' THEN
				FETCH NEXT FROM ci INTO ri;
				GET DIAGNOSTICS ni = ROW_COUNT;
				FETCH NEXT FROM cs INTO rs;
				GET DIAGNOSTICS ns = ROW_COUNT;
			WHEN 'prior' THEN
				FETCH PRIOR FROM ci INTO ri;
				GET DIAGNOSTICS ni = ROW_COUNT;
				FETCH PRIOR FROM cs INTO rs;
				GET DIAGNOSTICS ns = ROW_COUNT;
			WHEN 'first' THEN
				FETCH FIRST FROM ci INTO ri;
				GET DIAGNOSTICS ni = ROW_COUNT;
				FETCH FIRST FROM cs INTO rs;
				GET DIAGNOSTICS ns = ROW_COUNT;
			WHEN 'last' THEN
				FETCH LAST FROM ci INTO ri;
				GET DIAGNOSTICS ni = ROW_COUNT;
				FETCH LAST FROM cs INTO rs;
				GET DIAGNOSTICS ns = ROW_COUNT;
			WHEN 'absolute' THEN
				FETCH ABSOLUTE n FROM ci INTO ri;
				GET DIAGNOSTICS ni = ROW_COUNT;
				FETCH ABSOLUTE n FROM cs INTO rs;
				GET DIAGNOSTICS ns = ROW_COUNT;
			WHEN 'relative' THEN
				FETCH RELATIVE n FROM ci INTO ri;
				GET DIAGNOSTICS ni = ROW_COUNT;
				FETCH RELATIVE n FROM cs INTO rs;
				GET DIAGNOSTICS ns = ROW_COUNT;
			WHEN 'forward' THEN
				MOVE FORWARD n FROM ci;
				GET DIAGNOSTICS ni = ROW_COUNT;
				MOVE FORWARD n FROM cs;
				GET DIAGNOSTICS ns = ROW_COUNT;
			WHEN 'backward' THEN
				MOVE BACKWARD n FROM ci;
				GET DIAGNOSTICS ni = ROW_COUNT;
				MOVE BACKWARD n FROM cs;
				GET DIAGNOSTICS ns = ROW_COUNT;
		END CASE;
		IF op IN ('forward', 'backward') THEN
			got := 'moved ' || ni;
			same := ni = ns;
		ELSE
			got := CASE WHEN ni > 0 THEN ri::text ELSE 'none' END;
			same := ni = ns AND (ni = 0 OR ri::text = rs::text);
		END IF;
		RETURN NEXT;
	END LOOP;
	CLOSE ci;
	CLOSE cs;
	PERFORM set_config('enable_seqscan', saved[1], true);
	PERFORM set_config('enable_indexscan', saved[2], true);
	PERFORM set_config('enable_indexonlyscan', saved[3], true);
	PERFORM set_config('enable_bitmapscan', saved[4], true);
END
$fn$;

-- 20000 rows, every key four times, NULLs; the last quarter in the delta.
-- A second index on g, for bitmap scans over two indexes.
CREATE TABLE ks (id int, k int, g int);
INSERT INTO ks
SELECT i, CASE WHEN i % 97 <> 0 THEN (i * 7919) % 5000 END, i % 10
FROM generate_series(1, 15000) i;
CREATE INDEX ks_k ON ks USING kyro_rmi (k);
CREATE INDEX ks_g ON ks USING kyro_rmi (g);
INSERT INTO ks
SELECT i, CASE WHEN i % 97 <> 0 THEN (i * 7919) % 5000 END, i % 10
FROM generate_series(15001, 20000) i;
VACUUM ANALYZE ks;
SELECT kyrodb.check('ks_k', true) AS k_ok, kyrodb.check('ks_g', true) AS g_ok;

--
-- Ordered scans.  The index gives ORDER BY k (NULLS LAST) forward and
-- ORDER BY k DESC (NULLS FIRST) backward, as btree; the other NULL
-- placements need a sort.
--
SET enable_seqscan = off;
SET enable_bitmapscan = off;
EXPLAIN (COSTS OFF) SELECT k FROM ks ORDER BY k LIMIT 10;
EXPLAIN (COSTS OFF) SELECT id, k FROM ks ORDER BY k DESC LIMIT 10;
EXPLAIN (COSTS OFF) SELECT id, k FROM ks WHERE k BETWEEN 1000 AND 1100 ORDER BY k DESC;
EXPLAIN (COSTS OFF) SELECT id, k FROM ks WHERE k = ANY ('{4999,0,2500,77,NULL}') ORDER BY k DESC;
EXPLAIN (COSTS OFF) SELECT k FROM ks ORDER BY k NULLS FIRST LIMIT 10;
EXPLAIN (COSTS OFF) SELECT k FROM ks ORDER BY k DESC NULLS LAST LIMIT 10;
RESET enable_seqscan;
RESET enable_bitmapscan;

-- Each row numbered in the order it came: the order is compared too.
SELECT q.n, q.query, c.*
FROM (VALUES
	(1, 'SELECT k FROM ks ORDER BY k LIMIT 500'),
	(2, 'SELECT k FROM ks ORDER BY k DESC LIMIT 500'),
	(3, 'SELECT k FROM ks ORDER BY k NULLS LAST OFFSET 19700'),
	(4, 'SELECT k FROM ks ORDER BY k DESC NULLS FIRST OFFSET 19700'),
	(5, 'SELECT k FROM ks ORDER BY k'),
	(6, 'SELECT k FROM ks ORDER BY k DESC'),
	(7, 'SELECT k FROM ks WHERE k BETWEEN 1000 AND 1100 ORDER BY k DESC'),
	(8, 'SELECT k FROM ks WHERE k > 4990 ORDER BY k'),
	(9, 'SELECT k FROM ks WHERE k < 10 ORDER BY k DESC'),
	(10, 'SELECT k FROM ks WHERE k = ANY (''{4999,0,2500,77,NULL}'') ORDER BY k DESC'),
	(11, 'SELECT k FROM ks WHERE k IN (4999, 0, 2500, 77, 5000) ORDER BY k'),
	(12, 'SELECT k FROM ks WHERE k IS NULL ORDER BY k DESC LIMIT 5'),
	(13, 'SELECT id, k FROM ks WHERE k < 100 ORDER BY k, id'),
	(14, 'SELECT id, k FROM ks WHERE k > 4900 ORDER BY k DESC, id DESC'),
	(15, 'SELECT id, k FROM ks WHERE k < 2000 ORDER BY k DESC, id LIMIT 1000')
) q(n, query),
	LATERAL kyro_test.compare(
		'SELECT row_number() OVER () AS pos, s.* FROM (' || q.query || ') s',
		'{index}') c
ORDER BY q.n;

--
-- min() and max() read one end of the index each.
--
SET enable_seqscan = off;
SET enable_bitmapscan = off;
EXPLAIN (COSTS OFF) SELECT min(k), max(k) FROM ks;
RESET enable_seqscan;
RESET enable_bitmapscan;
SELECT q.n, q.query, c.*
FROM (VALUES
	(1, 'SELECT min(k), max(k) FROM ks'),
	(2, 'SELECT min(k), max(k) FROM ks WHERE k > 2500'),
	(3, 'SELECT min(k), max(k) FROM ks WHERE k BETWEEN 77 AND 78'),
	(4, 'SELECT min(k), max(k) FROM ks WHERE k < 0'),
	(5, 'SELECT min(k), max(k) FROM ks WHERE k = 4999')
) q(n, query),
	LATERAL kyro_test.compare(q.query, '{index}') c
ORDER BY q.n;
SELECT min(k), max(k) FROM ks;

--
-- Index-only scans: after VACUUM no heap page is visited, NULL keys
-- included.
--
SET enable_seqscan = off;
SET enable_bitmapscan = off;
EXPLAIN (ANALYZE, BUFFERS OFF, COSTS OFF, TIMING OFF, SUMMARY OFF)
SELECT k FROM ks WHERE k BETWEEN 100 AND 300;
EXPLAIN (ANALYZE, BUFFERS OFF, COSTS OFF, TIMING OFF, SUMMARY OFF)
SELECT count(*) FROM ks WHERE k IS NULL;
RESET enable_seqscan;
RESET enable_bitmapscan;
SELECT q.n, q.query, c.*
FROM (VALUES
	(1, 'SELECT k FROM ks WHERE k BETWEEN 100 AND 300'),
	(2, 'SELECT k FROM ks WHERE k IS NULL'),
	(3, 'SELECT count(*) FROM ks WHERE k IS NOT NULL'),
	(4, 'SELECT k, count(*) FROM ks WHERE k < 1000 GROUP BY k')
) q(n, query),
	LATERAL kyro_test.compare(q.query, '{index}') c
ORDER BY q.n;

--
-- Bitmap scans, alone, ORed together, and beside a filter on another column.
--
SET enable_seqscan = off;
SET enable_indexscan = off;
SET enable_indexonlyscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM ks WHERE k < 10 OR k > 4990;
EXPLAIN (COSTS OFF) SELECT id FROM ks WHERE k < 10 OR k IS NULL;
EXPLAIN (COSTS OFF) SELECT id FROM ks WHERE k < 2000 AND g = 3;
RESET enable_seqscan;
RESET enable_indexscan;
RESET enable_indexonlyscan;
SELECT q.n, q.query, c.*
FROM (VALUES
	(1, 'SELECT id FROM ks WHERE k < 10 OR k > 4990'),
	(2, 'SELECT id FROM ks WHERE k < 10 OR k IS NULL'),
	(3, 'SELECT id FROM ks WHERE k < 2000 AND g = 3'),
	(4, 'SELECT id FROM ks WHERE k = ANY (''{1,2,3}'') OR g = ANY (''{7}'')'),
	(5, 'SELECT id FROM ks WHERE k >= 4000')
) q(n, query),
	LATERAL kyro_test.compare(q.query, '{bitmap}') c
ORDER BY q.n;

--
-- The inner side of a nested loop: one rescan per outer row, equality and
-- ranges, ordered with LIMIT forward and backward.
--
CREATE TABLE kso (v int);
INSERT INTO kso VALUES (-1), (0), (1), (77), (77), (2500), (4999), (5000), (NULL);
INSERT INTO kso SELECT generate_series(100, 4000, 97);
ANALYZE kso;
SET enable_hashjoin = off;
SET enable_mergejoin = off;
SET enable_memoize = off;
SET enable_seqscan = off;
SET enable_bitmapscan = off;
EXPLAIN (COSTS OFF)
SELECT kso.v, ks.id FROM kso JOIN ks ON ks.k = kso.v;
EXPLAIN (COSTS OFF)
SELECT v, (SELECT array_agg(k) FROM (SELECT k FROM ks WHERE k < kso.v ORDER BY k DESC LIMIT 3) s) FROM kso;
RESET enable_seqscan;
RESET enable_bitmapscan;
SELECT q.n, q.query, c.*
FROM (VALUES
	(1, 'SELECT kso.v, ks.id FROM kso JOIN ks ON ks.k = kso.v'),
	(2, 'SELECT kso.v, ks.id FROM kso JOIN ks ON ks.k BETWEEN kso.v AND kso.v + 2'),
	(3, 'SELECT kso.v, ks.id FROM kso LEFT JOIN ks ON ks.k = kso.v'),
	(4, 'SELECT v, (SELECT array_agg(k) FROM (SELECT k FROM ks WHERE k > kso.v ORDER BY k LIMIT 3) s) FROM kso'),
	(5, 'SELECT v, (SELECT array_agg(k) FROM (SELECT k FROM ks WHERE k < kso.v ORDER BY k DESC LIMIT 3) s) FROM kso')
) q(n, query),
	LATERAL kyro_test.compare(q.query, '{index}') c
ORDER BY q.n;
RESET enable_hashjoin;
RESET enable_mergejoin;
RESET enable_memoize;

--
-- Merge joins over two index scans, with duplicate keys on both sides, so
-- that the inner scan is marked and restored (no Materialize), in snapshot
-- and delta alike.  Each result is compared with a hash join's.
--
CREATE TABLE kma (id int, k int);
INSERT INTO kma SELECT i, CASE WHEN i % 101 <> 0 THEN i % 300 END FROM generate_series(1, 2400) i;
CREATE INDEX kma_k ON kma USING kyro_rmi (k);
INSERT INTO kma SELECT i, CASE WHEN i % 101 <> 0 THEN i % 300 END FROM generate_series(2401, 3000) i;
CREATE TABLE kmb (id int, k int);
INSERT INTO kmb SELECT i, CASE WHEN i % 89 <> 0 THEN (i * 7) % 400 END FROM generate_series(1, 1200) i;
CREATE INDEX kmb_k ON kmb USING kyro_rmi (k);
INSERT INTO kmb SELECT i, CASE WHEN i % 89 <> 0 THEN (i * 7) % 400 END FROM generate_series(1201, 1500) i;
VACUUM ANALYZE kma, kmb;

SET enable_hashjoin = off;
SET enable_nestloop = off;
SET enable_sort = off;
SET enable_material = off;
SET enable_bitmapscan = off;
EXPLAIN (COSTS OFF)
SELECT a.id AS a_id, b.id AS b_id FROM kma a JOIN kmb b ON a.k = b.k;
CREATE TEMP TABLE km_inner AS
SELECT a.id AS a_id, b.id AS b_id FROM kma a JOIN kmb b ON a.k = b.k;
EXPLAIN (COSTS OFF)
SELECT a.id AS a_id, b.id AS b_id FROM kma a LEFT JOIN kmb b ON a.k = b.k;
CREATE TEMP TABLE km_left AS
SELECT a.id AS a_id, b.id AS b_id FROM kma a LEFT JOIN kmb b ON a.k = b.k;
EXPLAIN (COSTS OFF)
SELECT a.id AS a_id, b.id AS b_id FROM kma a FULL JOIN kmb b ON a.k = b.k;
CREATE TEMP TABLE km_full AS
SELECT a.id AS a_id, b.id AS b_id FROM kma a FULL JOIN kmb b ON a.k = b.k;
EXPLAIN (COSTS OFF)
SELECT a.k AS a_k, b.k AS b_k FROM kma a JOIN kmb b ON a.k = b.k;
CREATE TEMP TABLE km_only AS
SELECT a.k AS a_k, b.k AS b_k FROM kma a JOIN kmb b ON a.k = b.k;
EXPLAIN (COSTS OFF)
SELECT a.id AS a_id, b.id AS b_id FROM kma a JOIN kmb b ON a.k = b.k
WHERE a.k BETWEEN 50 AND 150 ORDER BY a.k DESC;
CREATE TEMP TABLE km_desc AS
SELECT row_number() OVER () AS pos, s.* FROM (
	SELECT a.k, a.id AS a_id, b.id AS b_id FROM kma a JOIN kmb b ON a.k = b.k
	WHERE a.k BETWEEN 50 AND 150 ORDER BY a.k DESC) s;
RESET enable_hashjoin;
RESET enable_nestloop;
RESET enable_sort;
RESET enable_material;
RESET enable_bitmapscan;

SET enable_mergejoin = off;
SET enable_nestloop = off;
SET enable_indexscan = off;
SET enable_indexonlyscan = off;
SET enable_bitmapscan = off;
EXPLAIN (COSTS OFF)
SELECT a.id AS a_id, b.id AS b_id FROM kma a JOIN kmb b ON a.k = b.k;
SELECT 'inner' AS join, (SELECT count(*) FROM km_inner) AS merge_rows,
	(SELECT count(*) FROM (TABLE km_inner EXCEPT ALL
		SELECT a.id, b.id FROM kma a JOIN kmb b ON a.k = b.k) s) AS extra,
	(SELECT count(*) FROM (SELECT a.id, b.id FROM kma a JOIN kmb b ON a.k = b.k
		EXCEPT ALL TABLE km_inner) s) AS missing
UNION ALL
SELECT 'left', (SELECT count(*) FROM km_left),
	(SELECT count(*) FROM (TABLE km_left EXCEPT ALL
		SELECT a.id, b.id FROM kma a LEFT JOIN kmb b ON a.k = b.k) s),
	(SELECT count(*) FROM (SELECT a.id, b.id FROM kma a LEFT JOIN kmb b ON a.k = b.k
		EXCEPT ALL TABLE km_left) s)
UNION ALL
SELECT 'full', (SELECT count(*) FROM km_full),
	(SELECT count(*) FROM (TABLE km_full EXCEPT ALL
		SELECT a.id, b.id FROM kma a FULL JOIN kmb b ON a.k = b.k) s),
	(SELECT count(*) FROM (SELECT a.id, b.id FROM kma a FULL JOIN kmb b ON a.k = b.k
		EXCEPT ALL TABLE km_full) s)
UNION ALL
SELECT 'index only', (SELECT count(*) FROM km_only),
	(SELECT count(*) FROM (TABLE km_only EXCEPT ALL
		SELECT a.k, b.k FROM kma a JOIN kmb b ON a.k = b.k) s),
	(SELECT count(*) FROM (SELECT a.k, b.k FROM kma a JOIN kmb b ON a.k = b.k
		EXCEPT ALL TABLE km_only) s);
-- the descending join: the same keys in the same order, the same pairs
SELECT (SELECT count(*) FROM km_desc) AS merge_rows,
	(SELECT count(*) FROM km_desc d1 JOIN km_desc d2 ON d2.pos = d1.pos + 1
	 WHERE d2.k > d1.k) AS out_of_order,
	(SELECT count(*) FROM (SELECT k, a_id, b_id FROM km_desc EXCEPT ALL
		SELECT a.k, a.id, b.id FROM kma a JOIN kmb b ON a.k = b.k
		WHERE a.k BETWEEN 50 AND 150) s) AS extra,
	(SELECT count(*) FROM (SELECT a.k, a.id, b.id FROM kma a JOIN kmb b ON a.k = b.k
		WHERE a.k BETWEEN 50 AND 150 EXCEPT ALL
		SELECT k, a_id, b_id FROM km_desc) s) AS missing;
RESET enable_mergejoin;
RESET enable_nestloop;
RESET enable_indexscan;
RESET enable_indexonlyscan;
RESET enable_bitmapscan;

--
-- Scrollable cursors that turn around mid-scan, run off either end and
-- come back, jump with ABSOLUTE and RELATIVE.  Unique keys, even ones in
-- the snapshot and odd ones in the delta, and a few NULLs: every step's
-- answer is determined.
--
CREATE TABLE kcur (k int);
INSERT INTO kcur SELECT generate_series(0, 2000, 2);
INSERT INTO kcur VALUES (NULL), (NULL);
CREATE INDEX kcur_k ON kcur USING kyro_rmi (k);
INSERT INTO kcur SELECT generate_series(1, 1999, 2);
INSERT INTO kcur VALUES (NULL);
VACUUM ANALYZE kcur;

SET enable_seqscan = off;
SET enable_bitmapscan = off;
EXPLAIN (COSTS OFF) SELECT k FROM kcur WHERE k BETWEEN 100 AND 140 ORDER BY k;
EXPLAIN (COSTS OFF) SELECT k FROM kcur WHERE k = ANY ('{7,10,11,600,601,1999,5000}') ORDER BY k DESC;
EXPLAIN (COSTS OFF) SELECT k FROM kcur ORDER BY k;
RESET enable_seqscan;
RESET enable_bitmapscan;

SELECT * FROM pg_temp.cursor_compare(
	'SELECT k FROM kcur WHERE k BETWEEN 100 AND 140 ORDER BY k',
	ARRAY['next', 'next', 'next', 'prior', 'prior', 'prior', 'next',
		'forward 5', 'next', 'backward 3', 'prior', 'absolute 10',
		'absolute 3', 'relative 4', 'relative -2', 'last', 'next', 'prior',
		'prior', 'first', 'prior', 'next', 'absolute -1', 'absolute 41',
		'absolute 42', 'prior', 'backward 50', 'next', 'forward 100', 'prior']);

SELECT * FROM pg_temp.cursor_compare(
	'SELECT k FROM kcur WHERE k = ANY (''{7,10,11,600,601,1999,5000}'') ORDER BY k DESC',
	ARRAY['next', 'next', 'next', 'prior', 'prior', 'next', 'next', 'next',
		'next', 'next', 'next', 'prior', 'prior', 'last', 'prior', 'first',
		'prior', 'next', 'relative 3', 'relative -2']);

SELECT * FROM pg_temp.cursor_compare(
	'SELECT k FROM kcur ORDER BY k',
	ARRAY['last', 'prior', 'prior', 'prior', 'prior', 'next', 'absolute 1000',
		'relative -1', 'next', 'forward 1000', 'next', 'next', 'backward 2',
		'next', 'absolute 2', 'prior', 'prior', 'next']);

SELECT * FROM pg_temp.cursor_compare(
	'SELECT k FROM kcur ORDER BY k DESC',
	ARRAY['next', 'next', 'next', 'next', 'prior', 'prior', 'absolute 1500',
		'next', 'prior', 'last', 'next', 'prior', 'first', 'prior', 'next']);

--
-- An index declared DESC or NULLS FIRST: either CREATE INDEX refuses it,
-- or the index returns that order.  Whichever, every ordered query below
-- returns what a sort returns (the plans are not shown, since they differ
-- between the two).
--
CREATE TABLE kdesc (k int);
INSERT INTO kdesc SELECT generate_series(1, 100);
INSERT INTO kdesc VALUES (NULL), (NULL);
DO $$
BEGIN
	CREATE INDEX kdesc_desc ON kdesc USING kyro_rmi (k DESC);
EXCEPTION WHEN OTHERS THEN
	NULL;
END
$$;
SELECT q.n, q.query, c.nrows, c.missing, c.extra
FROM (VALUES
	(1, 'SELECT k FROM kdesc ORDER BY k DESC LIMIT 5'),
	(2, 'SELECT k FROM kdesc ORDER BY k LIMIT 5'),
	(3, 'SELECT k FROM kdesc WHERE k > 90 ORDER BY k DESC'),
	(4, 'SELECT k FROM kdesc WHERE k < 10 ORDER BY k')
) q(n, query),
	LATERAL kyro_test.compare(
		'SELECT row_number() OVER () AS pos, s.* FROM (' || q.query || ') s',
		'{index}') c
ORDER BY q.n;
DROP INDEX IF EXISTS kdesc_desc;
DO $$
BEGIN
	CREATE INDEX kdesc_nulls_first ON kdesc USING kyro_rmi (k NULLS FIRST);
EXCEPTION WHEN OTHERS THEN
	NULL;
END
$$;
SELECT q.n, q.query, c.nrows, c.missing, c.extra
FROM (VALUES
	(1, 'SELECT k FROM kdesc ORDER BY k NULLS FIRST LIMIT 5'),
	(2, 'SELECT k FROM kdesc ORDER BY k DESC NULLS LAST LIMIT 5'),
	(3, 'SELECT k FROM kdesc WHERE k > 90 ORDER BY k NULLS FIRST')
) q(n, query),
	LATERAL kyro_test.compare(
		'SELECT row_number() OVER () AS pos, s.* FROM (' || q.query || ') s',
		'{index}') c
ORDER BY q.n;

DROP TABLE km_inner, km_left, km_full, km_only, km_desc;
DROP TABLE ks, kso, kma, kmb, kcur, kdesc;
DROP EXTENSION kyrodb;
