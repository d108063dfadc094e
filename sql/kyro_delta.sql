--
-- The delta: inserts after CREATE INDEX go to the delta (the developer
-- option kyrodb.page_inserts = off sends them there; pages take them
-- otherwise) and are found before and after kyrodb.snapshot() folds
-- them; deletes, VACUUM and updates in between; an index with a small
-- delta_limit folds by itself while rows are inserted.
-- kyrodb.check(index, true) after every phase.
--

CREATE EXTENSION IF NOT EXISTS kyrodb;
SET kyrodb.page_inserts = off;

-- The quals every phase tries on kd.
CREATE FUNCTION pg_temp.kd_compare()
RETURNS TABLE (n int, query text, scan text, nrows bigint, missing bigint, extra bigint)
LANGUAGE sql AS $fn$
SELECT q.n, q.query, c.*
FROM (VALUES
	(1, 'SELECT id, k FROM kd WHERE k = 1234'),
	(2, 'SELECT id, k FROM kd WHERE k BETWEEN 1000 AND 1100'),
	(3, 'SELECT id, k FROM kd WHERE k < 0'),
	(4, 'SELECT id, k FROM kd WHERE k >= 3990'),
	(5, 'SELECT id, k FROM kd WHERE k IN (-5, 0, 7, 3999, 4005, 9999)'),
	(6, 'SELECT id, k FROM kd WHERE k IS NULL'),
	(7, 'SELECT id, k FROM kd WHERE k IS NOT NULL'),
	(8, 'SELECT k FROM kd WHERE k > 2000 AND k <= 2100'),
	(9, 'SELECT row_number() OVER () AS pos, k FROM (SELECT k FROM kd ORDER BY k DESC LIMIT 300) s'),
	(10, 'SELECT row_number() OVER () AS pos, k FROM (SELECT k FROM kd ORDER BY k) s')
) q(n, query),
	LATERAL kyro_test.compare(q.query, CASE WHEN q.n < 9 THEN '{index,bitmap}' ELSE '{index}' END::text[]) c
ORDER BY q.n, c.scan DESC
$fn$;

-- Every key twice in the snapshot.
CREATE TABLE kd (id int, k int8);
INSERT INTO kd SELECT i, (i * 7919) % 4000 FROM generate_series(1, 8000) i;
CREATE INDEX kd_k ON kd USING kyro_rmi (k) WITH (fillfactor = 100);
SELECT kyrodb.check('kd_k', true);

--
-- Inserts after the build: keys the snapshot has, keys below and above
-- its range, and NULLs, which sort after every key in the delta too.
--
INSERT INTO kd SELECT i, (i * 7919) % 4000 FROM generate_series(8001, 9000) i;
INSERT INTO kd SELECT i, -i + 9000 FROM generate_series(9001, 9500) i;
INSERT INTO kd SELECT i, i - 5500 FROM generate_series(9501, 10000) i;
INSERT INTO kd SELECT i, NULL FROM generate_series(10001, 10050) i;
SELECT kyrodb.check('kd_k', true);
SELECT * FROM pg_temp.kd_compare();

--
-- A fold puts the delta in a new snapshot: the epoch grows, the answers
-- stay.  A second fold with an empty delta also takes a new epoch.
--
SELECT kyrodb.snapshot('kd_k') AS epoch \gset first_
SELECT :first_epoch > 1 AS epoch_grew;
SELECT kyrodb.check('kd_k', true);
SELECT * FROM pg_temp.kd_compare();
SELECT kyrodb.snapshot('kd_k') > :first_epoch AS epoch_grew;
SELECT kyrodb.check('kd_k', true);

--
-- Deletes from the snapshot and the delta, then inserts, then VACUUM,
-- which flags dead entries (and folds once enough are dead).
--
INSERT INTO kd SELECT i, (i * 31) % 5000 - 500 FROM generate_series(10051, 11000) i;
INSERT INTO kd SELECT i, NULL FROM generate_series(11001, 11020) i;
DELETE FROM kd WHERE id % 17 = 0;
SELECT kyrodb.check('kd_k', true);
SELECT * FROM pg_temp.kd_compare();
VACUUM kd;
SELECT kyrodb.check('kd_k', true);
SELECT * FROM pg_temp.kd_compare();
INSERT INTO kd SELECT i, (i * 13) % 6000 - 1000 FROM generate_series(11021, 12000) i;
DELETE FROM kd WHERE id % 3 = 0;
VACUUM kd;
SELECT kyrodb.check('kd_k', true);
SELECT * FROM pg_temp.kd_compare();
SELECT kyrodb.snapshot('kd_k') AS epoch \gset second_
SELECT :second_epoch > :first_epoch AS epoch_grew;
SELECT kyrodb.check('kd_k', true);
SELECT * FROM pg_temp.kd_compare();

