--
-- DDL: index options and the kyrodb.delta_limit setting at both ends of
-- their ranges, TRUNCATE, REINDEX, VACUUM FULL, CLUSTER, ALTER INDEX,
-- unlogged, temporary and partitioned tables, expression and partial
-- indexes.  After each: answers compared with a sequential scan, and
-- kyrodb.check(index, true).
--

CREATE EXTENSION IF NOT EXISTS kyrodb;

-- The quals tried on a table tbl (id int, k int) after each step.
CREATE FUNCTION pg_temp.quals_compare(tbl text)
RETURNS TABLE (n int, qual text, scan text, nrows bigint, missing bigint, extra bigint)
LANGUAGE sql AS $fn$
SELECT q.n, q.qual, c.*
FROM (VALUES
	(1, 'k = 250'),
	(2, 'k BETWEEN 100 AND 140'),
	(3, 'k > 1990'),
	(4, 'k IN (1, 3, 5, 7, 2000)'),
	(5, 'k IS NULL'),
	(6, 'k IS NOT NULL')
) q(n, qual),
	LATERAL kyro_test.compare(format('SELECT id, k FROM %s WHERE %s', tbl, q.qual)) c
ORDER BY q.n, c.scan DESC
$fn$;

-- Rows of kt: id, and k with duplicates and NULLs.
CREATE FUNCTION pg_temp.kt_rows(first int, last int)
RETURNS TABLE (id int, k int)
LANGUAGE sql AS $fn$
SELECT i, CASE WHEN i % 53 <> 0 THEN (i * 7919) % 2000 END
FROM generate_series(first, last) i
$fn$;

CREATE TABLE kt (id int, k int);
INSERT INTO kt SELECT * FROM pg_temp.kt_rows(1, 6000);

--
-- delta_limit is 0 (follow kyrodb.delta_limit) or 16 to 1073741824;
-- target_error is 1 to 65536.  Each accepted index answers right, built
-- and with rows in its delta.
--
CREATE INDEX kt_bad ON kt USING kyro_rmi (k) WITH (delta_limit = 15);
CREATE INDEX kt_bad ON kt USING kyro_rmi (k) WITH (delta_limit = 1);
CREATE INDEX kt_bad ON kt USING kyro_rmi (k) WITH (delta_limit = -1);
CREATE INDEX kt_bad ON kt USING kyro_rmi (k) WITH (delta_limit = 1073741825);
CREATE INDEX kt_bad ON kt USING kyro_rmi (k) WITH (delta_limit = 'many');
CREATE INDEX kt_bad ON kt USING kyro_rmi (k) WITH (target_error = 0);
CREATE INDEX kt_bad ON kt USING kyro_rmi (k) WITH (target_error = 65537);
CREATE INDEX kt_bad ON kt USING kyro_rmi (k) WITH (no_such_option = 1);
CREATE INDEX kt_bad ON kt USING kyro_rmi (k) WITH (fillfactor = 5);
CREATE INDEX kt_bad ON kt USING kyro_rmi (k) WITH (fillfactor = 101);
SELECT count(*) AS indexes FROM pg_index WHERE indrelid = 'kt'::regclass;

CREATE INDEX kt_k ON kt USING kyro_rmi (k) WITH (delta_limit = 0);
SELECT reloptions FROM pg_class WHERE relname = 'kt_k';
INSERT INTO kt SELECT * FROM pg_temp.kt_rows(6001, 6500);
SELECT * FROM pg_temp.quals_compare('kt') WHERE n IN (2, 4, 5);
SELECT kyrodb.check('kt_k', true);
DROP INDEX kt_k;

CREATE INDEX kt_k ON kt USING kyro_rmi (k) WITH (delta_limit = 16);
SELECT reloptions FROM pg_class WHERE relname = 'kt_k';
INSERT INTO kt SELECT * FROM pg_temp.kt_rows(6501, 7000);
SELECT * FROM pg_temp.quals_compare('kt') WHERE n IN (2, 4, 5);
SELECT kyrodb.check('kt_k', true);
DROP INDEX kt_k;

CREATE INDEX kt_k ON kt USING kyro_rmi (k) WITH (delta_limit = 1073741824);
SELECT reloptions FROM pg_class WHERE relname = 'kt_k';
INSERT INTO kt SELECT * FROM pg_temp.kt_rows(7001, 7500);
SELECT * FROM pg_temp.quals_compare('kt') WHERE n IN (2, 4, 5);
SELECT kyrodb.check('kt_k', true);
DROP INDEX kt_k;

