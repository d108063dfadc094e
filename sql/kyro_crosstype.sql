--
-- Cross-type quals of the integer_ops family: an int2, int4 or int8 column
-- compared with constants of the other two types, including constants
-- outside the column's range.  Each plan uses the index and returns what
-- a sequential scan returns.
--

CREATE EXTENSION IF NOT EXISTS kyrodb;

-- Keys around the ends of int2 and int4, in the snapshot and the delta.
CREATE TABLE kc_int2 (id int, k int2);
INSERT INTO kc_int2 SELECT i, (i * 97) % 65536 - 32768 FROM generate_series(1, 1500) i;
INSERT INTO kc_int2 VALUES (1501, -32768), (1502, 32767), (1503, 0), (1504, 5),
	(1505, 7), (1506, NULL);
CREATE INDEX kc_int2_k ON kc_int2 USING kyro_rmi (k);
INSERT INTO kc_int2 SELECT i, (i * 97) % 65536 - 32768 FROM generate_series(1507, 2500) i;
INSERT INTO kc_int2 VALUES (2501, -32768), (2502, 32767), (2503, 5), (2504, -32767),
	(2505, 32766), (2506, NULL);

CREATE TABLE kc_int4 (id int, k int4);
INSERT INTO kc_int4 SELECT i, (i::int8 * 2862933) % 4294967296 - 2147483648
FROM generate_series(1, 1500) i;
INSERT INTO kc_int4 VALUES (1501, -2147483648), (1502, 2147483647), (1503, -32769),
	(1504, -32768), (1505, 32767), (1506, 32768), (1507, 5), (1508, 7), (1509, NULL);
CREATE INDEX kc_int4_k ON kc_int4 USING kyro_rmi (k);
INSERT INTO kc_int4 SELECT i, (i::int8 * 2862933) % 4294967296 - 2147483648
FROM generate_series(1510, 2500) i;
INSERT INTO kc_int4 VALUES (2501, -2147483648), (2502, 2147483647), (2503, 7),
	(2504, -32768), (2505, 32767), (2506, NULL);

CREATE TABLE kc_int8 (id int, k int8);
INSERT INTO kc_int8 SELECT i, (i::numeric * 12297829382473034) % 18446744073709551616
	- 9223372036854775808 FROM generate_series(1, 1500) i;
INSERT INTO kc_int8 VALUES (1501, -9223372036854775808), (1502, 9223372036854775807),
	(1503, -2147483649), (1504, -2147483648), (1505, 2147483647), (1506, 2147483648),
	(1507, -32769), (1508, -32768), (1509, 32767), (1510, 32768), (1511, 5), (1512, NULL);
CREATE INDEX kc_int8_k ON kc_int8 USING kyro_rmi (k);
INSERT INTO kc_int8 SELECT i, (i::numeric * 12297829382473034) % 18446744073709551616
	- 9223372036854775808 FROM generate_series(1513, 2500) i;
INSERT INTO kc_int8 VALUES (2501, -2147483648), (2502, 2147483647), (2503, -32768),
	(2504, 32767), (2505, 5), (2506, 100), (2507, NULL);

SELECT kyrodb.check('kc_int2_k', true) AS int2_ok,
	kyrodb.check('kc_int4_k', true) AS int4_ok,
	kyrodb.check('kc_int8_k', true) AS int8_ok;

-- The planner takes the cross-type operators as index conditions.
SET enable_seqscan = off;
SET enable_bitmapscan = off;
EXPLAIN (COSTS OFF)
SELECT id FROM kc_int2 WHERE k < 40000 AND k >= -5000000000;
EXPLAIN (COSTS OFF)
SELECT id FROM kc_int2 WHERE k = ANY ('{7,3000000000}'::int8[]);
EXPLAIN (COSTS OFF)
SELECT id FROM kc_int4 WHERE k > 5::int2 AND k <= 3000000000;
EXPLAIN (COSTS OFF)
SELECT id FROM kc_int8 WHERE k BETWEEN 5::int2 AND 100000;
RESET enable_seqscan;
RESET enable_bitmapscan;

-- int2 column, int4 and int8 constants
SELECT q.n, q.qual, c.*
FROM (VALUES
	(1, 'k < 40000'),
	(2, 'k > -40000'),
	(3, 'k <= 32767'),
	(4, 'k < 32768'),
	(5, 'k > 32767'),
	(6, 'k >= 32768'),
	(7, 'k = 40000'),
	(8, 'k = -32768'),
	(9, 'k < -32768'),
	(10, 'k <= -32769'),
	(11, 'k >= -32769 AND k < -32700'),
	(12, 'k = 5::int8'),
	(13, 'k < 5000000000'),
	(14, 'k >= -5000000000'),
	(15, 'k > 9223372036854775807'),
	(16, 'k < -9223372036854775808'),
	(17, 'k BETWEEN -100 AND 100::int8'),
	(18, 'k > 10 AND k < 1000::int8'),
	(19, 'k = ANY (''{5,40000,-40000}''::int4[])'),
	(20, 'k = ANY (''{7,3000000000,NULL}''::int8[])'),
	(21, 'k IN (7, 70000, -32768)'),
	(22, 'k = ANY (''{32767,32768}''::int4[]) AND k > 0::int8'),
	(23, 'k < ANY (''{5,40000}''::int4[])'),
	(24, 'k >= ANY (''{3000000000,-32768}''::int8[])')
) q(n, qual),
	LATERAL kyro_test.compare('SELECT id, k FROM kc_int2 WHERE ' || q.qual) c