--
-- Updates: of the key (a new index entry, the old one dead), and of
-- another column only (HOT, no new entry); then VACUUM.
--
ALTER TABLE kd ADD COLUMN note text;
UPDATE kd SET k = k + 1 WHERE id % 5 = 0;
UPDATE kd SET k = NULL WHERE id % 7 = 1;
UPDATE kd SET k = id WHERE k IS NULL AND id % 2 = 0;
UPDATE kd SET note = 'hot' WHERE id % 5 = 1;
SELECT kyrodb.check('kd_k', true);
SELECT * FROM pg_temp.kd_compare();
VACUUM kd;
SELECT kyrodb.check('kd_k', true);
SELECT * FROM pg_temp.kd_compare();

--
-- A cursor reading the index while the same transaction folds the delta
-- and inserts more rows: it returns what its snapshot saw, in order.
--
CREATE FUNCTION pg_temp.fold_under_cursor()
RETURNS TABLE (fetched int, expected int, same_order boolean)
LANGUAGE plpgsql AS $fn$
DECLARE
	c refcursor;
	want int8[];
	got int8[] := '{}';
	v int8;
BEGIN
	SELECT array_agg(k ORDER BY k) INTO want FROM kd WHERE k BETWEEN 500 AND 3000;
	PERFORM set_config('enable_seqscan', 'off', true);
	PERFORM set_config('enable_bitmapscan', 'off', true);
	OPEN c FOR SELECT k FROM kd WHERE k BETWEEN 500 AND 3000 ORDER BY k;
	FOR i IN 1..400 LOOP
		FETCH c INTO v;
		got := got || v;
	END LOOP;
	PERFORM kyrodb.snapshot('kd_k');
	INSERT INTO kd SELECT i, (i * 7) % 3000 FROM generate_series(20001, 21000) i;
	FOR i IN 1..400 LOOP
		FETCH c INTO v;
		got := got || v;
	END LOOP;
	PERFORM kyrodb.snapshot('kd_k');
	DELETE FROM kd WHERE id BETWEEN 20001 AND 20500;
	LOOP
		FETCH c INTO v;
		EXIT WHEN NOT FOUND;
		got := got || v;
	END LOOP;
	CLOSE c;
	PERFORM set_config('enable_seqscan', 'on', true);
	PERFORM set_config('enable_bitmapscan', 'on', true);
	fetched := cardinality(got);
	expected := cardinality(want);
	same_order := got = want;
	RETURN NEXT;
END
$fn$;
SET enable_seqscan = off;
SET enable_bitmapscan = off;
EXPLAIN (COSTS OFF) SELECT k FROM kd WHERE k BETWEEN 500 AND 3000 ORDER BY k;
RESET enable_seqscan;
RESET enable_bitmapscan;
SELECT * FROM pg_temp.fold_under_cursor();
SELECT kyrodb.check('kd_k', true);
SELECT * FROM pg_temp.kd_compare();

--
-- Folds in transactions that roll back, whole or to a savepoint: the
-- new snapshot stays, the rows it holds are dead, VACUUM clears them.
--
BEGIN;
INSERT INTO kd SELECT i, i % 4000 FROM generate_series(50001, 51000) i;
SELECT kyrodb.snapshot('kd_k') > 1 AS folded;
ROLLBACK;
SELECT kyrodb.check('kd_k', true);
SELECT * FROM pg_temp.kd_compare();
BEGIN;
INSERT INTO kd SELECT i, i % 4000 FROM generate_series(51001, 51500) i;
SAVEPOINT s;
INSERT INTO kd SELECT i, i % 4000 FROM generate_series(51501, 52000) i;
SELECT kyrodb.snapshot('kd_k') > 1 AS folded;
ROLLBACK TO s;
COMMIT;
SELECT kyrodb.check('kd_k', true);
SELECT * FROM pg_temp.kd_compare();
VACUUM kd;
SELECT kyrodb.check('kd_k', true);
SELECT * FROM pg_temp.kd_compare();

--
-- delta_limit = 16: the inserting backend folds every 16 entries.  Rows
-- inserted one at a time, each followed by an index lookup in the same
-- transaction; then in bulk.
--
CREATE TABLE kdl (id int, k int4);
INSERT INTO kdl SELECT i, i * 3 FROM generate_series(1, 100) i;
CREATE INDEX kdl_k ON kdl USING kyro_rmi (k) WITH (delta_limit = 16, delta_scale_factor = 0, fillfactor = 100);
SELECT kyrodb.snapshot('kdl_k') AS epoch \gset kdl_first_

