-- Snapshot layout: every page packs its entries at widths chosen for that
-- page alone, NULL entries on pages of their own at the end; answers are
-- the same whatever the widths.
CREATE EXTENSION IF NOT EXISTS kyrodb;

-- ids in insertion order: keys and blocks on a line, a byte or two an entry
CREATE TABLE kl (k int8);
INSERT INTO kl SELECT g FROM generate_series(1, 20000) g;
INSERT INTO kl SELECT NULL FROM generate_series(1, 300);
CREATE INDEX kl_k ON kl USING kyro_rmi (k);
CREATE INDEX kl_bt ON kl USING btree (k);
SELECT kyrodb.check('kl_k', true);
SELECT pg_relation_size('kl_k') <= 0.15 * pg_relation_size('kl_bt') AS under_a_seventh_of_btree;
SELECT snapshot_items, snapshot_pages <= 6 AS few_pages FROM kyrodb.stats('kl_k');
DROP INDEX kl_bt;

-- keys 2^40 and 2^62 away: the pages that take them pack wider, and only those
INSERT INTO kl VALUES ((1::int8 << 40) + 7), ((1::int8 << 40) + 9), (1::int8 << 62);
SELECT kyrodb.snapshot('kl_k') > 1 AS folded;
SELECT kyrodb.check('kl_k', true);
SELECT snapshot_pages <= 7 AS still_few_pages FROM kyrodb.stats('kl_k');

SET enable_seqscan = off;
SET enable_bitmapscan = off;
SELECT count(*), min(k), max(k) FROM kl WHERE k > 19990;
SELECT k FROM kl ORDER BY k DESC NULLS LAST LIMIT 4;
SELECT k FROM kl WHERE k IN (1, 20000, (1::int8 << 40) + 9, 5, 7) ORDER BY k;
SELECT count(*) FROM kl WHERE k IS NULL;
SELECT count(*) FROM kl WHERE k BETWEEN 4000 AND 16000;
RESET enable_seqscan;
RESET enable_bitmapscan;

-- the far keys gone, the next fold packs narrow again
DELETE FROM kl WHERE k > 20000;
VACUUM kl;
SELECT kyrodb.snapshot('kl_k') > 1 AS folded;
SELECT kyrodb.check('kl_k', true);
SET enable_seqscan = off;
SET enable_bitmapscan = off;
SELECT count(*), min(k), max(k) FROM kl WHERE k > 19990;
RESET enable_seqscan;
RESET enable_bitmapscan;

-- random keys in random heap order: every column wide, still exact
CREATE TABLE ks (k int8);
INSERT INTO ks SELECT (hashint4(g)::int8 << 31) + g FROM generate_series(1, 5000) g;
CREATE INDEX ks_k ON ks USING kyro_rmi (k);
SELECT kyrodb.check('ks_k', true);
CREATE TEMP TABLE ks_expected AS SELECT k FROM ks WHERE k > 0 ORDER BY k LIMIT 100;
SET enable_seqscan = off;
SET enable_bitmapscan = off;
SELECT count(*) AS mismatches FROM (
	(SELECT k FROM ks WHERE k > 0 ORDER BY k LIMIT 100)
	EXCEPT ALL SELECT k FROM ks_expected) d;
SELECT count(*) FROM ks WHERE k = ANY (ARRAY(SELECT k FROM ks_expected));
RESET enable_seqscan;
RESET enable_bitmapscan;

-- one key on many pages: a search by (key, TID) lands in the middle of
-- the run, in both directions
CREATE TABLE kd (k int8, v int);
INSERT INTO kd SELECT 42, g FROM generate_series(1, 30000) g;
INSERT INTO kd SELECT 41, g FROM generate_series(1, 10) g;
INSERT INTO kd SELECT 43, g FROM generate_series(1, 10) g;
CREATE INDEX kd_k ON kd USING kyro_rmi (k);
SELECT kyrodb.check('kd_k', true);
SELECT snapshot_pages > 1 AS spans_pages FROM kyrodb.stats('kd_k');
SET enable_seqscan = off;
SET enable_bitmapscan = off;
SELECT count(*), sum(v) FROM kd WHERE k = 42;
SELECT count(*) FROM kd WHERE k >= 42;
SELECT count(*) FROM kd WHERE k <= 42;
BEGIN;
DECLARE c SCROLL CURSOR FOR SELECT k FROM kd WHERE k BETWEEN 41 AND 43 ORDER BY k;
MOVE FORWARD 15000 IN c;
FETCH 2 FROM c;
MOVE FORWARD 15007 IN c;
FETCH 3 FROM c;
FETCH BACKWARD 2 FROM c;
MOVE BACKWARD 29998 IN c;
FETCH BACKWARD 3 FROM c;
COMMIT;
RESET enable_seqscan;
RESET enable_bitmapscan;

-- NULLs only: no page with keys, every search of a key finds nothing
CREATE TABLE kn (k int8);
INSERT INTO kn SELECT NULL FROM generate_series(1, 5000);
CREATE INDEX kn_k ON kn USING kyro_rmi (k);
SELECT kyrodb.check('kn_k', true);
SET enable_seqscan = off;
SET enable_bitmapscan = off;
SELECT count(*) FROM kn WHERE k IS NULL;
SELECT count(*) FROM kn WHERE k >= -1000;
SELECT count(*) FROM kn WHERE k = 1;
RESET enable_seqscan;
RESET enable_bitmapscan;

DROP TABLE kl, ks, kd, kn;
DROP EXTENSION kyrodb;