ORDER BY q.n, c.scan DESC;

-- int4 column, int2 and int8 constants
SELECT q.n, q.qual, c.*
FROM (VALUES
	(1, 'k < 5::int2'),
	(2, 'k = 7::int2'),
	(3, 'k >= 32767::int2'),
	(4, 'k > ''-32768''::int2'),
	(5, 'k BETWEEN ''-32768''::int2 AND 32767::int2'),
	(6, 'k < 3000000000'),
	(7, 'k > 2147483647::int8'),
	(8, 'k >= 2147483647::int8'),
	(9, 'k = 3000000000'),
	(10, 'k <= -2147483649'),
	(11, 'k <= -2147483648'),
	(12, 'k > -9223372036854775808'),
	(13, 'k = ANY (''{5,3000000000}''::int8[])'),
	(14, 'k = ANY (''{7,-32768,NULL}''::int2[])'),
	(15, 'k > 5::int2 AND k <= 40000::int8'),
	(16, 'k > ANY (''{32767,NULL}''::int2[])')
) q(n, qual),
	LATERAL kyro_test.compare('SELECT id, k FROM kc_int4 WHERE ' || q.qual) c
ORDER BY q.n, c.scan DESC;

-- int8 column, int2 and int4 constants
SELECT q.n, q.qual, c.*
FROM (VALUES
	(1, 'k < 5::int2'),
	(2, 'k = 100::int2'),
	(3, 'k > 32767::int2'),
	(4, 'k >= ''-32768''::int2'),
	(5, 'k <= ''-32768''::int2'),
	(6, 'k < 2147483647'),
	(7, 'k >= 2147483647'),
	(8, 'k > ''-2147483648''::int4'),
	(9, 'k = ''-2147483648''::int4'),
	(10, 'k = ANY (''{5,100,-32768}''::int2[])'),
	(11, 'k = ANY (''{2147483647,NULL,5}''::int4[])'),
	(12, 'k BETWEEN 5::int2 AND 100000'),
	(13, 'k > -32769 AND k <= 32767::int2'),
	(14, 'k <= ANY (''{5,-2147483648}''::int4[])')
) q(n, qual),
	LATERAL kyro_test.compare('SELECT id, k FROM kc_int8 WHERE ' || q.qual) c
ORDER BY q.n, c.scan DESC;

-- A join: the inner side's key compared with the outer side's, of
-- another type, at every rescan.
SET enable_hashjoin = off;
SET enable_mergejoin = off;
SET enable_bitmapscan = off;
EXPLAIN (COSTS OFF)
SELECT a.id AS a_id, b.id AS b_id FROM kc_int8 a JOIN kc_int2 b ON b.k = a.k;
CREATE TEMP TABLE kc_join AS
SELECT a.id AS a_id, b.id AS b_id FROM kc_int8 a JOIN kc_int2 b ON b.k = a.k;
EXPLAIN (COSTS OFF)
SELECT a.id AS a_id, b.id AS b_id FROM kc_int2 a JOIN kc_int4 b ON b.k < a.k AND b.k > a.k - 2000;
CREATE TEMP TABLE kc_join_range AS
SELECT a.id AS a_id, b.id AS b_id FROM kc_int2 a JOIN kc_int4 b ON b.k < a.k AND b.k > a.k - 2000;
RESET enable_hashjoin;
RESET enable_mergejoin;
RESET enable_bitmapscan;
SET enable_indexscan = off;
SET enable_bitmapscan = off;
SET enable_indexonlyscan = off;
SET enable_nestloop = off;
SELECT count(*) AS joined,
	(SELECT count(*) FROM (TABLE kc_join EXCEPT ALL
		SELECT a.id, b.id FROM kc_int8 a JOIN kc_int2 b ON b.k = a.k) s) AS extra,
	(SELECT count(*) FROM (SELECT a.id, b.id FROM kc_int8 a JOIN kc_int2 b ON b.k = a.k
		EXCEPT ALL TABLE kc_join) s) AS missing
FROM kc_join;
RESET enable_nestloop;
SELECT count(*) AS joined,
	(SELECT count(*) FROM (TABLE kc_join_range EXCEPT ALL
		SELECT a.id, b.id FROM kc_int2 a JOIN kc_int4 b ON b.k < a.k AND b.k > a.k - 2000) s) AS extra,
	(SELECT count(*) FROM (SELECT a.id, b.id FROM kc_int2 a JOIN kc_int4 b ON b.k < a.k AND b.k > a.k - 2000
		EXCEPT ALL TABLE kc_join_range) s) AS missing
FROM kc_join_range;
RESET enable_indexscan;
RESET enable_bitmapscan;
RESET enable_indexonlyscan;

DROP TABLE kc_join, kc_join_range;
DROP TABLE kc_int2, kc_int4, kc_int8;
DROP EXTENSION kyrodb;