-- Rows inserted one at a time into tbl, each looked up through the index
-- in the same transaction right after its insert.
CREATE FUNCTION pg_temp.insert_one_by_one(tbl regclass, first int, last int)
RETURNS TABLE (inserted int, lookups_wrong int)
LANGUAGE plpgsql AS $fn$
DECLARE
	key int;
	found_rows int;
BEGIN
	inserted := 0;
	lookups_wrong := 0;
	PERFORM set_config('enable_seqscan', 'off', true);
	PERFORM set_config('enable_bitmapscan', 'off', true);
	FOR i IN first..last LOOP
		key := (i * 7919) % 2000;
		EXECUTE format('INSERT INTO %s (id, k) VALUES ($1, $2)', tbl)
			USING i, CASE WHEN i % 41 <> 0 THEN key END;
		inserted := inserted + 1;
		IF i % 41 <> 0 THEN
			EXECUTE format('SELECT count(*) FROM %s WHERE k = $1 AND id = $2', tbl)
				INTO found_rows USING key, i;
			IF found_rows <> 1 THEN
				lookups_wrong := lookups_wrong + 1;
			END IF;
		END IF;
	END LOOP;
	PERFORM set_config('enable_seqscan', 'on', true);
	PERFORM set_config('enable_bitmapscan', 'on', true);
	RETURN NEXT;
END
$fn$;
SET enable_seqscan = off;
SET enable_bitmapscan = off;
EXPLAIN (COSTS OFF) SELECT count(*) FROM kdl WHERE k = 5 AND id = 5;
RESET enable_seqscan;
RESET enable_bitmapscan;
SELECT * FROM pg_temp.insert_one_by_one('kdl', 101, 3100);
-- 3000 single inserts past a limit of 16: well over a hundred folds
SELECT kyrodb.snapshot('kdl_k') - :kdl_first_epoch > 100 AS folded_by_itself;
SELECT kyrodb.check('kdl_k', true);
SELECT q.n, q.query, c.*
FROM (VALUES
	(1, 'SELECT id, k FROM kdl WHERE k = 77'),
	(2, 'SELECT id, k FROM kdl WHERE k BETWEEN 100 AND 200'),
	(3, 'SELECT id, k FROM kdl WHERE k IS NULL'),
	(4, 'SELECT id, k FROM kdl WHERE k >= 0')
) q(n, query),
	LATERAL kyro_test.compare(q.query) c
ORDER BY q.n, c.scan DESC;

SELECT kyrodb.snapshot('kdl_k') AS epoch \gset kdl_second_
INSERT INTO kdl SELECT i, CASE WHEN i % 41 <> 0 THEN (i * 7919) % 2000 END
FROM generate_series(3101, 8100) i;
SELECT kyrodb.snapshot('kdl_k') - :kdl_second_epoch > 100 AS folded_by_itself;
SELECT kyrodb.check('kdl_k', true);
SELECT q.n, q.query, c.*
FROM (VALUES
	(1, 'SELECT id, k FROM kdl WHERE k = 77'),
	(2, 'SELECT id, k FROM kdl WHERE k BETWEEN 100 AND 200'),
	(3, 'SELECT id, k FROM kdl WHERE k IS NULL'),
	(4, 'SELECT id, k FROM kdl WHERE k >= 0'),
	(5, 'SELECT row_number() OVER () AS pos, k FROM (SELECT k FROM kdl ORDER BY k DESC LIMIT 500) s')
) q(n, query),
	LATERAL kyro_test.compare(q.query, '{index}') c
ORDER BY q.n, c.scan DESC;

-- Statements that scan the index while they write to it, folding as they
-- go: the scan returns what its snapshot saw, no more, no less.
SET enable_seqscan = off;
SET enable_bitmapscan = off;
EXPLAIN (COSTS OFF)
INSERT INTO kdl SELECT id + 100000, k FROM kdl WHERE k < 300;
SELECT count(*) AS before FROM kdl WHERE k < 300 \gset
INSERT INTO kdl SELECT id + 100000, k FROM kdl WHERE k < 300;
SELECT count(*) = 2 * :before AS doubled FROM kdl WHERE k < 300;
EXPLAIN (COSTS OFF)
UPDATE kdl SET k = k + 2000 WHERE k BETWEEN 1000 AND 1500;
SELECT count(*) AS before FROM kdl WHERE k BETWEEN 1000 AND 1500 \gset
UPDATE kdl SET k = k + 2000 WHERE k BETWEEN 1000 AND 1500;
SELECT count(*) = :before AS moved FROM kdl WHERE k BETWEEN 3000 AND 3500;
SELECT count(*) AS left_behind FROM kdl WHERE k BETWEEN 1000 AND 1500;
RESET enable_seqscan;
RESET enable_bitmapscan;
SELECT kyrodb.check('kdl_k', true);
SELECT q.n, q.query, c.*
FROM (VALUES
	(1, 'SELECT id, k FROM kdl WHERE k < 300'),
	(2, 'SELECT id, k FROM kdl WHERE k BETWEEN 900 AND 3600'),
	(3, 'SELECT id, k FROM kdl WHERE k IS NULL')
) q(n, query),
	LATERAL kyro_test.compare(q.query) c
