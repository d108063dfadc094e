--
-- The planner knows the order a kyro_rmi index returns: ORDER BY ... LIMIT,
-- min(), max(), merge joins and window frames use the index with no Sort
-- above it, on tables that have no btree index to fall back on.  From
-- PostgreSQL 18 on the planner finds an ordering index's "<" through
-- amtranslatecmptype and takes an index without it for unordered; this
-- file's output is the same on every major, so a major that lost the
-- order fails here.  On 18 it also checks that scans count EXPLAIN's
-- "Index Searches".
--

CREATE EXTENSION IF NOT EXISTS kyrodb;

-- ordered_plan(query, ordered): the joins and index scans of the query's
-- plan with the settings in force, whether the plan sorts, and whether its
-- rows are those of a sequential scan (in the same order, if ordered).
CREATE FUNCTION pg_temp.ordered_plan(query text, ordered boolean DEFAULT true)
RETURNS TABLE (plan text, sorts boolean, same_rows boolean)
LANGUAGE plpgsql AS $fn$
DECLARE
	agg text := CASE WHEN ordered THEN 'array_agg(r::text)'
		ELSE 'array_agg(r::text ORDER BY r::text)' END;
	wrapped text := format('SELECT %s FROM (%s) r', agg, query);
	got text[];
	expected text[];
	line text;
	node text;
	names text[] := '{enable_seqscan,enable_indexscan,enable_indexonlyscan,enable_bitmapscan,enable_sort,enable_hashjoin,enable_nestloop}';
	saved text[];
	i int;
BEGIN
	sorts := false;
	FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || query LOOP
		node := substring(line from
			'(?:Merge (?:Left |Right |Full )?Join|(?:Index Only Scan|Index Scan)(?: Backward)? using \S+)');
		IF node IS NOT NULL THEN
			plan := concat_ws(', ', plan, node);
		END IF;
		sorts := sorts OR line ~ '^\s*(->\s+)?(Incremental )?Sort\M';
	END LOOP;
	EXECUTE wrapped INTO got;
	-- the reference: no index at all, sorts and joins as the planner likes
	FOR i IN 1 .. cardinality(names) LOOP
		saved[i] := current_setting(names[i]);
		PERFORM set_config(names[i], (names[i] NOT IN ('enable_indexscan',
			'enable_indexonlyscan', 'enable_bitmapscan'))::text, true);
	END LOOP;
	EXECUTE wrapped INTO expected;
	FOR i IN 1 .. cardinality(names) LOOP
		PERFORM set_config(names[i], saved[i], true);
	END LOOP;
	same_rows := got IS NOT DISTINCT FROM expected;
	RETURN NEXT;
END
$fn$;

CREATE TABLE ko (id int, k int);
INSERT INTO ko SELECT i, CASE WHEN i % 97 <> 0 THEN (i * 37) % 5000 END
FROM generate_series(1, 10000) i;
CREATE INDEX ko_k ON ko USING kyro_rmi (k);
CREATE TABLE ko2 (id int, k int);
INSERT INTO ko2 SELECT i, (i * 11) % 3000 FROM generate_series(1, 4000) i;
CREATE INDEX ko2_k ON ko2 USING kyro_rmi (k);
VACUUM ANALYZE ko, ko2;

-- ORDER BY and LIMIT, both directions (NULLs last going up, first going
-- down, as the index keeps them), min() and max(), and a window frame by key offset (whose in_range support comes
-- from btree's family, which the index's "<" maps to).
SET enable_seqscan = off;
SET enable_bitmapscan = off;
SELECT q.n, p.*
FROM (VALUES
	(1, 'SELECT k FROM ko ORDER BY k LIMIT 20'),
	(2, 'SELECT k FROM ko ORDER BY k DESC LIMIT 20'),
	(3, 'SELECT k FROM ko WHERE k IS NOT NULL ORDER BY k DESC LIMIT 20'),
	(4, 'SELECT k FROM ko WHERE k > 4900 ORDER BY k'),
	(5, 'SELECT min(k) FROM ko'),
	(6, 'SELECT max(k) FROM ko'),
	(7, 'SELECT min(k), max(k) FROM ko WHERE k BETWEEN 100 AND 200'),
	(8, 'SELECT k, count(*) OVER (ORDER BY k RANGE BETWEEN 3 PRECEDING AND CURRENT ROW)
		FROM ko WHERE k < 300 ORDER BY k')
) AS q(n, query), pg_temp.ordered_plan(q.query) p
ORDER BY q.n;
RESET enable_seqscan;
RESET enable_bitmapscan;

-- A merge join of two kyro_rmi indexes, with sorting and the other joins
-- turned off: an unordered index would need a Sort under the join.
SET enable_seqscan = off;
SET enable_bitmapscan = off;
SET enable_hashjoin = off;
SET enable_nestloop = off;
SET enable_sort = off;
SELECT q.n, p.*
FROM (VALUES
	(1, 'SELECT a.k, b.k FROM ko a JOIN ko2 b ON a.k = b.k'),
	(2, 'SELECT a.id, b.id FROM ko a LEFT JOIN ko2 b ON a.k = b.k WHERE a.k < 1000')
) AS q(n, query), pg_temp.ordered_plan(q.query, false) p
ORDER BY q.n;
RESET enable_seqscan;
RESET enable_bitmapscan;
RESET enable_hashjoin;
RESET enable_nestloop;
RESET enable_sort;

-- "Index Searches" in EXPLAIN ANALYZE (18 and later): one per scan, as
-- idx_scan counts.  Earlier majors show no such figure.
CREATE FUNCTION pg_temp.searches_counted(query text) RETURNS boolean
LANGUAGE plpgsql AS $fn$
DECLARE
	plan json;
BEGIN
	IF current_setting('server_version_num')::int < 180000 THEN
		RETURN true;
	END IF;
	EXECUTE 'EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF, FORMAT JSON) '
		|| query INTO plan;
	RETURN (plan -> 0 -> 'Plan' ->> 'Index Searches') = '1';
END
$fn$;
SET enable_seqscan = off;
SET enable_bitmapscan = off;
SELECT pg_temp.searches_counted('SELECT k FROM ko WHERE k BETWEEN 100 AND 300') AS range_scan,
	pg_temp.searches_counted('SELECT id FROM ko WHERE k = 42') AS lookup;
RESET enable_seqscan;
RESET enable_bitmapscan;

DROP TABLE ko, ko2;
DROP EXTENSION kyrodb;