CREATE INDEX kt_k ON kt USING kyro_rmi (k) WITH (target_error = 1);
SELECT reloptions FROM pg_class WHERE relname = 'kt_k';
INSERT INTO kt SELECT * FROM pg_temp.kt_rows(7501, 8000);
SELECT * FROM pg_temp.quals_compare('kt') WHERE n IN (2, 4, 5);
SELECT kyrodb.snapshot('kt_k') > 1 AS folded;
SELECT * FROM pg_temp.quals_compare('kt') WHERE n IN (2, 4, 5);
SELECT kyrodb.check('kt_k', true);
DROP INDEX kt_k;

CREATE INDEX kt_k ON kt USING kyro_rmi (k) WITH (target_error = 65536);
SELECT reloptions FROM pg_class WHERE relname = 'kt_k';
INSERT INTO kt SELECT * FROM pg_temp.kt_rows(8001, 8500);
SELECT * FROM pg_temp.quals_compare('kt') WHERE n IN (2, 4, 5);
SELECT kyrodb.snapshot('kt_k') > 1 AS folded;
SELECT * FROM pg_temp.quals_compare('kt') WHERE n IN (2, 4, 5);
SELECT kyrodb.check('kt_k', true);
DROP INDEX kt_k;

CREATE INDEX kt_k ON kt USING kyro_rmi (k) WITH (delta_limit = 100, target_error = 4);
SELECT reloptions FROM pg_class WHERE relname = 'kt_k';
INSERT INTO kt SELECT * FROM pg_temp.kt_rows(8501, 9000);
SELECT * FROM pg_temp.quals_compare('kt');
SELECT kyrodb.check('kt_k', true);

--
-- ALTER INDEX SET and RESET, with the same bounds.
--
ALTER INDEX kt_k SET (delta_limit = 15);
ALTER INDEX kt_k SET (delta_limit = 1073741825);
ALTER INDEX kt_k SET (target_error = 0);
ALTER INDEX kt_k SET (fillfactor = 101);
ALTER INDEX kt_k SET (no_such_option = 1);
SELECT reloptions FROM pg_class WHERE relname = 'kt_k';
ALTER INDEX kt_k SET (delta_limit = 16, target_error = 65536, delta_scale_factor = 0, fillfactor = 100);
SELECT reloptions FROM pg_class WHERE relname = 'kt_k';
-- the new limit holds for the next inserts, which kyrodb.page_inserts = off
-- sends to the delta: the index folds by itself
SET kyrodb.page_inserts = off;
SELECT kyrodb.snapshot('kt_k') AS epoch \gset before_
INSERT INTO kt SELECT * FROM pg_temp.kt_rows(9001, 9100);
SELECT kyrodb.snapshot('kt_k') - :before_epoch > 3 AS folded_by_itself;
SELECT * FROM pg_temp.quals_compare('kt');
SELECT kyrodb.check('kt_k', true);
ALTER INDEX kt_k RESET (delta_limit, target_error, delta_scale_factor, fillfactor);
RESET kyrodb.page_inserts;
SELECT reloptions FROM pg_class WHERE relname = 'kt_k';
SELECT kyrodb.snapshot('kt_k') AS epoch \gset before_
INSERT INTO kt SELECT * FROM pg_temp.kt_rows(9101, 9200);
SELECT kyrodb.snapshot('kt_k') - :before_epoch AS folds;
SELECT kyrodb.check('kt_k', true);
ALTER INDEX kt_k SET (delta_limit = 0);
ALTER INDEX kt_k SET (delta_limit = 1073741824);
SELECT reloptions FROM pg_class WHERE relname = 'kt_k';
ALTER INDEX kt_k RENAME TO kt_key;
SELECT * FROM pg_temp.quals_compare('kt') WHERE n IN (1, 5);
ALTER INDEX kt_key RENAME TO kt_k;

--
-- The setting kyrodb.delta_limit: 16 to 1073741824.
--
LOAD 'kyrodb';
SHOW kyrodb.delta_limit;
SET kyrodb.delta_limit = 16;
SHOW kyrodb.delta_limit;
SET kyrodb.delta_limit = 1073741824;
SHOW kyrodb.delta_limit;
SET kyrodb.delta_limit = 15;
SET kyrodb.delta_limit = 1073741825;
SET kyrodb.delta_limit = 0;
SHOW kyrodb.delta_limit;
RESET kyrodb.delta_limit;
SHOW kyrodb.delta_limit;