ORDER BY q.n, c.scan DESC;

-- Deletes and VACUUM on the small-limit index, then more inserts.
DELETE FROM kdl WHERE id % 4 = 0;
VACUUM kdl;
SELECT * FROM pg_temp.insert_one_by_one('kdl', 8101, 8600);
SELECT kyrodb.check('kdl_k', true);
SELECT q.n, q.query, c.*
FROM (VALUES
	(1, 'SELECT id, k FROM kdl WHERE k = 77'),
	(2, 'SELECT id, k FROM kdl WHERE k BETWEEN 100 AND 200'),
	(3, 'SELECT id, k FROM kdl WHERE k IS NULL'),
	(4, 'SELECT id, k FROM kdl WHERE k >= 0')
) q(n, query),
	LATERAL kyro_test.compare(q.query) c
ORDER BY q.n, c.scan DESC;

--
-- One by one into kd, whose limit is not reached: the delta grows page
-- after page, and each lookup reads only what was appended since.
--
SELECT * FROM pg_temp.insert_one_by_one('kd', 40001, 41500);
SELECT kyrodb.check('kd_k', true);
SELECT * FROM pg_temp.kd_compare();

--
-- The setting kyrodb.delta_limit applies to indexes without the option.
--
SET kyrodb.delta_limit = 16;
SET kyrodb.delta_scale_factor = 0;
SELECT kyrodb.snapshot('kd_k') AS epoch \gset third_
DO $$
BEGIN
	FOR i IN 30001..30200 LOOP
		INSERT INTO kd VALUES (i, i % 4000);
	END LOOP;
END
$$;
SELECT kyrodb.snapshot('kd_k') - :third_epoch > 10 AS folded_by_itself;
RESET kyrodb.delta_limit;
RESET kyrodb.delta_scale_factor;
SELECT kyrodb.check('kd_k', true);
SELECT * FROM pg_temp.kd_compare();

--
-- NULLs only: an index built over NULLs, then NULLs and keys in the delta.
--
CREATE TABLE kdn (id int, k date);
INSERT INTO kdn SELECT i, NULL FROM generate_series(1, 300) i;
CREATE INDEX kdn_k ON kdn USING kyro_rmi (k) WITH (fillfactor = 100);
INSERT INTO kdn SELECT i, NULL FROM generate_series(301, 400) i;
INSERT INTO kdn SELECT i, date '2024-01-01' + i FROM generate_series(401, 500) i;
SELECT kyrodb.check('kdn_k', true);
SELECT q.n, q.query, c.*
FROM (VALUES
	(1, 'SELECT id FROM kdn WHERE k IS NULL'),
	(2, 'SELECT id FROM kdn WHERE k IS NOT NULL'),
	(3, 'SELECT id FROM kdn WHERE k > ''2024-03-01'''),
	(4, 'SELECT row_number() OVER () AS pos, k FROM (SELECT k FROM kdn ORDER BY k DESC LIMIT 450) s')
) q(n, query),
	LATERAL kyro_test.compare(q.query, '{index}') c
ORDER BY q.n, c.scan DESC;
SELECT kyrodb.snapshot('kdn_k') > 1 AS epoch_grew;
SELECT kyrodb.check('kdn_k', true);
SELECT q.n, q.query, c.*
FROM (VALUES
	(1, 'SELECT id FROM kdn WHERE k IS NULL'),
	(2, 'SELECT id FROM kdn WHERE k IS NOT NULL'),
	(3, 'SELECT id FROM kdn WHERE k > ''2024-03-01'''),
	(4, 'SELECT row_number() OVER () AS pos, k FROM (SELECT k FROM kdn ORDER BY k DESC LIMIT 450) s')
) q(n, query),
	LATERAL kyro_test.compare(q.query, '{index}') c
ORDER BY q.n, c.scan DESC;

DROP TABLE kd, kdl, kdn;
DROP EXTENSION kyrodb;
