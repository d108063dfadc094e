-- Snapshot layout: keys as 32-bit offsets from each page's first key when
-- every page allows it, 8-byte keys otherwise; answers are the same.
CREATE EXTENSION IF NOT EXISTS kyrodb;

CREATE TABLE kl (k int8);
INSERT INTO kl SELECT g FROM generate_series(1, 20000) g;
INSERT INTO kl SELECT NULL FROM generate_series(1, 300);
CREATE INDEX kl_k ON kl USING kyro_rmi (k);
CREATE INDEX kl_bt ON kl USING btree (k);
SELECT kyrodb.check('kl_k', true);
-- dense keys pack 803 to a page: well under btree's size
SELECT pg_relation_size('kl_k') < 0.6 * pg_relation_size('kl_bt') AS smaller_than_btree;
DROP INDEX kl_bt;

-- a key 2^40 away: the next fold must switch the snapshot to 8-byte keys
INSERT INTO kl VALUES ((1::int8 << 40) + 7), ((1::int8 << 40) + 9);
SELECT kyrodb.snapshot('kl_k') > 1 AS folded;
SELECT kyrodb.check('kl_k', true);

SET enable_seqscan = off;
SET enable_bitmapscan = off;
SELECT count(*), min(k), max(k) FROM kl WHERE k > 19990;
SELECT k FROM kl ORDER BY k DESC NULLS LAST LIMIT 3;
SELECT k FROM kl WHERE k IN (1, 20000, (1::int8 << 40) + 9, 5) ORDER BY k;
SELECT count(*) FROM kl WHERE k IS NULL;
RESET enable_seqscan;
RESET enable_bitmapscan;

-- without the far keys, the next fold packs offsets again
DELETE FROM kl WHERE k > 20000;
VACUUM kl;
SELECT kyrodb.snapshot('kl_k') > 1 AS folded;
SELECT kyrodb.check('kl_k', true);
SET enable_seqscan = off;
SET enable_bitmapscan = off;
SELECT count(*), min(k), max(k) FROM kl WHERE k > 19990;
RESET enable_seqscan;
RESET enable_bitmapscan;

-- a sparse table: 8-byte keys from the first page on
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
RESET enable_seqscan;
RESET enable_bitmapscan;

DROP TABLE kl, ks;
DROP EXTENSION kyrodb;