--
-- The delta limit grows with the snapshot: delta_scale_factor (option,
-- else setting; 0 to 1) of its entries, at least delta_limit, at most
-- kyrodb.max_delta_limit (16 to 1073741824) unless delta_limit is larger.
--
CREATE TABLE ks (k int8);
INSERT INTO ks SELECT g FROM generate_series(1, 10000) g;
CREATE INDEX ks_k ON ks USING kyro_rmi (k) WITH (delta_limit = 16);
SHOW kyrodb.delta_scale_factor;
SHOW kyrodb.max_delta_limit;
SELECT delta_limit FROM kyrodb.stats('ks_k');	-- 0.02 x 10000
SET kyrodb.delta_scale_factor = 0.5;
SELECT delta_limit FROM kyrodb.stats('ks_k');	-- 0.5 x 10000
SET kyrodb.max_delta_limit = 1000;
SELECT delta_limit FROM kyrodb.stats('ks_k');	-- the ceiling
ALTER INDEX ks_k SET (delta_limit = 3000);
SELECT delta_limit FROM kyrodb.stats('ks_k');	-- a floor above the ceiling
ALTER INDEX ks_k SET (delta_limit = 16, delta_scale_factor = 0.01);
SELECT delta_limit FROM kyrodb.stats('ks_k');	-- the option, not the setting
RESET kyrodb.max_delta_limit;
ALTER INDEX ks_k SET (delta_scale_factor = 0);
SELECT delta_limit FROM kyrodb.stats('ks_k');	-- the floor alone
ALTER INDEX ks_k SET (delta_scale_factor = 1);
SELECT delta_limit FROM kyrodb.stats('ks_k');
SELECT reloptions FROM pg_class WHERE relname = 'ks_k';
ALTER INDEX ks_k SET (delta_scale_factor = -0.1);
ALTER INDEX ks_k SET (delta_scale_factor = 1.1);
ALTER INDEX ks_k SET (delta_scale_factor = 'half');
CREATE INDEX ks_bad ON ks USING kyro_rmi (k) WITH (delta_scale_factor = 2);
SET kyrodb.delta_scale_factor = 0;
SET kyrodb.delta_scale_factor = 1;
SET kyrodb.delta_scale_factor = -0.5;
SET kyrodb.delta_scale_factor = 1.5;
SHOW kyrodb.delta_scale_factor;
SET kyrodb.max_delta_limit = 16;
SET kyrodb.max_delta_limit = 1073741824;
SET kyrodb.max_delta_limit = 15;
SET kyrodb.max_delta_limit = 1073741825;
SHOW kyrodb.max_delta_limit;
RESET kyrodb.delta_scale_factor;
RESET kyrodb.max_delta_limit;
DROP TABLE ks;

--
-- TRUNCATE: empty, then filled again; and a TRUNCATE rolled back.
--
TRUNCATE kt;
SELECT * FROM pg_temp.quals_compare('kt') WHERE n IN (2, 5, 6);
SELECT kyrodb.check('kt_k', true);
INSERT INTO kt SELECT * FROM pg_temp.kt_rows(1, 3000);
SELECT * FROM pg_temp.quals_compare('kt');
SELECT kyrodb.check('kt_k', true);
BEGIN;
TRUNCATE kt;
INSERT INTO kt SELECT * FROM pg_temp.kt_rows(1, 10);
SELECT count(*) FROM kt WHERE k IS NOT NULL;
ROLLBACK;
SELECT * FROM pg_temp.quals_compare('kt');
SELECT kyrodb.check('kt_k', true);
INSERT INTO kt SELECT * FROM pg_temp.kt_rows(3001, 4000);

--
-- REINDEX INDEX, REINDEX TABLE, and their concurrent forms; CREATE INDEX
-- CONCURRENTLY.
--
REINDEX INDEX kt_k;
SELECT * FROM pg_temp.quals_compare('kt');
SELECT kyrodb.check('kt_k', true);
INSERT INTO kt SELECT * FROM pg_temp.kt_rows(4001, 4500);
REINDEX TABLE kt;
SELECT * FROM pg_temp.quals_compare('kt');
SELECT kyrodb.check('kt_k', true);
INSERT INTO kt SELECT * FROM pg_temp.kt_rows(4501, 5000);
DELETE FROM kt WHERE id % 11 = 0;
REINDEX INDEX CONCURRENTLY kt_k;
SELECT * FROM pg_temp.quals_compare('kt');
SELECT kyrodb.check('kt_k', true);
REINDEX TABLE CONCURRENTLY kt;
SELECT kyrodb.check('kt_k', true);
DROP INDEX CONCURRENTLY kt_k;
CREATE INDEX CONCURRENTLY kt_k ON kt USING kyro_rmi (k);
SELECT indisvalid FROM pg_index WHERE indexrelid = 'kt_k'::regclass;
SELECT * FROM pg_temp.quals_compare('kt');
SELECT kyrodb.check('kt_k', true);

--
-- VACUUM FULL rewrites the table and rebuilds the index.
--
INSERT INTO kt SELECT * FROM pg_temp.kt_rows(5001, 6000);
DELETE FROM kt WHERE id % 7 = 0;
VACUUM FULL kt;
SELECT * FROM pg_temp.quals_compare('kt');
SELECT kyrodb.check('kt_k', true);

--
-- CLUSTER through the index (an ordered index scan, not a sort): the
-- heap comes out in key order, NULLs last.
--
INSERT INTO kt SELECT * FROM pg_temp.kt_rows(6001, 7000);
SET enable_sort = off;
CLUSTER kt USING kt_k;
RESET enable_sort;
SELECT count(*) AS rows,
	count(*) FILTER (WHERE k < prev_k OR (k IS NOT NULL AND prev_k IS NULL AND rn > 1))
		AS out_of_order
FROM (SELECT k, lag(k) OVER (ORDER BY ctid) AS prev_k, row_number() OVER (ORDER BY ctid) AS rn
	FROM kt) s;
SELECT indisclustered FROM pg_index WHERE indexrelid = 'kt_k'::regclass;
SELECT * FROM pg_temp.quals_compare('kt');
SELECT kyrodb.check('kt_k', true);
INSERT INTO kt SELECT * FROM pg_temp.kt_rows(7001, 7500);
CLUSTER kt;
SELECT * FROM pg_temp.quals_compare('kt');
SELECT kyrodb.check('kt_k', true);

--
-- A change of the column's type rebuilds the index.
--
ALTER TABLE kt ALTER COLUMN k TYPE int8;
SELECT opcname FROM pg_opclass WHERE oid = (SELECT indclass[0] FROM pg_index
	WHERE indexrelid = 'kt_k'::regclass);
SELECT * FROM pg_temp.quals_compare('kt');
SELECT kyrodb.check('kt_k', true);

--
-- An unlogged table: its index has an init fork; TRUNCATE resets it.
--
CREATE UNLOGGED TABLE ku (id int, k int);
INSERT INTO ku SELECT * FROM pg_temp.kt_rows(1, 3000);
CREATE INDEX ku_k ON ku USING kyro_rmi (k);
SELECT relpersistence FROM pg_class WHERE relname = 'ku_k';
INSERT INTO ku SELECT * FROM pg_temp.kt_rows(3001, 4000);
SELECT * FROM pg_temp.quals_compare('ku');
SELECT kyrodb.check('ku_k', true);
SELECT kyrodb.snapshot('ku_k') > 1 AS folded;
SELECT * FROM pg_temp.quals_compare('ku') WHERE n IN (2, 5);
TRUNCATE ku;
INSERT INTO ku SELECT * FROM pg_temp.kt_rows(1, 500);
SELECT * FROM pg_temp.quals_compare('ku');
SELECT kyrodb.check('ku_k', true);
REINDEX INDEX ku_k;
SELECT kyrodb.check('ku_k', true);
-- an unlogged index built on an empty table, then filled
CREATE UNLOGGED TABLE ku_empty (id int, k int);
CREATE INDEX ku_empty_k ON ku_empty USING kyro_rmi (k);
INSERT INTO ku_empty SELECT * FROM pg_temp.kt_rows(1, 2000);
SELECT * FROM pg_temp.quals_compare('ku_empty') WHERE n IN (2, 5);
SELECT kyrodb.check('ku_empty_k', true);

--
-- A temporary table.
--
CREATE TEMP TABLE ktmp (id int, k int);
INSERT INTO ktmp SELECT * FROM pg_temp.kt_rows(1, 3000);
CREATE INDEX ktmp_k ON ktmp USING kyro_rmi (k);
SELECT relpersistence FROM pg_class WHERE relname = 'ktmp_k';
INSERT INTO ktmp SELECT * FROM pg_temp.kt_rows(3001, 4000);
SELECT * FROM pg_temp.quals_compare('ktmp');
SELECT kyrodb.check('ktmp_k', true);
SELECT kyrodb.snapshot('ktmp_k') > 1 AS folded;
DELETE FROM ktmp WHERE id % 2 = 0;
VACUUM ktmp;
SELECT * FROM pg_temp.quals_compare('ktmp');
SELECT kyrodb.check('ktmp_k', true);
TRUNCATE ktmp;
INSERT INTO ktmp SELECT * FROM pg_temp.kt_rows(1, 500);
SELECT * FROM pg_temp.quals_compare('ktmp') WHERE n IN (2, 5);
SELECT kyrodb.check('ktmp_k', true);
REINDEX TABLE ktmp;
SELECT kyrodb.check('ktmp_k', true);

--
-- A partitioned table: the index on the parent makes one per partition,
-- and a partition attached later gets one too.
--
CREATE TABLE kp (id int, k int) PARTITION BY RANGE (id);
CREATE TABLE kp_1 PARTITION OF kp FOR VALUES FROM (1) TO (2001);
CREATE TABLE kp_2 PARTITION OF kp FOR VALUES FROM (2001) TO (4001);
INSERT INTO kp SELECT * FROM pg_temp.kt_rows(1, 3000);
CREATE INDEX kp_k ON kp USING kyro_rmi (k);
CREATE TABLE kp_3 (id int, k int);
INSERT INTO kp_3 SELECT * FROM pg_temp.kt_rows(4001, 5000);
ALTER TABLE kp ATTACH PARTITION kp_3 FOR VALUES FROM (4001) TO (6001);
INSERT INTO kp SELECT * FROM pg_temp.kt_rows(3001, 4000);
INSERT INTO kp SELECT * FROM pg_temp.kt_rows(5001, 6000);
SELECT c.relname, a.amname
FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_am a ON a.oid = c.relam
WHERE i.inhparent = 'kp_k'::regclass
ORDER BY c.relname;
SELECT c.relname, kyrodb.check(c.oid, true)
FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
WHERE i.inhparent = 'kp_k'::regclass
ORDER BY c.relname;
SET enable_seqscan = off;
SET enable_bitmapscan = off;
EXPLAIN (COSTS OFF) SELECT id, k FROM kp WHERE k = 250 AND id > 4000;
RESET enable_seqscan;
RESET enable_bitmapscan;
SELECT * FROM pg_temp.quals_compare('kp');

--
-- Expression and partial indexes.
--
CREATE INDEX kt_expr ON kt USING kyro_rmi ((k * 2 - id));
CREATE INDEX kt_part ON kt USING kyro_rmi (k) WHERE id > 3000;
INSERT INTO kt SELECT * FROM pg_temp.kt_rows(7501, 8500);
SET enable_seqscan = off;
SET enable_bitmapscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM kt WHERE k * 2 - id BETWEEN 0 AND 100;
EXPLAIN (COSTS OFF) SELECT id FROM kt WHERE k = 250 AND id > 3000;
RESET enable_seqscan;
RESET enable_bitmapscan;
DROP INDEX kt_k;
SELECT q.n, q.query, c.*
FROM (VALUES
	(1, 'SELECT id FROM kt WHERE k * 2 - id BETWEEN 0 AND 100'),
	(2, 'SELECT id FROM kt WHERE k * 2 - id < -8000'),
	(3, 'SELECT id FROM kt WHERE k * 2 - id IS NULL'),
	(4, 'SELECT id FROM kt WHERE k = 250 AND id > 3000'),
	(5, 'SELECT id FROM kt WHERE k < 50 AND id > 3000'),
	(6, 'SELECT id FROM kt WHERE k IS NULL AND id > 3000')
) q(n, query),
	LATERAL kyro_test.compare(q.query) c
ORDER BY q.n, c.scan DESC;
SELECT kyrodb.check('kt_expr', true) AS expr_ok, kyrodb.check('kt_part', true) AS part_ok;

DROP TABLE kt, ku, ku_empty, ktmp, kp;
DROP EXTENSION kyrodb;
